"""Figures of the activations lab: the functions, a fitted curve, a 2-D classifier's boundary."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

MARGIN = dict(l=10, r=10, t=40, b=10)


def functions_figure(
    x: np.ndarray, curves: dict[str, tuple[np.ndarray, np.ndarray]], derivative: bool
) -> go.Figure:
    """Each activation's curve over x ({name: (values, derivative)}); dotted derivatives when asked."""
    fig = go.Figure()
    for name, (y, dy) in curves.items():
        fig.add_scatter(x=x, y=y, name=name, mode="lines")
        if derivative:
            fig.add_scatter(x=x, y=dy, name=f"{name}′ (slope)", mode="lines", line=dict(dash="dot"))
    return fig.update_layout(
        xaxis_title="input", yaxis_title="output", height=340, margin=MARGIN, legend=dict(orientation="h")
    )


def fit_figure(x: np.ndarray, target: np.ndarray, fits: dict[str, np.ndarray]) -> go.Figure:
    """The target curve as points and each network's fit as a line ({label: fit})."""
    fig = go.Figure()
    fig.add_scatter(x=x, y=target, name="target", mode="markers", marker=dict(size=4, color="#888"))
    for label, fit in fits.items():
        fig.add_scatter(x=x, y=fit, name=label, mode="lines")
    return fig.update_layout(
        xaxis_title="x", yaxis_title="y", height=340, margin=MARGIN, legend=dict(orientation="h")
    )


def boundary_figure(
    axis: np.ndarray, grid: np.ndarray, xy: np.ndarray, y: np.ndarray, title: str
) -> go.Figure:
    """P(class 1) over the plane as a heatmap (0.5 is the boundary), the points on top by class."""
    fig = go.Figure(
        go.Heatmap(x=axis, y=axis, z=grid, zmin=0, zmax=1, colorscale="RdBu_r", opacity=0.6, showscale=False)
    )
    fig.add_contour(
        x=axis,
        y=axis,
        z=grid,
        contours=dict(start=0.5, end=0.5, coloring="none"),
        line=dict(width=2),
        showscale=False,
    )
    for label, colour in ((0, "#1f4e9c"), (1, "#b2182b")):
        pts = xy[y == label]
        fig.add_scatter(
            x=pts[:, 0],
            y=pts[:, 1],
            mode="markers",
            name=f"class {label}",
            marker=dict(size=6, color=colour, line=dict(width=1, color="white")),
        )
    fig.update_yaxes(scaleanchor="x", range=[axis[0], axis[-1]])
    fig.update_xaxes(range=[axis[0], axis[-1]], constrain="domain")
    return fig.update_layout(title=title, height=420, margin=MARGIN, legend=dict(orientation="h"))


def loss_figure(losses: list[float], shown: int) -> go.Figure:
    """Training loss per step, with the step shown marked."""
    fig = go.Figure()
    fig.add_scatter(x=list(range(1, len(losses) + 1)), y=losses, mode="lines", name="loss")
    if shown:
        fig.add_vline(x=shown, line_dash="dot")
    return fig.update_layout(
        xaxis_title="step", yaxis_title="loss", height=260, margin=MARGIN, showlegend=False
    )
