"""Multi-label prediction: every label whose probability is above the threshold, or "none of these".

A multi-label model answers each label on its own with a sigmoid, so its probabilities do not
sum to 1 and an image may get several labels, or none: a picture of something else entirely
can honestly be answered "none of these", which a single-label classifier cannot do. A label is
given when its probability is above the threshold (strictly, as fastai's accuracy_multi and the
run's own metrics); the bundle stores the run's threshold, and a person may move it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.serving.predict import LoadedModel, PreparedImage, probabilities

NONE = "none of these"


def above(probs: np.ndarray, threshold: float) -> np.ndarray:
    """Which labels are given: probability strictly above the threshold (as fastai's accuracy_multi)."""
    return np.asarray(probs) > threshold


@dataclass
class MultiPrediction:
    """What a multi-label model says about one image: a probability per label, independently."""

    name: str
    probs: np.ndarray  # one sigmoid probability per label, in the model's label order
    classes: list[str]

    def ranked(self) -> list[tuple[str, float]]:
        """Every label with its probability, most likely first."""
        order = np.argsort(-self.probs, kind="stable")
        return [(self.classes[i], float(self.probs[i])) for i in order]

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The k most likely labels, most likely first."""
        return self.ranked()[:k]

    @property
    def best(self) -> tuple[str, float]:
        """The most likely label and its probability."""
        return self.ranked()[0]

    def labels(self, threshold: float) -> list[str]:
        """The labels above the threshold, most likely first (empty when none passes)."""
        given = above(self.probs, threshold)
        return [self.classes[i] for i in np.argsort(-self.probs, kind="stable") if given[i]]

    def label(self, threshold: float) -> str:
        """The labels above the threshold as one text, or "none of these"."""
        return ", ".join(self.labels(threshold)) or NONE


def predict(loaded: LoadedModel, prepared: list[PreparedImage]) -> list[MultiPrediction]:
    """One multi-label prediction per prepared image (sigmoid probabilities, via the task)."""
    probs = probabilities(loaded, [p.pixels for p in prepared])
    return [MultiPrediction(p.name, row, loaded.classes) for p, row in zip(prepared, probs)]


def results_table(predictions: list[MultiPrediction], prepared: list[PreparedImage], threshold: float):
    """One row per image: file, the labels given, how many, the most likely label, each probability."""
    import pandas as pd

    classes = predictions[0].classes if predictions else []
    rows = []
    for pred, img in zip(predictions, prepared):
        cls, p = pred.best
        row = {
            "file": pred.name,
            "labels": pred.label(threshold),
            "n labels": len(pred.labels(threshold)),
            "most likely": cls,
            "confidence": round(p, 4),
            "notes": "; ".join(img.notes),
        }
        row.update({f"p({c})": round(float(q), 4) for c, q in zip(classes, pred.probs)})
        rows.append(row)
    columns = ["file", "labels", "n labels", "most likely", "confidence", "notes"]
    return pd.DataFrame(rows, columns=columns + [f"p({c})" for c in classes])
