"""Figures of the Optimizers lab: paths on a contour, losses per step, weighted averages."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.labs import optimizers as opt

COLOURS = {"sgd": "#1f77b4", "momentum": "#ff7f0e", "rmsprop": "#2ca02c", "adam": "#d62728"}
NAMES = {"sgd": "SGD", "momentum": "SGD + momentum", "rmsprop": "RMSProp", "adam": "Adam"}
_LAYOUT = dict(margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h"))


def paths_figure(surface: str, paths: dict[str, opt.Path]) -> go.Figure:
    """The surface as contours (log-spaced), each optimiser's path on it, start and minimum."""
    xs, ys, zz = opt.grid(surface)
    s = opt.SURFACES[surface]
    fig = go.Figure()
    fig.add_contour(
        x=xs, y=ys, z=np.log10(zz - zz.min() + 1e-3), showscale=False, colorscale="Greys", name="log loss"
    )
    for name, p in paths.items():
        pts = p.points
        keep = (
            (pts[:, 0] >= s.x_range[0])
            & (pts[:, 0] <= s.x_range[1])
            & (pts[:, 1] >= s.y_range[0])
            & (pts[:, 1] <= s.y_range[1])
        )
        shown = np.where(keep[:, None], pts, np.nan)  # a path leaving the plot breaks, not smears
        fig.add_scatter(
            x=shown[:, 0],
            y=shown[:, 1],
            mode="lines+markers",
            marker=dict(size=3),
            line=dict(color=COLOURS[name]),
            name=NAMES[name] + (" (diverged)" if p.diverged else ""),
        )
    fig.add_scatter(
        x=[s.start[0]],
        y=[s.start[1]],
        mode="markers",
        marker=dict(size=10, symbol="circle-open", color="black"),
        name="start",
    )
    fig.add_scatter(
        x=[s.minimum[0]],
        y=[s.minimum[1]],
        mode="markers",
        marker=dict(size=12, symbol="star", color="gold"),
        name="minimum",
    )
    return fig.update_layout(
        xaxis=dict(title="w₁", range=list(s.x_range)),
        yaxis=dict(title="w₂", range=list(s.y_range)),
        height=420,
        **_LAYOUT,
    )


def losses_figure(paths: dict[str, opt.Path], minimum_loss: float) -> go.Figure:
    """Loss above the minimum per step, log scale, one line per optimiser."""
    fig = go.Figure()
    for name, p in paths.items():
        fig.add_scatter(
            y=np.maximum(p.losses - minimum_loss, 1e-12),
            mode="lines",
            name=NAMES[name],
            line=dict(color=COLOURS[name]),
        )
    return fig.update_layout(
        xaxis_title="step",
        yaxis=dict(title="loss − minimum", type="log", exponentformat="e"),
        height=320,
        **_LAYOUT,
    )


def ewma_figure(values: np.ndarray, beta: float) -> go.Figure:
    """A noisy series, its exponentially weighted average with and without bias correction."""
    fig = go.Figure()
    fig.add_scatter(y=values, mode="markers", marker=dict(size=4, color="#999"), name="gradient (noisy)")
    fig.add_scatter(y=opt.ewma(values, beta, debias=False), mode="lines", name=f"average, β = {beta:g}")
    fig.add_scatter(
        y=opt.ewma(values, beta, debias=True), mode="lines", line=dict(dash="dot"), name="bias-corrected"
    )
    return fig.update_layout(xaxis_title="step", yaxis_title="value", height=320, **_LAYOUT)


def weights_figure(beta: float) -> go.Figure:
    """How much each past gradient counts in the average: (1-β)·βᵏ, k steps back."""
    w = opt.ewma_weights(beta)
    fig = go.Figure(go.Bar(x=np.arange(len(w)), y=w, name="weight"))
    return fig.update_layout(
        xaxis_title="steps back", yaxis_title="weight in the average", height=260, **_LAYOUT
    )


def updates_figure(paths: dict[str, opt.Path]) -> go.Figure:
    """The size of each step along w₁ and along w₂, per optimiser, on a log scale."""
    fig = go.Figure()
    for name, p in paths.items():
        for axis, dash in ((0, "solid"), (1, "dot")):
            fig.add_scatter(
                y=np.abs(p.updates[:, axis]) + 1e-12,
                mode="lines",
                line=dict(color=COLOURS[name], dash=dash),
                name=f"{NAMES[name]}: w{'₁₂'[axis]}",
            )
    return fig.update_layout(
        xaxis_title="step", yaxis=dict(title="|step|", type="log", exponentformat="e"), height=320, **_LAYOUT
    )
