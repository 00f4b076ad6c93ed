"""Deleting and renaming a dataset of the workspace.

A dataset is its folder (workspace/datasets/<name>) plus what is kept beside it under its name:
its cleaning journals, its marks and its trash. Deleting moves all of them, in one rename each,
to trash/.datasets/<time>-<name>/ (restorable until the trash is emptied), or removes them for
good. Runs and jobs name their dataset in their config (TrainConfig.dataset): a dataset a queued
or running job uses is refused, and so is renaming one that runs were trained on (their Results
find its images by that name) or that has a cleaning history (undo names its files by folder).
Saved models only show the name they were trained on; it is kept as it was.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from core import fsutil, workspace
from core.data import access, datasets, journal
from core.errors import UserError

DELETED = "deleted.json"  # in a deleted dataset's trash folder: its name and when it was deleted
BESIDE = ("journals", "marks", "trash")  # what is kept under a dataset's name beside its folder
_LOCK_WAIT = 0.0  # a dataset being read or changed right now is refused at once, not waited on


def _folder(name: str) -> Path:
    """workspace/datasets/<name> of a dataset of the workspace, refusing built-ins and unknown names."""
    if name in datasets.BUILTINS:
        raise UserError(f"{name} is a built-in dataset; it cannot be deleted or renamed.")
    if datasets.is_published(name):
        from core import publish

        raise publish.read_only(name)
    root = workspace.subdir("datasets")
    path = workspace.safe_join(root, name)
    if path.parent != root or not path.is_dir() or path.is_symlink():
        raise UserError(f"There is no dataset called {name!r} in the workspace.")
    return path


def jobs_using(name: str, active_only: bool = False) -> list:
    """The jobs (newest first) whose config names the dataset; only queued or running ones if asked."""
    from core.jobs.store import ACTIVE, Store

    store = Store()
    try:
        states = ACTIVE if active_only else (None,)
        found = [
            job
            for state in states
            for job in store.jobs(limit=100_000, state=state)
            if ((job.params or {}).get("config") or {}).get("dataset") == name
        ]
    finally:
        store.close()
    return sorted(found, key=lambda j: -j.id)


def _refuse_busy(name: str, doing: str) -> None:
    busy = jobs_using(name, active_only=True)
    if busy:
        ids = ", ".join(str(j.id) for j in busy[:5])
        raise UserError(
            f"{name} cannot be {doing} while job {ids} uses it (queued or running); "
            "wait for it to end or stop it on the Runs page."
        )


def _beside(name: str) -> dict[str, Path]:
    """The journals, marks and trash folders kept under the dataset's name (those that exist)."""
    out = {}
    for kind in BESIDE:
        path = workspace.safe_join(workspace.subdir(kind), name)
        if path.parent == workspace.subdir(kind) and path.exists():
            out[kind] = path
    return out


def delete_dataset(name: str, permanent: bool = False) -> Path | None:
    """Delete a dataset of the workspace: to the trash (returns where it went), or for good (None).

    Its journals, marks and trash go with it, so a new dataset of the same name starts clean.
    Refused for a built-in, for one a queued or running job uses, and while it is being changed.
    """
    from core.storage import TRASH_DATASETS

    folder = _folder(name)
    _refuse_busy(name, "deleted")
    with access.lock(name, wait=_LOCK_WAIT):
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        bin_ = workspace.subdir("trash") / TRASH_DATASETS
        bin_.mkdir(parents=True, exist_ok=True)
        target, n = bin_ / f"{stamp}-{name}", 1
        while target.exists():
            n += 1
            target = bin_ / f"{stamp}-{name}-{n}"
        beside = _beside(name)
        target.mkdir()
        fsutil.atomic_write(target / DELETED, json.dumps({"name": name, "deleted": stamp}) + "\n")
        os.rename(folder, target / "data")  # the one moment the dataset is gone from the list
        for kind, path in beside.items():
            os.rename(path, target / kind)
        fsutil.fsync_dir(folder.parent)
        if permanent:
            shutil.rmtree(target, ignore_errors=True)
            return None
        return target


def trashed_datasets() -> list[tuple[Path, str, str]]:
    """The datasets deleted to the trash, newest first: (its trash folder, its name, when, as text)."""
    from core.storage import TRASH_DATASETS

    bin_ = workspace.subdir("trash") / TRASH_DATASETS
    found = []
    for folder in sorted(bin_.iterdir(), reverse=True) if bin_.is_dir() else []:
        try:
            meta = json.loads((folder / DELETED).read_text(encoding="utf-8"))
            found.append((folder, str(meta["name"]), str(meta["deleted"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not one of ours, or half-removed: the trash's total still counts it
    return found


def when_text(stamp: str) -> str:
    """A deletion's stamp (20261130-105915, UTC) as a person reads it: 2026-11-30 10:59 UTC."""
    try:
        return datetime.strptime(stamp, "%Y%m%d-%H%M%S").strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return stamp


def restore_dataset(trashed: Path) -> str:
    """Put a dataset deleted to the trash back under its name; returns the name. Refused when taken."""
    from core.data.ingest.names import dataset_name
    from core.storage import TRASH_DATASETS

    bin_ = workspace.subdir("trash") / TRASH_DATASETS
    trashed = Path(trashed)
    if trashed.parent != bin_ or not (trashed / "data").is_dir():
        raise UserError(f"{trashed.name} is not a dataset in the trash.")
    try:
        name = str(json.loads((trashed / DELETED).read_text(encoding="utf-8"))["name"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{trashed.name} does not say which dataset it was ({e}).") from e
    if dataset_name(name) != name:
        raise UserError(f"{trashed.name} names {name!r}, which is not a dataset name.")
    target = workspace.subdir("datasets") / name
    if target.exists() or any(workspace.safe_join(workspace.subdir(k), name).exists() for k in BESIDE):
        raise UserError(f"A dataset called {name} exists again; rename it first, then restore.")
    for kind in BESIDE:
        if (trashed / kind).exists():
            os.rename(trashed / kind, workspace.subdir(kind) / name)
    os.rename(trashed / "data", target)
    shutil.rmtree(trashed, ignore_errors=True)
    return name


def rename_dataset(old: str, new: str) -> str:
    """Rename a dataset of the workspace; returns the new name (made safe by the import's name rules).

    Refused for a built-in, a name that is taken or reserved, a dataset runs were trained on or a
    queued or running job uses, and one with a cleaning history. Its marks move with it.
    """
    from core.data.ingest.names import check_free, dataset_name

    folder = _folder(old)
    name = dataset_name(new)
    if name == old:
        return old
    check_free(name)
    _refuse_busy(old, "renamed")
    used = jobs_using(old)
    if used:
        raise UserError(
            f"{len(used)} run(s) were trained on {old} (the newest: {used[0].id}) and find its images "
            "by that name; delete those runs first, or import the data again under the new name."
        )
    with access.lock(old, wait=_LOCK_WAIT):
        if journal.history(old):
            raise UserError(
                f"{old} has a cleaning history, and undoing it names the files under {old}; "
                "it keeps its name. Import the data again under the new name instead."
            )
        beside = _beside(old)
        os.rename(folder, folder.parent / name)
        for path in beside.values():
            os.rename(path, path.parent / name)
        fsutil.fsync_dir(folder.parent)
    return name
