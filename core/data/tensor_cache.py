"""Decoded arrays cached on disk as .npy files: written in chunks, opened whole or memory-mapped.

An array is made once (images, masks) by a writer that appends rows to a temp .npy file, so a
decode never holds every pixel in memory, then published atomically under workspace/cache/
(or under PLAYGROUND_CACHE_DIR, a folder on the machine's own disk: see cache_dir).
When it fits the cache budget (PLAYGROUND_CACHE_BUDGET, see cache_budget) it is read whole into
memory, as before; when it does not, it is opened read-only with mmap_mode="r" and loaders read
their batches from it (DiskRows), so a dataset larger than memory still trains.
"""

from __future__ import annotations

import errno
import mmap
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from core import fsutil, workspace
from core.errors import ConfigError, UserError

ENV_DIR = "PLAYGROUND_CACHE_DIR"  # a folder on this machine's own disk for the decoded arrays
ENV_BUDGET = "PLAYGROUND_CACHE_BUDGET"  # bytes of decoded pixels kept in memory ("2G", "512M" too)
DEFAULT_BUDGET = 4 * 2**30  # when the machine's memory cannot be read
MEMORY_ENTRIES = 4  # arrays kept per process (each clean-up makes a new one)
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}

_MEMORY: OrderedDict[str, np.ndarray] = OrderedDict()
# The dashboard's sessions are threads of one process: every look at _MEMORY and every change to it
# holds this lock (a decode does not: it runs outside, and two sessions may then make one array twice).
_MEMORY_LOCK = threading.Lock()


