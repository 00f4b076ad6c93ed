"""Jobs on a Dask cluster: with PLAYGROUND_SCHEDULER=tcp://host:port, `python -m core worker`
is a dispatcher that hands each queued job to a dask.distributed scheduler as one task.

The dispatcher claims a job from the shared store only while the cluster has room for it (a
free worker thread; a free `GPU` resource for a job that wants a GPU), submits it with
retries=0, pure=False and a key of its own, and watches the future. The task, on whichever
Dask worker the scheduler picks, opens the store, counts the start (store.start_attempt: a
task the scheduler starts again after its first worker died refuses to run twice and fails the
job with the reason), beats for the job, and runs it with the worker's own run_job in its
owner's space. A worker that dies takes its job to FAILED with the reason, through the future's
error, through the dispatcher seeing the worker leave the cluster, or, as a last resort, through
the job's stale heartbeat (store.fail_stale). Stop reaches a running job through the store
(cancel_requested, polled each batch) and cancels a job still waiting in the scheduler.

Which jobs want a GPU (wants_gpu): a job whose params (or params["config"]) say device "cuda"
always does, "cpu" never; otherwise (the default, "auto": runs train on CUDA where the machine
has it) the kinds that compute on the device do when some worker of the cluster offers `GPU`.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from dataclasses import dataclass, field

from core import workspace
from core.errors import UserError
from core.jobs import db
from core.jobs.claims import worker_name
from core.jobs.recovery import HEARTBEAT_EVERY
from core.jobs.store import CANCELLED, FAILED, LANES, RUNNING, Job, Store

SCHEDULER_ENV = "PLAYGROUND_SCHEDULER"  # tcp://host:port of a dask scheduler: jobs run there
CACHE_ENV = "PLAYGROUND_CACHE_DIR"  # tensor_cache.ENV_DIR (not imported: it imports torch)
GPU = "GPU"  # the Dask worker resource a job that wants a GPU asks for (`--resources GPU=1`)
GPU_KINDS = tuple(k for k in LANES["compute"] if k != "wait")  # kinds that compute on the device
DIED = "its machine died while running it; not run a second time"
# a running job whose heartbeat is older than recovery.stale_after() (PLAYGROUND_STALE_S)
STALE_REASON = "Its machine stopped answering while running it; not run a second time"
BEAT_S = HEARTBEAT_EVERY  # seconds between a job's heartbeats, as on a worker
CONNECT_TIMEOUT_S = 20  # seconds the dispatcher tries to reach the scheduler before it gives up


def job_device(job: Job) -> str:
    """'cuda', 'cpu' or 'auto': where the job asks to run (params, then its config, else auto)."""
    config = job.params.get("config") if isinstance(job.params.get("config"), dict) else {}
    device = str(job.params.get("device") or config.get("device") or "auto").lower()
    return "cuda" if device.startswith("cuda") else device if device == "cpu" else "auto"


def wants_gpu(job: Job, cluster_gpus: int) -> bool:
    """Whether the job's task asks for the worker resource GPU: 1 (see the module's docstring)."""
    device = job_device(job)
    return device == "cuda" or (device == "auto" and job.kind in GPU_KINDS and cluster_gpus > 0)


@dataclass
class Capacity:
    """What the cluster offers: worker threads and GPU resources, in all."""

    slots: int = 0
    gpus: int = 0
    workers: set[str] = field(default_factory=set)  # the workers' addresses


def capacity(client) -> Capacity:
    """The cluster's worker threads and GPU resources right now."""
    info = client.scheduler_info(n_workers=-1)["workers"]
    return Capacity(
        slots=sum(int(w.get("nthreads", 1)) for w in info.values()),
        gpus=sum(int((w.get("resources") or {}).get(GPU, 0)) for w in info.values()),
        workers=set(info),
    )


# --- the task, on a Dask worker -----------------------------------------------------------

_WARM = threading.Lock()
_warmed = False


def _warm_up_once() -> None:
    """Import fastai and the handlers once per worker process (worker.warm_up)."""
    global _warmed
    from core.jobs import worker

    with _WARM:
        if not _warmed:
            worker.warm_up()
            _warmed = True


