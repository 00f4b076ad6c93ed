"""The loss and metrics of multi-label training, on plain tensors (fastai's names and behaviour).

BCEWithLogits is fastai's BCEWithLogitsLossFlat without the TensorBase dispatch; the metrics
are fastai's accuracy_multi and a macro F1 named "f1_macro" that counts true and false
positives per label instead of storing every prediction (F1ScoreMulti(average='macro') does).
"""

from __future__ import annotations

from functools import partial

import torch
from fastai.learner import AvgMetric, Metric
from fastai.metrics import accuracy_multi
from torch import nn

from core.analysis.multilabel import macro_f1


class BCEWithLogits(nn.BCEWithLogitsLoss):
    """Binary cross-entropy on logits: the mean over every (image, label) pair, as fastai's
    BCEWithLogitsLossFlat, with the activation (sigmoid) and decodes (above the threshold) that
    fastai's get_preds and predict use."""

    def __init__(self, thresh: float = 0.5):
        super().__init__()
        self.thresh = float(thresh)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The mean binary cross-entropy of logits against multi-hot targets (made float)."""
        return super().forward(input.float(), target.float().view_as(input))

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        """Logits to one probability per label."""
        return torch.sigmoid(x)

    def decodes(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities to the labels present (True above the threshold)."""
        return x > self.thresh


class F1Macro(Metric):
    """The mean over labels of F1 at a threshold, over the whole validation pass."""

    def __init__(self, thresh: float = 0.5):
        self.thresh = float(thresh)
        self.reset()

    @property
    def name(self) -> str:
        """The recorder's column name."""
        return "f1_macro"

    def reset(self) -> None:
        """Start a new validation pass."""
        self.tp = self.fp = self.fn = None

    def accumulate(self, learn) -> None:
        """Add one batch's true positives, false positives and false negatives per label."""
        with torch.no_grad():
            pred = torch.sigmoid(learn.pred.detach().float()) > self.thresh
            targ = learn.yb[0].detach().view_as(pred) > 0.5
            batch = [(pred & targ).sum(0), (pred & ~targ).sum(0), (~pred & targ).sum(0)]
        batch = [b.cpu().long() for b in batch]
        if self.tp is None:
            self.tp, self.fp, self.fn = batch
        else:
            self.tp, self.fp, self.fn = self.tp + batch[0], self.fp + batch[1], self.fn + batch[2]

    @property
    def value(self) -> float | None:
        """The pass's macro F1 (None before any batch)."""
        if self.tp is None:
            return None
        return macro_f1(self.tp.numpy(), self.fp.numpy(), self.fn.numpy())


def metrics(thresh: float) -> list:
    """The learner's metrics at thresh: fastai's accuracy_multi (sigmoid=True) and f1_macro."""
    return [AvgMetric(partial(accuracy_multi, thresh=float(thresh), sigmoid=True)), F1Macro(thresh)]
