"""What a sweep tries: its spec (a base config, an lr log range and choices), the sentences that
refuse a bad one, and its expected total time. core.jobs.sweeps runs it and re-exports these names.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.config import TrainConfig, config_problems

if TYPE_CHECKING:
    from core.jobs.store import Store

SAMPLERS = {
    "grid": "every combination in turn (the lr range cut into log-spaced points)",
    "random": "settings drawn at random (lr uniform on a log scale)",
    "tpe": "Bayesian (Optuna's TPE): later runs try settings near the best so far",
}
MAX_BUDGET = 100  # runs in one sweep
PARAMS = ("lr", "bs", "wd", "epochs", "arch")  # what a sweep may vary: TrainConfig field names
DEFAULT_EPOCH_SECONDS = 5.0  # an epoch's time when the store has no run of the dataset yet
DEFAULT_START_SECONDS = 2.0  # a run's data and model preparation, likewise


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep tries: a base config and, per setting, a log range (lr) or choices."""

    base: TrainConfig = field(default_factory=TrainConfig)
    lr: tuple[float, float] | None = None  # (low, high), searched on a log scale; None keeps base.lr
    bs: tuple[int, ...] = ()  # choices; empty keeps the base value (so for wd, epochs, archs)
    wd: tuple[float, ...] = ()
    epochs: tuple[int, ...] = ()
    archs: tuple[str, ...] = ()
    sampler: str = "tpe"
    budget: int = 8  # runs
    seed: int = 0  # the sampler's seed, so a sweep can be repeated

    def __post_init__(self):
        for name in ("bs", "wd", "epochs", "archs"):  # lists from JSON or a form; duplicates dropped
            object.__setattr__(self, name, tuple(dict.fromkeys(getattr(self, name) or ())))
        if self.lr is not None:
            object.__setattr__(self, "lr", tuple(self.lr))

    def choices(self) -> dict[str, list]:
        """The varied settings with more than one choice (lr excluded: it is a range)."""
        named = {"bs": self.bs, "wd": self.wd, "epochs": self.epochs, "arch": self.archs}
        return {k: list(v) for k, v in named.items() if len(v) > 1}

    def fixed(self) -> dict[str, Any]:
        """Settings given a single choice: they replace the base value in every run."""
        named = {"bs": self.bs, "wd": self.wd, "epochs": self.epochs, "arch": self.archs}
        return {k: v[0] for k, v in named.items() if len(v) == 1}

    def varied(self) -> list[str]:
        """Names of the settings that differ between runs."""
        return (["lr"] if self.lr else []) + list(self.choices())

    def grid(self) -> dict[str, list]:
        """The grid sampler's search space: the lr range as log-spaced points, enough for the budget."""
        space = self.choices()
        if self.lr:
            others = math.prod(len(v) for v in space.values())
            space["lr"] = _log_points(*self.lr, max(2, math.ceil(self.budget / others)))
        return space

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as stored in the sweeps table."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "base"}
        return {
            "base": self.base.to_dict(),
            **{k: list(v) if isinstance(v, tuple) else v for k, v in data.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        """Rebuild a stored spec."""
        return cls(**{**data, "base": TrainConfig.from_dict(data["base"])})


def _log_points(low: float, high: float, n: int) -> list[float]:
    step = (math.log(high) - math.log(low)) / (n - 1)
    points = [float(f"{math.exp(math.log(low) + i * step):.3g}") for i in range(n)]
    return sorted({min(max(p, low), high) for p in points})


def problems(spec: SweepSpec) -> list[str]:
    """Every reason the sweep cannot be queued, as sentences (empty when it can)."""
    from core import tasks
    from core.data import datasets
    from core.train.archs import ARCHS

    out: list[str] = []
    if spec.sampler not in SAMPLERS:
        out.append(f"Unknown search {spec.sampler!r}; choose one of: {', '.join(SAMPLERS)}.")
    b = spec.budget
    if not isinstance(b, int) or isinstance(b, bool) or b < 1:
        out.append("A sweep needs a budget of at least 1 run.")
    elif b > MAX_BUDGET:
        out.append(f"A budget of {b} runs is over the limit of {MAX_BUDGET}; split it into smaller sweeps.")
    if spec.lr is not None:
        low, high = (list(spec.lr) + [None, None])[:2]
        if len(spec.lr) != 2 or not all(_positive(x) for x in (low, high)):
            out.append("The learning-rate range needs two numbers above 0, low first, like 1e-4:1e-2.")
        elif low == high:
            out.append(
                f"The learning-rate range {low:g}:{high:g} is empty; give a low end below the high end."
            )
        elif low > high:
            out.append(f"The learning-rate range {low:g}:{high:g} is inverted; put the low end first.")
        else:
            out += config_problems(spec.base.replace(lr=float(high)))
            if spec.base.lr_low is not None:
                out.append("A discriminative learning rate (lr_low) cannot be swept; clear it first.")
    fitting = tasks.get(spec.base.task).archs if spec.base.task in tasks.TASKS else tuple(ARCHS)
    out += [
        f"Unknown architecture {a!r}. Choose one of: {', '.join(fitting)}."
        if a not in ARCHS
        else f"{a!r} is not an architecture for this task; choose one of: {', '.join(fitting)}."
        for a in spec.archs
        if a not in fitting
    ]
    out += config_problems(spec.base)
    for key, values in (("bs", spec.bs), ("wd", spec.wd), ("epochs", spec.epochs)):
        for v in values:
            out += config_problems(spec.base.replace(**{key: v}))
    if spec.base.dataset not in datasets.available():
        names = ", ".join(datasets.available())
        out.append(f"Unknown dataset {spec.base.dataset!r}. Choose one of: {names}.")
    if not out and not spec.varied():
        out.append(
            "Nothing varies in this sweep: give a learning-rate range or more than one batch size, "
            "weight decay, epoch count or architecture."
        )
    elif not out and spec.sampler == "grid" and not spec.lr:
        size = math.prod(len(v) for v in spec.choices().values())
        if size < b:
            out.append(f"The grid has only {size} combinations; use a budget of at most {size} (or random).")
    return list(dict.fromkeys(out))


def _positive(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def estimate_seconds(store: Store, spec: SweepSpec) -> float:
    """The sweep's expected total time, from earlier finished runs of the dataset in the store.

    Seconds per epoch are the median of the store's recent DONE runs of the same dataset and
    architecture (of the dataset when an architecture has none; DEFAULT_EPOCH_SECONDS without
    any), plus each run's preparation time, for the mean epoch count of the choices.
    """
    from core.jobs.store import DONE

    d = store.dialect
    where, args = store.scope()
    rows = store.read(
        f"SELECT {d.json_text('params', 'config', 'arch')} AS arch, {d.json_num('result', 'seconds')} AS s, "
        f"{d.json_num('result', 'total_seconds')} AS total, {d.json_num('result', 'epochs_done')} AS e "
        f"FROM jobs WHERE kind = 'train' AND state = ? AND {d.json_text('params', 'config', 'dataset')} = ? "
        f"AND {d.json_num('result', 'epochs_done')} > 0{where} ORDER BY id DESC LIMIT 200",
        (DONE, spec.base.dataset, *args),
    )
    per_epoch: dict[str, list[float]] = {}
    starts = [r["total"] - r["s"] for r in rows if r["total"] is not None and r["s"] is not None]
    for r in rows:
        if r["s"] is not None:
            per_epoch.setdefault(r["arch"], []).append(r["s"] / r["e"])
    everything = [x for xs in per_epoch.values() for x in xs]
    fallback = statistics.median(everything) if everything else DEFAULT_EPOCH_SECONDS
    archs = spec.archs or (spec.base.arch,)
    epoch_s = statistics.fmean(statistics.median(per_epoch[a]) if a in per_epoch else fallback for a in archs)
    epochs = statistics.fmean(spec.epochs or (spec.base.epochs,)) + spec.base.freeze_epochs
    start = statistics.median(starts) if starts else DEFAULT_START_SECONDS
    return max(1, spec.budget) * (epochs * epoch_s + start)
