"""Figures of the SGD lab: pure functions from the lab's numbers (core.labs.sgd) to plotly figures."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.labs import sgd

MARGIN = dict(l=10, r=10, t=40, b=10)
COLOURS = ("#1f77b4", "#2ca02c", "#d62728", "#9467bd")


def fit_figure(x: np.ndarray, y: np.ndarray, lines: dict[str, np.ndarray], title: str = "") -> go.Figure:
    """The points and one curve per named parameter set (a line or a quadratic)."""
    fig = go.Figure()
    fig.add_scatter(x=x, y=y, mode="markers", name="points", marker=dict(color="#7f7f7f"))
    grid = np.linspace(float(x.min()), float(x.max()), 100)
    for (name, params), colour in zip(lines.items(), COLOURS, strict=False):
        fig.add_scatter(x=grid, y=sgd.predict(params, grid), mode="lines", name=name, line=dict(color=colour))
    return fig.update_layout(title=title, xaxis_title="x", yaxis_title="y", height=340, margin=MARGIN)


def _arrows(slopes, intercepts, d_slope, d_intercept, every: int = 4) -> go.Scatter:
    """Segments pointing downhill (−gradient), scaled to fit between grid points."""
    s, b = np.meshgrid(slopes[::every], intercepts[::every])
    gs, gb = -d_slope[::every, ::every], -d_intercept[::every, ::every]
    norm = np.hypot(gs, gb).max() or 1.0
    cell = min(slopes[every] - slopes[0], intercepts[every] - intercepts[0]) * 0.9
    xs, ys = [], []
    for x0, y0, dx, dy in zip(
        s.ravel(), b.ravel(), gs.ravel() / norm * cell, gb.ravel() / norm * cell, strict=True
    ):
        xs += [x0, x0 + dx, None]
        ys += [y0, y0 + dy, None]
    return go.Scatter(
        x=xs,
        y=ys,
        mode="lines+markers",
        name="−gradient",
        line=dict(color="rgba(255,255,255,0.8)", width=1),
        marker=dict(size=[0, 5, 0] * s.size, symbol="arrow", angleref="previous", color="white"),
        hoverinfo="skip",
    )


def _path(path: np.ndarray, name: str, colour: str) -> go.Scatter:
    return go.Scatter(
        x=path[:, 0],
        y=path[:, 1],
        mode="lines+markers",
        name=name,
        line=dict(color=colour, width=2),
        marker=dict(size=5),
        hovertemplate="slope %{x:.3f}<br>intercept %{y:.3f}<extra>" + name + "</extra>",
    )


def surface_figure(
    slopes: np.ndarray,
    intercepts: np.ndarray,
    z: np.ndarray,
    paths: dict[str, np.ndarray],
    best: np.ndarray | None = None,
    field: tuple[np.ndarray, np.ndarray] | None = None,
) -> go.Figure:
    """The loss over (slope, intercept) as contours, the paths taken, the minimum, and the arrows."""
    fig = go.Figure()
    fig.add_contour(
        x=slopes,
        y=intercepts,
        z=np.log10(z),
        colorscale="Viridis",
        ncontours=25,
        colorbar=dict(title="log₁₀ loss"),
        hovertemplate="slope %{x:.2f}<br>intercept %{y:.2f}<br>log₁₀ loss %{z:.2f}<extra></extra>",
    )
    if field is not None:
        fig.add_trace(_arrows(slopes, intercepts, *field))
    for (name, path), colour in zip(paths.items(), ("#ff7f0e", "#d62728", "#e377c2"), strict=False):
        fig.add_trace(_path(path, name, colour))
    if best is not None:
        fig.add_scatter(
            x=[best[0]],
            y=[best[1]],
            mode="markers",
            name="minimum",
            marker=dict(symbol="x", size=12, color="white"),
        )
    return fig.update_layout(
        xaxis=dict(title="slope", range=[slopes[0], slopes[-1]]),
        yaxis=dict(title="intercept", range=[intercepts[0], intercepts[-1]]),
        height=440,
        margin=MARGIN,
        legend=dict(orientation="h", y=-0.15),
    )


def rates_figure(
    slopes: np.ndarray, intercepts: np.ndarray, z: np.ndarray, runs: dict[str, sgd.Descent]
) -> go.Figure:
    """One loss surface per learning rate, side by side, each with its path (clipped to the view)."""
    fig = make_subplots(rows=1, cols=len(runs), subplot_titles=list(runs), shared_yaxes=True)
    for col, (name, run) in enumerate(runs.items(), start=1):
        fig.add_contour(
            x=slopes,
            y=intercepts,
            z=np.log10(z),
            colorscale="Viridis",
            showscale=False,
            ncontours=20,
            hoverinfo="skip",
            row=1,
            col=col,
        )
        path = np.clip(run.path, [slopes[0], intercepts[0]], [slopes[-1], intercepts[-1]])
        fig.add_trace(_path(path, name, "#ff7f0e").update(showlegend=False), row=1, col=col)
        fig.update_xaxes(title_text="slope", range=[slopes[0], slopes[-1]], row=1, col=col)
    fig.update_yaxes(title_text="intercept", range=[intercepts[0], intercepts[-1]], row=1, col=1)
    return fig.update_layout(height=360, margin=MARGIN)


def loss_curves(curves: dict[str, np.ndarray], title: str = "") -> go.Figure:
    """The full-data loss after each step, one line per run, on a log axis."""
    fig = go.Figure()
    for (name, losses), colour in zip(curves.items(), COLOURS, strict=False):
        shown = np.where(np.isfinite(losses), losses, np.nan)
        fig.add_scatter(y=shown, mode="lines", name=name, line=dict(color=colour))
    return fig.update_layout(
        title=title,
        xaxis_title="step",
        yaxis=dict(title="loss (MSE)", type="log"),
        height=320,
        margin=MARGIN,
        legend=dict(orientation="h"),
    )
