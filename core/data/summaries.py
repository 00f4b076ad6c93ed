"""What the Data page shows about multi-label and segmentation datasets, computed without a UI.

Multi-label: how often each label occurs per split, how many labels an image holds, and how
often two labels share an image (the co-occurrence matrix). Segmentation: a mask read as its
integers, the values each mask holds (`np.unique`, as the fastai course explores CamVid), the
share of pixels of each class over the dataset, and a small window of a mask worth printing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.data.layouts import MultiItems, SegItems

NO_LABEL = "(no label)"  # how an image without tags is named where a label is expected


def label_counts(items: MultiItems) -> pd.DataFrame:
    """Images holding each label, per split: columns label, split (train/valid), images.

    Every label appears with both splits (0 when it has none there), in vocab order.
    """
    counts = {(label, split): 0 for label in items.vocab for split in ("train", "valid")}
    for tags, valid in zip(items.labels, items.is_valid):
        split = "valid" if valid else "train"
        for t in tags:
            counts[(t, split)] += 1
    rows = [{"label": lab, "split": s, "images": n} for (lab, s), n in counts.items()]
    return pd.DataFrame(rows, columns=["label", "split", "images"])


def labels_per_image(items: MultiItems) -> pd.DataFrame:
    """How many images hold 0, 1, 2, … labels: columns labels, images (every count up to the most)."""
    sizes = np.bincount([len(t) for t in items.labels], minlength=1)
    return pd.DataFrame({"labels": range(len(sizes)), "images": sizes.astype(int)})


def cooccurrence(items: MultiItems) -> np.ndarray:
    """C×C counts in vocab order: [i, j] = images holding both label i and label j.

    The diagonal [i, i] is the number of images holding label i at all.
    """
    targets = items.targets().astype(np.int64)
    return targets.T @ targets


def files_by_label(items) -> dict[str, list[str]]:
    """The files to pick examples from, grouped by what a person would pick them by.

    Single-label: label → its files. Multi-label: label → the files holding it (a file may be
    in several groups), and NO_LABEL for files holding none. Segmentation: one group of every image.
    """
    if isinstance(items, SegItems):
        return {"every image": list(items.files)}
    groups: dict[str, list[str]] = {label: [] for label in items.vocab}
    for file, tags in zip(items.files, items.labels):
        for t in (tags,) if isinstance(tags, str) else tags or (NO_LABEL,):
            groups.setdefault(t, []).append(file)
    return groups


def read_mask(path: Path) -> np.ndarray:
    """A mask file as its integers (H×W uint8): class indices, read as stored (no colour mapping;
    values past the codes kept, so the page can show them)."""
    from core.data.seg_loaders import mask_values

    return mask_values(path, 256)


def mask_of(items: SegItems, file: str) -> np.ndarray:
    """The mask of one image of the dataset, as its integers (turned like its image is shown)."""
    from core.data.seg_loaders import aligned_mask

    return aligned_mask(items, items.files.index(file), 256)


def code_name(codes: list[str], value: int) -> str:
    """The class a mask value stands for, or a note that codes.txt names no such class."""
    return codes[value] if 0 <= value < len(codes) else f"(value {value}: not in codes.txt)"


def unique_values(items: SegItems, files: list[str]) -> pd.DataFrame:
    """`np.unique` of each file's mask: columns file, values ("0 1 3"), codes, pixel share of each."""
    rows = []
    for file in files:
        mask = mask_of(items, file)
        values, counts = np.unique(mask, return_counts=True)
        total = max(1, int(counts.sum()))
        rows.append(
            {
                "file": file,
                "values": " ".join(str(int(v)) for v in values),
                "codes": ", ".join(code_name(items.codes, int(v)) for v in values),
                "shares": ", ".join(f"{c / total:.0%}" for c in counts),
            }
        )
    return pd.DataFrame(rows, columns=["file", "values", "codes", "shares"])


