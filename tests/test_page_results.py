"""AppTest: the Results page — figures of a run, marks that persist, the plan, apply, undo, retrain."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.analysis import interpret
from core.analysis.marks import load_marks
from core.jobs.store import DONE, QUEUED, Store
from dashboard import cleaner, state
from tests.apptest import chart_spec, open_page
from tests.results_helpers import CFG, folder_bytes

PAGE = "../pages/results.py"
DATASET = CFG.dataset
TOP_PAGE = f"{state.RESULTS_TOP_PAGES}_page"  # the top-loss grid's page number (cleaner.paged)


def open_results() -> AppTest:
    return open_page(PAGE)


def top_files(n: int = 12) -> list[str]:
    """The files the page's top-loss grid shows first (by the run's own loss, both splits)."""
    frame = interpret.interpret(1).frame
    return interpret.top_losses(frame)["file"].head(n).tolist()


def mark(at: AppTest, file: str, action: str, prefix: str = "top") -> None:
    at.radio(key=cleaner.mark_key(prefix, file)).set_value(action).run()
    assert not at.exception, at.exception


def shown_marks(at: AppTest, files: list[str], prefix: str = "top") -> dict[str, str]:
    return {f: at.radio(key=cleaner.mark_key(prefix, f)).value for f in files}


def test_a_finished_run_shows_its_accuracy_confusion_and_tables(template_ws, trained_template):
    at = open_results()
    _, result = trained_template
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Validation accuracy"] == f"{result['accuracy']:.2%}"  # the run's own figure
    assert metrics["Validation images"] == "359" and metrics["Training images"] == "1438"
    spec = chart_spec(at, "heatmap")
    heat = next(t for t in spec["data"] if t["type"] == "heatmap")
    assert heat["x"] == [str(i) for i in range(10)] and heat["y"] == heat["x"]
    frame = interpret.interpret(1).frame
    cm = interpret.confusion_matrix(frame, heat["x"])
    assert heat["text"][3][3] == str(cm[3, 3])
    confused = at.dataframe[0].value
    expected = interpret.most_confused(frame, heat["x"]).head(10)
    assert confused.to_dict("list") == expected.to_dict("list")
    per_class = at.dataframe[1].value
    assert list(per_class["class"]) == heat["x"] and per_class["support"].sum() == 359
    # the top-loss grid: largest loss first, every image with actual, predicted, p and loss
    captions = [m.value for m in at.markdown if " · loss " in m.value]
    losses = [float(c.split(" · loss ")[1].split(" ")[0]) for c in captions]
    assert len(losses) == 12 and losses == sorted(losses, reverse=True)
    assert losses[0] == pytest.approx(interpret.top_losses(frame)["loss"].iloc[0], abs=0.006)
    # every control explains itself in a sentence
    for widget in [*at.selectbox, *at.radio, *at.toggle, *at.number_input, *at.button]:
        assert widget.help and len(widget.help) > 20, widget.label


def test_without_a_finished_run_the_page_says_what_to_do(fresh_workspace):
    at = open_results()
    assert any("Train a model first" in i.value for i in at.info)


def test_marks_survive_a_filter_change_a_page_switch_and_a_reload(results_ws):
    files = top_files()
    at = open_results()
    for f in files[:3]:
        mark(at, f, "delete")
    for f in files[3:5]:
        mark(at, f, "relabel")
    target = at.selectbox(key=cleaner.relabel_key("top", files[4]))
    other = next(c for c in target.options if c != target.value)
    target.set_value(other).run()
    expected = {
        **{f: "delete" for f in files[:3]},
        **{f: "relabel" for f in files[3:5]},
        **{f: "unmarked" for f in files[5:]},
    }
    assert shown_marks(at, files) == expected

    # a filter that hides most of them, then back: the marks are still there
    at.selectbox(key=state.RESULTS_SPLIT).set_value("valid").run()
    valid = interpret.top_losses(interpret.interpret(1).frame, split="valid")["file"].head(12)
    assert [r.key for r in at.radio if r.key.startswith("top_mark_")] == [
        cleaner.mark_key("top", f) for f in valid
    ]
    at.selectbox(key=state.RESULTS_SPLIT).set_value(None).run()
    assert shown_marks(at, files) == expected
    assert at.selectbox(key=cleaner.relabel_key("top", files[4])).value == other

    # another page and back
    at.switch_page("../pages/train.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert shown_marks(at, files) == expected

    # a reload is a new session: the marks come from the workspace
    again = open_results()
    assert shown_marks(again, files) == expected
    stored = load_marks(DATASET)
    assert stored[files[4]] == {"action": "relabel", "to": other}


def test_the_plan_shown_matches_the_marks_and_applies_and_undoes(results_ws, no_worker):
    files = top_files()
    dataset = results_ws / "datasets" / DATASET
    before = folder_bytes(dataset)
    at = open_results()
    for f in files[:3]:
        mark(at, f, "delete")
    for f in files[3:5]:
        mark(at, f, "relabel")
    mark(at, files[5], "keep")
    next(b for b in at.button if b.label == "Apply…").click().run()
    plan = at.dataframe[-1].value  # the plan is the last table on the page
    assert dict(zip(plan["file"], plan["action"])) == {
        **{f: "delete" for f in files[:3]},
        **{f: "relabel" for f in files[3:5]},
    }
    marks = load_marks(DATASET)
    assert {f: t for f, t in zip(plan["file"], plan["to"]) if f in files[3:5]} == {
        f: marks[f]["to"] for f in files[3:5]
    }
    assert any("The plan: 3 deletes, 2 relabels (1 kept as they are)." in m.value for m in at.markdown)
    assert folder_bytes(dataset) == before  # nothing moves before the confirmation

    next(b for b in at.button if b.label == "Confirm and apply").click().run()
    assert not at.exception, at.exception
    assert any("Moved 3 file(s) to the trash and relabelled 2." in s.value for s in at.success)
    after = folder_bytes(dataset)
    assert all(f not in after for f in files[:5])
    for f in files[3:5]:
        moved = "/".join([*f.split("/")[:-2], marks[f]["to"], f.split("/")[-1]])
        assert after[moved] == before[f]
    assert at.metric[3].value == str(1438 - sum(f.startswith("train/") for f in files[:3]))
    history = at.dataframe[-1].value
    assert list(history["state"]) == ["applied"] and list(history["deletes"]) == [3]

    next(b for b in at.button if b.label == "Undo the last change").click().run()
    assert any("5 file(s) back where they were" in s.value for s in at.success)
    assert folder_bytes(dataset) == before
    assert shown_marks(at, files[:6]) == {
        **{f: "delete" for f in files[:3]},
        **{f: "relabel" for f in files[3:5]},
        files[5]: "keep",
    }


def test_a_cell_of_the_matrix_shows_its_images(template_ws):
    at = open_results()
    cell = at.selectbox(key=state.RESULTS_CELL)
    actual, predicted = cell.options[1].split(", predicted ")  # the most frequent mistake
    actual = actual.removeprefix("actual ")
    predicted, count = predicted.split(" (")
    cell.set_value((actual, predicted)).run()
    assert not at.exception, at.exception
    frame = interpret.interpret(1).frame
    behind = interpret.cell(frame, actual, predicted, "valid")["file"].tolist()
    assert len(behind) == int(count.split(" ")[0])
    shown = [r.key for r in at.radio if r.key.startswith("cell_mark_")]
    assert shown == [cleaner.mark_key("cell", f) for f in behind[:12]]


def test_out_of_sample_ranking_runs_as_a_job_and_ranks_the_training_images(results_ws, no_worker, one_thread):
    from core.train import crossval

    at = open_results()
    at.radio(key=state.RESULTS_RANK).set_value("oos").run()
    at.number_input(key=state.RESULTS_K).set_value(2).run()
    next(b for b in at.button if b.label == "Compute the out-of-sample ranking").click().run()
    store = Store()
    (job,) = store.jobs(kind="crossval")
    assert job.state == QUEUED and job.params["k"] == 2 and job.params["source_run"] == 1
    assert job.params["config"] == CFG.to_dict() and no_worker
    assert any("Cross-validation" in p.proto.text for p in at.get("progress"))
    store.claim_next(pid=1)
    store.finish(job.id, DONE, result=crossval.run_crossval_job(store.get(job.id), store))
    at.run()
    assert not at.exception, at.exception
    assert any("2-fold cross-validation" in c.value for c in at.caption)
    captions = [m.value for m in at.markdown if " · loss " in m.value]
    assert len(captions) == 12
    # the order shown is the out-of-sample one, which the run's own (in-sample) order is not:
    # among the training images the model has fitted, a held-out fold's loss ranks them otherwise
    at.selectbox(key=state.RESULTS_SPLIT).set_value("train").run()
    assert not at.exception, at.exception
    own = interpret.interpret(1).frame
    oos = crossval.out_of_sample_frame(crossval.load_result(job.id), own)
    expected = interpret.top_losses(oos, split="train")["file"].head(12).tolist()
    in_sample = interpret.top_losses(own, split="train")["file"].head(12).tolist()
    assert expected != in_sample  # the check below tells the two apart
    shown = [r.key for r in at.radio if r.key.startswith("top_mark_")]
    assert shown == [cleaner.mark_key("top", f) for f in expected]
    losses = [float(m.value.split(" · loss ")[1].split(" ")[0]) for m in at.markdown if " · loss " in m.value]
    top = interpret.top_losses(oos, split="train")["loss"].head(12).tolist()
    assert losses == pytest.approx(top, abs=0.006)


def test_retrain_queues_the_same_settings_and_compares_the_runs(results_ws, no_worker, one_thread):
    from core.train.training import train

    at = open_results()
    next(b for b in at.button if b.label == "Retrain with cleaned data").click().run()
    store = Store()
    new = store.jobs(kind="train")[0]
    assert new.id == 2 and new.params == {"config": CFG.to_dict(), "retrain_of": 1}
    assert new.state == QUEUED and no_worker
    store.claim_next(pid=1)
    store.finish(new.id, DONE, result=train(CFG, store, new.id))
    at.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    frame = interpret.interpret(2).frame
    assert metrics["Validation accuracy, run 2"] == f"{interpret.accuracy(frame):.2%}"
    assert "Validation accuracy, run 1" in metrics
    assert any("Run 2 (retrained) against run 1" in m.value for m in at.markdown)
    next(b for b in at.button if b.label == "Open run 2's results").click().run()
    assert at.session_state[state.RESULTS_RUN] == 2


def test_paging_and_a_filter_that_leaves_fewer_pages(template_ws):
    at = open_results()
    frame = interpret.interpret(1).frame
    at.number_input(key=TOP_PAGE).set_value(3).run()
    ranked = interpret.top_losses(frame)["file"].tolist()
    shown = [r.key for r in at.radio if r.key.startswith("top_mark_")]
    assert shown == [cleaner.mark_key("top", f) for f in ranked[24:36]]  # the third dozen
    at.selectbox(key=state.RESULTS_ACTUAL).set_value("0").run()  # 178 images: 15 pages
    at.selectbox(key=state.RESULTS_PREDICTED).set_value("8").run()  # a handful: one page
    assert not at.exception, at.exception
    assert at.number_input(key=TOP_PAGE).value == 1
    few = interpret.top_losses(frame, actual="0", predicted="8")["file"].tolist()
    assert [r.key for r in at.radio if r.key.startswith("top_mark_")] == [
        cleaner.mark_key("top", f) for f in few[:12]
    ]
