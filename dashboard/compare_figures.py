"""Pure functions that draw run comparisons and sweeps as plotly figures (no streamlit).

Inputs are the frames the engine gives (core.analysis.compare.curves, core.jobs.sweeps
.trials_frame); every figure thins what it draws so ten long runs still render in well under
a second in the browser.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.markup import html_text

MAX_TRACE_POINTS = 600  # per line: a figure is ~1,200 px wide, more points only cost time
X_TITLES = {"epoch": "epoch", "batch": "batch", "images": "images seen"}
LOSS_SERIES = ("train_loss", "valid_loss")
SERIES_NAMES = {"train_loss": "training loss (smoothed)", "valid_loss": "validation loss"}
LOG_PARAMS = {"lr", "lr_low", "wd"}  # hyper-parameters that live on a log scale when positive
MARGIN = dict(l=10, r=10, t=40, b=10)


def run_colour(run_id: int) -> str:
    """A colour of its own for each run, the same in every view and every comparison.

    Hues step by the golden ratio, so neighbouring ids (the usual comparison) differ clearly.
    """
    hue = (int(run_id) * 0.6180339887) % 1.0
    r, g, b = colorsys.hls_to_rgb(hue, 0.42, 0.75)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def thin_xy(
    x: np.ndarray, y: np.ndarray, max_points: int = MAX_TRACE_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """Every k-th point (and always the last) so at most about max_points remain."""
    n = len(x)
    if n <= max_points:
        return x, y
    k = -(-n // max_points)
    idx = np.arange(0, n, k)
    if idx[-1] != n - 1:
        idx = np.append(idx, n - 1)
    return x[idx], y[idx]


def series_title(series: str) -> str:
    """How a curve is named in a legend or axis (metrics keep their own name)."""
    return SERIES_NAMES.get(series, series)


def _label(labels: dict | None, run: int) -> str:
    return html_text((labels or {}).get(run, f"run {run}"))


def curves_figure(
    curves: pd.DataFrame,
    x: str = "epoch",
    labels: dict[int, str] | None = None,
    metric: str | None = None,
) -> go.Figure:
    """Overlaid curves of several runs: losses on top, the metric below, one colour per run.

    curves: rows (run, x, series, value) as core.analysis.compare.curves gives them; series
    "train_loss" (smoothed), "valid_loss" and metric names. Training loss is a solid line,
    validation loss dashed with markers; clicking a run in the legend hides all its lines.
    """
    metrics = [s for s in curves["series"].unique() if s not in LOSS_SERIES] if len(curves) else []
    if metric is not None:
        metrics = [m for m in metrics if m == metric]
    rows = 2 if metrics else 1
    titles = ["loss"] + ([", ".join(metrics)] if metrics else [])
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.08, subplot_titles=titles)
    for run, frame in curves.groupby("run", sort=True):
        colour = run_colour(run)
        name = _label(labels, run)
        first = True
        for series, part in frame.groupby("series", sort=False):
            if series not in LOSS_SERIES and series not in metrics:
                continue
            part = part.sort_values("x")
            xs, ys = thin_xy(part["x"].to_numpy(float), part["value"].to_numpy(float))
            train = series == "train_loss"
            fig.add_scatter(
                x=xs,
                y=ys,
                mode="lines" if train else "lines+markers",
                name=name,
                legendgroup=str(run),
                showlegend=first,
                line=dict(color=colour, width=1.5 if train else 2, dash=None if train else "dash"),
                marker=dict(size=5),
                hovertemplate=f"{name}: {html_text(series_title(series))} %{{y:.4g}} at %{{x:.4g}}"
                + "<extra></extra>",
                meta=[int(run), str(series)],
                row=1 if series in LOSS_SERIES else 2,
                col=1,
            )
            first = False
    fig.update_xaxes(title_text=X_TITLES.get(x, x), row=rows, col=1)
    fig.update_yaxes(title_text="loss", row=1, col=1)
    return fig.update_layout(
        height=320 + 220 * (rows - 1),
        margin=MARGIN,
        legend=dict(orientation="h", title_text="solid: training (smoothed) · dashed: validation  "),
        hovermode="closest",
    )


def band_figure(
    curves: pd.DataFrame,
    groups: dict[str, list[int]],
    series: str = "valid_loss",
    x: str = "epoch",
) -> go.Figure:
    """One mean line per group of seeds with a band of ± one standard deviation around it.

    groups: {label: [run ids]} (runs identical but for the seed). Runs are aligned on x; a
    point is drawn where at least one run of the group has a value.
    """
    fig = go.Figure()
    part = curves[curves["series"] == series] if len(curves) else curves
    for label, runs in groups.items():
        colour = run_colour(min(runs))
        rows = part[part["run"].isin(runs)]
        if rows.empty:
            continue
        stats = rows.groupby("x")["value"].agg(["mean", "std", "count"]).reset_index().sort_values("x")
        stats["std"] = stats["std"].fillna(0.0)
        xs, mean = stats["x"].to_numpy(float), stats["mean"].to_numpy(float)
        xs_t, mean_t = thin_xy(xs, mean)
        _, std_t = thin_xy(xs, stats["std"].to_numpy(float))
        name = f"{html_text(label)} ({len(runs)} seed{'s' if len(runs) != 1 else ''})"
        fig.add_scatter(
            x=np.concatenate([xs_t, xs_t[::-1]]),
            y=np.concatenate([mean_t + std_t, (mean_t - std_t)[::-1]]),
            fill="toself",
            fillcolor=_fade(colour),
            line=dict(width=0),
            hoverinfo="skip",
            legendgroup=name,
            showlegend=False,
            name=f"{name} band",
        )
        fig.add_scatter(x=xs_t, y=mean_t, mode="lines", name=name, legendgroup=name, line=dict(color=colour))
    return fig.update_layout(
        xaxis_title=X_TITLES.get(x, x),
        yaxis_title=series_title(series) + " (mean ± 1 sd over seeds)",
        height=340,
        margin=MARGIN,
        legend=dict(orientation="h"),
    )


def _fade(hex_colour: str, alpha: float = 0.18) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def log_fitting(param: str, values: pd.Series) -> bool:
    """Whether a hyper-parameter's axis should be logarithmic: rates always (when positive),
    other numbers when they are positive and span a factor of 8 or more."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    if v.empty or (v <= 0).any():
        return False
    if param in LOG_PARAMS:
        return True
    return v.max() / v.min() >= 8


