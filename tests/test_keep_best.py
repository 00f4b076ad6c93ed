"""Keep-best and early stopping (fastai's SaveModelCallback and EarlyStoppingCallback, without
pickles): the kept weights are the best epoch's, the run stops after `patience` epochs."""

from __future__ import annotations

import pytest

from core import runs
from core.config import TrainConfig
from core.errors import ConfigError
from core.jobs.store import DONE, Store

# A constant learning rate this high makes the validation loss fall to its lowest at epoch 2
# and rise after it (0.28, 0.22, 0.08, 0.10, 0.15 on Digits at 8 px): the last epoch is worse.
HIGH_LR = TrainConfig(dataset="digits", size=8, bs=32, lr=0.02, schedule="constant", epochs=5)


def run(cfg: TrainConfig) -> tuple[int, dict, Store]:
    from core.train.training import train

    store = Store()
    job_id = store.submit("train", {"config": cfg.to_dict()})
    store.claim_next(pid=1)
    result = train(cfg, store, job_id)
    store.finish(job_id, DONE, result=result)
    return job_id, result, store


def validation_loss(cfg: TrainConfig, model) -> tuple[float, float]:
    """The validation loss and accuracy of model on cfg's loaders, as fastai's validate gives them."""
    from core import tasks
    from core.train.training import build_learner

    bundle = tasks.get(cfg.task).loaders(cfg)
    learn, _ = build_learner(cfg, bundle)
    learn.model.load_state_dict(model.state_dict())
    loss, accuracy = learn.validate()
    return float(loss), float(accuracy)


def test_the_kept_weights_reproduce_the_best_epochs_validation_loss(fresh_workspace, one_thread):
    from safetensors.torch import load_file

    from core.train import checkpoint

    cfg = HIGH_LR.replace(keep_best=True)
    job_id, result, store = run(cfg)
    epochs = store.epochs(job_id)
    best = int(epochs["valid_loss"].idxmin())
    assert best < len(epochs) - 1  # the schedule made the last epoch worse than an earlier one
    assert result["best_epoch"] == best and result["kept"] == "best"
    recorded = epochs.loc[best]
    # Results, export and Predict load runs/<id>/model.safetensors: the kept weights.
    loaded = runs.load(job_id)
    loss, accuracy = validation_loss(cfg, loaded.model)
    assert abs(loss - recorded["valid_loss"]) < 1e-6
    assert abs(accuracy - recorded["accuracy"]) < 1e-6
    assert result["valid_loss"] == pytest.approx(recorded["valid_loss"], abs=1e-7)
    assert result["accuracy"] == pytest.approx(recorded["accuracy"], abs=1e-7)
    # The checkpoint stays the last epoch's (a continuation goes on from where training ended).
    meta = checkpoint.read_meta(job_id)
    assert meta["epoch"] == len(epochs)
    last = load_file(str(runs.run_dir(job_id) / meta["tensors"]))
    kept = load_file(str(runs.weights_path(job_id)))
    assert any(not last["model." + k].equal(v) for k, v in kept.items())
    assert not [p for p in fresh_workspace.rglob("*") if p.suffix in (".pth", ".pkl", ".pt")]


def test_keep_best_watches_the_tasks_metric_across_fine_tuning_phases(fresh_workspace, one_thread):
    cfg = HIGH_LR.replace(keep_best=True, monitor="accuracy", freeze_epochs=1, epochs=3)
    job_id, result, store = run(cfg)
    epochs = store.epochs(job_id)
    assert epochs["phase"].tolist() == ["frozen", "unfrozen", "unfrozen", "unfrozen"]
    best = int(epochs["accuracy"].idxmax())  # the first of equal bests: only improvements count
    assert result["best_epoch"] == best
    assert result["kept"] == ("last" if best == len(epochs) - 1 else "best")
    assert result["accuracy"] == pytest.approx(epochs.loc[best, "accuracy"], abs=1e-7)


def test_early_stopping_ends_the_run_after_patience_epochs_without_improvement(fresh_workspace, one_thread):
    from core.train import checkpoint

    cfg = HIGH_LR.replace(early_stop=True, patience=1, epochs=8)
    job_id, result, store = run(cfg)
    losses = store.epochs(job_id)["valid_loss"].tolist()
    stopped = result["stopped_early_after"]
    assert stopped == len(losses) - 1 < 7  # it did not run all 8
    assert losses[-1] >= min(losses[:-1])  # the one epoch without improvement
    assert all(b < a for a, b in zip(losses[:-1], losses[1:-1]))  # every earlier one improved
    assert "best_epoch" not in result  # keep-best is off: the last weights are saved
    assert checkpoint.read_meta(job_id)["epoch"] == len(losses)
    assert result["epochs_done"] == len(losses)

    calm = HIGH_LR.replace(early_stop=True, patience=5, epochs=2, lr=3e-3, schedule="one_cycle")
    _, result, _ = run(calm)
    assert result["stopped_early_after"] is None and result["epochs_done"] == 2


def test_early_stopping_in_the_frozen_phase_ends_the_whole_run(fresh_workspace, one_thread, monkeypatch):
    from fastai.callback.core import CancelFitException

    from core.train.callbacks import EarlyStop

    def stop_at_once(self):
        self.stopped_after = self.stream.epoch - 1
        raise CancelFitException()

    monkeypatch.setattr(EarlyStop, "after_epoch", stop_at_once)
    job_id, result, store = run(HIGH_LR.replace(early_stop=True, freeze_epochs=2, epochs=2))
    epochs = store.epochs(job_id)
    assert epochs["phase"].tolist() == ["frozen"] and result["stopped_early_after"] == 0


def test_stopping_settings_are_checked_and_stored_only_when_set():
    with pytest.raises(ConfigError, match="Patience"):
        TrainConfig(early_stop=True, patience=0).validate()
    with pytest.raises(ConfigError, match="valid_loss or accuracy"):
        TrainConfig(keep_best=True, monitor="f1").validate()
    assert not {"early_stop", "patience", "monitor", "keep_best"} & set(TrainConfig().to_dict())
    cfg = TrainConfig(early_stop=True, patience=2, monitor="accuracy", keep_best=True)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.from_dict(TrainConfig().to_dict()).keep_best is False
