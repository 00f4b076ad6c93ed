"""shapes_multi: images holding none to three shapes of four kinds, drawn from a seed (multi-label).

Each image has a random background and up to three shapes (circle, square, triangle, star) of
random colours (each clearly brighter or darker than the background), sizes, positions and
rotations; shapes do not cover one another, so every kind present can be seen. Its labels are
the set of kinds present (two shapes may be of one kind), and about one image in twelve holds
none. Written once into the workspace as
images/ and a labels.csv (core.data.layouts), with a seeded is_valid column.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from core.data.coloured_shapes import luma, two_colours
from core.data.datasets import META_FILE, _publish, _removed_on_failure, drawn_folder
from core.data.layouts import IMAGES, MULTI_CSV, write_labels_csv

KINDS = ("circle", "square", "triangle", "star")
SEED = 0
N_IMAGES = 2000
SIZE = 40
VALID_PCT = 0.2
EMPTY_SHARE = 0.08  # images with no shape at all: "none of these" must be learnable
MAX_SHAPES = 3
RADIUS = (0.18, 0.3)  # a shape's radius, as a share of the image side
CONTRAST = 80  # the least brightness difference between a shape and the background


def draw_shape(draw, kind: str, cx: float, cy: float, r: float, angle: float, colour) -> None:
    """Draw one filled shape of a kind centred at (cx, cy) with radius r, rotated by angle degrees."""
    if kind == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif kind == "star":
        points = []
        for i in range(10):
            rad = r if i % 2 == 0 else r * 0.45
            a = math.radians(angle + i * 36)
            points.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
        draw.polygon(points, fill=colour)
    else:
        sides = 4 if kind == "square" else 3
        draw.regular_polygon((cx, cy, r), sides, rotation=angle, fill=colour)


def generate_shapes_multi(
    name: str = "shapes_multi", seed: int = SEED, n: int = N_IMAGES, size: int = SIZE
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
        files, labels, valid = [], [], []
        for i in range(n):
            background, _ = two_colours(rng)
            img = Image.new("RGB", (big, big), background)
            draw = ImageDraw.Draw(img)
            count = 0 if rng.random() < EMPTY_SHARE else rng.randint(1, MAX_SHAPES)
            kinds = set()
            placed: list[tuple[float, float, float]] = []
            for _ in range(count):
                kind = rng.choice(KINDS)
                _, colour = _two_colours_against(rng, background)
                spot = _free_spot(rng, placed, big)
                if spot is None:
                    continue
                cx, cy, r = spot
                draw_shape(draw, kind, cx, cy, r, rng.uniform(0, 360), colour)
                placed.append(spot)
                kinds.add(kind)
            rel = f"{IMAGES}/{i:05d}.png"
            img.resize((size, size), Image.Resampling.LANCZOS).save(tmp / rel)
            files.append(rel)
            labels.append(tuple(sorted(kinds)))
            valid.append(rng.random() < VALID_PCT)
        write_labels_csv(tmp / MULTI_CSV, files, labels, valid)
        meta = {
            "title": "Shapes, several per image",
            "description": f"{n:,} images of {size}×{size} pixels holding none to three of "
            f"{', '.join(KINDS)}, drawn from seed {seed}; the labels are the kinds present.",
            "source": f"generated from seed {seed}",
            "split": f"random {int(VALID_PCT * 100)}% validation, seed {seed} (labels.csv is_valid)",
            "n_train": valid.count(False),
            "n_valid": valid.count(True),
            "default_size": size,
            "seed": seed,
            "task": "multi_label",
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
    return _publish(tmp, target)


def _two_colours_against(rng: random.Random, background) -> tuple:
    """A shape colour far enough in brightness from the background to be seen."""

    while True:
        colour = tuple(rng.randrange(256) for _ in range(3))
        if abs(luma(colour) - luma(background)) > CONTRAST:
            return background, colour


def _free_spot(rng: random.Random, placed: list, big: float) -> tuple[float, float, float] | None:
    """A centre and radius for a new shape that does not cover the ones placed (None when full)."""
    for _ in range(60):
        r = rng.uniform(*RADIUS) * big
        cx, cy = rng.uniform(r, big - r), rng.uniform(r, big - r)
        if all(math.hypot(cx - x, cy - y) > r + q for x, y, q in placed):
            return cx, cy, r
    return None


def info():
    """The built-in shapes_multi (drawn into the workspace on first use) as the registry describes it."""
    from core.data.datasets import BUILTINS, DatasetInfo

    return DatasetInfo(
        "shapes_multi",
        generate_shapes_multi("shapes_multi"),
        "Shapes, several per image",
        BUILTINS["shapes_multi"],
        SIZE,
        "multi_label",
    )
