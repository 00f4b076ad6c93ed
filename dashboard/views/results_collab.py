"""The Results page for a ratings run (collaborative filtering): RMSE against the mean-rating baseline
and the noise floor, the items' factors projected with PCA, items ranked by learned bias, and the
nearest items to a chosen one.

core.analysis.collab does the sums; the figures are in dashboard/table_result_figures.py.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import UserError
from core.jobs.store import Job
from dashboard import results_view
from dashboard import table_result_figures as tfig
from dashboard.markup import md
from dashboard.views import results_retrain, results_table
from dashboard.views.results_table import TEXT

MAP_ITEMS = "results_collab_map_items"  # how many of the most-rated items the PCA map shows
NEAREST = "results_collab_nearest"  # the item whose nearest items are listed
BIAS_N = 10  # items shown at each end of the bias ranking
N_NEAREST = 10


def _value(interp, name: str) -> float | None:
    value = getattr(interp, name, None)
    return None if value is None else float(value)


def summary_metrics(interp) -> None:
    """Validation RMSE, the mean-rating baseline's, the noise floor (when known) and the rating counts."""
    results_table.notes(interp)
    counts = interp.frame["split"].value_counts()
    rmse, mean, floor = _value(interp, "rmse"), _value(interp, "baseline_rmse"), _value(interp, "noise_floor")
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("Validation RMSE", f"{rmse:.4f}" if rmse is not None else "—", help=TEXT["rmse"])
    c2.metric(
        "Always the mean rating",
        f"{mean:.4f}" if mean is not None else "—",
        help="The RMSE of predicting the training ratings' mean for every pair: the bar to beat.",
    )
    c3.metric(
        "Noise floor",
        f"{floor:.4f}" if floor is not None else "unknown",
        help="The standard deviation of the noise the built-in ratings were drawn with: no model "
        "can do better on average. Unknown for real ratings.",
    )
    c4.metric("Validation ratings", int(counts.get("valid", 0)))
    c5.metric("Training ratings", int(counts.get("train", 0)))


def scores(interp) -> results_retrain.Scores:
    """Validation RMSE (lower is better), for the retrain comparison."""
    rmse = _value(interp, "rmse")
    return results_retrain.Scores(
        "Validation RMSE",
        float("nan") if rmse is None else rmse,
        None,
        "",
        percent=False,
        higher_is_better=False,
    )


def rmse_sentence(rmse: float, mean: float | None, floor: float | None) -> str:
    """Where the model's RMSE sits between the mean-rating baseline and the noise floor."""
    parts = []
    if mean is not None and mean > 0:
        parts.append(f"{1 - rmse / mean:.0%} below always answering the mean ({mean:.4f})")
    if floor is not None and floor > 0:
        parts.append(f"{rmse / floor - 1:.0%} above the noise floor ({floor:.4f})")
    return f"Validation RMSE {rmse:.4f}" + (": " + "; ".join(parts) if parts else "") + "."


def scores_section(interp) -> None:
    """The RMSE bars: always the mean, this model, the noise floor."""
    rmse, mean, floor = _value(interp, "rmse"), _value(interp, "baseline_rmse"), _value(interp, "noise_floor")
    if rmse is None:
        st.info("No validation ratings: the RMSE cannot be measured.")
        return
    st.plotly_chart(tfig.rmse_bars(rmse, mean, floor), key="results_collab_rmse")
    st.markdown(rmse_sentence(rmse, mean, floor))


def _loaded(run_id: int):
    return results_view.loaded_run(run_id)


@st.cache_data(show_spinner=False, max_entries=16)
def _item_pca(run_id: int, where: str, version: str, n: int) -> pd.DataFrame:
    from core.analysis import collab

    return collab.item_pca(_loaded(run_id), n=n)


@st.cache_data(show_spinner=False, max_entries=16)
def _item_bias(run_id: int, where: str, version: str) -> pd.DataFrame | None:
    from core.analysis import collab

    return collab.item_bias(_loaded(run_id))


