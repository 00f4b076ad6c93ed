"""Sweeps: many training runs whose settings Optuna chooses, each a normal train job of the queue.

A sweep is a row of the `sweeps` table plus an Optuna study in the same store (Optuna's RDB
storage on its SQLite file or PostgreSQL database), so it survives restarts. Nothing here
trains: `tick` asks the study for the next trial and submits it as a "train" job with sweep_id
for the sweep's owner (waiting while the owner is at the class's fair share), and tells the
study how each finished member did (its task's main metric; failed or cancelled: FAIL). The
worker runs `tick` in a thread beside its training loop, so Optuna never occupies the queue.

    spec = SweepSpec(TrainConfig(), lr=(1e-4, 1e-2), bs=(32, 64), budget=8)
    sweep_id = create(store, spec)          # validated, study created, first member queued
    tick(store)                             # idempotent; safe from several processes
    status(store, sweep_id).best_run
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core import fsutil, tasks, workspace
from core.errors import UserError
from core.jobs import db, locks
from core.jobs.store import ACTIVE, DONE, FINISHED, QUEUED, Job, Store
from core.jobs.sweep_spec import (  # noqa: F401 - the sweep's API, one import for its callers
    DEFAULT_EPOCH_SECONDS,
    DEFAULT_START_SECONDS,
    MAX_BUDGET,
    PARAMS,
    SAMPLERS,
    SweepSpec,
    estimate_seconds,
    problems,
)

AHEAD = 1  # members queued beyond the running one, so the worker never waits for a tick
SWEEP_ACTIVE = ("QUEUED", "RUNNING")


@dataclass(frozen=True)
class SweepStatus:
    """Where a sweep stands; members are its train jobs, oldest first."""

    id: int
    name: str
    state: str  # QUEUED, RUNNING, DONE, CANCELLED or FAILED
    done: int  # members that have finished (in any state)
    budget: int
    best_run: int | None
    members: list[Job]
    metric: str  # the task's main metric, what the sweep ranks on
    higher_is_better: bool
    cancel_requested: bool
    error: str | None
    created: float
    finished: float | None
    spec: SweepSpec


# --- the Optuna study ------------------------------------------------------------------

_storages: dict[tuple[str, int], Any] = {}
_storages_lock = threading.Lock()
# Members this process knows Optuna was told about, per (store, study): a tick that finds none
# new (the common case, twice a second) reads two small tables and leaves Optuna alone.
_told: dict[tuple[str, str], set[int]] = {}


def _storage(store: Store):
    """Optuna's RDB storage in the store's own database (one engine per process)."""
    import os

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    key = (db.sqlalchemy_url(store.url), os.getpid())
    with _storages_lock:
        if key not in _storages:
            connect = {"connect_timeout": 10} if store.shared else {"timeout": 30}
            _storages[key] = optuna.storages.RDBStorage(key[0], engine_kwargs={"connect_args": connect})
        return _storages[key]


def _sampler(spec: SweepSpec, n_before: int):
    """A fresh sampler for the next trial. Samplers keep no state in the study, so each ask gets
    its own, seeded from the spec and the trial count: repeatable, yet not the same draw twice."""
    from optuna import samplers

    seed = spec.seed * 1000 + n_before
    if spec.sampler == "grid":  # the grid's order depends on the seed alone: trial n takes cell n
        return samplers.GridSampler(spec.grid(), seed=spec.seed)
    if spec.sampler == "random":
        return samplers.RandomSampler(seed=seed)
    return samplers.TPESampler(seed=seed, n_startup_trials=max(2, min(10, spec.budget // 2)))


def _distributions(spec: SweepSpec) -> dict:
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    out: dict = {k: CategoricalDistribution(v) for k, v in spec.choices().items()}
    if spec.lr:
        out["lr"] = FloatDistribution(float(spec.lr[0]), float(spec.lr[1]), log=True)
    return out


def _study(store: Store, name: str, sampler=None):
    import optuna

    return optuna.load_study(
        study_name=name, storage=_storage(store), sampler=sampler or optuna.samplers.RandomSampler()
    )


# --- the sweep's life ------------------------------------------------------------------


def create(store: Store, spec: SweepSpec, name: str | None = None) -> int:
    """Validate, record the sweep and its Optuna study, queue its first run; returns its id.

    Refuses a spec with problems (UserError, the first problem's sentence): nothing is queued.
    """
    found = problems(spec)
    if found:
        raise UserError(found[0])
    import optuna

    with store.transaction() as con:
        row = con.execute(
            "INSERT INTO sweeps(name, spec, state, created, budget, owner) VALUES (?, ?, 'QUEUED', ?, ?, ?) "
            "RETURNING id",
            (name, json.dumps(spec.to_dict()), time.time(), spec.budget, workspace.current_name()),
        ).fetchone()
        sweep_id = int(row[0])
    study = f"sweep-{sweep_id}-{uuid.uuid4().hex[:8]}"
    try:
        direction = "maximize" if tasks.get(spec.base.task).higher_is_better else "minimize"
        optuna.create_study(storage=_storage(store), study_name=study, direction=direction)
    except BaseException:
        with store.transaction() as con:
            con.execute("DELETE FROM sweeps WHERE id = ?", (sweep_id,))
        raise
    with store.transaction() as con:
        con.execute("UPDATE sweeps SET study = ? WHERE id = ?", (study, sweep_id))
    tick(store, wait=10.0)
    return sweep_id


def _tick_lock(store: Store, wait: float):
    """The sweeps' lock (a file, or an advisory lock when shared); None if held past `wait`."""
    if store.shared:
        return locks.try_advisory(store.url, "sweeps", wait)
    return fsutil.try_lock(store.path.with_name(store.path.name + ".sweeps.lock"), wait)


def pending(store: Store) -> bool:
    """True while some sweep may still queue runs (a worker told to stop when idle waits for it)."""
    where, args = store.scope()
    sql = f"SELECT 1 FROM sweeps WHERE state IN ('QUEUED', 'RUNNING'){where} LIMIT 1"
    return bool(store.read(sql, tuple(args)))


def tick(store: Store, wait: float = 0.0) -> None:
    """Tell Optuna about members that finished, queue the next runs, end sweeps that are spent.

    Idempotent; one process or thread at a time does the work (a file lock beside the store),
    the others return at once.
    """
    where, args = store.scope()
    sql = f"SELECT id FROM sweeps WHERE state IN ('QUEUED', 'RUNNING') AND study IS NOT NULL{where}"
    ids = [r["id"] for r in store.read(sql, tuple(args))]
    if not ids:
        return
    handle = _tick_lock(store, wait)
    if handle is None:
        return
    try:
        for sweep_id in ids:
            try:
                _tick_one(store, sweep_id)
            except Exception as e:  # noqa: BLE001 - one broken sweep must not stop the others
                if "locked" in str(e):
                    continue  # a busy database: the next tick tries again
                _end(store, sweep_id, "FAILED", error=f"The sweep stopped: {type(e).__name__}: {e}")
    finally:
        handle.close()


def _row(store: Store, sweep_id: int):
    where, args = store.scope()
    rows = store.read(f"SELECT * FROM sweeps WHERE id = ?{where}", (int(sweep_id), *args))
    if not rows:
        raise UserError(f"There is no sweep {sweep_id}.")
    return rows[0]


def _members(store: Store, sweep_id: int) -> list[Job]:
    rows = store.read("SELECT id FROM jobs WHERE sweep_id = ? ORDER BY id", (sweep_id,))
    return [job for r in rows if (job := store.get(r["id"])) is not None]


def _metric(job: Job, metric: str) -> float | None:
    value = (job.result or {}).get(metric)
    ok = job.state == DONE and isinstance(value, (int, float)) and math.isfinite(value)
    return float(value) if ok else None


def _tick_one(store: Store, sweep_id: int) -> None:
    row = _row(store, sweep_id)
    if row["state"] not in SWEEP_ACTIVE:
        return
    spec = SweepSpec.from_dict(json.loads(row["spec"]))
    members = _members(store, sweep_id)
    key = (store.url, row["study"])
    told = _told.get(key)
    if told is None or any(m.finished_state and m.id not in told for m in members):
        _tell(store, row, spec, members)
        _told[key] = {m.id for m in members if m.finished_state}
    active = [m for m in members if not m.finished_state]
    if row["cancel_requested"] or len(members) >= spec.budget:
        if not active:
            _end(store, sweep_id, "CANCELLED" if row["cancel_requested"] else None)
        return
    if sum(m.state == QUEUED for m in active) < AHEAD and len(members) < spec.budget:
        _submit_next(store, sweep_id, row, spec, len(members))


def _tell(store: Store, row, spec: SweepSpec, members: list[Job]) -> None:
    """Tell the study how each finished member did (a run it asked for that never reached the
    queue, after a crash, as failed), and record the best run so far."""
    from optuna.trial import TrialState

    sweep_id = row["id"]
    metric = tasks.get(spec.base.task).main_metric
    study = _study(store, row["study"])
    by_trial = {m.params.get("sweep", {}).get("trial"): m for m in members}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        member = by_trial.get(trial.number)
        if member is None:
            study.tell(trial.number, state=TrialState.FAIL)
        elif member.finished_state:
            value = _metric(member, metric)
            if value is None:
                study.tell(trial.number, state=TrialState.FAIL)
            else:
                study.tell(trial.number, value)
    best = best_run(store, sweep_id)
    with store.transaction() as con:
        con.execute("UPDATE sweeps SET best_run = ? WHERE id = ?", (best, sweep_id))


def _submit_next(store: Store, sweep_id: int, row, spec: SweepSpec, n_before: int) -> int | None:
    """Queue the sweep's next run for its owner; None (it waits) while the owner is at the fair share."""
    if store.room(row["owner"]) == 0:
        return None
    study = _study(store, row["study"], _sampler(spec, n_before))
    trial = study.ask(_distributions(spec))
    cfg = spec.base.replace(**spec.fixed(), **trial.params)
    name = f"{row['name'] or f'sweep {sweep_id}'} #{n_before + 1}"
    params = {"config": cfg.to_dict(), "sweep": {"id": sweep_id, "trial": trial.number}}
    try:
        job_id = store.submit("train", params, sweep_id=sweep_id, name=name, owner=row["owner"])
    except UserError:  # the owner queued something meanwhile: this trial is given up, the sweep waits
        from optuna.trial import TrialState

        study.tell(trial.number, state=TrialState.FAIL)
        return None
    trial.set_user_attr("run", job_id)
    with store.transaction() as con:
        con.execute("UPDATE sweeps SET state = 'RUNNING' WHERE id = ? AND state = 'QUEUED'", (sweep_id,))
    if _row(store, sweep_id)["cancel_requested"]:  # stopped while we asked: do not let it run
        store.request_cancel(job_id)
    return job_id


def _end(store: Store, sweep_id: int, state: str | None, error: str | None = None) -> None:
    """Finish an active sweep: DONE (FAILED when no run succeeded), CANCELLED or FAILED."""
    try:
        best = best_run(store, sweep_id)
    except Exception:  # noqa: BLE001 - a sweep that broke still ends
        best = None
    if state is None:
        state = DONE if best is not None else "FAILED"
        if best is None:
            failed = [m for m in _members(store, sweep_id) if m.error]
            error = "No run of the sweep finished with a result" + (
                f"; the first said: {failed[0].error}" if failed else "."
            )
    with store.transaction() as con:
        con.execute(
            "UPDATE sweeps SET state = ?, finished = ?, best_run = ?, error = coalesce(?, error) "
            "WHERE id = ? AND state IN ('QUEUED', 'RUNNING')",
            (state, time.time(), best, error, sweep_id),
        )
    if state == "FAILED":
        for m in _members(store, sweep_id):
            if m.state == QUEUED:
                store.request_cancel(m.id)


def cancel(store: Store, sweep_id: int) -> str:
    """Stop the whole sweep: queued members are cancelled, the running one stops within a batch.

    The sweep shows CANCELLED once nothing of it runs. Returns its state afterwards. (Stop one
    member with store.request_cancel: the sweep goes on with the next.)
    """
    _row(store, sweep_id)
    with store.transaction() as con:
        con.execute(
            "UPDATE sweeps SET cancel_requested = 1 WHERE id = ? AND state IN ('QUEUED', 'RUNNING')",
            (sweep_id,),
        )
    for member in _members(store, sweep_id):
        if member.state in ACTIVE:
            store.request_cancel(member.id)
    tick(store, wait=5.0)
    return _row(store, sweep_id)["state"]


def best_run(store: Store, sweep_id: int) -> int | None:
    """The DONE member with the best main metric (the earliest of equals), or None."""
    spec = SweepSpec.from_dict(json.loads(_row(store, sweep_id)["spec"]))
    task = tasks.get(spec.base.task)
    scored = [(v, m.id) for m in _members(store, sweep_id) if (v := _metric(m, task.main_metric)) is not None]
    if not scored:
        return None
    sign = -1 if task.higher_is_better else 1
    return min(scored, key=lambda s: (sign * s[0], s[1]))[1]


def finished(store: Store, sweep_id: int) -> bool:
    """True once the sweep is DONE, CANCELLED or FAILED."""
    return _row(store, sweep_id)["state"] not in SWEEP_ACTIVE


def status(store: Store, sweep_id: int) -> SweepStatus:
    """Where the sweep stands, with its members; UserError for an unknown id."""
    row = _row(store, sweep_id)
    spec = SweepSpec.from_dict(json.loads(row["spec"]))
    task = tasks.get(spec.base.task)
    members = _members(store, sweep_id)
    return SweepStatus(
        id=sweep_id,
        name=row["name"] or f"sweep {sweep_id}",
        state=row["state"],
        done=sum(m.state in FINISHED for m in members),
        budget=row["budget"],
        best_run=row["best_run"],
        members=members,
        metric=task.main_metric,
        higher_is_better=task.higher_is_better,
        cancel_requested=bool(row["cancel_requested"]),
        error=row["error"],
        created=row["created"],
        finished=row["finished"],
        spec=spec,
    )


def recent(store: Store, limit: int = 20) -> list[SweepStatus]:
    """The newest sweeps first."""
    where, args = store.scope()
    rows = store.read(f"SELECT id FROM sweeps WHERE 1=1{where} ORDER BY id DESC LIMIT ?", (*args, limit))
    return [status(store, r["id"]) for r in rows]


def trials_frame(store: Store, sweep_id: int) -> pd.DataFrame:
    """One row per member: run, trial, state, each varied setting, metric, valid_loss, seconds.

    attrs: "params" (the varied settings), "metric" (its name), "higher_is_better", "best_run".
    """
    st = status(store, sweep_id)
    varied = st.spec.varied()
    records = []
    for m in st.members:
        cfg, result = m.params.get("config", {}), m.result or {}
        records.append(
            {
                "run": m.id,
                "trial": m.params.get("sweep", {}).get("trial"),
                "state": m.state,
                **{k: cfg.get(k) for k in varied},
                "metric": _metric(m, st.metric),
                "valid_loss": result.get("valid_loss"),
                "seconds": result.get("seconds"),
            }
        )
    columns = ["run", "trial", "state", *varied, "metric", "valid_loss", "seconds"]
    frame = pd.DataFrame(records, columns=columns)
    frame.attrs.update(
        params=varied, metric=st.metric, higher_is_better=st.higher_is_better, best_run=st.best_run
    )
    return frame
