"""Interpretation of a multi-label run: per-label scores, the metric against the threshold, top losses.

fastai's multi-label learner answers each label with a probability (sigmoid) and calls a label
present above a threshold (0.5 unless set). Here a run's model is rebuilt from its weights and
applied to every image of its dataset as it is now (a retagged image is judged against its new
tags), and the threshold can be moved afterwards without predicting again: every view takes it
as an argument. The diary's "what if the threshold is 1 %?" is threshold_curve at 0.01: nearly
every label is called, recall is 1 and precision falls to the labels' frequency.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from core.errors import UserError

SPLITS = ("train", "valid")
EPS = 1e-12  # probabilities are clipped here so a loss is finite
THRESHOLDS = np.round(np.arange(1, 100) / 100, 2)  # 0.01 … 0.99, the curve's points
FRAME_COLUMNS = ["file", "split", "actual", "predicted", "loss", "correct"]
LABEL_COLUMNS = ["label", "precision", "recall", "f1", "support"]
CURVE_COLUMNS = ["threshold", "accuracy_multi", "f1_macro"]


def counts(predicted: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, false positives and false negatives per label (columns) of N×C booleans."""
    p, t = np.asarray(predicted, dtype=bool), np.asarray(targets, dtype=bool)
    return (p & t).sum(axis=0), (p & ~t).sum(axis=0), (~p & t).sum(axis=0)


