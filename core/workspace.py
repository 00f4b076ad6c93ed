"""Where the program writes: one workspace folder, and helpers that keep user paths inside it."""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import PathEscapeError

ENV_VAR = "PLAYGROUND_WORKSPACE"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def root() -> Path:
    """The workspace folder (created when missing): $PLAYGROUND_WORKSPACE or ./workspace."""
    folder = Path(os.environ.get(ENV_VAR) or PROJECT_ROOT / "workspace").expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def subdir(name: str) -> Path:
    """A named folder inside the workspace (datasets, cache, models, trash, …), created."""
    folder = safe_join(root(), name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def db_path() -> Path:
    """The SQLite store shared by the dashboard, the CLI and the worker."""
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
