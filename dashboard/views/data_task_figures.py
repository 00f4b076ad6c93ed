"""Pure functions drawing the Data page's multi-label and segmentation figures (plotly)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.data_figures import class_counts_figure
from dashboard.markup import html_text

LAYOUT = dict(margin=dict(l=10, r=10, t=30, b=10))


def label_counts_figure(counts: pd.DataFrame) -> go.Figure:
    """A stacked bar per label (training and validation images holding it)."""
    frame = counts.rename(columns={"label": "class"})
    return class_counts_figure(frame).update_layout(xaxis_title="label", yaxis_title="images holding it")


def per_image_figure(table: pd.DataFrame) -> go.Figure:
    """A bar per number of labels an image holds: how many images hold that many."""
    fig = go.Figure()
    fig.add_bar(x=[str(n) for n in table["labels"]], y=table["images"], name="images")
    return fig.update_layout(
        xaxis_title="labels on the image", yaxis_title="images", xaxis_type="category", height=240, **LAYOUT
    )


def cooccurrence_figure(matrix: np.ndarray, vocab: list[str], share: bool = False) -> go.Figure:
    """A heatmap of how often two labels share an image; share: each row over its diagonal."""
    names = [html_text(v) for v in vocab]
    counts = np.asarray(matrix, dtype=float)
    if share:
        diagonal = np.maximum(np.diag(counts), 1.0)[:, None]
        z = counts / diagonal
        text = [[f"{v:.0%}" for v in row] for row in z]
        hover = "of the images holding %{y}, %{text} also hold %{x}<extra></extra>"
    else:
        z = counts
        text = [[f"{int(v):,}" for v in row] for row in z]
        hover = "%{y} and %{x}: %{text} images<extra></extra>"
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=names,
            y=names,
            text=text,
            texttemplate="%{text}",
            hovertemplate=hover,
            colorscale="Blues",
            showscale=False,
        )
    )
    side = 120 + 45 * len(vocab)
    return fig.update_layout(
        xaxis=dict(type="category", side="top"),
        yaxis=dict(type="category", autorange="reversed"),
        height=min(700, max(260, side)),
        **LAYOUT,
    )


def pixel_shares_figure(table: pd.DataFrame, colours: list[str]) -> go.Figure:
    """A bar per class, in its legend colour: the share of every mask pixel it covers."""
    fig = go.Figure()
    fig.add_bar(
        x=[html_text(c) for c in table["code"]],
        y=table["share"],
        marker_color=colours,
        name="share of pixels",
        text=[f"{s:.1%}" for s in table["share"]],
        textposition="outside",
        customdata=np.stack([table["pixels"], table["images"]], axis=1),
        hovertemplate="%{x}: %{y:.1%} of the pixels (%{customdata[0]:,} pixels, "
        "in %{customdata[1]:,} images)<extra></extra>",
    )
    return fig.update_layout(
        xaxis_title="class (code)",
        yaxis=dict(title="share of pixels", tickformat=".0%", rangemode="tozero"),
        xaxis_type="category",
        height=300,
        **LAYOUT,
    )
