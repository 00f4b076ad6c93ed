"""Figures of the Embeddings lab (pure functions of the lab's numbers; no Streamlit)."""

from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go


def pca_scatter(coords: np.ndarray, labels: list[str], ratio: np.ndarray) -> go.Figure:
    """Points on the first two principal components, coloured by label."""
    fig = px.scatter(
        x=coords[:, 0],
        y=coords[:, 1] if coords.shape[1] > 1 else np.zeros(len(coords)),
        color=[str(v) for v in labels],
        category_orders={"color": sorted({str(v) for v in labels})},
        labels={
            "x": f"PC 1 ({ratio[0]:.0%})",
            "y": f"PC 2 ({ratio[1]:.0%})" if len(ratio) > 1 else "",
            "color": "class",
        },
    )
    fig.update_layout(height=440, margin={"t": 30, "b": 10})
    return fig


def explained_variance(ratio: np.ndarray) -> go.Figure:
    """Each component's share of the variance, and the running total."""
    names = [f"PC {i + 1}" for i in range(len(ratio))]
    fig = go.Figure()
    fig.add_bar(x=names, y=ratio, name="explained variance")
    fig.add_scatter(x=names, y=np.cumsum(ratio), name="cumulative", mode="lines+markers")
    fig.update_layout(height=300, margin={"t": 30, "b": 10}, yaxis={"tickformat": ".0%", "range": [0, 1]})
    return fig
