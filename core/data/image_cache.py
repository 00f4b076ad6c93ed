"""The decoded-image cache: every image of a dataset decoded once to uint8 N×C×H×W on disk.

Images are decoded DECODE_CHUNK at a time straight into a .npy file (core.data.tensor_cache),
never all held in memory, and the file is published atomically under workspace/cache/ (or
PLAYGROUND_CACHE_DIR on the machine's own disk, tensor_cache.cache_dir), keyed
by the files' names, sizes and times and the image size. Within the cache budget the array is
read whole into memory; over it, it comes back memory-mapped and loaders stream its rows.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from core import fsutil
from core.data.datasets import Items
from core.data.images import square_resize, to_rgb, upright
from core.data.tensor_cache import (
    ENV_BUDGET,
    NpyWriter,
    cache_budget,
    cached_array,
    cached_nbytes,
    fits_in_memory,
    read_rows,
)
from core.errors import UserError

CACHE_VERSION = 3  # bump when decoding changes, so old caches are not reused


def _cache_key(items: Items, size: int) -> str:
    return fsutil.files_digest(items.root, items.files, f"v{CACHE_VERSION}|{items.root}|{size}")[:24]


def decode_image(path: Path, size: int) -> np.ndarray:
    """One image as an RGB uint8 array size×size: centre-cropped to a square, then resized."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.seek(0)
            # upright, alpha over white, 16-bit scaled, cropped and resized: as Predict sees it
            rgb, _notes = to_rgb(upright(img))
            return np.asarray(square_resize(rgb, size), dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise UserError(f"Cannot read image {path.name}: {e}") from e


DECODE_CHUNK = 256  # images decoded between writes to the cache file: what a decode holds


def image_tensor(items: Items, size: int) -> np.ndarray:
    """All images of items as uint8 N×C×H×W (C is 1 when every image is grey), cached on disk.

    In memory when it fits the cache budget (tensor_cache.cache_budget), else a read-only
    np.memmap of the cache file: read rows of it, copy before writing.
    """
    return cached_array(_cache_key(items, size), lambda tmp: _write_images(tmp, items, size))


def _write_images(tmp: Path, items: Items, size: int) -> None:
    """Decode items into a .npy at tmp, DECODE_CHUNK images at a time.

    Written with one channel while every image so far is grey; the first colour chunk turns
    what is written into three channels (copied from the file a chunk at a time).
    """
    n = len(items.files)
    grey = NpyWriter(tmp, (n, 1, size, size))
    colour: NpyWriter | None = None
    wide = fsutil.temp_path(tmp)
    try:
        for start in range(0, n, DECODE_CHUNK):
            rel = items.files[start : start + DECODE_CHUNK]
            block = np.stack([decode_image(items.root / r, size) for r in rel]).transpose(0, 3, 1, 2)
            if colour is None and _is_grey(block):
                grey.append(block[:, :1])
                continue
            if colour is None:
                grey.close_early()
                colour = NpyWriter(wide, (n, 3, size, size))
                for done in range(0, grey.rows, DECODE_CHUNK):
                    stop = min(done + DECODE_CHUNK, grey.rows)
                    rows = read_rows(tmp, grey.offset, grey.shape, done, stop)
                    colour.append(np.repeat(rows, 3, axis=1))
            colour.append(block)
        if colour is None:
            grey.close()
        else:
            colour.close()
            os.replace(wide, tmp)
    finally:
        grey.close_early()
        if colour is not None:
            colour.close_early()
        wide.unlink(missing_ok=True)


def _is_grey(block: np.ndarray) -> bool:
    """Whether every image of a k×3×H×W block has equal red, green and blue."""
    return bool((block[:, 0] == block[:, 1]).all() and (block[:, 1] == block[:, 2]).all())


def data_path(items: Items, size: int) -> tuple[str, int, bool]:
    """("memory" or "disk", bytes of pixels, whether they are decoded yet): where training will
    read items' pixels at size from. The bytes are the cache file's when it exists, else an upper
    bound (three channels: a grey dataset turns out a third of it)."""
    n_bytes = cached_nbytes(_cache_key(items, size))
    decoded = n_bytes is not None
    if n_bytes is None:
        n_bytes = len(items.files) * 3 * size * size
    return ("memory" if fits_in_memory(n_bytes) else "disk"), n_bytes, decoded


def data_path_note(items: Items, size: int) -> str:
    """One sentence for the Train page: whether the pixels are held in memory or streamed."""
    where, n_bytes, decoded = data_path(items, size)
    amount = fsutil.human_size(n_bytes) if decoded else f"up to {fsutil.human_size(n_bytes)}"
    if where == "memory":
        return f"in memory ({amount} of pixels{'' if decoded else ', once decoded'})"
    return (
        f"streamed from disk: {amount} of pixels, more than the "
        f"{fsutil.human_size(cache_budget())} cache budget ({ENV_BUDGET})"
    )


def dataset_path_note(dataset: str, size: int | None = None) -> str:
    """data_path_note for a dataset by name, at size (its default size when None), as training
    will read it (under the dataset's lock, core.data.access)."""
    from core.data import access

    with access.dataset(dataset) as info:
        items = access.items(info)
        return data_path_note(items, size or info.default_size)
