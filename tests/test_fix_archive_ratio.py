"""A legal archive that compresses very well is not taken for a bomb: uncompressed TIFF photos of a
dark field and masks saved without compression shrink hundreds of times in a zip, and a set that
inflates to tens of MB must be added, whatever its ratio (core.data.ingest.archives.RATIO_FLOOR)."""

from __future__ import annotations

import io
import time

import numpy as np
from PIL import Image

from core import workspace
from core.data import ingest
from tests.inputs import zip_bytes

SIDE = 1024  # an RGB TIFF of 3 MB and a mask of 1 MB, each a few KB once zipped
PAIRS = 10  # 40 MB inflated in all


def _tiff(i: int) -> bytes:
    a = np.zeros((SIDE, SIDE, 3), dtype=np.uint8)  # a dark field with one bright cell
    a[100 + i : 160 + i, 200:260] = 220
    buf = io.BytesIO()
    Image.fromarray(a, "RGB").save(buf, "TIFF")  # no compression: Pillow's default for TIFF
    return buf.getvalue()


def _mask(i: int) -> bytes:
    m = np.zeros((SIDE, SIDE), dtype=np.uint8)
    m[100 + i : 160 + i, 200:260] = 1
    buf = io.BytesIO()
    Image.fromarray(m, "L").save(buf, "PNG", compress_level=0)  # stored, as some tools write them
    return buf.getvalue()


def _seg_zip() -> tuple[bytes, int]:
    entries = {"codes.txt": b"background\ncell\n"}
    for i in range(PAIRS):
        entries[f"images/s{i}.tif"] = _tiff(i)
        entries[f"masks/s{i}.png"] = _mask(i)
    return zip_bytes(entries), sum(len(v) for v in entries.values())


def test_a_segmentation_zip_inflating_hundreds_of_times_to_40_mb_is_added(fresh_workspace):
    workspace.subdir("datasets")
    data, inflated = _seg_zip()
    assert inflated > 40 * 2**20 and inflated > 200 * len(data)  # what the old rule took for a bomb
    t0 = time.process_time()
    report = ingest.add_archive(io.BytesIO(data), "cells", shown_as="cells.zip", task="segmentation")
    assert time.process_time() - t0 < 5
    assert not report.skipped, report.skipped
    assert (report.task, report.images) == ("segmentation", PAIRS)
    kept = fresh_workspace / "datasets" / "cells"
    assert len(list((kept / "images").glob("*.tif"))) == len(list((kept / "masks").glob("*.png"))) == PAIRS
