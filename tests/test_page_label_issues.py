"""AppTest: the Results page's likely label errors (confident learning on a stored crossval result):
the estimated count, the "likely wrong only" filter, marking them all and the plan, the confident
joint's cells, and the planted flips table."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import workspace
from core.analysis import label_issues
from core.analysis.marks import load_marks
from core.data import datasets
from core.jobs.store import DONE, Store
from dashboard import cleaner, state
from tests.apptest import chart_spec, open_page
from tests.results_helpers import CFG, folder_bytes

PAGE = "../pages/results.py"
DATASET = CFG.dataset
MARK_ALL = "Mark all likely wrong as relabel to the suggested class"


@pytest.fixture(scope="module")
def stored_crossval(trained_template, tmp_path_factory) -> tuple[dict, dict]:
    """A 2-fold crossval of the template's run 1, computed once: (its result file, its job result)."""
    import torch

    from core.train import crossval

    template, result = trained_template
    root = tmp_path_factory.mktemp("label_issues_cv")
    for name in ("runs", "cache", f"datasets/{DATASET}"):
        shutil.copytree(template / name, root / name, symlinks=True)
    (root / "datasets" / "digits").symlink_to(template / "datasets" / "digits")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(workspace.ENV_VAR, str(root))
            store = Store()
            run = store.submit("train", {"config": CFG.to_dict()})
            store.claim_next(pid=1)
            store.finish(run, DONE, result=result)
            cv = store.submit("crossval", {"config": CFG.to_dict(), "k": 2, "source_run": run})
            store.claim_next(pid=1)
            out = crossval.run_crossval_job(store.get(cv), store)
            return json.loads(crossval.result_path(cv).read_text()), out
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def issues_ws(results_ws, stored_crossval, no_worker):
    """results_ws (run 1) with a finished crossval job 2 of it, its result stored."""
    from core.train.crossval import result_path

    result, out = stored_crossval
    store = Store()
    cv = store.submit("crossval", {"config": CFG.to_dict(), "k": 2, "source_run": 1})
    store.claim_next(pid=1)
    result_path(cv).write_text(json.dumps({**result, "job_id": cv}))
    store.finish(cv, DONE, result=out)
    return results_ws


def engine(method: str = "self_confidence") -> label_issues.LabelIssues:
    from core.train.crossval import load_result

    return label_issues.find(load_result(2), DATASET, method)


def flagged_files(issues) -> list[str]:
    return issues.ranked(likely_only=True)["file"].tolist()


def table(at: AppTest, *columns: str):
    return next(d.value for d in at.dataframe if all(c in d.value.columns for c in columns))


def test_the_page_says_how_many_labels_look_wrong_and_where(issues_ws):
    at = open_page(PAGE)
    issues = engine()
    assert 0 < issues.count < issues.n == 1438
    text = f"About {issues.count} of {issues.n} training labels look wrong"
    assert any(text in m.value for m in at.markdown), [m.value for m in at.markdown][:5]
    # the confident joint: given down, true across, the engine's figures, summing to one
    spec = chart_spec(at, "true label (estimated)")
    heat = next(t for t in spec["data"] if t["type"] == "heatmap")
    assert heat["y"] == issues.vocab and heat["x"] == issues.vocab
    assert np.allclose(heat["z"], issues.joint) and np.isclose(np.sum(heat["z"]), 1.0)
    noise = table(at, "class", "estimated_wrong", "rate")
    assert noise.to_dict("list") == issues.noise_rate.to_dict("list")
    # digits_flip10 has planted flips: the flagged set beside cleanlab's default and the ranking with N known
    flips = table(at, "images called wrong", "precision", "recall", "f1")
    scores = label_issues.against_flips(issues, datasets.flipped_files(datasets.resolve(DATASET)))
    assert len(flips) == 3
    assert list(flips["precision"]) == pytest.approx(
        [scores[k]["precision"] for k in ("flagged", "cleanlab", "ranking_oracle")]
    )
    assert list(flips["n"]) == [issues.count, int(issues.cleanlab_flagged.sum()), scores["flips"]]
    for widget in [*at.radio, *at.button, *at.selectbox]:
        assert widget.help and len(widget.help) > 20, widget.label


def test_likely_wrong_only_shows_the_flagged_by_label_quality(issues_ws):
    at = open_page(PAGE)
    at.radio(key=state.RESULTS_RANK).set_value("oos").run()
    at.toggle(key=state.RESULTS_LIKELY).set_value(True).run()
    assert not at.exception, at.exception
    issues = engine()
    shown = [r.key for r in at.radio if r.key.startswith("top_mark_")]
    assert shown == [cleaner.mark_key("top", f) for f in flagged_files(issues)[:12]]
    assert any(c.value.startswith(f"{issues.count} image(s) whose label looks wrong") for c in at.caption)
    # the other score orders the same flagged set differently
    at.radio(key=state.RESULTS_LI_METHOD).set_value("normalized_margin").run()
    margin = engine("normalized_margin")
    assert set(flagged_files(margin)) == set(flagged_files(issues))
    shown = [r.key for r in at.radio if r.key.startswith("top_mark_")]
    assert shown == [cleaner.mark_key("top", f) for f in flagged_files(margin)[:12]]


