"""The worker process: claims jobs one at a time from the store and runs them."""

from __future__ import annotations

import fcntl
import importlib
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO

from core import fsutil, workspace
from core.errors import UserError
from core.jobs.store import CANCELLED, DONE, FAILED, Job, Store

HANDLERS = {
    "train": "core.train.training:run_train_job",
    "lr_find": "core.train.lr_find:run_lr_find_job",
    "crossval": "core.train.crossval:run_crossval_job",  # out-of-sample ranking for the cleaner
    "download": "core.data.download:run_download_job",  # fastai's catalogue, when online
    "memory": "core.labs.memory:run_memory_job",  # the Inside lab: a measured forward/backward
}
HEARTBEAT_EVERY = 1.0  # seconds
TICK_EVERY = 0.5  # seconds between the coordinator's looks at the sweeps
NICENESS = 10  # the background worker yields the CPU to the dashboard when both want it
# Compute threads for training, set once per worker; PLAYGROUND_THREADS overrides.
THREADS = int(os.environ.get("PLAYGROUND_THREADS") or max(1, os.cpu_count() or 1))
ORPHAN_REASON = "The worker running this job stopped before it finished"


def lock_path() -> Path:
    """The file whose lock says 'a worker is running' (released by the OS if it dies)."""
    return workspace.root() / "worker.lock"


def acquire_lock(wait: float = 0.0, probe: bool = False) -> IO | None:
    """Take the worker lock, retrying for up to `wait` seconds; None when another holds it.

    A probe only checks: it does not write its pid, so it never looks like a worker.
    """
    handle = fsutil.try_lock(lock_path(), wait)
    if handle is None:
        return None
    if not probe:
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
    return handle


def release_lock(handle: IO) -> None:
    """Give the worker lock back."""
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()


def worker_alive() -> bool:
    """True while some process holds the worker lock."""
    handle = acquire_lock(probe=True)
    if handle is None:
        return True
    release_lock(handle)
    return False


def lock_holder() -> int | None:
    """The pid written by the process holding the worker lock, when there is one."""
    if not worker_alive():
        return None
    try:
        return int(lock_path().read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


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


class _Heartbeat(threading.Thread):
    """Beats for the worker and its job; on shutdown, asks the running job to stop."""

    def __init__(self, store_path: Path, pid: int, shutdown: threading.Event):
        super().__init__(daemon=True, name="heartbeat")
        self.store_path, self.pid, self.shutdown = store_path, pid, shutdown
        self.job_id: int | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        store = Store(self.store_path)
        while not self.stop.is_set():
            try:
                store.heartbeat(self.job_id, self.pid)
                if self.shutdown.is_set() and self.job_id is not None:
                    store.request_cancel(self.job_id)
            except Exception:  # noqa: BLE001 - a busy database must not kill the heartbeat
                pass
            self.stop.wait(0.2 if self.shutdown.is_set() else HEARTBEAT_EVERY)
        store.close()


class _Coordinator(threading.Thread):
    """Ticks the sweeps beside the training loop: asks Optuna for their next runs and tells it
    how the finished ones did, so the queue it feeds never waits on it (core.jobs.sweeps)."""

    def __init__(self, store_path: Path):
        super().__init__(daemon=True, name="sweep-coordinator")
        self.store_path = store_path
        self.stop = threading.Event()

    def run(self) -> None:
        from core.jobs import sweeps

        store = Store(self.store_path)
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
) -> None:
    """The worker loop; the caller must hold the worker lock.

    until_job: return once that job has ended. until: return once it says True (checked between
    jobs). once: return when the queue is empty and no sweep will add to it. idle_exit: return
    after that many idle seconds (a sweep still running counts as work). coordinate: run the
    sweeps' coordinator thread beside the loop.
    """
    from core.jobs import sweeps

    pid = os.getpid()
    stop = stop or threading.Event()
    beat = _Heartbeat(store.path, pid, stop)
    beat.start()
    coordinator = _Coordinator(store.path) if coordinate else None
    if coordinator:
        coordinator.start()
    idle_since = time.monotonic()
    try:
        while not stop.is_set():
            if until_job is not None:
                target = store.get(until_job)
                if target is None or target.finished_state:
                    return
            if until is not None and until():
                return
            job = store.claim_next(pid)
            if job is None:
                idle = once or (idle_exit is not None and time.monotonic() - idle_since > idle_exit)
                if idle and not (coordinate and sweeps.pending(store)):
                    return
                stop.wait(poll)
                continue
            beat.job_id = job.id
            state = run_job(store, job)
            beat.job_id = None
            idle_since = time.monotonic()
            if on_state:
                on_state(job, state)
    finally:
        if coordinator:
            coordinator.stop.set()
            coordinator.join(timeout=5)
        beat.stop.set()
        beat.join(timeout=5)
        store.worker_gone(pid)


def start_inline(store: Store, plan: Callable[[Store], dict | None]) -> threading.Thread | None:
    """Become the worker in a thread of this process when no other worker holds the lock.

    The command line does this so a job runs without a separate worker. plan(store) gives the
    serve() arguments (when to return) from the thread's own store, or None to do nothing.
    Returns the running thread, or None when another worker is alive.
    """
    handle = acquire_lock()
    if handle is None:
        return None
    store.fail_orphans(ORPHAN_REASON)  # a worker that died left these RUNNING

    def work():
        try:
            own = Store(store.path)
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


def main(once: bool = False, idle_exit: float | None = None, quiet: bool = False) -> int:
    """`python -m core worker`: take the lock, recover orphans, then serve until stopped."""
    handle = acquire_lock(wait=2.0)  # a probe may hold the lock for an instant
    if handle is None:
        print(f"A worker is already running (pid {lock_holder()}); not starting another.")
        return 1
    # Interactive work first: the dashboard server and the browser share these cores, and a
    # page switch should not wait behind a training batch.
    os.nice(NICENESS)
    store = Store()
    stop = threading.Event()

    def on_signal(_signum, _frame):
        stop.set()  # the heartbeat thread asks the running job to stop

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        failed = store.fail_orphans(ORPHAN_REASON)
        if failed and not quiet:
            print(f"Marked {len(failed)} interrupted job(s) as FAILED: {failed}", flush=True)
        from core.data import access

        for message in access.recover_all():  # a cleaning a crash cut short: finish or undo it
            if not quiet:
                print(message, flush=True)
        warm_up()
        if not quiet:
            print(f"Worker {os.getpid()} ready; waiting for jobs in {store.path}", flush=True)

        def report(job: Job, state: str) -> None:
            if not quiet:
                print(f"job {job.id} ({job.kind}): {state}", flush=True)

        serve(store, once=once, idle_exit=idle_exit, stop=stop, on_state=report)
    finally:
        release_lock(handle)
    return 0


def ensure_running() -> bool:
    """Start a worker process in the background unless one is alive; True if one was started.

    The worker outlives the caller (its own session), so closing the dashboard's tab or
    restarting the server does not stop a run.
    """
    import subprocess
    import sys

    if worker_alive():
        return False
    log = open(workspace.root() / "worker.log", "ab")
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
