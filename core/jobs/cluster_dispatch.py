"""The dispatcher's loop (core.jobs.cluster): claim jobs while the cluster has room, submit each
as one Dask task, and watch the futures until every job it took has ended, and says how."""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass

from core import workspace
from core.jobs import db
from core.jobs.claims import worker_name
from core.jobs.cluster import (
    BEAT_S,
    DIED,
    GPU,
    STALE_REASON,
    Capacity,
    capacity,
    run_task,
    wants_gpu,
)
from core.jobs.recovery import STALE_CHECK_EVERY, fail_dead
from core.jobs.store import CANCELLED, FAILED, QUEUED, RUNNING, Job, Store

POLL_S = 0.5  # seconds between looks at the cluster and the store
LOST_WAIT_S = 2.0  # seconds between tries while the scheduler does not answer
SHUTDOWN_S = 60.0  # how long a stopping dispatcher waits for its running jobs to stop
NO_GPU = (
    "It asks for a GPU and no worker of the cluster offers one "
    "(start a Dask worker with `--resources GPU=1` on a machine that has one)."
)


@dataclass
class Flight:
    """A job handed to the cluster: its future, whether it asked for a GPU, and the worker the
    scheduler gave it to (None while it waits in the scheduler for room; being given to a
    worker is not being started: the store's attempts say that)."""

    job: Job
    future: object
    gpu: bool
    placed: str | None = None
    started_on: str | None = None  # the worker it was placed on when its task started


def _death(exc: BaseException) -> str:
    """Why a task's future ended in error, as a job's error."""
    name = type(exc).__name__
    if name in ("KilledWorker", "CommClosedError", "FutureCancelledError") or isinstance(exc, OSError):
        return f"Its Dask worker was lost ({name}: {exc}); {DIED}."
    return f"The cluster could not run it: {name}: {exc}"