@dataclass(frozen=True)
class PixelShares:
    """Pixels of each class over a dataset's masks: counts, shares, and images holding the class."""

    table: pd.DataFrame  # columns value, code, pixels, share, images (one row per code)
    n_masks: int
    unknown: int  # pixels whose value codes.txt does not name


def pixel_shares(items: SegItems, progress=None) -> PixelShares:
    """The share of pixels per class over every mask (at their stored sizes), in code order.

    progress(fraction, text), when given, is called as the masks are read.
    """
    n = len(items.codes)
    pixels = np.zeros(256, dtype=np.int64)
    images = np.zeros(256, dtype=np.int64)
    for k, rel in enumerate(items.masks):
        counts = np.bincount(read_mask(items.root / rel).ravel(), minlength=256)
        pixels += counts
        images += counts > 0
        if progress is not None and k % 50 == 0:
            progress(k / len(items.masks), f"reading masks: {k:,} of {len(items.masks):,}")
    total = max(1, int(pixels.sum()))
    table = pd.DataFrame(
        {
            "value": range(n),
            "code": items.codes,
            "pixels": pixels[:n],
            "share": pixels[:n] / total,
            "images": images[:n],
        }
    )
    return PixelShares(table, len(items.masks), int(pixels[n:].sum()))


def busiest_window(mask: np.ndarray, k: int = 12) -> tuple[int, int]:
    """(top, left) of a k×k window of mask holding the most different values (then the most
    non-background pixels): the part of a mask worth printing as numbers. Top-left on ties."""
    h, w = mask.shape
    k_h, k_w = min(k, h), min(k, w)
    step = max(1, min(k_h, k_w) // 2)
    best, best_key = (0, 0), (-1, -1)
    for top in sorted({*range(0, h - k_h + 1, step), h - k_h}):
        for left in sorted({*range(0, w - k_w + 1, step), w - k_w}):
            window = mask[top : top + k_h, left : left + k_w]
            key = (len(np.unique(window)), int((window > 0).sum()))
            if key > best_key:
                best, best_key = (top, left), key
    return best


def window_table(mask: np.ndarray, top: int, left: int, k: int = 12) -> pd.DataFrame:
    """The k×k window of mask at (top, left) as a table of its integers, rows and columns named
    by their pixel coordinates (y down, x across)."""
    window = mask[top : top + k, left : left + k]
    return pd.DataFrame(
        window.astype(int),
        index=[str(top + i) for i in range(window.shape[0])],
        columns=[str(left + j) for j in range(window.shape[1])],
    )


def image_and_mask(items: SegItems, file: str, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """An image (H×W×3 uint8) and its mask (H×W uint8) as stored, or at size×size as training
    sees them: centre-cropped to a square and resized, the image smoothly, the mask by the
    nearest pixel (so its values stay class indices)."""
    from PIL import Image

    from core.data.images import upright
    from core.data.loaders import decode_image
    from core.data.seg_loaders import resize_mask

    mask = mask_of(items, file)
    if size is None:
        with Image.open(items.root / file) as img:
            return np.asarray(upright(img).convert("RGB")), mask
    return decode_image(items.root / file, size), resize_mask(mask, size)


def augmented_pairs(
    items: SegItems, files: list[str], size: int, spec, n_draws: int, seed: int = 0
) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """For each file, (image, mask) at size, then n_draws random augmentations of both together:
    one sampling grid moves image and mask alike (core.data.augment.augment_pair)."""
    import torch

    from core.data.augment import augment_pair
    from core.data.pipeline import picture

    gen = torch.Generator().manual_seed(seed)
    rows = []
    for file in files:
        image, mask = image_and_mask(items, file, size)
        x = torch.from_numpy(image.transpose(2, 0, 1).copy()).float().div_(255)
        m = torch.from_numpy(mask.astype(np.int64))
        xs, ms = augment_pair(x.repeat(n_draws, 1, 1, 1), m.repeat(n_draws, 1, 1), spec, gen)
        drawn = [(picture(xs[k].clamp(0, 1)), ms[k].numpy().astype(np.uint8)) for k in range(n_draws)]
        rows.append([(image, mask), *drawn])
    return rows
