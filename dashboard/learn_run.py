"""The current run's model for the Inside and Embeddings labs: found, loaded once, or a link to Train."""

from __future__ import annotations

import streamlit as st

from core import runs as run_files
from core.errors import UserError
from dashboard import runs, state

LAB_TASK = "single_label"  # the labs read a run's images with one label each


def _usable(run_id: int) -> bool:
    try:
        return run_files.read_record(run_id).task == LAB_TASK
    except UserError:
        return False


def current_id() -> int | None:
    """The current run (state.RUN, read only) when it is a single-label run with weights, else the
    newest such training run; None when there is none."""
    run_id = st.session_state.get(state.RUN)
    if run_id is not None and _usable(run_id):
        return run_id
    return next((j.id for j in runs.store().jobs(limit=100, kind="train") if _usable(j.id)), None)


@st.cache_resource(show_spinner=False, max_entries=2)
def _loaded(run_id: int, stamp: str) -> run_files.LoadedRun:
    return run_files.load(run_id)


def loaded(run_id: int) -> run_files.LoadedRun:
    """The run's model rebuilt from its weights (kept per server, keyed by the run's files)."""
    return _loaded(run_id, run_files.stamp(run_id))


@st.cache_resource(show_spinner=False, max_entries=4)
def _images(run_id: int, n: int, stamp: str):
    from core.labs import inside

    run = loaded(run_id)
    x, labels = inside.run_images(run, n)
    return x, labels, inside.normalised(run, x)


def images(run_id: int, n: int):
    """n validation images of the run's dataset (uint8) with their labels, and the normalised batch."""
    return _images(run_id, n, run_files.stamp(run_id))


def current() -> run_files.LoadedRun | None:
    """The current run's model, or None (after saying why) when there is none to use.

    The labs read single-label runs: when the current run is of another task, they say so and use
    the newest single-label run instead.
    """
    run_id = current_id()
    chosen = st.session_state.get(state.RUN)
    if chosen is not None and run_id != chosen and run_files.has_weights(chosen):
        other = "another task"
        try:
            other = run_files.read_record(chosen).task.replace("_", "-")
        except UserError:
            pass
        used = (
            f"use run {run_id}, the newest single-label run"
            if run_id is not None
            else "have none to read yet"
        )
        st.caption(f"These labs read single-label runs; the current run {chosen} is {other}, so they {used}.")
    if run_id is None:
        return None
    try:
        with st.spinner("Loading the run's model…"):
            return loaded(run_id)
    except UserError as e:
        st.error(str(e))
        return None


def no_run(message: str) -> None:
    """Say there is no trained model, with a link to the Train page."""
    st.info(message, icon=":material/model_training:")
    st.page_link("../pages/train.py", label="Train a model first", icon=":material/model_training:")
