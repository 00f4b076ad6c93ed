"""End-to-end in headless Chromium: save a trained model, download it, and predict an upload."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile

import pytest

from core.serving import predict
from tests.browser import browser_page, require_chromium, streamlit_server
from tests.model_helpers import seed_finished_run, trained_model

pytestmark = pytest.mark.browser
WAIT = 90_000  # ms: the Predict page's first load imports PyTorch in the server


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_model(tmp_path_factory)


def test_save_download_and_predict_in_the_browser(trained, fresh_workspace):
    require_chromium()
    run_id = seed_finished_run(trained)  # a finished run, as the worker leaves one
    image = trained.valid_files[6]  # a 3 from Digits' validation set
    with streamlit_server(fresh_workspace) as url, browser_page() as page:
        page.goto(f"{url}/train")
        page.get_by_text(f"Run {run_id}: done").first.wait_for(timeout=WAIT)
        name_box = page.get_by_label("Model name", exact=True).and_(page.locator("input"))
        name_box.fill("e2e_digits")
        name_box.press("Enter")
        page.get_by_role("button", name=re.compile("Save model")).click()
        page.get_by_text("Saved as e2e_digits in the model library.").wait_for(timeout=WAIT)

        # The bundle downloads as one zip with the weights, their config and predict.py.
        with page.expect_download(timeout=WAIT) as download:
            page.get_by_role("button", name=re.compile(r"Download bundle \(\.zip\)")).click()
        assert download.value.suggested_filename == "e2e_digits.zip"
        data = download.value.path().read_bytes()
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            assert sorted(zf.namelist()) == [
                "e2e_digits/config.json",
                "e2e_digits/model.safetensors",
                "e2e_digits/predict.py",
            ]
            config = json.loads(zf.read("e2e_digits/config.json"))
            weights = zf.read("e2e_digits/model.safetensors")
        assert config["weights"]["sha256"] == hashlib.sha256(weights).hexdigest()
        assert config["classes"] == list("0123456789")

        # What the model will say, worked out here from the saved bundle.
        loaded = predict.load("e2e_digits")
        expected, p = predict.predict(loaded, [predict.prepare(image.read_bytes(), "x", 8, 1)])[0].best
        assert p >= 0.5

        page.get_by_role("link", name="Try it on the Predict page").click()
        page.get_by_role("heading", name="Predict").first.wait_for(timeout=WAIT)
        page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(str(image))
        metric = page.locator("[data-testid='stMetric']", has_text="Prediction")
        metric.first.wait_for(timeout=WAIT)
        value = metric.first.locator("[data-testid='stMetricValue']")
        page.wait_for_function(
            "el => el.innerText.trim().length > 0", arg=value.element_handle(), timeout=WAIT
        )
        assert value.inner_text().strip() == expected
        # the probability chart: five bars, the most likely labelled with its percentage
        bars = page.locator(".js-plotly-plot .barlayer .point")
        bars.nth(4).wait_for(timeout=WAIT)
        assert bars.count() == 5
        labels = page.locator(".js-plotly-plot .barlayer text").all_text_contents()
        assert f"{p:.1%}" in labels
        page.get_by_text("as the model sees it: 8×8 px, grey").wait_for(timeout=WAIT)
        page.screenshot(path=str(fresh_workspace / "predict.png"), full_page=True)

        # A digit model also takes a drawing: the canvas component works in this Streamlit.
        page.get_by_text("Draw a digit").click()
        canvas = page.locator("canvas").last
        canvas.wait_for(timeout=WAIT)
        page.get_by_text("Draw one digit, large, in the middle").wait_for(timeout=WAIT)
        assert not metric.count()  # the uploaded file's answer is gone
        box = canvas.bounding_box()
        page.mouse.move(box["x"] + 140, box["y"] + 40)
        page.mouse.down()
        for step in range(1, 21):
            page.mouse.move(box["x"] + 140, box["y"] + 40 + step * 10)
        page.mouse.up()
        metric.first.wait_for(timeout=WAIT)
        page.get_by_text("drawing.png: most likely").wait_for(timeout=WAIT)
