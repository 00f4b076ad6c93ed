"""The Results page's sections: which run, its interpretation, the confusion matrix and the top-loss
ranking (the model's own or out-of-sample).

The run choice, the interpretation and the out-of-sample controls serve every task (the task
interprets; a view module turns a crossval result into its frame); the confusion matrix and the
single-label ranking are single-label's own. Multi-label and segmentation sections live in
dashboard/views/results_multi.py and results_seg.py, retraining in views/results_retrain.py.

torch loads only when a section needs the model (inside functions), never on import.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from core import runs as runs_files
from core import tasks
from core.analysis.marks import load_marks
from core.jobs.store import CANCELLED, DONE, FAILED, Job, Store
from dashboard import cleaner, figures, runs, state, widgets
from dashboard.results_cache import crossval_result as crossval_result  # the views' calls, kept here
from dashboard.results_cache import dataset_renames as dataset_renames
from dashboard.results_cache import file_stamp as file_stamp
from dashboard.results_cache import oos_frame
from dashboard.text import sections

SPLIT_NAMES = {"valid": "validation", "train": "training"}
RANK_MODEL, RANK_OOS = "model", "oos"
TEXT = sections("results")  # the page's sentences, from assets/text/results.md


def finished_runs(store: Store) -> list[Job]:
    """Training runs that ended with saved weights, newest first."""
    return [
        j
        for j in store.jobs(limit=200, kind="train")
        if j.state in (DONE, CANCELLED) and runs_files.has_weights(j.id)
    ]


def run_label(job: Job) -> str:
    """'run 3: mnist_cnn on digits_flip10, 95.5%' (the task's main metric)."""
    cfg = job.params.get("config", {})
    task = tasks.get(job.task or tasks.DEFAULT)
    value = (job.result or {}).get(task.main_metric)
    tail = f", {task.metric_format.format(value)}" if value is not None else ""
    retrain = job.params.get("retrain_of")
    again = f", retrained from run {retrain}" if retrain else ""
    return f"run {job.id}: {cfg.get('arch')} on {cfg.get('dataset')}{tail}{again}"


def choose_run(store: Store) -> Job | None:
    """A selectbox over the finished runs (the current run by default); None when there are none."""
    jobs = finished_runs(store)
    if not jobs:
        return None
    ids = [j.id for j in jobs]
    if st.session_state.get(state.RESULTS_RUN) not in ids:
        current = st.session_state.get(state.RUN)
        st.session_state[state.RESULTS_RUN] = current if current in ids else ids[0]
    by_id = {j.id: j for j in jobs}
    chosen = st.selectbox(
        "Run",
        ids,
        key=state.RESULTS_RUN,
        persist_state="session",
        format_func=lambda i: run_label(by_id[i]),
        help=TEXT["run"],
    )
    return by_id[chosen]


@st.cache_resource(show_spinner=False, max_entries=4)
def _loaded(run_id: int, where: str):
    return runs_files.load(run_id)


def run_stamp(run_id: int) -> str:
    """Which model a run id names, for cache keys (core.runs.stamp)."""
    return runs_files.stamp(run_id)


def loaded_run(run_id: int):
    """The run's rebuilt model and record (kept across reruns: core.runs.LoadedRun)."""
    return _loaded(run_id, run_stamp(run_id))


@st.cache_data(show_spinner=False, max_entries=8)
def _interpretation(run_id: int, where: str, fingerprint: str):
    loaded = _loaded(run_id, where)
    return tasks.get(loaded.record.task or tasks.DEFAULT).interpret(loaded)


@st.cache_data(show_spinner=False, max_entries=32)
def _table_version(dataset: str, root: str, stamp: tuple, meta: str) -> str:
    # keyed by the folder, its files' (name, mtime_ns, size) and dataset.json: a rerun reads no CSV
    from core.analysis.interpret import fingerprint
    from core.data import access

    with access.dataset(dataset) as info:
        return fingerprint(access.items(info))


def data_version(job: Job) -> str:
    """The version of the run's dataset as it is now (core.data.layouts.fingerprint), for cache keys.

    A table's or ratings' version hashes the whole CSV, so it is kept while the files' stamp (path,
    mtime_ns, size) and dataset.json stay the same; an image dataset's is read from its file list."""
    from core.analysis.interpret import dataset_items, fingerprint
    from core.config import TrainConfig
    from core.data import access, datasets

    cfg = TrainConfig.from_dict(job.params["config"])
    if tasks.get(cfg.task).inputs != "images":
        from dashboard import model_view

        root = str(datasets.resolve(cfg.dataset).path)
        return _table_version(cfg.dataset, root, model_view.files_stamp(root), model_view.dataset_meta(root))
    with access.dataset(cfg.dataset):  # the list and the file times read together
        return fingerprint(dataset_items(cfg))


def interpretation(job: Job):
    """The run's predictions on its dataset as it is now (recomputed when the files change):
    the task's own interpretation (core.analysis.interpret, multilabel, segmentation, tabular, collab)."""
    return _interpretation(job.id, run_stamp(job.id), data_version(job))


def summary_metrics(interp) -> None:
    """Accuracy on each split and the image counts, on the data as it is now."""
    from core.analysis.interpret import accuracy

    valid_acc, train_acc = accuracy(interp.frame, "valid"), accuracy(interp.frame, "train")
    counts = interp.frame["split"].value_counts()
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(
        "Validation accuracy",
        f"{valid_acc:.2%}" if valid_acc is not None else "—",
        help=TEXT["valid_accuracy"],
    )
    c2.metric(
        "Training accuracy",
        f"{train_acc:.2%}" if train_acc is not None else "—",
        help=TEXT["train_accuracy"],
    )
    c3.metric("Validation images", int(counts.get("valid", 0)))
    c4.metric("Training images", int(counts.get("train", 0)))


def confusion_tables(interp) -> None:
    """The most-confused pairs and per-class precision, recall and F1, side by side."""
    from core.analysis.interpret import most_confused, per_class

    left, right = st.columns(2)
    with left:
        st.subheader("Most confused")
        st.caption(TEXT["most_confused"])
        st.dataframe(most_confused(interp.frame, interp.vocab).head(10), hide_index=True)
    with right:
        st.subheader("Per class")
        st.caption(TEXT["per_class"])
        st.dataframe(
            per_class(interp.frame, interp.vocab),
            hide_index=True,
            column_config={
                c: st.column_config.NumberColumn(format="%.3f") for c in ("precision", "recall", "f1")
            },
        )


def job_progress(job_id: int, what: str) -> None:
    """The job monitor for a job the page waits on: "what: progress", Stop, a rerun at the end."""
    widgets.job_monitor(job_id, progress_text=lambda snap: f"{what}: {snap.eta_text}", stop_help=TEXT["stop"])


def confusion_section(interp, dataset: str, root) -> None:
    """The heatmap (counts or shares), and the images behind a chosen cell, with their marks."""
    from core.analysis import interpret

    left, right = st.columns(2)
    split = left.radio(
        "Images",
        list(SPLIT_NAMES),
        format_func=SPLIT_NAMES.get,
        horizontal=True,
        key=state.RESULTS_CM_SPLIT,
        persist_state="session",
        help=TEXT["cm_split"],
    )
    normalised = right.toggle(
        "Share of each actual class",
        key=state.RESULTS_CM_NORM,
        persist_state="session",
        help=TEXT["cm_norm"],
    )
    cm = interpret.confusion_matrix(interp.frame, interp.vocab, split)
    event = st.plotly_chart(
        figures.confusion_figure(cm, interp.vocab, normalised),
        key="results_cm",
        on_select="rerun",
        selection_mode="points",
    )
    cells = [
        (interp.vocab[i], interp.vocab[j])
        for i in range(len(cm))
        for j in range(len(cm))
        if cm[i, j] and i != j
    ]
    cells = sorted(cells, key=lambda c: -cm[interp.vocab.index(c[0]), interp.vocab.index(c[1])])
    cells += [(c, c) for i, c in enumerate(interp.vocab) if cm[i, i]]
    points = list(getattr(getattr(event, "selection", None), "points", None) or [])
    click = (str(points[0].get("y")), str(points[0].get("x"))) if points else None
    if click != st.session_state.get(state.RESULTS_CELL_CLICK):  # a new click (None: undone)
        st.session_state[state.RESULTS_CELL_CLICK] = click
        if click is not None:
            st.session_state[state.RESULTS_CELL] = click if click in cells else None
    if st.session_state.get(state.RESULTS_CELL) not in [None, *cells]:
        st.session_state[state.RESULTS_CELL] = None
    count = {c: int(cm[interp.vocab.index(c[0]), interp.vocab.index(c[1])]) for c in cells}
    chosen = st.selectbox(
        "Images behind a cell",
        [None, *cells],
        key=state.RESULTS_CELL,
        format_func=lambda c: (
            "— click a cell, or choose one here —"
            if c is None
            else f"actual {c[0]}, predicted {c[1]} ({count[c]} image(s))"
        ),
        help=TEXT["cell"],
    )
    if chosen is not None:
        rows = interpret.cell(interp.frame, chosen[0], chosen[1], split)
        cleaner.image_grid(cleaner.paged(rows, state.RESULTS_CELL_PAGES), dataset, root, interp.vocab, "cell")


def out_of_sample(
    job: Job, interp, dataset: str, frame_of: Callable[[dict], pd.DataFrame] | None = None
) -> pd.DataFrame | None:
    """The out-of-sample frame when its crossval job is done; else its controls or progress.

    frame_of turns the crossval result into the ranking's frame (single-label's by default).
    """
    from core.train.crossval import DEFAULT_K

    store = runs.store()
    cv = store.latest("crossval", source_run=job.id)
    if cv is not None and not cv.finished_state:
        job_progress(cv.id, "Cross-validation")
        return None
    if cv is not None and cv.state == DONE:
        result = crossval_result(cv.id)
        if result is not None:
            if result["fingerprint"] != interp.fingerprint:
                st.caption(TEXT["stale_oos"])
            frame = oos_frame(cv.id, interp, dataset) if frame_of is None else frame_of(result)
            k_text = f"{result['k']}-fold cross-validation (job {cv.id})"
            st.caption(f"Training images ranked by {k_text}; validation images by the run's model.")
            if st.button(
                "Recompute",
                icon=":material/refresh:",
                key="results_cv_again",
                help=TEXT["recompute"],
            ):
                params = {"config": job.params["config"], "k": result["k"], "source_run": job.id}
                if runs.submit("crossval", params) is not None:
                    st.rerun()
            return frame
    elif cv is not None and cv.state == FAILED:
        st.error(f"The cross-validation failed: {cv.error}")
    narrow = st.columns([1, 3])[0]
    k = narrow.number_input(
        "Folds (k)",
        min_value=2,
        max_value=10,
        value=DEFAULT_K,
        key=state.RESULTS_K,
        help=TEXT["folds"],
    )
    seconds = (job.result or {}).get("total_seconds") or (job.result or {}).get("seconds")
    cost = f" (about {int(k) * seconds:.0f} s: {int(k)} × this run's time)" if seconds else ""
    st.caption(TEXT["oos"].format(k=int(k), run=job.id, cost=cost))
    if st.button(
        "Compute the out-of-sample ranking",
        icon=":material/model_training:",
        help=TEXT["compute_oos"],
    ):
        if runs.submit("crossval", {"config": job.params["config"], "k": int(k), "source_run": job.id}):
            st.rerun()
    return None


def ranking_section(job: Job, interp, dataset: str, root) -> None:
    """Top losses, filtered and paged, largest first, each image with its mark controls."""
    from core.analysis import interpret
    from dashboard.views import results_issues

    source = st.radio(
        "Rank by",
        [RANK_MODEL, RANK_OOS],
        horizontal=True,
        key=state.RESULTS_RANK,
        persist_state="session",
        format_func={RANK_MODEL: "this model's loss", RANK_OOS: "out-of-sample loss (k-fold)"}.get,
        help=TEXT["rank"],
    )
    frame = interp.frame if source == RANK_MODEL else out_of_sample(job, interp, dataset)
    if frame is None:
        return
    classes = [None, *interp.vocab]
    a, p, s, m = st.columns(4)
    actual = a.selectbox(
        "Actual",
        classes,
        key=state.RESULTS_ACTUAL,
        persist_state="session",
        format_func=lambda c: "any" if c is None else c,
        help="Only images whose label is this class.",
    )
    predicted = p.selectbox(
        "Predicted",
        classes,
        key=state.RESULTS_PREDICTED,
        persist_state="session",
        format_func=lambda c: "any" if c is None else c,
        help="Only images the model predicted as this class.",
    )
    split = s.selectbox(
        "Split",
        [None, "train", "valid"],
        key=state.RESULTS_SPLIT,
        persist_state="session",
        format_func=lambda v: "both" if v is None else SPLIT_NAMES[v],
        help="Training images, validation images, or both.",
    )
    show = m.selectbox(
        "Show",
        ["all", "unmarked", "marked"],
        key=state.RESULTS_SHOW,
        persist_state="session",
        help="Hide the images you have already marked, or see only those.",
    )
    rows = interpret.top_losses(frame, actual, predicted, split)
    marked = set(load_marks(dataset))
    if show != "all":
        rows = rows[rows["file"].isin(marked) == (show == "marked")]
    issues = results_issues.likely_filter(job, dataset) if source == RANK_OOS else None
    if issues is None:
        st.caption(TEXT["ranked"].format(n=len(rows)))
    else:  # the likely wrong labels only, least believable first
        rows = results_issues.likely_rows(rows, issues)
        st.caption(results_issues.ranked_caption(len(rows), issues))
    cleaner.image_grid(cleaner.paged(rows, state.RESULTS_TOP_PAGES), dataset, root, interp.vocab, "top")
