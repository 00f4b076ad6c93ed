"""The learning-rate and momentum schedule a run will follow, computed before it runs.

fastai plots the schedule only after fitting; this reproduces its formulas (SchedCos,
combined_cos, even_mults) in plain Python so the dashboard can show it without importing fastai.
"""

from __future__ import annotations

import math

import pandas as pd

from core.config import TrainConfig

ADAM_MOM = 0.9  # fastai's Adam default beta1, used when no schedule moves the momentum
ONE_CYCLE = {"div": 25.0, "div_final": 1e5, "pct_start": 0.25, "moms": (0.95, 0.85, 0.95)}
FLAT_COS_PCT = 0.75
GROUPS = {
    "mnist_cnn": 2,
    "simple_cnn": 2,
    "small_cnn": 2,
    "resnet18": 3,
    "resnet34": 3,
    "tiny_unet": 2,
    "unet_resnet18": 3,
    "unet_resnet34": 3,
}


def sched_cos(start: float, end: float, pos: float) -> float:
    """fastai's SchedCos: a half cosine from start to end as pos goes 0 → 1."""
    return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def combined_cos(pct: float, start: float, middle: float, end: float, pos: float) -> float:
    """fastai's combined_cos: start → middle over the first pct, then middle → end."""
    if pos >= 1:
        return sched_cos(middle, end, 1.0)
    if pos < pct:
        return sched_cos(start, middle, pos / pct)
    return sched_cos(middle, end, (pos - pct) / (1 - pct))


def group_lrs(lr: float, lr_low: float | None, n_groups: int) -> list[float]:
    """The learning rate of each layer group, as fastai's set_hyper spreads slice(lo, hi)."""
    if lr_low is None or n_groups == 1:
        return [lr] * n_groups
    step = (lr / lr_low) ** (1 / (n_groups - 1))
    return [lr_low * step**i for i in range(n_groups)]


def _phase(
    schedule: str, lrs: list[float], n_iter: int, pct_start: float, start_mom: float
) -> list[tuple[list[float], float]]:
    out = []
    for i in range(n_iter):
        pos = i / n_iter
        if schedule == "one_cycle":
            d, df = ONE_CYCLE["div"], ONE_CYCLE["div_final"]
            group = [combined_cos(pct_start, lr / d, lr, lr / df, pos) for lr in lrs]
            mom = combined_cos(pct_start, *ONE_CYCLE["moms"], pos)
        elif schedule == "flat_cos":
            group = [combined_cos(FLAT_COS_PCT, lr, lr, lr / 1e5, pos) for lr in lrs]
            mom = start_mom
        else:
            group, mom = list(lrs), start_mom
        out.append((group, mom))
    return out


def preview(cfg: TrainConfig, batches_per_epoch: int, n_groups: int | None = None) -> pd.DataFrame:
    """One row per training batch: step, phase, mom, and lr of each layer group (lr_0 … lr_k).

    The last group (the head) is `lr`, the value fastai's Recorder and our records show.
    """
    n_groups = n_groups or GROUPS.get(cfg.arch, 2)
    rows = []
    mom = ADAM_MOM
    phases = []
    if cfg.freeze_epochs > 0:
        phases.append(("frozen", cfg.freeze_epochs, [cfg.lr] * n_groups, 0.99))
    phases.append(
        (
            "unfrozen" if cfg.freeze_epochs > 0 else "train",
            cfg.epochs,
            group_lrs(cfg.lr, cfg.lr_low, n_groups),
            ONE_CYCLE["pct_start"],
        )
    )
    step = 0
    for name, epochs, lrs, pct in phases:
        for group, group_mom in _phase(cfg.schedule, lrs, epochs * batches_per_epoch, pct, mom):
            step += 1
            mom = group_mom  # the next phase starts from the momentum this one ends with
            row = {"step": step, "phase": name, "lr": group[-1], "mom": mom}
            row.update({f"lr_{g}": v for g, v in enumerate(group)})
            rows.append(row)
    return pd.DataFrame(rows)
