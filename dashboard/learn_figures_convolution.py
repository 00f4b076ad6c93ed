"""Figures of the convolution lab: images and feature maps as heatmaps, filters as small tiles."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

MARGIN = dict(l=10, r=10, t=40, b=10)


def image_figure(image: np.ndarray, title: str, diverging: bool = False, height: int = 320) -> go.Figure:
    """One grey image (or feature map) as a heatmap, row 0 on top, square pixels.

    diverging: a red-blue scale centred on 0, for outputs that go negative (edges).
    """
    a = np.asarray(image, dtype=np.float32)
    if diverging:
        m = float(np.abs(a).max()) or 1.0
        trace = go.Heatmap(z=a, colorscale="RdBu_r", zmin=-m, zmax=m, showscale=True)
    else:
        trace = go.Heatmap(z=a, colorscale="gray", showscale=False)
    fig = go.Figure(trace)
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False)
    fig.update_xaxes(showticklabels=False, constrain="domain")
    title = f"{title} — {a.shape[0]}×{a.shape[1]}"
    return fig.update_layout(title=title, height=height, margin=MARGIN)


def tiles_figure(maps: np.ndarray, title: str, columns: int = 8, diverging: bool = True) -> go.Figure:
    """Several small maps (N×H×W: a layer's filters or its feature maps) side by side, numbered."""
    maps = np.asarray(maps, dtype=np.float32)
    n = len(maps)
    rows = -(-n // columns)
    fig = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[str(i) for i in range(n)],
        horizontal_spacing=0.01,
        vertical_spacing=0.04,
    )
    for i, m in enumerate(maps):
        s = float(np.abs(m).max()) or 1.0
        scale = dict(colorscale="RdBu_r", zmin=-s, zmax=s) if diverging else dict(colorscale="gray")
        fig.add_trace(go.Heatmap(z=m, showscale=False, **scale), row=i // columns + 1, col=i % columns + 1)
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_annotations(font_size=10)
    return fig.update_layout(title=title, height=40 + 90 * rows, margin=MARGIN)
