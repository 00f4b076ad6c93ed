"""Inference on images: check an upload, show it as the model sees it, and give probabilities.

An uploaded image is hostile until checked: it is recognised by its content (never its name),
its size in pixels is checked before it is decoded (a decompression bomb is an error), and every
colour mode (palette, alpha, 16-bit, CMYK) is converted to 8-bit RGB the same way. The model
then sees it as training saw its images: centre-cropped to a square, resized, scaled to 0-1 and
normalised with the training set's mean and standard deviation.

What comes out depends on the model's task: a probability per class (single-label, here), every
label above a threshold (multi-label, predict_multi) or a class per pixel (segmentation,
predict_seg); predict() and results_table() hand each model to its task's module.
"""

from __future__ import annotations

import io
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from core import runs
from core.data import images
from core.data.images import to_rgb
from core.errors import UserError
from core.fsutil import MB
from core.serving import library, rebuild
from core.serving.format import BundleError

MAX_IMAGE_BYTES = 20 * MB
MAX_PIXELS = 40_000_000  # about 6300×6300; a phone photo is 12-50 million
MAX_DECODE_BYTES = 128 * MB  # decoded: a larger JPEG is decoded at half scale, another image refused
MAX_IMAGES = 200  # per batch on the Predict page
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
FORMAT_NAMES = "PNG, JPEG, WebP, BMP or GIF"
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif"]
NOT_SURE = "not sure"
DEFAULT_THRESHOLD = 0.5
THUMB_SIDE = 256
CACHE_SIZE = 4  # models kept loaded, keyed by their weights' SHA-256


class ImageError(UserError):
    """An uploaded file that cannot be used as an image; the message says why."""


@dataclass
class PreparedImage:
    """An uploaded image, checked and converted, ready for a model."""

    name: str
    format: str  # PNG, JPEG, … as recognised from the content
    width: int  # of the original
    height: int
    mode: str  # the original's colour mode (L, RGB, RGBA, P, I;16, CMYK, …)
    pixels: np.ndarray  # as the model sees it: uint8 size×size (grey) or size×size×3
    thumbnail: np.ndarray  # the whole picture, RGB uint8, at most THUMB_SIDE a side
    notes: list[str] = field(default_factory=list)  # conversions made, in words
    # the centre square the model sees, RGB uint8 at up to square_side pixels (segmentation
    # overlays its mask on it); None unless prepare was asked for it
    square: np.ndarray | None = None


