"""The regression losses of tables and ratings on plain tensors: MSE, MAE (L1) and Huber.

Each flattens predictions and targets to one value per row first, as fastai's MSELossFlat and
L1LossFlat do, and has fastai's activation and decodes (the output is already the value).
core.train.tabular.regression_loss picks one by name; collaborative filtering trains with MSE.
"""

from __future__ import annotations

import torch
from torch import nn


class _Flat(nn.Module):
    """A regression loss on predictions and targets flattened to one value per row."""

    def forward(self, pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
        """The loss of the batch (mean over rows)."""
        return self.loss(pred.float().reshape(-1), targ.float().reshape(-1))

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        """The output is already the value."""
        return x

    def decodes(self, x: torch.Tensor) -> torch.Tensor:
        """The output is already the value."""
        return x


class MSE(_Flat):
    """Mean squared error (fastai's MSELossFlat): a row twice as far off costs four times as much."""

    loss = staticmethod(nn.functional.mse_loss)


class MAE(_Flat):
    """Mean absolute error (fastai's L1LossFlat): every unit of error costs the same."""

    loss = staticmethod(nn.functional.l1_loss)


class Huber(_Flat):
    """Huber loss with delta in the target's units: squared (halved) below delta, linear above."""

    def __init__(self, delta: float):
        super().__init__()
        self.delta = float(delta)

    def loss(self, pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
        """The mean Huber loss at the loss's delta."""
        return nn.functional.huber_loss(pred, targ, delta=self.delta)
