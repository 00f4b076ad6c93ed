"""Dashboard figures (reported, not asserted): first paint, page switches, training throughput;
with --history: the Runs page with 300 runs and Compare of 10 runs × 5,000 batches.

Run: .venv/bin/python -m bench.dashboard              # everything
     .venv/bin/python -m bench.dashboard --history    # only the Runs page and Compare
     .venv/bin/python -m bench.dashboard --live       # only server CPU per watching Train tab (1, 5)
     .venv/bin/python -m bench.dashboard --switches   # only first paint, page switches, throughput
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
        if new:
            return wait_running(store, new[0].id)
        assert time.monotonic() < deadline, "the run was never queued"
        time.sleep(0.2)


def wait_running(store, job_id: int) -> int:
    """job_id, once the worker has started it."""
    deadline = time.monotonic() + 120
    while store.get(job_id).state != "RUNNING":
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.2)
    return job_id


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
            page.wait_for_timeout(1500)
            switches = []  # each page's first visit in this session first (LR finder, Data: cold)
            for title, heading in [
                ("LR finder", "Learning-rate finder"),
                ("Train", "Train"),
                ("Data", "Data"),
                ("Home", "fastai playground"),
                ("Model", "Model"),
                ("LR finder", "Learning-rate finder"),
                ("Train", "Train"),
                ("Data", "Data"),
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


# --- run history: the Runs page with 300 runs, Compare of 10 runs × 5,000 batches -------------

N_RUNS, N_COMPARE, N_BATCHES = 300, 10, 5000
# The compare figure's runs as plotly holds them in the page (set once the figure has drawn).
DRAWN_RUNS = """() => {
  const fig = [...document.querySelectorAll('.js-plotly-plot')]
    .find(p => (p._fullData || []).some(t => Array.isArray(t.meta)));
  return fig ? new Set(fig._fullData.filter(t => Array.isArray(t.meta)).map(t => t.meta[0])).size : 0;
}"""


AXIS_TITLE = """() => {
  const fig = [...document.querySelectorAll('.js-plotly-plot')]
    .find(p => (p._fullData || []).some(t => Array.isArray(t.meta)));
  const axes = fig ? Object.keys(fig._fullLayout).filter(k => /^xaxis\\d*$/.test(k)).sort() : [];
  return axes.length ? fig._fullLayout[axes[axes.length - 1]].title.text : null;
}"""


def navigate(page, title: str, text: str | None) -> float:
    """Seconds from clicking a page's link (coming from Train) until it has drawn: `text` shows,
    or (None) the comparison has drawn all N_COMPARE runs."""
    page.get_by_role("link", name="Train").first.click()
    page.get_by_role("heading", name="Train").first.wait_for(timeout=60_000)
    page.wait_for_timeout(800)
    t = time.perf_counter()
    page.get_by_role("link", name=title).first.click()
    if text is None:
        page.wait_for_function(f"() => ({DRAWN_RUNS})() == {N_COMPARE}", timeout=60_000)
    else:
        page.get_by_text(text).first.wait_for(timeout=60_000)
    return round(time.perf_counter() - t, 3)


def x_choice(page, name: str):
    """One choice of the comparison's x-axis control."""
    return page.locator("[data-testid='stButtonGroup']").get_by_text(name, exact=True).first