def _use_settings(settings: dict) -> None:
    """Point this process at the dispatcher's workspace and store, and keep decoded images on
    this machine's own disk (PLAYGROUND_CACHE_DIR, else a folder under its temp dir)."""
    os.environ[workspace.ENV_VAR] = settings["workspace"]
    if settings.get("db"):
        os.environ[db.ENV_VAR] = settings["db"]
    else:
        os.environ.pop(db.ENV_VAR, None)
    if not os.environ.get(CACHE_ENV):
        os.environ[CACHE_ENV] = os.path.join(tempfile.gettempdir(), "playground-cache")


def _beat(store_url: str, job_id: int, where: str, stop: threading.Event) -> None:
    """Say every BEAT_S that the job is alive on this machine, until stop."""
    store = Store(store_url, everyone=True)
    try:
        while not stop.is_set():
            try:
                store.heartbeat(job_id, where)
            except Exception:  # noqa: BLE001 - a busy database must not end the heartbeat
                pass
            stop.wait(BEAT_S)
        store.worker_gone(where)
    finally:
        store.close()


def run_task(job_id: int, settings: dict) -> str:
    """The Dask task: run job_id once, here, and record how it ended; returns its final state."""
    from core.jobs import worker

    _use_settings(settings)
    store = Store(settings["store"], everyone=True)  # on PostgreSQL: locks become advisory locks
    if not store.shared:  # a worker process that served a shared store before: file locks again
        workspace.LOCK_BACKEND.pop("lock", None)
    where = worker_name()
    try:
        before = store.get(job_id)
        attempt = store.start_attempt(job_id, where)
        job = store.get(job_id)
        if job is None or job.state != RUNNING:
            return job.state if job else CANCELLED  # stopped, or failed, while it waited
        if attempt > 1:
            first = before.worker if before else "another machine"
            store.finish(
                job_id, FAILED, error=f"It ran on {first}: {DIED} (the cluster started it again on {where})."
            )
            return FAILED
        stop = threading.Event()
        beat = threading.Thread(target=_beat, args=(settings["store"], job_id, where, stop), daemon=True)
        beat.start()
        try:
            if job.kind in GPU_KINDS:
                _warm_up_once()  # fastai's import, once per worker process, while the job beats
            with workspace.use_space(job.owner):
                return worker.run_job(store, job)
        finally:
            stop.set()
            beat.join(timeout=5)
    finally:
        store.close()


# --- the dispatcher's process ---------------------------------------------------------------


def connect(address: str, timeout: float = CONNECT_TIMEOUT_S):
    """A dask.distributed Client on the scheduler at address (UserError when it cannot be reached)."""
    try:
        from distributed import Client
    except ImportError:
        raise UserError(
            f"{SCHEDULER_ENV} is set but dask.distributed is not installed (pip install -r requirements.txt)."
        ) from None
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as e:
        raise UserError(
            f"Cannot reach the Dask scheduler at {address!r} ({e}). Start one with `dask scheduler`, "
            f"or unset {SCHEDULER_ENV} to run jobs on this machine."
        ) from None


def main(
    address: str, once: bool = False, idle_exit: float | None = None, quiet: bool = False, slot: int = 0
) -> int:
    """`python -m core worker` with PLAYGROUND_SCHEDULER set: hold the (slot's) worker lock, dispatch
    the store's jobs to the Dask scheduler at address until stopped (SIGTERM/SIGINT stop the
    running jobs after their current batch), or idle (worker.idle_exit_seconds), or, with once,
    until nothing is queued or running."""
    from core.jobs import worker
    from core.jobs.cluster_dispatch import Dispatcher

    def say(message: str) -> None:
        if not quiet:
            print(message, flush=True)

    idle = worker.idle_exit_seconds(idle_exit)
    handle = worker.acquire_lock(wait=2.0, slot=slot)
    if handle is None:
        print(f"A worker is already running (pid {worker.lock_holder(slot)}); not starting another.")
        return 1
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    store = Store(everyone=True)
    client = None
    try:
        client = connect(address)
        say(f"Dispatcher {worker_name()}: the jobs of {db.redact(store.url)} run on the cluster at {address}")
        Dispatcher(client, store, log=say).serve(stop, once=once, idle_exit=idle)
        say(f"Dispatcher {worker_name()} exiting: {'stopped' if stop.is_set() else 'idle'}.")
    except UserError as e:
        print(e, flush=True)
        return 1
    finally:
        if client is not None:
            client.close()
        store.close()
        worker.release_lock(handle)
    return 0
