"""The Data page's augmentation: a control per random change, a live preview, and use in training."""

from __future__ import annotations

import dataclasses
import random

import streamlit as st

from core import tasks
from core.config import Augment
from core.data import datasets, summaries
from core.data.layouts import MultiItems, SegItems
from dashboard import state
from dashboard.markup import md
from dashboard.text import sections
from dashboard.train_form import chosen_augment, follow_task
from dashboard.views import data_seg
from dashboard.views.data_pictures import THUMB, enlarge


def augmentation_view(info: datasets.DatasetInfo, items: datasets.Items) -> None:
    """Controls for each random change, a live preview grid, and whether training uses them."""
    from core.data import pipeline

    text = sections("data")
    st.caption(text["augmentation"])
    a = chosen_augment()
    left, right = st.columns(2)
    flip = left.toggle("Flip left-right", a.flip, key="aug_flip", help=text["aug_flip"])
    rotate = left.slider(
        "Rotate (± degrees)", 0, 180, int(a.max_rotate), step=5, key="aug_rotate", help=text["aug_rotate"]
    )
    zoom = left.slider(
        "Zoom (up to ×)", 1.0, 2.0, float(a.max_zoom), step=0.05, key="aug_zoom", help=text["aug_zoom"]
    )
    warp = right.slider(
        "Warp (perspective)", 0.0, 0.5, float(a.max_warp), step=0.05, key="aug_warp", help=text["aug_warp"]
    )
    light = right.slider(
        "Lighting (±)", 0.0, 0.9, float(a.max_lighting), step=0.05, key="aug_light", help=text["aug_light"]
    )
    shift = right.slider(
        "Shift (fraction of the side)",
        0.0,
        0.5,
        float(a.max_translate),
        step=0.05,
        key="aug_shift",
        help=text["aug_shift"],
    )
    spec = Augment(
        flip=flip,
        max_rotate=float(rotate),
        max_zoom=float(zoom),
        max_translate=float(shift),
        max_lighting=float(light),
        max_warp=float(warp),
    )
    st.session_state[state.AUGMENT] = dataclasses.asdict(spec)
    follow_task(tasks.get(info.task), info.name)  # the Train form's settings for this task, as Train has them
    st.session_state.setdefault("data_use_augment", bool(st.session_state.get(state.TRAIN_AUGMENT)))
    use = st.toggle("Use these augmentations when training", key="data_use_augment", help=text["aug_use"])
    st.session_state[state.TRAIN_AUGMENT] = use
    if use:
        st.caption(f"Each training batch gets: {spec.describe()}.")
    else:
        st.caption(f"Training batches are not augmented now; switched on, each would get: {spec.describe()}.")
    if st.button("New draws", key="aug_redraw", icon=":material/casino:", help=text["aug_redraw"]):
        st.session_state["aug_seed"] = st.session_state.get("aug_seed", 0) + 1
    rng = random.Random(1)
    seed = st.session_state.get("aug_seed", 0)
    groups = {label: files for label, files in summaries.files_by_label(items).items() if files}
    if isinstance(items, SegItems):  # the mask moves with its image
        files = sorted(rng.sample(items.files, min(4, len(items.files))))
        data_seg.augment_rows(items, files, info.default_size, spec, 6, seed)
        return
    picked = [(label, items.root / rng.choice(files)) for label, files in list(groups.items())[:4]]
    grid = pipeline.augment_preview([path for _, path in picked], info.default_size, spec, 6, seed=seed)
    for (label, path), row in zip(picked, grid):
        if isinstance(items, MultiItems):  # the image's whole label set, not the one it was picked for
            tags = items.labels[items.files.index(path.relative_to(items.root).as_posix())]
            label = " ".join(tags) or "(no label)"
        st.image(
            [enlarge(p, THUMB) for p in row],
            width=THUMB + 6,
            caption=[f"{md(label)}: original"] + [f"draw {k}" for k in range(1, 7)],
        )
