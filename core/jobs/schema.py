"""The job store's SQLite schema and its versioned migrations."""

from __future__ import annotations

import sqlite3

from core.errors import UserError

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'QUEUED',
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    heartbeat REAL,
    worker_pid INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT,
    error TEXT,
    traceback TEXT,
    result TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, id);
CREATE TABLE IF NOT EXISTS batches (
    job_id INTEGER NOT NULL,
    step INTEGER NOT NULL,
    loss REAL,
    lr REAL,
    mom REAL,
    PRIMARY KEY (job_id, step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS epochs (
    job_id INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    phase TEXT,
    step INTEGER,
    train_loss REAL,
    valid_loss REAL,
    metrics TEXT,
    seconds REAL,
    PRIMARY KEY (job_id, epoch)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS workers (
    pid INTEGER PRIMARY KEY,
    started REAL NOT NULL,
    heartbeat REAL NOT NULL,
    job_id INTEGER
);
"""


# The schema's version lives in SQLite's user_version. 0 or 1 is the first schema (SCHEMA above,
# before versions were stamped); each later version is one migration, run once, in order, in
# a transaction, by whichever process opens the store first.
STORE_VERSION = 4


def _add_columns(con: sqlite3.Connection, *columns: tuple[str, str]) -> None:
    """Add each (name, SQL type) column the jobs table lacks (a migration may be re-run)."""
    have = {row["name"] for row in con.execute("PRAGMA table_info(jobs)")}
    for name, kind in columns:
        if name not in have:
            con.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")


def _add_task_column(con: sqlite3.Connection) -> None:
    """2: jobs.task, the kind of problem a job works on (train jobs before it: single_label)."""
    _add_columns(con, ("task", "TEXT"))
    con.execute(
        "UPDATE jobs SET task = coalesce(json_extract(params, '$.config.task'), 'single_label') "
        "WHERE task IS NULL AND json_extract(params, '$.config') IS NOT NULL"
    )


def _add_run_history(con: sqlite3.Connection) -> None:
    """3: run history: a name, a note, the parent run, the sweep, deletion; the sweeps table."""
    _add_columns(
        con,
        ("name", "TEXT"),  # what a person calls the run
        ("note", "TEXT"),
        ("parent", "INTEGER"),  # the run this one continues, or retrains after cleaning
        ("sweep_id", "INTEGER"),  # the sweep it is a member of
        ("deleted", "REAL"),  # when it was moved to the trash; NULL while it is listed
    )
    con.execute(
        "UPDATE jobs SET parent = json_extract(params, '$.retrain_of') "
        "WHERE parent IS NULL AND json_extract(params, '$.retrain_of') IS NOT NULL"
    )
    con.execute(SWEEPS)
    con.execute("CREATE INDEX IF NOT EXISTS jobs_sweep ON jobs(sweep_id)")


SWEEPS = """
CREATE TABLE IF NOT EXISTS sweeps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT,
    spec TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'QUEUED',
    created REAL NOT NULL,
    finished REAL,
    budget INTEGER NOT NULL,
    study TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    best_run INTEGER,
    error TEXT
)
"""


def _add_lane_column(con: sqlite3.Connection) -> None:
    """4: jobs.lane, the worker loop that runs a job: downloads in "io", the rest in "compute"."""
    _add_columns(con, ("lane", "TEXT"))
    # The kinds as they were at version 4; later kinds are placed by Store.submit.
    con.execute(
        "UPDATE jobs SET lane = CASE WHEN kind = 'download' THEN 'io' ELSE 'compute' END WHERE lane IS NULL"
    )
    con.execute("CREATE INDEX IF NOT EXISTS jobs_lane ON jobs(state, lane, id)")


MIGRATIONS = {2: _add_task_column, 3: _add_run_history, 4: _add_lane_column}


def migrate(con: sqlite3.Connection) -> int:
    """Bring the store's schema up to STORE_VERSION; returns the version it was at."""
    con.executescript(SCHEMA)
    con.execute("BEGIN IMMEDIATE")
    try:
        found = int(con.execute("PRAGMA user_version").fetchone()[0])
        if found > STORE_VERSION:
            raise UserError(
                f"The job store was written by a newer version of the playground (schema {found}); "
                "update the program to open it."
            )
        for version in range(max(found, 1) + 1, STORE_VERSION + 1):
            MIGRATIONS[version](con)
        con.execute(f"PRAGMA user_version = {STORE_VERSION}")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    return found
