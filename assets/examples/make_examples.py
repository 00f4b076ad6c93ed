"""Write the Predict page's example images (run once; the PNGs are committed beside this file).

    .venv/bin/python assets/examples/make_examples.py

A few validation digits (8×8 grey, from scikit-learn's digits) and one coloured shape of each
kind (32×32, drawn by core.data.coloured_shapes.generate_shapes), made in a scratch workspace.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

DIGITS = ("0", "3", "7", "8")
SEED = 7  # a seed other than the built-in shapes' (0), so the examples are new to its models


def main() -> None:
    """Write digit_<d>.png and shape_<kind>.png into this folder."""
    scratch = Path(tempfile.mkdtemp(prefix="examples-"))
    os.environ["PLAYGROUND_WORKSPACE"] = str(scratch)
    try:
        from core.data import coloured_shapes, datasets

        digits = datasets.ensure_digits()
        for d in DIGITS:
            first = sorted((digits / "valid" / d).glob("*.png"))[0]
            shutil.copyfile(first, HERE / f"digit_{d}.png")
        shapes = coloured_shapes.generate_shapes("shape_examples", SEED, per_class=5)
        for kind in coloured_shapes.SHAPES:
            first = sorted((shapes / "valid" / kind).glob("*.png"))[0]
            shutil.copyfile(first, HERE / f"shape_{kind}.png")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
