"""Plumbing written once: atomic writes, file locks, SHA-256, file stamps, a zip's end record, sizes,
durations and safe CSV."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import itertools
import os
import struct
import threading
import time
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, BinaryIO, NamedTuple

MB = 2**20  # one mebibyte, the unit sizes and limits are written in
CHUNK = MB
# Cells a spreadsheet would run as a formula (OWASP's list): = + - @, and tab or CR first.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# --- durable files ---------------------------------------------------------------------------


def fsync_dir(path: Path) -> None:
    """Make a rename inside folder `path` durable (quietly skipped where the OS refuses)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the file itself was fsynced
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a file that was written by someone else's code (safetensors, torch) to the disk."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def temp_path(path: Path) -> Path:
    """A hidden temporary name beside path, unique to this process and thread.

    The dashboard serves every browser session from threads of one process, so the pid alone
    could give two writers of the same file the same temporary name.
    """
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def atomic_write(path: Path, data: bytes | str) -> Path:
    """Write path whole or not at all: a temp file beside it, fsync, rename, fsync the folder."""
    path = Path(path)
    tmp = temp_path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def publish(tmp: Path, path: Path) -> Path:
    """Rename an already written temp file onto path, durably (for files written by libraries)."""
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return path


# --- locks -----------------------------------------------------------------------------------


class Busy(Exception):
    """Raised by file_lock when another process holds the lock past the wait."""


def try_lock(path: Path, wait: float = 0.0) -> IO | None:
    """Take an exclusive lock on the file at path, retrying for `wait` seconds; None when held.

    The lock lasts while the returned handle is open: closing it (or the process ending)
    releases it, so a crashed holder never leaves a stale lock.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            handle.close()
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)


@contextlib.contextmanager
def file_lock(path: Path, wait: float = 0.0) -> Iterator[IO]:
    """Hold the lock on path for the `with` block; raises Busy when it stays held past `wait`."""
    handle = try_lock(path, wait)
    if handle is None:
        raise Busy(str(path))
    try:
        yield handle
    finally:
        handle.close()  # closing releases the lock


# --- hashes ----------------------------------------------------------------------------------


def sha256_bytes(data: bytes) -> str:
    """SHA-256 of bytes, as hex."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, as hex, read in chunks (large files never sit in memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


# --- stamps: what changes when a file does, read without opening it ---------------------------


def stamp(paths: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
    """(name, mtime_ns, size) of each of paths that exists, in the order given: a cache key that
    changes when a file is rewritten, added or removed, read without opening any of them."""
    out = []
    for path in paths:
        try:
            st = Path(path).stat()
        except OSError:
            continue
        out.append((Path(path).name, st.st_mtime_ns, st.st_size))
    return tuple(out)


def files_digest(root: Path, files: Iterable[str], head: str, tags: Iterable[object] | None = None) -> str:
    """SHA-256 (hex) of head, then of each file's name under root, its tag (when tags are given),
    size and mtime: it changes when a file is rewritten, renamed, added or removed, and no file is
    read. OSError when one is missing."""
    h = hashlib.sha256(head.encode())
    for rel, tag in zip(files, itertools.repeat(None) if tags is None else tags):
        st = (Path(root) / rel).stat()
        middle = "" if tag is None else f"|{tag}"
        h.update(f"|{rel}{middle}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()


# --- a zip's end record ----------------------------------------------------------------------


class ZipEnd(NamedTuple):
    """A zip's central directory as its end record states it."""

    entries: int  # entries it claims
    size: int  # bytes of the directory
    start: int  # where the directory starts in the file (past any bytes put before the zip)


def zip_end(f: BinaryIO) -> ZipEnd | None:
    """The central directory as the end record states it (zip64 too), found the way zipfile finds
    it, before any entry is parsed: zipfile builds an object per entry, and a directory of millions
    costs seconds and hundreds of MB. None when there is no readable end record (zipfile then
    refuses the file in its own words)."""
    try:
        end = zipfile._EndRecData(f)  # the same reading of the end record zipfile makes
    except (OSError, ValueError, EOFError, struct.error, zipfile.BadZipFile):
        return None
    if not end:
        return None
    size = end[zipfile._ECD_SIZE]
    start = end[zipfile._ECD_LOCATION] - size
    if end[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:
        start -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
    return ZipEnd(end[zipfile._ECD_ENTRIES_TOTAL], size, start)


# --- what a person reads ---------------------------------------------------------------------


def human_size(n: float) -> str:
    """Bytes as a person reads them: 300 bytes, 2 KB, 3.2 MB, 1.2 GB."""
    if n < 1024:
        return f"{int(n)} bytes"
    if n >= 2**30:
        return f"{n / 2**30:.1f} GB"
    if n >= MB:
        return f"{n / MB:.1f} MB"
    return f"{n / 1024:.0f} KB"


def format_duration(seconds: float) -> str:
    """Seconds as fastai's epoch table writes them, truncating: 59.6 → 00:59, 3600 → 1:00:00."""
    t = int(seconds)
    h, m, s = t // 3600, (t // 60) % 60, t % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def neutralise_cell(value: object) -> object:
    """A text cell a spreadsheet would run as a formula (=, +, -, @ first) gets a leading '."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_bytes(header: Iterable[str], rows: Iterable[Iterable[object]]) -> bytes:
    """A CSV for a person to download, formula-looking text cells neutralised (UTF-8)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([neutralise_cell(h) for h in header])
    for row in rows:
        writer.writerow([neutralise_cell(v) for v in row])
    return out.getvalue().encode("utf-8")


def frame_csv_bytes(frame) -> bytes:
    """csv_bytes for a pandas DataFrame (its columns as the header, the index left out)."""
    return csv_bytes([str(c) for c in frame.columns], frame.itertuples(index=False, name=None))
