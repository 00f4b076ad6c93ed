"""shapes_seg: scenes of overlapping shapes on textured backgrounds, with a mask per image.

Each scene has a noisy, striped background and one to three shapes (circle, square, triangle) in
random colours, sizes and rotations, drawn in order so later ones cover earlier ones; the mask
gives each pixel the code of what is on top (0 background, 1 circle, 2 square, 3 triangle).
Written once into the workspace as images/, masks/ (8-bit PNG of codes), codes.txt and a
seeded valid.txt (core.data.layouts).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from core.data.datasets import META_FILE, _publish, _removed_on_failure, drawn_folder
from core.data.layouts import CODES, IMAGES, MASKS, VALID_LIST
from core.data.shapes_multi import _two_colours_against, draw_shape

CODES_LIST = ("background", "circle", "square", "triangle")
SEED = 0
# Tuned with the task's defaults (core/tasks/segmentation.py; bench: python -m bench.tasks):
# mean IoU about 0.25 after the first epoch and about 0.88 after 16 (tiny_unet, 48 px, 2 cores).
N_IMAGES = 800
SIZE = 48
VALID_PCT = 0.2
SHAPES = (1, 3)  # shapes per scene, at least and at most
RADIUS = (0.15, 0.3)  # a shape's radius as a share of the side


def _background(rng: random.Random, size: int) -> tuple[np.ndarray, tuple[int, int, int]]:
    """A textured background: a base colour with stripes and noise (so edges are not free)."""
    base = np.array([rng.randrange(256) for _ in range(3)], dtype=np.float32)
    yy, xx = np.mgrid[0:size, 0:size]
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(6, 20) * size / 48
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    nprng = np.random.default_rng(rng.randrange(2**32))
    img = base + stripes[..., None] * rng.uniform(10, 40) + nprng.normal(0, 12, (size, size, 3))
    return img.clip(0, 255).astype(np.uint8), tuple(int(v) for v in base)


def generate_shapes_seg(
    name: str = "shapes_seg", seed: int = SEED, n: int = N_IMAGES, size: int = SIZE
) -> Path:
    """Draw the dataset once into workspace/datasets/<name>; returns its folder."""
    from PIL import Image, ImageDraw

    target, tmp = drawn_folder(name)
    if tmp is None:
        return target
    rng = random.Random(seed)
    scale = 4
    big = size * scale
    with _removed_on_failure(tmp):
        (tmp / IMAGES).mkdir()
        (tmp / MASKS).mkdir()
        valid_names = []
        for i in range(n):
            bg, base = _background(rng, big)
            img = Image.fromarray(bg, "RGB")
            mask = Image.new("L", (big, big), 0)
            draw, mdraw = ImageDraw.Draw(img), ImageDraw.Draw(mask)
            for _ in range(rng.randint(*SHAPES)):
                code = rng.randrange(1, len(CODES_LIST))
                _, colour = _two_colours_against(rng, base)
                r = rng.uniform(*RADIUS) * big
                cx, cy = rng.uniform(r / 2, big - r / 2), rng.uniform(r / 2, big - r / 2)
                angle = rng.uniform(0, 360)
                draw_shape(draw, CODES_LIST[code], cx, cy, r, angle, colour)
                draw_shape(mdraw, CODES_LIST[code], cx, cy, r, angle, code)
            stem = f"{i:05d}"
            img.resize((size, size), Image.Resampling.LANCZOS).save(tmp / IMAGES / f"{stem}.png")
            mask.resize((size, size), Image.Resampling.NEAREST).save(tmp / MASKS / f"{stem}.png")
            if rng.random() < VALID_PCT:
                valid_names.append(f"{stem}.png")
        (tmp / CODES).write_text("\n".join(CODES_LIST) + "\n")
        (tmp / VALID_LIST).write_text("\n".join(valid_names) + "\n")
        meta = {
            "title": "Shapes, a class per pixel",
            "description": f"{n:,} scenes of {size}×{size} pixels with overlapping circles, squares "
            f"and triangles on textured backgrounds, drawn from seed {seed}, and a mask per scene.",
            "source": f"generated from seed {seed}",
            "split": f"random {int(VALID_PCT * 100)}% validation, seed {seed} (valid.txt)",
            "n_train": n - len(valid_names),
            "n_valid": len(valid_names),
            "default_size": size,
            "seed": seed,
            "task": "segmentation",
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
    return _publish(tmp, target)


def info():
    """The built-in shapes_seg (drawn into the workspace on first use) as the registry describes it."""
    from core.data.datasets import BUILTINS, DatasetInfo

    return DatasetInfo(
        "shapes_seg",
        generate_shapes_seg("shapes_seg"),
        "Shapes, a class per pixel",
        BUILTINS["shapes_seg"],
        SIZE,
        "segmentation",
    )
