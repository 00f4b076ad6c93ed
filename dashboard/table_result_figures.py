"""Figures of the Results page for tables and ratings: pure functions of frames, testable without a browser.

Names a person supplied (category values, item titles, genres) are HTML-escaped, since Plotly reads
a subset of HTML in its labels; point clouds are thinned to a few thousand points (DESIGN §6).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.markup import html_text

MAX_POINTS = 3000  # points drawn in a scatter at most (a random, seeded sample beyond that)
NETWORK, BASELINE, GBM = "#1f77b4", "#9aa5b1", "#ff7f0e"
_MARGIN = dict(l=10, r=10, t=30, b=10)


def sample(frame: pd.DataFrame, max_points: int = MAX_POINTS, seed: int = 0) -> pd.DataFrame:
    """At most max_points rows of frame, a seeded random sample in the original order."""
    if len(frame) <= max_points:
        return frame
    return frame.sample(n=max_points, random_state=seed).sort_index()


def predicted_vs_actual(actual, predicted, target: str) -> go.Figure:
    """Each row's prediction against its true value, with the diagonal a perfect model would sit on."""
    frame = sample(
        pd.DataFrame({"actual": np.asarray(actual, float), "predicted": np.asarray(predicted, float)})
    )
    fig = go.Figure()
    fig.add_scatter(
        x=frame["actual"],
        y=frame["predicted"],
        mode="markers",
        name="rows",
        marker=dict(size=6, opacity=0.6, color=NETWORK),
        hovertemplate="actual %{x:.4g}<br>predicted %{y:.4g}<extra></extra>",
    )
    both = pd.concat([frame["actual"], frame["predicted"]])
    lo, hi = (float(both.min()), float(both.max())) if len(both) else (0.0, 1.0)
    fig.add_scatter(
        x=[lo, hi],
        y=[lo, hi],
        mode="lines",
        name="predicted = actual",
        line=dict(dash="dash", color="#d62728"),
        hoverinfo="skip",
    )
    name = html_text(target)
    return fig.update_layout(
        xaxis_title=f"actual {name}",
        yaxis_title=f"predicted {name}",
        height=380,
        margin=_MARGIN,
        legend=dict(orientation="h"),
    )


def residuals(actual, predicted, target: str) -> go.Figure:
    """Residuals (actual − predicted) against the prediction, with the zero line: a pattern in the
    cloud (a slope, a funnel) is something the model has not learned."""
    actual, predicted = np.asarray(actual, float), np.asarray(predicted, float)
    frame = sample(pd.DataFrame({"predicted": predicted, "residual": actual - predicted}))
    fig = go.Figure()
    fig.add_scatter(
        x=frame["predicted"],
        y=frame["residual"],
        mode="markers",
        name="rows",
        marker=dict(size=6, opacity=0.6, color=NETWORK),
        hovertemplate="predicted %{x:.4g}<br>residual %{y:.4g}<extra></extra>",
    )
    fig.add_hline(y=0, line_dash="dash", line_color="#d62728")
    name = html_text(target)
    return fig.update_layout(
        xaxis_title=f"predicted {name}",
        yaxis_title="residual (actual − predicted)",
        height=380,
        margin=_MARGIN,
        showlegend=False,
    )


def importance(table: pd.DataFrame, metric: str) -> go.Figure:
    """Permutation importance: how much the metric drops when one column is shuffled (largest on
    top), with the spread over the repeats as error bars."""
    ranked = table.sort_values("drop", ascending=True)
    fig = go.Figure()
    fig.add_bar(
        x=ranked["drop"],
        y=[html_text(c) for c in ranked["column"]],
        orientation="h",
        name="drop",
        marker_color=[NETWORK if d > 0 else BASELINE for d in ranked["drop"]],
        error_x=dict(type="data", array=ranked["std"].fillna(0).tolist()) if "std" in ranked else None,
        hovertemplate="%{y}: %{x:.4g}<extra></extra>",
    )
    fig.add_vline(x=0, line_color="#444")
    return fig.update_layout(
        xaxis_title=f"drop in {metric} when the column is shuffled",
        yaxis=dict(type="category"),
        height=max(220, 60 + 26 * len(ranked)),
        margin=_MARGIN,
        showlegend=False,
    )


def _sizes(counts, smallest: float = 6, largest: float = 22) -> list[float]:
    """Marker sizes growing with the square root of a count (so the area follows the count)."""
    c = np.sqrt(np.maximum(np.asarray(counts, dtype=float), 0))
    if not len(c) or c.max() <= c.min():
        return [float((smallest + largest) / 2)] * len(c)
    return (smallest + (c - c.min()) / (c.max() - c.min()) * (largest - smallest)).tolist()


