"""Figures of the Regularisation lab: the fit, the loss curves, penalties and weight histograms."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.labs import regularisation as reg

_LAYOUT = dict(margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h"))


def fit_figure(data: dict[str, np.ndarray], fit: reg.Fit, baseline: reg.Fit | None = None) -> go.Figure:
    """The points, the true curve, the regularised fit and (dotted) the unregularised one."""
    fig = go.Figure()
    fig.add_scatter(
        x=fit.x_grid, y=reg.curve(fit.x_grid), mode="lines", line=dict(color="#bbb"), name="truth"
    )
    fig.add_scatter(
        x=data["x_valid"],
        y=data["y_valid"],
        mode="markers",
        marker=dict(size=5, color="#9467bd", opacity=0.5),
        name="validation points",
    )
    fig.add_scatter(
        x=data["x_train"],
        y=data["y_train"],
        mode="markers",
        marker=dict(size=9, color="#1f77b4"),
        name="training points",
    )
    if baseline is not None:
        fig.add_scatter(
            x=baseline.x_grid,
            y=baseline.y_grid,
            mode="lines",
            line=dict(dash="dot", color="#d62728"),
            name="no regularisation",
        )
    fig.add_scatter(
        x=fit.x_grid, y=fit.y_grid, mode="lines", line=dict(color="#2ca02c", width=3), name="this fit"
    )
    return fig.update_layout(xaxis_title="x", yaxis=dict(title="y", range=[-2, 2]), height=360, **_LAYOUT)


def losses_figure(fit: reg.Fit, baseline: reg.Fit | None = None) -> go.Figure:
    """Training and validation loss per step; the unregularised run's dotted."""
    fig = go.Figure()
    runs = [(fit, "solid", "")] + ([(baseline, "dot", " (no regularisation)")] if baseline else [])
    for f, dash, suffix in runs:
        fig.add_scatter(
            x=f.steps,
            y=f.train_loss,
            mode="lines",
            line=dict(color="#1f77b4", dash=dash),
            name="training" + suffix,
        )
        fig.add_scatter(
            x=f.steps,
            y=f.valid_loss,
            mode="lines",
            line=dict(color="#9467bd", dash=dash),
            name="validation" + suffix,
        )
    return fig.update_layout(xaxis_title="step", yaxis=dict(title="MSE", type="log"), height=320, **_LAYOUT)


def penalty_figure(wd: float, w: float) -> go.Figure:
    """wd·w² and wd·|w| against w, with their gradients 2·wd·w and wd·sign(w); w marked."""
    ws = np.linspace(-2, 2, 201)
    fig = go.Figure()
    fig.add_scatter(x=ws, y=wd * ws**2, mode="lines", line=dict(color="#1f77b4"), name="L2: wd·w²")
    fig.add_scatter(
        x=ws,
        y=reg.penalty_grad(ws, wd, "l2"),
        mode="lines",
        line=dict(color="#1f77b4", dash="dot"),
        name="its gradient 2·wd·w",
    )
    fig.add_scatter(x=ws, y=wd * np.abs(ws), mode="lines", line=dict(color="#ff7f0e"), name="L1: wd·|w|")
    fig.add_scatter(
        x=ws,
        y=reg.penalty_grad(ws, wd, "l1"),
        mode="lines",
        line=dict(color="#ff7f0e", dash="dot"),
        name="its gradient wd·sign(w)",
    )
    fig.add_vline(x=w, line=dict(color="#888", dash="dash"))
    return fig.update_layout(xaxis_title="weight w", yaxis_title="penalty / gradient", height=320, **_LAYOUT)


def histogram_figure(by_kind: dict[str, np.ndarray]) -> go.Figure:
    """The trained weights' histogram for each penalty, overlaid."""
    fig = go.Figure()
    for kind, ws in by_kind.items():
        fig.add_histogram(x=ws, name=kind.upper(), opacity=0.6, xbins=dict(start=-1, end=1, size=0.02))
    return fig.update_layout(
        barmode="overlay", xaxis_title="weight", yaxis_title="count", height=320, **_LAYOUT
    )


def dropout_figure(data: dict[str, np.ndarray], fit: reg.Fit) -> go.Figure:
    """Train-mode predictions (each a different mask) around the eval-mode one; the points."""
    fig = go.Figure()
    for i, s in enumerate(fit.samples):
        fig.add_scatter(
            x=fit.x_grid,
            y=s,
            mode="lines",
            line=dict(color="#ff7f0e", width=1),
            opacity=0.5,
            name="training mode (one mask each)",
            showlegend=i == 0,
        )
    fig.add_scatter(
        x=fit.x_grid,
        y=fit.y_grid,
        mode="lines",
        line=dict(color="#2ca02c", width=3),
        name="eval mode (no dropout)",
    )
    fig.add_scatter(
        x=data["x_train"],
        y=data["y_train"],
        mode="markers",
        marker=dict(size=8, color="#1f77b4"),
        name="training points",
    )
    return fig.update_layout(xaxis_title="x", yaxis=dict(title="y", range=[-2, 2]), height=340, **_LAYOUT)


def mask_figure(train: np.ndarray, evaluation: np.ndarray) -> go.Figure:
    """What dropout multiplies 32 activations by, in training and in eval mode, as two rows."""
    fig = go.Figure(
        go.Heatmap(
            z=[[float(v) for v in train], [float(v) for v in evaluation]],
            y=["training", "eval"],
            colorscale="Blues",
            zmin=0,
            text=[[f"{v:.2g}" for v in train], [f"{v:.2g}" for v in evaluation]],
            texttemplate="%{text}",
            showscale=False,
        )
    )
    return fig.update_layout(xaxis_title="activation", height=180, margin=dict(l=10, r=10, t=10, b=10))
