"""The SQLite job store: jobs and their live records, shared by the dashboard, CLI and worker."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core import workspace
from core.jobs.schema import migrate

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "QUEUED", "RUNNING", "DONE", "FAILED", "CANCELLED"
FINISHED = (DONE, FAILED, CANCELLED)
ACTIVE = (QUEUED, RUNNING)
KINDS = ("train", "lr_find", "crossval", "download", "memory", "wait")
# Each kind runs in one lane, a loop of its own in the worker: one compute job at a time on the
# device, while an I/O job (a download) progresses beside it.
LANES = {"compute": ("train", "lr_find", "crossval", "memory", "wait"), "io": ("download",)}
LANE_OF = {kind: lane for lane, kinds in LANES.items() for kind in kinds}
_FIELD = re.compile(r"\$(\.[A-Za-z_][A-Za-z0-9_]*)+")  # a JSON path latest() may match on


@dataclass(frozen=True)
class Job:
    """One row of the jobs table."""

    id: int
    kind: str
    params: dict
    state: str
    created: float
    started: float | None
    finished: float | None
    heartbeat: float | None
    worker_pid: int | None
    cancel_requested: bool
    progress: float
    message: str | None
    error: str | None
    result: dict | None
    task: str | None = None  # the kind of problem of a train/lr_find/crossval job (core.tasks)
    name: str | None = None  # what a person calls the run
    note: str | None = None
    parent: int | None = None  # the run this one continues, or retrains after cleaning
    sweep_id: int | None = None  # the sweep it is a member of
    deleted: float | None = None  # when it was moved to the trash
    traceback: str | None = None  # a failed job's traceback (the run history shows its tail)
    lane: str | None = None  # the worker loop that runs it (LANES)

    @property
    def finished_state(self) -> bool:
        """True once the job is DONE, FAILED or CANCELLED."""
        return self.state in FINISHED


_OPTIONAL = ("task", "name", "note", "parent", "sweep_id", "deleted", "traceback", "lane")


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        params=json.loads(row["params"]),
        state=row["state"],
        created=row["created"],
        started=row["started"],
        finished=row["finished"],
        heartbeat=row["heartbeat"],
        worker_pid=row["worker_pid"],
        cancel_requested=bool(row["cancel_requested"]),
        progress=row["progress"],
        message=row["message"],
        error=row["error"],
        result=json.loads(row["result"]) if row["result"] else None,
        **{k: row[k] for k in _OPTIONAL if k in row.keys()},
    )


class Store:
    """A handle on the store; each thread gets its own SQLite connection."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else workspace.db_path()
        self._local = threading.local()
        migrate(self._con())

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA busy_timeout=30000")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
        return con

    class _Tx:
        def __init__(self, con: sqlite3.Connection, immediate: bool):
            self.con, self.immediate = con, immediate

        def __enter__(self) -> sqlite3.Connection:
            self.con.execute("BEGIN IMMEDIATE" if self.immediate else "BEGIN")
            return self.con

        def __exit__(self, exc_type, *_):
            self.con.execute("ROLLBACK" if exc_type else "COMMIT")

    def _tx(self, immediate: bool = True) -> Store._Tx:
        return Store._Tx(self._con(), immediate)

    def transaction(self, immediate: bool = True) -> Store._Tx:
        """`with store.transaction() as con:` for modules that keep their own tables in the store
        (sweeps, run history): one transaction on this thread's connection (rows as sqlite3.Row)."""
        return self._tx(immediate)

    def read(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        """Rows of a read-only query on this thread's connection."""
        return self._con().execute(sql, args).fetchall()

    # --- jobs -------------------------------------------------------------------------

    def submit(
        self,
        kind: str,
        params: dict[str, Any],
        *,
        parent: int | None = None,
        sweep_id: int | None = None,
        name: str | None = None,
    ) -> int:
        """Queue a job; returns its id. parent: the run it continues (a retrain's source by default)."""
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        if parent is None and params.get("retrain_of") is not None:
            parent = int(params["retrain_of"])
        with self._tx() as con:
            task = (params.get("config") or {}).get("task", "single_label") if "config" in params else None
            cur = con.execute(
                "INSERT INTO jobs(kind, params, state, created, task, parent, sweep_id, name, lane) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, json.dumps(params), QUEUED, time.time(), task, parent, sweep_id, name, LANE_OF[kind]),
            )
            return int(cur.lastrowid)

    def get(self, job_id: int) -> Job | None:
        """The job with this id, or None."""
        row = self._con().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def jobs(self, limit: int = 50, kind: str | None = None, state: str | None = None) -> list[Job]:
        """The newest jobs first, optionally of one kind or state."""
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if kind:
            sql, args = sql + " AND kind = ?", args + [kind]
        if state:
            sql, args = sql + " AND state = ?", args + [state]
        rows = self._con().execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [_job(r) for r in rows]

    def latest(
        self, kind: str, *, states: tuple[str, ...] | None = None, config: dict | None = None, **params: Any
    ) -> Job | None:
        """The newest job of a kind whose params match, or None: the one "newest job of" query.

        `params` match top-level parameters (latest("crossval", source_run=3)), `config` matches
        fields of params["config"] (latest("lr_find", config={"dataset": "digits"})), and
        `states` keeps only jobs in those states (latest("download", states=ACTIVE)). A value of
        None matches a missing field too. SQLite matches over every job of the kind, not a
        window of the newest.
        """
        sql, args = "SELECT * FROM jobs WHERE kind = ?", [kind]
        fields = [(f"$.{k}", v) for k, v in params.items()]
        fields += [(f"$.config.{k}", v) for k, v in (config or {}).items()]
        for path, value in fields:
            if not _FIELD.fullmatch(path):
                raise ValueError(f"not a parameter name: {path[2:]!r}")
            sql, args = sql + " AND json_extract(params, ?) IS ?", [*args, path, value]
        if states is not None:
            sql += f" AND state IN ({', '.join('?' * len(states))})"
            args += list(states)
        row = self._con().execute(sql + " ORDER BY id DESC LIMIT 1", args).fetchone()
        return _job(row) if row else None

    def queue_position(self, job_id: int) -> int | None:
        """1 for the next job of its lane to run (a download waits on no training), 2…; None if not queued."""
        job = self.get(job_id)
        if job is None or job.state != QUEUED:
            return None
        sql = "SELECT COUNT(*) FROM jobs WHERE state = ? AND id < ? AND lane IS ?"
        (ahead,) = self._con().execute(sql, (QUEUED, job_id, job.lane)).fetchone()
        return ahead + 1

    def active(self, lane: str | None = None) -> list[Job]:
        """Jobs queued or running (of one lane, or all), running first, then in queue order."""
        sql, args = "SELECT * FROM jobs WHERE state IN (?, ?)", [QUEUED, RUNNING]
        if lane is not None:
            sql, args = sql + " AND lane = ?", args + [lane]
        rows = self._con().execute(sql + " ORDER BY state = ?, id", (*args, QUEUED)).fetchall()
        return [_job(r) for r in rows]

    def claim_next(self, pid: int, lane: str | None = None) -> Job | None:
        """Atomically move the oldest QUEUED job (of that lane, or of any) to RUNNING for worker pid."""
        now = time.time()
        sql, args = "SELECT id FROM jobs WHERE state = ?", [QUEUED]
        if lane is not None:
            sql, args = sql + " AND lane = ?", args + [lane]
        if self._con().execute(sql + " LIMIT 1", args).fetchone() is None:
            return None  # an idle poll takes no write lock
        with self._tx() as con:
            row = con.execute(sql + " ORDER BY id LIMIT 1", args).fetchone()
            if row is None:
                return None
            con.execute(
                "UPDATE jobs SET state = ?, started = ?, heartbeat = ?, worker_pid = ? WHERE id = ?",
                (RUNNING, now, now, pid, row["id"]),
            )
        return self.get(row["id"])

    def heartbeat(self, job_id: int | None, pid: int, also: tuple[int, ...] = ()) -> None:
        """Say that worker pid, its job (if any) and its jobs in other lanes (`also`) are alive."""
        now = time.time()
        with self._tx() as con:
            con.execute(
                "INSERT INTO workers(pid, started, heartbeat, job_id) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(pid) DO UPDATE SET heartbeat = excluded.heartbeat, "
                "job_id = excluded.job_id",
                (pid, now, now, job_id),
            )
            for job in [j for j in (job_id, *also) if j is not None]:
                con.execute("UPDATE jobs SET heartbeat = ? WHERE id = ? AND state = ?", (now, job, RUNNING))

    def worker_gone(self, pid: int) -> None:
        """Forget worker pid (it exited cleanly)."""
        with self._tx() as con:
            con.execute("DELETE FROM workers WHERE pid = ?", (pid,))

    def set_progress(self, job_id: int, progress: float, message: str | None = None) -> None:
        """Record how far a job has come (0…1) and, optionally, what it is doing."""
        with self._tx() as con:
            if message is None:
                con.execute("UPDATE jobs SET progress = ? WHERE id = ?", (progress, job_id))
            else:
                con.execute(
                    "UPDATE jobs SET progress = ?, message = ? WHERE id = ?",
                    (progress, message, job_id),
                )

    def request_cancel(self, job_id: int) -> str | None:
        """Ask a job to stop: a queued job is cancelled at once, a running one within a batch.

        Returns the job's state afterwards (None when there is no such job).
        """
        now = time.time()
        with self._tx() as con:
            con.execute(
                "UPDATE jobs SET state = ?, finished = ?, message = 'cancelled before it started' "
                "WHERE id = ? AND state = ?",
                (CANCELLED, now, job_id, QUEUED),
            )
            con.execute(
                "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = ?",
                (job_id, RUNNING),
            )
        job = self.get(job_id)
        return job.state if job else None

    def cancel_requested(self, job_id: int) -> bool:
        """True when someone asked this job to stop."""
        row = self._con().execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    def finish(
        self,
        job_id: int,
        state: str,
        result: dict | None = None,
        error: str | None = None,
        traceback: str | None = None,
    ) -> None:
        """Move a running job to DONE, FAILED or CANCELLED."""
        assert state in FINISHED
        with self._tx() as con:
            con.execute(
                "UPDATE jobs SET state = ?, finished = ?, result = ?, error = ?, traceback = ?, "
                "progress = CASE WHEN ? = 'DONE' THEN 1 ELSE progress END WHERE id = ?",
                (
                    state,
                    time.time(),
                    json.dumps(result) if result is not None else None,
                    error,
                    traceback,
                    state,
                    job_id,
                ),
            )

    def fail_orphans(self, reason: str) -> list[int]:
        """Mark every RUNNING job, of every lane, FAILED (call only while holding the worker lock)."""
        now = time.time()
        failed = []
        with self._tx() as con:
            rows = con.execute(
                "SELECT id, worker_pid, heartbeat FROM jobs WHERE state = ?", (RUNNING,)
            ).fetchall()
            for r in rows:
                ago = f"{now - r['heartbeat']:.0f} s ago" if r["heartbeat"] else "never"
                msg = f"{reason} (worker pid {r['worker_pid']}, last heartbeat {ago})."
                con.execute(
                    "UPDATE jobs SET state = ?, finished = ?, error = ? WHERE id = ?",
                    (FAILED, now, msg, r["id"]),
                )
                failed.append(r["id"])
            con.execute("DELETE FROM workers")
        return failed

    # --- records ----------------------------------------------------------------------

    def add_batches(self, job_id: int, rows: list[tuple[int, float, float, float | None]]) -> None:
        """Append per-batch records: (step, smoothed loss, learning rate, momentum)."""
        if not rows:
            return
        with self._tx() as con:
            con.executemany(
                "INSERT OR REPLACE INTO batches(job_id, step, loss, lr, mom) VALUES (?, ?, ?, ?, ?)",
                [(job_id, *r) for r in rows],
            )

    def add_epoch(
        self,
        job_id: int,
        epoch: int,
        train_loss: float | None,
        valid_loss: float | None,
        metrics: dict[str, float],
        seconds: float,
        step: int,
        phase: str = "",
    ) -> None:
        """Append one epoch's record."""
        with self._tx() as con:
            con.execute(
                "INSERT OR REPLACE INTO epochs(job_id, epoch, phase, step, train_loss, valid_loss, "
                "metrics, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, epoch, phase, step, train_loss, valid_loss, json.dumps(metrics), seconds),
            )

    def batches(self, job_id: int, after_step: int = 0) -> pd.DataFrame:
        """Per-batch records of a job (step, loss, lr, mom), optionally only after a step."""
        rows = (
            self._con()
            .execute(
                "SELECT step, loss, lr, mom FROM batches WHERE job_id = ? AND step > ? ORDER BY step",
                (job_id, after_step),
            )
            .fetchall()
        )
        return pd.DataFrame([tuple(r) for r in rows], columns=["step", "loss", "lr", "mom"])

    def epochs(self, job_id: int) -> pd.DataFrame:
        """Per-epoch records, one column per metric."""
        rows = (
            self._con()
            .execute(
                "SELECT epoch, phase, step, train_loss, valid_loss, metrics, seconds FROM epochs "
                "WHERE job_id = ? ORDER BY epoch",
                (job_id,),
            )
            .fetchall()
        )
        records = []
        for r in rows:
            rec = {k: r[k] for k in ("epoch", "phase", "step", "train_loss", "valid_loss")}
            rec.update(json.loads(r["metrics"] or "{}"))
            rec["seconds"] = r["seconds"]
            records.append(rec)
        columns = ["epoch", "phase", "step", "train_loss", "valid_loss", "seconds"]
        return pd.DataFrame(records, columns=None if records else columns)

    def workers(self) -> list[dict]:
        """Workers that said they are alive: pid, started, heartbeat, job_id."""
        rows = self._con().execute("SELECT * FROM workers ORDER BY pid").fetchall()
        return [dict(r) for r in rows]

    def close(self) -> None:
        """Close this thread's connection."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None
