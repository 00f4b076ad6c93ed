"""Pure functions that turn records (pandas frames, lists) into plotly figures."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

MAX_POINTS = 2000  # thin long runs so the browser stays quick
LIVE_POINTS = 500  # while a run trains: a lighter curve, redrawn every 2 s at most
SKIP_END = 5  # the LR finder's last points are left out of its loss axis, as fastai's plot_lr_find does
LOSS_LAYOUT = dict(
    xaxis_title="batch",
    yaxis_title="loss",
    height=360,
    margin=dict(l=10, r=10, t=30, b=10),
    legend=dict(orientation="h"),
)
SUGGESTION_COLOURS = {"valley": "#2ca02c", "slide": "#9467bd", "minimum": "#d62728", "steep": "#ff7f0e"}


def thin(frame: pd.DataFrame, max_points: int = MAX_POINTS) -> pd.DataFrame:
    """Every k-th row (and always the last) so at most max_points remain."""
    if len(frame) <= max_points:
        return frame
    k = -(-len(frame) // (max_points - 1))  # room for the last row
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
        fig.add_scatter(x=epochs["step"], y=epochs["valid_loss"], name="validation", mode="lines+markers")
    return fig.update_layout(**LOSS_LAYOUT)


def live_loss_spec(batches: pd.DataFrame, epochs: pd.DataFrame) -> dict:
    """loss_curve's traces as a plain plotly dict, thinned to LIVE_POINTS: cheap to build and send
    while a run trains (no figure object, fewer points); the finished run gets loss_curve."""
    b = thin(batches, LIVE_POINTS)
    data = [
        dict(
            type="scatter", x=b["step"].tolist(), y=b["loss"].tolist(), name="train (smoothed)", mode="lines"
        )
    ]
    if len(epochs) and "valid_loss" in epochs:
        v = dict(x=epochs["step"].tolist(), y=epochs["valid_loss"].tolist())
        data.append(dict(type="scatter", **v, name="validation", mode="lines+markers"))
    return {"data": data, "layout": LOSS_LAYOUT}


def schedule_figure(preview: pd.DataFrame) -> go.Figure:
    """Learning rate (left axis) and momentum (right axis) over the iterations of a run."""
    p = thin(preview)
    fig = go.Figure()
    fig.add_scatter(x=p["step"], y=p["lr"], name="learning rate", mode="lines")
    fig.add_scatter(x=p["step"], y=p["mom"], name="momentum", mode="lines", yaxis="y2", line=dict(dash="dot"))
    return fig.update_layout(
        xaxis_title="batch",
        yaxis=dict(title="learning rate", exponentformat="e"),
        yaxis2=dict(title="momentum", overlaying="y", side="right"),
        height=300,
        margin=dict(l=10, r=10, t=30, b=10),
        legend=dict(orientation="h"),
    )


def lr_loss_range(losses: list[float]) -> tuple[float, float] | None:
    """The LR finder's loss axis without the divergence, or None when nothing needs clipping.

    As fastai's plot_lr_find, the last SKIP_END points (where the loss explodes and the finder
    stops) are left out; and a loss above where the curve started (the highest point up to the
    bulk's minimum) is divergence too, so it goes off the top of the axis.
    """
    finite = [v for v in losses if math.isfinite(v)]
    bulk = finite[:-SKIP_END] if len(finite) > 2 * SKIP_END else []
    if not bulk:
        return None
    low = min(bulk)
    high = max(bulk[: bulk.index(low) + 1])
    if max(finite) <= high or high <= low:
        return None
    pad = 0.08 * (high - low)
    return low - pad, high + pad


def lr_find_figure(lrs: list[float], losses: list[float], suggestions: dict[str, float | None]) -> go.Figure:
    """Loss against learning rate on a log axis, with each suggestion marked.

    The divergence at the end is drawn going off the top of a loss axis fitted to the rest of the
    curve (lr_loss_range), with a triangle where it leaves and how high it goes in the legend.
    """
    fig = go.Figure()
    fig.add_scatter(x=lrs, y=losses, name="loss", mode="lines")
    fitted = lr_loss_range(losses)
    if fitted is not None:
        top = fitted[1]
        first = next(i for i, v in enumerate(losses) if not math.isfinite(v) or v > top)
        peak = max(v for v in losses if math.isfinite(v))
        fig.add_scatter(
            x=[lrs[first]],
            y=[top],
            mode="markers",
            name=f"off the chart: the loss climbs to {peak:.3g}",
            marker=dict(symbol="triangle-up", size=12, color="#d62728"),
            cliponaxis=False,
        )
    for name, lr in suggestions.items():
        if lr is None:
            continue
        colour = SUGGESTION_COLOURS.get(name, "grey")
        low, high = fitted or ((min(losses), max(losses)) if losses else (0, 1))
        # a vertical line drawn as a trace: shapes on a log axis would need log10 coordinates
        fig.add_scatter(
            x=[lr, lr],
            y=[low, high],
            mode="lines+markers",
            name=f"{name}: {lr:.1e}",
            line=dict(color=colour, dash="dash"),
            marker=dict(size=[10, 0]),
        )
    return fig.update_layout(
        xaxis=dict(type="log", title="learning rate", exponentformat="e"),
        yaxis=dict(title="loss", range=list(fitted) if fitted else None),
        height=380,
        margin=dict(l=10, r=10, t=30, b=10),
    )


def confusion_figure(matrix, vocab: list[str], normalised: bool = False) -> go.Figure:
    """The confusion matrix as a heatmap: actual classes down, predictions across, counts written in.

    A transparent marker sits on every cell so that a click selects it (Streamlit reports
    selections on markers, not on heatmap cells); its x is the prediction, its y the actual class.
    """
    import numpy as np

    counts = np.asarray(matrix)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)
    z = shares if normalised else counts
    text = [
        [f"{shares[i, j]:.0%}" if normalised else str(counts[i, j]) for j in range(len(vocab))]
        for i in range(len(vocab))
    ]
    labels = [str(v) for v in vocab]
    fig = go.Figure()
    fig.add_heatmap(
        z=z.tolist(),
        x=labels,
        y=labels,
        text=text,
        texttemplate="%{text}",
        hoverinfo="skip",
        colorscale="Blues",
        showscale=False,
    )
    xs = [c for _ in labels for c in labels]
    ys = [r for r in labels for _ in labels]
    cells = [
        f"actual {labels[i]}, predicted {labels[j]}: {counts[i, j]} image(s)"
        for i in range(len(labels))
        for j in range(len(labels))
    ]
    side = max(6, min(40, 360 // max(1, len(labels))))
    fig.add_scatter(
        x=xs,
        y=ys,
        mode="markers",
        name="cells",
        showlegend=False,
        text=cells,
        hovertemplate="%{text}<br>click to see them<extra></extra>",
        marker=dict(symbol="square", size=side, color="rgba(0,0,0,0)"),
    )
    height = max(320, min(720, 60 + 36 * len(labels)))
    return fig.update_layout(
        xaxis=dict(title="predicted", type="category", side="bottom"),
        yaxis=dict(title="actual", type="category", autorange="reversed"),
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        clickmode="event+select",
        dragmode=False,
    )


def comparison_figure(
    old: pd.DataFrame, new: pd.DataFrame, old_name: str, new_name: str, column: str = "f1"
) -> go.Figure:
    """Per-class scores of two runs side by side (frames with 'class' and the score column)."""
    fig = go.Figure()
    fig.add_bar(x=[str(c) for c in old["class"]], y=old[column], name=old_name)
    fig.add_bar(x=[str(c) for c in new["class"]], y=new[column], name=new_name)
    return fig.update_layout(
        barmode="group",
        xaxis=dict(title="class", type="category"),
        yaxis=dict(title=column, range=[0, 1.02]),
        height=320,
        margin=dict(l=10, r=10, t=30, b=10),
        legend=dict(orientation="h"),
    )


def probability_bars(top: list[tuple[str, float]], threshold: float | None = None) -> go.Figure:
    """The most likely classes as horizontal bars (most likely on top), with the threshold marked."""
    names = [str(c) for c, _ in top][::-1]
    probs = [p for _, p in top][::-1]
    sure = threshold is None or (bool(top) and top[0][1] >= threshold)
    colours = ["#1f77b4" if sure and i == len(probs) - 1 else "#9aa5b1" for i in range(len(probs))]
    return hbars(names, probs, colours, threshold, "probability", 32)


def hbars(
    names: list[str],
    probs: list[float],
    colours: list[str],
    threshold: float | None,
    x_title: str,
    row_px: int,
) -> go.Figure:
    """Probabilities as horizontal bars, in the order given (bottom first), each labelled with its
    percentage, and the threshold (when there is one) as a dashed line."""
    fig = go.Figure()
    fig.add_bar(
        x=probs,
        y=names,
        orientation="h",
        name="probability",
        marker_color=colours,
        text=[f"{p:.1%}" for p in probs],
        textposition="auto",
        hovertemplate="%{y}: %{x:.2%}<extra></extra>",
    )
    if threshold is not None:
        fig.add_vline(
            x=threshold,
            line_dash="dash",
            line_color="#d62728",
            annotation_text=f"threshold {threshold:.0%}",
            annotation_position="top",
        )
    return fig.update_layout(
        xaxis=dict(title=x_title, range=[0, 1], tickformat=".0%"),
        yaxis=dict(type="category"),
        height=max(180, 60 + row_px * len(names)),
        margin=dict(l=10, r=10, t=30, b=10),
        showlegend=False,
    )
