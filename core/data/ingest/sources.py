"""Sources: the limits and budgets of an import, and reading a folder or a CSV's files into a
scratch folder within them (zips and tars: core.data.ingest.archives, which builds on this).

Everything a person hands in is hostile until checked. Paths are typed by a person (full_path:
no NUL, no loop of links); a folder's links and special files are listed, never followed or
opened; files that cannot be read are skipped and reported; every byte copied is counted against
the budget while it is written, not only from what a file or an archive declares.
"""

from __future__ import annotations

import lzma
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from core import workspace
from core.data import images
from core.data.ingest.names import entry_parts, is_hidden, readable_parts
from core.errors import UserError
from core.fsutil import MB, human_size

CHUNK = MB
IMPORT_ROOT_VAR = "PLAYGROUND_IMPORT_ROOT"  # when set, folder imports must lie inside it

Progress = Callable[[float, str], None]
Cancelled = Callable[[], bool]


@dataclass(frozen=True)
class Limits:
    """How much one upload, folder or download may hold."""

    max_archive_bytes: int = 200 * MB  # the archive as uploaded (Streamlit holds it in memory)
    max_total_bytes: int = 2048 * MB  # everything extracted or copied, counted while writing
    max_file_bytes: int = images.MAX_FILE_BYTES  # one file
    max_files: int = 50_000  # entries in an archive, files in a folder, rows in a CSV
    max_pixels: int = images.PILLOW_MAX_PIXELS  # one image; more is a decompression bomb


class IngestCancelled(Exception):
    """The person (or the worker's shutdown) asked to stop; nothing was kept."""


@dataclass(frozen=True)
class Entry:
    """One file handed in: where it sits in the person's layout, and our temporary copy."""

    parts: tuple[str, ...]
    file: Path

    @property
    def shown(self) -> str:
        """The path as the person knows it."""
        return "/".join(self.parts)


@dataclass
class Gathered:
    """What a source handed over: its files, plus what was left out on the way."""

    entries: list[Entry] = field(default_factory=list)
    problems: list[images.Problem] = field(default_factory=list)
    hidden: int = 0


@dataclass
class Budget:
    """Bytes and files written so far, refused the moment a limit is passed."""

    limits: Limits
    what: str
    total: int = 0
    files: int = 0

    def add_file(self) -> None:
        """Count one more file."""
        self.files += 1
        if self.files > self.limits.max_files:
            raise UserError(
                f"{self.what} holds more than {self.limits.max_files:,} files, the "
                "limit; split it into smaller sets. Nothing was added."
            )

    def add_bytes(self, n: int) -> None:
        """Count n more bytes written."""
        self.total += n
        if self.total > self.limits.max_total_bytes:
            raise UserError(
                f"{self.what} expands to more than {human_size(self.limits.max_total_bytes)}, the "
                "limit for one dataset (a zip bomb?). Extraction stopped; nothing was added."
            )


class open_binary:
    """A context manager over a path (opened here) or a file object (left open)."""

    def __init__(self, source: BinaryIO | Path | str):
        self.source, self.handle = source, None

    def __enter__(self) -> BinaryIO:
        if isinstance(self.source, (str, Path)):
            self.handle = open(self.source, "rb")
            return self.handle
        return self.source

    def __exit__(self, *_):
        if self.handle is not None:
            self.handle.close()


def archive_kind(head: bytes, shown: str) -> str:
    """zip or tar, from the first 512 bytes; anything else is refused with what it looks like."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")) or head[257:262] == b"ustar":
        return "tar"
    raise UserError(
        f"{shown} is not a zip or tar archive: {images.describe_content(head)}. "
        "Upload a .zip of class folders."
    )


def copy_limited(
    src: BinaryIO, dst: Path, budget: Budget, limits: Limits, shown: str, damaged: str | None = None
) -> None:
    """Copy in chunks, counting every byte against the budget as it is written.

    A failure to read src (a damaged archive member, an unreadable file) is a UserError starting
    with damaged (default: "<shown> cannot be read"); a failure to write stays an OSError.
    """
    written = 0
    with open(dst, "wb") as out:
        while chunk := _read(src, damaged or f"{shown} cannot be read"):
            written += len(chunk)
            if written > limits.max_file_bytes:
                raise UserError(
                    f"{shown} expands to more than {human_size(limits.max_file_bytes)}, the "
                    "limit for one file (a zip bomb?). Nothing was added."
                )
            budget.add_bytes(len(chunk))
            out.write(chunk)


def _read(src: BinaryIO, damaged: str) -> bytes:
    try:
        return src.read(CHUNK)
    except UserError:
        raise
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, struct.error) as e:
        raise UserError(f"{damaged} ({e}). Nothing was added.") from e


def too_big(limits: Limits) -> str:
    """Why a file over the per-file limit is skipped."""
    return f"it is larger than the {human_size(limits.max_file_bytes)} limit for one file"


FOLDERS_OFF = (
    "Importing a folder from the server's disk is off on a shared dashboard: the server's files are "
    "not the class's. Upload a zip instead, or ask the teacher to set import_root in the class file."
)


def import_root() -> Path | None:
    """The only server folder imports may read from: the class file's import_root on a shared
    dashboard (None there: folder imports are off), else $PLAYGROUND_IMPORT_ROOT when set (None:
    any folder, alone on a laptop)."""
    from core import people

    cfg = people.config()
    if cfg.shared:
        return cfg.import_root
    allowed = os.environ.get(IMPORT_ROOT_VAR)
    return Path(allowed) if allowed else None


def folders_allowed() -> bool:
    """False on a shared dashboard without an import_root: nobody may read the server's folders."""
    from core import people

    return not people.shared() or people.config().import_root is not None


