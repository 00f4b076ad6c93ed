"""Continue training: queue N more epochs of a run from its last completed epoch.

The new run is a normal "train" job whose config is its parent's with the epochs (and
optionally the learning rate and schedule) changed, whose params name the parent
({"continue": {"parent", "unfreeze", "epoch", "step"}}), and whose store row records
parent=parent_id. Training restores the parent's checkpoint (weights and optimizer state) and
numbers its epochs and batches on from the parent's, so its curves extend the parent's.

The same resumes a run whose worker died: its checkpoint holds its last completed epoch, and
without a number of epochs the new run trains the epochs the parent had left.

Light at import (no torch, no fastai): the dashboard calls it.
"""

from __future__ import annotations

from typing import Any

from core.config import TrainConfig
from core.errors import UserError
from core.jobs.store import ACTIVE, RUNNING, Job, Store
from core.train import checkpoint


def _parent(store: Store, parent_id: Any) -> Job:
    try:
        run_id = int(parent_id)
    except (TypeError, ValueError):
        raise UserError(f"{parent_id!r} is not a run id; run ids are whole numbers.") from None
    job = store.get(run_id)
    if job is None:
        raise UserError(f"There is no run {run_id}.")
    if job.kind != "train":
        raise UserError(
            f"Job {run_id} is a {job.kind.replace('_', '-')} job; only training runs can be continued."
        )
    if job.deleted is not None:
        raise UserError(f"Run {run_id} is in the trash; restore it before continuing it.")
    if job.state == RUNNING and _orphaned(store):
        job = store.get(run_id) or job
    if job.state in ACTIVE:
        raise UserError(f"Run {run_id} is still {job.state.lower()}; continue it once it has ended.")
    return job


def _orphaned(store: Store) -> bool:
    """With no worker alive, mark RUNNING jobs FAILED (their worker died); True if it could look."""
    from core.jobs import worker

    handle = worker.acquire_lock(probe=True)
    if handle is None:
        return False  # a worker is alive: the run really is running
    try:
        worker.recover(store)
    finally:
        worker.release_lock(handle)
    return True


def plan(
    store: Store,
    parent_id: int,
    *,
    epochs: int | None = None,
    lr: float | None = None,
    schedule: str | None = None,
    unfreeze: bool = False,
    keep_best: bool | None = None,
    early_stop: bool | None = None,
) -> dict[str, Any]:
    """The params of the run that would continue parent_id; UserError with a sentence if it cannot.

    epochs: how many more (None: the epochs the parent had left, when it stopped early). lr,
    schedule, keep_best, early_stop: None keeps the parent's. Nothing is queued.
    """
    job = _parent(store, parent_id)
    meta = checkpoint.read_meta(job.id)
    if meta is None:
        raise UserError(
            f"Run {job.id} never finished an epoch (or was trained before checkpoints were kept), "
            "so there is nothing to continue from; train it again instead."
        )
    base = TrainConfig.from_dict(job.params["config"])
    if epochs is None:
        left = base.freeze_epochs + base.epochs - int(meta.get("run_epochs", 0))
        if left < 1:
            raise UserError(f"Run {job.id} finished all its epochs; say how many more epochs to train.")
        epochs = left
    changes: dict[str, Any] = {"epochs": epochs, "freeze_epochs": 0}
    if lr is not None:
        changes["lr"] = lr
        if base.lr_low is not None and isinstance(lr, (int, float)) and lr > 0:
            changes["lr_low"] = base.lr_low * lr / base.lr  # the same discriminative spread
    if schedule is not None:
        changes["schedule"] = schedule
    if keep_best is not None:
        changes["keep_best"] = bool(keep_best)
    if early_stop is not None:
        changes["early_stop"] = bool(early_stop)
    cfg = base.replace(**changes).validate()
    return {
        "config": cfg.to_dict(),
        "continue": {
            "parent": job.id,
            "unfreeze": bool(unfreeze),
            "epoch": int(meta["epoch"]),  # this run's first epoch number
            "step": int(meta["step"]),  # the parent's last batch number
        },
    }


def submit_continue(store: Store, parent_id: int, **options: Any) -> int:
    """Queue `epochs` more epochs of a finished, cancelled or failed run; returns the new job's id.

    options are plan()'s (epochs, lr, schedule, unfreeze, keep_best, early_stop). Refuses
    (UserError, nothing queued) an unknown id, a run in the trash, one still queued or running,
    and one that never finished an epoch.
    """
    params = plan(store, parent_id, **options)
    return store.submit("train", params, parent=params["continue"]["parent"])