def test_one_action_marks_them_all_previews_applies_and_undoes(issues_ws):
    dataset = issues_ws / "datasets" / DATASET
    before = folder_bytes(dataset)
    at = open_page(PAGE)
    issues = engine()
    expected = {
        f: {"action": "relabel", "to": s}
        for f, g, s, x in zip(issues.files, issues.given, issues.suggested, issues.flagged)
        if x and s != g
    }
    assert len(expected) > issues.count // 2
    next(b for b in at.button if b.label == MARK_ALL).click().run()
    assert not at.exception, at.exception
    assert load_marks(DATASET) == expected
    plan = table(at, "file", "action", "from", "to")  # previewed at once, nothing moved yet
    assert dict(zip(plan["file"], plan["to"])) == {f: m["to"] for f, m in expected.items()}
    assert set(plan["action"]) == {"relabel"}
    assert any(f"The plan: 0 deletes, {len(expected)} relabels." in m.value for m in at.markdown)
    assert folder_bytes(dataset) == before

    next(b for b in at.button if b.label == "Confirm and apply").click().run()
    assert not at.exception, at.exception
    assert any(f"relabelled {len(expected)}" in s.value for s in at.success)
    assert load_marks(DATASET) == {}
    next(b for b in at.button if b.label == "Undo the last change").click().run()
    assert not at.exception, at.exception
    assert folder_bytes(dataset) == before
    assert load_marks(DATASET) == expected


def test_a_cell_of_the_joint_shows_its_images(issues_ws):
    at = open_page(PAGE)
    issues = engine()
    cell = at.selectbox(key=state.RESULTS_LI_CELL)
    given, true = cell.options[1].removeprefix("given ").split(" (")[0].split(", truly ")
    cell.set_value((given, true)).run()
    assert not at.exception, at.exception
    shown = [r.key for r in at.radio if r.key.startswith("li_mark_")]
    assert shown == [cleaner.mark_key("li", f) for f in issues.cell(given, true)[:12]]
    assert shown  # the biggest off-diagonal cell holds images


def test_multi_label_counts_and_retags_to_the_suggested_sets(
    tmp_path_factory, tmp_path, monkeypatch, no_worker
):
    from core.train import crossval
    from tests.test_results_tasks import task_workspace

    task_workspace(tmp_path_factory, tmp_path, monkeypatch, "multi_label")
    store = Store()
    config = store.get(1).params["config"]
    cv = store.submit("crossval", {"config": config, "k": 2, "source_run": 1})
    store.claim_next(pid=1)
    store.finish(cv, DONE, result=crossval.run_crossval_job(store.get(cv), store))
    issues = label_issues.find(crossval.load_result(cv), config["dataset"])
    at = open_page(PAGE)
    text = f"About {issues.count} of {issues.n} training labels look wrong"
    assert any(text in m.value for m in at.markdown)
    noise = table(at, "class", "estimated_wrong", "rate")
    assert noise.to_dict("list") == issues.noise_rate.to_dict("list")
    expected = {
        f: {"action": "retag", "to": s}
        for f, g, s, x in zip(issues.files, issues.given, issues.suggested, issues.flagged)
        if x and set(s.split()) != set(g)
    }
    assert expected  # the small generated set has some
    # "likely wrong only" on the label-set grid: exactly the flagged images, least believable first
    at.radio(key=state.RESULTS_RANK).set_value("oos").run()
    at.toggle(key=state.RESULTS_LIKELY).set_value(True).run()
    assert not at.exception, at.exception
    shown = [r.key for r in at.radio if r.key.startswith("multi_mark_")]
    assert shown and shown == [cleaner.mark_key("multi", f) for f in flagged_files(issues)[: len(shown)]]
    label = "Mark all likely wrong to be retagged with the suggested labels"
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception
    assert load_marks(config["dataset"]) == expected
    plan = table(at, "file", "action", "from", "to")
    assert set(plan["file"]) == set(expected) and set(plan["action"]) == {"retag"}


def test_marking_reads_neither_the_crossval_result_nor_the_journals_again(issues_ws, monkeypatch):
    from core.data import access, journal
    from core.train import crossval

    at = open_page(PAGE)
    at.radio(key=state.RESULTS_RANK).set_value("oos").run()
    shown = [r.key.removeprefix("top_mark_") for r in at.radio if r.key.startswith("top_mark_")]
    files = [f for f in engine().files if cleaner.mark_key("top", f) in {f"top_mark_{k}" for k in shown}]
    access.move_to_trash(DATASET, [engine().files[-1]])  # a journal to read
    at.run()
    assert not at.exception, at.exception
    reads = {"result": 0, "journal": 0, "frame": 0}

    def counted(what, real):
        def call(*a, **k):
            reads[what] += 1
            return real(*a, **k)

        return call

    monkeypatch.setattr(crossval, "load_result", counted("result", crossval.load_result))
    monkeypatch.setattr(journal.Journal, "events", counted("journal", journal.Journal.events))
    monkeypatch.setattr(crossval, "out_of_sample_frame", counted("frame", crossval.out_of_sample_frame))
    for f in files[:2]:
        at.radio(key=cleaner.mark_key("top", f)).set_value("delete").run()
        assert not at.exception, at.exception
    assert set(load_marks(DATASET)) == set(files[:2])
    assert reads == {"result": 0, "journal": 0, "frame": 0}
    # undoing the change rewrites a journal: the relabels are read again, once
    access.undo_last(DATASET)
    at.run()
    assert reads["journal"] > 0 and reads["result"] == 0
