"""Recognising images by their content, checking that they decode, and moving bad ones to the trash."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.fsutil import human_size

# Formats a dataset may hold, by Pillow's name for them, with the extension files get.
FORMATS = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "BMP": ".bmp", "WEBP": ".webp", "TIFF": ".tif"}
FORMAT_NAMES = "PNG, JPEG, GIF, BMP, WebP or TIFF"
PILLOW_MAX_PIXELS = 89_478_485  # Pillow's MAX_IMAGE_PIXELS: above it, it warns of a bomb
MAX_FILE_BYTES = 64 * 2**20
# Memory one decoded image may take in Pillow (about 48 megapixels of RGB or RGBA, which Pillow
# keeps at 4 bytes a pixel); a larger picture is refused before it is decoded, like a bomb.
MAX_DECODE_BYTES = 192 * 2**20
STRIP_ROWS = 256  # rows composited at a time when alpha is laid over white (bounded extra memory)


class BadImage(Exception):
    """A file that is not a usable image; the message says why, in words."""


@dataclass(frozen=True)
class ImageFacts:
    """What opening an image told us."""

    format: str  # Pillow's name: PNG, JPEG, …
    width: int
    height: int
    mode: str  # L, RGB, RGBA, P, …

    @property
    def extension(self) -> str:
        """The extension that matches the content."""
        return FORMATS[self.format]


@dataclass(frozen=True)
class Problem:
    """A file that cannot be used, and why."""

    file: str  # as a person knows it: a path inside the dataset, the archive or the folder
    reason: str


def describe_content(head: bytes) -> str:
    """What a file that is not an image seems to hold, from its first bytes."""
    if not head:
        return "it is empty"
    if head.startswith(b"PK\x03\x04"):
        return "it is a zip archive"
    if head.startswith(b"%PDF"):
        return "it is a PDF document"
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ")):
        return "it is a compressed archive"
    if head.lstrip().lower().startswith((b"<!doctype html", b"<html")):
        return "it is a web page (HTML)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "its content is not an image format we recognise"
    if all(c.isprintable() or c in "\r\n\t" for c in text):
        return "its content is text"
    return "its content is not an image format we recognise"


def decoded_bytes(mode: str, width: int, height: int) -> int:
    """Bytes Pillow takes to hold a width×height image of this mode once decoded."""
    per_pixel = 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4
    return width * height * per_pixel


def too_big_to_decode(mode: str, width: int, height: int, limit: int) -> str | None:
    """Why a width×height image of this mode may not be decoded (more than limit bytes), or None."""
    need = decoded_bytes(mode, width, height)
    if need <= limit:
        return None
    return (
        f"it is {width:,}×{height:,} pixels in {mode}, {human_size(need)} once decoded, more than the "
        f"{human_size(limit)} one image may take (a decompression bomb?)"
    )


def draft_within(img, limit: int) -> list[str]:
    """Have a JPEG that would take more than limit bytes decoded decode at half its scale (the
    DCT scales for free); the note to show when it did (none for other formats or smaller ones)."""
    width, height = img.size
    if img.format != "JPEG" or decoded_bytes(img.mode, width, height) <= limit:
        return []
    img.draft(None, ((width + 1) // 2, (height + 1) // 2))
    if img.size == (width, height):
        return []
    return [f"very large: decoded at {img.size[0]:,}×{img.size[1]:,} pixels"]


def _over_white(img) -> tuple[object, bool]:
    """(the image with alpha laid over opaque white as 8-bit RGB, whether any pixel was see-through),
    a strip of rows at a time: the pixels of one alpha_composite of the whole image, with a strip's
    worth of extra memory."""
    from PIL import Image

    width, height = img.size
    out = Image.new("RGB", img.size)
    see_through = False
    for top in range(0, height, STRIP_ROWS):
        box = (0, top, width, min(height, top + STRIP_ROWS))
        strip = img.crop(box).convert("RGBA")
        see_through = see_through or strip.getchannel("A").getextrema()[0] < 255
        white = Image.new("RGBA", strip.size, (255, 255, 255, 255))
        out.paste(Image.alpha_composite(white, strip).convert("RGB"), box)
    return out, see_through


def to_rgb(img) -> tuple[object, list[str]]:
    """Any Pillow image as 8-bit RGB: alpha over white, palettes expanded, 16-bit and CMYK converted."""
    from PIL import Image

    notes: list[str] = []
    mode = img.mode
    if mode in ("RGB",):
        return img, notes
    if mode in ("1", "L"):
        return img.convert("RGB"), notes
    if mode.startswith("I;16"):
        arr = np.asarray(img).astype(np.uint32)  # round(v / 257), in integers: no float copy
        notes.append("16-bit image scaled to 8 bits")
        grey = Image.fromarray(((arr + 128) // 257).astype(np.uint8), mode="L")
        return grey.convert("RGB"), notes
    if mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode == "I" and arr.max(initial=0) > 255:
            arr = arr / 257.0
            notes.append("16-bit image scaled to 8 bits")
        elif mode == "F" and arr.max(initial=0) <= 1.0:
            arr = arr * 255.0
        grey = Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8), mode="L")
        return grey.convert("RGB"), notes
    if mode == "CMYK":
        notes.append("CMYK converted to RGB")
        icc = img.info.get("icc_profile")
        if icc:
            try:
                from PIL import ImageCms

                src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                dst = ImageCms.createProfile("sRGB")
                return ImageCms.profileToProfile(img, src, dst, outputMode="RGB"), notes
            except Exception:  # noqa: BLE001 - a broken profile: fall back to the plain formula
                notes.append("its colour profile could not be used")
        return img.convert("RGB"), notes
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info)
    if mode == "P":
        notes.append("palette colours expanded")
    if has_alpha:
        rgb, see_through = _over_white(img)
        if see_through:
            notes.append("transparent areas shown on white")
        return rgb, notes
    return img.convert("RGB"), notes


def upright(img):
    """The image turned as its camera's orientation tag says (as it is when there is none)."""
    from PIL import ImageOps

    if orientation(img) == 1:
        return img  # nothing to turn: no copy of a large picture
    try:
        turned = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - odd EXIF: keep the image as stored
        return img
    return turned if turned is not None else img


