"""The Results page for a table run: the network's figures beside a gradient-boosting baseline's, the
confusion matrix (classification) or predicted-vs-actual and residuals (regression), the rows with the
largest loss, permutation importance and the PCA of a categorical column's embeddings.

core.analysis.tabular and core.analysis.baseline do the sums; the figures are in
dashboard/table_result_figures.py. Slow parts (the baseline trains, importance predicts many times)
are cached per run and data version.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.errors import UserError
from core.jobs.store import Job
from dashboard import figures, results_view
from dashboard import table_result_figures as tfig
from dashboard.markup import md
from dashboard.text import sections
from dashboard.views import results_retrain

TEXT = sections("results_table")  # assets/text/results_table.md (tables and ratings)
CM_NORM = "results_table_cm_norm"  # the confusion matrix shows shares of each actual class
TOP_K = "results_table_top_k"  # how many top-loss rows are listed
TOP_SPLIT = "results_table_top_split"  # the top-loss rows of the validation, training or both splits
IMPORTANCE = "results_table_importance"  # the (run id, run stamp, data version) keys importance was asked for
BASELINE_GO = "results_table_baseline_go"  # the button that trains it
EMBEDDING = "results_table_embedding"  # the categorical column whose embeddings are projected
PERCENT = {"accuracy", "f1"}  # figures shown as percentages; the others in the target's units
NAMES = {"accuracy": "accuracy", "f1": "F1", "rmse": "RMSE", "mae": "MAE", "r2": "R²"}
LOWER_IS_BETTER = {"rmse", "mae"}


def intro(task_name: str) -> str:
    """The page's opening sentences for a table or ratings task."""
    return TEXT[f"intro_{task_name}"]


def fmt(metric: str, value: float | None) -> str:
    """A figure as the page shows it: a percentage, R² to three places, an error to four figures."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    if metric in PERCENT:
        return f"{value:.2%}"
    return f"{value:.3f}" if metric == "r2" else f"{value:.4g}"


def _counts(interp) -> pd.Series:
    return interp.frame["split"].value_counts()


def notes(interp) -> None:
    """What the interpretation noticed about the data (a row it could not use, a value never seen)."""
    for note in getattr(interp, "notes", []) or []:
        st.warning(md(note), icon=":material/info:")


def summary_metrics(interp) -> None:
    """The task's figures on the validation rows, the row counts, and the training figures beside them."""
    from core.analysis import tabular

    notes(interp)
    valid, train = tabular.scores(interp, "valid"), tabular.scores(interp, "train")
    counts = _counts(interp)
    cols = st.columns(len(valid) + 2)
    for col, (name, value) in zip(cols, valid.items()):
        col.metric(f"Validation {NAMES.get(name, name)}", fmt(name, value), help=TEXT.get(name))
    cols[-2].metric("Validation rows", int(counts.get("valid", 0)))
    cols[-1].metric("Training rows", int(counts.get("train", 0)))
    on_train = ", ".join(f"{NAMES.get(n, n)} {fmt(n, v)}" for n, v in train.items())
    st.caption(f"{TEXT['table_scores']} On the training rows: {on_train}.")


def per_class_table(matrix, classes: list[str]) -> pd.DataFrame:
    """Precision, recall, F1 and support of each class from a confusion matrix (actual down)."""
    cm = np.asarray(matrix, dtype=float)
    hits = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(hits), where=both > 0)
    return pd.DataFrame(
        {
            "class": [str(c) for c in classes],
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": actual.astype(int),
        }
    )


def scores(interp) -> results_retrain.Scores:
    """The main figure on the validation rows (and per-class F1 for classes), for the retrain comparison."""
    from core import tasks
    from core.analysis import tabular

    task = tasks.get(interp.task)
    value = tabular.scores(interp, "valid").get(task.main_metric)
    value = float(value) if value is not None else float("nan")
    name = f"Validation {NAMES.get(task.main_metric, task.main_metric)}"
    if task.main_metric in PERCENT:
        matrix, classes = tabular.confusion(interp)
        return results_retrain.Scores(name, value, per_class_table(matrix, classes), "f1")
    return results_retrain.Scores(name, value, None, "", percent=False, higher_is_better=False)


