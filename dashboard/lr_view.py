"""What the LR finder page shows, as plain functions: which run, the suggestions, a value's check."""

from __future__ import annotations

import math

from core.config import TrainConfig, config_problems
from core.jobs.store import Job, Store
from dashboard.text import sections

NUM_IT = 100  # mini-batches the finder trains for, as fastai's lr_find does by default
TEXT = sections("lr_find")  # the page's sentences and the suggestions' meanings
INTRO = TEXT["intro"].format(num_it=NUM_IT)


def matches(job: Job, dataset: str, arch: str) -> bool:
    """True when an lr_find job was run for this dataset and architecture."""
    cfg = job.params.get("config", {})
    return job.kind == "lr_find" and cfg.get("dataset") == dataset and cfg.get("arch") == arch


def pick_job(store: Store, run_id: int | None, dataset: str, arch: str) -> Job | None:
    """The lr_find job to show: the session's own when it fits, else the newest that does.

    So a reload (or a second tab) shows the latest finder run for the same dataset and
    architecture, and changing either on the Train page shows that pair's run instead.
    """
    if run_id is not None:
        job = store.get(run_id)
        if job is not None and matches(job, dataset, arch):
            return job
    return store.latest("lr_find", config={"dataset": dataset, "arch": arch})


def job_params(cfg: TrainConfig) -> dict:
    """The parameters of an lr_find job for the run cfg describes (its task, dataset, architecture)."""
    return {"config": cfg.to_dict(), "num_it": NUM_IT}


def usable_suggestions(suggestions: dict[str, float | None]) -> dict[str, float]:
    """The suggestions that have a finite value (a curve that diverged at once may lack some)."""
    return {name: float(v) for name, v in suggestions.items() if v is not None and math.isfinite(float(v))}


def lr_problem(value: float | None) -> str | None:
    """Why a learning rate typed by a person cannot be used, or None when it can."""
    if value is None:
        return "Type a learning rate first."
    lr_problems = [p for p in config_problems(TrainConfig(lr=value)) if "learning rate" in p]
    return lr_problems[0] if lr_problems else None


def fmt_lr(value: float) -> str:
    """A learning rate as people write it: 1.23e-03."""
    return f"{value:.2e}"


def use_label(value: float | None) -> str:
    """A suggestion's button, short enough for its column: 'Use 1.23e-03' (the sentence is its help)."""
    return f"Use {fmt_lr(value)}" if value is not None else "Use"