def check_import_root(path: Path) -> None:
    """Refuse a resolved path outside the import root (import_root()); on a shared dashboard
    without one, refuse every server folder, and with one, anything inside the workspace (it
    holds everyone's spaces, so an import root around it must not open them)."""
    from core import people

    if not folders_allowed():
        raise UserError(FOLDERS_OFF)
    allowed = import_root()
    if allowed is not None and not workspace.inside(path, allowed):
        raise UserError(f"Only folders inside {allowed} may be imported on this server.")
    if people.shared() and workspace.inside(path, workspace.workspace_root()):
        raise UserError(
            f"{path} is inside the playground's own workspace, which holds everyone's spaces; "
            "it cannot be imported. Nothing was added."
        )


def full_path(text: str | Path, what: str, example: str) -> Path:
    """A full path a person typed, resolved (links followed); UserError for an empty, relative,
    NUL-holding or looping one."""
    text = str(text).strip()
    if not text:
        raise UserError(f"Give the path of {what} on the machine running the dashboard.")
    if "\x00" in text:
        raise UserError(f"{text[:80]!r} holds a NUL byte, which no path on this machine can hold.")
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise UserError(f"{text} is not a full path; give it from the root, e.g. {example}.")
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError) as e:  # RuntimeError: a loop of links
        raise UserError(f"{text} cannot be followed to {what} ({e}).") from e


def outside_folder(path: str | Path) -> Path:
    """A folder on this machine that a person may import from."""
    folder = full_path(path, "a folder", "/data/pets")
    check_import_root(folder)  # before saying whether it exists
    if not folder.is_dir():
        raise UserError(f"There is no folder {folder} on the machine running the dashboard.")
    if workspace.inside(folder, workspace.subdir("datasets")):
        raise UserError(
            f"{folder} is already one of the workspace's datasets; choose it from the list instead."
        )
    if import_root() is not None and workspace.inside(folder, workspace.workspace_root()):
        # on a shared server the workspace holds everyone's spaces: never a source of an import
        raise UserError(f"{folder} is inside the playground's own workspace; it cannot be imported.")
    return folder


def folder_entries(folder: Path, raw: Path, budget: Budget, progress: Progress | None) -> Gathered:
    """Copy a folder's regular files into raw; links are listed as problems, never followed."""
    limits = budget.limits
    found = Gathered()

    def unreadable(e: OSError) -> None:
        rel = "/".join(readable_parts(Path(e.filename).relative_to(folder).parts)) or "."
        found.problems.append(images.Problem(rel + "/", f"a folder that cannot be read ({e.strerror or e})"))

    for dirpath, dirnames, filenames in os.walk(folder, onerror=unreadable, followlinks=False):
        here = Path(dirpath)
        for d in sorted(dirnames):
            if (here / d).is_symlink():
                rel = "/".join(readable_parts((here / d).relative_to(folder).parts))
                found.problems.append(images.Problem(rel + "/", "a link to a folder, not followed"))
        dirnames[:] = sorted(d for d in dirnames if not (here / d).is_symlink())
        for fname in sorted(filenames):
            path = here / fname
            parts = readable_parts(path.relative_to(folder).parts)
            shown = "/".join(parts)
            if is_hidden(parts):
                found.hidden += 1
                continue
            if path.is_symlink():
                found.problems.append(images.Problem(shown, "a link, not followed"))
                continue
            if not path.is_file():
                found.problems.append(images.Problem(shown, "not a regular file"))
                continue
            budget.add_file()
            try:
                if path.stat().st_size > limits.max_file_bytes:
                    found.problems.append(images.Problem(shown, too_big(limits)))
                    continue
                src = open(path, "rb")
            except OSError as e:
                found.problems.append(images.Problem(shown, f"it cannot be read ({e.strerror or e})"))
                continue
            target = raw / str(len(found.entries))
            with src:
                copy_limited(src, target, budget, limits, shown)
            found.entries.append(Entry(parts, target))
            if progress and len(found.entries) % 50 == 0:
                progress(0.25, f"copied {len(found.entries):,} files")
    return found


def csv_entries(
    csv_file: Path,
    rows: list[tuple[int, str]],
    raw: Path,
    budget: Budget,
    progress: Progress | None,
) -> Gathered:
    """Copy the files a CSV's rows (line, path relative to the CSV) name, and the CSV itself.

    A row leading outside the CSV's folder refuses everything; a missing file or a link is left
    for the rows' matching to report.
    """
    limits = budget.limits
    folder = csv_file.parent
    found = Gathered([Entry((csv_file.name,), csv_file)])
    for i, (line, rel) in enumerate(rows):
        parts = entry_parts(rel, f"{csv_file.name}, line {line},")
        try:
            source = workspace.safe_join(folder, *parts)
        except UserError as e:
            raise UserError(
                f"{csv_file.name}, line {line}, names {rel!r}, which leads outside "
                "the CSV's folder. Refused, nothing was added."
            ) from e
        if Path(folder, *parts).is_symlink() or not source.is_file():
            continue  # reported as missing when the rows are matched
        budget.add_file()
        if source.stat().st_size > limits.max_file_bytes:
            found.problems.append(images.Problem(rel, too_big(limits)))
            continue
        copy = raw / str(i)
        with open(source, "rb") as src:
            copy_limited(src, copy, budget, limits, "/".join(parts))
        found.entries.append(Entry(parts, copy))
        if progress and i % 50 == 0:
            progress(0.5 * i / max(1, len(rows)), f"copied {i:,} of {len(rows):,} files")
    return found
