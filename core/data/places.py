"""Where a dataset's files and records live, and file names refused when they would leave them."""

from __future__ import annotations

from pathlib import Path

from core import workspace
from core.errors import PathEscapeError


def dataset_root(dataset: str) -> Path:
    """The folder of a dataset in the workspace (built-ins are written out on first use): the
    current space's, or the published space's for a dataset a teacher published (read-only)."""
    from core.data.datasets import home, resolve

    info = resolve(dataset)
    root = info.path.resolve()
    if not workspace.inside(root, home(info)):
        raise PathEscapeError(f"The dataset {dataset!r} is not inside the workspace's datasets folder.")
    return root


def area(kind: str, dataset: str, create: bool = True) -> Path:
    """workspace/<kind>/<dataset> (kind is journals, trash or marks), created unless create=False."""
    folder = workspace.safe_join(workspace.subdir(kind), dataset)
    if folder.parent != workspace.subdir(kind):
        raise PathEscapeError(f"The dataset name {dataset!r} is not a plain folder name.")
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def journal_dir(dataset: str, create: bool = True) -> Path:
    """Where the journals of a dataset's applied changes are kept."""
    return area("journals", dataset, create)


def trash_dir(dataset: str) -> Path:
    """Where a dataset's deleted files go (one sub-folder per applied change)."""
    return area("trash", dataset)


def rel_to_ws(path: Path) -> str:
    """A path as the journal stores it: relative to the workspace, POSIX style."""
    return path.resolve().relative_to(workspace.root()).as_posix()


def from_ws(rel: str) -> Path:
    """A journal's workspace-relative path, refused if it would leave the workspace."""
    return workspace.safe_join(workspace.root(), rel)


def in_dataset(ws_rel: str, root: Path) -> str:
    """A workspace-relative path as the dataset names it (class/image), when it lies inside root."""
    path = from_ws(ws_rel)
    return path.relative_to(root).as_posix() if workspace.inside(path, root) else ws_rel


def check_file(root: Path, rel: str) -> Path:
    """The dataset file at rel (class/image or split/class/image), refused when it would leave root."""
    if not isinstance(rel, str) or not rel or "\\" in rel:
        raise PathEscapeError(f"The file name {rel!r} is not a path inside the dataset.")
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts) or len(parts) < 2:
        raise PathEscapeError(f"The file {rel!r} is not of the form class/image inside the dataset.")
    path = workspace.safe_join(root, rel)
    if (root / rel).is_symlink():
        raise PathEscapeError(f"The file {rel!r} is a link; only plain files are moved.")
    return path
