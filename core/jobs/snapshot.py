"""A live view's one cheap read of a job (its records, queue place, time left) and of the queue,
lane by lane."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd

from core.jobs.store import LANES, QUEUED, RUNNING, Job, Store


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


LANE_TITLES = {"compute": "Training and other compute", "io": "Downloads"}
_KIND_TEXT = {
    "train": "training {arch} on {dataset}",
    "lr_find": "LR finder: {arch} on {dataset}",
    "crossval": "out-of-sample ranking of run {source_run} ({k} folds)",
    "download": "download of {key}",
    "memory": "memory lab: {arch}",
}


@dataclass(frozen=True)
class Lane:
    """One lane of the queue: the job it runs (if any) and the jobs waiting, next first."""

    name: str
    title: str
    running: list[Job]  # one, or none; more only while a dead worker's jobs await recovery
    queued: list[Job]


def job_title(job: Job) -> str:
    """A job in a few words: 'run 7: training mnist_cnn on digits', 'job 8: LR finder …' (a
    training job is a run, as the Runs page calls it; a field it lacks shows as ?)."""
    fields = {**job.params, **(job.params.get("config") or {})}
    known = {k: fields.get(k, "?") for k in ("arch", "dataset", "source_run", "k", "key")}
    text = _KIND_TEXT.get(job.kind, job.kind).format(**known)
    return f"{'run' if job.kind == 'train' else 'job'} {job.id}: {job.name or text}"


def lanes(store: Store) -> list[Lane]:
    """The queue as the worker runs it, one Lane per lane, in one read; a lane's queue position
    is the one Store.queue_position gives (only jobs of the same lane count)."""
    active = store.active()
    return [
        Lane(
            name,
            LANE_TITLES.get(name, name),
            [j for j in active if j.lane == name and j.state == RUNNING],
            [j for j in active if j.lane == name and j.state == QUEUED],
        )
        for name in LANES
    ]
