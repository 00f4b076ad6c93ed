"""Pictures on the Data page: thumbnails, tiny tensors enlarged without blurring, white frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np

THUMB = 72  # pixels a sample is shown at
UNREADABLE = np.full((THUMB, THUMB, 3), 200, dtype=np.uint8)  # a grey square in its place


def thumb(path: Path, px: int) -> np.ndarray | None:
    """An image scaled to fit px (small ones enlarged with visible pixels); None if unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            scale = px / max(img.size)
            size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
            method = Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.LANCZOS
            return np.asarray(img.resize(size, method))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def enlarge(arr: np.ndarray, px: int) -> np.ndarray:
    """Repeat pixels so a tiny tensor shows as blocks about px wide (no blurring), framed."""
    k = max(1, px // max(arr.shape[0], arr.shape[1]))
    return framed(np.repeat(np.repeat(arr, k, axis=0), k, axis=1))


def framed(arr: np.ndarray, pad: int = 3) -> np.ndarray:
    """A white margin, so pictures side by side do not run into one another."""
    widths = ((pad, pad), (pad, pad)) + ((0, 0),) * (arr.ndim - 2)
    return np.pad(arr, widths, constant_values=255)
