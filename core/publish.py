"""Publishing to the class: a teacher's dataset or model copied for everyone to read, never to change.

What a teacher publishes is copied (into a temporary folder, then one rename) into the workspace's
published space (workspace.PUBLISHED: spaces/_published/datasets/<name>, …/models/<name>). Every
person then lists it beside their own things, marked read-only: they may train on it, look at it
and predict with it, but cleaning, marking, renaming, deleting or importing into it is refused
with READ_ONLY. A learner who wants to clean a published dataset makes their own copy
(`copy_dataset`), which lands in their space under a free name. The teacher withdraws it the same
way (one rename, then removal); their own original stays where it was.

    with people.acting_as(teacher):
        publish.publish_dataset("pets_small")   # now in everyone's list, read-only
    with people.acting_as(learner):
        mine = publish.copy_dataset("pets_small")   # "pets_small_copy", theirs to clean
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

from core import fsutil, people, workspace
from core.errors import UserError

KINDS = ("datasets", "models")
READ_ONLY = "{name} is published by the teacher for the whole class and is read-only; {hint}"
HINTS = {
    "datasets": "make your own copy on the Data page (Make my own copy) to clean or change it.",
    "models": "make your own copy on the Models page to rename or delete it.",
}
COPY_SUFFIX = "_copy"


def published_dir(kind: str) -> Path:
    """The published space's folder of kind (datasets or models); not created until a teacher
    publishes, so that a laptop never grows one."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    return workspace.workspace_root() / "spaces" / workspace.PUBLISHED / kind


def published_path(kind: str, name: str) -> Path | None:
    """The published item called name (its folder), or None when nothing of that name is published."""
    base = published_dir(kind)
    if not base.is_dir():
        return None
    try:
        path = workspace.safe_join(base, name)
    except UserError:
        return None
    if path.parent != base.resolve() or not path.is_dir() or name.startswith("."):
        return None
    return path


def published_names(kind: str) -> list[str]:
    """The names of the published items of kind, sorted."""
    base = published_dir(kind)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def is_published_path(path: Path) -> bool:
    """True when path lies inside the published space (nobody may write there but publish/withdraw)."""
    return workspace.inside(Path(path), workspace.workspace_root() / "spaces" / workspace.PUBLISHED)


def read_only(name: str, kind: str = "datasets") -> UserError:
    """The refusal to write to a published item, as a sentence."""
    return UserError(READ_ONLY.format(name=name, hint=HINTS[kind]))


def _teacher(doing: str) -> None:
    if not people.is_teacher():
        raise UserError(f"Only a teacher can {doing}; the class file names the teachers.")


def _copy_into(source: Path, target: Path, meta: dict | None = None) -> Path:
    """Copy the folder source to target (which must be free) through a temporary folder beside
    target and one rename, so that nobody ever sees half a copy; meta is merged into dataset.json."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise UserError(f"{target.name} exists already there; choose another name.")
    tmp = target.parent / f".tmp-copy-{target.name}-{uuid.uuid4().hex[:8]}"
    try:
        shutil.copytree(source, tmp, symlinks=False)
        if meta is not None:
            from core.data.datasets import META_FILE, metadata

            fsutil.atomic_write(tmp / META_FILE, json.dumps({**metadata(tmp), **meta}, indent=2))
        try:
            os.rename(tmp, target)
        except OSError as e:  # someone took the name in the meantime
            raise UserError(f"{target.name} exists already there; choose another name.") from e
        fsutil.fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _remove(kind: str, name: str) -> None:
    """Take a published item away: one rename out of the listing, then removal."""
    path = published_path(kind, name)
    if path is None:
        raise UserError(f"Nothing called {name!r} is published among the {kind}.")
    gone = path.parent / f".withdrawn-{name}-{uuid.uuid4().hex[:8]}"
    os.rename(path, gone)
    fsutil.fsync_dir(path.parent)
    shutil.rmtree(gone, ignore_errors=True)


def _stamp() -> dict:
    person = people.current()
    return {
        "published_by": person.identity if person else "",
        "published": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def publish_dataset(name: str) -> str:
    """Publish the teacher's own dataset called name to the class (a copy, read-only for all)."""
    from core.data import access, datasets

    _teacher("publish a dataset")
    if name in datasets.BUILTINS:
        raise UserError(f"{name} is built in: everyone has it already.")
    info = datasets.resolve(name)
    if info.published:
        raise UserError(f"{name} is published already.")
    target = published_dir("datasets") / info.name
    if published_path("datasets", info.name) is not None:
        raise UserError(
            f"A dataset called {name} is published already; withdraw it first to publish it anew."
        )
    with access.dataset(info) as info, access.lock(info.name, wait=0.0, space=workspace.PUBLISHED):
        _copy_into(info.path, target, _stamp())
    return info.name


def withdraw_dataset(name: str) -> None:
    """Take a published dataset away from the class (the teacher's own original stays)."""
    from core.data import access

    _teacher("withdraw a published dataset")
    with access.lock(name, wait=0.0, space=workspace.PUBLISHED):
        _remove("datasets", name)


def copy_name(name: str) -> str:
    """A free dataset name in the current space for a copy of name: name_copy, name_copy_2, …"""
    from core.data.ingest.names import check_free

    base = f"{name[: 40 - len(COPY_SUFFIX)]}{COPY_SUFFIX}"
    for i in range(1, 1000):
        candidate = base if i == 1 else f"{base[:36]}_{i}"
        try:
            check_free(candidate)
        except UserError:
            continue
        if published_path("datasets", candidate) is None:
            return candidate
    raise UserError(f"Too many copies of {name}; delete one first.")


def copy_dataset(name: str) -> str:
    """Copy a published dataset into the current person's space under a free name (returned): the
    copy is theirs to clean, mark, rename or delete."""
    from core.data import access, datasets

    info = datasets.resolve(name)
    if not info.published:
        raise UserError(f"{name} is your own dataset already; there is nothing to copy.")
    new = copy_name(info.name)
    with access.dataset(info) as info:
        try:
            _copy_into(info.path, workspace.subdir("datasets") / new, {"copied_from": info.name})
        except (OSError, shutil.Error) as e:  # withdrawn while it was read: the copy was removed
            why = getattr(e, "strerror", None) or e
            raise UserError(
                f"{name} could not be copied ({why}); the teacher may have withdrawn it. Nothing was added."
            ) from e
    return new


def publish_model(name: str) -> str:
    """Publish the teacher's own saved model called name to the class (a copy, read-only for all)."""
    from core.serving import library

    _teacher("publish a model")
    info = library.get(name)
    if info.published:
        raise UserError(f"{name} is published already.")
    if published_path("models", info.name) is not None:
        raise UserError(f"A model called {name} is published already; withdraw it first to publish it again.")
    _copy_into(info.path, published_dir("models") / info.name)
    return info.name


def withdraw_model(name: str) -> None:
    """Take a published model away from the class (the teacher's own original stays)."""
    _teacher("withdraw a published model")
    _remove("models", name)


def copy_model(name: str) -> str:
    """Copy a published model into the current person's library under a free name (returned)."""
    from core.serving import library

    info = library.get(name)
    if not info.published:
        raise UserError(f"{name} is your own model already; there is nothing to copy.")
    new = library.unique_name(f"{info.name[:58]}{COPY_SUFFIX}")
    _copy_into(info.path, library.models_root() / new)
    return new
