"""Is a difference real? Seed groups and a 95 % interval that counts two kinds of noise.

Two settings are compared through groups of runs that differ only in their seed. The interval
for the difference of their main metric adds the seed-to-seed spread (Welch's t over each
run's final figure) and, for an accuracy, the binomial error of measuring it on n validation
images: a 0.3-point gain on 359 images is well inside what those two alone produce.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from core import tasks
from core.config import TrainConfig
from core.errors import UserError
from core.jobs.store import Job

CONFIDENCE = 0.95
PROPORTIONS = ("accuracy", "error_rate")  # metrics that are a share of validation items
FIRST = ["dataset", "data", "task", "arch", "lr", "lr_low", "bs", "wd", "epochs", "schedule"]
FIRST += ["freeze_epochs", "seed", "augment", "continues"]


def settings(job: Job) -> dict:
    """A run's settings as one flat dict (aug.*, options.*), with the data version and start.

    "data" is the dataset's fingerprint the run saw (None when it saved nothing), "continues"
    the run whose training it continues (a retrain's source is its lineage, not a setting: it
    differs from its source by its data). Older configs are filled with today's defaults, so a field
    added later never looks like a difference.
    """
    raw = job.params.get("config") or {}
    try:
        config = TrainConfig.from_dict(raw).to_dict()
    except UserError:
        config = dict(raw)
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            if key == "aug" and not config.get("augment"):
                continue  # augmentation off: its fine settings change nothing
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    flat["data"] = (job.result or {}).get("data_fingerprint")
    resumed = job.params.get("continue") or {}
    flat["continues"] = resumed.get("parent", job.parent) if resumed else None
    first = [k for k in FIRST if k in flat]
    return {k: flat[k] for k in first + sorted(set(flat) - set(first))}


def _key(values: dict) -> str:
    return json.dumps({k: v for k, v in values.items() if k != "seed"}, sort_keys=True, default=str)


@dataclass(frozen=True)
class Group:
    """Runs whose settings are the same but for the seed."""

    runs: tuple[Job, ...]
    settings: dict  # the shared settings (seed left out)
    task: str

    @property
    def metric(self) -> str:
        """The task's main metric."""
        return tasks.get(self.task).main_metric

    @property
    def ids(self) -> list[int]:
        """The runs' ids."""
        return [j.id for j in self.runs]

    @property
    def seeds(self) -> list:
        """Each run's seed."""
        return [(j.params.get("config") or {}).get("seed") for j in self.runs]

    @property
    def values(self) -> list[float]:
        """The main metric of each run that has one (finished runs)."""
        out = []
        for job in self.runs:
            v = (job.result or {}).get(self.metric)
            if isinstance(v, (int, float)) and math.isfinite(v):
                out.append(float(v))
        return out

    @property
    def n_valid(self) -> int | None:
        """Validation images the metric was measured on (the fewest among the runs)."""
        ns = [(j.result or {}).get("n_valid") for j in self.runs]
        ns = [int(n) for n in ns if isinstance(n, (int, float)) and n > 0]
        return min(ns) if ns else None

    @property
    def mean(self) -> float | None:
        """Mean of the per-seed finals."""
        return statistics.fmean(self.values) if self.values else None

    @property
    def sd(self) -> float | None:
        """Standard deviation of the per-seed finals (None with fewer than 2)."""
        return statistics.stdev(self.values) if len(self.values) > 1 else None

    @property
    def label(self) -> str:
        """ "run 3" or "runs 3, 4, 5"."""
        return ("run " if len(self.runs) == 1 else "runs ") + ", ".join(map(str, self.ids))


def seed_groups(jobs: Sequence[Job]) -> list[Group]:
    """The runs grouped by identical settings but the seed, in the order they first appear."""
    found: list[tuple[str, dict, list[Job]]] = []  # (key without data, shared settings, runs)
    for job in jobs:
        values = {k: v for k, v in settings(job).items() if k != "seed"}
        key = _key({k: v for k, v in values.items() if k != "data"})
        for other_key, shared, members in found:
            # a run that saved nothing has no data version: it joins a group that matches the rest
            if other_key == key and (
                shared["data"] == values["data"] or None in (shared["data"], values["data"])
            ):
                members.append(job)
                shared["data"] = shared["data"] or values["data"]
                break
        else:
            found.append((key, values, [job]))
    return [Group(tuple(runs), shared, shared.get("task") or tasks.DEFAULT) for _, shared, runs in found]


