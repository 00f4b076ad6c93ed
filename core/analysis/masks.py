"""Colours for segmentation masks, in one place: the Data, Results and Predict pages all use these.

A mask is an H×W array of class indices (0 = the first code, usually background). Pure NumPy:
no torch, so a page can import it without loading the engine.
"""

from __future__ import annotations

import colorsys

import numpy as np

BACKGROUND = (64, 64, 64)  # index 0: dark grey, so the classes on top stand out
# Distinct, readable colours for the first classes (Tableau 10 without its grey).
BASE = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (188, 189, 34),
    (23, 190, 207),
]


def palette(n: int) -> list[tuple[int, int, int]]:
    """n RGB colours: index 0 dark grey (background), the others distinct from it and each other."""
    colours = [BACKGROUND] + BASE[: max(0, n - 1)]
    extra = n - len(colours)
    for i in range(max(0, extra)):  # beyond the base set: spread hues by the golden ratio
        hue = (i * 0.618033988749895 + 0.1) % 1.0
        light = 0.55 if i % 2 == 0 else 0.4
        r, g, b = colorsys.hls_to_rgb(hue, light, 0.75)
        colours.append((round(r * 255), round(g * 255), round(b * 255)))
    return colours[:n]


def colour_mask(mask: np.ndarray, n: int | None = None) -> np.ndarray:
    """A mask of class indices as an H×W×3 uint8 picture in the palette's colours."""
    mask = np.asarray(mask).astype(np.int64)
    n = max(int(n or 1), int(mask.max()) + 1 if mask.size else 1)  # never short of a colour
    table = np.array(palette(n), dtype=np.uint8)
    return table[np.clip(mask, 0, n - 1)]


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The mask's colours blended over an H×W×3 uint8 image (alpha = the mask's weight).

    Background pixels (index 0) are left as the image, so the picture stays readable. A grey
    image (H×W or H×W×1) is repeated to three channels first.
    """
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    img = img[..., :3].astype(np.float32)
    mask = np.asarray(mask)
    if mask.shape != img.shape[:2]:
        shapes = f"{mask.shape[1]}×{mask.shape[0]}, the image {img.shape[1]}×{img.shape[0]}"
        raise ValueError(f"The mask is {shapes}: they must be the same size.")
    colours = colour_mask(mask).astype(np.float32)
    a = float(np.clip(alpha, 0.0, 1.0))
    blended = img * (1 - a) + colours * a
    out = np.where((mask > 0)[..., None], blended, img)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def legend(codes: list[str]) -> list[tuple[str, str]]:
    """(code, "#rrggbb") for each code, in index order: the colours overlay and colour_mask use."""
    return [(str(c), "#{:02x}{:02x}{:02x}".format(*rgb)) for c, rgb in zip(codes, palette(len(codes)))]


def class_shares(mask: np.ndarray, n: int) -> np.ndarray:
    """The share of pixels of each class 0..n-1 in mask (or a stack of masks); sums to 1."""
    flat = np.asarray(mask).astype(np.int64).ravel()
    counts = np.bincount(flat[(flat >= 0) & (flat < n)], minlength=n)[:n].astype(np.float64)
    total = counts.sum()
    return counts / total if total else counts