def baseline_verdict(metric: str, network: float, trees: float) -> str:
    """One sentence comparing the network's main figure with the trees'."""
    if metric in LOWER_IS_BETTER:
        ratio = network / trees if trees else float("inf")
        better = "below" if network < trees else "above"
        return (
            f"The network's {NAMES[metric]} is {fmt(metric, network)}, {ratio:.2f}× the trees' "
            f"{fmt(metric, trees)} ({better} it; lower is better)."
        )
    better = "beats" if network > trees else ("ties with" if network == trees else "trails")
    return (
        f"The network's {NAMES.get(metric, metric)} is {fmt(metric, network)}: it {better} the trees' "
        f"{fmt(metric, trees)}."
    )


def baseline_section(job: Job, interp) -> None:
    """The network's validation figures beside the gradient-boosting baseline's (trained once, then kept)."""
    from core import tasks
    from core.analysis import baseline, tabular

    trees = baseline.cached(job.id, results_view.data_version(job))  # kept in runs/<id>/baseline.json
    if trees is None:
        st.caption(TEXT["baseline_cost"].format(n=int((interp.frame["split"] == "train").sum())))
        if not st.button(
            "Train the gradient-boosting baseline",
            icon=":material/forest:",
            key=BASELINE_GO,
            help="scikit-learn's HistGradientBoosting on the same training rows, split and columns, "
            "judged by the same figures; trained once per version of the data, then kept with the run.",
        ):
            return
        try:
            with st.spinner(TEXT["baseline_running"]):
                trees = baseline.gbm_baseline(job.id)
        except UserError as e:
            st.error(md(e))
            return
    if trees.get("same_data") is False:
        st.warning(TEXT["baseline_stale"].format(run=job.id), icon=":material/update:")
    network = tabular.scores(interp, "valid")
    rows = [
        {"figure": NAMES.get(n, n), "network": fmt(n, v), "gradient boosting": fmt(n, trees.get(n))}
        for n, v in network.items()
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    main = tasks.get(interp.task).main_metric
    if network.get(main) is not None and trees.get(main) is not None:
        st.markdown(baseline_verdict(main, float(network[main]), float(trees[main])))
    seconds = trees.get("seconds")
    if seconds is not None:
        st.caption(
            f"scikit-learn's HistGradientBoosting trained in {seconds:.1f} s on the same training rows."
        )


def confusion_section(interp) -> None:
    """The validation rows' confusion matrix (counts or shares) and each class's precision and recall."""
    from core.analysis import tabular

    matrix, classes = tabular.confusion(interp)
    normalised = st.toggle(
        "Share of each actual class",
        key=CM_NORM,
        help="Divide each row by its total: recall on the diagonal.",
    )
    st.plotly_chart(figures.confusion_figure(matrix, classes, normalised), key="results_table_cm")
    st.dataframe(
        per_class_table(matrix, classes),
        hide_index=True,
        column_config={
            c: st.column_config.NumberColumn(format="%.3f") for c in ("precision", "recall", "f1")
        },
    )


def residuals_section(interp) -> None:
    """Predicted against actual, and residuals against predicted, on the validation rows."""
    valid = interp.frame[interp.frame["split"] == "valid"]
    target = str((interp.state or {}).get("target") or "target")
    left, right = st.columns(2)
    left.plotly_chart(
        tfig.predicted_vs_actual(valid["target"], valid["predicted"], target), key="results_table_pva"
    )
    right.plotly_chart(tfig.residuals(valid["target"], valid["predicted"], target), key="results_table_res")
    if len(valid) > tfig.MAX_POINTS:
        st.caption(f"{tfig.MAX_POINTS:,} of the {len(valid):,} validation rows drawn, chosen at random.")


SPLITS = {"valid": "validation rows", "train": "training rows", "both": "both"}


def top_rows_section(interp) -> None:
    """The rows with the largest loss as a table, validation first, with their target and prediction."""
    from core.analysis import tabular

    left, right = st.columns(2)
    k = left.slider("Rows", min_value=5, max_value=100, value=20, step=5, key=TOP_K)
    split = right.radio("From", list(SPLITS), format_func=SPLITS.get, horizontal=True, key=TOP_SPLIT)
    rows = tabular.top_rows(interp, k=len(interp.frame) if split != "valid" else int(k))
    if split != "both":
        rows = rows[rows["split"] == split]
    rows = rows.sort_values("loss", ascending=False, kind="stable").head(int(k))
    first = [c for c in ("target", "predicted", "probability", "residual", "loss", "split") if c in rows]
    shown = rows[first + [c for c in rows.columns if c not in first]]
    st.dataframe(
        shown,
        hide_index=True,
        column_config={
            "loss": st.column_config.NumberColumn(format="%.3f"),
            "probability": st.column_config.NumberColumn(format="percent"),
        },
    )


@st.cache_data(show_spinner=False, max_entries=8)
def _importance(run_id: int, where: str, version: str, _interp) -> pd.DataFrame:
    from core.analysis import tabular

    return tabular.permutation_importance(results_view.loaded_run(run_id), _interp)


def importance_section(job: Job, interp) -> None:
    """Permutation importance of every input column, computed when asked (then kept for the run)."""
    from core import tasks

    key = (job.id, results_view.run_stamp(job.id), results_view.data_version(job))
    asked = st.session_state.setdefault(IMPORTANCE, [])
    if key not in asked:
        if not st.button(
            "Compute the importance of each column",
            icon=":material/shuffle:",
            key="results_table_importance_go",
            help=TEXT["importance_button"],
        ):
            return
        asked.append(key)
    try:
        with st.spinner("Shuffling one column at a time and measuring again…"):
            table = _importance(job.id, key[1], key[2], interp)
    except UserError as e:
        st.error(str(e))
        return
    metric = NAMES.get(tasks.get(interp.task).main_metric, "the main figure")
    st.plotly_chart(tfig.importance(table, metric), key="results_table_importance_bars")


@st.cache_data(show_spinner=False, max_entries=32)
def _embedding(run_id: int, where: str, version: str, column: str, _interp) -> pd.DataFrame:
    from core.analysis import tabular

    return tabular.embedding_pca(results_view.loaded_run(run_id), column, _interp)


def embeddings_section(job: Job, interp) -> None:
    """A chosen categorical column's embeddings projected with PCA, one labelled point per value."""
    from core.analysis import tabular

    columns = tabular.embedding_columns(interp.state or {})
    if not columns:
        st.info(TEXT["no_embeddings"])
        return
    if st.session_state.get(EMBEDDING) not in columns:
        st.session_state[EMBEDDING] = columns[0]
    column = st.selectbox("Column", columns, key=EMBEDDING, help=TEXT["embedding_column"])
    try:
        points = _embedding(job.id, results_view.run_stamp(job.id), interp.fingerprint, column, interp)
    except UserError as e:
        st.error(str(e))
        return
    st.plotly_chart(tfig.embedding_map(points, column), key="results_table_embedding_map")
    st.caption(f"{len(points)} values of {md(column)}, each a learned vector, projected on two directions.")


def sections(job: Job, interp, views: tuple[str, ...]) -> None:
    """Every table section the task shows, in reading order, each with what it teaches."""
    if "baseline" in views:
        st.subheader("Against gradient-boosted trees")
        st.caption(TEXT["baseline"])
        baseline_section(job, interp)
    if "confusion_table" in views:
        st.subheader("Confusion matrix")
        st.caption(TEXT["confusion_table"])
        confusion_section(interp)
    if "residuals" in views:
        st.subheader("Predicted against actual")
        st.caption(TEXT["residuals"])
        residuals_section(interp)
    if "top_rows" in views:
        st.subheader("Top losses")
        st.caption(TEXT["top_rows"])
        top_rows_section(interp)
    if "importance" in views:
        st.subheader("Which columns matter")
        st.caption(TEXT["importance"])
        importance_section(job, interp)
    if "embeddings" in views:
        st.subheader("Embeddings")
        st.caption(TEXT["embeddings"])
        embeddings_section(job, interp)