@dataclass
class Prediction:
    """What the model says about one image."""

    name: str
    probs: np.ndarray  # one probability per class, in the model's class order
    classes: list[str]

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The k most likely classes, most likely first."""
        order = np.argsort(-self.probs, kind="stable")[:k]
        return [(self.classes[i], float(self.probs[i])) for i in order]

    @property
    def best(self) -> tuple[str, float]:
        """The most likely class and its probability."""
        return self.top(1)[0]

    def label(self, threshold: float) -> str:
        """The most likely class, or "not sure" when its probability is below the threshold."""
        cls, p = self.best
        return cls if p >= threshold else NOT_SURE


# --- reading images ------------------------------------------------------------------------


def describe_content(head: bytes) -> str:
    """What a file that is not an image (that Predict takes) seems to hold, from its first bytes."""
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "it is a TIFF image, which is not accepted here"
    return images.describe_content(head)


def open_image(data: bytes, name: str = "image"):
    """Recognise, size-check and decode uploaded bytes; returns (RGB Pillow image, facts, notes)."""
    from PIL import Image, UnidentifiedImageError

    if len(data) == 0:
        raise ImageError(f"{name} is empty (0 bytes): there is nothing to look at.")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(
            f"{name} is {len(data) / MB:.1f} MB; images up to {MAX_IMAGE_BYTES // MB} MB are accepted."
        )
    try:
        img = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as e:
        raise ImageError(_bomb_message(name, None)) from e
    except UnidentifiedImageError as e:
        raise ImageError(
            f"{name} is not an image: {describe_content(data[:512])}. Give a {FORMAT_NAMES} file."
        ) from e
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageError(f"{name} could not be read as an image: {e}.") from e
    fmt, mode = img.format or "?", img.mode
    width, height = img.size
    if width < 1 or height < 1:
        raise ImageError(f"{name} has no pixels ({width}×{height}).")
    if width * height > MAX_PIXELS:
        raise ImageError(_bomb_message(name, (width, height)))
    notes = images.draft_within(img, MAX_DECODE_BYTES)
    if too_big := images.too_big_to_decode(img.mode, *img.size, MAX_DECODE_BYTES):
        raise ImageError(f"{name}: {too_big}. Save it smaller (or as a JPEG) and try again.")
    try:
        if getattr(img, "is_animated", False):  # looks at the second frame only, not all of them
            img.seek(0)
            notes.append("first frame of an animation")
        img.load()
    except Image.DecompressionBombError as e:
        raise ImageError(_bomb_message(name, (width, height))) from e
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise ImageError(
            f"{name} is damaged: it is a {fmt} file that cannot be decoded "
            f"({e}). Try saving it again from the program that made it."
        ) from e
    turned = images.upright(img)
    if turned.size != img.size:
        notes.append("turned upright (camera orientation)")
    rgb, more = to_rgb(turned)
    return rgb, (fmt, width, height, mode), notes + more


def _bomb_message(name: str, size: tuple[int, int] | None) -> str:
    what = (
        f"{size[0]:,}×{size[1]:,} pixels ({size[0] * size[1] / 1e6:.0f} megapixels)"
        if size
        else "far too many pixels"
    )
    return (
        f"{name} is too large in pixels: {what}; images up to {MAX_PIXELS / 1e6:.0f} "
        "megapixels are accepted. (A small file that opens to a huge picture is how a "
        "'decompression bomb' exhausts a server's memory.)"
    )


def model_view(rgb, size: int, channels: int) -> np.ndarray:
    """The image as the model sees it: centre-cropped square, bilinear resize, grey when channels=1.

    The crop and resize are those of training's decode_image, so a training image gives the
    same pixels here as in its batch.
    """
    small = images.square_resize(rgb, size)
    if channels == 1:
        return np.asarray(small.convert("L"), dtype=np.uint8)
    return np.asarray(small, dtype=np.uint8)


def prepare(data: bytes, name: str, size: int, channels: int, square_side: int = 0) -> PreparedImage:
    """Uploaded bytes to a checked image, ready for a model of this input size and channels.

    square_side > 0 also keeps the centre square the model sees, at up to that many pixels.
    """
    rgb, (fmt, width, height, mode), notes = open_image(data, name)
    thumb = rgb.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    pixels = model_view(rgb, size, channels)
    if channels == 1 and not _is_grey(rgb):
        notes.append("colours turned to grey (the model was trained on grey images)")
    square = None
    if square_side > 0:
        square = np.asarray(images.square_resize(rgb, min(square_side, width, height)), dtype=np.uint8)
    return PreparedImage(name, fmt, width, height, mode, pixels, np.asarray(thumb), notes, square)


def _is_grey(rgb) -> bool:
    arr = np.asarray(rgb.resize((32, 32)))
    return bool((arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all())


def enlarged(pixels: np.ndarray, side: int = 160) -> np.ndarray:
    """A small model view scaled up with hard pixel edges, so an 8×8 image can be seen."""
    from PIL import Image

    img = Image.fromarray(pixels)
    k = max(1, side // max(img.size))
    return np.asarray(img.resize((img.size[0] * k, img.size[1] * k), Image.Resampling.NEAREST))


def centre_drawing(rgba: np.ndarray, dark_background: bool, margin: float = 0.15) -> bytes | None:
    """A drawing from a canvas as PNG bytes, cropped to the ink and centred in a square.

    Digits in training fill their box; a small digit drawn in a corner of a big canvas would
    look like nothing the model has seen. Returns None when nothing has been drawn.
    """
    from PIL import Image

    arr = np.asarray(rgba)
    if arr.ndim != 3 or arr.shape[2] < 3:
        return None
    grey = arr[..., :3].astype(np.float32).mean(axis=2)
    alpha = arr[..., 3] if arr.shape[2] == 4 else np.full(grey.shape, 255)
    background = 0.0 if dark_background else 255.0
    ink = (alpha > 0) & (np.abs(grey - background) > 40)
    if not ink.any():
        return None
    ys, xs = np.nonzero(ink)
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    side = int(max(bottom - top, right - left) * (1 + 2 * margin)) + 1
    fill = int(background)
    canvas = Image.new("L", (side, side), fill)
    # transparent canvas pixels become background, drawn pixels keep their grey level
    flat = np.where(alpha > 0, grey, background).astype(np.uint8)
    crop = Image.fromarray(flat[top:bottom, left:right], mode="L")
    canvas.paste(crop, ((side - (right - left)) // 2, (side - (bottom - top)) // 2))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


# --- loaded models -------------------------------------------------------------------------


@dataclass
class LoadedModel:
    """A saved model ready to predict: its network (eval mode) and what its inputs must be."""

    info: library.ModelInfo
    model: object  # torch.nn.Module
    load_seconds: float  # 0.0 when it came from the cache
    cached: bool

    @property
    def classes(self) -> list[str]:
        """Class names in the order of the model's outputs."""
        return self.info.classes

    @property
    def task(self) -> str:
        """The kind of problem the model answers (core/tasks)."""
        return self.info.task


