"""Multi-label classification: the same items, loss and metrics as fastai, a run judged at any threshold."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch

from core import workspace
from core.analysis import multilabel
from core.config import TrainConfig
from core.data import layouts, shapes_multi
from core.errors import ConfigError, UserError
from core.train import crossval

TINY = "ml_tiny"


@pytest.fixture(scope="module")
def tiny_ws(tmp_path_factory):
    """A workspace of this module's own holding a small shapes_multi (60 images of 16 px)."""
    root = tmp_path_factory.mktemp("ml_ws")
    before = os.environ.get(workspace.ENV_VAR)
    os.environ[workspace.ENV_VAR] = str(root)
    shapes_multi.generate_shapes_multi(TINY, seed=1, n=60, size=16)
    yield root
    if before is None:
        os.environ.pop(workspace.ENV_VAR, None)
    else:
        os.environ[workspace.ENV_VAR] = before


@pytest.fixture(scope="module")
def trained(tiny_ws, one_thread):
    """One epoch of the multi-label task on the tiny set, as the worker runs it."""
    from core.jobs.store import DONE, Store
    from core.train.training import train

    cfg = TrainConfig(task="multi_label", dataset=TINY, arch="simple_cnn", epochs=1, bs=16, lr=1e-2)
    store = Store()
    job_id = store.submit("train", {"config": cfg.to_dict()})
    store.claim_next(pid=os.getpid())
    result = train(cfg, store, job_id)
    store.finish(job_id, DONE, result=result)
    store.close()
    return cfg, job_id, result


def test_items_and_targets_are_fastais_multicategoryblock(tiny_ws):
    import pandas as pd
    from fastai.data.block import DataBlock, MultiCategoryBlock
    from fastai.data.transforms import ColReader
    from fastai.vision.data import ImageBlock

    root = workspace.subdir("datasets") / TINY
    items = layouts.read_multi(root)
    assert any(len(tags) == 0 for tags in items.labels) and any(len(tags) > 1 for tags in items.labels)
    df = pd.read_csv(root / "labels.csv", keep_default_na=False)
    valid = [i for i, v in enumerate(items.is_valid) if v]
    train = [i for i, v in enumerate(items.is_valid) if not v]
    block = DataBlock(
        blocks=(ImageBlock, MultiCategoryBlock),
        get_x=ColReader("file", pref=f"{root}/"),
        get_y=ColReader("labels", label_delim=" "),
        splitter=lambda _: (train, valid),
    )
    dsets = block.datasets(df)
    assert list(dsets.vocab) == items.vocab
    targets = items.targets()
    for split, rows in ((dsets.train, train), (dsets.valid, valid)):
        theirs = np.stack([np.asarray(split[j][1], dtype=np.float32) for j in range(len(rows))])
        assert (theirs == targets[rows]).all()
    assert df["file"].tolist() == items.files


def test_the_loss_is_fastais_bce_with_logits_loss_flat():
    from fastai.losses import BCEWithLogitsLossFlat

    from core.train.multi_label import BCEWithLogits

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 5, generator=gen) * 3
    targets = (torch.rand(12, 5, generator=gen) > 0.6).float()
    ours, theirs = BCEWithLogits(thresh=0.3), BCEWithLogitsLossFlat(thresh=0.3)
    assert float(ours(logits, targets)) == pytest.approx(float(theirs(logits, targets)), rel=1e-6)
    assert torch.equal(ours.activation(logits), theirs.activation(logits))
    probs = ours.activation(logits)
    assert torch.equal(ours.decodes(probs), theirs.decodes(probs))


