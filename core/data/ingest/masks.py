"""Masks handed in for segmentation: read as class indices, checked, converted only when lossless.

A mask is a PNG of class indices, 8-bit single-channel ("L", kept as it is). Also taken, and
written as an 8-bit "L" PNG of the same indices: a palette-mode ("P") mask, whose pixel values
are read as the indices and not as the palette's colours (written as "L" so that every reader
sees those indices: fastai's PILMask would convert "P" to grey through the palette); a
black-and-white ("1") mask; a 16-bit mask whose every value is a class index
(one with a value past the codes is refused, never scaled); an RGB mask whose three channels are
equal (a grey picture of indices). Colour masks come with palette.csv (header `r,g,b,class`,
one line per colour; a class's index is its place among the classes in order of first
appearance, so two colours may share a class); each pixel's colour becomes its class index.
JPEG masks are refused: their compression blurs the edges into values that are no class.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from core.data import images, layouts
from core.data.labels import check_label
from core.errors import UserError

PALETTE = "palette.csv"
PALETTE_HEADER = ("r", "g", "b", "class")
NOTHING = "Nothing was added."


def read_palette(data: bytes, shown: str = PALETTE) -> tuple[list[str], dict[int, int]]:
    """(codes, colour → class index) from palette.csv's bytes; UserError naming the line."""
    try:
        text = data.decode("utf-8-sig")
        rows = [(i + 1, r) for i, r in enumerate(csv.reader(io.StringIO(text))) if any(c.strip() for c in r)]
    except (UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"{shown} is not a readable UTF-8 CSV ({e}). {NOTHING}") from e
    if not rows or tuple(c.strip().lower() for c in rows[0][1]) != PALETTE_HEADER:
        raise UserError(
            f"{shown} must start with the header r,g,b,class and give one colour per line "
            f"(e.g. 0,0,0,background). {NOTHING}"
        )
    codes: list[str] = []
    colours: dict[int, int] = {}
    for line, row in rows[1:]:
        where = f"{shown}, line {line}"
        if len(row) != 4:
            raise UserError(f"{where}: expected r,g,b,class, found {','.join(row)[:60]!r}. {NOTHING}")
        try:
            rgb = [int(v.strip()) for v in row[:3]]
        except ValueError:
            rgb = [-1]
        if not all(0 <= v <= 255 for v in rgb):
            raise UserError(f"{where}: r, g and b must be whole numbers from 0 to 255. {NOTHING}")
        name = row[3].strip()
        check_label(name, f"{where}: the class")
        key = rgb[0] << 16 | rgb[1] << 8 | rgb[2]
        if key in colours:
            raise UserError(f"{where}: the colour {tuple(rgb)} is listed twice. {NOTHING}")
        if name not in codes:
            codes.append(name)
        colours[key] = codes.index(name)
    if len(codes) < 2:
        raise UserError(f"{shown} must name at least two classes (e.g. background and one thing). {NOTHING}")
    if len(codes) > layouts.MAX_CODES:
        raise UserError(
            f"{shown} names {len(codes)} classes; a mask holds at most {layouts.MAX_CODES}. {NOTHING}"
        )
    return codes, colours


def read_mask(
    path: Path,
    shown: str,
    n_codes: int,
    colours: dict[int, int] | None,
    max_pixels: int,
    max_bytes: int,
) -> tuple[np.ndarray, bool]:
    """(H×W uint8 class indices, whether the file may be kept as it is) of one mask.

    Raises images.BadImage for a file that does not decode (skipped and reported like a bad
    image), and UserError for a mask that decodes but cannot be read as classes (refused).
    """
    from PIL import Image

    facts = images.inspect(path, max_pixels, max_bytes)
    if facts.format != "PNG":
        kind = "a JPEG" if facts.format == "JPEG" else f"a {facts.format} image"
        raise UserError(
            f"{shown} is {kind}; masks must be PNG files (lossless: JPEG's compression blurs class "
            f"edges into values that are no class). {NOTHING}"
        )
    with Image.open(path) as img:
        img.load()
        if colours is not None:
            return _from_colours(img, shown, colours), False
        indices, keep = _indices(img, shown, n_codes)
    top = int(indices.max(initial=0))
    if top >= n_codes:
        count = int((indices >= n_codes).sum())
        hint = " (255 often marks pixels to ignore; give them a class of codes.txt)" if top == 255 else ""
        raise UserError(
            f"{shown} has {count:,} pixel(s) with values past the codes (up to {top}), but codes.txt names "
            f"{n_codes} classes, so a mask's values run from 0 to {n_codes - 1}{hint}. {NOTHING}"
        )
    return indices, keep


