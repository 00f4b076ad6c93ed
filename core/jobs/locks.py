"""Locks that hold across processes and machines: file locks on a laptop store, PostgreSQL
advisory locks when the store is shared (file locks are unreliable on the shared filesystems a
cluster's machines see the workspace through).

An advisory lock is held by a connection of its own and let go when that connection closes,
so, like a file lock, it is released by the server when its process dies. Opening a shared
Store registers `advisory` as workspace.LOCK_BACKEND["lock"]: every Space.lock (datasets,
models, trash) then takes the store's lock of that name. The worker lock (one per worker
slot) is a file in the workspace, or an advisory lock when the store is shared.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import glob
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from core import fsutil, workspace
from core.jobs import db

POLL_S = 0.05  # seconds between tries of a busy advisory lock
_APP = "playground"  # application_name prefix of a connection holding a named lock


def lock_key(name: str) -> int:
    """A name as a signed 64-bit number (PostgreSQL's advisory locks are keyed by one)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)


class Advisory:
    """A held advisory lock: the connection that holds it (close() lets it go)."""

    def __init__(self, con, name: str):
        self.con, self.name = con, name

    def close(self) -> None:
        """Release the lock (closing the connection releases it on the server)."""
        with contextlib.suppress(Exception):
            self.con.close()


def try_advisory(url: str, name: str, wait: float = 0.0, label: bool = True) -> Advisory | None:
    """Take the advisory lock called name on the PostgreSQL store at url, trying for up to
    `wait` seconds; None when another session holds it all that time. label: name the holding
    connection after the lock and this pid (holder_pid finds it; a probe stays unnamed)."""
    import psycopg

    con = psycopg.connect(url, autocommit=True, connect_timeout=10)
    deadline = time.monotonic() + max(0.0, wait)
    try:
        while True:
            if con.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(name),)).fetchone()[0]:
                if label:
                    app = f"{_APP}:{name}:{os.getpid()}"[:63]
                    con.execute("SELECT set_config('application_name', %s, false)", (app,))
                return Advisory(con, name)
            if time.monotonic() >= deadline:
                con.close()
                return None
            time.sleep(POLL_S)
    except BaseException:
        con.close()
        raise


@contextlib.contextmanager
def advisory(url: str, name: str, wait: float = 0.0, busy_message: str = "") -> Iterator[None]:
    """Hold the store's advisory lock called name for the `with` block; workspace.Busy (with
    busy_message) when someone else holds it for longer than `wait` seconds."""
    handle = try_advisory(url, name, wait)
    if handle is None:
        raise workspace.Busy(busy_message or f"{name.rsplit('/', 1)[-1]} is busy; try again in a moment.")
    try:
        yield
    finally:
        handle.close()


def register(url: str) -> None:
    """Make every Space.lock an advisory lock of the shared store at url."""
    current = workspace.LOCK_BACKEND.get("lock")
    if getattr(current, "args", None) != (url,):
        workspace.LOCK_BACKEND["lock"] = functools.partial(advisory, url)


def shared_url() -> str | None:
    """The PostgreSQL store's address when PLAYGROUND_DB names one, else None."""
    url = db.resolve(None)
    return url if db.is_postgres(url) else None


def holder_pid(url: str, name: str) -> int | None:
    """The pid of the process holding the advisory lock called name, when one does."""
    import psycopg

    label = f"{_APP}:{name}:"
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as con:
        rows = con.execute(
            "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() "
            "AND starts_with(application_name, %s)",
            (label,),
        ).fetchall()
    for (app,) in rows:
        tail = app[len(label) :]
        if tail.isdigit():
            return int(tail)
    return None


# --- the worker lock -----------------------------------------------------------------------


def lock_name(slot: int = 0) -> str:
    """The worker lock's name for a slot: 'worker' for slot 0 (as before slots), else worker-N."""
    return "worker" if slot == 0 else f"worker-{int(slot)}"


def lock_path(slot: int = 0) -> Path:
    """The file whose lock says 'a worker is running in this slot' (released by the OS if it dies)."""
    return workspace.workspace_root() / f"{lock_name(slot)}.lock"


def acquire_lock(wait: float = 0.0, probe: bool = False, slot: int = 0) -> IO | Advisory | None:
    """Take a slot's worker lock, retrying for up to `wait` seconds; None when another holds it.

    A probe only checks: it does not write its pid, so it never looks like a worker.
    """
    url = shared_url()
    if url:
        return try_advisory(url, lock_name(slot), wait, label=not probe)
    handle = fsutil.try_lock(lock_path(slot), wait)
    if handle is None:
        return None
    if not probe:
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
    return handle


def release_lock(handle: IO | Advisory) -> None:
    """Give a worker lock back (a file lock's file no longer names a pid: it could be reused)."""
    if isinstance(handle, Advisory):
        handle.close()
        return
    handle.seek(0)
    handle.truncate()
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()


def worker_alive(slot: int = 0) -> bool:
    """True while some process holds the slot's worker lock."""
    handle = acquire_lock(probe=True, slot=slot)
    if handle is None:
        return True
    release_lock(handle)
    return False


def lock_holder(slot: int = 0) -> int | None:
    """The pid of the process holding the slot's worker lock, when there is one."""
    url = shared_url()
    if url:
        return holder_pid(url, lock_name(slot))
    if not worker_alive(slot):
        return None
    try:
        return int(lock_path(slot).read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def other_slots_alive(slot: int) -> bool:
    """True when a worker of another slot holds its lock on this laptop store (then more than
    one worker can exist, and only stale heartbeats tell a dead one)."""
    root = workspace.workspace_root()
    for path in glob.glob(str(root / "worker*.lock")):
        name = Path(path).stem
        other = 0 if name == "worker" else name.removeprefix("worker-")
        if str(other).isdigit() and int(other) != slot and worker_alive(int(other)):
            return True
    return False
