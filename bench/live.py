"""What watching a run costs: the Streamlit server's CPU per Train tab that follows a training run.

Run: .venv/bin/python -m bench.dashboard --live     # 1 and 5 watching tabs

Only the server process's own CPU time is charged to the tabs (read from /proc); the browsers'
CPU is reported beside it, and the worker's is left out (it trains either way).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from core.config import TrainConfig

TICK = os.sysconf("SC_CLK_TCK")
LONG_EPOCHS = 400  # long enough to outlast every measuring window; cancelled afterwards


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14, 15 of stat)


def descendants(root: int) -> list[int]:
    """Every process below root (children, their children, …)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        kids = parents.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def cmdline(pid: int) -> str:
    """A process's command line, spaces between its arguments ('' when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def server_pid(url: str) -> int:
    """The pid of the `streamlit run` server this process started for url."""
    port = url.rsplit(":", 1)[1]
    for pid in descendants(os.getpid()):
        line = cmdline(pid)
        if "streamlit run" in line and f"--server.port {port}" in line:
            return pid
    raise RuntimeError(f"no streamlit server on port {port} below this process")


def browser_pids() -> list[int]:
    """This process's Chromium processes (Playwright's browser and its renderers)."""
    return [p for p in descendants(os.getpid()) if "chrom" in cmdline(p).split(" ", 1)[0].lower()]


def watch(store, url: str, browser, tabs: int, seconds: float) -> dict:
    """Server (and browser) CPU per second while `tabs` Train tabs follow one running run."""
    from bench.dashboard import wait_running

    job_id = store.submit("train", {"config": TrainConfig(epochs=LONG_EPOCHS).to_dict()})
    pages = [browser.new_page(viewport={"width": 1280, "height": 900}) for _ in range(tabs)]
    try:
        for page in pages:
            page.goto(f"{url}/train")  # the first tab's monitor starts the worker
        wait_running(store, job_id)
        for page in pages:
            try:
                page.get_by_role("heading", name=f"Run {job_id}").first.wait_for(timeout=60_000)
                page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
            except Exception:
                print(page.inner_text("body")[-3000:], file=sys.stderr)
                raise
        time.sleep(3)  # past the first draw
        server = server_pid(url)
        chrome = browser_pids()
        s0, b0, t0 = cpu_seconds(server), sum(map(cpu_seconds, chrome)), time.monotonic()
        steps0 = len(store.batches(job_id))
        time.sleep(seconds)
        wall = time.monotonic() - t0
        s1, b1 = cpu_seconds(server), sum(map(cpu_seconds, chrome))
        steps = len(store.batches(job_id)) - steps0
    finally:
        store.request_cancel(job_id)
        for page in pages:
            page.close()
    deadline = time.monotonic() + 120
    while not store.get(job_id).finished_state and time.monotonic() < deadline:
        time.sleep(0.3)
    return {
        "tabs": tabs,
        "server_core_per_tab": round((s1 - s0) / wall / tabs, 4),
        "server_core_total": round((s1 - s0) / wall, 4),
        "browsers_core_total": round((b1 - b0) / wall, 4),
        "batches_recorded_in_window": steps,
        "window_s": round(wall, 1),
    }


def idle(url: str, seconds: float) -> float:
    """The server's CPU (cores) with no tab open: the floor the tabs are measured above."""
    server = server_pid(url)
    s0, t0 = cpu_seconds(server), time.monotonic()
    time.sleep(seconds)
    return round((cpu_seconds(server) - s0) / (time.monotonic() - t0), 4)


def live_main(tab_counts: tuple[int, ...] = (1, 5), seconds: float = 30) -> dict:
    """Print one JSON line: server CPU per watching Train tab, for each count of tabs."""
    import json
    import tempfile

    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS, streamlit_server

    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        os.environ["PLAYGROUND_WORKSPACE"] = str(ws)
        from core.data import datasets
        from core.jobs.store import Store

        datasets.resolve("digits")
        store = Store()
        with streamlit_server(ws) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                floor = idle(url, 10)  # before any tab: sessions of closed tabs linger a while
                rows = [watch(store, url, browser, n, seconds) for n in tab_counts]
            finally:
                browser.close()
        figures = {"live": rows, "server_core_no_tab": floor, "target_core_per_tab": 0.02}
        print(json.dumps(figures))
        return figures
