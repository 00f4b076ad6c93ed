"""End-to-end: a real run trained through the CLI (its inline worker), then the dashboard served by
`streamlit run`, in headless Chromium, shows it on Home and in the sidebar."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.jobs.store import DONE, Store
from tests.apptest import ROOT
from tests.browser import browser_page, require_chromium, streamlit_server
from tests.conftest import subprocess_env

pytestmark = pytest.mark.browser


def test_home_shows_a_run_trained_from_the_cli(fresh_workspace):
    require_chromium()
    args = ["train", "--dataset", "digits", "--arch", "mnist_cnn", "--epochs", "1", "--size", "8"]
    out = subprocess.run(
        [sys.executable, "-m", "core", *args],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    job = Store().latest("train")
    assert job is not None and job.state == DONE, job
    accuracy = job.result["accuracy"]
    assert 0.5 < accuracy <= 1  # it really learned: chance is 0.1
    with streamlit_server(fresh_workspace) as url, browser_page() as page:
        page.goto(url)
        page.get_by_text("fastai playground").first.wait_for(timeout=30_000)
        page.get_by_text("digits_flip10").first.wait_for(timeout=30_000)
        runs = page.locator("[data-testid='stTable']").nth(1)
        runs.locator("td", has_text="DONE").first.wait_for(timeout=30_000)
        header = runs.locator("thead tr").first.locator("th").all_inner_texts()
        cells = runs.locator("tbody tr").first.locator("th, td").all_inner_texts()
        row = dict(zip([h.strip() for h in header], [c.strip() for c in cells]))
        assert row["state"] == "DONE" and row["kind"] == "train", row
        assert row["dataset"] == "digits" and row["arch"] == "mnist_cnn", row
        assert row["metric"] == "accuracy", row
        assert float(row["value"]) == pytest.approx(accuracy, abs=1e-4), row
        # the sidebar's current run is the newest training run in the store
        page.get_by_text(f"run {job.id}: done").first.wait_for(timeout=30_000)
        page.screenshot(path=str(fresh_workspace / "home.png"))
