"""Figures of the loss-functions lab: pure functions from core.labs.losses' numbers to plotly."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.labs import losses

MARGIN = dict(l=10, r=10, t=40, b=10)
COLOURS = {"mse": "#d62728", "mae": "#1f77b4", "huber": "#2ca02c"}
NAMES = {"mse": "MSE", "mae": "MAE", "huber": "Huber"}


def fits_figure(x: np.ndarray, y: np.ndarray, fitted: dict[str, np.ndarray]) -> go.Figure:
    """The points, the outlier (the last point) and each loss's best line."""
    fig = go.Figure()
    fig.add_scatter(x=x[:-1], y=y[:-1], mode="markers", name="points", marker=dict(color="#7f7f7f", size=8))
    fig.add_scatter(
        x=x[-1:],
        y=y[-1:],
        mode="markers",
        name="outlier",
        marker=dict(color="#ff7f0e", size=14, symbol="star"),
    )
    grid = np.array([min(0.0, float(x.min())), max(1.0, float(x.max()))])
    for kind, (slope, intercept) in fitted.items():
        fig.add_scatter(
            x=grid,
            y=slope * grid + intercept,
            mode="lines",
            name=f"{NAMES[kind]}: y = {slope:.2f}·x + {intercept:.2f}",
            line=dict(color=COLOURS[kind], dash="dot" if kind == "huber" else "solid"),
        )
    return fig.update_layout(
        xaxis_title="x", yaxis_title="y", height=380, margin=MARGIN, legend=dict(orientation="h")
    )


def pointwise_figure(delta: float, limit: float = 3.0) -> go.Figure:
    """Each loss as a function of one residual: the square grows fast, the absolute value does not."""
    r = np.linspace(-limit, limit, 241)
    fig = go.Figure()
    for kind in losses.LOSSES:
        fig.add_scatter(
            x=r,
            y=losses.pointwise(r, kind, delta),
            mode="lines",
            name=NAMES[kind],
            line=dict(color=COLOURS[kind]),
        )
    return fig.update_layout(
        xaxis_title="residual (prediction − target)",
        yaxis_title="loss",
        height=300,
        margin=MARGIN,
        legend=dict(orientation="h"),
    )


def rmse_figure(slopes: np.ndarray, mse: np.ndarray, rmse: np.ndarray) -> go.Figure:
    """MSE and RMSE against the slope: the same minimum, different units."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_scatter(x=slopes, y=mse, name="MSE", line=dict(color=COLOURS["mse"]), secondary_y=False)
    fig.add_scatter(x=slopes, y=rmse, name="RMSE", line=dict(color="#9467bd"), secondary_y=True)
    k = int(np.argmin(mse))
    fig.add_vline(x=float(slopes[k]), line=dict(color="#7f7f7f", dash="dash"))
    fig.update_yaxes(title_text="MSE (units²)", secondary_y=False)
    fig.update_yaxes(title_text="RMSE (units)", secondary_y=True)
    return fig.update_layout(xaxis_title="slope", height=320, margin=MARGIN, legend=dict(orientation="h"))


def cross_entropy_figure(margins: np.ndarray, ce: np.ndarray, acc: np.ndarray, current: float) -> go.Figure:
    """Mean cross-entropy (smooth) and accuracy (in steps) as the true classes' logits rise."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_scatter(x=margins, y=ce, name="cross-entropy", line=dict(color=COLOURS["mse"]), secondary_y=False)
    fig.add_scatter(
        x=margins, y=acc, name="accuracy", line=dict(color=COLOURS["mae"], shape="hv"), secondary_y=True
    )
    fig.add_vline(x=current, line=dict(color="#7f7f7f", dash="dash"))
    fig.update_yaxes(title_text="cross-entropy", secondary_y=False)
    fig.update_yaxes(title_text="accuracy", range=[-0.05, 1.05], secondary_y=True)
    return fig.update_layout(
        xaxis_title="added to every true class's logit",
        height=320,
        margin=MARGIN,
        legend=dict(orientation="h"),
    )


def softmax_figure(logits: np.ndarray, temperature: float) -> go.Figure:
    """Softmax of the logits, and of ReLU(logits): the ReLU makes every negative logit alike."""
    classes = [f"class {i}" for i in range(len(logits))]
    fig = make_subplots(
        rows=1, cols=3, subplot_titles=("logits", f"softmax (T = {temperature:g})", "softmax of ReLU")
    )
    fig.add_bar(x=classes, y=logits, marker_color="#7f7f7f", showlegend=False, row=1, col=1)
    fig.add_bar(
        x=classes,
        y=losses.softmax(logits, temperature),
        marker_color="#1f77b4",
        showlegend=False,
        row=1,
        col=2,
    )
    fig.add_bar(
        x=classes,
        y=losses.softmax(losses.relu(logits), temperature),
        marker_color="#d62728",
        showlegend=False,
        row=1,
        col=3,
    )
    fig.update_yaxes(range=[0, 1], row=1, col=2)
    fig.update_yaxes(range=[0, 1], row=1, col=3)
    return fig.update_layout(height=320, margin=MARGIN)
