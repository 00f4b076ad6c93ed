"""The Data page's pipeline: one image from the file to the model's input, with its numbers.

torch is imported only inside the view, so the page opens fast.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import tasks, workspace
from core.data import datasets, summaries
from dashboard import state
from dashboard.markup import md
from dashboard.text import sections
from dashboard.train_form import chosen_augment
from dashboard.views.data_choose import stamp
from dashboard.views.data_pictures import enlarge

PIPE_PX = 112  # pixels a pipeline step is shown at
PIPE_TITLES = {
    "file": "The file",
    "resized": "Resized",
    "floats": "As floats",
    "augmented": "Augmented",
    "normalised": "Normalised",
}


@st.cache_data(show_spinner=False, max_entries=8)
def _normalisation(space: str, name: str, stamp_: str, size: int) -> tuple[list[float], list[float], int]:
    from core.data import access, pipeline

    with access.dataset(name) as info:
        norm = pipeline.normalisation(access.items(info), size)
    return norm.mean.tolist(), norm.std.tolist(), norm.n_train


def pipeline_view(info: datasets.DatasetInfo, items: datasets.Items) -> None:
    """One image from the file to the model's input, with the tensor's numbers at each step."""
    import torch

    from core.data import pipeline

    text = sections("data")
    st.caption(text["pipeline"])
    left, middle, right = st.columns(3)
    groups = {label: files for label, files in summaries.files_by_label(items).items() if files}
    if st.session_state.get("pipe_class") not in groups:
        st.session_state.pop("pipe_class", None)  # the last dataset's label
    kind = {"multi_label": "Images with the label", "segmentation": "Images"}.get(info.task, "Class")
    label = left.selectbox(kind, list(groups), key="pipe_class", help=text["pipe_class"])
    files = groups[label]
    number = middle.number_input("Image", 1, len(files), 1, key="pipe_number", help=text["pipe_number"])
    size = right.slider(
        "Image size", 8, 128, info.default_size, key=f"pipe_size_{info.name}", help=text["pipe_size"]
    )
    augment = st.toggle("Show augmentation draws", True, key="pipe_augment", help=text["pipe_augment"])
    if st.button("New draws", key="pipe_redraw", icon=":material/casino:", help=text["pipe_redraw"]):
        st.session_state["pipe_seed"] = st.session_state.get("pipe_seed", 0) + 1
    file = files[min(int(number), len(files)) - 1]
    with st.spinner("Decoding every image once into the tensor cache (training reuses it)…"):
        mean, std, _n = _normalisation(workspace.current_name(), info.name, stamp(items), int(size))
    norm = pipeline.Normalisation(torch.tensor(mean), torch.tensor(std), _n)
    steps = pipeline.image_steps(
        items,
        file,
        int(size),
        norm,
        chosen_augment() if augment else None,
        n_draws=4,
        seed=st.session_state.get("pipe_seed", 0),
    )
    split = "validation" if items.is_valid[items.files.index(file)] else "training"
    note = ""
    if split == "validation" and augment:
        note = ": training never augments validation images; the draws show what a training image would get"
    st.caption(f"{md(file)} ({split} image){note}")
    for number_, group in enumerate(dict.fromkeys(s.group for s in steps), start=1):
        shown = [s for s in steps if s.group == group]
        st.markdown(f"**{number_}. {PIPE_TITLES[group]}** — {shown[0].what}")
        st.image(
            [enlarge(s.picture, PIPE_PX) for s in shown],
            width=PIPE_PX + 6,
            caption=[f"{s.name}: {' × '.join(map(str, s.stats.shape))}" for s in shown],
        )
    rows = [{"step": f"{s.group}: {s.name}", **s.stats.row()} for s in steps]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        key="pipe_stats",
        column_config={
            c: st.column_config.NumberColumn(format="%.4f") for c in ("min", "max", "mean", "std")
        },
    )
    shape = steps[-1].stats.shape
    st.info(
        text["pipe_batch"].format(
            shape=" × ".join(map(str, shape)),
            rank=len(shape) + 1,
            bs=int(st.session_state.get(state.BS) or tasks.default_config(info.task).bs),
        ),
        icon=":material/view_in_ar:",
    )
