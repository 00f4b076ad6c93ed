"""The current run's model for the Inside and Embeddings labs: found, loaded once, or a link to Train."""

from __future__ import annotations

import streamlit as st

from core import runs as run_files
from core.errors import UserError
from dashboard import runs, state


def current_id() -> int | None:
    """The current run (state.RUN, read only), else the newest training job; None when neither has weights."""
    run_id = st.session_state.get(state.RUN)
    if run_id is None:
        job = runs.store().latest("train")
        run_id = job.id if job else None
    return run_id if run_id is not None and run_files.has_weights(run_id) else None


@st.cache_resource(show_spinner=False, max_entries=2)
def loaded(run_id: int) -> run_files.LoadedRun:
    """The run's model rebuilt from its weights (kept per server)."""
    return run_files.load(run_id)


@st.cache_resource(show_spinner=False, max_entries=4)
def images(run_id: int, n: int):
    """n validation images of the run's dataset (uint8) with their labels, and the normalised batch."""
    from core.labs import inside

    run = loaded(run_id)
    x, labels = inside.run_images(run, n)
    return x, labels, inside.normalised(run, x)


def current() -> run_files.LoadedRun | None:
    """The current run's model, or None (after saying why) when there is none to use."""
    run_id = current_id()
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
