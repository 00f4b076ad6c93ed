"""The worker's side of the job store: claiming jobs, counting starts, heartbeats, and failing the
jobs of workers that died (Store inherits these; see core.jobs.store).

A claim is atomic on both backends: SQLite serialises it with BEGIN IMMEDIATE, PostgreSQL
with SELECT … FOR UPDATE SKIP LOCKED, so several worker processes, on one machine or many,
never get the same job. Among queued jobs, those of the owner with the fewest running jobs go
first, then the oldest: one person's long queue cannot hold the class back.
"""

from __future__ import annotations

import os
import socket
import time

QUEUED, RUNNING, FAILED = "QUEUED", "RUNNING", "FAILED"


def worker_name(worker: str | int | None = None) -> str:
    """A worker's id in the store, "host:pid" (an int is a pid on this host; None: this process)."""
    if isinstance(worker, str):
        return worker
    return f"{socket.gethostname()}:{os.getpid() if worker is None else int(worker)}"


def pid_of(worker: str) -> int | None:
    """The pid part of a "host:pid" worker id, when it has one."""
    tail = worker.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def host_of(worker: str) -> str:
    """The host part of a "host:pid" worker id."""
    return worker.rsplit(":", 1)[0] if ":" in worker else ""


class WorkerSide:
    """Store methods for workers (they use a Store made with everyone=True)."""

    def claim_next(self, worker: str | int | None = None, lane: str | None = None, *, pid=None):
        """Atomically move the next QUEUED job (of that lane, or of any) to RUNNING for worker
        ("host:pid"; an int pid means this host): the owner with the fewest running jobs first,
        then the oldest. None when nothing is queued."""
        from core.jobs.store import _job

        name = worker_name(worker if pid is None else pid)
        where, args = self.scope("j")
        lane_sql = ""
        if lane is not None:
            lane_sql, args = " AND j.lane = ?", [*args, lane]
        if not self.read(f"SELECT 1 FROM jobs j WHERE j.state = ?{where}{lane_sql} LIMIT 1", (QUEUED, *args)):
            return None  # an idle poll takes no write lock
        running = "SELECT COUNT(*) FROM jobs r WHERE r.state = ? AND r.owner = j.owner"
        running += " AND r.lane = j.lane" if lane is not None else ""
        sql = (
            f"SELECT j.id FROM jobs j WHERE j.state = ?{where}{lane_sql} ORDER BY ({running}), j.id "
            f"LIMIT 1{self.dialect.lock_rows()}"
        )
        while True:  # the UPDATE re-checks the state: a job another worker took is tried again
            now = time.time()
            with self._tx() as con:
                row = con.execute(sql, (QUEUED, *args, RUNNING)).fetchone()
                if row is None:
                    return None
                taken = con.execute(
                    "UPDATE jobs SET state = ?, started = ?, heartbeat = ?, worker_pid = ?, worker = ? "
                    "WHERE id = ? AND state = ?",
                    (RUNNING, now, now, pid_of(name), name, row[0], QUEUED),
                ).rowcount
                claimed = con.execute("SELECT * FROM jobs WHERE id = ?", (row[0],)).fetchone()
            if taken:
                return _job(claimed)

    def start_attempt(self, job_id: int, where: str) -> int:
        """Count one start of the job on `where` (a worker id) and return how many there have
        been: 1 the first time; a cluster task that sees 2 was started again after its first
        machine died, and must not run the job twice. 0 for no such job in this store's scope
        (a store that does not see everyone counts only the current space's jobs)."""
        scope, args = self.scope()
        with self._tx() as con:
            row = con.execute(
                f"UPDATE jobs SET attempts = attempts + 1, worker = ?, worker_pid = ? WHERE id = ?{scope} "
                "RETURNING attempts",
                (where, pid_of(where), job_id, *args),
            ).fetchone()
        return int(row[0]) if row else 0

    def heartbeat(self, job_id: int | None, worker: str | int, also: tuple[int, ...] = ()) -> None:
        """Say that the worker, its job (if any) and its jobs in other lanes (`also`) are alive;
        only jobs in this store's scope (every owner's for a store that sees everyone)."""
        name = worker_name(worker)
        scope, args = self.scope()
        now = time.time()
        with self._tx() as con:
            con.execute(
                "INSERT INTO workers(id, host, pid, started, heartbeat, job_id) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET heartbeat = excluded.heartbeat, job_id = excluded.job_id",
                (name, host_of(name), pid_of(name) or 0, now, now, job_id),
            )
            for job in [j for j in (job_id, *also) if j is not None]:
                con.execute(
                    f"UPDATE jobs SET heartbeat = ? WHERE id = ? AND state = ?{scope}",
                    (now, job, RUNNING, *args),
                )

    def worker_gone(self, worker: str | int) -> None:
        """Forget a worker (it exited cleanly)."""
        with self._tx() as con:
            con.execute("DELETE FROM workers WHERE id = ?", (worker_name(worker),))

    def workers(self) -> list[dict]:
        """Workers that said they are alive: id, host, pid, started, heartbeat, job_id."""
        return [dict(r) for r in self.read("SELECT * FROM workers ORDER BY host, pid")]

    def _fail(self, con, rows, reason: str, now: float, recheck: str = "", recheck_args=()) -> list[int]:
        failed = []
        for r in rows:
            ago = f"{now - r['heartbeat']:.0f} s ago" if r["heartbeat"] else "never"
            where = r["worker"] or f"pid {r['worker_pid']}"
            msg = f"{reason} (worker {where}, pid {r['worker_pid']}, last heartbeat {ago})."
            cur = con.execute(
                f"UPDATE jobs SET state = ?, finished = ?, error = ? WHERE id = ? AND state = ?{recheck}",
                (FAILED, now, msg, r["id"], RUNNING, *recheck_args),
            )
            if cur.rowcount:
                failed.append(int(r["id"]))
        return failed

    def fail_orphans(self, reason: str) -> list[int]:
        """Mark every RUNNING job, of every lane, FAILED: only for the lone worker of a laptop
        store, while it holds the worker lock (no other worker can exist). A shared store always
        may have other workers: there it fails only stale jobs (fail_stale)."""
        if self.shared:
            from core.jobs.recovery import stale_after

            return self.fail_stale(reason, stale_after())
        now = time.time()
        with self._tx() as con:
            rows = con.execute(
                "SELECT id, worker, worker_pid, heartbeat FROM jobs WHERE state = ? ORDER BY id", (RUNNING,)
            ).fetchall()
            failed = self._fail(con, rows, reason, now)
            con.execute("DELETE FROM workers")
        return failed

    def fail_stale(self, reason: str, after_s: float, gone: tuple[str, ...] = ()) -> list[int]:
        """Mark FAILED each RUNNING job whose heartbeat is older than after_s seconds (its worker
        stopped beating: it died, or lost its machine), or whose worker is in `gone` (known dead);
        the error says the reason and where it ran. A job whose worker beats is never failed."""
        now = time.time()
        cutoff = now - after_s
        marks = ", ".join("?" * len(gone))
        dead = f" OR worker IN ({marks})" if gone else ""
        stale = f" AND (heartbeat IS NULL OR heartbeat < ?{dead})"
        with self._tx() as con:
            rows = con.execute(
                f"SELECT id, worker, worker_pid, heartbeat FROM jobs WHERE state = ?{stale} ORDER BY id",
                (RUNNING, cutoff, *gone),
            ).fetchall()
            failed = self._fail(con, rows, reason, now, stale, (cutoff, *gone))
            con.execute(
                f"DELETE FROM workers WHERE heartbeat < ?{dead.replace('worker', 'id')}", (cutoff, *gone)
            )
        return failed

    def running_workers(self) -> list[str]:
        """The worker ids that RUNNING jobs name."""
        rows = self.read(
            "SELECT DISTINCT worker FROM jobs WHERE state = ? AND worker IS NOT NULL", (RUNNING,)
        )
        return [r[0] for r in rows]
