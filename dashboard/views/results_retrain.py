"""The Results page's last section, for every task: retrain with the same settings on the cleaned
data, then compare the two runs on the same validation images (the task's headline figure and a
per-class score, given by the page's view module as Scores)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from core import runs as runs_files
from core.jobs.store import FAILED, Job
from dashboard import figures, runs, state
from dashboard.results_view import TEXT, interpretation, job_progress


@dataclass
class Scores:
    """A run's headline figure on the validation images and a per-class table to compare."""

    name: str  # e.g. "Validation accuracy"
    value: float
    table: pd.DataFrame  # a "class" column and the score column
    column: str  # the score compared per class, e.g. "f1"


def single_scores(interp) -> Scores:
    """Validation accuracy and per-class F1 of a single-label interpretation."""
    from core.analysis import interpret

    table = interpret.per_class(interp.frame, interp.vocab)
    return Scores("Validation accuracy", interpret.accuracy(interp.frame) or 0.0, table, "f1")


def retrain_section(job: Job, interp, scores: Callable[[object], Scores] = single_scores) -> None:
    """Queue the same settings on the cleaned data; compare the new run with this one."""
    store = runs.store()
    new = store.latest("train", retrain_of=job.id)
    busy = new is not None and not new.finished_state
    if st.button(
        "Retrain with cleaned data",
        type="primary",
        icon=":material/replay:",
        disabled=busy,
        help=TEXT["retrain_button"],
    ):
        st.session_state[state.RUN] = runs.submit(
            "train", {"config": job.params["config"], "retrain_of": job.id}
        )
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
    st.markdown(
        f"**Run {new.id} (retrained) against run {old.id}**, both on the "
        f"{int((interp.frame['split'] == 'valid').sum())} validation images as they are now."
    )
    c1, c2, c3 = st.columns(3)
    c1.metric(f"{before.name}, run {old.id}", f"{before.value:.2%}")
    c2.metric(
        f"{after.name}, run {new.id}",
        f"{after.value:.2%}",
        delta=f"{(after.value - before.value) * 100:+.2f} points",
    )
    n_old, n_new = (old.result or {}).get("n_train"), (new.result or {}).get("n_train")
    c3.metric(
        "Training images",
        f"{n_new}",
        delta=None if not (n_old and n_new) else n_new - n_old,
        delta_color="off",
    )
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
