"""Comparing runs: only the settings that differ, the final figures, one sentence, the curves.

compare() lays 2 to 10 runs of one task side by side; seed_groups() and verdict() (in
core.analysis.noise) say whether a difference is larger than a change of seed alone makes;
curves() gives every run's curves on shared axes, thinned for drawing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core import tasks
from core.analysis.noise import Group, Verdict, seed_groups, settings, verdict  # noqa: F401 (the API)
from core.errors import UserError
from core.jobs.store import Job, Store

MIN_RUNS, MAX_RUNS = 2, 10
MAX_POINTS = 2000  # points per run that curves() returns (thinned evenly)
X_AXES = ("epoch", "batch", "images")

FINALS = ["name", "state", "valid_loss", "train_loss", "seconds", "images_per_second", "epochs_done"]

# How the sentence names a setting: "run 7 used a learning rate 10× higher than run 5".
LABELS = {
    "lr": "a learning rate",
    "lr_low": "a low-end learning rate",
    "bs": "a batch size",
    "wd": "a weight decay",
    "epochs": "a number of epochs",
    "freeze_epochs": "a number of frozen epochs",
    "size": "an image size",
    "valid_pct": "a validation share",
    "arch": "the architecture",
    "schedule": "the schedule",
    "dataset": "the dataset",
    "augment": "augmentation",
    "seed": "a seed",
}


@dataclass
class Comparison:
    """Runs side by side: only what differs, what is the same, the final figures, one sentence."""

    runs: list[int]
    task: str
    metric: str  # the task's main metric, a column of finals
    higher_is_better: bool
    differing: pd.DataFrame  # setting × run, only the settings that differ
    same: dict  # every other setting and its shared value
    finals: pd.DataFrame  # run × final figures (the main metric first)
    sentence: str
    groups: list[Group] = field(default_factory=list)  # runs that differ only in their seed


def load(store: Store, ids: Sequence[int]) -> list[Job]:
    """The training runs with these ids, in order; UserError naming an id that is not one."""
    jobs = []
    for run_id in ids:
        job = store.get(int(run_id))
        if job is None:
            raise UserError(f"There is no run {run_id}.")
        if job.kind != "train":
            raise UserError(f"Job {run_id} is a {job.kind} job, not a training run; only runs compare.")
        jobs.append(job)
    return jobs


def _checked(jobs: Sequence[Job | int], store: Store | None) -> list[Job]:
    if any(j is None for j in jobs):
        raise UserError("One of the chosen runs does not exist (any more).")
    if any(not isinstance(j, Job) for j in jobs):
        if store is None:
            raise TypeError("Runs named by id need the job store to be looked up.")
        jobs = [j if isinstance(j, Job) else load(store, [j])[0] for j in jobs]
    unique = list({j.id: j for j in jobs}.values())
    if len(unique) < MIN_RUNS:
        raise UserError(f"Choose at least {MIN_RUNS} different runs to compare.")
    if len(unique) > MAX_RUNS:
        raise UserError(f"Compare at most {MAX_RUNS} runs at once; {len(unique)} were chosen.")
    for job in unique:
        if job.kind != "train":
            raise UserError(f"Job {job.id} is a {job.kind} job, not a training run; only runs compare.")
    kinds = {job.id: _task(job) for job in unique}
    if len(set(kinds.values())) > 1:
        shown = ", ".join(
            f"run {i} is {tasks.get(t).title if t in tasks.TASKS else t}" for i, t in kinds.items()
        )
        raise UserError(f"Runs of different tasks are not compared ({shown}).")
    return unique


def _task(job: Job) -> str:
    return job.task or (job.params.get("config") or {}).get("task") or tasks.DEFAULT


def finals_frame(jobs: Sequence[Job], metric: str) -> pd.DataFrame:
    """run × final figures: the main metric, losses, time, speed (NaN where a run has none)."""
    rows = []
    for job in jobs:
        r = job.result or {}
        row = {"run": job.id, metric: r.get(metric), **{k: r.get(k) for k in FINALS}}
        row["name"], row["state"] = job.name, job.state
        if "best_epoch" in r:
            row["best_epoch"], row["kept"] = r.get("best_epoch"), r.get("kept")
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("run")
    for col in [metric, *FINALS[2:]]:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame


def compare(jobs: Sequence[Job | int], store: Store | None = None) -> Comparison:
    """2 to 10 runs of one task side by side (ids are looked up in store).

    The data version (the dataset's fingerprint a run saw) counts as a setting: a run retrained
    after cleaning differs from its parent by its data. UserError for fewer than 2 or more than
    10 runs, an unknown id, a job that is not a training run, or runs of different tasks.
    """
    jobs = _checked(jobs, store)
    task = tasks.get(_task(jobs[0]))
    per_run = {job.id: settings(job) for job in jobs}
    keys = list(dict.fromkeys(k for s in per_run.values() for k in s))
    differing, same = {}, {}
    for key in keys:
        values = [per_run[i].get(key) for i in per_run]
        known = {json.dumps(v, sort_keys=True, default=str) for v in values if v is not None}
        unknown_only = key == "data" and len(known) <= 1  # a run that saved nothing: version unknown
        if len({json.dumps(v, sort_keys=True, default=str) for v in values}) > 1 and not unknown_only:
            differing[key] = values
        else:
            same[key] = next((v for v in values if v is not None), None)
    frame = pd.DataFrame.from_dict(differing, orient="index", columns=list(per_run), dtype=object)
    frame.index.name = "setting"
    finals = finals_frame(jobs, task.main_metric)
    return Comparison(
        runs=list(per_run),
        task=task.name,
        metric=task.main_metric,
        higher_is_better=task.higher_is_better,
        differing=frame,
        same=same,
        finals=finals,
        sentence=sentence(jobs, per_run, finals, task),
        groups=seed_groups(jobs),
    )


# --- the sentence ----------------------------------------------------------------------------


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _size(key: str, a, b) -> float:
    """How large a difference in one setting is, to pick the one the sentence names."""
    if key == "seed":
        return 0.0
    if _number(a) and _number(b) and a > 0 and b > 0:
        return abs(math.log10(a / b))
    return 1.0  # a change of kind (architecture, schedule, data) weighs as much as 10×


def _times(r: float) -> str:
    return f"{r:.0f}×" if r >= 3 or abs(r - round(r)) < 0.05 else f"{r:.1f}×"


def _shown(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if v is None:
        return "none"
    return str(v)


def _setting_phrase(key: str, a, b, run_b: int) -> str:
    if key == "data":
        return f"saw another version of the data than run {run_b}"
    if key == "continues":
        start = f"continued run {a}" if a is not None else "started from scratch"
        other = f"run {run_b} continued run {b}" if b is not None else f"run {run_b} started from scratch"
        return f"{start} where {other}"
    label = LABELS.get(key, f"the setting {key}")
    if _number(a) and _number(b) and a > 0 and b > 0 and a != b:
        return (
            f"used {label} {_times(max(a, b) / min(a, b))} {'higher' if a > b else 'lower'} than run {run_b}"
        )
    if isinstance(a, bool) and isinstance(b, bool):
        return f"{'used' if a else 'did without'} {label} where run {run_b} {'did not' if a else 'used it'}"
    return f"used {label} {_shown(a)} where run {run_b} used {_shown(b)}"


def _change(d: float, percent: bool) -> str:
    if percent:
        return f"{abs(d) * 100:.1f} points"
    return f"{abs(d):.2g}"


def _outcome(finals: pd.DataFrame, a: int, b: int, task) -> str:
    m = task.main_metric
    fa, fb = finals.loc[a], finals.loc[b]
    parts = []
    if not (math.isnan(fa[m]) or math.isnan(fb[m])):
        d = fa[m] - fb[m]
        if abs(d) < 5e-5:
            parts.append(f"its {m} ended the same")
        else:
            parts.append(
                f"its {m} ended {_change(d, '%' in task.metric_format)} {'higher' if d > 0 else 'lower'}"
            )
    if not (math.isnan(fa["valid_loss"]) or math.isnan(fb["valid_loss"])):
        d = fa["valid_loss"] - fb["valid_loss"]
        word = "the same" if abs(d) < 5e-4 else f"{_change(d, False)} {'higher' if d > 0 else 'lower'}"
        parts.append(f"its validation loss {word}" if parts else f"its validation loss ended {word}")
    if (
        not (math.isnan(fa["seconds"]) or math.isnan(fb["seconds"]))
        and fa["seconds"] > 0
        and fb["seconds"] > 0
    ):
        r = fa["seconds"] / fb["seconds"]
        if 1 / 1.1 <= r <= 1.1:
            parts.append("it finished in the same time")
        else:
            parts.append(f"it took {_times(r)} as long" if r > 1 else f"it finished {_times(1 / r)} faster")
    if not parts:
        return f"run {a if math.isnan(fa[m]) else b} has no final figures yet"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _pair(jobs: Sequence[Job], finals: pd.DataFrame, task) -> tuple[int, int]:
    """The two runs the sentence is about: the best and the worst on the main metric."""
    scored = finals[task.main_metric].dropna()
    if len(scored) >= 2:
        ordered = scored.sort_values(ascending=not task.higher_is_better).index
        return int(ordered[0]), int(ordered[-1])
    return jobs[-1].id, jobs[0].id  # no figures to rank by: the newest against the first


def sentence(jobs: Sequence[Job], per_run: dict[int, dict], finals: pd.DataFrame, task) -> str:
    """One plain sentence on the largest difference between the best run and the worst."""
    a, b = _pair(jobs, finals, task)
    sa, sb = per_run[a], per_run[b]
    keys = [
        k
        for k in dict.fromkeys([*sa, *sb])
        if sa.get(k) != sb.get(k) and not (k == "data" and (sa.get(k) is None or sb.get(k) is None))
    ]
    outcome = _outcome(finals, a, b, task)
    if not keys:
        return f"Runs {a} and {b} used the same settings; run {a}: {outcome}."
    if keys == ["seed"]:
        return f"Run {a} differed from run {b} only in its seed; {outcome}."
    keys = [k for k in keys if k != "seed"]
    key = max(keys, key=lambda k: _size(k, sa.get(k), sb.get(k)))
    more = len(keys) - 1
    extra = f" (and {more} other setting{'s' if more > 1 else ''} differed)" if more else ""
    return f"Run {a} {_setting_phrase(key, sa.get(key), sb.get(key), b)}{extra}; {outcome}."


# --- curves ----------------------------------------------------------------------------------


def _batches(store: Store, job_id: int, budget: int) -> pd.DataFrame:
    """The run's per-batch smoothed loss, every k-th step so at most `budget` rows (last kept)."""
    (n, first, last) = tuple(
        store.read("SELECT count(*), min(step), max(step) FROM batches WHERE job_id = ?", (job_id,))[0]
    )
    if not n:
        return pd.DataFrame(columns=["step", "loss"])
    k = max(1, math.ceil(n / max(1, budget - 1)))
    rows = store.read(
        "SELECT step, loss FROM batches WHERE job_id = ? AND ((step - ?) % ? = 0 OR step = ?) ORDER BY step",
        (job_id, first, k, last),
    )
    return pd.DataFrame([tuple(r) for r in rows], columns=["step", "loss"])


def _epoch_of_step(steps: np.ndarray, epochs: pd.DataFrame, first_step: int, job: Job) -> np.ndarray:
    """Fractional epochs for batch steps, from where each recorded epoch ended (extrapolated)."""
    if len(epochs):
        knots_s = [first_step - 1, *epochs["step"].astype(float)]
        knots_e = [float(epochs["epoch"].min()), *(epochs["epoch"].astype(float) + 1)]
        per = (knots_s[-1] - knots_s[-2]) / max(1e-9, knots_e[-1] - knots_e[-2])
    else:
        r, cfg = job.result or {}, job.params.get("config") or {}
        if not r.get("n_train") or not cfg.get("bs"):
            return np.full(len(steps), np.nan)
        knots_s, knots_e, per = [first_step - 1], [0.0], math.ceil(r["n_train"] / cfg["bs"])
    out = np.interp(steps, knots_s, knots_e)
    beyond = steps > knots_s[-1]
    out[beyond] = knots_e[-1] + (steps[beyond] - knots_s[-1]) / max(per, 1e-9)
    return out


def curves(store: Store, jobs: Sequence[Job], x: str = "epoch") -> pd.DataFrame:
    """Every run's curves as rows (run, x, series, value), at most MAX_POINTS per run.

    Series: train_loss (fastai's smoothed loss, per batch), valid_loss and each metric (per
    epoch, at the epoch's end). x is "epoch" (fractional for batches), "batch" or "images"
    (batches × batch size). A continued run's steps and epochs continue its parent's, so its
    curve sits where the parent's ends.
    """
    if x not in X_AXES:
        raise UserError(f"Draw curves by {', '.join(X_AXES)}; not {x!r}.")
    parts = []
    for job in (j for j in jobs if j is not None):  # a run deleted meanwhile draws nothing
        epochs = store.epochs(job.id)
        metric_cols = [
            c for c in epochs.columns if c not in ("epoch", "phase", "step", "train_loss", "seconds")
        ]
        budget = max(10, MAX_POINTS - len(epochs) * len(metric_cols))
        batches = _batches(store, job.id, budget)
        bs = float((job.params.get("config") or {}).get("bs") or 1)
        steps = batches["step"].to_numpy(dtype=float)
        first = int(steps[0]) if len(steps) else int(epochs["step"].min() if len(epochs) else 1)
        bx = {"batch": steps, "images": steps * bs}.get(x)
        if bx is None:
            bx = _epoch_of_step(steps, epochs, first, job)
        parts.append(pd.DataFrame({"run": job.id, "x": bx, "series": "train_loss", "value": batches["loss"]}))
        if len(epochs):
            ex = {"batch": epochs["step"], "images": epochs["step"] * bs, "epoch": epochs["epoch"] + 1}[x]
            for col in metric_cols:
                parts.append(
                    pd.DataFrame(
                        {
                            "run": job.id,
                            "x": ex.astype(float),
                            "series": col,
                            "value": epochs[col].astype(float),
                        }
                    )
                )
    if not parts:
        return pd.DataFrame(columns=["run", "x", "series", "value"])
    out = pd.concat(parts, ignore_index=True)
    return out.dropna(subset=["x", "value"]).reset_index(drop=True)


def _plain(v):
    """A value as JSON takes it (numpy scalars unwrapped, NaN as None)."""
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def to_dict(c: Comparison) -> dict:
    """A comparison as plain JSON: settings that differ per run, the same ones, finals, sentence,
    seed groups and, with two groups or more, each later group's verdict against the first."""
    out = {
        "runs": c.runs,
        "task": c.task,
        "main_metric": c.metric,
        "higher_is_better": c.higher_is_better,
        "differing": {k: {str(r): _plain(v) for r, v in row.items()} for k, row in c.differing.iterrows()},
        "same": {k: _plain(v) for k, v in c.same.items()},
        "finals": [
            {"run": int(r), **{k: _plain(v) for k, v in row.items()}} for r, row in c.finals.iterrows()
        ],
        "sentence": c.sentence,
        "groups": [{"runs": g.ids, "seeds": g.seeds, "mean": g.mean, "sd": g.sd} for g in c.groups],
        "verdicts": [],
    }
    for g in c.groups[1:]:
        try:
            v = verdict(g, c.groups[0])
        except UserError as e:
            out["verdicts"].append({"runs": [g.ids, c.groups[0].ids], "error": str(e)})
            continue
        out["verdicts"].append(
            {
                "runs": [g.ids, c.groups[0].ids],
                "difference": v.difference,
                "low": v.low,
                "high": v.high,
                "within_noise": v.within_noise,
                "text": v.text,
            }
        )
    return out