def seed_history(store) -> list[int]:
    """N_RUNS finished runs (a few records each) and N_COMPARE long ones; returns the long ids."""
    import math

    from core.jobs.store import DONE

    def one(lr: float, seed: int, epochs: int, per_epoch: int) -> int:
        cfg = TrainConfig(lr=lr, seed=seed, epochs=epochs, bs=64)
        job_id = store.submit("train", {"config": cfg.to_dict()})
        store.claim_next(pid=1)
        steps = epochs * per_epoch
        store.add_batches(
            job_id, [(s, 2.3 * math.exp(-s / 400) + 0.05, lr, 0.9) for s in range(1, steps + 1)]
        )
        for e in range(epochs):
            store.add_epoch(
                job_id, e, 0.5 / (e + 1), 0.3 / (e + 1), {"accuracy": 0.9}, 1.0, (e + 1) * per_epoch
            )
        store.finish(
            job_id,
            DONE,
            result={"accuracy": 0.9 + seed * 1e-4, "valid_loss": 0.1, "seconds": 2.0, "n_valid": 359},
        )
        return job_id

    for i in range(N_RUNS - N_COMPARE):
        one(10 ** (-4 + 3 * (i % 10) / 10), i, 2, 20)
    return [one(10 ** (-4 + 0.3 * i), i, 20, N_BATCHES // 20) for i in range(N_COMPARE)]


def timed_figure(store, ids: list[int]) -> tuple[float, float, int]:
    """Seconds to read the curves and to build the figure (pure functions); points drawn."""
    from core.analysis import compare
    from dashboard.compare_figures import curves_figure

    jobs = [store.get(i) for i in ids]
    t0 = time.perf_counter()
    frame = compare.curves(store, jobs, x="batch")
    t1 = time.perf_counter()
    fig = curves_figure(frame, x="batch")
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, sum(len(t.x) for t in fig.data)


def history_main(rounds: int = 3) -> dict:
    """Print one JSON line: Runs page and Compare, in the browser and as pure functions."""
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        os.environ["PLAYGROUND_WORKSPACE"] = str(ws)
        from core.jobs.store import Store

        store = Store()
        long_ids = seed_history(store)
        read_s, build_s, points = timed_figure(store, long_ids)
        runs_s, compare_s, switch_s = [], [], []
        with streamlit_server(ws) as url, browser_page() as page:
            page.goto(f"{url}/train")
            page.get_by_role("heading", name="Train").first.wait_for(timeout=60_000)
            home_s = []
            for _ in range(rounds):  # the Runs page: click its link, wait until its table has drawn
                runs_s.append(navigate(page, "Runs", f"{N_RUNS} of {N_RUNS} runs shown."))
                home_s.append(navigate(page, "Home", "Train your first model"))  # the floor: a light page
            # Compare of the 10 long runs: first by its link (a whole page load, cold)
            t = time.perf_counter()
            page.goto(f"{url}/runs?run={','.join(map(str, long_ids))}")
            page.wait_for_function(f"() => ({DRAWN_RUNS})() == {N_COMPARE}", timeout=60_000)
            link_s = round(time.perf_counter() - t, 3)
            for _ in range(rounds):  # then after navigation (the session keeps the 10 runs chosen)
                compare_s.append(navigate(page, "Runs", None))
            for _ in range(rounds):  # and switching its x-axis: the figure redraws
                for axis in ("batch", "epoch"):
                    t = time.perf_counter()
                    x_choice(page, axis).click()
                    page.wait_for_function(f"() => ({AXIS_TITLE})() == '{axis}'", timeout=60_000)
                    switch_s.append(round(time.perf_counter() - t, 3))
                    page.wait_for_timeout(500)
        figures = {
            "runs_page_300_runs_interactive_s": runs_s,
            "home_page_navigation_s (for scale)": home_s,
            "compare_10x5000_after_navigation_s": compare_s,
            "compare_10x5000_by_link_full_page_load_s": link_s,
            "compare_10x5000_x_axis_switch_s": switch_s,
            "compare_curves_read_s": round(read_s, 3),
            "compare_figure_build_s": round(build_s, 3),
            "compare_points_drawn": points,
            "limit_s": 1.0,
        }
        print(json.dumps(figures))
        return figures


if __name__ == "__main__":
    from bench.live import live_main

    args = sys.argv[1:]
    if "--history" in args:
        history_main()
    elif "--live" in args:
        live_main()
    elif "--switches" in args:
        main()
    else:
        main()
        live_main()
        history_main()
