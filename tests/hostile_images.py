"""Broken and hostile image files (cases arc_img_* and arc_predict_*), each given both to an
archive import (the bad file is skipped and reported, the good ones kept) and to the Predict
page's upload (refused with a sentence, or read as documented).
"""

from __future__ import annotations

import io

from tests import hostile_builders as b
from tests.hostile import Case
from tests.inputs import jpeg, pixel_bomb_png, png, truncated_png, zip_bytes


def _corrupt_jpeg() -> bytes:
    data = bytearray(b.image_bytes("JPEG", size=(64, 64), quality=90))
    data[200:260] = b"\xff\xd9" * 30  # end-of-image markers in the middle of the scan
    return bytes(data)


def _jpeg_huge_header() -> bytes:
    data = bytearray(jpeg())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (60000).to_bytes(2, "big") + (60000).to_bytes(2, "big")
    return bytes(data)


def _png_bad_ihdr_crc() -> bytes:
    return b.png_of(
        4, 4, 2, 8, b"\0" + b"\x80" * 12 * 1 + b"".join(b"\0" + b"\x80" * 12 for _ in range(3)), ihdr_crc=1
    )


def _png_zero_width() -> bytes:
    return b.png_of(0, 4, 0, 8, b"\0" * 4)


def _bmp_huge_header() -> bytes:
    data = bytearray(b.image_bytes("BMP", size=(4, 4)))
    data[18:26] = (50000).to_bytes(4, "little") + (50000).to_bytes(4, "little")
    return bytes(data)


def _tiff_huge_header() -> bytes:
    import struct

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (4, 4)).save(buf, "TIFF")
    data = bytearray(buf.getvalue())
    (ifd,) = struct.unpack("<I", data[4:8])
    (n,) = struct.unpack("<H", data[ifd : ifd + 2])
    for k in range(n):
        at = ifd + 2 + 12 * k
        tag, kind = struct.unpack("<HH", data[at : at + 4])
        if tag in (256, 257):  # ImageWidth, ImageLength: made LONG 70,000
            data[at + 2 : at + 12] = struct.pack("<HII", 4, 1, 70_000)
    return bytes(data)


# name, bytes, what the import says of it (None: kept as an image), Predict's regex (None: read)
IMAGES = [
    ("truncated_png", truncated_png, r"corrupt or truncated", r"damaged|could not be read"),
    ("pixel_bomb_png", pixel_bomb_png, r"decompression bomb", r"too large in pixels"),
    (
        "zero_bomb_rgba_9000",
        lambda: b.png_zero_bomb(9000),
        r"MB once decoded, more than the 192.0 MB",
        r"too large in pixels",
    ),
    (
        "zero_bomb_rgba_6000",
        lambda: b.png_zero_bomb(6000),
        None,
        r"6,000×5,952 pixels in RGBA, 136.2 MB once decoded, more than the 128.0 MB one image may take",
    ),
    ("zero_bomb_rgba_5600", lambda: b.png_zero_bomb(5600), None, None),
    ("zero_bomb_grey_9000", lambda: b.png_zero_bomb(9000, 0), None, r"too large in pixels"),
    ("zero_bomb_rgb_5600", lambda: b.png_zero_bomb(5600, 2), None, None),
    ("corrupt_jpeg", _corrupt_jpeg, r"corrupt", r"damaged"),
    (
        "truncated_jpeg",
        lambda: b.image_bytes("JPEG", size=(64, 64))[:300],
        r"corrupt or truncated",
        r"damaged|could not be read",
    ),
    ("jpeg_huge_header", _jpeg_huge_header, r"decompression bomb|pixels", r"too large in pixels"),
    ("zero_bytes", lambda: b"", r"empty \(0 bytes\)", r"is empty \(0 bytes\)"),
    ("gif_5000_frames", lambda: b.many_frame_gif(5000), None, None),
    ("tiff_16bit", lambda: b.image_bytes("TIFF", "I;16", (8, 8)), None, r"TIFF image, which is not accepted"),
    ("tiff_huge_header", _tiff_huge_header, r"decompression bomb|pixels|corrupt", r"TIFF image"),
    (
        "text_named_png",
        lambda: b"my shopping list\neggs\n",
        r"its content is text",
        r"not an image: its content is text",
    ),
    ("html_named_png", lambda: b"<!DOCTYPE html><html></html>", r"web page", r"web page"),
    ("png_bad_ihdr_crc", _png_bad_ihdr_crc, r"corrupt|not a", r"could not be read|damaged|not an image"),
    (
        "png_zero_width",
        _png_zero_width,
        r"corrupt|not a|pixels",
        r"could not be read|no pixels|not an image|damaged",
    ),
    ("apng", b.apng, None, None),
    ("png_text_chunk_bomb", b.text_chunk_bomb, r"corrupt", r"could not be read|damaged"),
    (
        "bmp_huge_header",
        _bmp_huge_header,
        r"decompression bomb|pixels|corrupt",
        r"too large in pixels|could not be read|damaged",
    ),
    ("png_16bit", lambda: b.image_bytes("PNG", "I;16", (8, 8)), None, None),
    ("cmyk_jpeg", lambda: b.image_bytes("JPEG", "CMYK", (8, 8)), None, None),
    ("zip_named_png", lambda: zip_bytes({"a.txt": b"x"}), r"zip archive", r"zip archive"),
]