@st.cache_data(show_spinner=False, max_entries=64)
def _nearest(run_id: int, where: str, item: str, n: int) -> pd.DataFrame:
    from core.analysis import collab

    return collab.nearest_items(_loaded(run_id), item, n=n)


def _keys(job: Job) -> tuple[int, str, str]:
    return job.id, results_view.run_stamp(job.id), results_view.data_version(job)


def item_map_section(job: Job) -> None:
    """The most-rated items' factors on two principal components, coloured by genre, labelled."""
    run_id, where, version = _keys(job)
    n = st.slider(
        "Items shown (the most rated)",
        min_value=10,
        max_value=500,
        value=100,
        step=10,
        key=MAP_ITEMS,
        help="More items fill the map; the 40 most rated carry their titles, the others show them on hover.",
    )
    try:
        points = _item_pca(run_id, where, version, int(n))
    except UserError as e:
        st.error(str(e))
        return
    st.plotly_chart(tfig.item_map(points), key="results_collab_map")


def item_bias_section(job: Job) -> None:
    """The items with the highest and the lowest learned bias (the dot-product model only)."""
    from core.analysis import collab

    try:
        table = _item_bias(*_keys(job))
    except UserError as e:
        st.error(str(e))
        return
    if table is None:
        st.info(collab.NO_BIAS)
        return
    st.plotly_chart(tfig.bias_bars(table, BIAS_N), key="results_collab_bias")


def item_label(item: str, titles: dict) -> str:
    """An item as the picker shows it: its title, and its id when that differs."""
    title = titles.get(item)
    return f"{title} ({item})" if title and str(title) != str(item) else str(item)


def known_items(state: dict) -> tuple[list[str], dict[str, str]]:
    """The items the model knows, most rated first (when counted), and their titles."""
    items = [str(i) for i in (state.get("items") or [])[1:]]  # "#na#" is no item
    counts = state.get("item_counts")
    if isinstance(counts, list) and len(counts) == len(items) + 1:
        order = sorted(range(len(items)), key=lambda i: -counts[i + 1])
        items = [items[i] for i in order]
    titles = {str(k): str(v) for k, v in (state.get("titles") or {}).items()}
    return items, titles


def nearest_section(job: Job, interp) -> None:
    """A chosen item (most rated first) and the items whose factors point the same way."""
    items, titles = known_items(interp.state or {})
    if not items:
        st.info("The model knows no items.")
        return
    if st.session_state.get(NEAREST) not in items:
        st.session_state[NEAREST] = items[0]
    item = st.selectbox(
        "Item", items, key=NEAREST, format_func=lambda i: item_label(i, titles), help=TEXT["nearest_item"]
    )
    try:
        near = _nearest(job.id, results_view.run_stamp(job.id), item, N_NEAREST)
    except UserError as e:
        st.error(str(e))
        return
    st.markdown(f"The {len(near)} items nearest to **{md(item_label(item, titles))}**:")
    st.dataframe(
        near,
        hide_index=True,
        column_config={"similarity": st.column_config.NumberColumn(format="%.3f")},
    )


def sections(job: Job, interp, views: tuple[str, ...]) -> None:
    """Every ratings section the task shows, in reading order, each with what it teaches."""
    if "collab_scores" in views:
        st.subheader("RMSE against the baselines")
        st.caption(TEXT["collab_scores"])
        scores_section(interp)
    if "item_map" in views:
        st.subheader("Item map")
        st.caption(TEXT["item_map"])
        item_map_section(job)
    if "item_bias" in views:
        st.subheader("Items by learned bias")
        st.caption(TEXT["item_bias"])
        item_bias_section(job)
    if "nearest" in views:
        st.subheader("Nearest items")
        st.caption(TEXT["nearest"])
        nearest_section(job, interp)