def f1_per_label(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1 = 2·TP / (2·TP + FP + FN) per label; 0 for a label never present and never predicted
    (scikit-learn's and so fastai's F1ScoreMulti convention)."""
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    den = 2 * tp + fp + fn
    return np.divide(2 * tp, den, out=np.zeros_like(den), where=den > 0)


def macro_f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> float:
    """The mean of the labels' F1 (fastai's F1ScoreMulti(average='macro')); the metric "f1_macro"."""
    per = f1_per_label(tp, fp, fn)
    return float(per.mean()) if per.size else 0.0


def scores(probs: np.ndarray, targets: np.ndarray, threshold: float) -> dict[str, float]:
    """accuracy_multi (the share of label decisions right) and f1_macro at threshold.

    A label is predicted when its probability is above the threshold (strictly, as fastai's
    accuracy_multi and BCEWithLogitsLossFlat.decodes).
    """
    predicted = np.asarray(probs) > threshold
    targets = np.asarray(targets, dtype=bool)
    accuracy = float((predicted == targets).mean()) if targets.size else float("nan")
    return {"accuracy_multi": accuracy, "f1_macro": macro_f1(*counts(predicted, targets))}


@dataclass
class MultiInterpretation:
    """A multi-label run's probabilities on every image of its dataset, as it is now."""

    run_id: int
    dataset: str
    vocab: list[str]  # labels in the order of the model's outputs
    files: list[str]
    splits: list[str]  # "train" or "valid" per file
    targets: np.ndarray  # N×C bool: the tags each file has now (tags the run never saw left out)
    probs: np.ndarray  # N×C float: the model's probability for each label
    threshold: float  # the run's own (its options), where the views start
    fingerprint: str  # the data version read (core.data.layouts.fingerprint)

    @cached_property
    def frame(self) -> pd.DataFrame:
        """frame() at the run's own threshold."""
        return frame(self, self.threshold)

    def part(self, split: str | None) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and targets of one split (every row for None)."""
        if split is None:
            return self.probs, self.targets
        if split not in SPLITS:
            raise UserError(f"Unknown split {split!r}; choose train or valid.")
        rows = np.asarray(self.splits) == split
        return self.probs[rows], self.targets[rows]


def _check_threshold(threshold: float) -> float:
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0 <= threshold <= 1:
        raise UserError("The threshold must be a number from 0 to 1.")
    return float(threshold)


def interpret(loaded) -> MultiInterpretation:
    """Predict every image of the run's dataset (train and validation) with the run's model.

    The list of files and their pixels are read under the dataset's lock (core.data.access), so
    no cleaning can change them half-way.
    """
    from core.analysis.interpret import dataset_items, predict_probs
    from core.data import access, layouts
    from core.data.loaders import image_tensor

    rec = loaded.record
    cfg = loaded.config
    with access.dataset(cfg.dataset):
        items = dataset_items(cfg)
        images = image_tensor(items, rec.size)
        version = layouts.fingerprint(items)
    probs = predict_probs(loaded.model, images, rec.mean, rec.std, task="multi_label")
    vocab = list(loaded.vocab)
    if len(probs) == 0:
        probs = np.zeros((0, len(vocab)), dtype=np.float32)
    return MultiInterpretation(
        run_id=loaded.run_id,
        dataset=cfg.dataset,
        vocab=vocab,
        files=list(items.files),
        splits=["valid" if v else "train" for v in items.is_valid],
        targets=multi_hot(items.labels, vocab),
        probs=np.asarray(probs, dtype=np.float32),
        threshold=float(getattr(cfg.options, "threshold", 0.5)),
        fingerprint=version,
    )


def multi_hot(labels: list[tuple[str, ...]] | list[list[str]], vocab: list[str]) -> np.ndarray:
    """N×C booleans: each row's tags in vocab's order (a tag not in vocab is left out)."""
    index = {c: i for i, c in enumerate(vocab)}
    out = np.zeros((len(labels), len(vocab)), dtype=bool)
    for r, tags in enumerate(labels):
        for tag in tags:
            if tag in index:
                out[r, index[tag]] = True
    return out


def per_label(interp: MultiInterpretation, threshold: float, split: str | None = "valid") -> pd.DataFrame:
    """Precision, recall, F1 and support (images that have the label) per label at threshold.

    Precision is NaN for a label never predicted, recall for a label no image has; F1 follows
    the metric (0 when it is neither present nor predicted).
    """
    threshold = _check_threshold(threshold)
    probs, targets = interp.part(split)
    tp, fp, fn = counts(probs > threshold, targets)
    f1 = f1_per_label(tp, fp, fn)
    predicted, support = tp + fp, tp + fn
    precision = np.divide(tp, predicted, out=np.full(len(tp), np.nan), where=predicted > 0)
    recall = np.divide(tp, support, out=np.full(len(tp), np.nan), where=support > 0)
    return pd.DataFrame(
        {
            "label": list(interp.vocab),
            "precision": precision.astype(float),
            "recall": recall.astype(float),
            "f1": f1.astype(float),
            "support": support.astype(int),
        },
        columns=LABEL_COLUMNS,
    )


def threshold_curve(interp: MultiInterpretation, split: str | None = "valid") -> pd.DataFrame:
    """accuracy_multi and f1_macro at each threshold from 0.01 to 0.99 (a split's images)."""
    probs, targets = interp.part(split)
    rows = [{"threshold": float(t), **scores(probs, targets, float(t))} for t in THRESHOLDS]
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def best_threshold(curve: pd.DataFrame, metric: str = "f1_macro") -> float:
    """The threshold where metric peaks on the curve; among equal peaks the one nearest 0.5."""
    if metric not in ("accuracy_multi", "f1_macro"):
        raise UserError(f"Unknown metric {metric!r}; choose accuracy_multi or f1_macro.")
    values = curve[metric].to_numpy(dtype=float)
    if not len(values) or np.isnan(values).all():
        raise UserError("There is no image in this split to choose a threshold on.")
    top = np.flatnonzero(np.isclose(values, np.nanmax(values), rtol=0, atol=1e-12))
    thresholds = curve["threshold"].to_numpy(dtype=float)[top]
    return float(thresholds[np.argmin(np.abs(thresholds - 0.5))])


def _joined(rows: np.ndarray, vocab: list[str]) -> list[str]:
    return [" ".join(vocab[i] for i in np.flatnonzero(r)) for r in rows]


def losses(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Each row's binary cross-entropy averaged over the labels (BCEWithLogitsLossFlat per image)."""
    p = np.clip(np.asarray(probs, dtype=np.float64), EPS, 1 - EPS)
    t = np.asarray(targets, dtype=bool)
    if p.shape[1] == 0:
        return np.zeros(len(p))
    return -np.where(t, np.log(p), np.log1p(-p)).mean(axis=1)


def frame(interp: MultiInterpretation, threshold: float) -> pd.DataFrame:
    """One row per image: file, split, actual and predicted tags (joined by spaces), loss, correct.

    predicted holds every label above threshold ("" when none passes); correct is True when
    the predicted set equals the actual one.
    """
    threshold = _check_threshold(threshold)
    if not len(interp.files):
        return pd.DataFrame(columns=FRAME_COLUMNS)
    predicted = interp.probs > threshold
    targets = np.asarray(interp.targets, dtype=bool)
    return pd.DataFrame(
        {
            "file": list(interp.files),
            "split": list(interp.splits),
            "actual": _joined(targets, interp.vocab),
            "predicted": _joined(predicted, interp.vocab),
            "loss": losses(interp.probs, targets).astype(float),
            "correct": (predicted == targets).all(axis=1),
        },
        columns=FRAME_COLUMNS,
    )


def top_losses(frame: pd.DataFrame, split: str | None = None, k: int | None = None) -> pd.DataFrame:
    """Images with the largest loss first (ties by file name), optionally one split, at most k."""
    part = frame
    if split is not None:
        if split not in SPLITS:
            raise UserError(f"Unknown split {split!r}; choose train or valid.")
        part = frame[frame["split"] == split]
    part = part.sort_values(["loss", "file"], ascending=[False, True], kind="stable")
    return part if k is None else part.head(k)


def out_of_sample(interp: MultiInterpretation, result: dict) -> MultiInterpretation:
    """The interpretation with every training image judged by a model that never trained on it.

    result is a multi-label crossval job's output (core.train.crossval.load_result): training
    images get their cross-validated probabilities, scored against their tags as they are now;
    validation images keep the run's own (the run never trained on them). Training images the
    cross-validation did not see (added since) are left out.
    """
    if result.get("task") != "multi_label":
        raise UserError("This cross-validation is not a multi-label one.")
    if list(result["vocab"]) != list(interp.vocab):
        raise UserError("The cross-validation saw other labels than this run; compute it again.")
    held = {f: i for i, f in enumerate(result["files"])}
    cv_probs = np.asarray(result["probs"], dtype=np.float32).reshape(len(result["files"]), len(interp.vocab))
    rows, probs = [], []
    for r, (f, s) in enumerate(zip(interp.files, interp.splits)):
        if s == "valid":
            rows.append(r)
            probs.append(interp.probs[r])
        elif f in held:
            rows.append(r)
            probs.append(cv_probs[held[f]])
    keep = np.asarray(rows, dtype=np.int64)
    return MultiInterpretation(
        run_id=interp.run_id,
        dataset=interp.dataset,
        vocab=list(interp.vocab),
        files=[interp.files[r] for r in rows],
        splits=[interp.splits[r] for r in rows],
        targets=interp.targets[keep],
        probs=np.asarray(probs, dtype=np.float32).reshape(len(rows), len(interp.vocab)),
        threshold=interp.threshold,
        fingerprint=interp.fingerprint,
    )
