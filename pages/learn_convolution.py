"""Learn · Convolution: a 3×3 kernel you edit, stride and padding, max-pooling, your model's filters."""

import numpy as np
import streamlit as st

from core import workspace
from core.errors import UserError
from core.labs import convolution as conv
from core.runs import stamp as run_stamp
from dashboard import learn, state
from dashboard import learn_figures_convolution as figs
from dashboard.markup import html_text, md
from dashboard.text import sections

SLUG = "convolution"
TEXT = sections(f"learn_{SLUG}")
PRESET, IMAGE, PIXEL = "convolution_preset", "convolution_image", "convolution_pixel"
STRIDE, PADDING, POOL = "convolution_stride", "convolution_padding", "convolution_pool"
FILTER_IMAGE = "convolution_filter_image"


def weight_key(i: int, j: int) -> str:
    """The widget key of the kernel's number at row i, column j."""
    return f"convolution_k{i}{j}"


def load_preset() -> None:
    """Write the chosen preset's nine numbers into the kernel's inputs."""
    for i, row in enumerate(conv.PRESETS[st.session_state[PRESET]]):
        for j, v in enumerate(row):
            st.session_state[weight_key(i, j)] = round(float(v), 4)


@st.cache_data(show_spinner=False, ttl="1m")
def files_of(space: str, dataset: str) -> tuple[str, list[str]]:
    """The dataset's folder and its image files (relative), as training lists them."""
    from core.data import access

    items = access.items(dataset)
    return str(items.root), list(items.files)


@st.cache_data(show_spinner=False, max_entries=32)
def grey(path: str) -> np.ndarray:
    """One image, grey, at most 96 px a side."""
    return conv.read_grey(path)


@st.cache_resource(show_spinner=False, max_entries=2)
def model_of(space: str, run_id: int, stamp: str):
    """The run's rebuilt model (None when it saved no weights); stamp names which one (runs.stamp)."""
    from core import runs

    return runs.load(run_id) if runs.has_weights(run_id) else None


state.init()
st.title("Convolution")
st.write(TEXT["intro"])
dataset = st.session_state[state.DATASET]
try:
    with st.spinner("Reading the dataset's folder…"):
        root, files = files_of(workspace.current_name(), dataset)
except UserError as e:
    st.error(str(e))
    st.stop()
if not files:
    st.warning(f"The dataset {dataset} has no images.")
    st.stop()
if PRESET not in st.session_state:
    st.session_state[PRESET] = "top edges"
    load_preset()

with learn.section(SLUG, "kernel"):
    st.write(TEXT["kernel_text"])
    left, right = st.columns([1, 2])
    left.selectbox("Preset", list(conv.PRESETS), key=PRESET, on_change=load_preset, help=TEXT["preset"])
    index = left.number_input("Image", 0, len(files) - 1, key=IMAGE, value=0, help=TEXT["image"])
    left.caption(f"{md(dataset)}: {md(files[index])}")
    grid = [left.columns(3) for _ in range(3)]
    kernel = [
        [
            grid[i][j].number_input(
                f"w{i}{j}",
                key=weight_key(i, j),
                step=0.5,
                format="%.3g",
                label_visibility="collapsed",
                help=TEXT["weight"],
            )
            for j in range(3)
        ]
        for i in range(3)
    ]
    image = grey(f"{root}/{files[index]}")
    out = conv.convolve(image, kernel, 1, 1)
    a, b = right.columns(2)
    a.plotly_chart(figs.image_figure(image, "input"), key="convolution_in")
    b.plotly_chart(figs.image_figure(out, "output", diverging=True), key="convolution_out")
    h, w = out.shape
    r, c = st.slider(
        "Output pixel (row, column)", 0, min(h, w) - 1, (h // 2, w // 2), key=PIXEL, help=TEXT["pixel"]
    )
    patch, products, total = conv.convolve_at(image, kernel, r, c, 1, 1)
    st.caption(TEXT["hand"])
    terms = " + ".join(f"{p:.2f}×{k:g}" for p, k in zip(patch.ravel(), np.asarray(kernel).ravel()))
    st.markdown(f"output[{r}, {c}] = {terms} = **{total:.3f}**")

with learn.section(SLUG, "stride"):
    st.write(TEXT["stride_text"])
    left, right = st.columns([1, 2])
    stride = left.slider("Stride", 1, 4, 1, key=STRIDE, help=TEXT["stride"])
    padding = left.slider("Padding", 0, 3, 1, key=PADDING, help=TEXT["padding"])
    size_h, size_w = image.shape
    side_h = conv.output_size(size_h, 3, stride, padding)
    side_w = conv.output_size(size_w, 3, stride, padding)
    left.markdown(
        f"height: ⌊({size_h} + 2·{padding} − 3) / {stride}⌋ + 1 = **{side_h}**  \n"
        f"width: ⌊({size_w} + 2·{padding} − 3) / {stride}⌋ + 1 = **{side_w}**"
    )
    left.metric("Output size", f"{side_h}×{side_w}", f"{side_h * side_w - size_h * size_w:+d} pixels")
    if side_h and side_w:
        strided = conv.convolve(image, kernel, stride, padding)
        right.plotly_chart(figs.image_figure(strided, "output", diverging=True), key="convolution_strided")

with learn.section(SLUG, "pooling"):
    st.write(TEXT["pooling_text"])
    left, right = st.columns([1, 2])
    size = left.select_slider("Window", [1, 2, 3, 4], value=2, key=POOL, help=TEXT["pool"])
    activated = np.maximum(out, 0)
    pooled = conv.max_pool(activated, size)
    left.metric("Pooled size", f"{pooled.shape[0]}×{pooled.shape[1]}")
    a, b = right.columns(2)
    a.plotly_chart(figs.image_figure(activated, "ReLU(output)"), key="convolution_relu")
    b.plotly_chart(figs.image_figure(pooled, f"max-pooled {size}×{size}"), key="convolution_pooled")

with learn.section(SLUG, "filters"):
    st.write(TEXT["filters_text"])
    run_id = st.session_state.get(state.RUN)
    loaded = None
    if run_id is not None:
        try:
            with st.spinner("Loading the run's model…"):
                loaded = model_of(workspace.current_name(), int(run_id), run_stamp(int(run_id)))
        except UserError as e:
            st.error(str(e))
    if loaded is None:
        st.info(TEXT["no_run"])
        st.page_link("../pages/train.py", label="Train a model", icon=":material/model_training:")
    elif conv.first_conv(loaded.model) is None:
        st.info(TEXT["no_conv"])
    else:
        weights = conv.filters(loaded.model)
        st.caption(
            f"Run {loaded.run_id} ({loaded.config.arch}): {weights.shape[0]} filters of "
            f"{weights.shape[2]}×{weights.shape[3]} over {weights.shape[1]} channel(s)."
        )
        shown = weights[:32].mean(axis=1)
        st.plotly_chart(figs.tiles_figure(shown, "first-layer filters"), key="convolution_filters")
        pick = st.number_input(
            "Image ", 0, len(files) - 1, key=FILTER_IMAGE, value=index, help=TEXT["filter_image"]
        )
        rec = loaded.record
        x = conv.model_input(f"{root}/{files[pick]}", rec.size, rec.mean, rec.std)
        maps = conv.feature_maps(loaded.model, x)[:32]
        st.plotly_chart(
            figs.tiles_figure(maps, f"feature maps of {html_text(files[pick])}"), key="convolution_maps"
        )
