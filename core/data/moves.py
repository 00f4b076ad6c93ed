"""Moving a dataset's files: never overwrite, and every move can be redone or undone from disk."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from core.data.places import from_ws, rel_to_ws
from core.errors import UserError
from core.fsutil import sha256_file


def move_no_clobber(src: Path, dst: Path) -> None:
    """Move src to dst; FileExistsError when dst exists (nothing is ever overwritten).

    A hard link then an unlink: the link fails atomically when dst exists, and a crash between
    the two leaves one file under two names, which recovery recognises (same inode).
    """
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno == errno.EXDEV:
            raise UserError(
                "The trash and the dataset must be on the same disk (inside the "
                "workspace) so that moves are atomic."
            ) from e
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # no hard links on this filesystem: check then rename, safe under the dataset lock
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "exists", str(dst)) from e
        os.rename(src, dst)
        return
    os.unlink(src)


def free_name(folder: Path, name: str, taken: set[str]) -> str:
    """name, or name-1, name-2… : the first that is neither on disk in folder nor taken."""
    stem, suffix = os.path.splitext(name)
    candidate, n = name, 0
    while os.path.lexists(folder / candidate) or f"{folder}/{candidate}" in taken:
        n += 1
        candidate = f"{stem}-{n}{suffix}"
    taken.add(f"{folder}/{candidate}")
    return candidate


def position(move: dict) -> str:
    """Where a move stands on disk: 'before', 'after', 'half' (both names, one file) or 'gone'.

    When both names hold different files, the contents decide: the file the plan fingerprinted
    is the one that was (or was not yet) moved; the other arrived from outside.
    """
    src, dst = from_ws(move["src"]), from_ws(move["dst"])
    s, d = os.path.lexists(src), os.path.lexists(dst)
    if s and d:
        if os.path.samefile(src, dst):
            return "half"
        moved = sha256_file(dst) == move["sha256"] and sha256_file(src) != move["sha256"]
        return "after" if moved else "before"
    if d:
        return "after"
    return "before" if s else "gone"


def forward(move: dict) -> str:
    """Do one move (idempotent); returns the position it started from."""
    src, dst = from_ws(move["src"]), from_ws(move["dst"])
    where = position(move)
    if where == "before":
        dst.parent.mkdir(parents=True, exist_ok=True)
        move_no_clobber(src, dst)
    elif where == "half":
        os.unlink(src)
    return where


def backward(move: dict, taken: set[str]) -> tuple[str, str | None]:
    """Put one moved file back (idempotent); returns (position it started from, new name or None).

    When something else now occupies the original name, the file comes back beside it under a
    new name rather than overwrite it.
    """
    src, dst = from_ws(move["src"]), from_ws(move["dst"])
    where = position(move)
    renamed = None
    if where == "after":
        src.parent.mkdir(parents=True, exist_ok=True)
        target = src
        if os.path.lexists(src):
            target = src.parent / free_name(src.parent, src.name, taken)
        try:
            move_no_clobber(dst, target)
        except FileExistsError:
            target = src.parent / free_name(src.parent, src.name, taken)
            move_no_clobber(dst, target)
        if target != src:
            renamed = rel_to_ws(target)
    elif where == "half":
        os.unlink(dst)
    return where, renamed


def remove_empty_dirs(paths: list[str]) -> None:
    """Remove the folders (workspace-relative) that are empty, deepest first."""
    for rel in sorted(paths, key=lambda p: -p.count("/")):
        with contextlib.suppress(OSError):
            from_ws(rel).rmdir()  # only when empty
