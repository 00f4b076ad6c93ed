"""The Data page's overview of a multi-label dataset: label frequencies, labels per image,
co-occurrence, and examples captioned by their label sets."""

from __future__ import annotations

import random

import streamlit as st

from core.data import datasets, summaries
from core.data.layouts import MultiItems
from dashboard.markup import md
from dashboard.text import sections
from dashboard.views import data_task_figures as figs
from dashboard.views.data_pictures import THUMB, UNREADABLE, framed, thumb

EXAMPLES = 16  # images in the examples grid
ANY = "any labels"
W_HOLDING, W_SHARE, W_DRAW = "multi_holding", "multi_share", "multi_draw"


def overview(info: datasets.DatasetInfo, items: MultiItems) -> None:
    """Counts, how often each label occurs and with which others, and examples with their labels."""
    text = sections("data_multi")
    st.caption(text["intro"])
    n_valid = sum(items.is_valid)
    per_image = summaries.labels_per_image(items)
    cols = st.columns(5)
    cols[0].metric("images", f"{len(items.files):,}")
    cols[1].metric("labels", len(items.vocab))
    cols[2].metric("training", f"{len(items.files) - n_valid:,}")
    cols[3].metric("validation", f"{n_valid:,}")
    cols[4].metric("with no label", f"{int(per_image['images'].iloc[0]):,}")
    meta = datasets.metadata(info)
    split = meta.get("split") or "a random 20% becomes validation when training"
    st.markdown(sections("data")["split"].format(split=md(split)))

    st.markdown("**Label frequencies**")
    st.caption(text["frequencies"])
    st.plotly_chart(figs.label_counts_figure(summaries.label_counts(items)), key="label_counts")
    st.markdown("**Labels per image**")
    st.caption(text["per_image"])
    st.plotly_chart(figs.per_image_figure(per_image), key="labels_per_image")

    st.markdown("**Co-occurrence**")
    st.caption(text["cooccurrence"])
    share = st.toggle("As a share of the row label's images", key=W_SHARE, help=text["share"])
    matrix = summaries.cooccurrence(items)
    st.plotly_chart(figs.cooccurrence_figure(matrix, items.vocab, share), key="cooccurrence")
    examples(items, text)


def examples(items: MultiItems, text: dict[str, str]) -> None:
    """A grid of images, each captioned by its label set (filtered to one label when asked)."""
    st.markdown("**Examples**")
    st.caption(text["examples"])
    groups = summaries.files_by_label(items)
    left, right = st.columns([3, 1])
    holding = left.selectbox("Images holding", [ANY, *groups], key=W_HOLDING, help=text["holding"])
    if right.button("New draws", key="multi_redraw", icon=":material/casino:", help=text["redraw"]):
        st.session_state[W_DRAW] = st.session_state.get(W_DRAW, 0) + 1
    files = list(items.files) if holding == ANY else groups[holding]
    rng = random.Random(st.session_state.get(W_DRAW, 0))
    picked = sorted(rng.sample(files, min(EXAMPLES, len(files))))
    tags = dict(zip(items.files, items.labels))
    thumbs = [thumb(items.root / f, THUMB) for f in picked]
    captions = [label_set(tags[f]) if t is not None else "unreadable" for f, t in zip(picked, thumbs)]
    st.image([framed(UNREADABLE if t is None else t) for t in thumbs], caption=captions, width=THUMB + 6)


def label_set(tags: tuple[str, ...]) -> str:
    """A label set as a caption: its tags separated by spaces (escaped), or that it has none."""
    return " ".join(md(t) for t in tags) if tags else summaries.NO_LABEL
