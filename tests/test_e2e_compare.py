"""End-to-end in headless Chromium: train two runs with different learning rates from the Train
page, compare them (two curves, the one differing setting), continue one by 2 epochs and see its
curve extend past its parent's."""

from __future__ import annotations

import re
import time

import pytest

from core.jobs.store import Store
from tests.browser import browser_page, require_chromium, streamlit_server

pytestmark = pytest.mark.browser
LONG = 180_000  # ms: the first run pays for starting the worker (importing fastai)

# The compare figure's traces as plotly holds them in the page: [run, series, max x] each.
TRACES = """() => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  const fig = plots.find(p => (p.data || []).some(t => Array.isArray(t.meta) && t.meta.length == 2));
  if (!fig) return null;
  const full = fig._fullData || [];  // x decoded (data may hold plotly's base64 arrays)
  return full.filter(t => Array.isArray(t.meta))
    .map(t => [t.meta[0], t.meta[1], Math.max(...Array.from(t.x))]);
}"""


def _set_number(page, label: str, value: str, key: str = "Enter") -> None:
    """Type value into the number input labelled label; Enter applies it (inside a form Enter
    would submit the form, so a form's field is left with Tab and its button pressed instead)."""
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press(key)


def _wait_done(store: Store, job_id: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while store.get(job_id) is None or not store.get(job_id).finished_state:
        assert time.monotonic() < deadline, f"run {job_id} did not finish"
        time.sleep(0.5)
    assert store.get(job_id).state == "DONE", store.get(job_id).error


def _traces(page, expect: int, timeout: float = 60) -> list:
    deadline = time.monotonic() + timeout
    while True:
        traces = page.evaluate(TRACES)
        if traces and len({t[0] for t in traces}) >= expect:
            return traces
        assert time.monotonic() < deadline, f"the comparison never drew {expect} runs: {traces}"
        page.wait_for_timeout(500)


def test_train_two_compare_and_continue(fresh_workspace):
    require_chromium()
    store = Store()
    with streamlit_server(fresh_workspace) as url, browser_page() as page:
        page.goto(f"{url}/train")
        page.get_by_role("heading", name="Train").first.wait_for(timeout=60_000)
        _set_number(page, "Epochs", "1")
        page.get_by_role("button", name=re.compile("Start training")).click()
        page.get_by_text("Run 1: done").first.wait_for(timeout=LONG)
        _set_number(page, "Learning rate (exact)", "1.00e-02")
        page.wait_for_timeout(500)
        page.get_by_role("button", name=re.compile("Start training")).click()
        page.get_by_text("Run 2: done").first.wait_for(timeout=LONG)
        lrs = [store.get(i).params["config"]["lr"] for i in (1, 2)]
        assert lrs[0] != lrs[1] and lrs[1] == pytest.approx(1e-2)

        # Compare: the Runs page, both runs chosen in its list.
        page.get_by_role("link", name="Runs").first.click()
        page.get_by_role("heading", name="Runs").first.wait_for(timeout=60_000)
        picker = page.get_by_role("combobox", name="Runs to open or compare")
        for run in ("run 1", "run 2"):
            picker.click()
            page.get_by_role("option", name=run, exact=True).click()
            page.keyboard.press("Escape")
        page.get_by_role("heading", name="Compare 2 runs").wait_for(timeout=60_000)
        traces = _traces(page, 2)
        assert {t[0] for t in traces if t[1] == "train_loss"} == {1, 2}  # two training curves
        table = page.locator("[data-testid='stTable']").first
        table.wait_for(timeout=30_000)
        rows = table.locator("tbody tr")
        assert rows.count() == 1 and rows.first.locator("th").inner_text().strip() == "lr"
        assert "0.01" in rows.first.inner_text()
        page.screenshot(path=str(fresh_workspace / "compare.png"), full_page=True)

        # Continue run 1 by 2 epochs, from its own page (opened by its link).
        page.goto(f"{url}/runs?run=1")
        page.get_by_role("heading", name="Run 1").first.wait_for(timeout=60_000)
        _set_number(page, "More epochs", "2", key="Tab")  # in the Continue form: no submit yet
        page.get_by_role("button", name="Continue training").click()
        page.get_by_role("heading", name="Compare 2 runs").wait_for(timeout=60_000)
        child = max(j.id for j in store.jobs(limit=10))
        assert store.get(child).parent == 1
        _wait_done(store, child)
        page.reload()
        page.get_by_role("heading", name="Compare 2 runs").wait_for(timeout=60_000)
        end = {}
        deadline = time.monotonic() + 60
        while child not in end or end[child] <= end.get(1, 0):
            assert time.monotonic() < deadline, f"the continued curve did not extend: {end}"
            end = {t[0]: t[2] for t in _traces(page, 2) if t[1] == "train_loss"}
            page.wait_for_timeout(500)
        assert end[1] == pytest.approx(1, abs=0.05) and end[child] == pytest.approx(3, abs=0.05)
        page.screenshot(path=str(fresh_workspace / "continued.png"), full_page=True)
