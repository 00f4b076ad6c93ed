"""End-to-end in headless Chromium: multi-label and segmentation through train, results and predict.

One epoch of each built-in (shapes_multi, shapes_seg) is trained from the Train page by the
real worker; the model is saved, and the Predict page is given an image of the dataset.
"""

from __future__ import annotations

import re

import pytest

from core.serving import predict
from tests.browser import browser_page, require_chromium, streamlit_server
from tests.test_e2e_results import choose

pytestmark = pytest.mark.browser
LONG = 240_000  # ms: the first run pays for starting the worker and drawing the dataset
WAIT = 90_000


def train_from_page(page, url: str, dataset: str | None, epochs: str = "1", run: int = 1) -> None:
    """Open Train (choosing dataset when given), set the epochs, start, wait for the run to end."""
    page.goto(f"{url}/train")
    page.get_by_role("heading", name="Train").first.wait_for(timeout=60_000)
    if dataset:
        choose(page, "Dataset", dataset)
    box = page.get_by_label("Epochs", exact=True)
    box.wait_for(timeout=WAIT)  # the first visit draws the dataset (and a busy machine is slow)
    box.fill(epochs)
    box.press("Enter")
    page.get_by_role("button", name=re.compile("Start training")).click()
    page.get_by_text(f"Run {run}: done").first.wait_for(timeout=LONG)


def save_model(page, name: str) -> None:
    """Save the finished run shown on the Train page and follow the link to Predict."""
    box = page.get_by_label("Model name", exact=True).and_(page.locator("input"))
    box.fill(name)
    box.press("Enter")
    page.get_by_role("button", name=re.compile("Save model")).click()
    page.get_by_text(f"Saved as {name} in the model library.").wait_for(timeout=WAIT)
    page.get_by_role("link", name="Try it on the Predict page").click()
    page.get_by_role("heading", name="Predict").first.wait_for(timeout=WAIT)


def save_and_open_predict(page, name: str, image) -> None:
    """Save the finished run as a model, follow the link to Predict and upload image."""
    save_model(page, name)
    page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(str(image))


def metric_value(page, label: str) -> str:
    """The text of the st.metric whose label is label, once it has one."""
    metric = page.locator("[data-testid='stMetric']", has_text=label).first
    metric.wait_for(timeout=WAIT)
    value = metric.locator("[data-testid='stMetricValue']")
    page.wait_for_function("el => el.innerText.trim().length > 0", arg=value.element_handle(), timeout=WAIT)
    return value.inner_text().strip()


def test_multi_label_train_threshold_and_predict(fresh_workspace):
    require_chromium()
    with streamlit_server(fresh_workspace) as url, browser_page() as page:
        train_from_page(page, url, "shapes_multi")
        page.get_by_text(re.compile("Multi-label", re.I)).first.wait_for(timeout=WAIT)

        # Results: the threshold slider moves the line on the metric-against-threshold curve.
        page.get_by_role("link", name="Results").click()
        page.get_by_role("heading", name=re.compile("threshold", re.I)).first.wait_for(timeout=WAIT)
        page.get_by_text("threshold 0.50").first.wait_for(timeout=WAIT)
        slider = page.get_by_role("slider").first
        slider.focus()
        slider.press("Home")  # to 1 %: the diary's question
        page.get_by_text("threshold 0.01").first.wait_for(timeout=WAIT)
        page.screenshot(path=str(fresh_workspace / "results_multi.png"), full_page=True)

        # Predict: the labels above the threshold, as the saved bundle itself gives them.
        page.goto(f"{url}/train")
        page.get_by_text("Run 1: done").first.wait_for(timeout=WAIT)
        image = fresh_workspace / "datasets" / "shapes_multi" / "images" / "00001.png"
        save_and_open_predict(page, "e2e_multi", image)
        shown = metric_value(page, "Labels")
        loaded = predict.load("e2e_multi")
        [pred] = predict.predict(
            loaded, [predict.prepare(image.read_bytes(), "x.png", loaded.info.size, loaded.info.channels)]
        )
        assert shown == pred.label(loaded.info.threshold)
        page.locator(".js-plotly-plot .barlayer .point").first.wait_for(timeout=WAIT)
        page.screenshot(path=str(fresh_workspace / "predict_multi.png"), full_page=True)


def test_segmentation_train_and_predict_a_mask_overlay(fresh_workspace):
    require_chromium()
    with streamlit_server(fresh_workspace) as url, browser_page() as page:
        train_from_page(page, url, "shapes_seg")
        image = fresh_workspace / "datasets" / "shapes_seg" / "images" / "00000.png"
        save_and_open_predict(page, "e2e_seg", image)
        page.get_by_text(re.compile("^the predicted mask over it")).first.wait_for(timeout=WAIT)
        largest = metric_value(page, "Largest class")
        assert largest.split()[0] in {"background", "circle", "square", "triangle"}
        page.get_by_text("Legend and share of the pixels per class").first.wait_for(timeout=WAIT)
        page.screenshot(path=str(fresh_workspace / "predict_seg.png"), full_page=True)
