"""The engine's lighter pieces of fastai's training loop: the same events, schedules and results,
with less Python per batch.

Profiling a small CNN on the CPU (`python -m core bench`) showed fastai's own loop costing
about as much as the recording: every event called on every callback, each answering through
fastcore's attribute delegation even when it has no handler; and the one-cycle schedule
evaluating small tensors and rebuilding the optimiser's hyper-parameter dicts several times a
batch. EngineLearner and Scheduler remove that, keeping fastai's callbacks and formulas.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastai.callback.schedule import ParamScheduler
from fastai.learner import Learner, event

from core.train.schedule import FLAT_COS_PCT, ONE_CYCLE, combined_cos


class EngineLearner(Learner):
    """fastai's Learner, calling each event only on the callbacks that handle it.

    The callbacks handling an event are found once per set of callbacks; each is still called
    through Callback.__call__, in order, with its run flags and exceptions as in fastai. Every
    callback sees after_fit (where fastai resets their run flag).
    """

    def _call_one(self, event_name):
        cache = self.__dict__.setdefault("_handlers", {})
        key = (event_name, tuple(map(id, self.cbs)))  # the cached lists keep their callbacks alive
        handlers = cache.get(key)
        if handlers is None:
            if not hasattr(event, event_name):
                raise Exception(f"missing {event_name}")
            if len(cache) > 256:
                cache.clear()
            handlers = cache[key] = [cb for cb in self.cbs.sorted("order") if _handles(cb, event_name)]
        for cb in handlers:
            cb(event_name)


def _handles(cb, event_name: str) -> bool:
    """True when cb has its own handler for the event (every callback handles after_fit)."""
    if event_name == "after_fit" or event_name in vars(cb):
        return True
    return callable(getattr(type(cb), event_name, None))


class CombinedCos:
    """fastai's combined_cos(pct, start, middle, end) as a function of the fit's progress, in plain
    Python (core/train/schedule.py's formula); start, middle, end: a number or one per layer group."""

    def __init__(self, pct: float, start: Any, middle: Any, end: Any):
        self.pct = float(pct)
        self.ends = [np.atleast_1d(np.asarray(v, dtype=float)).tolist() for v in (start, middle, end)]

    def __call__(self, pos: float) -> list[float]:
        """The value of each group at pos (0 → 1 over the fit)."""
        return [combined_cos(self.pct, s, m, e, float(pos)) for s, m, e in zip(*self.ends)]


class Scheduler(ParamScheduler):
    """fastai's ParamScheduler setting the optimiser's values directly and recording them as set
    (fastai's rebuilds every group's hyper-parameters to check and to record them)."""

    def before_fit(self):
        super().before_fit()
        self._groups = len(self.learn.opt.param_lists)
        self._last: dict[str, list[float]] = {}

    def _update_val(self, pct):
        for name, f in self.scheds.items():
            values = list(f(pct))
            if len(values) == 1:
                values = values * self._groups
            self.learn.opt._set_hyper(name, values)
            self._last[name] = values

    def after_batch(self):
        for name, values in self._last.items():
            self.hps[name].append(values[-1])


def _group_lrs(learn: Learner, lr) -> np.ndarray:
    """Set lr (a number or a slice over the layer groups) and return each group's value."""
    if learn.opt is None:
        learn.create_opt()
    learn.opt.set_hyper("lr", learn.lr if lr is None else lr)
    return np.array([h["lr"] for h in learn.opt.hypers])


def fit_one_cycle(learn: Learner, n_epoch: int, lr_max, wd=None, cbs=(), pct_start=None) -> None:
    """fastai's Learner.fit_one_cycle (div 25, div_final 1e5, momentum 0.95 → 0.85 → 0.95)."""
    pct = ONE_CYCLE["pct_start"] if pct_start is None else pct_start
    lr = _group_lrs(learn, lr_max)
    scheds = {
        "lr": CombinedCos(pct, lr / ONE_CYCLE["div"], lr, lr / ONE_CYCLE["div_final"]),
        "mom": CombinedCos(pct, *learn.moms),
    }
    learn.fit(n_epoch, cbs=[Scheduler(scheds), *cbs], wd=wd)


def fit_flat_cos(learn: Learner, n_epoch: int, lr, wd=None, cbs=()) -> None:
    """fastai's Learner.fit_flat_cos: flat at lr for 75 % of the steps, then a cosine down to lr/1e5."""
    lrs = _group_lrs(learn, lr)
    learn.fit(n_epoch, cbs=[Scheduler({"lr": CombinedCos(FLAT_COS_PCT, lrs, lrs, lrs / 1e5)}), *cbs], wd=wd)


def fit_constant(learn: Learner, n_epoch: int, lr, wd=None, cbs=()) -> None:
    """fastai's Learner.fit at a constant learning rate."""
    learn.fit(n_epoch, lr, wd=wd, cbs=list(cbs))
