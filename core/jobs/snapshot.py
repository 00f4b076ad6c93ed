"""A live view's one cheap read of a job: the job, its records, its queue place and time left."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd

from core.jobs.store import QUEUED, RUNNING, Job, Store


@dataclass(frozen=True)
class Snapshot:
    """What a live view needs about a job in one cheap read."""

    job: Job
    batches: pd.DataFrame
    epochs: pd.DataFrame
    queue_position: int | None
    eta_seconds: float | None

    @property
    def finished(self) -> bool:
        """True once the job has ended."""
        return self.job.finished_state

    @property
    def eta_text(self) -> str:
        """A progress line such as 'training — 42% — about 12 s left'."""
        job = self.job
        if job.state == QUEUED:
            return f"queued (position {self.queue_position})"
        if job.finished_state:
            return job.state.lower()
        text = f"{job.message or 'running'} — {job.progress:.0%}"
        if self.eta_seconds is not None:
            text += f" — about {self.eta_seconds:.0f} s left"
        return text


def snapshot(store: Store, job_id: int) -> Snapshot | None:
    """The job, its records and an estimate of the time left (None when there is no job)."""
    job = store.get(job_id)
    if job is None:
        return None
    eta = None
    if job.state == RUNNING and job.started and 0.02 < job.progress < 1:
        elapsed = time.time() - job.started
        eta = elapsed * (1 - job.progress) / job.progress
    return Snapshot(job, store.batches(job_id), store.epochs(job_id), store.queue_position(job_id), eta)
