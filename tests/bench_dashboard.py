"""Dashboard figures (reported, not asserted): first paint, page switches, training throughput.

Run: .venv/bin/python -m tests.bench_dashboard
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
    out = subprocess.run([sys.executable, "-m", "core", "train", "--epochs", str(EPOCHS)],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["images_per_second"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        os.environ["PLAYGROUND_WORKSPACE"] = str(ws)
        from core import datasets
        from core.jobs import Store

        datasets.resolve("digits")
        cli_throughput(ws)  # warm the caches once
        cli = cli_throughput(ws)
        store = Store()
        import urllib.request

        with streamlit_server(ws) as url, browser_page() as page:
            # 1. first page interactive after the health check answers
            with urllib.request.urlopen(f"{url}/_stcore/health"):
                pass
            t0 = time.perf_counter()
            page.goto(url)
            page.get_by_role("button", name="Train your first model").wait_for()
            first_paint = time.perf_counter() - t0

            # 2. a run from the Train page with the page open and polling
            page.goto(f"{url}/train")
            box = page.get_by_label("Epochs", exact=True)
            box.fill(str(EPOCHS))
            box.press("Enter")
            page.get_by_role("button", name="Start training").click()
            page.get_by_text("running").first.wait_for(timeout=120_000)
            # 3. page switches while it trains
            switches = []
            for title, heading in [("Model", "Model"), ("LR finder", "Learning-rate finder"),
                                   ("Train", "Train"), ("Home", "fastai playground")]:
                t = time.perf_counter()
                page.get_by_role("link", name=title).first.click()
                page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
                switches.append((title, round(time.perf_counter() - t, 3)))
            page.goto(f"{url}/train")
            job = store.jobs(limit=1, kind="train")[0]
            deadline = time.monotonic() + 300
            while not store.get(job.id).finished_state and time.monotonic() < deadline:
                time.sleep(0.5)
            ui = store.get(job.id).result["images_per_second"]
        figures = {
            "first_page_interactive_s": round(first_paint, 3),
            "page_switch_s": switches,
            "cli_images_per_second": cli,
            "dashboard_images_per_second": ui,
            "dashboard_vs_cli": round(ui / cli, 3),
            "config": TrainConfig(epochs=EPOCHS).to_dict()["arch"],
        }
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
