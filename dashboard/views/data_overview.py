"""The Data page's overview: images per class and split, image sizes, samples per class, left-outs."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import streamlit as st

from core.data import datasets, images
from dashboard import data_figures
from dashboard.markup import md
from dashboard.text import sections
from dashboard.views.data_choose import stamp
from dashboard.views.data_pictures import THUMB, UNREADABLE, framed, thumb

SAMPLES_PER_CLASS = 8
MAX_CLASSES_SHOWN = 12


@st.cache_data(show_spinner=False, max_entries=20)
def _sizes(root: str, stamp_: str, _files: tuple[str, ...]) -> pd.DataFrame:
    # keyed by the folder and its stamp; the file list itself is not hashed on every rerun
    return data_figures.size_table(images.image_sizes(Path(root), list(_files)))


def overview(info: datasets.DatasetInfo, items: datasets.Items) -> None:
    """Counts per class and split, image sizes, a grid of samples, and where the data came from."""
    text = sections("data")
    meta = datasets.metadata(info)
    n_valid = sum(items.is_valid)
    cols = st.columns(4)
    cols[0].metric("images", f"{len(items.files):,}")
    cols[1].metric("classes", len(items.vocab))
    cols[2].metric("training", f"{len(items.files) - n_valid:,}")
    cols[3].metric("validation", f"{n_valid:,}")
    split = meta.get("split") or "a random 20% becomes validation when training"
    st.markdown(text["split"].format(split=md(split)))
    counts = data_figures.class_counts(list(zip(items.files, items.labels, items.is_valid)))
    st.plotly_chart(data_figures.class_counts_figure(counts), key="class_counts")
    table = _sizes(str(items.root), stamp(items), tuple(items.files))
    if len(table) == 1:
        w, h = table.iloc[0][["width", "height"]]
        st.markdown(f"**Image sizes:** every image is {w}×{h} pixels.")
    else:
        st.markdown(
            f"**Image sizes:** {len(table):,} different sizes; training resizes them all "
            f"to one square size ({info.default_size}×{info.default_size} by default)."
        )
        st.plotly_chart(data_figures.size_figure(table), key="image_sizes")
    _samples(items, text)
    skipped = meta.get("skipped") or []
    if skipped:
        with st.expander(f"{meta.get('n_skipped', len(skipped))} file(s) were left out when it was added"):
            st.dataframe(pd.DataFrame(skipped), hide_index=True)


def _samples(items: datasets.Items, text: dict[str, str]) -> None:
    """A row of sample pictures per label (a chosen few when there are many labels)."""
    st.markdown("**Samples per class**")
    rng = random.Random(0)
    shown = items.vocab[:MAX_CLASSES_SHOWN]
    if len(items.vocab) > MAX_CLASSES_SHOWN:
        shown = st.multiselect(
            "Classes to show", items.vocab, default=shown, key="data_classes", help=text["classes_shown"]
        )
    unreadable = []
    for label in shown:
        files = [f for f, lab in zip(items.files, items.labels) if lab == label]
        picked = sorted(rng.sample(files, min(SAMPLES_PER_CLASS, len(files))))
        thumbs = [thumb(items.root / f, THUMB) for f in picked]
        unreadable += [f for f, t in zip(picked, thumbs) if t is None]
        captions = [md(label) if i == 0 else "" for i in range(len(picked))]
        captions = [c or ("unreadable" if t is None else "") for c, t in zip(captions, thumbs)]
        st.image([framed(UNREADABLE if t is None else t) for t in thumbs], caption=captions, width=THUMB + 6)
    if unreadable:
        st.warning(text["unreadable"].format(files=", ".join(md(f) for f in unreadable)))
