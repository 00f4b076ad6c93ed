"""End-to-end in headless Chromium: train on flipped Digits, run the out-of-sample job, see how many
labels look wrong, open a cell of the confident joint, relabel them all in one action with the
preview, and undo."""

from __future__ import annotations

import re

import pytest

from core.analysis import label_issues
from core.analysis.marks import load_marks
from core.jobs.store import Store
from tests.browser import browser_page, require_chromium, streamlit_server
from tests.results_helpers import folder_bytes
from tests.test_e2e_results import LONG, choose, wait_until

pytestmark = pytest.mark.browser
DATASET = "digits_flip10"
COUNT = re.compile(r"About (\d+) of (\d+) training labels look wrong")

# Scroll the confident joint into view; where its largest off-diagonal cell is on the screen.
BIGGEST_FLIP = """() => {
    const gd = [...document.querySelectorAll('.js-plotly-plot')].find(g => g.data && g._fullLayout
        && g.data[0].type === 'heatmap' && /true label/.test(g._fullLayout.xaxis.title.text));
    gd.scrollIntoView({block: 'center'});
    const z = gd.data[0].z, labels = gd.data[0].x;
    let best = [0, 1];
    for (let i = 0; i < z.length; i++) for (let j = 0; j < z.length; j++)
        if (i !== j && z[i][j] > z[best[0]][best[1]]) best = [i, j];
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
    return [r.left + xa._offset + xa.d2p(labels[best[1]]), r.top + ya._offset + ya.d2p(labels[best[0]])];
}"""


def test_out_of_sample_then_relabel_the_likely_wrong_in_one_action_and_undo(fresh_workspace):
    require_chromium()
    store = Store()
    with streamlit_server(fresh_workspace) as url, browser_page() as page:
        page.goto(f"{url}/train")
        page.get_by_role("heading", name="Train").first.wait_for(timeout=60_000)
        choose(page, "Dataset", DATASET)
        box = page.get_by_label("Epochs", exact=True)
        box.fill("1")
        box.press("Enter")
        page.get_by_role("button", name=re.compile("Start training")).click()
        page.get_by_text("Run 1: done").first.wait_for(timeout=LONG)

        # Results: rank out of sample, 2 folds, as a job.
        page.get_by_role("link", name="Results").click()
        page.get_by_role("heading", name="Top losses").wait_for(timeout=60_000)
        page.get_by_text("out-of-sample loss (k-fold)", exact=True).click()
        folds = page.get_by_label("Folds (k)", exact=True)
        folds.fill("2")
        folds.press("Enter")
        page.get_by_role("button", name="Compute the out-of-sample ranking").click()
        headline = page.get_by_text(COUNT).first
        headline.wait_for(timeout=LONG)
        (cv,) = store.jobs(kind="crossval")
        assert cv.params["k"] == 2 and cv.params["source_run"] == 1
        from core.train.crossval import load_result

        issues = label_issues.find(load_result(cv.id), DATASET)
        k, n = map(int, COUNT.search(headline.inner_text()).groups())
        assert (k, n) == (issues.count, issues.n) and k > 0

        # The "likely wrong only" filter keeps the flagged images.
        page.get_by_text("Likely wrong only", exact=True).click()
        page.get_by_text(re.compile(rf"^{k} image\(s\) whose label looks wrong")).wait_for(timeout=30_000)

        # A click on the joint's biggest off-diagonal cell shows the images behind it.
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2")
        x, y = page.evaluate(BIGGEST_FLIP)
        page.mouse.click(x, y)
        page.locator("[class*='st-key-li_mark_']").first.wait_for(timeout=30_000)

        # One action marks them all, and the plan is shown before anything moves.
        dataset = fresh_workspace / "datasets" / DATASET
        before = folder_bytes(dataset)
        relabel = sum(bool(x) and s != g for g, s, x in zip(issues.given, issues.suggested, issues.flagged))
        page.get_by_role("button", name="Mark all likely wrong as relabel to the suggested class").click()
        page.get_by_text(f"The plan: 0 deletes, {relabel} relabels.").wait_for(timeout=30_000)
        marks = load_marks(DATASET)
        assert len(marks) == relabel and {m["action"] for m in marks.values()} == {"relabel"}
        assert folder_bytes(dataset) == before

        page.get_by_role("button", name="Confirm and apply").click()
        page.get_by_text(f"relabelled {relabel}.").first.wait_for(timeout=30_000)
        after = folder_bytes(dataset)
        assert all(f not in after for f in marks) and len(after) == len(before)

        # Undo: every file back byte for byte, the marks back.
        page.get_by_role("button", name="Undo the last change").click()
        page.get_by_text(re.compile(rf"{relabel} file\(s\) back where they were")).first.wait_for(
            timeout=30_000
        )
        wait_until(lambda: folder_bytes(dataset) == before, 30, "the undo")
        assert load_marks(DATASET) == marks
        page.get_by_text(COUNT).first.wait_for(timeout=30_000)
        page.screenshot(path=str(fresh_workspace / "label_issues.png"), full_page=True)
