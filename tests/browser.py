"""Helpers for end-to-end tests: a real `streamlit run` server and the system Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.apptest import APP, ROOT

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def require_chromium() -> None:
    """Skip when Chromium is missing, unless REQUIRE_BROWSER=1 (CI), where it is a failure."""
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return
    message = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(
    workspace: Path,
    timeout: float = 60,
    *,
    port: int | None = None,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
):
    """Run `streamlit run dashboard/app.py` on 127.0.0.1; yields its base URL.

    port: a free one unless given; args: more `streamlit run` options; env: more variables.
    """
    port = port or free_port()
    env = {**os.environ, "PLAYGROUND_WORKSPACE": str(workspace), "PYTHONUNBUFFERED": "1", **(env or {})}
    argv = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        APP,
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        *args,
    ]
    url = f"http://127.0.0.1:{port}"
    try:
        with running(argv, workspace / "streamlit.log", env) as proc:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"streamlit did not start: {(workspace / 'streamlit.log').read_text()}"
                    )
                time.sleep(0.2)
            yield url
    finally:
        stop_worker(workspace)


@contextmanager
def running(argv: list[str], log_path: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """Run argv in the project folder, its output in log_path; stopped (terminate, then kill)
    when the block ends."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def stop_worker(workspace: Path) -> None:
    """Stop the worker the dashboard started in this workspace (it outlives the server)."""
    import signal

    from core import workspace as ws

    old = os.environ.get(ws.ENV_VAR)
    os.environ[ws.ENV_VAR] = str(workspace)
    try:
        from core.jobs.worker import lock_holder

        pid = lock_holder()
        if pid:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            while lock_holder() and time.monotonic() < deadline:
                time.sleep(0.1)
            if lock_holder():
                os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    finally:
        if old is None:
            os.environ.pop(ws.ENV_VAR, None)
        else:
            os.environ[ws.ENV_VAR] = old


@contextmanager
def browser_page():
    """A Playwright page in the system Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            yield page
        finally:
            browser.close()


@contextmanager
def chromium():
    """The system Chromium under Playwright; each person gets their own browser.new_context()."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
