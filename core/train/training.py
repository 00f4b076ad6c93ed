"""Training runs: build a fastai Learner on the fast data path and fit it with a schedule.

Each completed epoch is checkpointed (core/train/checkpoint.py); a "train" job whose params
name a parent ({"continue": {"parent": id, "unfreeze": bool}}, queued by
core/train/continuing.py) starts from that run's checkpoint instead of from scratch.
"""

from __future__ import annotations

import dataclasses
import random
import time
from functools import partial

import numpy as np
import torch
from fastai.callback.progress import ProgressCallback
from fastai.learner import Learner
from fastai.optimizer import OptimWrapper
from torch import nn

from core import runs, tasks, workspace
from core.config import TrainConfig
from core.data import loaders as data
from core.jobs.store import Job, Store
from core.train import checkpoint, engine_loop
from core.train import device as devices
from core.train.callbacks import EarlyStop, KeepBest, SaveCheckpoint, StreamToStore
from core.train.models import BuiltModel


class CrossEntropy(nn.CrossEntropyLoss):
    """Cross-entropy on plain tensors, with the activation and decodes fastai's get_preds uses.

    fastai's CrossEntropyLossFlat returns a TensorBase, whose dispatch on every later op (the
    backward pass, the smoothed loss) costs time on each batch for nothing.
    """

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        """Logits to probabilities."""
        return torch.softmax(x, dim=-1)

    def decodes(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities to class indices."""
        return x.argmax(dim=-1)


def adamw(params, **kwargs) -> OptimWrapper:
    """Adam with decoupled weight decay, as fastai's Adam, but PyTorch's vectorised AdamW.

    fastai's own Adam steps each parameter tensor in Python; on small models that costs more
    than the arithmetic. fastai's schedules, freezing and discriminative rates work unchanged
    through OptimWrapper (mom and sqr_mom map to betas, wd to weight_decay).
    """
    return OptimWrapper(params, torch.optim.AdamW, betas=(0.9, 0.99), eps=1e-5, **kwargs)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_learner(cfg: TrainConfig, dls, built: BuiltModel, loss_func, metrics: list) -> Learner:
    """A quiet fastai Learner (no progress bar, no printing) with cfg's weight decay and AdamW.

    Every task builds its learner through this one function, so they share the optimiser, the
    splitter into layer groups and mixed precision.
    """
    learn = engine_loop.EngineLearner(
        dls,
        built.model,
        loss_func=loss_func,
        metrics=metrics,
        splitter=built.splitter,
        wd=cfg.wd,
        path=workspace.root(),
        opt_func=adamw,
    )
    if learn.cbs.filter(lambda cb: isinstance(cb, ProgressCallback)):
        learn.remove_cb(ProgressCallback)
    learn.logger = lambda *_: None
    devices.prepare(learn, cfg.mixed_precision)  # on CUDA: bf16/fp16 and channels_last; CPU unchanged
    return learn


def build_learner(cfg: TrainConfig, bundle: data.DataBundle) -> tuple[Learner, BuiltModel]:
    """The task's Learner for cfg on the bundle's loaders (seeded first, so runs repeat)."""
    seed_everything(cfg.seed)
    return tasks.get(cfg.task).learner(cfg, bundle)


def fit(
    learn: Learner,
    cfg: TrainConfig,
    stream: StreamToStore | None = None,
    extra: tuple = (),
    frozen: bool = False,
) -> None:
    """Fit with cfg's schedule; with freeze_epochs, train only the head first (as fine_tune).

    extra: more callbacks for every phase (checkpoint, early stopping, keep-best); frozen: the
    learner was restored frozen (a continued run) and trains its epochs so.
    """
    try:
        _fit(learn, cfg, stream, extra, frozen)
    finally:
        if stream:
            stream.flush()  # fastai skips after_fit on an error: keep the batches trained so far


def _fit(learn: Learner, cfg: TrainConfig, stream: StreamToStore | None, extra: tuple, frozen: bool) -> None:
    cbs = ([stream] if stream else []) + list(extra)
    schedules = {
        "one_cycle": engine_loop.fit_one_cycle,
        "constant": engine_loop.fit_constant,
        "flat_cos": engine_loop.fit_flat_cos,
    }
    fit_fn = partial(schedules[cfg.schedule], learn)
    if cfg.freeze_epochs > 0:
        if stream:
            stream.phase = "frozen"
        learn.freeze()
        head_only = {"pct_start": 0.99} if cfg.schedule == "one_cycle" else {}
        fit_fn(cfg.freeze_epochs, cfg.lr, wd=cfg.wd, cbs=cbs, **head_only)
        learn.unfreeze()
        if stream and stream.cancelled or any(getattr(cb, "stopped_after", None) is not None for cb in extra):
            return
    if stream:
        stream.phase = "frozen" if frozen else "unfrozen" if cfg.freeze_epochs > 0 else "train"
    fit_fn(cfg.epochs, cfg.lr_arg(), wd=cfg.wd, cbs=cbs)


def tracking_callbacks(cfg: TrainConfig, stream: StreamToStore) -> tuple[KeepBest | None, EarlyStop | None]:
    """fastai's keep-best and early-stopping callbacks for cfg (None where the option is off)."""
    keep = KeepBest(cfg.monitor, stream) if cfg.keep_best else None
    stop = EarlyStop(cfg.monitor, cfg.patience, stream) if cfg.early_stop else None
    return keep, stop


def train(cfg: TrainConfig, store: Store, job_id: int, resume: dict | None = None) -> dict:
    """Run one training job end to end and return its final figures.

    resume: {"parent": run id, "unfreeze": bool} to start from that run's checkpoint (its
    weights, optimizer state, freezing), numbering epochs and batches on from it.
    """
    t_start = time.perf_counter()
    task = tasks.get(cfg.task)
    store.set_progress(job_id, 0.0, "preparing data")
    bundle = task.loaders(cfg)
    cfg.validate(n_train=bundle.n_train)
    store.set_progress(job_id, 0.0, "building the model")
    learn, built = build_learner(cfg, bundle)
    device = str(bundle.dls.device)
    precision = devices.precision(cfg.mixed_precision, bundle.dls.device)  # None: float32
    start = {"epoch": 0, "step": 0}
    if resume:
        store.set_progress(job_id, 0.0, f"restoring run {resume['parent']}'s last epoch")
        start = checkpoint.restore(learn, int(resume["parent"]), unfreeze=bool(resume.get("unfreeze")))
    frozen = bool(learn.opt is not None and learn.opt.frozen_idx)
    total = (cfg.freeze_epochs + cfg.epochs) * len(bundle.dls.train)
    stream = StreamToStore(store, job_id, total, first_epoch=start["epoch"], first_step=start["step"])
    saver = SaveCheckpoint(job_id, stream, cfg.to_dict())
    keep, stop = tracking_callbacks(cfg, stream)
    store.set_progress(job_id, 0.0, "training")
    t_fit = time.perf_counter()
    fit(learn, cfg, stream, tuple(cb for cb in (saver, keep, stop) if cb), frozen=frozen)
    seconds = time.perf_counter() - t_fit
    kept = keep is not None and stream.epochs_done > 0 and keep.keep(learn)
    hypers = learn.opt.hypers[-1] if learn.opt else {}
    record = list(getattr(learn, "final_record", []) or [])
    result = {
        "run_id": job_id,
        "task": task.name,
        "main_metric": task.main_metric,
        "train_loss": float(record[0]) if len(record) > 0 and record[0] is not None else None,
        "valid_loss": float(record[1]) if len(record) > 1 and record[1] is not None else None,
        **task.summary(learn),
        "epochs_done": stream.epochs_done,
        "seconds": round(seconds, 3),
        "total_seconds": round(time.perf_counter() - t_start, 3),
        "images_per_second": round((stream.step - stream.first_step) * cfg.bs / seconds, 1)
        if seconds > 0
        else None,
        "final_lr": float(hypers["lr"]) if "lr" in hypers else None,
        "final_mom": float(hypers["mom"]) if "mom" in hypers else None,
        "n_train": bundle.n_train,
        "n_valid": bundle.n_valid,
        "classes": bundle.vocab,
        "data_path": bundle.path_used,
        "device": device,
        "precision": precision,
        "notice": built.notice,
        "cancelled": stream.cancelled,
        "checkpoint_seconds": round(saver.seconds, 3),
    }
    if resume:
        result.update(
            parent=int(resume["parent"]), first_epoch=stream.first_epoch, first_step=stream.first_step
        )
    if kept:
        last = stream.epoch - 1
        result.update(best_epoch=keep.best_epoch, kept="last" if keep.best_epoch == last else "best")
    if stop is not None:
        result["stopped_early_after"] = stop.stopped_after  # None when it ran all its epochs
    if stream.epochs_done > 0:
        run_record = dataclasses.replace(task.record(cfg, bundle), device=device, precision=precision)
        result["data_fingerprint"] = run_record.data_fingerprint
        result["weights"] = str(runs.save(job_id, learn.model.state_dict(), run_record))
    return result


def run_train_job(job: Job, store: Store) -> dict:
    """The worker's entry point for a "train" job."""
    cfg = TrainConfig.from_dict(job.params["config"]).validate()
    return train(cfg, store, job.id, resume=job.params.get("continue"))
