"""The engine's loop (core/train/engine_loop.py, StreamToStore): lighter than fastai's, with the
same events, the same schedules, and every batch still recorded."""

from __future__ import annotations

import pandas as pd
import pytest

from core.config import TrainConfig
from core.jobs.store import Store
from core.train import callbacks
from core.train.schedule import preview

SMALL = TrainConfig(dataset="digits", size=8, bs=64, epochs=2)


def _fit(cfg: TrainConfig, store: Store | None = None, extra: tuple = ()):
    """Fit cfg as a run does; returns (learner, stream, job id)."""
    from core import tasks
    from core.train.training import build_learner, fit

    bundle = tasks.get(cfg.task).loaders(cfg)
    learn, _ = build_learner(cfg, bundle)
    stream = job_id = None
    if store is not None:
        job_id = store.submit("train", {"config": cfg.to_dict()})
        total = (cfg.freeze_epochs + cfg.epochs) * len(bundle.dls.train)
        stream = callbacks.StreamToStore(store, job_id, total)
    fit(learn, cfg, stream, extra)
    return learn, stream, job_id


def test_every_batch_is_recorded_while_the_store_is_read_once_per_flush(
    fresh_workspace, one_thread, monkeypatch
):
    monkeypatch.setattr(callbacks, "FLUSH_EVERY", 3600.0)  # nothing but the epochs' ends flushes
    store = Store()
    reads = []
    real = store.cancel_requested
    monkeypatch.setattr(store, "cancel_requested", lambda job_id: reads.append(job_id) or real(job_id))
    _, stream, job_id = _fit(SMALL, store)
    batches = store.batches(job_id)
    assert batches["step"].tolist() == list(range(1, stream.step + 1))  # every training batch
    assert batches["loss"].notna().all() and batches["lr"].gt(0).all()
    assert len(reads) <= 1, f"the Stop flag was read {len(reads)} times in {stream.step} batches"


def test_stop_still_ends_a_run_at_the_next_flush(fresh_workspace, one_thread, monkeypatch):
    monkeypatch.setattr(callbacks, "FLUSH_EVERY", 0.0)
    store = Store()
    real_submit = store.submit

    def submit_and_stop(*args, **kwargs):
        job_id = real_submit(*args, **kwargs)
        store.claim_next(pid=1)
        store.request_cancel(job_id)
        return job_id

    monkeypatch.setattr(store, "submit", submit_and_stop)
    _, stream, job_id = _fit(SMALL, store)
    assert stream.cancelled and stream.step == 1
    assert store.batches(job_id)["step"].tolist() == [1]


def test_the_recorded_schedule_is_the_one_the_train_page_previews(fresh_workspace, one_thread):
    cfg = SMALL.replace(arch="simple_cnn", freeze_epochs=1, lr_low=3e-4)
    learn, stream, job_id = _fit(cfg, Store())
    store_rows = Store().batches(job_id)
    n_groups = len(learn.opt.param_lists)
    expected = preview(cfg, len(learn.dls.train), n_groups)
    assert len(store_rows) == len(expected)
    assert store_rows["lr"].to_numpy() == pytest.approx(expected["lr"].to_numpy(), rel=1e-5)
    assert store_rows["mom"].to_numpy() == pytest.approx(expected["mom"].to_numpy(), rel=1e-5)
    # Each layer group got its own rate (fastai's discriminative slice), as previewed.
    last = expected.iloc[-1]
    assert [h["lr"] for h in learn.opt.hypers] == pytest.approx(
        [last[f"lr_{g}"] for g in range(n_groups)], rel=1e-5
    )


def test_callbacks_see_the_same_events_as_under_fastais_learner(fresh_workspace, one_thread):
    from fastai.callback.core import Callback, _events
    from fastai.callback.progress import ProgressCallback
    from fastai.learner import Learner

    from core import tasks
    from core.train.training import build_learner

    class Events(Callback):
        def __init__(self):
            self.seen = []

    for name in _events:  # a handler for every event, each noting its name
        setattr(Events, name, lambda self, name=name: self.seen.append(name))

    class OnlyAfterBatch(Callback):
        order = 99
        calls = 0

        def after_batch(self):
            OnlyAfterBatch.calls += 1

    cfg = SMALL.replace(epochs=1)
    seen = {}
    for kind in ("engine", "fastai"):
        bundle = tasks.get(cfg.task).loaders(cfg)
        learn, built = build_learner(cfg, bundle)
        if kind == "fastai":
            learn = Learner(bundle.dls, built.model, loss_func=learn.loss_func, metrics=learn.metrics)
            learn.logger = lambda *_: None
            learn.remove_cb(ProgressCallback)
        events = Events()
        OnlyAfterBatch.calls = 0
        learn.fit(1, 1e-3, cbs=[events, OnlyAfterBatch()])
        seen[kind] = (events.seen, OnlyAfterBatch.calls)
    assert seen["engine"] == seen["fastai"]
    assert pd.Series(seen["engine"][0]).value_counts()["after_batch"] == seen["engine"][1]


def test_an_error_mid_epoch_keeps_the_batches_trained_before_it(fresh_workspace, one_thread, monkeypatch):
    from fastai.callback.core import Callback

    monkeypatch.setattr(callbacks, "FLUSH_EVERY", 3600.0)  # only the end of the fit would write them

    class Boom(Callback):
        def after_batch(self):
            if self.training and self.iter == 4:
                raise RuntimeError("out of memory")

    store = Store()
    with pytest.raises(RuntimeError, match="out of memory"):
        _fit(SMALL, store, extra=(Boom(),))
    job_id = store.jobs(limit=1)[0].id
    assert store.batches(job_id)["step"].tolist() == [1, 2, 3, 4]  # the fifth raised before its record


def test_stop_is_seen_even_when_every_epoch_is_shorter_than_the_flush_interval(
    fresh_workspace, one_thread, monkeypatch
):
    from fastai.callback.core import Callback

    monkeypatch.setattr(callbacks, "FLUSH_EVERY", 0.5)  # longer than one epoch of SMALL here
    store = Store()
    real_submit = store.submit

    def submit_and_claim(*args, **kwargs):
        job_id = real_submit(*args, **kwargs)
        store.claim_next(pid=1)
        return job_id

    class StopAfterTwoEpochs(Callback):  # a person presses Stop during the third epoch
        def after_epoch(self):
            if self.epoch == 1:
                store.request_cancel(store.jobs(limit=1)[0].id)

    monkeypatch.setattr(store, "submit", submit_and_claim)
    _, stream, job_id = _fit(SMALL.replace(epochs=60), store, extra=(StopAfterTwoEpochs(),))
    assert stream.cancelled and stream.epochs_done < 60  # it used to train all 60 epochs
