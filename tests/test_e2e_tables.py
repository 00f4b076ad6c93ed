"""End-to-end in headless Chromium: a table and ratings through data, train, results and predict.

A CSV is uploaded on the Data page, its split changed in the roles editor, trained from the
Train page by the real worker, judged on Results, saved, and asked about one row on Predict
(the form's answer must be the saved bundle's). ratings_synth is trained the same way and asked
for a user's recommendations.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from core.serving import predict, predict_collab, predict_table
from tests.browser import browser_page, require_chromium, streamlit_server
from tests.test_e2e_results import choose
from tests.test_e2e_tasks import metric_value, save_model, train_from_page

pytestmark = pytest.mark.browser
WAIT = 90_000


def census_csv(path, n: int = 240) -> None:
    """A small table: a day (an id), a colour and a size that decide an income class."""
    rng = np.random.default_rng(0)
    colour = rng.choice(["red", "green", "blue"], n)
    size = rng.normal(0, 1, n).round(3)
    rich = (size + (colour == "red") * 1.5 + rng.normal(0, 0.3, n)) > 0.5
    frame = pd.DataFrame(
        {
            "day": np.arange(1, n + 1),
            "colour": colour,
            "size": size,
            "income": np.where(rich, ">50K", "<=50K"),
        }
    )
    frame.to_csv(path, index=False)


def test_upload_a_csv_set_its_split_train_read_results_and_predict_a_row(fresh_workspace, tmp_path):
    require_chromium()
    from playwright.sync_api import expect

    csv = tmp_path / "people.csv"
    census_csv(csv)
    with streamlit_server(fresh_workspace) as url, browser_page() as page:
        page.goto(f"{url}/data")
        page.get_by_role("heading", name="Data").first.wait_for(timeout=60_000)
        page.locator("[data-testid='stExpander'] summary", has_text="Add a dataset").click()
        page.get_by_role("tab", name="Table or ratings (CSV)").click()
        page.locator("[data-testid='stFileUploader']", has_text="CSV file").locator(
            "input[type='file']"
        ).set_input_files(str(csv))
        add = page.get_by_role("button", name="Add the table")
        expect(add).to_be_enabled(timeout=60_000)
        add.click()
        page.get_by_text("Added people: 240 rows as tabular classification").first.wait_for(timeout=WAIT)

        # Roles and split: the last fifth by day becomes the validation set (a cut in time).
        page.get_by_text("Roles and split", exact=True).first.click()
        page.get_by_text("ordered by a column", exact=True).click()
        choose(page, "Split column", "day")
        page.get_by_text("with 192 training and 48 validation rows").first.wait_for(timeout=WAIT)
        page.get_by_role("button", name=re.compile("Save roles and split")).click()
        page.get_by_text("the task is now tabular classification").first.wait_for(timeout=WAIT)

        train_from_page(page, url, "people", "4", run=1)
        page.get_by_role("link", name="Results").click()
        page.get_by_role("heading", name="Confusion matrix").first.wait_for(timeout=WAIT)
        page.screenshot(path=str(fresh_workspace / "results_table.png"), full_page=True)
        headings = page.get_by_role("heading").all_inner_texts()
        assert "Against gradient-boosted trees" in headings, headings
        assert page.get_by_role("heading", name="Apply the changes").count() == 0  # no image cleaner

        page.goto(f"{url}/train")
        page.get_by_text("Run 1: done").first.wait_for(timeout=WAIT)
        save_model(page, "e2e_people")
        # The form: a size far above the median, the colour the model saw most.
        loaded = predict.load("e2e_people")
        row = {f.name: f.default for f in predict_table.form_fields(loaded.info)}
        row["size"] = 2.5
        expected = predict_table.predict_rows(loaded, pd.DataFrame([row]))
        box = page.get_by_label("size", exact=True)
        box.fill("2.5")
        box.press("Enter")
        # The page answers live: once it shows the bundle's probability for this row, the class too.
        page.get_by_text(f"at {expected['probability'].iloc[0]:.1%}", exact=True).first.wait_for(timeout=WAIT)
        assert metric_value(page, "Prediction") == expected["predicted"].iloc[0]


def test_train_ratings_and_get_recommendations_for_a_user(fresh_workspace):
    require_chromium()
    with streamlit_server(fresh_workspace) as url, browser_page() as page:
        train_from_page(page, url, "ratings_synth", "3", run=1)
        page.get_by_role("link", name="Results").click()
        page.get_by_role("heading", name="RMSE against the baselines").first.wait_for(timeout=WAIT)
        page.get_by_role("heading", name="Item map").first.wait_for(timeout=WAIT)

        page.goto(f"{url}/train")
        page.get_by_text("Run 1: done").first.wait_for(timeout=WAIT)
        save_model(page, "e2e_ratings")
        page.get_by_role("heading", name="Recommendations for a user").first.wait_for(timeout=WAIT)
        loaded = predict.load("e2e_ratings")
        user = predict_collab.users(loaded.info)[0]
        expected = predict_collab.recommend(loaded, str(user), n=10, exclude_seen=True)
        # The sentence above the table names the user and how many items the engine ranks for them.
        page.get_by_text(
            re.compile(rf"The {len(expected)} items with the highest predicted rating for user {user}:")
        ).first.wait_for(timeout=WAIT)
        page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=WAIT)
        page.screenshot(path=str(fresh_workspace / "predict_ratings.png"), full_page=True)
