"""The Predict page's parts: where images come from, and how one or many predictions are shown.

Single-label views live here; a model of another image task is shown by its own view module
(view_for: dashboard/views/predict_multi.py, predict_seg.py), which offers the same three
functions: controls, show_one and show_many. A table or ratings model takes no images: its view
(predict_table.py, predict_collab.py) offers show(loaded), which draws its own inputs and answers.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.fsutil import frame_csv_bytes
from core.serving import predict
from core.serving.library import ModelInfo
from dashboard import figures, predict_cache, state
from dashboard.bundle_view import figure_name
from dashboard.markup import html_text, md
from dashboard.predict_cache import INPUTS, Upload, kept, read_uploads
from dashboard.predict_cache import predictions as predictions  # the page's calls, kept here
from dashboard.predict_cache import prepare_all as prepare_all
from dashboard.text import sections

SOURCE = "predict_source"  # upload, camera or drawing
UPLOAD = "predict_upload"
CAMERA = "predict_camera"
CANVAS = "predict_canvas"
GRADCAM = "predict_gradcam"
CLOSER = "predict_closer"
TOP_K = 5
SQUARE_SIDE = 0  # a single-label model's view needs no centre square kept (segmentation's does)
EXAMPLE = "predict_example"
SOURCES = {"upload": "Upload images", "camera": "Take a photo", "draw": "Draw a digit"}
EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"


_VIEWS = {
    "multi_label": "dashboard.views.predict_multi",
    "segmentation": "dashboard.views.predict_seg",
    "tabular_classification": "dashboard.views.predict_table",
    "tabular_regression": "dashboard.views.predict_table",
    "collaborative": "dashboard.views.predict_collab",
}


def takes_images(info: ModelInfo) -> bool:
    """True for a model of an image task; False for a table or ratings model (its view's show())."""
    from core import tasks

    return info.task not in tasks.TASKS or tasks.get(info.task).inputs == "images"


def view_for(info: ModelInfo):
    """The module that shows this model's predictions: its task's view, or this one (single-label)."""
    import importlib
    import sys

    if info.task in _VIEWS:
        return importlib.import_module(_VIEWS[info.task])
    return sys.modules[__name__]


def model_label(info: ModelInfo) -> str:
    """How a model is named in the picker: name, data, its main figure (accuracy, F1, IoU)."""
    score = info.score
    what = "" if info.main_metric == "accuracy" else f" {figure_name(info.main_metric)}"
    figure = f",{what} {score:.0%}" if score is not None else ""
    if score is not None and not takes_images(info):  # an error in the target's units, not a share
        from core import tasks

        figure = f",{what} {tasks.get(info.task).metric_format.format(score)}"
    return f"{info.name} ({info.arch} on {info.dataset or 'imported data'}{figure})"


def model_caption(info: ModelInfo) -> str:
    """What the chosen model expects and knows."""
    colour = "grey" if info.channels == 1 else "colour"
    shown = ", ".join(md(c) for c in info.classes[:12]) + (" …" if info.n_classes > 12 else "")
    what = {
        "multi_label": f"{info.n_classes} labels, each answered on its own ({shown})",
        "segmentation": f"{info.n_classes} classes, one for every pixel ({shown})",
    }.get(info.task, f"{info.n_classes} classes ({shown})")
    return (
        f"{what}; every image is centre-cropped to a square, "
        f"resized to {info.size}×{info.size} px and made {colour}, as in training."
    )


def controls(loaded: predict.LoadedModel) -> tuple[float, bool]:
    """The not-sure threshold and the Grad-CAM switch of a single-label model."""
    text = sections("predict")
    left, right = st.columns([3, 2])
    threshold = left.slider(
        "Not-sure threshold",
        min_value=0.0,
        max_value=1.0,
        step=0.05,
        format="%.2f",
        key=state.PREDICT_THRESHOLD,
        persist_state="session",
        help=text["threshold"],
    )
    left.caption(text["threshold_explained"])
    return threshold, gradcam_toggle(loaded, right)


def gradcam_toggle(loaded: predict.LoadedModel, where) -> bool:
    """Show where it looked (Grad-CAM), on when the model can be explained."""
    from core.serving import gradcam

    can_explain = gradcam.explains(loaded)
    return where.toggle(
        "Show where it looked (Grad-CAM)",
        value=can_explain,
        key=GRADCAM,
        disabled=not can_explain,
        help=sections("predict")["gradcam"],
    )


def examples() -> list[Path]:
    """The example images shipped in assets/examples/ (digits and coloured shapes), by name."""
    return sorted(EXAMPLES.glob("*.png"))


def image_inputs(info: ModelInfo) -> list[tuple[str, bytes]]:
    """The images to predict, as (name, bytes), from the source the person picks."""
    options = ["upload", "camera"] + (["draw"] if info.is_digit_model else [])
    if st.session_state.get(SOURCE) not in options:
        st.session_state[SOURCE] = "upload"
    source = st.radio(
        "Images from",
        options,
        key=SOURCE,
        horizontal=True,
        format_func=SOURCES.get,
        help=sections("predict")["source"],
    )
    if source == "camera":
        photo = st.camera_input(
            "Take a photo",
            key=CAMERA,
            help="Your browser asks for the camera; the photo goes only to this server.",
        )
        if photo is None:
            return []
        return [("photo.jpg", data) for _, data in read_uploads([photo], kept(INPUTS))]
    if source == "draw":
        return _drawing(info)
    files = st.file_uploader(
        "Images",
        type=predict.UPLOAD_TYPES,
        accept_multiple_files=True,
        key=UPLOAD,
        help=f"One or many {predict.FORMAT_NAMES} files (up to {predict.MAX_IMAGES}); each is "
        "recognised by its content, not its name.",
    )
    if files:
        return read_uploads(files, kept(INPUTS))
    return _example()


def _example() -> list[tuple[str, bytes]]:
    """The "Try an example" picker: a small image from assets/examples/ instead of an upload."""
    by_name = {f.stem: f for f in examples()}
    if not by_name:
        return []
    pick = st.selectbox(
        "Try an example",
        list(by_name),
        index=None,
        key=EXAMPLE,
        placeholder="or pick one of the example images",
        format_func=lambda n: n.replace("_", " "),
        help=sections("predict")["example"],
    )
    if pick is None:
        return []
    memo, key = kept(INPUTS), f"example:{pick}"
    data = memo.get(key) or Upload(by_name[pick].read_bytes())
    memo.clear()
    memo[key] = data
    return [(by_name[pick].name, data)]


def _drawing(info: ModelInfo) -> list[tuple[str, bytes]]:
    """A canvas to draw a digit on, in the colours of the training images."""
    from streamlit_drawable_canvas import st_canvas

    dark = info.mean[0] < 0.5  # training images mostly dark: light ink on a dark background
    st.caption(sections("predict")["drawing"])
    result = st_canvas(
        stroke_width=22,
        stroke_color="#ffffff" if dark else "#000000",
        background_color="#000000" if dark else "#ffffff",
        height=280,
        width=280,
        drawing_mode="freedraw",
        return_image_data=True,
        key=CANVAS,
    )
    image = result.image_data if result is not None else None
    if image is None:
        return []
    png = predict.centre_drawing(image, dark_background=dark)
    return [("drawing.png", png)] if png else []


def show_one(
    loaded: predict.LoadedModel,
    image: predict.PreparedImage,
    pred: predict.Prediction,
    threshold: float,
    heat_map: bool,
) -> None:
    """One image: the answer, the top probabilities, the model's view and where it looked."""
    cls, p = pred.best
    answer = pred.label(threshold)
    left, right = st.columns([1, 2])
    left.metric(
        "Prediction",
        md(answer),
        help="The most likely class, or “not sure” when even that is below the threshold.",
    )
    left.caption(f"{md(image.name)}: most likely {md(cls)} at {p:.1%}.")
    if answer == predict.NOT_SURE:
        left.warning(
            f"Not sure: the best guess, {md(cls)}, has {p:.0%}, below the {threshold:.0%} threshold."
        )
    # Plotly reads a subset of HTML in its labels: a class name is shown as typed
    top = [(html_text(c), q) for c, q in pred.top(TOP_K)]
    right.plotly_chart(
        figures.probability_bars(top, threshold),
        key=f"probs_{image.name}",
        config={"displaylogo": False},
    )
    cols = st.columns(3)
    cols[0].image(
        image.thumbnail, caption=f"your image: {image.format}, {image.width}×{image.height}, {image.mode}"
    )
    colour = "grey" if image.pixels.ndim == 2 else "colour"
    cols[1].image(
        predict.enlarged(image.pixels, 192),
        caption=f"as the model sees it: {image.pixels.shape[0]}×{image.pixels.shape[1]} px, {colour}",
    )
    if heat_map:
        from core.serving import gradcam

        heat = predict_cache.grad_cam(loaded, image)
        cols[2].image(
            gradcam.overlay(image.pixels, heat.heat, 192),
            caption=f"where it looked for {md(loaded.classes[heat.class_index])} "
            f"(Grad-CAM on layer {heat.layer}, a {heat.map_size[0]}×"
            f"{heat.map_size[1]} map)",
        )
    if image.notes:
        st.caption("Converted: " + "; ".join(image.notes) + ".")


def show_many(
    loaded: predict.LoadedModel,
    prepared: list[predict.PreparedImage],
    preds: list[predict.Prediction],
    threshold: float,
    heat_map: bool,
) -> None:
    """Many images: a results table with a CSV download, then a closer look at one of them."""
    table = predict.results_table(preds, prepared, threshold)
    unsure = int((table["prediction"] == predict.NOT_SURE).sum())
    st.write(
        f"**{len(table)} images**: {len(table) - unsure} answered, {unsure} not sure at "
        f"the {threshold:.0%} threshold."
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "confidence": st.column_config.ProgressColumn(
                min_value=0.0,
                max_value=1.0,
                format="percent",
                help="The probability of the most likely class.",
            ),
            "runner-up confidence": st.column_config.NumberColumn(format="percent"),
        },
    )
    pick = results_and_pick(
        table,
        loaded,
        prepared,
        "The table above as a CSV file, one row per image.",
        "Show one image's probabilities, the model's view of it and where it looked.",
    )
    show_one(loaded, prepared[pick], preds[pick], threshold, heat_map)


def results_and_pick(
    table, loaded: predict.LoadedModel, prepared: list[predict.PreparedImage], csv_help: str, pick_help: str
) -> int:
    """Under a results table of many images: its CSV download, and the one image to look closer at
    (its index; the first when the choice is gone). Every task's many-image view ends so."""
    st.download_button(
        "Download results (CSV)",
        data=frame_csv_bytes(table),
        file_name=f"predictions_{loaded.info.name}.csv",
        mime="text/csv",
        on_click="ignore",
        key="predict_csv",
        icon=":material/table_view:",
        help=csv_help,
    )
    names = [p.name for p in prepared]
    pick = st.selectbox(
        "Look closer at", range(len(names)), format_func=lambda i: names[i], key=CLOSER, help=pick_help
    )
    return 0 if pick is None or pick >= len(prepared) else pick