def _indices(img, shown: str, n_codes: int) -> tuple[np.ndarray, bool]:
    """A mask's pixels as class indices, and whether its file is already an 8-bit index mask."""
    mode = img.mode
    if mode == "L":
        return np.asarray(img, dtype=np.uint8), True
    if mode in ("P", "1"):
        return np.asarray(img, dtype=np.uint8), False
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(img)  # uint16 or int32 as stored: no wider copy of a large mask
        top = int(arr.max(initial=0))
        if arr.min(initial=0) < 0 or top >= n_codes:
            raise UserError(
                f"{shown} is a 16-bit mask holding the value {top}; codes.txt names {n_codes} classes "
                f"(values 0 to {n_codes - 1}), so it cannot be read as classes. Save it as an 8-bit "
                f"PNG of class indices. {NOTHING}"
            )
        return arr.astype(np.uint8), False  # every value fits: converted, nothing changes
    if mode in ("RGB", "RGBA"):
        out = np.empty((img.height, img.width), dtype=np.uint8)
        for top, rgb in _strips(img):
            if not ((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()):
                raise UserError(
                    f"{shown} is a colour ({mode}) image; a mask holds a class index per pixel, as an "
                    f"8-bit single-channel PNG. For colour masks add {PALETTE} (r,g,b,class per line) "
                    f"instead of codes.txt. {NOTHING}"
                )
            out[top : top + len(rgb)] = rgb[..., 0]
        return out, False
    raise UserError(
        f"{shown} is a {mode} image; masks are 8-bit single-channel PNGs of class indices. {NOTHING}"
    )


def _strips(img, rows: int = images.STRIP_ROWS):
    """(first row, H×W×3 uint8 RGB array) for each strip of rows: a whole mask is never converted
    at once (a small PNG may decode to tens of megapixels)."""
    for top in range(0, img.height, rows):
        yield top, np.asarray(img.crop((0, top, img.width, min(img.height, top + rows))).convert("RGB"))


def _keys(rgb: np.ndarray) -> np.ndarray:
    wide = rgb.astype(np.uint32)
    return wide[..., 0] << 16 | wide[..., 1] << 8 | wide[..., 2]


def _from_colours(img, shown: str, colours: dict[int, int]) -> np.ndarray:
    """Each pixel's colour as the class index palette.csv gives it; an unlisted colour refuses."""
    out = np.empty((img.height, img.width), dtype=np.uint8)
    for top, rgb in _strips(img):
        keys = _keys(rgb)
        found, inverse = np.unique(keys, return_inverse=True)
        table = np.zeros(len(found), dtype=np.uint8)
        for i, key in enumerate(found.tolist()):
            if key not in colours:
                count = sum(int((_keys(part) == key).sum()) for _, part in _strips(img))
                colour = (key >> 16, key >> 8 & 255, key & 255)
                raise UserError(
                    f"{shown} holds the colour {colour} on {count:,} pixel(s), which {PALETTE} "
                    f"does not list; every colour of a mask must be one of its classes. {NOTHING}"
                )
            table[i] = colours[key]
        out[top : top + len(rgb)] = table[inverse.reshape(keys.shape)]
    return out


def present(indices: np.ndarray, n_codes: int) -> np.ndarray:
    """Whether each of the n_codes classes appears in a mask of indices (a 256-bin histogram:
    no copy of the mask, which may hold tens of millions of pixels)."""
    from PIL import Image

    counts = Image.fromarray(np.ascontiguousarray(indices, dtype=np.uint8), mode="L").histogram()
    return np.asarray(counts[:n_codes]) > 0


def save_mask(indices: np.ndarray, path: Path) -> None:
    """Write class indices as an 8-bit single-channel PNG."""
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(indices, dtype=np.uint8), mode="L").save(path, "PNG")
