"""The job store's schema: SQLite's, with its versioned migrations, and PostgreSQL's, created
fresh at the latest version (a shared store starts new; nothing older ever lived on a server)."""

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
STORE_VERSION = 5


def _add_columns(con: sqlite3.Connection, *columns: tuple[str, str], table: str = "jobs") -> None:
    """Add each (name, SQL type) column the table lacks (a migration may be re-run)."""
    have = {row["name"] for row in con.execute(f"PRAGMA table_info({table})")}
    for name, kind in columns:
        if name not in have:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


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


WORKERS = """
CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started REAL NOT NULL,
    heartbeat REAL NOT NULL,
    job_id INTEGER
)
"""


def _add_owners(con: sqlite3.Connection) -> None:
    """5: people: jobs and sweeps carry their owner's space ('' alone on a laptop); a job counts
    its starts and names the worker ("host:pid") that runs it; workers are keyed by that name,
    so several workers, on several machines, can serve one store."""
    _add_columns(
        con,
        ("owner", "TEXT NOT NULL DEFAULT ''"),
        ("attempts", "INTEGER NOT NULL DEFAULT 0"),
        ("worker", "TEXT"),
    )
    _add_columns(con, ("owner", "TEXT NOT NULL DEFAULT ''"), table="sweeps")
    con.execute("UPDATE jobs SET attempts = 1 WHERE started IS NOT NULL AND attempts = 0")
    con.execute("CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, state)")
    con.execute("DROP TABLE IF EXISTS workers")  # who was alive is not worth keeping across versions
    con.execute(WORKERS)


MIGRATIONS = {2: _add_task_column, 3: _add_run_history, 4: _add_lane_column, 5: _add_owners}


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


# PostgreSQL: the same tables at STORE_VERSION, and the functions the shared SQL calls
# (core.jobs.db.Dialect): json_text/json_num read a JSON field (a document holding NaN, which
# Python writes and PostgreSQL's JSON refuses, is read with NaN as null), instr as SQLite's.
PG_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS store_version (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS jobs (
        id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, params TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'QUEUED', created DOUBLE PRECISION NOT NULL,
        started DOUBLE PRECISION, finished DOUBLE PRECISION, heartbeat DOUBLE PRECISION,
        worker_pid BIGINT, cancel_requested INTEGER NOT NULL DEFAULT 0,
        progress DOUBLE PRECISION NOT NULL DEFAULT 0, message TEXT, error TEXT, traceback TEXT,
        result TEXT, task TEXT, name TEXT, note TEXT, parent BIGINT, sweep_id BIGINT,
        deleted DOUBLE PRECISION, lane TEXT, owner TEXT NOT NULL DEFAULT '',
        attempts INTEGER NOT NULL DEFAULT 0, worker TEXT)""",
    "CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, id)",
    "CREATE INDEX IF NOT EXISTS jobs_lane ON jobs(state, lane, id)",
    "CREATE INDEX IF NOT EXISTS jobs_sweep ON jobs(sweep_id)",
    "CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, state)",
    """CREATE TABLE IF NOT EXISTS batches (job_id BIGINT NOT NULL, step BIGINT NOT NULL,
        loss DOUBLE PRECISION, lr DOUBLE PRECISION, mom DOUBLE PRECISION, PRIMARY KEY (job_id, step))""",
    """CREATE TABLE IF NOT EXISTS epochs (job_id BIGINT NOT NULL, epoch BIGINT NOT NULL, phase TEXT,
        step BIGINT, train_loss DOUBLE PRECISION, valid_loss DOUBLE PRECISION, metrics TEXT,
        seconds DOUBLE PRECISION, PRIMARY KEY (job_id, epoch))""",
    """CREATE TABLE IF NOT EXISTS workers (id TEXT PRIMARY KEY, host TEXT NOT NULL, pid BIGINT NOT NULL,
        started DOUBLE PRECISION NOT NULL, heartbeat DOUBLE PRECISION NOT NULL, job_id BIGINT)""",
    """CREATE TABLE IF NOT EXISTS sweeps (id BIGSERIAL PRIMARY KEY, name TEXT, spec TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'QUEUED', created DOUBLE PRECISION NOT NULL,
        finished DOUBLE PRECISION, budget INTEGER NOT NULL, study TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0, best_run BIGINT, error TEXT,
        owner TEXT NOT NULL DEFAULT '')""",
    """CREATE OR REPLACE FUNCTION json_doc(doc text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
    BEGIN
        RETURN doc::jsonb;
    EXCEPTION WHEN others THEN
        BEGIN
            RETURN regexp_replace(doc, '-?Infinity|NaN', 'null', 'g')::jsonb;
        EXCEPTION WHEN others THEN
            RETURN NULL;
        END;
    END $$""",
    """CREATE OR REPLACE FUNCTION json_text(doc text, path text[]) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT json_doc(doc) #>> path $$""",
    """CREATE OR REPLACE FUNCTION json_num(doc text, path text[]) RETURNS double precision
    LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE jsonb_typeof(json_doc(doc) #> path)
            WHEN 'number' THEN (json_doc(doc) #>> path)::double precision
            WHEN 'boolean' THEN CASE WHEN json_doc(doc) #>> path = 'true' THEN 1.0 ELSE 0.0 END
        END $$""",
    """CREATE OR REPLACE FUNCTION instr(haystack text, needle text) RETURNS integer LANGUAGE sql
    IMMUTABLE AS $$ SELECT strpos(haystack, needle) $$""",
]
_PG_MIGRATION_LOCK = 0x706C6179  # any constant: one process creates the schema at a time


def migrate_postgres(con) -> int:
    """Create the PostgreSQL schema at STORE_VERSION when missing; returns the version found
    (0 for a fresh database). A newer version is refused like SQLite's."""
    con.execute("BEGIN")
    try:
        con.execute("SELECT pg_advisory_xact_lock(?)", (_PG_MIGRATION_LOCK,))
        exists = con.execute("SELECT to_regclass('store_version') IS NOT NULL").fetchone()[0]
        found = con.execute("SELECT max(version) FROM store_version").fetchone()[0] if exists else None
        found = int(found or 0)
        if found > STORE_VERSION:
            raise UserError(
                f"The job store was written by a newer version of the playground (schema {found}); "
                "update the program to open it."
            )
        if found < STORE_VERSION:
            for statement in PG_SCHEMA:
                con.execute(statement)
            con.execute("DELETE FROM store_version")
            con.execute("INSERT INTO store_version(version) VALUES (?)", (STORE_VERSION,))
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    return found
