"""Segmentation prediction: a class for every pixel, as a mask, an overlay with a legend, and shares.

The model sees the image as training saw its images (the centre square, resized), and answers
with a score per class for every pixel; the mask keeps the most likely class of each. The mask
is resized back to the centre square of the uploaded image by the nearest pixel (so its values
stay class indices), coloured with the palette every page uses (core.analysis.masks) and laid
over the picture; each class's share of the pixels says how much of the scene it covers.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from core.analysis import masks
from core.serving.predict import MODEL_LOCK, LoadedModel, PreparedImage, to_batch

BATCH = 8  # per-pixel scores are classes×H×W floats per image: keep a batch small
DISPLAY_SIDE = 384  # the overlay on the Predict page, at most this many pixels a side


@dataclass
class SegPrediction:
    """What a segmentation model says about one image: the class of every pixel."""

    name: str
    mask: np.ndarray  # uint8 size×size class indices, as the model answered (its input's size)
    confidence: float  # the mean over pixels of the winning class's probability
    codes: list[str]  # the class of each mask value, index 0 first

    def shares(self) -> np.ndarray:
        """Each class's share of the pixels, in code order (sums to 1)."""
        return masks.class_shares(self.mask, len(self.codes))

    def present(self, at_least: float = 0.0) -> list[tuple[str, float]]:
        """The classes covering more than at_least of the picture, largest first."""
        shares = self.shares()
        order = np.argsort(-shares, kind="stable")
        return [(self.codes[i], float(shares[i])) for i in order if shares[i] > at_least]

    def label(self, threshold: float = 0.0) -> str:
        """The classes present, largest first, as one text (for a results table)."""
        return ", ".join(f"{c} {s:.0%}" for c, s in self.present(threshold))


def class_masks(loaded: LoadedModel, pixels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(masks N×H×W uint8, mean confidence per image) for model views, through the task's activation."""
    import torch

    from core import tasks

    activation = tasks.get(loaded.info.task).activation
    out, conf = [], []
    with MODEL_LOCK, torch.inference_mode():
        for i in range(0, len(pixels), BATCH):
            probs = activation(loaded.model(to_batch(loaded.info, pixels[i : i + BATCH])))
            best, index = probs.max(dim=1)
            out.append(index.to(torch.uint8).numpy())
            conf.append(best.mean(dim=(1, 2)).numpy())
    if not out:
        return np.zeros((0, 0, 0), dtype=np.uint8), np.zeros(0, dtype=np.float32)
    return np.concatenate(out), np.concatenate(conf)


def predict(loaded: LoadedModel, prepared: list[PreparedImage]) -> list[SegPrediction]:
    """One predicted mask per prepared image."""
    found, conf = class_masks(loaded, [p.pixels for p in prepared])
    return [
        SegPrediction(p.name, m, float(c), list(loaded.classes)) for p, m, c in zip(prepared, found, conf)
    ]


def resized(mask: np.ndarray, side: int) -> np.ndarray:
    """A square mask resized to side×side by the nearest pixel (its values stay class indices)."""
    from core.data.seg_loaders import resize_mask

    return resize_mask(mask, side)


def full_mask(pred: SegPrediction, image: PreparedImage) -> np.ndarray:
    """The mask at the size of the uploaded image's centre square, the part the model saw."""
    return resized(pred.mask, min(image.width, image.height))


def overlay(pred: SegPrediction, image: PreparedImage, alpha: float = 0.5) -> np.ndarray:
    """The mask in the palette's colours over the image's centre square (at up to DISPLAY_SIDE)."""
    square = image.square if image.square is not None else image.pixels
    if square.ndim == 2:
        square = np.repeat(square[..., None], 3, axis=2)
    return masks.overlay(square, resized(pred.mask, square.shape[0]), alpha)


def coloured(pred: SegPrediction, side: int) -> np.ndarray:
    """The mask alone in the palette's colours, side×side pixels."""
    return masks.colour_mask(resized(pred.mask, side), len(pred.codes))


def mask_png(mask: np.ndarray, n_codes: int) -> bytes:
    """A mask as an 8-bit palette PNG: its values are the class indices, its palette the page's colours.

    The format a segmentation dataset's masks/ take, so a predicted mask can be corrected and added.
    """
    from PIL import Image

    arr = np.ascontiguousarray(mask, dtype=np.uint8)
    img = Image.frombytes("P", (arr.shape[1], arr.shape[0]), arr.tobytes())
    colours = masks.palette(max(n_codes, 1))
    img.putpalette([v for rgb in colours for v in rgb] + [0, 0, 0] * (256 - len(colours)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def shares_table(pred: SegPrediction):
    """One row per class: its code, its colour on the overlay and its share of the pixels."""
    import pandas as pd

    shares = pred.shares()
    rows = [
        {"class": code, "colour": colour, "share": float(s)}
        for (code, colour), s in zip(masks.legend(pred.codes), shares)
    ]
    return pd.DataFrame(rows, columns=["class", "colour", "share"])


def results_table(predictions: list[SegPrediction], prepared: list[PreparedImage], threshold: float = 0.0):
    """One row per image: file, the classes present with their shares, confidence, each share."""
    import pandas as pd

    codes = predictions[0].codes if predictions else []
    rows = []
    for pred, img in zip(predictions, prepared):
        row = {
            "file": pred.name,
            "classes present": pred.label(threshold),
            "confidence": round(pred.confidence, 4),
            "notes": "; ".join(img.notes),
        }
        row.update({f"share({c})": round(float(s), 4) for c, s in zip(codes, pred.shares())})
        rows.append(row)
    columns = ["file", "classes present", "confidence", "notes"]
    return pd.DataFrame(rows, columns=columns + [f"share({c})" for c in codes])
