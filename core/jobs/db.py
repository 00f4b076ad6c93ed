"""The store's two database backends behind one small interface: SQLite (a file, the default)
and PostgreSQL (PLAYGROUND_DB=postgresql://…, psycopg 3), running the same SQL.

Callers write SQLite-flavoured SQL with `?` placeholders; on PostgreSQL `?` becomes `%s`, `%`
is escaped, and `x IS ?` (SQLite's null-safe equality) becomes `x IS NOT DISTINCT FROM %s`.
JSON fields are read through `Dialect.json_text` / `json_num`, which are json_extract on SQLite
and functions of the same meaning that the PostgreSQL schema creates. Rows behave like
sqlite3.Row on both: row["col"], row[0], tuple(row), row.keys(), dict(row).
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from core import workspace
from core.errors import UserError

ENV_VAR = "PLAYGROUND_DB"
_PG_SCHEMES = ("postgresql://", "postgres://")


def resolve(url: Path | str | None) -> str:
    """The store's address: url, else $PLAYGROUND_DB, else the workspace's SQLite file."""
    if url is None:
        url = os.environ.get(ENV_VAR, "").strip() or None
    if url is None:
        return str(workspace.db_path())
    text = str(url)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") - 1 :]
    return text


def is_postgres(url: str) -> bool:
    """True when url names a PostgreSQL server rather than an SQLite file."""
    return url.startswith(_PG_SCHEMES)


def sqlalchemy_url(url: str) -> str:
    """The same store as SQLAlchemy names it (Optuna's study storage)."""
    if is_postgres(url):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return f"sqlite:///{Path(url).resolve()}"


# --- rows ------------------------------------------------------------------------------


class Row(tuple):
    """A result row that reads like sqlite3.Row: by position, by column name, keys()."""

    def __new__(cls, values, names: tuple[str, ...], index: dict[str, int]):
        row = super().__new__(cls, values)
        row._names, row._index = names, index
        return row

    def __getitem__(self, key):
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key.lower()])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """The column names, in order."""
        return list(self._names)


def _row_factory(cursor):
    names = tuple(c.name for c in cursor.description or ())
    index = {n.lower(): i for i, n in enumerate(names)}
    return lambda values: Row(values, names, index)


# --- SQL translation -------------------------------------------------------------------

_TOKENS = re.compile(r"('(?:[^']|'')*')|(\bIS\s+NOT\s+\?)|(\bIS\s+\?)|(\?)|(%)", re.IGNORECASE)


@functools.lru_cache(maxsize=512)
def to_postgres(sql: str) -> str:
    """SQLite-flavoured SQL with ? placeholders, as psycopg takes it."""

    def swap(m: re.Match) -> str:
        literal, is_not, is_, mark, percent = m.groups()
        if literal is not None:
            return literal.replace("%", "%%")
        if is_not:
            return "IS DISTINCT FROM %s"
        if is_:
            return "IS NOT DISTINCT FROM %s"
        return "%s" if mark else "%%"

    return _TOKENS.sub(swap, sql)


class PgConnection:
    """A psycopg connection that takes the store's SQL (autocommit; BEGIN/COMMIT explicit)."""

    def __init__(self, url: str):
        import psycopg

        try:
            self.raw = psycopg.connect(url, autocommit=True, row_factory=_row_factory, connect_timeout=10)
        except psycopg.OperationalError as e:
            raise UserError(f"The job store at {redact(url)} cannot be reached: {e}".strip()) from e

    def execute(self, sql: str, args=()):
        """Run one statement; returns the cursor (fetchone, fetchall, rowcount)."""
        return self.raw.execute(to_postgres(sql), tuple(args))

    def executemany(self, sql: str, rows) -> None:
        """Run one statement for each row of arguments."""
        with self.raw.cursor() as cur:
            cur.executemany(to_postgres(sql), [tuple(r) for r in rows])

    @property
    def closed(self) -> bool:
        """True once the connection is closed (or was lost)."""
        return self.raw.closed or self.raw.broken

    def close(self) -> None:
        """Close the connection."""
        self.raw.close()


def redact(url: str) -> str:
    """The url without its password, for messages."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


_pg = threading.local()  # one connection per (thread, url): Store() is cheap to make anywhere


def pg_connection(url: str) -> PgConnection:
    """This thread's connection to the PostgreSQL store at url (reconnected when lost)."""
    held = getattr(_pg, "cons", None)
    if held is None:
        held = _pg.cons = {}
    con = held.get(url)
    if con is None or con.closed:
        con = held[url] = PgConnection(url)
    return con


def close_pg(url: str) -> None:
    """Close this thread's connection to url, if any."""
    con = getattr(_pg, "cons", {}).pop(url, None)
    if con is not None:
        con.close()


def sqlite_connection(path: str) -> sqlite3.Connection:
    """A new SQLite connection to the store file: WAL, a 30 s busy timeout, rows by name."""
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    con.row_factory = sqlite3.Row
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA busy_timeout=30000")
    con.execute("PRAGMA synchronous=NORMAL")
    return con


# --- dialects --------------------------------------------------------------------------


@dataclass(frozen=True)
class Dialect:
    """What differs between the backends in the SQL callers write."""

    name: str  # "sqlite" or "postgresql"

    @property
    def begin(self) -> str:
        """The statement that opens a write transaction."""
        return "BEGIN IMMEDIATE" if self.name == "sqlite" else "BEGIN"

    def json_text(self, column: str, *keys: str, expr: str | None = None) -> str:
        """SQL for the text (or number) at keys inside a JSON column; expr: an SQL expression
        giving one more key (a metric's name from another table)."""
        return self._json(column, keys, expr, "json_text")

    def json_num(self, column: str, *keys: str, expr: str | None = None) -> str:
        """SQL for the number at keys inside a JSON column (true/false as 1/0; NULL otherwise on
        PostgreSQL, where a number is never compared with text)."""
        return self._json(column, keys, expr, "json_num")

    def _json(self, column: str, keys: tuple[str, ...], expr: str | None, function: str) -> str:
        for key in keys:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"not a JSON field name: {key!r}")
        if self.name == "sqlite":
            path = "'$" + "".join(f".{k}" for k in keys)
            path += f".\"' || {expr} || '\"'" if expr else "'"
            return f"json_extract({column}, {path})"
        parts = [f"'{k}'" for k in keys] + ([expr] if expr else [])
        return f"{function}({column}, ARRAY[{', '.join(parts)}]::text[])"

    def lock_rows(self) -> str:
        """The clause that makes a claim's SELECT skip rows another worker is claiming."""
        return "" if self.name == "sqlite" else " FOR UPDATE OF j SKIP LOCKED"


SQLITE, POSTGRES = Dialect("sqlite"), Dialect("postgresql")