def sweep_scatter(trials: pd.DataFrame, param: str, metric: str, best_run: int | None = None) -> go.Figure:
    """The metric of every finished trial against one hyper-parameter; the best run is a star."""
    done = trials.dropna(subset=[metric]) if metric in trials else trials.iloc[0:0]
    numeric = pd.api.types.is_numeric_dtype(done[param]) if param in done else False
    fig = go.Figure()
    best = done["run"] == best_run
    for mask, name, marker in (
        (~best, "runs", dict(size=9, color="#4c78a8", opacity=0.75)),
        (best, "best run", dict(size=18, color="#e45756", symbol="star", line=dict(width=1, color="black"))),
    ):
        rows = done[mask]
        if rows.empty:
            continue
        fig.add_scatter(
            x=rows[param] if numeric else rows[param].astype(str),
            y=rows[metric],
            mode="markers",
            name=name,
            marker=marker,
            text=[f"run {int(r)}" for r in rows["run"]],
            hovertemplate=f"%{{text}}: {html_text(param)} %{{x}}, {html_text(metric)} %{{y:.4g}}"
            + "<extra></extra>",
        )
    xaxis = dict(title=param)
    if numeric and log_fitting(param, done[param]):
        xaxis.update(type="log", exponentformat="e")
    elif not numeric:
        xaxis.update(type="category")
    return fig.update_layout(
        xaxis=xaxis, yaxis_title=metric, height=300, margin=MARGIN, legend=dict(orientation="h")
    )


def parallel_figure(
    trials: pd.DataFrame, params: list[str], metric: str, higher_is_better: bool = True
) -> go.Figure:
    """Parallel coordinates: one line per trial through each hyper-parameter and the metric.

    Lines are coloured by the metric (best end of the scale darkest); log-scale parameters are
    drawn as log10 with their real values on the ticks; text ones as categories.
    """
    done = trials.dropna(subset=[metric]) if metric in trials else trials.iloc[0:0]
    dims = []
    for p in params:
        col = done[p] if p in done else pd.Series(dtype=float)
        if not pd.api.types.is_numeric_dtype(col):
            cats = sorted(col.astype(str).unique())
            codes = [cats.index(v) for v in col.astype(str)]
            dims.append(dict(label=p, values=codes, tickvals=list(range(len(cats))), ticktext=cats))
        elif log_fitting(p, col):
            logs = np.log10(col.to_numpy(float))
            ticks = sorted(set(np.round(logs, 6))) if col.nunique() <= 8 else _decades(logs)
            dims.append(
                dict(
                    label=f"{p} (log)", values=logs, tickvals=ticks, ticktext=[f"{10**t:.0e}" for t in ticks]
                )
            )
        else:
            dims.append(dict(label=p, values=col.to_numpy(float)))
    dims.append(dict(label=metric, values=done[metric].to_numpy(float)))
    scale = "Viridis" if higher_is_better else "Viridis_r"
    fig = go.Figure(
        go.Parcoords(
            line=dict(color=done[metric].to_numpy(float), colorscale=scale, showscale=True),
            dimensions=dims,
        )
    )
    return fig.update_layout(height=360, margin=dict(l=60, r=60, t=50, b=20))


def _decades(logs: np.ndarray) -> list[float]:
    lo, hi = math.floor(np.nanmin(logs)), math.ceil(np.nanmax(logs))
    return [float(v) for v in range(lo, hi + 1)]
