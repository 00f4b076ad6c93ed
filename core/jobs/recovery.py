"""Recovering the jobs of workers that died.

A lone worker of a laptop store fails every job left RUNNING when it starts: it holds the only
worker lock, so their worker died. Wherever more than one worker can exist (a shared store,
several slots), a job is failed only when its worker is known dead (a pid gone on this host)
or its heartbeat is older than stale_after(); a worker that beats never loses its job.
"""

from __future__ import annotations

import os

from core.errors import UserError
from core.jobs import locks
from core.jobs.claims import host_of, pid_of, worker_name
from core.jobs.store import Store

ORPHAN_REASON = "The worker running this job stopped before it finished"
STALE_ENV = "PLAYGROUND_STALE_S"  # seconds without a heartbeat after which a job lost its worker
STALE_DEFAULT = 60.0
HEARTBEAT_EVERY = 1.0  # seconds, as the worker beats (core.jobs.worker)
STALE_CHECK_EVERY = 5.0  # seconds between a worker's (or the dispatcher's) looks for dead jobs


def stale_after() -> float:
    """Seconds without a heartbeat after which a running job has lost its worker
    (PLAYGROUND_STALE_S, else a minute)."""
    text = os.environ.get(STALE_ENV, "").strip()
    try:
        value = float(text) if text else STALE_DEFAULT
    except ValueError:
        raise UserError(f"{STALE_ENV} is {text!r}; set it to a number of seconds.") from None
    return max(value, 3 * HEARTBEAT_EVERY)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_here(store: Store) -> tuple[str, ...]:
    """Workers named by RUNNING jobs that ran on this host and whose process is gone."""
    me = worker_name()
    return tuple(
        w
        for w in store.running_workers()
        if host_of(w) == host_of(me) and (pid := pid_of(w)) is not None and not _pid_alive(pid)
    )


def fail_dead(store: Store, reason: str = ORPHAN_REASON) -> list[int]:
    """Fail the RUNNING jobs whose worker is known dead on this host (dead_here) or whose
    heartbeat is older than stale_after(); returns their ids."""
    return store.fail_stale(reason, stale_after(), gone=dead_here(store))


def recover(store: Store, slot: int = 0) -> list[int]:
    """Fail the jobs whose worker died; call while holding the slot's worker lock. The lone
    worker of a laptop store fails every RUNNING job; elsewhere only known-dead or stale ones."""
    if not store.shared and not locks.other_slots_alive(slot):
        return store.fail_orphans(ORPHAN_REASON)
    return fail_dead(store)