def _imported(image: bytes, reason: str | None):
    """Act: import the good images plus cats/odd.png; odd.png is skipped with reason (or kept)."""

    def act(_arg):
        import re

        from core.data import ingest

        data = zip_bytes({**b.GOOD, "cats/odd.png": image})
        report = ingest.add_archive(io.BytesIO(data), "upload", shown_as="odd.zip")
        if reason is None:
            assert report.classes == {"cats": 6, "dogs": 5}, (report.classes, report.skipped)
        else:
            assert report.classes == {"cats": 5, "dogs": 5}, report.classes
            hits = [p for p in report.skipped if p.file == "cats/odd.png"]
            assert hits and re.search(reason, hits[0].reason), report.skipped

    return act


def _predict(data: bytes):
    from core.serving import predict

    predict.prepare(data, "odd.png", 64, 3, square_side=256)


def image_cases() -> list[Case]:
    """Each image both imported (arc_img_*) and uploaded to Predict (arc_predict_*)."""
    out = []
    for name, make, reason, refusal in IMAGES:
        out.append(
            Case(
                f"arc_img_{name}",
                lambda _t, m=make: m(),
                _imported_from_arg(reason),
                expect="accepted",
                kind="image",
            )
        )
        out.append(
            Case(
                f"arc_predict_{name}",
                lambda _t, m=make: m(),
                _predict,
                expect="accepted" if refusal is None else "refused",
                match=refusal,
                kind="image",
            )
        )
    out.append(
        Case(
            "arc_predict_over_size",
            lambda _t: b"\x89PNG" + b"\0" * (21 * b.MB),
            _predict,
            match=r"images up to 20 MB",
            kind="image",
        )
    )
    out.append(
        Case(
            "arc_predict_formula_name",
            lambda _t: png(),
            lambda d: _predict_named(d, "=cmd|'/c calc'!A1.png"),
            expect="accepted",
            kind="names",
        )
    )
    return out + seg_cases()


def _predict_named(data: bytes, name: str):
    from core.serving import predict

    assert predict.prepare(data, name, 32, 3).name == name


def _imported_from_arg(reason: str | None):
    """Act on the image bytes made by the case."""

    def act(image: bytes):
        return _imported(image, reason)(None)

    return act


__all__ = ["image_cases"]


def _seg_set(side: int, colour_type: int, palette: bool) -> bytes:
    """A segmentation zip of two huge zero images and their masks (colour masks with palette.csv,
    or index masks with codes.txt), each a small file that decodes to tens of megapixels."""
    big = b.png_zero_bomb(side, colour_type)
    small = png(size=8)
    mask = b.png_of(8, 8, 0, 8, b"".join(b"\0" + b"\0\1" * 4 for _ in range(8)))
    entries = {"images/a.png": big, "masks/a.png": big, "images/b.png": small, "masks/b.png": mask}
    if palette:
        entries["palette.csv"] = b"r,g,b,class\n0,0,0,background\n255,255,255,thing\n"
        entries["masks/b.png"] = b.image_bytes("PNG", "RGB", (8, 8))
    else:
        entries["codes.txt"] = b"background\nthing\n"
    return zip_bytes(entries)


def seg_cases() -> list[Case]:
    """Segmentation imports whose masks are huge once decoded: read in bounded memory."""

    def act(data: bytes):
        from core.data import ingest

        report = ingest.add_archive(io.BytesIO(data), "seg", shown_as="seg.zip", task="segmentation")
        assert report.n_images == 2, report.skipped

    return [
        Case(
            "arc_seg_huge_colour_masks",
            lambda _t: _seg_set(5600, 2, True),
            act,
            expect="accepted",
            kind="image",
        ),
        Case(
            "arc_seg_huge_grey_rgb_masks",
            lambda _t: _seg_set(5600, 2, False),
            act,
            expect="accepted",
            kind="image",
        ),
        Case(
            "arc_seg_huge_index_masks",
            lambda _t: _seg_set(9000, 0, False),
            act,
            expect="accepted",
            kind="image",
        ),
    ]