class Dispatcher:
    """Hands the store's queued jobs to a Dask cluster and follows them (see core.jobs.cluster)."""

    def __init__(self, client, store: Store, *, log=None, poll: float = POLL_S):
        self.client, self.store, self.poll = client, store, poll
        self.log = log or (lambda message: None)
        self.me = worker_name()
        self.flights: dict[int, Flight] = {}
        # what a task needs to find the store and the workspace on whichever machine it runs
        self.settings = {
            "workspace": str(workspace.workspace_root()),
            "store": str(store.url),
            "db": os.environ.get(db.ENV_VAR) or None,
        }
        self._beat_at = self._stale_at = self._tick_at = 0.0
        self._said_empty = False

    # --- one look ---------------------------------------------------------------------

    def step(self, claim: bool = True) -> list[Job]:
        """Follow the jobs in flight, stop those asked to, claim what fits; returns the store's
        queued and running jobs as seen now."""
        cap = capacity(self.client)
        active = self.store.active()
        running = {j.id: j for j in active if j.state == RUNNING}
        self._follow(cap, running)
        self._stops(running)
        now = time.monotonic()
        if now - self._beat_at >= BEAT_S:
            self._beat_at = now
            waiting = tuple(i for i in self.flights if i in running and not running[i].attempts)
            self.store.heartbeat(None, self.me, waiting)  # not started yet, waiting in Dask: alive
        if now - self._stale_at >= STALE_CHECK_EVERY:
            self._stale_at = now
            # a worker on this host whose process is gone, or a heartbeat too old
            for job_id in fail_dead(self.store, STALE_REASON):
                self.log(f"job {job_id}: FAILED (its machine stopped answering)")
        if claim:
            self._claim(cap)
            self._tick_sweeps(now)
        if not cap.workers and not self._said_empty:
            self.log("The cluster has no workers yet; queued jobs wait for one.")
        self._said_empty = not cap.workers
        return active

    def _follow(self, cap: Capacity, running: dict[int, Job]) -> None:
        """Note where each task was placed; settle those whose future ended or whose worker left
        (running: the store's RUNNING jobs by id)."""
        placed = {key: addr for addr, keys in self.client.processing().items() for key in keys}
        for job_id, flight in list(self.flights.items()):
            if flight.future.done():
                self._ended(job_id, flight)
                continue
            flight.placed = placed.get(flight.future.key, flight.placed)
            job = running.get(job_id)
            if job is not None and job.attempts and flight.started_on is None:
                flight.started_on = flight.placed  # where it was when it first said it started
            if flight.started_on is not None and flight.started_on not in cap.workers:
                # the worker running it died: the scheduler may start it again elsewhere (the
                # task would refuse: store.start_attempt), or find no worker that fits; say why now
                self._fail(job_id, f"Its Dask worker {flight.started_on} left the cluster: {DIED}.")
                flight.future.cancel()
                del self.flights[job_id]
            elif flight.placed not in cap.workers:
                flight.placed = None  # it never started there: it waits for another worker

    def _ended(self, job_id: int, flight: Flight) -> None:
        """A future is done: the task recorded the end itself, unless it erred or was dropped."""
        status = flight.future.status
        if status == "error":
            reason = _death(flight.future.exception())
        elif status == "finished":
            reason = "Its task ended without saying how the job ended."
        else:
            reason = f"The cluster dropped it before it ended (its task was {status})."
        self._fail(job_id, reason)  # only if the job is still RUNNING
        state = self.store.get(job_id)
        self.log(f"job {job_id} ({flight.job.kind}): {state.state if state else 'gone'}")
        del self.flights[job_id]

    def _fail(self, job_id: int, reason: str) -> None:
        """FAILED with the reason, unless the job already ended (the task may have said how)."""
        job = self.store.get(job_id)
        if job is not None and job.state == RUNNING:
            self.store.finish(job_id, FAILED, error=reason)

    def _stops(self, running: dict[int, Job]) -> None:
        """Forget jobs that ended in the store (cancelling their futures); cancel a job asked to
        stop while its task still waits in Dask, not started (a running one reads the store).
        running: the store's RUNNING jobs by id."""
        for job_id, flight in list(self.flights.items()):
            job = running.get(job_id)
            if job is None:  # ended, or failed as stale
                flight.future.cancel()
                del self.flights[job_id]
                ended = self.store.get(job_id)
                if ended is not None:
                    self.log(f"job {job_id} ({ended.kind}): {ended.state}")
            elif job.cancel_requested and not job.attempts:
                flight.future.cancel()
                self.store.finish(job_id, CANCELLED, result={"cancelled": True})
                self.log(f"job {job_id} ({job.kind}): CANCELLED before it started")
                del self.flights[job_id]

    def _claim(self, cap: Capacity) -> None:
        """Claim and submit queued jobs while a worker thread (and, for them, a GPU) is free."""
        while len(self.flights) < cap.slots:
            gpus_busy = sum(f.gpu for f in self.flights.values())
            # with every GPU busy only the io lane (downloads, never on a GPU) may go on
            lane = "io" if cap.gpus and gpus_busy >= cap.gpus else None
            job = self.store.claim_next(self.me, lane=lane)
            if job is None:
                return
            gpu = wants_gpu(job, cap.gpus)
            if gpu and not cap.gpus:
                self.store.finish(job.id, FAILED, error=NO_GPU)
                continue
            key = f"playground-job-{job.id}-{uuid.uuid4().hex[:8]}"
            future = self.client.submit(
                run_task,
                job.id,
                self.settings,
                key=key,
                pure=False,
                retries=0,
                resources={GPU: 1} if gpu else None,
            )
            self.flights[job.id] = Flight(job, future, gpu)
            where = "a GPU worker" if gpu else "the cluster"
            self.log(f"job {job.id} ({job.kind}, space {job.owner or '-'}): sent to {where}")

    def _tick_sweeps(self, now: float) -> None:
        """Let the sweeps queue their next members, as the worker's coordinator does."""
        from core.jobs import sweeps
        from core.jobs.worker import TICK_EVERY

        if now - self._tick_at < TICK_EVERY:
            return
        self._tick_at = now
        try:
            sweeps.tick(self.store)
        except Exception:  # noqa: BLE001 - a busy database must not end the dispatching
            pass

    # --- the loop ---------------------------------------------------------------------

    def serve(self, stop: threading.Event, *, once: bool = False, idle_exit: float | None = None) -> None:
        """Dispatch until stop is set, or (once) nothing is queued, in flight or to come from a
        sweep, or that has lasted idle_exit seconds; then stop what still runs and wait for it."""
        from core.jobs import sweeps

        idle_since = time.monotonic()
        try:
            while not stop.is_set():
                try:
                    active = self.step()
                except (OSError, TimeoutError) as e:  # the client reconnects by itself
                    self.log(f"The Dask scheduler does not answer ({e}); trying again.")
                    stop.wait(LOST_WAIT_S)
                    continue
                queued = any(j.state == QUEUED for j in active)
                if self.flights or queued or sweeps.pending(self.store):
                    idle_since = time.monotonic()
                elif once or (idle_exit is not None and time.monotonic() - idle_since > idle_exit):
                    break
                stop.wait(self.poll)
        finally:
            self.shutdown()

    def shutdown(self, wait: float = SHUTDOWN_S) -> None:
        """Ask every job in flight to stop (within a batch) and wait up to `wait` s for them."""
        for job_id in list(self.flights):
            self.store.request_cancel(job_id)
        deadline = time.monotonic() + wait
        while self.flights and time.monotonic() < deadline:
            try:
                self.step(claim=False)
            except (OSError, TimeoutError):
                break  # no scheduler to wait on: the tasks that run record their own end
            time.sleep(self.poll)
        self.store.worker_gone(self.me)
