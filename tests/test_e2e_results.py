"""End-to-end in headless Chromium: train on flipped Digits, clean the top losses, undo, retrain."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from hashlib import sha256

import pytest
from playwright.sync_api import expect

from core.analysis.marks import load_marks
from core.data.journal import history
from core.jobs.store import Store
from tests.browser import browser_page, require_chromium, streamlit_server
from tests.results_helpers import folder_bytes

pytestmark = pytest.mark.browser
LONG = 180_000  # ms: the first run pays for starting the worker (importing fastai)
DATASET = "digits_flip10"


def wait_until(condition: Callable[[], object], timeout: float, what: str):
    """Poll the app's state (files, store) until condition holds; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


# Where on the screen the largest off-diagonal cell of the confusion matrix is, and its count.
HEATMAP = """() => [...document.querySelectorAll('.js-plotly-plot')]
    .find(gd => gd.data && gd.data[0].type === 'heatmap' && gd._fullLayout)"""
BIGGEST_MISTAKE = (
    """() => {
    const gd = ("""
    + HEATMAP
    + """)();
    const z = gd.data[0].z, labels = gd.data[0].x;
    let best = [0, 1];
    for (let i = 0; i < z.length; i++) for (let j = 0; j < z.length; j++)
        if (i !== j && z[i][j] > z[best[0]][best[1]]) best = [i, j];
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
    return [r.left + xa._offset + xa.d2p(labels[best[1]]), r.top + ya._offset + ya.d2p(labels[best[0]]),
            z[best[0]][best[1]]];
}"""
)


def choose(page, label: str, option: str) -> None:
    """Pick an option of a Streamlit selectbox by typing it, as a keyboard user would."""
    box = page.locator("[data-testid='stSelectbox']", has_text=label).first
    box.click()
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).first.click()


def mark(page, container, action: str) -> None:
    container.locator("label", has_text=re.compile(f"^{action}$")).click()


def test_train_clean_undo_apply_again_retrain_compare(fresh_workspace):
    require_chromium()
    store = Store()
    with streamlit_server(fresh_workspace) as url, browser_page() as page:
        # Train on Digits with 10% of the training labels flipped, for one epoch.
        page.goto(f"{url}/train")
        page.get_by_role("heading", name="Train").first.wait_for(timeout=60_000)
        choose(page, "Dataset", DATASET)
        box = page.get_by_label("Epochs", exact=True)
        box.fill("1")
        box.press("Enter")
        page.get_by_role("button", name=re.compile("Start training")).click()
        page.get_by_text("Run 1: done").first.wait_for(timeout=LONG)
        assert store.get(1).params["config"]["dataset"] == DATASET

        # The Results page: a click on the matrix's biggest mistake shows the images behind it.
        page.get_by_role("link", name="Results").click()
        page.wait_for_function(HEATMAP, timeout=60_000)
        x, y, count = page.evaluate(BIGGEST_MISTAKE)
        page.mouse.click(x, y)
        cell_cards = page.locator("[class*='st-key-cell_mark_']")
        cell_cards.first.wait_for(timeout=30_000)
        assert cell_cards.count() == min(12, count)

        # The top losses, largest first, each with its marks.
        page.get_by_role("heading", name="Top losses").wait_for(timeout=60_000)
        cards = page.locator("[class*='st-key-top_mark_']")
        cards.nth(11).wait_for(timeout=60_000)
        dataset = fresh_workspace / "datasets" / DATASET
        before = folder_bytes(dataset)
        for i in range(3):
            mark(page, cards.nth(i), "delete")
            wait_until(lambda n=i + 1: len(load_marks(DATASET)) == n, 30, f"mark {i + 1}")
        for i in (3, 4):
            mark(page, cards.nth(i), "relabel")
            wait_until(lambda n=i + 1: len(load_marks(DATASET)) == n, 30, f"mark {i + 1}")
        marks = load_marks(DATASET)
        assert sorted(m["action"] for m in marks.values()) == ["delete"] * 3 + ["relabel"] * 2
        page.get_by_text("Marked so far: 3 delete, 2 relabel, 0 keep.").wait_for(timeout=30_000)

        # A filter change hides some of them; back to both splits, every mark is still shown.
        choose(page, "Split", "validation")
        page.get_by_text(re.compile(r"^359 image\(s\), largest loss first")).wait_for(timeout=30_000)
        choose(page, "Split", "both")
        page.get_by_text(re.compile(r"^1797 image\(s\), largest loss first")).wait_for(timeout=30_000)
        for i, action in enumerate(["delete"] * 3 + ["relabel"] * 2):
            expect(cards.nth(i).locator("label:has(input:checked)")).to_have_text(action)
        assert load_marks(DATASET) == marks

        # Apply: the plan first, then the files move.
        page.get_by_role("button", name="Apply…").click()
        page.get_by_text("The plan: 3 deletes, 2 relabels.").wait_for(timeout=30_000)
        assert folder_bytes(dataset) == before
        page.get_by_role("button", name="Confirm and apply").click()
        page.get_by_text("Moved 3 file(s) to the trash and relabelled 2.").first.wait_for(timeout=30_000)
        after = folder_bytes(dataset)
        assert all(f not in after for f in marks)
        assert len(after) == len(before) - 3
        # each relabelled image is now in its new class's folder (same split), byte for byte
        arrived = set(after) - set(before)
        relabelled = {f: m["to"] for f, m in marks.items() if m["action"] == "relabel"}
        assert len(arrived) == len(relabelled) == 2
        for old, to in relabelled.items():
            folder = "/".join([*old.split("/")[:-2], to])
            there = [f for f in arrived if f.rsplit("/", 1)[0] == folder]
            assert [sha256(after[f]).hexdigest() for f in there] == [sha256(before[old]).hexdigest()], old

        # Undo: the folder is byte for byte what it was, and the marks are back.
        page.get_by_role("button", name="Undo the last change").click()
        page.get_by_text(re.compile("5 file\\(s\\) back where they were")).first.wait_for(timeout=30_000)
        assert folder_bytes(dataset) == before
        assert load_marks(DATASET) == marks

        # Apply again.
        page.get_by_role("button", name="Apply…").click()
        page.get_by_role("button", name="Confirm and apply").click()
        page.get_by_text("Moved 3 file(s) to the trash and relabelled 2.").first.wait_for(timeout=30_000)
        wait_until(
            lambda: [e.state for e in history(DATASET)] == ["applied", "undone"], 30, "the second apply"
        )

        # Retrain with the cleaned data, and see the comparison.
        page.get_by_role("button", name="Retrain with cleaned data").click()
        page.get_by_text("Run 2 (retrained) against run 1").wait_for(timeout=LONG)
        assert store.get(2).params == {"config": store.get(1).params["config"], "retrain_of": 1}
        assert store.get(2).result["n_train"] == store.get(1).result["n_train"] - sum(
            f.startswith("train/") and m["action"] == "delete" for f, m in marks.items()
        )
        page.locator("[data-testid='stMetric']", has_text="Validation accuracy, run 2").wait_for()
        page.screenshot(path=str(fresh_workspace / "results.png"), full_page=True)
