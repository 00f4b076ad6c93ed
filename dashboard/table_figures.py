"""Pure functions for the Data page of tables and ratings: column summaries and plotly figures.

Data in, a DataFrame or a go.Figure out: nothing here reads files or touches Streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.data_figures import SPLIT_COLOURS
from dashboard.markup import html_text

BINS = 12  # bars in a column's small distribution
TOP_VALUES = 30  # categories a bar chart shows (the rest summed as "others")
MAX_POINTS = 2000  # points a long-tail curve is thinned to
LAYOUT = dict(height=300, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h"))
ROLES = ("target", "categorical", "continuous", "ignored")


def is_number(series: pd.Series) -> bool:
    """True when a column holds numbers (bools count as categories)."""
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def role_of(column: str, target: str, cat: Sequence[str], cont: Sequence[str]) -> str:
    """The role a column plays: target, categorical, continuous or ignored."""
    if column == target:
        return "target"
    if column in cat:
        return "categorical"
    if column in cont:
        return "continuous"
    return "ignored"


def small_distribution(series: pd.Series, bins: int = BINS) -> list[int]:
    """A few counts that sketch a column: a histogram of numbers, or the most frequent categories."""
    values = series.dropna()
    if not len(values):
        return []
    if is_number(values):
        numbers = values.to_numpy(dtype=float)
        numbers = numbers[np.isfinite(numbers)]
        if not len(numbers):
            return []
        return np.histogram(numbers, bins=bins)[0].astype(int).tolist()
    return values.astype(str).value_counts().head(bins).astype(int).tolist()


def column_summary(frame: pd.DataFrame, target: str, cat: Sequence[str], cont: Sequence[str]) -> pd.DataFrame:
    """One row per column: its role, type, share missing, distinct values and a small distribution."""
    rows = []
    for name in frame.columns:
        series = frame[name]
        rows.append(
            {
                "column": str(name),
                "role": role_of(name, target, cat, cont),
                "type": "number" if is_number(series) else "text",
                "missing": float(series.isna().mean()) if len(series) else 0.0,
                "unique": int(series.nunique(dropna=True)),
                "distribution": small_distribution(series),
            }
        )
    return pd.DataFrame(rows, columns=["column", "role", "type", "missing", "unique", "distribution"])


def top_counts(series: pd.Series, k: int = TOP_VALUES) -> pd.Series:
    """Counts of the k most frequent values (as text), the rest summed as 'others (n values)'."""
    counts = series.dropna().astype(str).value_counts()
    if len(counts) <= k:
        return counts
    rest = counts.iloc[k:]
    return pd.concat([counts.iloc[:k], pd.Series({f"others ({len(rest)} values)": int(rest.sum())})])


def column_figure(series: pd.Series, name: str) -> go.Figure:
    """One column's distribution: a histogram of a number column, bars of a text column's values."""
    missing = int(series.isna().sum())
    fig = go.Figure()
    if is_number(series):
        fig.add_histogram(x=series.dropna().to_numpy(dtype=float), nbinsx=30, name=html_text(name))
        xtitle = html_text(name)
    else:
        counts = top_counts(series)
        fig.add_bar(x=[html_text(v) for v in counts.index], y=counts.to_numpy(), name=html_text(name))
        fig.update_xaxes(type="category")
        xtitle = f"{html_text(name)} (most frequent first)"
    title = f"rows per value of {html_text(name)}" + (f" ({missing:,} missing, not shown)" if missing else "")
    return fig.update_layout(title=title, xaxis_title=xtitle, yaxis_title="rows", **LAYOUT)


def target_figure(series: pd.Series, is_valid: Sequence[bool], classification: bool) -> go.Figure:
    """The target per split: stacked bars per class, or overlaid histograms of a number."""
    valid = np.asarray(is_valid, dtype=bool)
    fig = go.Figure()
    if classification:
        classes = sorted(series.dropna().astype(str).unique())
        for split, mask in (("train", ~valid), ("valid", valid)):
            counts = series[mask].dropna().astype(str).value_counts()
            fig.add_bar(
                x=[html_text(c) for c in classes],
                y=[int(counts.get(c, 0)) for c in classes],
                name=split,
                marker_color=SPLIT_COLOURS[split],
            )
        fig.update_layout(barmode="stack", xaxis_type="category", xaxis_title="class")
    else:
        for split, mask in (("train", ~valid), ("valid", valid)):
            fig.add_histogram(
                x=series[mask].dropna().to_numpy(dtype=float),
                name=split,
                nbinsx=30,
                opacity=0.6,
                marker_color=SPLIT_COLOURS[split],
            )
        fig.update_layout(barmode="overlay", xaxis_title=html_text(series.name))
    title = f"the target {html_text(series.name)}: rows per split"
    return fig.update_layout(title=title, yaxis_title="rows", **LAYOUT)


def ratings_figure(ratings: pd.Series) -> go.Figure:
    """How often each rating is given: bars for a few distinct values, else a histogram."""
    values = ratings.dropna().to_numpy(dtype=float)
    fig = go.Figure()
    distinct = np.unique(values)
    if len(distinct) <= 20:
        counts = [int((values == v).sum()) for v in distinct]
        fig.add_bar(x=[f"{v:g}" for v in distinct], y=counts, name="ratings")
        fig.update_xaxes(type="category")
    else:
        fig.add_histogram(x=values, nbinsx=30, name="ratings")
    return fig.update_layout(title="how often each rating is given", xaxis_title="rating", **LAYOUT)


def long_tail(counts: pd.Series, max_points: int = MAX_POINTS) -> pd.DataFrame:
    """Counts sorted from the largest down, by rank (1 = most), thinned to at most max_points."""
    ordered = np.sort(counts.to_numpy(dtype=float))[::-1]
    ranks = np.arange(1, len(ordered) + 1)
    if len(ordered) > max_points:
        keep = np.unique(np.linspace(0, len(ordered) - 1, max_points).round().astype(int))
        ordered, ranks = ordered[keep], ranks[keep]
    return pd.DataFrame({"rank": ranks, "ratings": ordered})


def long_tail_figure(counts: pd.Series, what: str) -> go.Figure:
    """Ratings per user (or item), largest first: a few give many, most give few (the long tail)."""
    tail = long_tail(counts)
    fig = go.Figure()
    fig.add_scatter(x=tail["rank"], y=tail["ratings"], mode="lines", fill="tozeroy", name=what)
    return fig.update_layout(
        title=f"ratings per {what}, most first",
        xaxis_title=f"{what}s, ranked by their number of ratings",
        yaxis_title="ratings",
        **LAYOUT,
    )
