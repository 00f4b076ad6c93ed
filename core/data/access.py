"""The one way to read or change a dataset's files: under the dataset's lock, after crash recovery.

Every reader (training's loaders, cross-validation, interpretation, the Model page's channel
count, the Data page's image check) and every writer (the cleaner's apply and undo, the Data
page's move to the trash) goes through here, so none sees a folder half-way through a change:

    with access.dataset("digits") as info:      # locked, recovered
        items = access.items(info, valid_pct=0.2, seed=0)
        pixels = image_tensor(items, 16)

The lock is the space's lock `dataset-<name>` (core.workspace); a thread that holds it may take
it again (nested `with`), anything else waits up to LOCK_WAIT seconds and then gets
workspace.Busy with BUSY. A dataset a teacher published never changes in place, so it is read
without a lock.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from core import fsutil, workspace
from core.data import changes, journal, layouts
from core.data.datasets import DatasetInfo, Items, home, resolve
from core.errors import PathEscapeError, UserError
from core.fsutil import sha256_file

LOCK_WAIT = 10.0  # seconds to wait for another reader or change of the same dataset to finish
BUSY = "Another change to {dataset} is being applied; try again in a moment."
_PLAIN = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_held = threading.local()  # lock name -> depth, for this thread


def lock_name(dataset: str) -> str:
    """The space lock of a dataset: dataset-<name> (a hash for names a lock name cannot hold)."""
    if _PLAIN.match(dataset):
        return f"dataset-{dataset}"
    return f"dataset-{fsutil.sha256_bytes(dataset.encode())[:24]}"


def _depths() -> dict[str, int]:
    if not hasattr(_held, "depths"):
        _held.depths = {}
    return _held.depths


def _key(dataset: str, space: str | None) -> str:
    """A held lock's key in this thread: the space it is taken in, and its name."""
    return f"{workspace.current_name() if space is None else space}/{lock_name(dataset)}"


def holds(dataset: str, space: str | None = None) -> bool:
    """True when this thread holds the dataset's lock (in space; the current one by default)."""
    return _depths().get(_key(dataset, space), 0) > 0


@contextlib.contextmanager
def lock(dataset: str, wait: float | None = None, space: str | None = None) -> Iterator[None]:
    """Hold the dataset's lock for the `with` block (no recovery; see `dataset` for that).

    Re-entrant within a thread. Waits up to `wait` seconds (LOCK_WAIT by default), then raises
    workspace.Busy saying the dataset is busy. space: the space whose lock it is (the current one
    by default; workspace.PUBLISHED for a dataset a teacher published).
    """
    key, depths = _key(dataset, space), _depths()
    if depths.get(key):
        depths[key] += 1
        try:
            yield
        finally:
            depths[key] -= 1
        return
    busy = BUSY.format(dataset=dataset)
    with workspace.space(space).lock(lock_name(dataset), LOCK_WAIT if wait is None else wait, busy):
        depths[key] = 1
        try:
            yield
        finally:
            depths.pop(key, None)


def journals_stamp(dataset: str) -> tuple:
    """(name, mtime_ns, size) of each of the dataset's journals, oldest first: it changes when a
    change is applied, undone or recovered (never when a mark is set), so it can key what is read
    from them."""
    from core.data.places import journal_dir

    folder = journal_dir(dataset, create=False)
    return fsutil.stamp(sorted(folder.glob("*.jsonl")) if folder.is_dir() else [])


_clean: dict[tuple, bool] = {}  # (workspace, dataset, journals_stamp) found with nothing to recover
_clean_lock = threading.Lock()


def needs_recovery(dataset: str) -> bool:
    """journal.needs_recovery, read again only when one of the dataset's journals changed: a reader
    of a dataset with a long history does not parse every journal each time it opens it."""
    key = (str(workspace.root()), dataset, journals_stamp(dataset))
    with _clean_lock:
        if key in _clean:
            return False
    found = journal.needs_recovery(dataset)
    if not found:
        with _clean_lock:
            if len(_clean) > 256:
                _clean.clear()
            _clean[key] = True
    return found


def _info(dataset: str | DatasetInfo) -> DatasetInfo:
    info = dataset if isinstance(dataset, DatasetInfo) else resolve(dataset)
    # The folder must be named inside the datasets folder (the current space's, or the published
    # space's for a published one); a link placed there by whoever runs the server (a large dataset
    # kept elsewhere) is theirs to make, and resolve() refuses user names that lead out.
    if Path(os.path.abspath(info.path)).parent != home(info):
        raise PathEscapeError(f"The dataset {info.name!r} is not inside the workspace's datasets folder.")
    return info