def embedding_map(points: pd.DataFrame, column: str) -> go.Figure:
    """A categorical column's learned embeddings projected on their first two principal components:
    one labelled point per value (bigger when more rows have it)."""
    labels = [html_text(v) for v in points["value"]]
    fig = go.Figure()
    fig.add_scatter(
        x=points["x"],
        y=points["y"],
        mode="markers+text",
        name=html_text(column),
        text=labels,
        textposition="top center",
        customdata=points["count"] if "count" in points else None,
        marker=dict(size=_sizes(points["count"]) if "count" in points else 10, color=NETWORK, opacity=0.8),
        hovertemplate="%{text}<br>%{customdata} rows<extra></extra>"
        if "count" in points
        else "%{text}<extra></extra>",
    )
    return fig.update_layout(
        xaxis_title="first principal component",
        yaxis_title="second principal component",
        height=440,
        margin=_MARGIN,
        showlegend=False,
    )


def rmse_bars(model: float, mean_baseline: float | None, noise_floor: float | None) -> go.Figure:
    """The model's validation RMSE between the worst sensible answer (always the mean rating) and
    the best possible one (the noise the ratings were drawn with), when known."""
    names, values, colours = [], [], []
    if mean_baseline is not None:
        names.append("always the mean rating")
        values.append(mean_baseline)
        colours.append(BASELINE)
    names.append("this model")
    values.append(model)
    colours.append(NETWORK)
    if noise_floor is not None:
        names.append("noise floor (best possible)")
        values.append(noise_floor)
        colours.append("#2ca02c")
    fig = go.Figure()
    fig.add_bar(
        x=values,
        y=names,
        orientation="h",
        marker_color=colours,
        text=[f"{v:.4f}" for v in values],
        textposition="auto",
        hovertemplate="%{y}: %{x:.4f}<extra></extra>",
    )
    return fig.update_layout(
        xaxis_title="RMSE on the validation ratings (lower is better)",
        yaxis=dict(type="category", autorange="reversed"),
        height=60 + 40 * len(names),
        margin=_MARGIN,
        showlegend=False,
    )


def item_map(points: pd.DataFrame, labelled: int = 40) -> go.Figure:
    """Items' learned factors projected on two principal components, one trace per genre; the
    `labelled` most-rated items carry their title, the others show it on hover."""
    frame = points.reset_index(drop=True)
    titles = frame["title"] if "title" in frame else frame["item"]
    names = [html_text(t if isinstance(t, str) and t else i) for t, i in zip(titles, frame["item"])]
    counts = frame["count"] if "count" in frame else pd.Series(0, index=frame.index)
    top = set(counts.sort_values(ascending=False, kind="stable").index[:labelled])
    sizes = _sizes(counts)
    genres = frame["genre"].fillna("").astype(str) if "genre" in frame else pd.Series("", index=frame.index)
    fig = go.Figure()
    for genre in sorted(genres.unique()):
        rows = [i for i in frame.index if genres[i] == genre]
        fig.add_scatter(
            x=frame.loc[rows, "x"],
            y=frame.loc[rows, "y"],
            mode="markers+text",
            name=html_text(genre) if genre else "items",
            text=[names[i] if i in top else "" for i in rows],
            hovertext=[names[i] for i in rows],
            textposition="top center",
            textfont=dict(size=10),
            marker=dict(size=[sizes[i] for i in rows], opacity=0.75),
            hovertemplate="%{hovertext}<extra></extra>",
        )
    return fig.update_layout(
        xaxis_title="first principal component",
        yaxis_title="second principal component",
        height=520,
        margin=_MARGIN,
        showlegend=bool((genres != "").any()),
        legend=dict(title=dict(text="genre")),
    )


def bias_bars(table: pd.DataFrame, n: int = 10) -> go.Figure:
    """The n items with the highest learned bias and the n with the lowest, as horizontal bars."""
    ranked = table.sort_values("bias", ascending=False, kind="stable")
    shown = ranked if len(ranked) <= 2 * n else pd.concat([ranked.head(n), ranked.tail(n)])
    names = [html_text(t if isinstance(t, str) and t else i) for t, i in zip(shown["title"], shown["item"])]
    fig = go.Figure()
    fig.add_bar(
        x=shown["bias"],
        y=names,
        orientation="h",
        marker_color=[NETWORK if b >= 0 else GBM for b in shown["bias"]],
        hovertemplate="%{y}: bias %{x:.3f}<extra></extra>",
    )
    fig.add_vline(x=0, line_color="#444")
    return fig.update_layout(
        xaxis_title="learned bias (added to every user's predicted rating)",
        yaxis=dict(type="category", autorange="reversed"),
        height=max(240, 60 + 22 * len(shown)),
        margin=_MARGIN,
        showlegend=False,
    )
