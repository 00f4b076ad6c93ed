"""Where the program writes: one workspace folder, spaces inside it, and paths kept inside.

A *space* is the folder everything of one person lives in (datasets, runs, models, marks,
trash). Alone on a laptop there is one space, the workspace itself; when the dashboard is shared
(core.people) each signed-in person gets one under spaces/. The *current* space is a context
variable: the dashboard sets it for each script run, the worker for each job, the CLI for the
person who runs it, so every `root()`/`subdir()` below resolves inside that person's folder.
Every path and id is resolved inside a space, and every lock is taken through `Space.lock`
(file locks, or the shared store's advisory locks when PLAYGROUND_DB names a server).
The job store itself is one for the whole workspace (jobs carry their owner's space).
"""

from __future__ import annotations

import contextlib
import contextvars
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
# A person's space name (core.people.space_name makes one from an identity); names starting with
# "_" are the program's own (PUBLISHED), never a person's.
_SPACE_NAME = re.compile(r"^_?[a-z0-9][a-z0-9_-]{0,79}$")
PUBLISHED = "_published"  # what a teacher published to the class: readable by all, written by teachers
_CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("playground_space", default=None)
# When no space was set in this context (a Streamlit widget callback or fragment runs before or
# without app.py), RESOLVERS["space"]() says whose it is: the dashboard registers one reading the
# browser session's person (core.people does the same for the person). None: the default space.
RESOLVERS: dict[str, object] = {}
# Set by core.jobs.locks when the store is shared: name -> context manager(wait, busy_message).
LOCK_BACKEND: dict[str, object] = {}


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

    def __post_init__(self):
        if self.name and not _SPACE_NAME.match(self.name):
            raise PathEscapeError(f"{self.name!r} is not a space name.")

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
        shared = LOCK_BACKEND.get("lock")
        if shared is not None:  # a shared filesystem: the store's advisory locks, not flock
            with shared(f"{self.name}/{name}", wait, busy_message):  # type: ignore[operator]
                yield
            return
        try:
            with fsutil.file_lock(self.subdir("locks") / f"{name}.lock", wait):
                yield
        except fsutil.Busy:
            raise Busy(busy_message or f"{name} is busy; try again in a moment.") from None


def space(name: str | None = None) -> Space:
    """The space called name; without a name, the current one (see use_space)."""
    return Space(current_name() if name is None else name)


def current_name() -> str:
    """The current space's name ("" alone on a laptop): the one set in this context, else the one
    RESOLVERS["space"] gives (the dashboard's browser session), else the default space."""
    name = _CURRENT.get()
    if name is None:
        resolve = RESOLVERS.get("space")
        name = resolve() if resolve is not None else None  # type: ignore[operator]
    return DEFAULT_SPACE if name is None else name


@contextlib.contextmanager
def use_space(name: str) -> Iterator[Space]:
    """Make the space called name current for the `with` block (in this thread/context)."""
    chosen = Space(name)  # checks the name
    token = _CURRENT.set(chosen.name)
    try:
        yield chosen
    finally:
        _CURRENT.reset(token)


def set_space(name: str) -> None:
    """Make the space called name current for the rest of this context (a dashboard script run,
    which sets it again at the top of every run)."""
    _CURRENT.set(Space(name).name)


def subdir_of(base: Path, name: str) -> Path:
    """A named folder inside base, created; refuses names that would leave it."""
    folder = safe_join(base, name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def root() -> Path:
    """The current space's folder (the workspace itself alone on a laptop)."""
    return space().root


def subdir(name: str) -> Path:
    """A named folder of the current space (datasets, cache, models, trash, …), created."""
    return space().subdir(name)


def db_path() -> Path:
    """The SQLite store shared by the dashboard, the CLI and the worker: one per workspace,
    whoever the current space is (PLAYGROUND_DB names a PostgreSQL server instead)."""
    return workspace_root() / "runs.sqlite"


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
