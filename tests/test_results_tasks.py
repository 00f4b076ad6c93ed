"""AppTest: the Results page for a multi-label run (threshold, per-label scores, label sets, retag) and a
segmentation run (per-class IoU, pixel confusion, worst images, image and mask to the trash and back)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core import workspace
from core.analysis import multilabel, segmentation
from core.data import layouts
from core.jobs.store import DONE, Store
from dashboard import cleaner
from dashboard.views import results_multi, results_seg
from tests.apptest import chart_spec, open_page
from tests.results_helpers import folder_bytes
from tests.task_models import MULTI, SEG, THRESHOLD, trained_task

PAGE = "../pages/results.py"


def task_workspace(tmp_path_factory, tmp_path: Path, monkeypatch, task: str) -> Path:
    """A workspace of this test's own with the task's small dataset and its finished run 1."""
    run = trained_task(tmp_path_factory, task)
    root = tmp_path / "ws"
    root.mkdir()
    for name in ("runs", "cache", f"datasets/{run.name}"):
        if (run.root / name).exists():
            shutil.copytree(run.root / name, root / name, symlinks=True)
    monkeypatch.setenv(workspace.ENV_VAR, str(root))
    store = Store()
    job_id = store.submit("train", {"config": run.job.params["config"]})
    store.claim_next(pid=1)
    store.finish(job_id, DONE, result=run.job.result)
    assert job_id == run.job.id
    return root


@pytest.fixture
def multi_ws(tmp_path_factory, tmp_path, monkeypatch) -> Path:
    return task_workspace(tmp_path_factory, tmp_path, monkeypatch, "multi_label")


@pytest.fixture
def seg_ws(tmp_path_factory, tmp_path, monkeypatch) -> Path:
    return task_workspace(tmp_path_factory, tmp_path, monkeypatch, "segmentation")


def interpretation(task: str):
    """The run's interpretation as the page computes it (the task's own)."""
    from core import runs, tasks

    loaded = runs.load(1)
    return tasks.get(task).interpret(loaded)


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# --- multi-label ------------------------------------------------------------------------------


def test_multi_label_results_follow_the_threshold(multi_ws):
    at = open_page(PAGE)
    interp = interpretation("multi_label")
    probs, targets = interp.part("valid")
    at_run = multilabel.scores(probs, targets, THRESHOLD)  # starts at the run's own threshold
    assert metrics(at)["Validation accuracy_multi"] == f"{at_run['accuracy_multi']:.2%}"
    assert metrics(at)["Validation F1 (macro)"] == f"{at_run['f1_macro']:.2%}"
    table = at.dataframe[0].value  # per label: precision, recall, F1, support
    expected = multilabel.per_label(interp, THRESHOLD)
    assert list(table["label"]) == interp.vocab and list(table["support"]) == list(expected["support"])
    assert table["f1"].round(6).tolist() == expected["f1"].round(6).tolist()
    # the curve: both metrics, the best F1 marked, the slider's position drawn
    spec = chart_spec(at, "best F1 at")
    names = [t.get("name") for t in spec["data"]]
    best = multilabel.best_threshold(multilabel.threshold_curve(interp))
    assert "accuracy_multi" in names and f"best F1 at {best:.2f}" in names
    assert spec["layout"]["shapes"][0]["x0"] == pytest.approx(THRESHOLD)
    one_percent = next(m.value for m in at.markdown if "What if the threshold is 1 %?" in m.value)
    low = multilabel.per_label(interp, 0.01)
    assert f"Recall is {low['recall'].mean():.0%}" in one_percent

    # a threshold where the figures differ from the run's (a weak model calls everything at 0.05)
    moved = next(
        t
        for t in (0.05, 0.95, 0.2, 0.7, 0.3, 0.6)
        if multilabel.scores(probs, targets, t)["accuracy_multi"] != at_run["accuracy_multi"]
    )
    at.slider(key=results_multi.threshold_key(interp)).set_value(moved).run()
    assert not at.exception, at.exception
    now = multilabel.scores(probs, targets, moved)
    assert metrics(at)["Validation accuracy_multi"] == f"{now['accuracy_multi']:.2%}"
    assert metrics(at)["Validation F1 (macro)"] == f"{now['f1_macro']:.2%}"
    assert at.dataframe[0].value["recall"].round(6).tolist() == (
        multilabel.per_label(interp, moved)["recall"].round(6).tolist()
    )
    assert chart_spec(at, "best F1 at")["layout"]["shapes"][0]["x0"] == pytest.approx(moved)

    next(b for b in at.button if b.label.startswith("Use the best")).click().run()
    assert at.slider(key=results_multi.threshold_key(interp)).value == pytest.approx(best)


def test_multi_label_top_losses_show_the_label_sets(multi_ws):
    at = open_page(PAGE)
    interp = interpretation("multi_label")
    ranked = multilabel.top_losses(multilabel.frame(interp, THRESHOLD))
    captions = [m.value for m in at.markdown if " · train" in m.value or " · valid" in m.value]
    assert len(captions) == 12
    first = ranked.iloc[0]
    assert f"**{cleaner.tag_text(first.actual)}** → {cleaner.tag_text(first.predicted)}" in captions[0]
    losses = [float(c.split("loss ")[1].split(" ")[0]) for c in captions]
    assert losses == sorted(losses, reverse=True)
    # every control explains itself in a sentence
    for widget in [*at.selectbox, *at.radio, *at.slider, *at.number_input, *at.button]:
        assert widget.help and len(widget.help) > 20, widget.label


def test_a_retag_is_planned_applied_and_undone_from_the_page(multi_ws, no_worker):
    dataset = multi_ws / "datasets" / MULTI
    before = folder_bytes(dataset)
    interp = interpretation("multi_label")
    file = multilabel.top_losses(multilabel.frame(interp, THRESHOLD))["file"].iloc[0]
    now = {f: t for f, t, _ in layouts.read_labels_csv(dataset / "labels.csv")}[file]
    at = open_page(PAGE)
    at.radio(key=cleaner.mark_key(results_multi.PREFIX, file)).set_value("retag").run()
    tags = at.multiselect(key=cleaner.relabel_key(results_multi.PREFIX, file))
    assert tags.value == list(now)  # prefilled with the tags it has now
    new = [t for t in interp.vocab if t not in now][:1]  # swap its tags for one it lacks
    tags.set_value(new).run()
    assert not at.exception, at.exception
    next(b for b in at.button if b.label == "Apply…").click().run()
    plan = at.dataframe[-1].value
    assert plan.to_dict("records") == [
        {"file": file, "action": "retag", "from": cleaner.tag_text(" ".join(now)), "to": new[0]}
    ]
    next(b for b in at.button if b.label == "Confirm and apply").click().run()
    assert any("gave 1 image(s) new tags" in s.value for s in at.success)
    assert {f: t for f, t, _ in layouts.read_labels_csv(dataset / "labels.csv")}[file] == tuple(new)
    next(b for b in at.button if b.label == "Undo the last change").click().run()
    assert any("1 image(s) have their old tags again" in s.value for s in at.success)
    assert folder_bytes(dataset) == before


# --- segmentation -----------------------------------------------------------------------------


def test_segmentation_results_show_iou_confusion_and_the_worst_images(seg_ws):
    at = open_page(PAGE)
    interp = interpretation("segmentation")
    values = segmentation.split_scores(interp, "valid")
    assert metrics(at)["Validation mean IoU"] == f"{values['mean_iou']:.2%}"
    table = at.dataframe[0].value
    expected = segmentation.per_class(interp, "valid")
    assert list(table["code"]) == interp.codes
    assert table["iou"].round(6).tolist() == expected["iou"].round(6).tolist()
    assert table["dice"].round(6).tolist() == expected["dice"].round(6).tolist()
    heat = next(t for t in chart_spec(at, "heatmap")["data"] if t["type"] == "heatmap")
    cm = interp.confusion["valid"]
    assert heat["x"] == interp.codes and heat["customdata"] == cm.tolist()
    assert all(abs(sum(row) - 1) < 1e-9 for row, n in zip(heat["z"], cm.sum(axis=1)) if n)
    worst = segmentation.worst(interp, by="loss", k=12)["file"].tolist()
    shown = [m.value.split("**")[1] for m in at.markdown if m.value.startswith("**") and "IoU" in m.value]
    assert shown == [results_seg.md(f) for f in worst]
    captions = [c for image in at.get("image") for c in image.captions]
    assert captions == ["image", "truth", "prediction", "difference"] * len(worst)
    at.radio(key=results_seg.BY).set_value("iou").run()
    by_iou = segmentation.worst(interp, by="iou", k=12)["file"].tolist()
    shown = [m.value.split("**")[1] for m in at.markdown if m.value.startswith("**") and "IoU" in m.value]
    assert shown == [results_seg.md(f) for f in by_iou]


def test_delete_to_trash_moves_image_and_mask_and_undo_restores_them(seg_ws, no_worker):
    dataset = seg_ws / "datasets" / SEG
    before = folder_bytes(dataset)
    interp = interpretation("segmentation")
    file = segmentation.worst(interp, by="loss", k=1)["file"].iloc[0]
    mask = interp.masks[interp.files.index(file)]
    at = open_page(PAGE)
    images = metrics(at)["Validation images"], metrics(at)["Training images"]
    trash = [b for b in at.button if b.label == "Move to the trash"]
    trash[0].click().run()
    assert not at.exception, at.exception
    after = folder_bytes(dataset)
    assert file not in after and mask not in after
    assert len(after) == len(before) - 2
    assert any(file in s.value and mask in s.value for s in at.success)
    counts = metrics(at)["Validation images"], metrics(at)["Training images"]
    assert sum(map(int, counts)) == sum(map(int, images)) - 1  # the page reads the data as it is now
    history = at.dataframe[-1].value
    assert list(history["deletes"]) == [2] and list(history["state"]) == ["applied"]
    assert "relabels" not in history.columns and "retags" not in history.columns  # masks are not edited
    next(b for b in at.button if b.label == "Undo the last change").click().run()
    assert any("2 file(s) back where they were" in s.value for s in at.success)
    assert folder_bytes(dataset) == before


def test_multi_label_out_of_sample_ranking_runs_as_a_job(multi_ws, no_worker, one_thread):
    from core.train import crossval
    from dashboard import state

    at = open_page(PAGE)
    at.radio(key=state.RESULTS_RANK).set_value("oos").run()
    at.number_input(key=state.RESULTS_K).set_value(2).run()
    next(b for b in at.button if b.label == "Compute the out-of-sample ranking").click().run()
    store = Store()
    (job,) = store.jobs(kind="crossval")
    assert job.params["k"] == 2 and job.params["config"]["task"] == "multi_label"
    store.claim_next(pid=1)
    store.finish(job.id, DONE, result=crossval.run_crossval_job(store.get(job.id), store))
    at.run()
    assert not at.exception, at.exception
    assert any("2-fold cross-validation" in c.value for c in at.caption)
    interp = interpretation("multi_label")
    oos = multilabel.out_of_sample(interp, crossval.load_result(job.id))
    ranked = multilabel.top_losses(multilabel.frame(oos, THRESHOLD))
    captions = [m.value for m in at.markdown if " · train" in m.value or " · valid" in m.value]
    first = ranked.iloc[0]
    assert f"loss {first.loss:.2f} · {first.split}" in captions[0]


def test_a_retrained_segmentation_run_is_compared_by_mean_iou(seg_ws, no_worker, one_thread):
    from core.config import TrainConfig
    from core.train.training import train

    at = open_page(PAGE)
    next(b for b in at.button if b.label == "Retrain with cleaned data").click().run()
    store = Store()
    new = store.jobs(kind="train")[0]
    store.claim_next(pid=1)
    store.finish(new.id, DONE, result=train(TrainConfig.from_dict(new.params["config"]), store, new.id))
    at.run()
    assert not at.exception, at.exception
    shown = metrics(at)
    assert shown["Validation mean IoU, run 1"] == shown["Validation mean IoU"]
    assert "Validation mean IoU, run 2" in shown
    assert any("Run 2 (retrained) against run 1" in m.value for m in at.markdown)


@pytest.mark.parametrize("page", ["learn_inside.py", "learn_embeddings.py", "learn_convolution.py"])
def test_the_labs_after_a_segmentation_run_say_they_read_single_label_runs(seg_ws, page):
    from dashboard import state

    at = open_page(f"../pages/{page}", timeout=90)
    at.session_state[state.RUN] = 1  # the segmentation run just trained is the current run
    at.run()
    assert not at.exception, at.exception
    if page != "learn_convolution.py":  # the convolution lab reads any model's first filters
        assert any(
            "These labs read single-label runs; the current run 1 is segmentation" in c.value
            for c in at.caption
        )
        assert any("Train a model first" in str(p.label) for p in at.get("page_link"))
