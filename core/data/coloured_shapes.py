"""coloured_shapes: coloured circles, squares and triangles drawn from a seed, one image each.

The built-in `coloured_shapes` (core.data.datasets.BUILTINS) and any set drawn on the Data page
come from generate_shapes; it writes class folders (train/ and valid/) like any image dataset.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np

from core import workspace
from core.data.datasets import (
    DIGITS_VALID_PCT,
    META_FILE,
    SHAPES_SIZE,
    SYNTHETIC,
    _publish,
    _stratified_valid,
    drawn_folder,
)
from core.errors import UserError

SHAPES = ("circle", "square", "triangle")


def generate_shapes(name: str, seed: int, per_class: int, size: int = SHAPES_SIZE) -> Path:
    """Draw a dataset of coloured circles, squares and triangles from a seed (once).

    Each image has a random background colour and a shape of another colour, size, position
    and rotation; 20% of each class (stratified, same seed) goes to valid/.
    """
    from PIL import Image, ImageDraw

    if not 1 <= per_class <= 2000 and not (workspace.subdir("datasets") / name / META_FILE).exists():
        raise UserError("Draw between 1 and 2000 images per shape.")
    target, tmp = drawn_folder(name)
    if tmp is None:
        return target
    rng = random.Random(seed)
    labels = np.repeat(np.arange(len(SHAPES)), per_class)
    valid = _stratified_valid(labels, DIGITS_VALID_PCT, seed)
    scale = 4  # drawn large, then shrunk: smooth edges
    big = size * scale
    try:
        for i, lab in enumerate(labels):
            background, colour = two_colours(rng)
            img = Image.new("RGB", (big, big), background)
            radius = rng.uniform(0.22, 0.4) * big
            margin = radius * 1.05
            cx, cy = rng.uniform(margin, big - margin), rng.uniform(margin, big - margin)
            draw = ImageDraw.Draw(img)
            shape = SHAPES[lab]
            if shape == "circle":
                draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
            else:
                sides = 4 if shape == "square" else 3
                draw.regular_polygon((cx, cy, radius), sides, rotation=rng.uniform(0, 360), fill=colour)
            folder = tmp / ("valid" if valid[i] else "train") / shape
            folder.mkdir(parents=True, exist_ok=True)
            img.resize((size, size), Image.Resampling.LANCZOS).save(folder / f"{i:05d}.png")
        meta = {
            "title": "Coloured shapes" if name in SYNTHETIC else f"Coloured shapes, seed {seed}",
            "description": f"{len(labels):,} coloured circles, squares and triangles of "
            f"{size}×{size} pixels, drawn from seed {seed}.",
            "source": f"generated from seed {seed}",
            "split": f"stratified, {int(DIGITS_VALID_PCT * 100)}% validation, seed {seed}",
            "n_train": int((~valid).sum()),
            "n_valid": int(valid.sum()),
            "default_size": size,
            "seed": seed,
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
        return _publish(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def two_colours(rng: random.Random) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """A background and a shape colour far enough apart in brightness to tell apart."""
    while True:
        a = tuple(rng.randrange(256) for _ in range(3))
        b = tuple(rng.randrange(256) for _ in range(3))
        if abs(luma(a) - luma(b)) > 60:
            return a, b


def luma(rgb: tuple[int, int, int]) -> float:
    """Perceived brightness of an RGB colour (ITU-R BT.601 weights)."""
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
