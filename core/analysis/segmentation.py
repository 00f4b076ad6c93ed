"""Interpretation of a segmentation run: per-image loss and IoU, a pixel confusion matrix, per-class scores.

The run's model is rebuilt from its weights and applied to every image of the dataset as it
is now (so a deleted image drops out). Per-pixel probabilities are not kept (N×classes×H×W
would be large); predicted_mask recomputes one image's prediction when a page shows it.
The scores come from confusion matrices (rows truth, columns prediction), computed once here
for the training metrics (core/tasks/segmentation.py) and for the Results page alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import UserError

SPLITS = ("train", "valid")
FRAME_COLUMNS = ["file", "split", "loss", "pixel_accuracy", "iou"]


def class_scores(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class IoU, Dice and presence from a confusion matrix (rows truth, columns prediction).

    IoU = overlap / union and Dice = 2·overlap / (truth area + predicted area); a class that is
    neither in the truth nor in the prediction is not present and scores NaN.
    """
    cm = np.asarray(cm, dtype=np.float64)
    inter = np.diag(cm)
    truth, pred = cm.sum(axis=1), cm.sum(axis=0)
    present = (truth + pred) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(present, inter / (truth + pred - inter), np.nan)
        dice = np.where(present, 2 * inter / (truth + pred), np.nan)
    return iou, dice, present


def scores(cm: np.ndarray) -> dict[str, float]:
    """pixel_accuracy, dice and mean_iou of a confusion matrix (means over the classes present)."""
    cm = np.asarray(cm, dtype=np.float64)
    total = cm.sum()
    iou, dice, present = class_scores(cm)
    return {
        "pixel_accuracy": float(np.trace(cm) / total) if total else float("nan"),
        "dice": float(dice[present].mean()) if present.any() else float("nan"),
        "mean_iou": float(iou[present].mean()) if present.any() else float("nan"),
    }


def confusion(truth, pred, n: int):
    """The n×n pixel confusion matrix (torch int64) of class indices truth and pred, any shape."""
    import torch

    t = torch.as_tensor(truth).reshape(-1).long()
    p = torch.as_tensor(pred).reshape(-1).long().to(t.device)
    return torch.bincount(t * n + p, minlength=n * n)[: n * n].reshape(n, n)


@dataclass
class SegInterpretation:
    """A segmentation run judged on every image of its dataset as it is now."""

    run_id: int
    dataset: str
    codes: list[str]
    files: list[str]
    masks: list[str]
    splits: list[str]  # "train" or "valid" per file
    frame: pd.DataFrame  # FRAME_COLUMNS, in the dataset's file order
    confusion: dict[str, np.ndarray]  # split -> C×C pixel counts (rows truth, columns predicted)
    fingerprint: str

    @property
    def vocab(self) -> list[str]:
        """The classes in output order (the codes), as other interpretations name them."""
        return self.codes


def _logits(model, images, mean: list[float], std: list[float]):
    """Float logits for uint8 images N×C×H×W, normalised as training did (eval mode, no grad)."""
    import torch

    from core import runs

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(runs.normalise(torch.as_tensor(images).to(device), mean, std)).float().cpu()
    finally:
        model.train(was_training)


