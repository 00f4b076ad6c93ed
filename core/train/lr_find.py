"""The learning-rate finder as a job: loss against learning rate, four suggestions, model untouched."""

from __future__ import annotations

import copy
import math
import random
import time

import numpy as np
import torch
from fastai.callback.schedule import minimum, slide, steep, valley
from fastai.learner import Learner

from core import tasks
from core.config import TrainConfig
from core.jobs.store import Job, Store
from core.train.callbacks import StreamToStore
from core.train.lr_text import SUGGESTIONS
from core.train.training import build_learner


def _snapshot(learn: Learner) -> dict:
    return {
        "model": copy.deepcopy(learn.model.state_dict()),
        "opt": copy.deepcopy(learn.opt.state_dict()) if learn.opt is not None else None,
        "rng": (torch.get_rng_state(), random.getstate(), np.random.get_state()),
        # the loaders shuffle and augment from generators of their own
        "loaders": [dl.gen.get_state() for dl in learn.dls.loaders if hasattr(dl, "gen")],
    }


def _restore(learn: Learner, snap: dict) -> None:
    learn.model.load_state_dict(snap["model"])
    if snap["opt"] is None:
        learn.opt = None  # the next fit creates a fresh optimizer, exactly as before
    else:
        learn.opt.load_state_dict(copy.deepcopy(snap["opt"]))
    torch.set_rng_state(snap["rng"][0])
    random.setstate(snap["rng"][1])
    np.random.set_state(snap["rng"][2])
    loaders = [dl for dl in learn.dls.loaders if hasattr(dl, "gen")]
    for dl, state in zip(loaders, snap["loaders"]):
        dl.gen.set_state(state)


def find_lr(
    learn: Learner,
    num_it: int = 100,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    stream: StreamToStore | None = None,
) -> dict:
    """Run fastai's lr_find and give back lrs, losses and the four suggestions.

    The model's weights, the optimizer's state and the random generators afterwards are exactly
    those before, whatever fastai's own restore does.
    """
    snap = _snapshot(learn)
    if stream is not None:
        learn.add_cb(stream)
    try:
        learn.lr_find(start_lr=start_lr, end_lr=end_lr, num_it=num_it, show_plot=False, suggest_funcs=None)
    finally:
        if stream is not None:
            learn.remove_cb(stream)
        _restore(learn, snap)
    lrs = [float(v) for v in learn.recorder.lrs]
    losses = [float(v) for v in learn.recorder.losses]
    cancelled = bool(stream and stream.cancelled)
    return {
        "lrs": lrs,
        "losses": losses,
        "cancelled": cancelled,
        "suggestions": {} if cancelled else suggest(lrs, losses, num_it),
    }


def suggest(lrs: list[float], losses: list[float], num_it: int) -> dict[str, float | None]:
    """fastai's four suggestions, computed as lr_find does (skip the first tenth and last 5)."""
    lr_t = torch.tensor(lrs[num_it // 10 : -5])
    loss_t = torch.tensor(losses[num_it // 10 : -5])
    nan = torch.nonzero(torch.isnan(loss_t.view(-1)))
    if len(nan):
        cut = int(nan.min())
        lr_t, loss_t = lr_t[:cut], loss_t[:cut]
    funcs = {"valley": valley, "slide": slide, "minimum": minimum, "steep": steep}
    out: dict[str, float | None] = {}
    for name in SUGGESTIONS:
        try:
            value = float(funcs[name](lr_t, loss_t, num_it)[0])
        except (IndexError, RuntimeError, ValueError):
            value = float("nan")  # too few points (the loss diverged almost at once)
        out[name] = value if math.isfinite(value) else None
    return out


def run_lr_find_job(job: Job, store: Store) -> dict:
    """The worker's entry point for an "lr_find" job."""
    cfg = TrainConfig.from_dict(job.params["config"]).validate()
    num_it = int(job.params.get("num_it", 100))
    store.set_progress(job.id, 0.0, "preparing data")
    bundle = tasks.get(cfg.task).loaders(cfg)
    cfg.validate(n_train=bundle.n_train)
    learn, built = build_learner(cfg, bundle)
    stream = StreamToStore(store, job.id, num_it, record_epochs=False)
    store.set_progress(job.id, 0.0, "finding the learning rate")
    started = time.perf_counter()
    result = find_lr(
        learn,
        num_it=num_it,
        start_lr=float(job.params.get("start_lr", 1e-7)),
        end_lr=float(job.params.get("end_lr", 10.0)),
        stream=stream,
    )
    result.update(run_id=job.id, notice=built.notice, seconds=round(time.perf_counter() - started, 3))
    return result