@dataclass(frozen=True)
class Verdict:
    """The 95 % interval for mean(a) − mean(b) of the main metric, and what it means."""

    difference: float
    low: float
    high: float
    within_noise: bool  # the interval contains 0
    text: str
    df: float  # degrees of freedom of the t quantile (inf: seed spread unknown)


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with df degrees of freedom (normal when df is inf)."""
    if math.isinf(df):
        return statistics.NormalDist().inv_cdf(p)
    try:
        from scipy.stats import t

        return float(t.ppf(p, df))
    except ImportError:
        return _t_quantile_approx(p, df)


def _t_quantile_approx(p: float, df: float) -> float:
    """Without scipy: exact for 1 and 2 degrees of freedom (rounded down, so wider), else the
    Cornish-Fisher expansion (Abramowitz & Stegun 26.7.5), within 0.5 % from 3 up."""
    if df < 3:
        if math.floor(df) <= 1:
            return math.tan(math.pi * (p - 0.5))
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    z = statistics.NormalDist().inv_cdf(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def _binomial_variance(p: float, n: int) -> float:
    """Variance of an accuracy measured on n items (Laplace-smoothed, so 100 % is not exact)."""
    q = (p * n + 1) / (n + 2)
    return q * (1 - q) / n


def _amount(d: float, task) -> str:
    if "%" in task.metric_format:
        return f"{d * 100:+.1f} points"
    return f"{d:+.3g}"


def _differs(a: Group, b: Group) -> str:
    keys = [k for k in dict.fromkeys([*a.settings, *b.settings]) if a.settings.get(k) != b.settings.get(k)]
    return ", ".join(f"{k} {a.settings.get(k)} against {b.settings.get(k)}" for k in keys[:2])


def verdict(a: Group, b: Group, confidence: float = CONFIDENCE) -> Verdict:
    """Whether group a's main metric differs from group b's by more than noise.

    The variance of mean(a) − mean(b) adds the seed spread of each group (Welch: s²/n each,
    Welch–Satterthwaite degrees of freedom; a group of one run borrows the other group's s)
    and, for an accuracy, p(1−p)/n of each group's validation set. "Within noise" when the
    interval contains 0.
    """
    if a.task != b.task:
        raise UserError("Runs of different tasks are not compared.")
    task = tasks.get(a.task)
    for g in (a, b):
        if not g.values:
            raise UserError(f"{g.label.capitalize()} has no finished figure for {task.main_metric} yet.")
    xa, xb = a.values, b.values
    na, nb = len(xa), len(xb)
    d = statistics.fmean(xa) - statistics.fmean(xb)
    va, vb = a.sd, b.sd
    terms: list[tuple[float, float]] = []  # (variance, degrees of freedom)
    if va is not None and vb is not None:
        terms = [(va**2 / na, na - 1), (vb**2 / nb, nb - 1)]
    elif va is not None or vb is not None:
        s, n = (va, na) if va is not None else (vb, nb)
        terms = [(s**2 * (1 / na + 1 / nb), n - 1)]
    total = sum(v for v, _ in terms)
    binomial = task.main_metric in PROPORTIONS and a.n_valid and b.n_valid
    if binomial:
        total += _binomial_variance(statistics.fmean(xa), a.n_valid) + _binomial_variance(
            statistics.fmean(xb), b.n_valid
        )
    denom = sum(v**2 / df for v, df in terms if v > 0)
    df = total**2 / denom if denom > 0 else math.inf
    half = t_quantile(0.5 + confidence / 2, df) * math.sqrt(total)
    low, high = d - half, d + half
    within = low <= 0 <= high
    metric = task.main_metric
    fmt = task.metric_format.format
    what = _differs(a, b)
    text = (
        f"{a.label.capitalize()} against {b.label}{f' ({what})' if what else ''}: {metric} "
        f"{fmt(statistics.fmean(xa))} against {fmt(statistics.fmean(xb))}, a difference of "
        f"{_amount(d, task)}; the {confidence:.0%} interval, {_amount(low, task)} to {_amount(high, task)}, "
    )
    if within:
        noise = ["a change of seed"] if terms else []
        if binomial:
            noise.append(f"measuring on {min(a.n_valid, b.n_valid)} validation images")
        text += f"contains 0: within noise ({' and '.join(noise) or 'noise'} alone could make it)."
    else:
        better = (d > 0) == task.higher_is_better
        winner = a if better else b
        verb = "is" if len(winner.runs) == 1 else "are"
        text += f"leaves 0 out: larger than noise ({winner.label} {verb} better)."
    if not terms:
        text += " Each side has one seed, so the seed's own spread is not counted: repeat with other seeds."
    return Verdict(d, low, high, within, text, df)
