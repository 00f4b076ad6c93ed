"""Where the program writes: one workspace folder, spaces inside it, and paths kept inside.

A *space* is the folder everything of one person lives in (datasets, runs, models, marks,
trash, the job store). Today there is one space, the workspace itself; with sign-in each person
gets one. Every path and id is resolved inside a space, and every lock is taken through
`Space.lock`, so the file locks used today can become database locks when workers share a store.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core import fsutil
from core.errors import PathEscapeError, UserError

ENV_VAR = "PLAYGROUND_WORKSPACE"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPACE = ""  # the workspace itself: a single person on a laptop
_LOCK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class Busy(UserError):
    """Someone else holds a lock of the space for longer than the caller would wait."""


# 1: every workspace before versions were stamped; 2: stamped in workspace.json. The layout did
# not change between them, so migrating 1 to 2 only writes the stamp; a later layout change adds
# a step to MIGRATIONS.
WORKSPACE_FORMAT = 2
STAMP = "workspace.json"
MIGRATIONS: dict[int, object] = {2: lambda folder: None}
_checked: set[Path] = set()


def workspace_root() -> Path:
    """The workspace folder (created when missing): $PLAYGROUND_WORKSPACE or ./workspace."""
    folder = Path(os.environ.get(ENV_VAR) or PROJECT_ROOT / "workspace").expanduser().resolve()
    if folder not in _checked:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(
                f"{ENV_VAR}={folder} must name a folder the playground can write ({e.strerror or e})."
            ) from e
        migrate(folder)
        _checked.add(folder)
    return folder


def format_of(folder: Path) -> int:
    """The format a workspace folder is in (1 when it carries no stamp)."""
    try:
        return int(json.loads((folder / STAMP).read_text(encoding="utf-8"))["format"])
    except FileNotFoundError:
        return 1
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as e:
        raise UserError(
            f"{folder / STAMP} cannot be read ({e}); it says which version wrote the workspace."
        ) from e


def migrate(folder: Path) -> int:
    """Bring a workspace up to WORKSPACE_FORMAT (refusing a newer one); returns its old format."""
    found = format_of(folder)
    if found > WORKSPACE_FORMAT:
        raise UserError(
            f"The workspace {folder} was written by a newer version of the playground (format {found}); "
            "update the program, or point PLAYGROUND_WORKSPACE at another folder."
        )
    for version in range(found + 1, WORKSPACE_FORMAT + 1):
        MIGRATIONS[version](folder)
    if found < WORKSPACE_FORMAT:
        fsutil.atomic_write(folder / STAMP, json.dumps({"format": WORKSPACE_FORMAT}) + "\n")
    return found


@dataclass(frozen=True)
class Space:
    """One person's folder inside the workspace; every path and lock is taken through it."""

    name: str = DEFAULT_SPACE

    @property
    def root(self) -> Path:
        """The space's folder (created when missing)."""
        base = workspace_root()
        if not self.name:
            return base
        folder = safe_join(subdir_of(base, "spaces"), self.name)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def path(self, *parts: str | os.PathLike) -> Path:
        """A path inside the space; refuses names that would leave it."""
        return safe_join(self.root, *parts)

    def subdir(self, name: str) -> Path:
        """A named folder of the space (datasets, runs, models, trash, …), created."""
        return subdir_of(self.root, name)

    @contextlib.contextmanager
    def lock(self, name: str, wait: float = 0.0, busy_message: str = "") -> Iterator[None]:
        """Hold the space's lock called name for the `with` block (raises Busy past `wait` s)."""
        if not _LOCK_NAME.match(name):
            raise PathEscapeError(f"{name!r} is not a lock name.")
        try:
            with fsutil.file_lock(self.subdir("locks") / f"{name}.lock", wait):
                yield
        except fsutil.Busy:
            raise Busy(busy_message or f"{name} is busy; try again in a moment.") from None


def space(name: str = DEFAULT_SPACE) -> Space:
    """The space called name (the one default space until sign-in exists)."""
    return Space(name)


def subdir_of(base: Path, name: str) -> Path:
    """A named folder inside base, created; refuses names that would leave it."""
    folder = safe_join(base, name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def root() -> Path:
    """The current space's folder (today: the workspace)."""
    return space().root


def subdir(name: str) -> Path:
    """A named folder of the current space (datasets, cache, models, trash, …), created."""
    return space().subdir(name)


def db_path() -> Path:
    """The SQLite store shared by the dashboard, the CLI and the worker (in the current space)."""
    return root() / "runs.sqlite"


def safe_join(base: Path, *parts: str | os.PathLike) -> Path:
    """Join user-supplied parts onto base, refusing any result that would leave base.

    Absolute parts, `..` that climbs out, and symlinks that point outside are all refused.
    """
    base = Path(base).resolve()
    for part in parts:
        text = os.fspath(part)
        if "\x00" in text:
            raise PathEscapeError(f"The name {text!r} contains a NUL byte.")
        if os.path.isabs(text) or (len(text) > 1 and text[1] == ":"):
            raise PathEscapeError(f"The path {text!r} is absolute; only names inside are allowed.")
    candidate = base.joinpath(*[os.fspath(p) for p in parts])
    resolved = candidate.resolve()
    if resolved != base and base not in resolved.parents:
        raise PathEscapeError(f"The path {candidate} would leave {base}.")
    return resolved


def inside(path: Path, base: Path | None = None) -> bool:
    """True when path (after resolving links) lies inside base (the workspace by default)."""
    base = (base or root()).resolve()
    resolved = Path(path).resolve()
    return resolved == base or base in resolved.parents
