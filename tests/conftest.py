"""Shared fixtures: every test writes into a temporary workspace, never the real one.

Paths of the app and the repository live in tests/apptest.py (ROOT, APP); fixtures live here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core import workspace  # noqa: E402

# Fixtures defined beside their helpers, registered here once for every test module: a module
# needs no copy (`results_ws = results_helpers.results_ws`) to use them.
from tests.results_helpers import results_ws, template_ws, trained_template  # noqa: E402, F401


@pytest.fixture(scope="session", autouse=True)
def session_workspace(tmp_path_factory) -> Path:
    """One workspace for the whole session, so Digits is written and decoded only once."""
    root = tmp_path_factory.mktemp("workspace")
    os.environ[workspace.ENV_VAR] = str(root)
    return root


@pytest.fixture
def fresh_workspace(tmp_path, monkeypatch) -> Path:
    """A workspace of this test's own (its own store, lock and datasets)."""
    root = tmp_path / "ws"
    root.mkdir()
    monkeypatch.setenv(workspace.ENV_VAR, str(root))
    return root


@pytest.fixture(scope="module")
def one_thread():
    """Two torch threads on two busy cores stall each other; one gives steady timings."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def no_worker(monkeypatch):
    """Record the dashboard's worker starts instead of spawning a process."""
    from dashboard import runs

    started = []
    monkeypatch.setattr(runs, "ensure_running", lambda: started.append(1) or True)
    return started


@pytest.fixture
def store(tmp_path):
    """An empty job store in a temporary file."""
    from core.jobs.store import Store

    s = Store(tmp_path / "runs.sqlite")
    yield s
    s.close()


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a child `python -m core …` (the current workspace, unbuffered)."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_worker_once(timeout: float) -> subprocess.CompletedProcess:
    """Run `python -m core worker --once` in the current workspace; its output is captured."""
    return subprocess.run(
        [sys.executable, "-m", "core", "worker", "--once"],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def kill_and_reap(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGKILL a child process unless it has already ended, and wait for it."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout)


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory) -> Iterator[str]:
    """A PostgreSQL server for the session: $PLAYGROUND_TEST_PG, else one tests/pg.py starts on
    127.0.0.1 (skipped when PostgreSQL is not installed, unless REQUIRE_PG=1). Tests take a
    database of their own from it (pg_database)."""
    from tests import pg

    given = os.environ.get("PLAYGROUND_TEST_PG", "").strip()
    if given:
        yield given
        return
    if not pg.available():
        if os.environ.get("REQUIRE_PG") == "1":
            pytest.fail("REQUIRE_PG=1 but PostgreSQL is not installed (no initdb).")
        pytest.skip("PostgreSQL is not installed; the store's PostgreSQL tests need it.")
    folder = Path(tempfile.mkdtemp(prefix="playground-pg-"))
    try:
        yield pg.start(folder)
    finally:
        pg.stop(folder)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_database(pg_url, monkeypatch) -> Iterator[str]:
    """A fresh PostgreSQL database of this test's own (dropped afterwards), set as PLAYGROUND_DB,
    so this test's stores, workers and locks are independent of every other test's."""
    import psycopg

    from core.jobs import db

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    url = pg_url.rsplit("/", 1)[0] + "/" + name
    monkeypatch.setenv(db.ENV_VAR, url)
    saved = dict(workspace.LOCK_BACKEND)
    yield url
    db.close_pg(url)
    workspace.LOCK_BACKEND.clear()
    workspace.LOCK_BACKEND.update(saved)
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
