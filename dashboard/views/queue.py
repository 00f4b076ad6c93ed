"""The queue, lane by lane: what the worker runs in each lane and what waits, with its place; and,
for a teacher, every person's jobs with their owner and a Stop for each one still going."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import people
from core.errors import UserError
from core.jobs.snapshot import job_title, lanes
from core.jobs.store import ACTIVE
from dashboard import identity, runs
from dashboard.markup import md

IDLE = "nothing running or waiting"
CLASS_ROWS = 200  # the newest jobs of the whole class shown to a teacher
CLASS_STOPS = 30  # Stop buttons drawn at most (the oldest jobs still going first)


def lanes_panel(every: str | None = None) -> None:
    """Each lane of the queue: its running job with its progress, then the queued jobs with their
    position in that lane (a download waits only for downloads). every: refresh as a fragment at
    that interval (e.g. "2s") while anything is queued or running; None draws it once."""
    if every is None or not runs.active_jobs():
        _draw()
        return
    identity.fragment(_draw, run_every=every)()


def _draw() -> None:
    for lane in lanes(runs.store()):
        st.caption(f"**{lane.title}**")
        lines = [f":material/play_arrow: {md(job_title(j))} ({j.progress:.0%})" for j in lane.running]
        lines += [f":material/schedule: {i}. {md(job_title(j))}" for i, j in enumerate(lane.queued, 1)]
        st.markdown("  \n".join(lines) if lines else IDLE)


def class_frame(jobs: list) -> pd.DataFrame:
    """Everyone's jobs as a table: id, owner (their space), kind, state, progress, dataset."""
    return pd.DataFrame(
        [
            {
                "id": j.id,
                "owner": people.identity_of(getattr(j, "owner", "")),
                "kind": j.kind,
                "state": j.state,
                "progress": j.progress,
                "dataset": ((j.params or {}).get("config") or {}).get("dataset", ""),
            }
            for j in jobs
        ],
        columns=["id", "owner", "kind", "state", "progress", "dataset"],
    )


def class_panel() -> None:
    """A teacher's view of the whole class's jobs (owner column) with Stop for any job still
    queued or running; nothing for anyone else."""
    if not people.is_teacher():
        return
    try:
        view = runs.everyone()
    except UserError as e:
        st.error(md(e))
        return
    jobs = [j for j in view.jobs(limit=CLASS_ROWS) if j.deleted is None]
    st.caption(f"The newest {CLASS_ROWS} jobs of every person; Stop asks a job to end at its next batch.")
    st.dataframe(
        class_frame(jobs),
        hide_index=True,
        key="class_jobs",
        column_config={"progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0)},
    )
    going = sorted((j for j in jobs if j.state in ACTIVE), key=lambda j: j.id)[:CLASS_STOPS]
    for job in going:
        owner = people.identity_of(getattr(job, "owner", ""))
        if st.button(
            f"Stop job {job.id} of {owner}",
            key=f"class_stop_{job.id}",
            icon=":material/stop_circle:",
            help="Queued: cancelled now. Running: it stops at its next batch and keeps what it saved.",
        ):
            view.request_cancel(job.id)
            st.toast(f"Asked job {job.id} of {owner} to stop.")
            st.rerun()
