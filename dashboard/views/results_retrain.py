"""The Results page's last section, for every task: retrain with the same settings on the cleaned
data, then compare the two runs on the same validation images (the task's headline figure and a
per-class score, given by the page's view module as Scores)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from core import runs as runs_files
from core import tasks
from core.jobs.store import FAILED, Job
from dashboard import figures, runs, state
from dashboard.results_view import TEXT, interpretation, job_progress
from dashboard.text import sections

TABLE_TEXT = sections("results_table")
RETRAIN_EPOCHS = "results_retrain_epochs"  # + the run id: the changed run's epochs (tables and ratings)
RETRAIN_LR = "results_retrain_lr"  # + the run id: its learning rate


@dataclass
class Scores:
    """A run's headline figure on the validation images and a per-class table to compare."""

    name: str  # e.g. "Validation accuracy"
    value: float
    table: pd.DataFrame | None  # a "class" column and the score column (None: nothing per class)
    column: str  # the score compared per class, e.g. "f1"
    percent: bool = True  # the value is a share (accuracy, F1, IoU); else a number in its own units (RMSE)
    higher_is_better: bool = True

    def text(self) -> str:
        """The value as the comparison shows it."""
        return f"{self.value:.2%}" if self.percent else f"{self.value:.4g}"

    def change(self, before: Scores) -> str:
        """The change from before, in points for shares, as a signed number otherwise."""
        if self.percent:
            return f"{(self.value - before.value) * 100:+.2f} points"
        return f"{self.value - before.value:+.4g}"


def single_scores(interp) -> Scores:
    """Validation accuracy and per-class F1 of a single-label interpretation."""
    from core.analysis import interpret

    table = interpret.per_class(interp.frame, interp.vocab)
    return Scores("Validation accuracy", interpret.accuracy(interp.frame) or 0.0, table, "f1")


def changed_settings(job: Job) -> dict:
    """The run's config with the epochs and learning rate the person sets (tables and ratings,
    where nothing is cleaned: a retrain is worth it only with a change)."""
    config = dict(job.params["config"])
    left, right = st.columns(2)
    config["epochs"] = int(
        left.number_input(
            "Epochs",
            min_value=1,
            max_value=200,
            value=int(config.get("epochs") or 1),
            key=f"{RETRAIN_EPOCHS}_{job.id}",
            help=TABLE_TEXT["retrain_epochs"],
        )
    )
    config["lr"] = float(
        right.number_input(
            "Learning rate",
            min_value=1e-6,
            max_value=10.0,
            value=float(config.get("lr") or 1e-3),
            format="%.5f",
            key=f"{RETRAIN_LR}_{job.id}",
            help=TABLE_TEXT["retrain_lr"],
        )
    )
    return config


def retrain_section(
    job: Job, interp, scores: Callable[[object], Scores] = single_scores, change: bool = False
) -> None:
    """Queue the same settings on the cleaned data (or, with change, the run's settings with new
    epochs and learning rate); compare the new run with this one."""
    store = runs.store()
    new = store.latest("train", retrain_of=job.id)
    busy = new is not None and not new.finished_state
    config = changed_settings(job) if change else job.params["config"]
    if st.button(
        "Retrain with these settings" if change else "Retrain with cleaned data",
        type="primary",
        icon=":material/replay:",
        disabled=busy,
        help=TABLE_TEXT["retrain_button"] if change else TEXT["retrain_button"],
    ):
        if (new_run := runs.submit("train", {"config": config, "retrain_of": job.id})) is not None:
            st.session_state[state.RUN] = new_run
            st.rerun()
    if new is None:
        return
    if busy:
        job_progress(new.id, f"Run {new.id}")
        return
    if new.state == FAILED or not runs_files.has_weights(new.id):
        st.error(f"Run {new.id} did not finish: {new.error or new.state.lower()}.")
        return
    compare(job, new, interp, scores)


def compare(old: Job, new: Job, interp, scores: Callable[[object], Scores] = single_scores) -> None:
    """Both runs measured on the same validation images (as they are now), side by side."""
    new_interp = interpretation(new)
    before, after = scores(interp), scores(new_interp)
    what = "images" if tasks.get(old.task or tasks.DEFAULT).inputs == "images" else "rows"
    st.markdown(
        f"**Run {new.id} (retrained) against run {old.id}**, both on the "
        f"{int((interp.frame['split'] == 'valid').sum())} validation {what} as they are now."
    )
    c1, c2, c3 = st.columns(3)
    c1.metric(f"{before.name}, run {old.id}", before.text())
    c2.metric(
        f"{after.name}, run {new.id}",
        after.text(),
        delta=after.change(before),
        delta_color="normal" if before.higher_is_better else "inverse",
    )
    n_old, n_new = (old.result or {}).get("n_train"), (new.result or {}).get("n_train")
    c3.metric(
        f"Training {what}",
        f"{n_new}",
        delta=None if not (n_old and n_new) else n_new - n_old,
        delta_color="off",
    )
    if before.table is not None and after.table is not None:
        st.plotly_chart(
            figures.comparison_figure(
                before.table, after.table, f"run {old.id}", f"run {new.id}", column=before.column
            ),
            key=f"results_compare_{old.id}_{new.id}",
        )

    def show_new() -> None:
        st.session_state[state.RESULTS_RUN] = new.id

    st.button(
        f"Open run {new.id}'s results",
        on_click=show_new,
        icon=":material/arrow_forward:",
        help="Look at the retrained model's own mistakes.",
    )
