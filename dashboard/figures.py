"""Pure functions that turn records (pandas frames, lists) into plotly figures."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

MAX_POINTS = 2000  # thin long runs so the browser stays quick
SUGGESTION_COLOURS = {"valley": "#2ca02c", "slide": "#9467bd", "minimum": "#d62728",
                      "steep": "#ff7f0e"}


def thin(frame: pd.DataFrame, max_points: int = MAX_POINTS) -> pd.DataFrame:
    """Every k-th row (and always the last) so at most about max_points remain."""
    if len(frame) <= max_points:
        return frame
    k = -(-len(frame) // max_points)
    keep = frame.iloc[::k]
    if keep.index[-1] != frame.index[-1]:
        keep = pd.concat([keep, frame.iloc[[-1]]])
    return keep


def loss_curve(batches: pd.DataFrame, epochs: pd.DataFrame) -> go.Figure:
    """Smoothed training loss per batch, validation loss per epoch (at the epoch's last batch)."""
    fig = go.Figure()
    b = thin(batches)
    fig.add_scatter(x=b["step"], y=b["loss"], name="train (smoothed)", mode="lines")
    if len(epochs) and "valid_loss" in epochs:
        fig.add_scatter(x=epochs["step"], y=epochs["valid_loss"], name="validation",
                        mode="lines+markers")
    return fig.update_layout(xaxis_title="batch", yaxis_title="loss", height=360,
                             margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h"))


def schedule_figure(preview: pd.DataFrame) -> go.Figure:
    """Learning rate (left axis) and momentum (right axis) over the iterations of a run."""
    p = thin(preview)
    fig = go.Figure()
    fig.add_scatter(x=p["step"], y=p["lr"], name="learning rate", mode="lines")
    fig.add_scatter(x=p["step"], y=p["mom"], name="momentum", mode="lines", yaxis="y2",
                    line=dict(dash="dot"))
    return fig.update_layout(
        xaxis_title="batch", yaxis=dict(title="learning rate", exponentformat="e"),
        yaxis2=dict(title="momentum", overlaying="y", side="right"), height=300,
        margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h"),
    )


def lr_find_figure(lrs: list[float], losses: list[float],
                   suggestions: dict[str, float | None]) -> go.Figure:
    """Loss against learning rate on a log axis, with each suggestion marked."""
    fig = go.Figure()
    fig.add_scatter(x=lrs, y=losses, name="loss", mode="lines")
    for name, lr in suggestions.items():
        if lr is None:
            continue
        colour = SUGGESTION_COLOURS.get(name, "grey")
        low, high = (min(losses), max(losses)) if losses else (0, 1)
        # a vertical line drawn as a trace: shapes on a log axis would need log10 coordinates
        fig.add_scatter(x=[lr, lr], y=[low, high], mode="lines+markers", name=f"{name}: {lr:.1e}",
                        line=dict(color=colour, dash="dash"), marker=dict(size=[10, 0]))
    return fig.update_layout(xaxis=dict(type="log", title="learning rate", exponentformat="e"),
                             yaxis_title="loss", height=380, margin=dict(l=10, r=10, t=30, b=10))
