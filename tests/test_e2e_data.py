"""End-to-end: upload a zip of generated images in headless Chromium, see it, train on it."""

from __future__ import annotations

import re

import pytest

from core.jobs.store import Store
from tests.browser import browser_page, require_chromium, streamlit_server
from tests.inputs import class_images, zip_bytes

pytestmark = pytest.mark.browser
LONG = 180_000  # ms: the first run pays for starting the worker (importing fastai)


def _set_number(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")


def _metric(page, label: str) -> str:
    metric = page.locator("[data-testid='stMetric']", has_text=label).first
    return metric.locator("[data-testid='stMetricValue']").inner_text()


def test_upload_a_zip_see_its_overview_and_train_one_epoch(fresh_workspace, tmp_path):
    require_chromium()
    from playwright.sync_api import expect

    archive = tmp_path / "toys.zip"
    archive.write_bytes(
        zip_bytes(
            {
                **class_images(("cats", "dogs"), per_class=24, prefix="toys/", size=20),
                "toys/dogs/readme.png": b"this is not a picture",
            }
        )
    )
    store = Store()
    with streamlit_server(fresh_workspace) as url, browser_page() as page:
        page.goto(f"{url}/data")
        page.get_by_role("heading", name="Data").first.wait_for(timeout=60_000)
        page.locator("[data-testid='stExpander'] summary", has_text="Add a dataset").click()
        page.locator("[data-testid='stFileUploader'] input[type='file']").first.set_input_files(str(archive))
        add = page.get_by_role("button", name="Add the upload")
        expect(add).to_be_enabled(timeout=60_000)  # the browser has sent the file
        add.click()

        # The page says what was added and what was left out, and shows the new set.
        page.get_by_text(
            "Added toys: 48 images in 2 classes (cats 24, dogs 24). 1 file(s) skipped"
        ).first.wait_for(timeout=60_000)
        assert _metric(page, "images") == "48"
        assert _metric(page, "classes") == "2"
        page.locator(".js-plotly-plot .trace").first.wait_for(timeout=30_000)  # images per class
        page.get_by_text("every image is 20×20 pixels").first.wait_for(timeout=30_000)
        page.get_by_text("random 20% becomes the validation set").first.wait_for(timeout=30_000)
        assert page.locator("[data-testid='stImage'] img").count() >= 16  # eight samples a class
        page.screenshot(path=str(fresh_workspace / "data.png"), full_page=True)

        # The Train page (same browser session) has it selected; train one epoch on it.
        page.get_by_role("link", name="Train on this dataset").click()
        page.get_by_role("heading", name="Train").first.wait_for(timeout=60_000)
        _set_number(page, "Epochs", "1")
        _set_number(page, "Batch size", "16")
        start = page.get_by_role("button", name=re.compile("Start training"))
        expect(start).to_be_enabled(timeout=30_000)
        start.click()
        page.get_by_text("Run 1: done").first.wait_for(timeout=LONG)
        job = store.get(1)
        assert job.state == "DONE"
        assert job.params["config"]["dataset"] == "toys"
        assert job.params["config"]["epochs"] == 1
        assert job.result["classes"] == ["cats", "dogs"]
        assert job.result["n_train"] + job.result["n_valid"] == 48
        page.locator("[data-testid='stMetric']", has_text="accuracy").first.wait_for(timeout=30_000)
