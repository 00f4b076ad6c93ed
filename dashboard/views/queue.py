"""The queue, lane by lane: what the worker runs in each lane and what waits, with its place."""

from __future__ import annotations

import streamlit as st

from core.jobs.snapshot import job_title, lanes
from dashboard import runs
from dashboard.markup import md

IDLE = "nothing running or waiting"


def lanes_panel(every: str | None = None) -> None:
    """Each lane of the queue: its running job with its progress, then the queued jobs with their
    position in that lane (a download waits only for downloads). every: refresh as a fragment at
    that interval (e.g. "2s") while anything is queued or running; None draws it once."""
    if every is None or not runs.active_jobs():
        _draw()
        return
    st.fragment(run_every=every)(_draw)()


def _draw() -> None:
    for lane in lanes(runs.store()):
        st.caption(f"**{lane.title}**")
        lines = [f":material/play_arrow: {md(job_title(j))} ({j.progress:.0%})" for j in lane.running]
        lines += [f":material/schedule: {i}. {md(job_title(j))}" for i, j in enumerate(lane.queued, 1)]
        st.markdown("  \n".join(lines) if lines else IDLE)
