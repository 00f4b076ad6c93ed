"""The store as the dashboard sees it: one handle per workspace, the current run, the worker."""

from __future__ import annotations

import os

import streamlit as st

from core import workspace
from core.errors import UserError
from core.jobs.store import Job, Store
from core.jobs.worker import ensure_running, lock_holder, worker_alive
from dashboard.markup import md


@st.cache_resource(show_spinner=False)
def _store_at(url: str, space: str) -> Store:
    # one handle per store and space: a handle never answers for another person's space
    return Store(url)


def store() -> Store:
    """The job store of the current workspace ($PLAYGROUND_DB, else its SQLite file), as the current
    space sees it (one handle per server process and space)."""
    url = os.environ.get("PLAYGROUND_DB") or str(workspace.db_path())
    return _store_at(url, workspace.current_name())


def everyone() -> Store:
    """The store's view of every person's jobs: a teacher's (and the laptop's); a learner gets a
    UserError (core.jobs.store)."""
    return store().everyone()


def resolve_run(key: str, kind: str) -> int | None:
    """The job id held in session key, or else the newest job of kind (so a reload finds it)."""
    run_id = st.session_state.get(key)
    if run_id is not None and store().get(run_id) is not None:
        return run_id
    job = store().latest(kind)
    st.session_state[key] = job.id if job else None
    return st.session_state[key]


def active_jobs() -> list[Job]:
    """Jobs queued or running, in every lane, oldest first."""
    return sorted(store().active(), key=lambda j: j.id)


def keep_worker_alive() -> str:
    """Start a worker when work is waiting (a job, or a sweep that will queue one) and none is
    alive; returns a status line. An idle worker exits by itself (PLAYGROUND_WORKER_IDLE_S)."""
    from core.jobs import sweeps

    if worker_alive():
        return f"running (pid {lock_holder()})"
    if active_jobs() or sweeps.pending(store()):
        try:
            ensure_running()
        except UserError as e:  # a setting the worker would refuse: say so instead of starting it
            return str(e)
        return "starting…"
    return "idle (starts when you queue a job)"


def submit(kind: str, params: dict) -> int | None:
    """Queue a job and make sure a worker will run it (the sidebar says why when it cannot).
    A refusal (the class's fair share, a run that is not yours) is shown where the button is,
    and None returned: the caller keeps following what it followed."""
    try:
        job_id = store().submit(kind, params)
    except UserError as e:
        st.error(md(e), icon=":material/block:")
        return None
    try:
        ensure_running()
    except UserError:
        pass  # keep_worker_alive, on the sidebar and the job monitor, shows the sentence
    return job_id
