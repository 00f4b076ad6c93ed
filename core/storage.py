"""What the workspace holds and how much disk each part uses, and how to free the parts that can go.

usage() lists the parts (datasets, decoded caches, runs, their checkpoints, saved models, the
trash, downloaded archives, unfinished downloads, the rest); each part that can be freed has a
free_<part>() here that removes only what is safe to remove and returns the bytes freed:

- cache: the decoded image caches (workspace/cache), rebuilt on the next training;
- checkpoints: the last-epoch checkpoints of runs that have ended and that no queued or running
  job continues; the run's kept weights (model.safetensors) and run.json stay, so its results,
  export and prediction work; only "Continue training" is lost;
- trash: deleted files, runs, models and datasets, for good (undo cannot bring them back);
- downloads: whole archives kept to rebuild a dataset without the network;
- parts: .part files of downloads that are not running.

Sizes are the files' lengths, each file counted once (hard links), links not followed.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from core import workspace
from core.data import tensor_cache

# trash/.datasets/<time>-<name>: whole deleted datasets (no dataset name starts with a dot)
TRASH_DATASETS = ".datasets"
PARTS = {  # key: (title, what its count counts, what it is and what freeing it costs)
    "datasets": (
        "Datasets",
        "datasets",
        "Your imported and downloaded images and tables, and the built-ins once written out. "
        "Delete one on the Data page.",
    ),
    "cache": (
        "Decoded caches",
        "files",
        "Images decoded to tensors, so training starts fast. Rebuilt on the next training.",
    ),
    "runs": (
        "Runs",
        "runs",
        "Each run's kept weights and record: what Results, export and prediction read. "
        "Delete runs on the Runs page.",
    ),
    "checkpoints": (
        "Checkpoints",
        "runs",
        "The last epoch of each run with its optimizer state, to continue training. {n} of runs "
        "that have ended can go; their kept weights stay.",
    ),
    "models": ("Saved models", "models", "The models in your library. Delete one on the Library page."),
    "trash": (
        "Trash",
        "items",
        "Deleted files, runs, models and datasets, kept so they can be restored. Emptying it is for good.",
    ),
    "downloads": (
        "Downloaded archives",
        "archives",
        "Archives kept to rebuild a dataset without the network; removed, they download again.",
    ),
    "parts": (
        "Unfinished downloads",
        "files",
        "Pieces of downloads that stopped (.part files); a running download's piece is kept.",
    ),
    "other": ("Everything else", "", "The job store, cleaning journals, marks and locks."),
}


@dataclass(frozen=True)
class Part:
    """One part of the workspace: its size on disk and how many things it holds."""

    key: str  # datasets, cache, runs, checkpoints, models, trash, downloads, parts, other
    title: str
    bytes: int
    count: int  # datasets, files, runs, models, items…: see unit
    unit: str  # what count counts, in words ("datasets", "files", …)
    note: str  # what it is and what freeing it costs
    can_free: bool  # a free_<key>() exists


def _files(folder: Path, skip_hidden: bool = False) -> Iterator[os.stat_result]:
    """stat of every plain file under folder (links not followed), each inode once."""
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        if skip_hidden:
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if skip_hidden and name.startswith("."):
                continue
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            yield st


def folder_bytes(folder: Path) -> int:
    """The bytes of every plain file under folder (0 when it is missing)."""
    return sum(st.st_size for st in _files(folder)) if folder.is_dir() else 0


def _file_bytes(path: Path) -> int:
    """The length of a plain file (0 for a link or anything else)."""
    try:
        st = path.lstat()
    except OSError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


def _listing(folder: Path) -> list[Path]:
    """What a folder holds now (empty when it went away while we looked)."""
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def _children(folder: Path) -> list[Path]:
    return sorted(p for p in _listing(folder) if not p.name.startswith("."))


def _remove(path: Path) -> int:
    """Remove a file or a folder tree; returns the bytes it held (0 when already gone)."""
    if path.is_symlink() or path.is_file():
        try:
            size = path.lstat().st_size
            path.unlink()
        except OSError:
            return 0
        return size
    if not path.is_dir():
        return 0
    size = folder_bytes(path)
    shutil.rmtree(path, ignore_errors=True)
    return size - folder_bytes(path)


# --- checkpoints --------------------------------------------------------------------------------


def _checkpoint_files(run_folder: Path) -> list[Path]:
    from core.runs import CHECKPOINT

    found = sorted(run_folder.glob("checkpoint-*.safetensors"))
    return found + ([run_folder / CHECKPOINT] if (run_folder / CHECKPOINT).is_file() else [])


def _busy_runs() -> set[int]:
    """Runs whose checkpoint is in use: queued or running, or continued by a queued or running job."""
    from core.jobs.store import ACTIVE, Store

    busy: set[int] = set()
    store = Store()
    try:
        for state in ACTIVE:
            for job in store.jobs(limit=10_000, state=state):
                busy.add(job.id)
                # a continuation restores its parent's checkpoint (params["continue"]["parent"]);
                # a retrain names its source in job.parent
                cont = (job.params or {}).get("continue")
                for parent in (job.parent, cont.get("parent") if isinstance(cont, dict) else None):
                    if isinstance(parent, int):
                        busy.add(parent)
    finally:
        store.close()
    return busy


def _run_folders() -> list[Path]:
    return [p for p in _children(workspace.subdir("runs")) if p.is_dir() and p.name.isdigit()]


def freeable_checkpoints() -> list[Path]:
    """The checkpoint files free_checkpoints() would remove (runs that have ended, not continued now)."""
    busy = _busy_runs()
    return [f for p in _run_folders() if int(p.name) not in busy for f in _checkpoint_files(p)]


def free_checkpoints() -> int:
    """Remove the checkpoints of runs that have ended (their kept weights stay); returns bytes freed.

    checkpoint.json goes first, so a run is never left pointing at a tensors file that is gone.
    """
    freed = 0
    files = freeable_checkpoints()
    for f in sorted(files, key=lambda p: p.suffix != ".json"):  # the JSON first
        freed += _remove(f)
    return freed


# --- the other parts ----------------------------------------------------------------------------


def free_cache() -> int:
    """Remove the decoded image caches (rebuilt when a dataset is next trained); returns bytes freed.

    Files being written (hidden temporary names) are left; a training that has a cache open keeps
    reading it (the file goes only when it is closed).
    """
    folder = tensor_cache.cache_dir()
    return sum(_remove(p) for p in _children(folder))


def free_trash() -> int:
    """Empty the trash for good: deleted dataset files, runs, models and datasets; returns bytes freed.

    A dataset's trash is emptied under its lock; one being changed right now is skipped (its
    files stay until the next time). Undoing a change whose files were emptied reports them missing.
    """
    from core.data import access

    trash = workspace.subdir("trash")
    freed = 0
    for item in sorted(trash.iterdir()):
        if item.name in ("models", "runs", TRASH_DATASETS) or not item.is_dir():
            freed += _remove(item)
            continue
        try:  # trash/<dataset>/<change>: the dataset's lock, as its changes take it
            with access.lock(item.name, wait=0.0):
                freed += _remove(item)
        except workspace.Busy:
            continue
    return freed


def free_downloads() -> int:
    """Remove the downloaded archives (a dataset then downloads again to be rebuilt); returns bytes freed."""
    from core.data.download import cache_dir

    return sum(_remove(p) for p in _children(cache_dir()) if p.is_file())


def free_parts() -> int:
    """Remove the .part files of downloads that are not running; returns bytes freed."""
    from core.data.download import sweep_parts

    return sweep_parts(max_age=0.0)


FREE: dict[str, Callable[[], int]] = {
    "cache": free_cache,
    "checkpoints": free_checkpoints,
    "trash": free_trash,
    "downloads": free_downloads,
    "parts": free_parts,
}


def free(key: str) -> int:
    """Free one part by its key (FREE); returns the bytes freed."""
    if key not in FREE:
        from core.errors import UserError

        raise UserError(f"{key!r} is not a part of the workspace that can be freed: {', '.join(FREE)}.")
    return FREE[key]()


# --- the view -------------------------------------------------------------------------------------


def usage() -> list[Part]:
    """Every part of the workspace with its size and count, largest first within the fixed order."""
    from core.data.download import PART_SUFFIX, cache_dir

    root = workspace.root()
    runs_folders = _run_folders()
    checkpoints = [f for p in runs_folders for f in _checkpoint_files(p)]
    ckpt_bytes = sum(_file_bytes(f) for f in checkpoints)  # a file may go while we look
    freeable = freeable_checkpoints()
    downloads = cache_dir()
    parts = list(downloads.glob(f".*{PART_SUFFIX}"))
    archives = [p for p in _children(downloads) if p.is_file()]
    trash = workspace.subdir("trash")
    trash_items = [c for d in _listing(trash) if d.is_dir() for c in _listing(d)]
    datasets_dir = workspace.subdir("datasets")
    cache = tensor_cache.cache_dir()
    listed = {
        "datasets": (folder_bytes(datasets_dir), len([p for p in _children(datasets_dir) if p.is_dir()])),
        "cache": (folder_bytes(cache), len(_children(cache))),
        "runs": (folder_bytes(workspace.subdir("runs")) - ckpt_bytes, len(runs_folders)),
        "checkpoints": (ckpt_bytes, len({f.parent for f in checkpoints})),
        "models": (folder_bytes(workspace.subdir("models")), len(_children(workspace.subdir("models")))),
        "trash": (folder_bytes(trash), len(trash_items)),
        "downloads": (sum(_file_bytes(p) for p in archives), len(archives)),
        "parts": (sum(_file_bytes(p) for p in parts), len(parts)),
    }
    known = {"datasets", "cache", "runs", "models", "trash", downloads.name}
    rest = [p for p in root.iterdir() if p.name not in known]
    listed["other"] = (sum(folder_bytes(p) if p.is_dir() else _file_bytes(p) for p in rest), 0)
    movable = len({f.parent for f in freeable})
    return [
        Part(key, PARTS[key][0], size, count, PARTS[key][1], PARTS[key][2].format(n=movable), key in FREE)
        for key, (size, count) in listed.items()
    ]
