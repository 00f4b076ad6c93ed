"""The job store: jobs and their live records, shared by the dashboard, CLI and workers.

One interface on two backends (core.jobs.db): an SQLite file in the workspace (the default) or
a PostgreSQL server (PLAYGROUND_DB=postgresql://…) that workers on several machines share.
Each job belongs to the space that queued it (its owner); a Store sees only the current
space's jobs unless it was made for everyone (workers) or is a teacher's `everyone()` view.
The worker side (claims, heartbeats, recovery) lives in core.jobs.claims, the records of
batches and epochs in core.jobs.records.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import people, workspace
from core.errors import UserError
from core.jobs import db
from core.jobs.claims import WorkerSide
from core.jobs.locks import lock_key, register
from core.jobs.records import Records
from core.jobs.schema import migrate, migrate_postgres

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "QUEUED", "RUNNING", "DONE", "FAILED", "CANCELLED"
FINISHED = (DONE, FAILED, CANCELLED)
ACTIVE = (QUEUED, RUNNING)
_ACTIVE_OF = "SELECT COUNT(*) FROM jobs WHERE owner = ? AND state IN (?, ?)"  # one owner's active jobs
KINDS = ("train", "lr_find", "crossval", "download", "memory", "wait")
# Each kind runs in one lane, a loop of its own in the worker: one compute job at a time on the
# device, while an I/O job (a download) progresses beside it.
LANES = {"compute": ("train", "lr_find", "crossval", "memory", "wait"), "io": ("download",)}
LANE_OF = {kind: lane for lane, kinds in LANES.items() for kind in kinds}
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # a parameter name latest() may match on
_migrated: set[str] = set()  # PostgreSQL stores whose schema this process has checked
if db.is_postgres(_shared := os.environ.get(db.ENV_VAR, "").strip()):
    register(_shared)  # space locks are advisory from the start, before any Store is opened


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
    owner: str = ""  # the space of the person who queued it ('' alone on a laptop)
    attempts: int = 0  # how many times a worker started it (a cluster never runs one twice)
    worker: str | None = None  # "host:pid" of the worker that runs (or ran) it

    @property
    def finished_state(self) -> bool:
        """True once the job is DONE, FAILED or CANCELLED."""
        return self.state in FINISHED


_OPTIONAL = ("task", "name", "note", "parent", "sweep_id", "deleted", "traceback", "lane")
_OPTIONAL += ("owner", "attempts", "worker")


def _job(row) -> Job:
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


def _references(params: dict[str, Any], parent: Any) -> list[int]:
    """The runs a job's params build on: its parent, retrain_of, continue's parent, source_run."""
    cont = params.get("continue")
    refs = [parent, params.get("retrain_of"), params.get("source_run")]
    refs.append(cont.get("parent") if isinstance(cont, dict) else None)
    try:
        return [int(r) for r in refs if r is not None]
    except (TypeError, ValueError):
        raise UserError("A job names the run it builds on by its id, a whole number.") from None


class Store(WorkerSide, Records):
    """A handle on the store; each thread gets its own connection.

    url: an SQLite file or a postgresql:// address (None: $PLAYGROUND_DB, else the workspace's
    runs.sqlite). everyone: see every owner's jobs (workers, the dispatcher), instead of the
    current space's only.
    """

    def __init__(self, url: Path | str | None = None, *, everyone: bool = False):
        self.url = db.resolve(url)
        self.shared = db.is_postgres(self.url)
        self.dialect = db.POSTGRES if self.shared else db.SQLITE
        self.path: Path | str = self.url if self.shared else Path(self.url)  # for old callers
        self._everyone = everyone
        self._local = threading.local()
        if self.shared:
            register(self.url)
            if self.url not in _migrated:
                migrate_postgres(self._con())
                _migrated.add(self.url)
        else:
            migrate(self._con())

    def _con(self):
        if self.shared:
            return db.pg_connection(self.url)
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = db.sqlite_connection(self.url)
        return con

    class _Tx:
        def __init__(self, con, begin: str):
            self.con, self.begin = con, begin

        def __enter__(self):
            self.con.execute(self.begin)
            return self.con

        def __exit__(self, exc_type, *_):
            self.con.execute("ROLLBACK" if exc_type else "COMMIT")

    def _tx(self, immediate: bool = True) -> Store._Tx:
        return Store._Tx(self._con(), self.dialect.begin if immediate else "BEGIN")

    def transaction(self, immediate: bool = True) -> Store._Tx:
        """`with store.transaction() as con:` for modules that keep their own tables in the store
        (sweeps, run history): one transaction on this thread's connection; con.execute takes
        the store's SQL (core.jobs.db) and its rows read like sqlite3.Row."""
        return self._tx(immediate)

    def read(self, sql: str, args: tuple = ()) -> list:
        """Rows of a read-only query on this thread's connection (no owner filter: see scope())."""
        return self._con().execute(sql, args).fetchall()

    # --- whose jobs -------------------------------------------------------------------

    @property
    def sees_everyone(self) -> bool:
        """True when this store reads and changes every owner's jobs."""
        return self._everyone

    def everyone(self) -> Store:
        """A view of the same store that sees every owner's jobs: for a teacher, or with no
        person set (a laptop, the CLI, a worker); a learner gets UserError."""
        if people.current() is not None and not people.is_teacher():
            raise UserError("Only a teacher sees everyone's jobs.")
        return Store(self.url, everyone=True)

    def scope(self, alias: str = "", column: str = "owner") -> tuple[str, list]:
        """(" AND <alias.>owner = ?", [space]) limiting a query to the current space's rows, or
        ("", []) for a store that sees everyone."""
        if self._everyone:
            return "", []
        return f" AND {alias + '.' if alias else ''}{column} = ?", [workspace.current_name()]

    def _owns(self, job_id: int) -> bool:
        where, args = self.scope()
        return bool(self.read(f"SELECT 1 FROM jobs WHERE id = ?{where}", (job_id, *args)))

    def room(self, owner: str | None = None) -> int | None:
        """How many more jobs the owner (the current space) may queue under the class's fair
        share (people.config().max_jobs); None when there is no limit."""
        limit = people.config().max_jobs
        if limit is None:
            return None
        owner = workspace.current_name() if owner is None else owner
        (n,) = self.read(_ACTIVE_OF, (owner, *ACTIVE))[0]
        return max(0, limit - int(n))

    # --- jobs -------------------------------------------------------------------------

    def submit(
        self,
        kind: str,
        params: dict[str, Any],
        *,
        parent: int | None = None,
        sweep_id: int | None = None,
        name: str | None = None,
        owner: str | None = None,
    ) -> int:
        """Queue a job for owner (the current space); returns its id. parent: the run it
        continues (a retrain's source by default). Refused (UserError) past the fair share, and
        when it builds on (parent, retrain_of, continue, source_run) another owner's run."""
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        mine = workspace.current_name()
        owner = mine if owner is None else owner
        if owner != mine and not self._everyone:
            raise UserError("A job can only be queued in your own space.")
        for ref in _references(params, parent):  # another person's run: as if there were none
            rows = self.read("SELECT owner FROM jobs WHERE id = ?", (ref,))
            if rows and rows[0][0] != owner:
                raise UserError(f"There is no run {ref}.")
        if parent is None and params.get("retrain_of") is not None:
            parent = int(params["retrain_of"])
        limit = people.config().max_jobs
        with self._tx() as con:
            if limit is not None:
                if self.shared:  # two pages of one person submitting at once count one by one
                    con.execute("SELECT pg_advisory_xact_lock(?)", (lock_key(f"submit/{owner}"),))
                (n,) = con.execute(_ACTIVE_OF, (owner, *ACTIVE)).fetchone()
                if n >= limit:
                    raise UserError(
                        f"{'You already have' if owner == mine else f'{owner} already has'} {n} jobs "
                        f"queued or running, the most one person may have at once ({limit}); wait for "
                        "one to finish, or stop one, then queue this again."
                    )
            task = (params.get("config") or {}).get("task", "single_label") if "config" in params else None
            row = con.execute(
                "INSERT INTO jobs(kind, params, state, created, task, parent, sweep_id, name, lane, owner) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (kind, json.dumps(params), QUEUED, time.time(), task, parent, sweep_id, name)
                + (LANE_OF[kind], owner),
            ).fetchone()
            return int(row[0])

    def get(self, job_id: int) -> Job | None:
        """The job with this id, or None (also for another person's job)."""
        where, args = self.scope()
        rows = self.read(f"SELECT * FROM jobs WHERE id = ?{where}", (int(job_id), *args))
        return _job(rows[0]) if rows else None

    def jobs(self, limit: int = 50, kind: str | None = None, state: str | None = None) -> list[Job]:
        """The newest jobs first, optionally of one kind or state."""
        where, args = self.scope()
        sql = "SELECT * FROM jobs WHERE 1=1" + where
        if kind:
            sql, args = sql + " AND kind = ?", args + [kind]
        if state:
            sql, args = sql + " AND state = ?", args + [state]
        return [_job(r) for r in self.read(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))]

    def latest(
        self, kind: str, *, states: tuple[str, ...] | None = None, config: dict | None = None, **params: Any
    ) -> Job | None:
        """The newest job of a kind whose params match, or None: the one "newest job of" query.

        `params` match top-level parameters (latest("crossval", source_run=3)), `config` matches
        fields of params["config"] (latest("lr_find", config={"dataset": "digits"})), and
        `states` keeps only jobs in those states (latest("download", states=ACTIVE)). A value of
        None matches a missing field too. The match runs over every job of the kind, not a
        window of the newest.
        """
        where, scope_args = self.scope()
        sql, args = "SELECT * FROM jobs WHERE kind = ?" + where, [kind, *scope_args]
        fields = [((k,), v) for k, v in params.items()]
        fields += [(("config", k), v) for k, v in (config or {}).items()]
        for keys, value in fields:
            if not _FIELD.fullmatch(keys[-1]):
                raise ValueError(f"not a parameter name: {keys[-1]!r}")
            if not self.shared:
                sql, args = sql + f" AND {self.dialect.json_text('params', *keys)} IS ?", [*args, value]
            elif value is None:
                sql += " AND coalesce(json_doc(params) #> ?::text[], 'null') = 'null'"
                args.append(list(keys))
            else:
                sql, args = sql + " AND json_doc(params) #> ?::text[] = ?::jsonb", [*args, list(keys)]
                args.append(json.dumps(value))
        if states is not None:
            sql += f" AND state IN ({', '.join('?' * len(states))})"
            args += list(states)
        rows = self.read(sql + " ORDER BY id DESC LIMIT 1", tuple(args))
        return _job(rows[0]) if rows else None

    def queue_position(self, job_id: int) -> int | None:
        """1 for the next job of its lane to run (a download waits on no training), 2…; None if
        not queued. Every owner's jobs ahead count (the worker serves them all)."""
        job = self.get(job_id)
        if job is None or job.state != QUEUED:
            return None
        sql = "SELECT COUNT(*) FROM jobs WHERE state = ? AND id < ? AND lane IS ?"
        (ahead,) = self.read(sql, (QUEUED, job.id, job.lane))[0]
        return int(ahead) + 1

    def active(self, lane: str | None = None) -> list[Job]:
        """Jobs queued or running (of one lane, or all), running first, then in queue order."""
        where, scope_args = self.scope()
        sql, args = "SELECT * FROM jobs WHERE state IN (?, ?)" + where, [QUEUED, RUNNING, *scope_args]
        if lane is not None:
            sql, args = sql + " AND lane = ?", args + [lane]
        return [_job(r) for r in self.read(sql + " ORDER BY state = ?, id", (*args, QUEUED))]

    def set_progress(self, job_id: int, progress: float, message: str | None = None) -> None:
        """Record how far a job has come (0…1) and, optionally, what it is doing."""
        where, args = self.scope()
        with self._tx() as con:
            if message is None:
                con.execute(f"UPDATE jobs SET progress = ? WHERE id = ?{where}", (progress, job_id, *args))
            else:
                con.execute(
                    f"UPDATE jobs SET progress = ?, message = ? WHERE id = ?{where}",
                    (progress, message, job_id, *args),
                )

    def request_cancel(self, job_id: int) -> str | None:
        """Ask a job to stop: a queued job is cancelled at once, a running one within a batch.

        Returns the job's state afterwards (None when there is no such job of this space).
        """
        where, args = self.scope()
        with self._tx() as con:
            con.execute(
                "UPDATE jobs SET state = ?, finished = ?, message = 'cancelled before it started' "
                f"WHERE id = ? AND state = ?{where}",
                (CANCELLED, time.time(), job_id, QUEUED, *args),
            )
            con.execute(
                f"UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = ?{where}",
                (job_id, RUNNING, *args),
            )
        job = self.get(job_id)
        return job.state if job else None

    def cancel_requested(self, job_id: int) -> bool:
        """True when someone asked this job to stop."""
        where, args = self.scope()
        rows = self.read(f"SELECT cancel_requested FROM jobs WHERE id = ?{where}", (job_id, *args))
        return bool(rows and rows[0][0])

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
        where, args = self.scope()
        with self._tx() as con:
            con.execute(
                "UPDATE jobs SET state = ?, finished = ?, result = ?, error = ?, traceback = ?, "
                f"progress = CASE WHEN ? THEN 1 ELSE progress END WHERE id = ?{where}",
                (
                    state,
                    time.time(),
                    json.dumps(result) if result is not None else None,
                    error,
                    traceback,
                    state == DONE,
                    job_id,
                    *args,
                ),
            )

    def close(self) -> None:
        """Close this thread's connection."""
        if self.shared:
            db.close_pg(self.url)
            return
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None
