"""The run history: every training run in one table, and what a person does to a run.

A run is a "train" job of the job store. This module lists them (one SQL query, no file read,
so a table of hundreds of runs stays quick), names and annotates them, moves them to the trash
and back, repeats one with other seeds and says how to reproduce it from the command line.
"""

from __future__ import annotations

import copy
import json
import shlex
import time
import unicodedata
from collections.abc import Iterable

import pandas as pd

from core import runs, tasks, workspace
from core.config import TrainConfig
from core.errors import UserError
from core.jobs.db import Dialect
from core.jobs.store import ACTIVE, Job, Store

MAX_NAME = 120  # characters of a run's name
MAX_NOTE = 4000  # characters of a run's note
MAX_REPEATS = 20  # seeds one "repeat with other seeds" may queue

COLUMNS = [
    "id", "name", "note", "kind", "dataset", "task", "arch", "lr", "lr_low", "bs", "wd", "epochs",
    "schedule", "freeze_epochs", "seed", "augment", "metric_name", "metric", "valid_loss", "seconds",
    "images_per_second", "state", "created", "parent", "sweep_id", "data_fingerprint", "deleted",
]  # fmt: skip

_CONFIG_FIELDS = ("arch", "lr", "lr_low", "bs", "wd", "epochs", "schedule", "freeze_epochs", "seed")
_TEXT_FIELDS = ("arch", "schedule")  # the rest are numbers

# The run's last epoch record, for runs without a result yet (running, failed): the table still
# shows how far they got.
_LAST_EPOCH = "(SELECT {col} FROM epochs e WHERE e.job_id = j.id ORDER BY e.epoch DESC LIMIT 1)"


def _runs_sql(d: Dialect, where: str) -> str:
    def cfg(field: str) -> str:
        return (d.json_text if field in _TEXT_FIELDS else d.json_num)("j.params", "config", field)

    config = ",\n".join(f"{cfg(f)} AS {f}" for f in _CONFIG_FIELDS)
    return f"""
        SELECT j.id, j.name, j.note,
            CASE WHEN j.sweep_id IS NOT NULL THEN 'sweep'
                 WHEN {d.json_text("j.params", "retrain_of")} IS NOT NULL THEN 'retrain'
                 WHEN j.parent IS NOT NULL OR {d.json_text("j.params", "continue")} IS NOT NULL
                      THEN 'continued'
                 ELSE 'train' END AS kind,
            {d.json_text("j.params", "config", "dataset")} AS dataset,
            coalesce(j.task, {d.json_text("j.params", "config", "task")}) AS task,
            {config},
            {d.json_num("j.params", "config", "augment")} AS augment,
            m.metric AS metric_name,
            coalesce({d.json_num("j.result", expr="m.metric")},
                     {_LAST_EPOCH.format(col=d.json_num("e.metrics", expr="m.metric"))}) AS metric,
            coalesce({d.json_num("j.result", "valid_loss")}, {_LAST_EPOCH.format(col="e.valid_loss")})
                AS valid_loss,
            coalesce({d.json_num("j.result", "seconds")},
                     (SELECT sum(e.seconds) FROM epochs e WHERE e.job_id = j.id)) AS seconds,
            {d.json_num("j.result", "images_per_second")} AS images_per_second,
            j.state, j.created, j.parent, j.sweep_id,
            {d.json_text("j.result", "data_fingerprint")} AS data_fingerprint,
            j.deleted
        FROM jobs j LEFT JOIN metrics m ON m.task = coalesce(j.task, 'single_label')
        WHERE j.kind = 'train' {where}
        ORDER BY j.id DESC
    """


