"""End-to-end: train from the Train page in headless Chromium against `streamlit run`."""

from __future__ import annotations

import re
import time

import pytest

from core.jobs.store import Store
from tests.browser import browser_page, require_chromium, streamlit_server

pytestmark = pytest.mark.browser
LONG = 180_000  # ms: the first run pays for starting the worker (importing fastai)


def _job_states(store: Store) -> dict[int, str]:
    return {j.id: j.state for j in store.jobs(limit=20)}


def _set_number(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")


def test_train_watch_stop_and_reload(fresh_workspace):
    require_chromium()
    store = Store()
    with streamlit_server(fresh_workspace) as url, browser_page() as page:
        page.goto(f"{url}/train")
        page.get_by_role("heading", name="Train").first.wait_for(timeout=60_000)
        _set_number(page, "Epochs", "1")
        page.get_by_role("button", name=re.compile("Start training")).click()
        # The live view appears, the curve draws and the run ends with its accuracy.
        page.get_by_text(re.compile(r"Run 1: (queued|running|done)")).first.wait_for(timeout=LONG)
        page.locator(".js-plotly-plot .scatterlayer .trace").first.wait_for(timeout=LONG)
        page.get_by_text("Run 1: done").first.wait_for(timeout=LONG)
        accuracy = page.locator("[data-testid='stMetric']", has_text="accuracy")
        accuracy.first.wait_for(timeout=30_000)
        value = float(accuracy.first.locator("[data-testid='stMetricValue']").inner_text().rstrip("%"))
        assert value > 80
        assert _job_states(store)[1] == "DONE"

        # A long second run: reload while it trains, and the progress goes on.
        _set_number(page, "Epochs", "200")
        page.get_by_role("button", name=re.compile("Start training")).click()
        page.get_by_text("Run 2: running").first.wait_for(timeout=LONG)
        page.locator("[data-testid='stProgress']").first.wait_for(timeout=30_000)
        before = store.get(2).progress
        page.reload()
        page.get_by_text("Run 2: running").first.wait_for(timeout=60_000)
        page.wait_for_function("() => document.body.innerText.match(/training — (\\d+)%/)", timeout=60_000)
        after_steps = len(store.batches(2))
        assert store.get(2).progress >= before and after_steps > 0

        # Stop it: it ends as cancelled, with its history kept.
        # The live view redraws every second; a click can land on a copy being replaced, so
        # click until the server has the request (bounded).
        deadline = time.monotonic() + 30
        while not store.get(2).cancel_requested and store.get(2).state == "RUNNING":
            assert time.monotonic() < deadline, "Stop never reached the server"
            page.get_by_role("button", name="Stop", exact=True).first.click()
            page.wait_for_timeout(1000)
        page.get_by_text("Run 2: cancelled").first.wait_for(timeout=60_000)
        assert _job_states(store)[2] == "CANCELLED"
        assert len(store.batches(2)) >= after_steps
        page.screenshot(path=str(fresh_workspace / "train.png"), full_page=True)
