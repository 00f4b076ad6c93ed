"""End-to-end: the dashboard served by `streamlit run`, in headless Chromium, shows the store."""

from __future__ import annotations

from core.jobs.store import DONE, Store
from tests.browser import browser_page, require_chromium, streamlit_server


def test_dashboard_shows_a_run_trained_from_the_cli(fresh_workspace):
    require_chromium()
    store = Store()
    job_id = store.submit("train", {"config": {"dataset": "digits", "arch": "mnist_cnn"}})
    store.claim_next(pid=1)
    store.finish(job_id, DONE, result={"run_id": job_id, "accuracy": 0.9777, "seconds": 3.2})
    with streamlit_server(fresh_workspace) as url, browser_page() as page:
        page.goto(url)
        page.get_by_text("fastai playground").first.wait_for(timeout=30_000)
        page.get_by_text("digits_flip10").first.wait_for(timeout=30_000)
        runs = page.locator("[data-testid='stTable']").nth(1)
        runs.locator("td", has_text="DONE").first.wait_for(timeout=30_000)
        assert "0.9777" in runs.text_content()
        page.screenshot(path=str(fresh_workspace / "home.png"))