def runs_frame(
    store: Store,
    *,
    dataset: str | None = None,
    arch: str | None = None,
    state: str | Iterable[str] | None = None,
    text: str | None = None,
    include_deleted: bool = False,
) -> pd.DataFrame:
    """Every training run, newest first, one row each (columns: COLUMNS), filtered.

    dataset, arch and state keep exact matches (state may be several); text keeps runs whose id,
    name, note, dataset or architecture contains it (any case). Deleted runs are left out unless
    include_deleted. One SQL query over the job store: no file is read. Only the current space's
    runs, unless the store sees everyone (a teacher's store.everyone()).
    """
    d = store.dialect
    scope, args = store.scope("j")
    where = []
    if not include_deleted:
        where.append("j.deleted IS NULL")
    if dataset:
        where.append(f"{d.json_text('j.params', 'config', 'dataset')} = ?")
        args.append(dataset)
    if arch:
        where.append(f"{d.json_text('j.params', 'config', 'arch')} = ?")
        args.append(arch)
    if state:
        states = [state] if isinstance(state, str) else list(state)
        where.append(f"j.state IN ({', '.join('?' * len(states))})")
        args += states
    if text and text.strip():
        haystack = (
            "coalesce(j.name, '') || ' ' || coalesce(j.note, '') || ' ' || j.id || ' ' || "
            f"coalesce({d.json_text('j.params', 'config', 'dataset')}, '') || ' ' || "
            f"coalesce({d.json_text('j.params', 'config', 'arch')}, '')"
        )
        where.append(f"instr(lower({haystack}), lower(?)) > 0")
        args.append(text.strip())
    metrics = [(name, t.main_metric) for name, t in tasks.TASKS.items()]
    cte = "WITH metrics(task, metric) AS (VALUES " + ", ".join("(?, ?)" for _ in metrics) + ")"
    sql = cte + _runs_sql(d, scope + "".join(f" AND {w}" for w in where))
    rows = store.read(sql, (*[v for pair in metrics for v in pair], *args))
    frame = pd.DataFrame([tuple(r) for r in rows], columns=COLUMNS)
    frame["augment"] = frame["augment"].map(lambda v: None if v is None else bool(v)).astype(object)
    for col in ("id", "bs", "epochs", "freeze_epochs", "seed", "parent", "sweep_id"):
        frame[col] = frame[col].astype("Int64")
    for col in ("lr", "lr_low", "wd", "metric", "valid_loss", "seconds", "images_per_second", "created"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame


def get_run(store: Store, run_id: int) -> Job:
    """The training run with this id; UserError when there is none."""
    job = store.get(int(run_id))
    if job is None or job.kind != "train":
        raise UserError(f"There is no training run {run_id}.")
    return job


def _one_line(text: str | None, limit: int, what: str) -> str | None:
    text = (text or "").strip()
    if len(text) > limit:
        raise UserError(f"A run's {what} can be at most {limit} characters; this one has {len(text)}.")
    return text or None


def rename(store: Store, run_id: int, name: str | None) -> None:
    """Name a run (an empty name clears it); one line of at most MAX_NAME characters."""
    get_run(store, run_id)
    name = _one_line(name, MAX_NAME, "name")
    if name and any(unicodedata.category(c).startswith("C") for c in name):
        raise UserError("A run's name is one line of text, without line breaks or control characters.")
    with store.transaction() as con:
        con.execute("UPDATE jobs SET name = ? WHERE id = ?", (name, int(run_id)))


def set_note(store: Store, run_id: int, note: str | None) -> None:
    """Attach a note to a run (an empty note clears it), at most MAX_NOTE characters."""
    get_run(store, run_id)
    note = _one_line(note, MAX_NOTE, "note")
    with store.transaction() as con:
        con.execute("UPDATE jobs SET note = ? WHERE id = ?", (note, int(run_id)))


def delete(store: Store, run_id: int) -> None:
    """Move a finished run to the trash: hidden from the table, its folder in trash/runs/<id>.

    Refused while the run, or a job of its owner that reads it (a continuation, a
    cross-validation), is queued or running: no other person's job can name it (Store.submit
    refuses that), so nobody else's job numbers are ever shown. Undo with restore().
    """
    job = get_run(store, run_id)
    if job.deleted is not None:
        raise UserError(f"Run {run_id} is already in the trash.")
    with store.transaction() as con:
        state = con.execute("SELECT state FROM jobs WHERE id = ?", (job.id,)).fetchone()["state"]
        if state in ACTIVE:
            raise UserError(f"Run {run_id} is {state.lower()}; stop it before deleting it.")
        user = con.execute(
            f"SELECT id FROM jobs WHERE state IN ({', '.join('?' * len(ACTIVE))}) AND "
            f"(parent = ? OR {store.dialect.json_num('params', 'source_run')} = ?) AND owner = ? "
            "ORDER BY id LIMIT 1",
            (*ACTIVE, job.id, job.id, job.owner),
        ).fetchone()
        if user is not None:
            raise UserError(
                f"Job {user['id']} is waiting to use run {run_id}; stop it before deleting the run."
            )
        con.execute("UPDATE jobs SET deleted = ? WHERE id = ?", (time.time(), job.id))
    try:
        with workspace.use_space(job.owner):  # a teacher's everyone() view: the owner's folder
            runs.move_to_trash(job.id)
    except BaseException:
        with store.transaction() as con:  # the folder stayed where it was: so does the run
            con.execute("UPDATE jobs SET deleted = NULL WHERE id = ?", (job.id,))
        raise


def restore(store: Store, run_id: int) -> None:
    """Bring a run back from the trash (its folder back to runs/<id>, listed again)."""
    job = get_run(store, run_id)
    if job.deleted is None:
        raise UserError(f"Run {run_id} is not in the trash.")
    with workspace.use_space(job.owner):  # first the folder: a run listed again always has its files
        runs.restore_from_trash(job.id)
    with store.transaction() as con:
        con.execute("UPDATE jobs SET deleted = NULL WHERE id = ?", (job.id,))


def _config(job: Job) -> TrainConfig:
    try:
        return TrainConfig.from_dict(job.params["config"])
    except (KeyError, TypeError) as e:
        raise UserError(f"Run {job.id} has no training settings: {e}") from e


def _same_but_seed(config: dict) -> str:
    """A key equal for two configs that differ at most in their seed."""
    return json.dumps({k: v for k, v in config.items() if k != "seed"}, sort_keys=True, default=str)


def repeat_with_seeds(store: Store, run_id: int, n: int = 2) -> list[int]:
    """Queue the run's settings again with the n lowest seeds no such run has used; their ids.

    Each is a normal train job with the same parent, so seed_groups() in core.analysis.compare
    puts them in one group with the run.
    """
    job = get_run(store, run_id)
    if not isinstance(n, int) or not 1 <= n <= MAX_REPEATS:
        raise UserError(f"Repeat a run with 1 to {MAX_REPEATS} other seeds; {n} was asked.")
    if job.deleted is not None:
        raise UserError(f"Run {run_id} is in the trash; restore it first.")
    cfg = _config(job).validate()
    key = _same_but_seed(cfg.to_dict())
    room = store.room()
    if room is not None and room < n:
        raise UserError(
            f"You may queue {room} more job{'s' if room != 1 else ''} now (the class's fair share); "
            f"{n} were asked. Wait for a run to finish, or ask for fewer seeds."
        )
    d, (scope, scope_args) = store.dialect, store.scope()
    rows = store.read(
        "SELECT params FROM jobs WHERE kind = 'train' AND parent IS ? AND "
        f"{d.json_text('params', 'config', 'dataset')} = ? AND {d.json_text('params', 'config', 'arch')} = ?"
        + scope,
        (job.parent, cfg.dataset, cfg.arch, *scope_args),
    )
    used = set()
    for row in rows:
        try:
            other = TrainConfig.from_dict(json.loads(row["params"])["config"])
        except (UserError, KeyError, TypeError, ValueError):
            continue
        if _same_but_seed(other.to_dict()) == key:
            used.add(other.seed)
    seeds, s = [], 0
    while len(seeds) < n:
        if s not in used:
            seeds.append(s)
        s += 1
    ids = []
    for seed in seeds:
        params = copy.deepcopy(job.params)
        params["config"] = cfg.replace(seed=seed).to_dict()
        name = f"{job.name} · seed {seed}"[:MAX_NAME] if job.name else None
        ids.append(store.submit("train", params, parent=job.parent, name=name))
    return ids


def _is_continuation(job: Job) -> bool:
    """A run that continues another's training (core.train.checkpoint), not a retrain."""
    return bool(job.params.get("continue")) or (
        job.parent is not None and job.params.get("retrain_of") is None
    )


def cli_command(job: Job) -> str:
    """The `python -m core train …` command line that trains this run again.

    A continued run gives `train --continue PARENT --epochs N …`. The command line has no flag
    for the fine augmentation settings, the validation share or mixed precision: those repeat
    only when they are at their defaults.
    """
    cfg = _config(job)
    if _is_continuation(job):
        parent = job.parent if job.parent is not None else job.params["continue"].get("parent")
        parts = ["python", "-m", "core", "train", "--continue", str(parent), "--epochs", str(cfg.epochs)]
        parts += ["--lr", f"{cfg.lr:g}", "--schedule", cfg.schedule]
        if (job.params.get("continue") or {}).get("unfreeze"):
            parts.append("--unfreeze")
        return shlex.join(parts)
    parts = ["python", "-m", "core", "train"]
    if cfg.task != TrainConfig().task:
        parts += ["--task", cfg.task]
    parts += [
        "--dataset",
        cfg.dataset,
        "--arch",
        cfg.arch,
        "--epochs",
        str(cfg.epochs),
        "--lr",
        f"{cfg.lr:g}",
    ]
    if cfg.lr_low is not None:
        parts += ["--lr-low", f"{cfg.lr_low:g}"]
    parts += ["--bs", str(cfg.bs), "--wd", f"{cfg.wd:g}", "--schedule", cfg.schedule, "--seed", str(cfg.seed)]
    if cfg.freeze_epochs:
        parts += ["--freeze-epochs", str(cfg.freeze_epochs)]
    if cfg.size is not None:
        parts += ["--size", str(cfg.size)]
    if cfg.augment:
        parts.append("--augment")
    if not cfg.pretrained:
        parts.append("--no-pretrained")
    defaults = tasks.default_options(cfg.task)
    for field, value in vars(cfg.options).items():
        if value != getattr(defaults, field):
            shown = value if isinstance(value, str) else json.dumps(value)
            parts += ["--opt", f"{field}={shown}"]
    return shlex.join(parts)


def log_tail(job: Job, lines: int = 40) -> str:
    """Why a run ended as it did: a failed run's reason and the last lines of its traceback."""
    if job.state == "FAILED":
        text = f"Failed: {job.error or 'no reason was recorded.'}"
        if job.traceback:
            tail = job.traceback.rstrip().splitlines()[-max(1, lines) :]
            text += "\n\n" + "\n".join(tail)
        return text
    if job.state == "CANCELLED":
        return f"Stopped on request{': ' + job.message if job.message else '.'}"
    return job.message or ""


def records(frame: pd.DataFrame) -> list[dict]:
    """The table's rows as JSON-ready dicts (missing values as None)."""
    clean = frame.astype(object).where(frame.notna(), None)
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in clean.to_dict("records")
    ]


def table_text(frame: pd.DataFrame) -> str:
    """The table as a person reads it in a terminal: one line per run."""
    head = f"{'id':>5} {'name':<18} {'dataset':<12} {'arch':<12} {'lr':>8} {'bs':>5} {'ep':>4} {'seed':>5}"
    head += f" {'metric':>10} {'valid_loss':>10} {'state':<9} parent"
    lines = [head]
    for r in records(frame):
        metric = "" if r["metric"] is None else f"{r['metric']:.4f}"
        loss = "" if r["valid_loss"] is None else f"{r['valid_loss']:.4f}"
        lr = "" if r["lr"] is None else f"{r['lr']:.2g}"
        lines.append(
            f"{r['id']:>5} {(r['name'] or '')[:18]:<18} {(r['dataset'] or '')[:12]:<12} "
            f"{(r['arch'] or '')[:12]:<12} {lr:>8} {r['bs'] or '':>5} {r['epochs'] or '':>4} "
            f"{'' if r['seed'] is None else r['seed']:>5} {metric:>10} {loss:>10} {r['state']:<9} "
            f"{r['parent'] or ''}"
        )
    if len(lines) == 1:
        lines.append("(no runs yet: python -m core train)")
    return "\n".join(lines)
