"""Figures of the Inside lab (pure functions of the lab's numbers; no Streamlit)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

MB = 2**20


def activation_stats(rows: list[dict]) -> go.Figure:
    """Mean and standard deviation of each layer's output, and its share of zeros."""
    names = [f"{r['layer']} · {r['kind']}" for r in rows]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=names, y=[r["mean"] for r in rows], name="mean")
    fig.add_bar(x=names, y=[r["std"] for r in rows], name="standard deviation")
    fig.add_scatter(
        x=names, y=[r["zeros"] for r in rows], name="share of zeros", mode="lines+markers", secondary_y=True
    )
    fig.update_yaxes(title_text="value", secondary_y=False)
    fig.update_yaxes(title_text="share of zeros", range=[0, 1], tickformat=".0%", secondary_y=True)
    fig.update_layout(barmode="group", height=380, margin={"t": 30, "b": 10}, legend={"orientation": "h"})
    return fig


def batchnorm(before: np.ndarray, after: np.ndarray) -> go.Figure:
    """Histograms of activations before and after BatchNorm."""
    fig = go.Figure()
    fig.add_histogram(x=before, name="before BatchNorm", opacity=0.6, nbinsx=60)
    fig.add_histogram(x=after, name="after BatchNorm", opacity=0.6, nbinsx=60)
    fig.update_layout(barmode="overlay", height=300, margin={"t": 30, "b": 10}, xaxis_title="activation")
    return fig


def dropout(inputs: np.ndarray, outputs: np.ndarray) -> go.Figure:
    """The activations going into dropout and coming out, as two heat maps (zeros are dark)."""
    top = float(max(inputs.max(), outputs.max()))
    fig = make_subplots(rows=1, cols=2, subplot_titles=("into dropout", "out of dropout"))
    for col, z in ((1, inputs), (2, outputs)):
        fig.add_heatmap(
            z=z,
            zmin=0,
            zmax=top,
            colorscale="Viridis",
            showscale=col == 2,
            texttemplate="%{z:.1f}",
            row=1,
            col=col,
        )
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(height=330, margin={"t": 40, "b": 10})
    return fig


def memory(estimates: dict[int, dict], measured: list[dict] | None = None) -> go.Figure:
    """Estimated memory per batch size, stacked by part, with the measured totals when there are some."""
    sizes = sorted(estimates)
    fig = go.Figure()
    for part in ("parameters", "gradients", "optimizer", "activations"):
        fig.add_bar(
            x=[str(b) for b in sizes], y=[estimates[b][part] / MB for b in sizes], name=f"{part} (estimate)"
        )
    if measured:
        fig.add_scatter(
            x=[str(r["bs"]) for r in measured],
            y=[r["measured_total"] / MB for r in measured],
            mode="markers",
            marker={"size": 14, "symbol": "diamond", "color": "black"},
            name="measured",
        )
    fig.update_layout(
        barmode="stack", height=360, margin={"t": 30, "b": 10}, xaxis_title="batch size", yaxis_title="MiB"
    )
    return fig