def interpret(loaded, bs: int = 64) -> SegInterpretation:
    """Predict every image of the run's dataset and score each against its mask."""
    import torch
    import torch.nn.functional as F

    from core.data import access, layouts, seg_loaders

    rec = loaded.record
    n = len(loaded.vocab)
    with access.dataset(rec.config.dataset) as info:  # the list and the pixels from the same files
        items = seg_loaders.seg_items(info, rec.config.valid_pct, rec.config.seed)
        images, masks = seg_loaders.tensors(items, rec.size)
        version = layouts.fingerprint(items)
    if len(items.codes) != n:
        raise UserError(
            f"The dataset now names {len(items.codes)} classes in codes.txt; run {loaded.run_id} learned {n}."
        )
    splits = ["valid" if v else "train" for v in items.is_valid]
    cms = {s: torch.zeros(n, n, dtype=torch.long) for s in SPLITS}
    losses, accs, ious = [], [], []
    for i in range(0, len(items.files), bs):
        logits = _logits(loaded.model, images[i : i + bs], rec.mean, rec.std)
        truth = masks[i : i + bs].long()
        pred = logits.argmax(dim=1)
        losses.append(F.cross_entropy(logits, truth, reduction="none").mean(dim=(1, 2)))
        accs.append((pred == truth).float().mean(dim=(1, 2)))
        for j in range(len(truth)):
            cm = confusion(truth[j], pred[j], n)
            cms[splits[i + j]] += cm
            ious.append(scores(cm.numpy())["mean_iou"])
    frame = pd.DataFrame(
        {
            "file": items.files,
            "split": splits,
            "loss": torch.cat(losses).numpy().astype(float) if losses else [],
            "pixel_accuracy": torch.cat(accs).numpy().astype(float) if accs else [],
            "iou": np.array(ious, dtype=float),
        },
        columns=FRAME_COLUMNS,
    )
    return SegInterpretation(
        loaded.run_id,
        rec.config.dataset,
        list(loaded.vocab),
        list(items.files),
        list(items.masks),
        splits,
        frame,
        {s: cm.numpy() for s, cm in cms.items()},
        version,
    )


def _split_cm(interp: SegInterpretation, split: str | None) -> np.ndarray:
    if split is None:
        return sum(interp.confusion.values())
    if split not in SPLITS:
        raise UserError(f"Unknown split {split!r}; choose train or valid.")
    return interp.confusion[split]


def per_class(interp: SegInterpretation, split: str | None = "valid") -> pd.DataFrame:
    """IoU, Dice and the true pixel count of each class in a split (NaN for a class never seen)."""
    cm = _split_cm(interp, split)
    iou, dice, _present = class_scores(cm)
    return pd.DataFrame(
        {"code": interp.codes, "iou": iou, "dice": dice, "pixels": cm.sum(axis=1).astype(int)},
        columns=["code", "iou", "dice", "pixels"],
    )


def split_scores(interp: SegInterpretation, split: str | None = "valid") -> dict[str, float]:
    """pixel_accuracy, dice and mean_iou over a split's pixels, as training's metrics compute them."""
    return scores(_split_cm(interp, split))


def worst(
    interp: SegInterpretation, by: str = "loss", split: str | None = None, k: int | None = 12
) -> pd.DataFrame:
    """The images the model does worst on: largest loss first, or lowest IoU first."""
    if by not in ("loss", "iou"):
        raise UserError(f"Rank the worst images by loss or iou, not {by!r}.")
    part = interp.frame
    if split is not None:
        if split not in SPLITS:
            raise UserError(f"Unknown split {split!r}; choose train or valid.")
        part = part[part["split"] == split]
    part = part.sort_values([by, "file"], ascending=[by == "iou", True], kind="stable", na_position="last")
    return part if k is None else part.head(k)


def predicted_mask(loaded, file: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image of the run's dataset at the run's size: (image H×W×3, truth mask, predicted mask), uint8."""
    from core.data import access, layouts, loaders, seg_loaders

    rec = loaded.record
    with access.dataset(rec.config.dataset) as info:
        root = info.path
        mask_rel = layouts.mask_for(root, file)
        if mask_rel is None or not (root / file).is_file():
            raise UserError(f"{file} is no longer in {info.name} with a mask (moved or deleted?).")
        image = loaders.decode_image(root / file, rec.size)
        truth = seg_loaders.resize_mask(
            seg_loaders.mask_values(root / mask_rel, len(loaded.vocab), mask_rel), rec.size
        )
    x = np.ascontiguousarray(image.transpose(2, 0, 1))[None]
    pred = _logits(loaded.model, x, rec.mean, rec.std).argmax(dim=1)[0].numpy().astype(np.uint8)
    return image, truth, pred


def difference(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """A boolean H×W map of the pixels where the prediction differs from the truth."""
    return np.asarray(truth) != np.asarray(pred)