_CACHE: OrderedDict[str, object] = OrderedDict()
_CACHE_LOCK = threading.Lock()
# One forward pass at a time: Grad-CAM puts hooks on the shared cached model, which must not
# fire in another session's prediction (and two cores gain nothing from parallel passes).
MODEL_LOCK = threading.RLock()


def load(name: str) -> LoadedModel:
    """A saved model by name, rebuilt strictly; kept in memory by its weights' SHA-256."""
    info = library.get(name)
    sha = library.weights_sha256(info.weights)
    if sha != info.sha256:
        raise BundleError(
            f"The weights of {name} have changed since it was saved (their "
            "SHA-256 no longer matches config.json); delete it and save it "
            "again."
        )
    with _CACHE_LOCK:
        model = _CACHE.get(sha)
        if model is not None:
            _CACHE.move_to_end(sha)
            return LoadedModel(info, model, 0.0, True)
    start = time.perf_counter()
    model = rebuild.load_module(info)
    seconds = time.perf_counter() - start
    with _CACHE_LOCK:
        _CACHE[sha] = model
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return LoadedModel(info, model, seconds, False)


def forget_cache() -> None:
    """Drop every loaded model (tests, and the benchmark's cold loads)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def to_batch(info: library.ModelInfo, images: list[np.ndarray]):
    """Model views (uint8) to a normalised float batch N×C×H×W, as training normalised (runs.normalise)."""
    import torch

    arr = np.stack([p if p.ndim == 3 else p[..., None] for p in images])
    x = torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))
    return runs.normalise(x, info.mean, info.std)


def probabilities(loaded: LoadedModel, images: list[np.ndarray], batch_size: int = 64) -> np.ndarray:
    """Class probabilities (N × classes) for model views of images (the task's activation)."""
    import torch

    from core import tasks

    activation = tasks.get(loaded.info.task).activation
    out = []
    with MODEL_LOCK, torch.inference_mode():
        for i in range(0, len(images), batch_size):
            logits = loaded.model(to_batch(loaded.info, images[i : i + batch_size]))
            out.append(activation(logits).numpy())
    if not out:
        return np.zeros((0, len(loaded.classes)), dtype=np.float32)
    return np.concatenate(out)


# The modules that predict for a task whose answer is not one class per image.
_BY_TASK = {"multi_label": "core.serving.predict_multi", "segmentation": "core.serving.predict_seg"}


def task_module(task: str):
    """The serving module of a task (predict_multi, predict_seg), or None for single-label."""
    import importlib

    return importlib.import_module(_BY_TASK[task]) if task in _BY_TASK else None


def predict(loaded: LoadedModel, prepared: list[PreparedImage]) -> list:
    """One prediction per prepared image, of the kind the model's task gives."""
    module = task_module(loaded.task)
    if module is not None:
        return module.predict(loaded, prepared)
    probs = probabilities(loaded, [p.pixels for p in prepared])
    return [Prediction(p.name, row, loaded.classes) for p, row in zip(prepared, probs)]


def prepare_many(
    files: list[tuple[str, bytes]], size: int, channels: int, prepare_one=None
) -> tuple[list[PreparedImage], list[tuple[str, str]]]:
    """Prepare several uploads; bad ones are reported as (name, why) and skipped.

    prepare_one (default: prepare) lets a caller add caching; it raises ImageError for a bad file.
    """
    if len(files) > MAX_IMAGES:
        raise UserError(f"{len(files)} images at once is too many; give at most {MAX_IMAGES}.")
    prepare_one = prepare_one or prepare
    good, bad = [], []
    for name, data in files:
        try:
            good.append(prepare_one(data, name, size, channels))
        except ImageError as e:
            bad.append((name, str(e)))
    return good, bad


def results_table(
    predictions: list, prepared: list[PreparedImage], threshold: float, task: str = "single_label"
):
    """One row per image: file, answer, confidence, runner-up, and the conversions made.

    For another task, its module's table (labels given, or classes present with their shares).
    """
    import pandas as pd

    module = task_module(task)
    if module is not None:
        return module.results_table(predictions, prepared, threshold)
    rows = []
    for pred, img in zip(predictions, prepared):
        top = pred.top(2)
        rows.append(
            {
                "file": pred.name,
                "prediction": pred.label(threshold),
                "most likely": top[0][0],
                "confidence": round(top[0][1], 4),
                "runner-up": top[1][0] if len(top) > 1 else "",
                "runner-up confidence": round(top[1][1], 4) if len(top) > 1 else None,
                "notes": "; ".join(img.notes),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "file",
            "prediction",
            "most likely",
            "confidence",
            "runner-up",
            "runner-up confidence",
            "notes",
        ],
    )
