"""Dashboard figures (reported, not asserted): first paint, page switches, training throughput.

Run: .venv/bin/python -m bench.dashboard
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.config import TrainConfig
from tests.browser import ROOT, browser_page, streamlit_server

EPOCHS = 12


def cli_throughput(workspace: Path) -> float:
    """images/second of `python -m core train` with the bench config."""
    env = dict(os.environ, PLAYGROUND_WORKSPACE=str(workspace))
    out = subprocess.run(
        [sys.executable, "-m", "core", "train", "--epochs", str(EPOCHS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["images_per_second"]


def start_from_train_page(page, url: str, store) -> int:
    """Queue a run of EPOCHS epochs from the Train page; returns its job id once it runs."""
    page.goto(f"{url}/train")
    box = page.get_by_label("Epochs", exact=True)
    box.fill(str(EPOCHS))
    box.press("Enter")
    before = {j.id for j in store.jobs(limit=100)}
    page.get_by_role("button", name="Start training").click()
    deadline = time.monotonic() + 120
    while True:
        new = [j for j in store.jobs(limit=100) if j.id not in before]
        if new and new[0].state == "RUNNING":
            return new[0].id
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.2)


def wait_done(store, job_id: int) -> float:
    """images/second of a finished job."""
    deadline = time.monotonic() + 300
    while not store.get(job_id).finished_state:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    return store.get(job_id).result["images_per_second"]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def main(rounds: int = 3) -> None:
    """Print one JSON line of figures; throughput is compared in alternating rounds."""
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        os.environ["PLAYGROUND_WORKSPACE"] = str(ws)
        import urllib.request

        from core.data import datasets
        from core.jobs.store import Store

        datasets.resolve("digits")
        cli_throughput(ws)  # warm the decoded-image cache once
        store = Store()
        with streamlit_server(ws) as url, browser_page() as page:
            # 1. first page interactive after the health check answers
            with urllib.request.urlopen(f"{url}/_stcore/health"):
                pass
            t0 = time.perf_counter()
            page.goto(url)
            page.get_by_role("button", name="Train your first model").wait_for()
            first_paint = time.perf_counter() - t0

            # 2. page switches while a run trains
            job_id = start_from_train_page(page, url, store)
            page.get_by_role("link", name="Model").first.click()  # build (and cache) the model
            page.get_by_text("Parameters").first.wait_for(timeout=60_000)
            switches = []
            for title, heading in [
                ("Model", "Model"),
                ("LR finder", "Learning-rate finder"),
                ("Train", "Train"),
                ("Home", "fastai playground"),
                ("LR finder", "Learning-rate finder"),
                ("Train", "Train"),
            ]:
                t = time.perf_counter()
                page.get_by_role("link", name=title).first.click()
                page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
                switches.append((title, round(time.perf_counter() - t, 3)))
                page.wait_for_timeout(1500)  # a person reads the page before switching again
            wait_done(store, job_id)

            # 3. throughput: CLI, Train page open and polling, page closed — alternating
            cli, open_page, closed = [], [], []
            for _ in range(rounds):
                cli.append(cli_throughput(ws))
                job_id = start_from_train_page(page, url, store)
                open_page.append(wait_done(store, job_id))
                job_id = start_from_train_page(page, url, store)
                page.goto("about:blank")
                closed.append(wait_done(store, job_id))
        figures = {
            "first_page_interactive_s": round(first_paint, 3),
            "page_switch_s": switches,
            "cli_images_per_second": cli,
            "page_open_images_per_second": open_page,
            "page_closed_images_per_second": closed,
            "page_open_vs_cli": round(median(open_page) / median(cli), 3),
            "page_open_vs_page_closed": round(median(open_page) / median(closed), 3),
            "config": f"{TrainConfig().arch}, {EPOCHS} epochs, Digits",
        }
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
