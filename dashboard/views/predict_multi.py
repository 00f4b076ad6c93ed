"""The Predict page for a multi-label model: the labels above a threshold (or "none of these"), every
label's probability against the threshold, and where it looked for a chosen label."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.serving import predict, predict_multi
from core.tasks.multi_label import THRESHOLD_RANGE
from dashboard import figures, predict_cache, predict_view
from dashboard.markup import html_text, md
from dashboard.text import sections

SQUARE_SIDE = 0  # no overlay: the model view and the thumbnail are enough
THRESHOLD = "predict_label_threshold"  # + the model's weights hash: each model starts at its own
GRADCAM_LABEL = "predict_gradcam_label"  # + the model's weights hash
GIVEN, NOT_GIVEN = "#1f77b4", "#9aa5b1"


def label_bars(ranked: list[tuple[str, float]], threshold: float) -> go.Figure:
    """Every label's probability as a horizontal bar (most likely on top), coloured when given,
    with the threshold as a dashed line."""
    names = [html_text(c) for c, _ in ranked][::-1]  # Plotly reads some HTML: shown as typed
    probs = [p for _, p in ranked][::-1]
    colours = [GIVEN if p > threshold else NOT_GIVEN for p in probs]
    return figures.hbars(names, probs, colours, threshold, "probability (each label on its own)", 28)


def threshold_key(info) -> str:
    """The session key of a model's threshold slider (each model starts at its own threshold)."""
    return f"{THRESHOLD}_{info.sha256[:16]}"


def controls(loaded: predict.LoadedModel) -> tuple[float, bool]:
    """The label threshold (starting at the model's own) and the Grad-CAM switch."""
    text = sections("predict_tasks")
    st.caption(text["multi_intro"])
    key = threshold_key(loaded.info)
    if key not in st.session_state:
        st.session_state[key] = float(loaded.info.threshold or 0.5)
    left, right = st.columns([3, 2])
    threshold = left.slider(
        "Label threshold",
        min_value=THRESHOLD_RANGE[0],
        max_value=THRESHOLD_RANGE[1],
        step=0.01,
        format="%.2f",
        key=key,
        help=text["multi_threshold"],
    )
    left.caption(text["multi_threshold_explained"])
    return threshold, predict_view.gradcam_toggle(loaded, right)


def answer(pred: predict_multi.MultiPrediction, threshold: float) -> str:
    """The labels given, as markdown-safe text, or "none of these"."""
    given = pred.labels(threshold)
    return ", ".join(md(c) for c in given) if given else predict_multi.NONE


def show_one(
    loaded: predict.LoadedModel,
    image: predict.PreparedImage,
    pred: predict_multi.MultiPrediction,
    threshold: float,
    heat_map: bool,
) -> None:
    """One image: the labels given, every label's probability, the model's view, where it looked."""
    text = sections("predict_tasks")
    given = pred.labels(threshold)
    cls, p = pred.best
    left, right = st.columns([1, 2])
    left.metric(
        "Labels",
        answer(pred, threshold),
        help="Every label whose probability is above the threshold, most likely first.",
    )
    left.caption(f"{md(image.name)}: {len(given)} of {len(pred.classes)} labels above {threshold:.0%}.")
    if not given:
        left.info(f"{text['none']} The most likely, {md(cls)}, has {p:.0%}.")
    right.plotly_chart(
        label_bars(pred.ranked(), threshold), key=f"labels_{image.name}", config={"displaylogo": False}
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
        _where_it_looked(loaded, image, pred, cols[2])
    if image.notes:
        st.caption("Converted: " + "; ".join(image.notes) + ".")


def _where_it_looked(loaded, image, pred, where) -> None:
    """Grad-CAM for one label, chosen by the person (the most likely at first)."""
    from core.serving import gradcam

    index = where.selectbox(
        "Where it looked for",
        range(len(pred.classes)),
        index=int(np.argmax(pred.probs)),
        format_func=lambda i: pred.classes[i],
        key=f"{GRADCAM_LABEL}_{loaded.info.sha256[:16]}",
        help=sections("predict_tasks")["gradcam_label"],
    )
    heat = predict_cache.grad_cam(loaded, image, int(index))
    where.image(
        gradcam.overlay(image.pixels, heat.heat, 192),
        caption=f"where it looked for {md(pred.classes[heat.class_index])} "
        f"({pred.probs[heat.class_index]:.0%}; Grad-CAM on layer {heat.layer}, a "
        f"{heat.map_size[0]}×{heat.map_size[1]} map)",
    )


def show_many(
    loaded: predict.LoadedModel,
    prepared: list[predict.PreparedImage],
    preds: list[predict_multi.MultiPrediction],
    threshold: float,
    heat_map: bool,
) -> None:
    """Many images: their label sets in a table with a CSV download, then a closer look at one."""
    table = predict_multi.results_table(preds, prepared, threshold)
    none = int((table["labels"] == predict_multi.NONE).sum())
    st.write(
        f"**{len(table)} images**: {len(table) - none} with at least one label, {none} with "
        f"none of these at the {threshold:.0%} threshold."
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "confidence": st.column_config.ProgressColumn(
                min_value=0.0, max_value=1.0, format="percent", help="The most likely label's probability."
            ),
        },
    )
    pick = predict_view.results_and_pick(
        table,
        loaded,
        prepared,
        "The table above as a CSV file: one row per image, a probability column per label.",
        "Show one image's labels, every label's probability and where it looked.",
    )
    show_one(loaded, prepared[pick], preds[pick], threshold, heat_map)