@contextlib.contextmanager
def dataset(name: str | DatasetInfo, wait: float | None = None) -> Iterator[DatasetInfo]:
    """Lock a dataset and finish or roll back any change a crash cut short; yields its DatasetInfo.

    Built-ins are written out first (before the lock). Inside the block the files are as the
    last complete change left them, and no other process or thread changes or reads them. A
    published dataset is read without a lock: it never changes in place (core.publish puts it in
    place and takes it away with one rename each), so it needs no recovery, and one learner's
    long read never holds up another learner or the teacher's withdraw.
    """
    info = _info(name)
    if info.published:
        yield info
        return
    first = not holds(info.name)
    with lock(info.name, wait):
        if first and needs_recovery(info.name):
            changes.recover_locked(info.name)
        yield info


@contextlib.contextmanager
def for_writing(name: str | DatasetInfo, wait: float | None = None) -> Iterator[DatasetInfo]:
    """`dataset`, for a change: a published dataset (read-only for everyone) is refused with a
    sentence saying how to get a copy of one's own."""
    info = _info(name)
    if info.published:
        from core import publish

        raise publish.read_only(info.name)
    with dataset(info, wait) as info:
        yield info


def items(name: str | DatasetInfo, valid_pct: float = 0.2, seed: int = 0, wait: float | None = None) -> Items:
    """The dataset's images as they are now (split as training splits them), read under the lock.

    Items for class folders; MultiItems or SegItems (core.data.layouts) for the other tasks.
    """
    with dataset(name, wait) as info:
        return layouts.read_items(info.path, info.task, valid_pct=valid_pct, seed=seed)


def check_images(name: str | DatasetInfo, progress: Callable[[float, str], None] | None = None) -> list:
    """Decode every image of the dataset in full under the lock; the images.Problem of each that fails."""
    from core.data import images

    with dataset(name) as info:
        found = layouts.read_items(info.path, info.task)
        return images.check_files(found.root, layouts.all_files(found), progress=progress)


def move_to_trash(name: str | DatasetInfo, files: list[str]) -> Path:
    """Move files of the dataset to the trash as one journalled change; returns its trash folder.

    It is a change like a cleaning (core.data.changes): listed in the dataset's history and
    undone by "Undo the last change". A file gone since it was listed is refused.
    """
    from core.data import places

    with for_writing(name) as info:
        actions = []
        for rel in files:
            path = places.check_file(info.path, rel)
            if not path.is_file():
                raise UserError(f"{rel} is no longer in {info.name}; reload the list.")
            actions.append(changes.FileAction(rel, "delete", None, path.stat().st_size, sha256_file(path)))
        report = changes.apply_locked(info.name, changes.change_record(info.name, actions), actions)
        if report.apply_id is None:
            raise UserError(
                f"Nothing was moved: {'; '.join(s['reason'] for s in report.skipped) or 'no files'}."
            )
        return places.trash_dir(info.name) / report.apply_id


def apply_change(name: str, record: dict, actions: Sequence[changes.FileAction]) -> changes.ApplyReport:
    """Apply deletes and relabels as one journalled change (see core.data.changes.apply_locked)."""
    with for_writing(name) as info:
        return changes.apply_locked(info.name, record, actions)


def undo_last(name: str) -> changes.UndoReport:
    """Reverse the dataset's most recent applied change (see core.data.changes.undo_last_locked)."""
    with for_writing(name) as info:
        return changes.undo_last_locked(info.name)


def recover(name: str, wait: float = 0.0) -> list[str]:
    """Finish or roll back what a crash left half-applied; returns what was done, as sentences.

    Does nothing while another process holds the dataset's lock (it is changing it right now).
    """
    if not needs_recovery(name):
        return []
    try:
        with lock(name, wait=wait):
            return changes.recover_locked(name)
    except workspace.Busy:
        return []


def recover_all() -> list[str]:
    """recover() for every dataset that has journals, in the current space (call at start-up)."""
    messages = []
    for folder in sorted(p for p in workspace.subdir("journals").iterdir() if p.is_dir()):
        try:
            messages += recover(folder.name)
        except UserError as e:
            messages.append(f"{folder.name}: {e}")
    return messages


def recover_every_space() -> list[str]:
    """recover_all() in the laptop's space and in every person's (the worker's start-up): a
    cleaning a crash cut short is finished or undone wherever it was."""
    messages = recover_all()
    people_root = workspace.workspace_root() / "spaces"
    names = sorted(p.name for p in people_root.iterdir() if p.is_dir()) if people_root.is_dir() else []
    for name in names:
        try:
            with workspace.use_space(name):
                messages += [f"{name}: {m}" for m in recover_all()]
        except UserError as e:  # a folder that is not a space (its name is refused)
            messages.append(f"{name}: {e}")
    return messages