# EXIF orientation → the Pillow transpose that turns the stored pixels upright (as exif_transpose).
_ORIENTATIONS = {
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_270",
    7: "TRANSVERSE",
    8: "ROTATE_90",
}


def orientation(img) -> int:
    """The image's EXIF orientation tag (1, as stored, when it has none or it cannot be read)."""
    try:
        return int(img.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - odd EXIF: as stored, as upright() then keeps it
        return 1


def turn_like(array, tag: int):
    """A 2-D array (e.g. a mask) turned as upright() turns an image whose orientation tag is tag."""
    import numpy as np
    from PIL import Image

    method = _ORIENTATIONS.get(tag)
    if method is None:
        return array
    return np.asarray(
        Image.fromarray(np.ascontiguousarray(array)).transpose(getattr(Image.Transpose, method))
    )


def square_resize(img, size: int):
    """Centre-crop a Pillow image to a square, then resize it (bilinear) to size×size."""
    from PIL import Image

    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    square = img.crop((left, top, left + side, top + side))
    return square.resize((size, size), Image.Resampling.BILINEAR)


def inspect(path: Path, max_pixels: int = PILLOW_MAX_PIXELS, max_bytes: int = MAX_FILE_BYTES) -> ImageFacts:
    """Open path as an image by its content (never its name) and decode it fully.

    Raises BadImage with the reason for an empty, oversized, unrecognised, corrupt or
    truncated file, and for one with more pixels than max_pixels (a decompression bomb).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise BadImage("it is empty (0 bytes)")
    if size > max_bytes:
        raise BadImage(f"it is {human_size(size)}, more than the {human_size(max_bytes)} limit for one image")
    try:
        with Image.open(path, formats=list(FORMATS)) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise BadImage(
                    f"it is {width:,}×{height:,} pixels, more than the limit of {max_pixels:,} "
                    "pixels (a decompression bomb?)"
                )
            if too_big := too_big_to_decode(img.mode, width, height, MAX_DECODE_BYTES):
                raise BadImage(too_big)
            img.load()
            return ImageFacts(img.format, width, height, img.mode)
    except Image.DecompressionBombError as e:
        raise BadImage(f"Pillow refused it as a decompression bomb ({e})") from e
    except UnidentifiedImageError as e:
        with open(path, "rb") as f:
            head = f.read(512)
        raise BadImage(f"it is not a {FORMAT_NAMES} image: {describe_content(head)}") from e
    except BadImage:
        raise
    except Exception as e:  # noqa: BLE001 - crafted files make Pillow plugins raise anything
        raise BadImage(f"it is corrupt or truncated ({type(e).__name__}: {e})") from e


def check_files(
    root: Path,
    files: list[str],
    progress: Callable[[float, str], None] | None = None,
    max_pixels: int = PILLOW_MAX_PIXELS,
) -> list[Problem]:
    """Decode every file (relative to root) fully; the ones that fail, with the reason."""
    problems = []
    for i, rel in enumerate(files):
        if progress and i % 50 == 0:
            progress(i / max(1, len(files)), f"checked {i:,} of {len(files):,} images")
        try:
            inspect(Path(root) / rel, max_pixels=max_pixels)
        except BadImage as e:
            problems.append(Problem(rel, str(e)))
        except OSError as e:
            problems.append(Problem(rel, f"it cannot be read ({e.strerror or e})"))
    if progress:
        progress(1.0, f"checked {len(files):,} images")
    return problems


def image_sizes(root: Path, files: list[str]) -> list[tuple[int, int]]:
    """(width, height) of each file, read from its header only; (0, 0) for unreadable ones."""
    from PIL import Image

    sizes = []
    for rel in files:
        try:
            with Image.open(Path(root) / rel) as img:
                sizes.append(img.size)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            sizes.append((0, 0))
    return sizes