@pytest.mark.parametrize("thresh", [0.5, 0.3])
def test_the_metrics_are_fastais_accuracy_multi_and_macro_f1(thresh):
    from types import SimpleNamespace

    from fastai.metrics import F1ScoreMulti, accuracy_multi
    from fastai.torch_core import to_detach

    from core.train.multi_label import metrics

    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(40, 4, generator=gen) * 2
    targets = (torch.rand(40, 4, generator=gen) > 0.5).float()
    targets[:, 3] = 0  # a label no image has
    logits[:, 3] = -5  # and none predicted: its F1 counts as 0, as in scikit-learn
    acc, f1 = metrics(thresh)
    fastai_f1 = F1ScoreMulti(thresh=thresh, average="macro")
    for m in (acc, f1, fastai_f1):
        m.reset()
        for rows in (slice(0, 16), slice(16, 40)):  # two batches of different sizes
            learn = SimpleNamespace(
                pred=logits[rows], yb=(targets[rows],), y=targets[rows], to_detach=to_detach
            )
            m.accumulate(learn)
    assert (acc.name, f1.name) == ("accuracy_multi", "f1_macro")
    assert float(acc.value) == pytest.approx(float(accuracy_multi(logits, targets, thresh=thresh)), abs=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns about the label never present
        assert f1.value == pytest.approx(float(fastai_f1.value), abs=1e-9)


def test_a_threshold_outside_what_the_sliders_offer_is_refused_with_a_sentence():
    for bad in (0, 1, -0.1, 0.005, 0.995, float("nan"), "half"):
        with pytest.raises(ConfigError, match="threshold"):
            TrainConfig(
                task="multi_label", dataset=TINY, arch="simple_cnn", options={"threshold": bad}
            ).validate()
    for good in (0.01, 0.5, 0.99):  # the ends of every threshold slider are accepted
        TrainConfig(
            task="multi_label", dataset=TINY, arch="simple_cnn", options={"threshold": good}
        ).validate()
    with pytest.raises(ConfigError, match="Unknown multi_label setting"):
        TrainConfig(task="multi_label", options={"label_smoothing": 0.1})


def test_a_trained_run_is_judged_at_any_threshold(trained):
    from core import runs, tasks

    cfg, job_id, result = trained
    assert result["task"] == "multi_label" and result["main_metric"] == "f1_macro"
    assert 0 <= result["f1_macro"] <= 1 and 0 <= result["accuracy_multi"] <= 1
    interp = tasks.get("multi_label").interpret(runs.load(job_id))
    assert interp.vocab == ["circle", "square", "star", "triangle"] and interp.threshold == 0.5
    assert interp.probs.shape == interp.targets.shape == (60, 4)

    # the figures training recorded are the interpretation's on the validation images
    probs, targets = interp.part("valid")
    again = multilabel.scores(probs, targets, interp.threshold)
    assert again["f1_macro"] == pytest.approx(result["f1_macro"], abs=1e-6)
    assert again["accuracy_multi"] == pytest.approx(result["accuracy_multi"], abs=1e-6)

    # the diary's "what if the threshold is 1 %?": every label is called, so none is missed
    low = multilabel.per_label(interp, 0.01)
    assert (low["recall"].dropna() == 1.0).all() and low["support"].sum() == targets.sum()
    high = multilabel.per_label(interp, 0.99)
    assert high["recall"].fillna(0).max() <= low["recall"].min()

    curve = multilabel.threshold_curve(interp)
    assert curve["threshold"].iloc[0] == 0.01 and curve["threshold"].iloc[-1] == 0.99 and len(curve) == 99
    at_low = curve.iloc[0]
    assert at_low["accuracy_multi"] == pytest.approx(targets.mean())  # only the labels present are right
    best = multilabel.best_threshold(curve)
    assert curve.set_index("threshold").loc[best, "f1_macro"] == curve["f1_macro"].max()

    frame = multilabel.frame(interp, 0.01)
    assert list(frame.columns) == multilabel.FRAME_COLUMNS and len(frame) == 60
    everything = " ".join(interp.vocab)
    assert (frame["predicted"] == everything).mean() > 0.9
    assert frame["correct"].equals(frame["actual"] == frame["predicted"])
    top = multilabel.top_losses(frame, split="valid", k=3)
    assert len(top) == 3 and top["loss"].is_monotonic_decreasing
    assert top["loss"].iloc[0] == frame[frame.split == "valid"]["loss"].max()
    with pytest.raises(UserError, match="threshold"):
        multilabel.frame(interp, 1.5)


def test_folds_keep_every_label_in_training():
    gen = np.random.default_rng(0)
    targets = gen.random((50, 5)) < np.array([0.5, 0.3, 0.1, 0.04, 0.0])
    targets[:2, 4] = True  # a label on only two images
    folds = crossval.multilabel_folds(targets, 5, seed=3)
    assert set(folds) == set(range(5)) and np.bincount(folds).max() - np.bincount(folds).min() <= 1
    for f in range(5):
        present = targets[folds != f].any(axis=0)
        assert present.all()  # every label is in the training folds of every fold
    assert (crossval.multilabel_folds(targets, 5, seed=3) == folds).all()


def test_a_multilabel_crossval_ranks_training_images_out_of_sample(trained):
    from core import runs, tasks
    from core.jobs import worker
    from core.jobs.store import DONE, Store

    cfg, job_id, _ = trained
    store = Store()
    cv = store.submit("crossval", {"config": cfg.to_dict(), "k": 2, "source_run": job_id})
    assert worker.run_job(store, store.claim_next(pid=os.getpid())) == DONE, store.get(cv).error
    assert len(store.get(cv).result["fold_f1_macro"]) == 2
    store.close()
    saved = crossval.load_result(cv)
    assert saved["task"] == "multi_label" and saved["threshold"] == 0.5
    interp = tasks.get("multi_label").interpret(runs.load(job_id))
    n_train = interp.splits.count("train")
    assert np.asarray(saved["probs"]).shape == (n_train, 4)
    oos = multilabel.out_of_sample(interp, saved)
    assert oos.files == interp.files  # every training image held out once, validation kept
    valid = np.asarray(interp.splits) == "valid"
    assert np.array_equal(oos.probs[valid], interp.probs[valid])
    assert not np.allclose(oos.probs[~valid], interp.probs[~valid])
    ranked = multilabel.top_losses(multilabel.frame(oos, 0.5), split="train")
    assert len(ranked) == n_train
