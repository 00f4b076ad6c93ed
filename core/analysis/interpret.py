"""Interpretation of a finished run: predictions, losses, confusion, per-class scores, top losses.

A run's model is rebuilt from its safetensors weights and run.json (never from a pickle) and
applied to the dataset as it is now on disk, so the views follow the cleaning: a deleted image
drops out, a relabelled one is judged against its new label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from core import runs
from core.config import TrainConfig
from core.data import access
from core.data.datasets import Items
from core.errors import UserError

SPLITS = ("train", "valid")
EPS = 1e-12  # probabilities are clipped here so a loss is finite (at most about 27.6)
COLUMNS = ["file", "split", "actual", "predicted", "probability", "p_actual", "loss", "correct"]


def predict_probs(
    model: torch.nn.Module,
    images: np.ndarray | torch.Tensor,
    mean: list[float],
    std: list[float],
    bs: int = 512,
    task: str = "single_label",
) -> np.ndarray:
    """Probabilities for uint8 images N×C×H×W, normalised as training did (core.runs.normalise)."""
    from core import tasks

    activation = tasks.get(task).activation
    x = torch.as_tensor(images)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for i in range(0, len(x), bs):
                xb = runs.normalise(x[i : i + bs].to(device), mean, std)
                out.append(activation(model(xb)).cpu())
    finally:
        model.train(was_training)
    if not out:
        return np.zeros((0, 0), dtype=np.float32)
    return torch.cat(out).numpy()


def dataset_items(cfg: TrainConfig) -> Items:
    """The dataset's images as they are now, split as training split them (read under the
    dataset's lock, after crash recovery: core.data.access)."""
    return access.items(cfg.dataset, valid_pct=cfg.valid_pct, seed=cfg.seed)


def fingerprint(items: Items) -> str:
    """The data version of items (core.data.layouts.fingerprint): it changes when the data change."""
    from core.data.layouts import fingerprint as data_version

    return data_version(items)


def frame_from_probs(
    files: list[str], labels: list[str], splits: list[str], probs: np.ndarray, vocab: list[str]
) -> pd.DataFrame:
    """One row per image: file, split, actual, predicted, probability (of the prediction),
    p_actual, loss (cross-entropy against the actual label) and correct."""
    if len(files) == 0:
        return pd.DataFrame(columns=COLUMNS)
    index = {c: i for i, c in enumerate(vocab)}
    actual_idx = np.array([index.get(lab, -1) for lab in labels])
    pred_idx = probs.argmax(axis=1)
    rows = np.arange(len(files))
    p_actual = np.where(actual_idx >= 0, probs[rows, np.maximum(actual_idx, 0)], 0.0)
    return pd.DataFrame(
        {
            "file": files,
            "split": splits,
            "actual": labels,
            "predicted": [vocab[i] for i in pred_idx],
            "probability": probs[rows, pred_idx].astype(float),
            "p_actual": p_actual.astype(float),
            "loss": -np.log(np.clip(p_actual, EPS, 1.0)).astype(float),
            "correct": actual_idx == pred_idx,
        }
    )


@dataclass
class Interpretation:
    """A run's predictions on every image of its dataset, as it is now."""

    run_id: int
    dataset: str
    vocab: list[str]
    frame: pd.DataFrame  # columns COLUMNS, in the dataset's file order
    probs: np.ndarray  # N×classes, rows as frame
    fingerprint: str


def interpret(run_id: int, loaded: runs.LoadedRun | None = None) -> Interpretation:
    """Predict every image of the run's dataset (train and validation) with the run's model."""
    from core.data.loaders import image_tensor

    run = loaded or runs.load(run_id)
    rec = run.record
    with access.dataset(run.config.dataset):  # the list and the pixels from the same files
        items = dataset_items(run.config)
        images = image_tensor(items, rec.size)
    probs = predict_probs(run.model, images, rec.mean, rec.std, task=rec.task)
    splits = ["valid" if v else "train" for v in items.is_valid]
    frame = frame_from_probs(items.files, items.labels, splits, probs, run.vocab)
    return Interpretation(run.run_id, run.config.dataset, run.vocab, frame, probs, fingerprint(items))


def _split(frame: pd.DataFrame, split: str | None) -> pd.DataFrame:
    if split is None:
        return frame
    if split not in SPLITS:
        raise UserError(f"Unknown split {split!r}; choose train or valid.")
    return frame[frame["split"] == split]


def accuracy(frame: pd.DataFrame, split: str | None = "valid") -> float | None:
    """Share of correct predictions in a split (None when the split is empty)."""
    part = _split(frame, split)
    return float(part["correct"].mean()) if len(part) else None


def confusion_matrix(frame: pd.DataFrame, vocab: list[str], split: str | None = "valid") -> np.ndarray:
    """Counts: rows are actual classes, columns predicted ones (images with an unknown label left out)."""
    part = _split(frame, split)
    index = {c: i for i, c in enumerate(vocab)}
    cm = np.zeros((len(vocab), len(vocab)), dtype=np.int64)
    for a, p in zip(part["actual"], part["predicted"]):
        if a in index:
            cm[index[a], index[p]] += 1
    return cm


def normalise_rows(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its total: the share of each actual class given to each prediction."""
    totals = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros(cm.shape, dtype=float), where=totals > 0)


def most_confused(
    frame: pd.DataFrame, vocab: list[str], split: str | None = "valid", min_count: int = 1
) -> pd.DataFrame:
    """fastai's most_confused: (actual, predicted, count) off the diagonal, most frequent first."""
    cm = confusion_matrix(frame, vocab, split)
    rows = [
        {"actual": vocab[i], "predicted": vocab[j], "count": int(cm[i, j])}
        for i in range(len(vocab))
        for j in range(len(vocab))
        if i != j and cm[i, j] >= min_count
    ]
    table = pd.DataFrame(rows, columns=["actual", "predicted", "count"])
    return table.sort_values(
        ["count", "actual", "predicted"], ascending=[False, True, True], kind="stable"
    ).reset_index(drop=True)


def per_class(frame: pd.DataFrame, vocab: list[str], split: str | None = "valid") -> pd.DataFrame:
    """Precision, recall, F1 and support (images actually in the class) for each class."""
    cm = confusion_matrix(frame, vocab, split)
    rows = []
    for i, name in enumerate(vocab):
        tp = cm[i, i]
        predicted, actual = cm[:, i].sum(), cm[i, :].sum()
        precision = tp / predicted if predicted else math.nan
        recall = tp / actual if actual else math.nan
        both = precision + recall
        f1 = 2 * precision * recall / both if both and not math.isnan(both) else math.nan
        rows.append(
            {"class": name, "precision": precision, "recall": recall, "f1": f1, "support": int(actual)}
        )
    return pd.DataFrame(rows, columns=["class", "precision", "recall", "f1", "support"])


def top_losses(
    frame: pd.DataFrame,
    actual: str | None = None,
    predicted: str | None = None,
    split: str | None = None,
    k: int | None = None,
) -> pd.DataFrame:
    """Images with the largest loss first, optionally only one actual class, prediction or split."""
    part = _split(frame, split)
    if actual is not None:
        part = part[part["actual"] == actual]
    if predicted is not None:
        part = part[part["predicted"] == predicted]
    part = part.sort_values(["loss", "file"], ascending=[False, True], kind="stable")
    return part if k is None else part.head(k)


def cell(frame: pd.DataFrame, actual: str, predicted: str, split: str | None = "valid") -> pd.DataFrame:
    """The images behind one cell of the confusion matrix, largest loss first."""
    return top_losses(frame, actual=actual, predicted=predicted, split=split)
