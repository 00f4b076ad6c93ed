"""Out-of-sample ranking: k-fold predictions for every training image, run as a worker job."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.analysis import interpret
from core.analysis.marks import set_mark
from core.analysis.plans import apply_plan, make_plan
from core.data.datasets import flipped_files, resolve
from core.data.journal import renames
from core.jobs import worker
from core.jobs.store import CANCELLED, DONE, Store
from core.train import crossval
from tests import results_helpers
from tests.results_helpers import CFG

trained_template = results_helpers.trained_template  # the fixtures, shared
results_ws = results_helpers.results_ws


def test_folds_cover_every_item_once_and_spread_each_class():
    labels = np.repeat(np.arange(4), [10, 7, 3, 20])
    folds = crossval.stratified_folds(labels, 5, seed=0)
    assert folds.shape == labels.shape and set(folds) == set(range(5))
    for c in range(4):
        sizes = np.bincount(folds[labels == c], minlength=5)
        assert sizes.max() - sizes.min() <= 1  # each class dealt evenly
    assert np.bincount(folds).max() - np.bincount(folds).min() <= 1
    assert (crossval.stratified_folds(labels, 5, seed=0) == folds).all()  # repeatable


def test_a_crossval_job_predicts_every_training_image_with_a_model_that_never_saw_it(results_ws, one_thread):
    store = Store()
    job_id = store.submit("crossval", {"config": CFG.to_dict(), "k": 3, "source_run": 1})
    state = worker.run_job(store, store.claim_next(pid=1))
    job = store.get(job_id)
    assert state == DONE, job.error
    assert job.progress == 1.0 and job.result["k"] == 3 and len(job.result["fold_accuracy"]) == 3
    assert len(store.epochs(job_id)) == 3 * CFG.epochs  # each fold's epochs, recorded
    saved = json.loads(crossval.result_path(job_id).read_text())
    probs = np.asarray(saved["probs"])
    assert len(saved["files"]) == 1438 and probs.shape == (1438, 10)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert all(f.startswith("train/") for f in saved["files"])
    assert sorted(np.bincount(saved["folds"])) == [479, 479, 480]
    # held-out predictions are worse than the model's view of its own training images
    assert 0.5 < job.result["oos_accuracy"] < 1.0

    frame = interpret.interpret(1).frame
    oos = crossval.out_of_sample_frame(saved, frame)
    assert len(oos) == 1797 and set(oos["split"]) == {"train", "valid"}
    valid_part = oos[oos["split"] == "valid"].set_index("file")["loss"]
    assert valid_part.equals(frame[frame["split"] == "valid"].set_index("file")["loss"])
    # the planted label errors rise to the top of the out-of-sample ranking
    flipped = {f["file"] for f in flipped_files(resolve(CFG.dataset))}
    top = set(interpret.top_losses(oos, split="train")["file"].head(2 * len(flipped)))
    assert len(top & flipped) / len(flipped) >= 0.9  # the aim (0.98 here)


def test_the_ranking_follows_relabels_applied_since(results_ws, one_thread):
    store = Store()
    cfg = CFG.replace(size=8)
    job_id = store.submit("crossval", {"config": cfg.to_dict(), "k": 2, "source_run": 1})
    assert worker.run_job(store, store.claim_next(pid=1)) == DONE
    saved = crossval.load_result(job_id)
    frame = interpret.interpret(1).frame
    first = crossval.out_of_sample_frame(saved, frame).set_index("file")
    worst = interpret.top_losses(first.reset_index(), split="train").iloc[0]
    set_mark(CFG.dataset, worst["file"], "relabel", worst["predicted"])
    apply_plan(make_plan(CFG.dataset))
    moved = f"train/{worst['predicted']}/{worst['file'].split('/')[-1]}"
    now = interpret.interpret(1).frame
    after = crossval.out_of_sample_frame(saved, now, renames(CFG.dataset, saved["created"]))
    row = after.set_index("file").loc[moved]
    assert row["actual"] == worst["predicted"] and row["loss"] < worst["loss"]
    assert len(after) == 1797


def test_too_many_folds_or_a_stop_end_the_job_cleanly(results_ws, one_thread, monkeypatch):
    store = Store()
    bad = store.submit("crossval", {"config": CFG.to_dict(), "k": 50})
    worker.run_job(store, store.claim_next(pid=1))
    assert "between 2 and 20 folds" in store.get(bad).error
    stopped = store.submit("crossval", {"config": CFG.to_dict(), "k": 2})
    store.request_cancel(stopped)  # queued: cancelled at once
    assert store.get(stopped).state == CANCELLED
    running = store.submit("crossval", {"config": CFG.to_dict(), "k": 2})
    job = store.claim_next(pid=1)
    store.request_cancel(running)  # running: stops within a batch
    assert worker.run_job(store, job) == CANCELLED
    assert not crossval.result_path(running).exists()


@pytest.mark.parametrize("k", [1, 0])
def test_fewer_than_two_folds_is_refused(results_ws, k):
    store = Store()
    job_id = store.submit("crossval", {"config": CFG.to_dict(), "k": k})
    worker.run_job(store, store.claim_next(pid=1))
    assert "between 2 and 20 folds" in store.get(job_id).error
