"""The worker process: one loop per lane (compute, io) claims that lane's jobs one at a time.

Several workers may serve one store (`python -m core worker --slot N`, each slot its own lock;
on a shared PostgreSQL store, on several machines). Each job runs in its owner's space. A lone
worker of a laptop store fails every job left RUNNING when it starts (it holds the only lock,
so their worker died); wherever more than one worker can exist, a job is failed only when its
worker is known dead (a pid gone on this host) or its heartbeat is older than stale_after().
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable

from core import workspace
from core.errors import UserError
from core.jobs import db, locks
from core.jobs.claims import pid_of, worker_name
from core.jobs.locks import (  # noqa: F401 - the worker lock's API, where its callers look for it
    acquire_lock,
    lock_holder,
    lock_path,
    release_lock,
    worker_alive,
)
from core.jobs.recovery import (  # noqa: F401 - ORPHAN_REASON: callers look for it here
    HEARTBEAT_EVERY,
    ORPHAN_REASON,
    STALE_CHECK_EVERY,
    fail_dead,
    recover,
    stale_after,
)
from core.jobs.store import CANCELLED, DONE, FAILED, LANES, QUEUED, Job, Store

HANDLERS = {
    "train": "core.train.training:run_train_job",
    "lr_find": "core.train.lr_find:run_lr_find_job",
    "crossval": "core.train.crossval:run_crossval_job",  # out-of-sample ranking for the cleaner
    "download": "core.data.download:run_download_job",  # fastai's catalogue, when online
    "memory": "core.labs.memory:run_memory_job",  # the Inside lab: a measured forward/backward
    "wait": "core.jobs.waiting:run_wait_job",  # a job that only waits: queue benches, cluster tests
}
TICK_EVERY = 0.5  # seconds between the coordinator's looks at the sweeps
NICENESS = 10  # the background worker yields the CPU to the dashboard when both want it
# Compute threads for training, set once per worker; PLAYGROUND_THREADS overrides.
THREADS = int(os.environ.get("PLAYGROUND_THREADS") or max(1, os.cpu_count() or 1))
IDLE_ENV = "PLAYGROUND_WORKER_IDLE_S"  # seconds an idle worker waits before it exits; 0: never
IDLE_DEFAULT = 600.0
QUEUED_ANY = "SELECT 1 FROM jobs WHERE state = ? LIMIT 1"


def load_handler(kind: str) -> Callable[[Job, Store], dict]:
    """The function that runs jobs of this kind."""
    module, name = HANDLERS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def warm_up() -> None:
    """Import fastai and the handlers once, so each job starts at once."""
    import torch

    torch.set_num_threads(THREADS)
    for kind in ("train", "lr_find"):  # the rest import on first use
        load_handler(kind)
    # PyTorch imports its compiler stack (~1.5 s) on an optimizer's first step: pay it here,
    # not in the first job's first batch.
    layer = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(layer.parameters())
    layer(torch.zeros(1, 2)).sum().backward()
    opt.step()


def idle_exit_seconds(value: float | None = None) -> float | None:
    """How long an idle worker waits before exiting: value (`--idle-exit`), else the
    PLAYGROUND_WORKER_IDLE_S environment variable, else 10 minutes; None (never) for 0 or less."""
    if value is None:
        text = os.environ.get(IDLE_ENV, "").strip()
        try:
            value = float(text) if text else IDLE_DEFAULT
        except ValueError:
            raise UserError(
                f"{IDLE_ENV} is {text!r}; set it to a number of seconds (0 keeps the worker running)."
            ) from None
    return value if value > 0 else None


class _Heartbeat(threading.Thread):
    """Beats for the worker and the job of each lane; on shutdown, asks the running jobs to stop.
    Where several workers can exist, it also fails the jobs of workers that died (recover)."""

    def __init__(self, store_url: str, worker: str, shutdown: threading.Event, slot: int = 0):
        super().__init__(daemon=True, name="heartbeat")
        self.store_url, self.worker, self.shutdown, self.slot = store_url, worker, shutdown, slot
        self.pid = pid_of(worker)
        self.jobs: dict[str, int] = {}  # lane -> the job it runs
        self.stop = threading.Event()

    def run(self) -> None:
        store = Store(self.store_url, everyone=True)
        checked = time.monotonic()
        while not self.stop.is_set():
            try:
                jobs = [self.jobs.get(lane) for lane in LANES]  # compute first: the workers row's job
                running = [j for j in jobs if j is not None]
                store.heartbeat(running[0] if running else None, self.worker, tuple(running[1:]))
                for job_id in running if self.shutdown.is_set() else ():
                    store.request_cancel(job_id)
                if time.monotonic() - checked > STALE_CHECK_EVERY:
                    checked = time.monotonic()
                    if store.shared or locks.other_slots_alive(self.slot):
                        fail_dead(store)
            except Exception:  # noqa: BLE001 - a busy database must not kill the heartbeat
                pass
            self.stop.wait(0.2 if self.shutdown.is_set() else HEARTBEAT_EVERY)
        store.close()


class _Coordinator(threading.Thread):
    """Ticks the sweeps beside the training loop: asks Optuna for their next runs and tells it
    how the finished ones did, so the queue it feeds never waits on it (core.jobs.sweeps)."""

    def __init__(self, store_url: str):
        super().__init__(daemon=True, name="sweep-coordinator")
        self.store_url = store_url
        self.stop = threading.Event()

    def run(self) -> None:
        from core.jobs import sweeps

        store = Store(self.store_url, everyone=True)
        while not self.stop.is_set():
            try:
                sweeps.tick(store)
            except Exception:  # noqa: BLE001 - a busy database must not end the coordination
                pass
            self.stop.wait(TICK_EVERY)
        store.close()


def run_job(store: Store, job: Job) -> str:
    """Run one claimed job and record how it ended; returns the final state."""
    try:
        result = load_handler(job.kind)(job, store)
    except UserError as e:
        store.finish(job.id, FAILED, error=str(e))
        return FAILED
    except Exception as e:  # noqa: BLE001 - any failure must end as FAILED, not kill the worker
        message = f"{type(e).__name__}: {e}"
        store.finish(job.id, FAILED, error=message, traceback=traceback.format_exc())
        return FAILED
    state = CANCELLED if result.get("cancelled") else DONE
    store.finish(job.id, state, result=result)
    return state


class _Lane(threading.Thread):
    """One lane's loop: claims the lane's oldest queued job, runs it, and again, until drained."""

    def __init__(self, lane: str, store_url: str, beat: _Heartbeat, drain: threading.Event, **kw):
        super().__init__(daemon=True, name=f"lane-{lane}")
        self.lane, self.store_url, self.beat, self.drain = lane, store_url, beat, drain
        self.poll, self.on_state, self.done = kw["poll"], kw["on_state"], kw["done"]
        self.error: BaseException | None = None

    def run(self) -> None:
        store = Store(self.store_url, everyone=True)
        try:
            while not self.drain.is_set():
                if self.done(store):  # checked before each claim: nothing starts after the end
                    self.drain.set()
                    break
                job = store.claim_next(self.beat.worker, lane=self.lane)
                if job is None:
                    self.drain.wait(self.poll)
                    continue
                self.beat.jobs[self.lane] = job.id
                try:
                    store.start_attempt(job.id, self.beat.worker)
                    with workspace.use_space(job.owner):  # its owner's datasets, runs and models
                        state = run_job(store, job)
                finally:
                    self.beat.jobs.pop(self.lane, None)
                if self.on_state:
                    self.on_state(job, state)
        except BaseException as e:  # noqa: BLE001 - serve() raises it once the other lanes stop
            self.error = e
            self.drain.set()
        finally:
            store.close()


def serve(
    store: Store,
    *,
    until_job: int | None = None,
    once: bool = False,
    idle_exit: float | None = None,
    poll: float = 0.3,
    stop: threading.Event | None = None,
    on_state: Callable[[Job, str], None] | None = None,
    until: Callable[[], bool] | None = None,
    coordinate: bool = True,
    lanes: tuple[str, ...] = tuple(LANES),
    slot: int = 0,
) -> None:
    """The worker loop: one thread per lane, each running its lane's jobs one at a time, so a
    download progresses beside a training run; the caller must hold the worker lock.

    until_job: return once that job has ended. until: return once it says True (checked between
    jobs). once: return when no job is queued or running and no sweep will queue one. idle_exit:
    return after that many such idle seconds. stop: return soon, asking the running jobs to stop.
    Jobs already started always finish (or stop) before serve returns. coordinate: run the
    sweeps' coordinator thread beside the lanes. slot: the worker slot whose lock is held.
    """
    from core.jobs import sweeps

    me = worker_name()
    stop = stop or threading.Event()
    beat = _Heartbeat(store.url, me, stop, slot)
    beat.start()
    coordinator = _Coordinator(store.url) if coordinate else None
    if coordinator:
        coordinator.start()

    def done(own: Store) -> bool:
        if stop.is_set() or (until is not None and until()):
            return True
        target = own.get(until_job) if until_job is not None else None
        return until_job is not None and (target is None or target.finished_state)

    drain = threading.Event()
    runners = [_Lane(lane, store.url, beat, drain, poll=poll, on_state=on_state, done=done) for lane in lanes]
    for runner in runners:
        runner.start()
    queued = f"SELECT 1 FROM jobs WHERE state = ? AND lane IN ({', '.join('?' * len(lanes))}) LIMIT 1"
    idle_since = time.monotonic()
    try:
        while not drain.is_set():
            if done(store):
                break
            busy = beat.jobs or store.read(queued, (QUEUED, *lanes))
            if busy or (coordinate and sweeps.pending(store)):
                idle_since = time.monotonic()
            elif once or (idle_exit is not None and time.monotonic() - idle_since > idle_exit):
                break
            drain.wait(poll)
    finally:
        drain.set()  # no lane claims again; each finishes (or, on stop, cancels) what it runs
        for runner in runners:
            runner.join()
        if coordinator:
            coordinator.stop.set()
            coordinator.join(timeout=5)
        beat.stop.set()
        beat.join(timeout=5)
        store.worker_gone(me)
    for runner in runners:
        if runner.error is not None:
            raise runner.error


def start_inline(store: Store, plan: Callable[[Store], dict | None]) -> threading.Thread | None:
    """Become the worker in a thread of this process when no other worker holds the lock.

    The command line does this so a job runs without a separate worker. plan(store) gives the
    serve() arguments (when to return) from the thread's own store, or None to do nothing.
    Returns the running thread, or None when another worker is alive. On a cluster
    (PLAYGROUND_SCHEDULER) the job runs there: the dispatcher is started instead, and None returned.
    """
    if os.environ.get("PLAYGROUND_SCHEDULER"):
        ensure_running()
        return None
    handle = acquire_lock()
    if handle is None:
        return None
    recover(store)  # a worker that died left these RUNNING

    def work():
        try:
            own = Store(store.url, everyone=True)
            args = plan(own)
            if args is None:
                return
            warm_up()
            serve(own, **args)
        finally:
            release_lock(handle)

    runner = threading.Thread(target=work, name="inline-worker", daemon=True)
    runner.start()
    return runner


def main(once: bool = False, idle_exit: float | None = None, quiet: bool = False, slot: int = 0) -> int:
    """`python -m core worker [--slot N]`: take the slot's lock, recover the jobs of workers that
    died, then serve until stopped, or until idle for idle_exit_seconds(idle_exit) (SIGTERM stops
    it after the current batch). Workers of different slots serve one store side by side."""
    idle = idle_exit_seconds(idle_exit)
    if isinstance(slot, bool) or not isinstance(slot, int) or slot < 0:
        raise UserError(f"A worker slot is a whole number from 0; {slot!r} is not one.")
    stale_after()  # a bad PLAYGROUND_STALE_S is refused before anything starts
    address = os.environ.get("PLAYGROUND_SCHEDULER", "").strip()
    if address:  # the jobs run on a Dask cluster: this process dispatches them there
        from core.jobs import cluster

        return cluster.main(address, once=once, idle_exit=idle_exit, quiet=quiet, slot=slot)
    handle = acquire_lock(wait=2.0, slot=slot)  # a probe may hold the lock for an instant
    if handle is None:
        where = f" in slot {slot}" if slot else ""
        print(f"A worker is already running{where} (pid {lock_holder(slot)}); not starting another.")
        return 1
    # Interactive work first: the dashboard server and the browser share these cores, and a
    # page switch should not wait behind a training batch.
    os.nice(NICENESS)
    store = Store(everyone=True)
    stop = threading.Event()

    def on_signal(_signum, _frame):
        stop.set()  # the heartbeat thread asks the running job to stop

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        failed = recover(store, slot)
        if failed and not quiet:
            print(f"Marked {len(failed)} interrupted job(s) as FAILED: {failed}", flush=True)
        from core.data import access

        for message in access.recover_every_space():  # cleanings a crash cut short: finish or undo
            if not quiet:
                print(message, flush=True)
        from core.data.download import sweep_parts

        with contextlib.suppress(OSError):
            sweep_parts()  # pieces of downloads a crash left behind
        warm_up()
        if not quiet:
            where = f"slot {slot}, " if slot else ""
            print(
                f"Worker {os.getpid()} ({where}ready); waiting for jobs in {db.redact(store.url)}", flush=True
            )

        def report(job: Job, state: str) -> None:
            if not quiet:
                print(f"job {job.id} ({job.kind}): {state}", flush=True)

        while True:
            serve(store, once=once, idle_exit=idle, stop=stop, on_state=report, slot=slot)
            release_lock(handle)
            handle = None
            # A job queued while this worker was deciding to exit saw it alive and started none.
            if stop.is_set() or not store.read(QUEUED_ANY, (QUEUED,)):
                break
            if (handle := acquire_lock(slot=slot)) is None:
                break
            recover(store, slot)  # another worker may have come and died meanwhile
        if not quiet:
            print(f"Worker {os.getpid()} exiting: {'stopped' if stop.is_set() else 'idle'}.", flush=True)
    finally:
        if handle is not None:
            release_lock(handle)
    return 0


def ensure_running() -> bool:
    """Start a worker process in the background unless one is alive; True if one was started.

    The worker outlives the caller (its own session), so closing the dashboard's tab or
    restarting the server does not stop a run; it exits once idle (idle_exit_seconds).
    """
    import subprocess
    import sys

    if worker_alive():
        return False
    idle_exit_seconds()  # a bad PLAYGROUND_WORKER_IDLE_S is refused here, where it can be shown
    log = open(workspace.workspace_root() / "worker.log", "ab")
    subprocess.Popen(
        [sys.executable, "-m", "core", "worker"],
        cwd=str(workspace.PROJECT_ROOT),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "OMP_WAIT_POLICY": "PASSIVE"},
    )
    log.close()
    return True