def cache_budget() -> int:
    """Bytes of decoded pixels a process keeps in memory; a larger array is streamed from disk.

    PLAYGROUND_CACHE_BUDGET when set (bytes, or with a K, M, G or T suffix: "2G"), else a quarter
    of the machine's memory (at least 512 MiB), else 4 GiB.
    """
    raw = os.environ.get(ENV_BUDGET, "").strip()
    if raw:
        text = raw.upper().removesuffix("IB").removesuffix("B")
        unit = text[-1:] if text[-1:] in _UNITS and text[-1:] else ""
        try:
            value = float(text[: len(text) - len(unit)]) * _UNITS[unit]
        except ValueError:
            value = -1.0
        if not 0 <= value < 2**63:
            raise ConfigError(
                f"{ENV_BUDGET}={raw!r} is not a size; give bytes, or a number with K, M or G (e.g. 2G)."
            )
        return int(value)
    try:
        ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return DEFAULT_BUDGET
    return max(512 * 2**20, ram // 4)


def fits_in_memory(n_bytes: int) -> bool:
    """Whether an array of n_bytes is kept in memory (True) or memory-mapped from disk."""
    return n_bytes <= cache_budget()


def on_disk(arr) -> bool:
    """Whether arr is a memory-mapped cache (read-only; read batches of it, never the whole)."""
    return isinstance(arr, np.memmap | DiskRows)


def as_tensor(arr: np.ndarray) -> torch.Tensor:
    """A cached array as a tensor sharing its memory; a memory-mapped one is read-only, so slice
    and copy (.float(), .long(), .clone()) before changing anything: a write would fault."""
    if not arr.flags.writeable:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            return torch.from_numpy(arr)
    return torch.from_numpy(arr)


def cache_dir() -> Path:
    """The folder of decoded arrays, created: the current space's cache/ in the workspace, or,
    with PLAYGROUND_CACHE_DIR set (each machine of a cluster keeps its own on local disk, not on
    the shared workspace), a folder per space under it."""
    local = os.environ.get(ENV_DIR, "").strip()
    if not local:
        return workspace.subdir("cache")
    try:
        folder = Path(local).expanduser().resolve()
        folder.mkdir(parents=True, exist_ok=True)
        name = workspace.current_name()  # laid out as the workspace: spaces/<name>, or the top
        return workspace.subdir_of(workspace.subdir_of(folder, "spaces"), name) if name else folder
    except OSError as e:
        raise UserError(
            f"{ENV_DIR}={local} must name a folder the playground can write ({e.strerror or e})."
        ) from e


def cache_path(key: str) -> Path:
    """Where the array cached under key lives."""
    return cache_dir() / f"{key}.npy"


class NpyWriter:
    """A .npy file of a known shape, written a block of rows at a time (nothing kept in memory)."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype=np.uint8):
        self.path, self.shape, self.dtype = Path(path), tuple(shape), np.dtype(dtype)
        self.rows = 0
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        descr = np.lib.format.dtype_to_descr(self.dtype)
        header = {"descr": descr, "fortran_order": False, "shape": self.shape}
        np.lib.format.write_array_header_2_0(self._file, header)
        self.offset = self._file.tell()

    def append(self, block: np.ndarray) -> None:
        """Write the next rows (shape[1:] each)."""
        if block.shape[1:] != self.shape[1:] or self.rows + len(block) > self.shape[0]:
            raise ValueError(f"rows of shape {block.shape} do not fit {self.shape} at row {self.rows}")
        self._file.write(np.ascontiguousarray(block, dtype=self.dtype).tobytes())
        self.rows += len(block)

    def close(self) -> None:
        """Flush the file; every declared row must have been written."""
        self.close_early()
        if self.rows != self.shape[0]:
            raise ValueError(f"{self.rows} of {self.shape[0]} rows written to {self.path.name}")

    def close_early(self) -> None:
        """Close the file with what is written so far (again is harmless)."""
        self._file.close()


def read_rows(path: Path, offset: int, shape: tuple[int, ...], start: int, stop: int, dtype=np.uint8):
    """Rows start:stop of a .npy file whose data begins at offset, read without mapping the file."""
    row = int(np.prod(shape[1:], dtype=np.int64)) * np.dtype(dtype).itemsize
    with open(path, "rb") as f:
        f.seek(offset + start * row)
        data = np.fromfile(f, dtype=dtype, count=(stop - start) * row // np.dtype(dtype).itemsize)
    return data.reshape((stop - start, *shape[1:]))


def _recall(key: str) -> np.ndarray | None:
    """The array kept under key, or None."""
    with _MEMORY_LOCK:
        return _MEMORY.get(key)


def _remember(key: str, arr: np.ndarray) -> np.ndarray:
    """Keep arr for reuse: at most MEMORY_ENTRIES, and in-memory ones within the budget together."""
    budget = cache_budget()
    with _MEMORY_LOCK:
        _MEMORY[key] = arr
        _MEMORY.move_to_end(key)
        while len(_MEMORY) > 1 and (
            len(_MEMORY) > MEMORY_ENTRIES
            or sum(a.nbytes for a in _MEMORY.values() if not on_disk(a)) > budget
        ):
            _MEMORY.popitem(last=False)
    return arr


def open_cached(path: Path) -> np.ndarray:
    """A cache file whole in memory when it fits the budget, else memory-mapped read-only.

    ValueError or OSError when the file is damaged (a bad header, fewer bytes than it declares).
    """
    mapped = np.load(path, mmap_mode="r", allow_pickle=False)  # checks the header and the length
    if fits_in_memory(mapped.nbytes):
        del mapped
        return np.load(path, allow_pickle=False)
    return mapped


def cached_array(key: str, write: Callable[[Path], None]) -> np.ndarray:
    """The array cached under key: from memory, else from cache_dir()/<key>.npy, else made by
    write(tmp), which writes a whole .npy file at tmp a chunk at a time, published atomically.

    A damaged cache file is made again. Arrays over the cache budget come back memory-mapped
    read-only (np.memmap): read rows of them; anything that writes must copy first.
    """
    kept = _recall(key)
    if kept is not None:
        return _remember(key, kept)  # now the most recently used
    path = cache_path(key)
    if path.exists():
        try:
            return _remember(key, open_cached(path))
        except (OSError, ValueError, EOFError):
            path.unlink(missing_ok=True)
    tmp = fsutil.temp_path(path)
    try:
        write(tmp)
        fsutil.publish(tmp, path)
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        raise UserError(
            f"The disk holding the workspace is full: the decoded images did not fit in {path.parent}. "
            "Free some space (old caches and runs) or choose a smaller image size."
        ) from e
    finally:
        tmp.unlink(missing_ok=True)
    return _remember(key, open_cached(path))


def cached_nbytes(key: str) -> int | None:
    """Bytes of the array cached on disk under key (from its header), or None when not cached."""
    path = cache_path(key)
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
    except (OSError, ValueError, EOFError):
        return None
    return int(np.prod(shape, dtype=np.int64)) * dtype.itemsize


class DiskRows:
    """Some rows of a memory-mapped array, read a batch at a time in file order.

    It answers index_select(0, idx) like a tensor, so a loader gathers a batch the same way from
    memory or from disk. Each batch's rows are read in increasing order (pages mostly
    sequential), then put back in the order asked. The pages read are let go every `release`
    bytes, so the process's resident memory stays near the budget rather than the file's size.
    """

    def __init__(self, arr: np.ndarray, rows, release: int | None = None):
        self.arr = arr
        self.rows = np.asarray(rows, dtype=np.int64)
        # bytes read between let_go()s: the kernel maps several times what a gather reads
        # (fault-around, read-ahead), so a sixteenth of the budget keeps the mapped pages under it
        self.release = release if release is not None else max(16 * 2**20, cache_budget() // 16)
        self._read = 0

    @property
    def shape(self) -> tuple[int, ...]:
        """Like a tensor's shape: rows first."""
        return (len(self.rows), *self.arr.shape[1:])

    @property
    def nbytes(self) -> int:
        """Bytes these rows take."""
        return len(self.rows) * (self.arr.nbytes // max(len(self.arr), 1))

    def __len__(self) -> int:
        return len(self.rows)

    def numel(self) -> int:
        """Number of values, as a tensor's numel."""
        return int(np.prod(self.shape, dtype=np.int64))

    def __getitem__(self, i: int) -> torch.Tensor:
        """Row i as a tensor of its own (a copy)."""
        return torch.from_numpy(np.array(self.arr[self.rows[i]]))

    def index_select(self, dim: int, idx: torch.Tensor) -> torch.Tensor:
        """Rows idx (positions in these rows) as one tensor in idx's order."""
        if dim != 0:
            raise ValueError("DiskRows selects rows only (dim 0)")
        wanted = self.rows[np.asarray(idx, dtype=np.int64)]
        order = np.argsort(wanted, kind="stable")
        block = np.take(self.arr, wanted[order], axis=0)  # increasing offsets in the file
        out = np.empty_like(block)
        out[order] = block
        self._read += block.nbytes
        if self._read >= self.release:
            self.let_go()
        return torch.from_numpy(out)

    def let_go(self) -> None:
        """Drop the mapped pages from this process (they stay in the OS's page cache)."""
        self._read = 0
        handle = getattr(self.arr, "_mmap", None)
        if handle is not None and hasattr(mmap, "MADV_DONTNEED"):
            try:
                handle.madvise(mmap.MADV_DONTNEED)
            except (OSError, ValueError):
                pass  # an advice only

    def chunks(self, rows: int = 1024):
        """The rows in file order, a block at a time (for statistics over all of them)."""
        for start in range(0, len(self.rows), rows):
            yield self.index_select(0, torch.arange(start, min(start + rows, len(self.rows))))
