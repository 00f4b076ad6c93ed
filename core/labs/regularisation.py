"""Overfitting and its cures on a toy: a small MLP fit to a dozen noisy points of a curve.

Weight decay is the penalty wd·Σw² added to the loss (L2) or wd·Σ|w| (L1); its gradient is
2·wd·w (or wd·sign(w)). Dropout zeroes each hidden activation with probability p in training
and scales the rest by 1/(1-p), so in eval mode nothing changes on average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

PENALTIES = ("l2", "l1")


def curve(x: np.ndarray) -> np.ndarray:
    """The truth the points are drawn from."""
    return np.sin(2.5 * x)


def toy_data(
    n_train: int = 12, n_valid: int = 60, noise: float = 0.3, seed: int = 0
) -> dict[str, np.ndarray]:
    """Few noisy training points and many validation points of curve() on [-1, 1]."""
    rng = np.random.default_rng(seed)
    x_train = np.sort(rng.uniform(-1, 1, n_train))
    x_valid = np.sort(rng.uniform(-1, 1, n_valid))
    return {
        "x_train": x_train,
        "y_train": curve(x_train) + noise * rng.standard_normal(n_train),
        "x_valid": x_valid,
        "y_valid": curve(x_valid) + noise * rng.standard_normal(n_valid),
    }


def penalty(ws: list[torch.Tensor], wd: float, kind: str = "l2") -> torch.Tensor:
    """wd·Σw² (L2) or wd·Σ|w| (L1) over the tensors ws."""
    if kind not in PENALTIES:
        raise ValueError(f"unknown penalty {kind!r}")
    if kind == "l2":
        return wd * sum((w**2).sum() for w in ws)
    return wd * sum(w.abs().sum() for w in ws)


def penalty_grad(w: np.ndarray, wd: float, kind: str = "l2") -> np.ndarray:
    """The penalty's gradient by hand: 2·wd·w for L2, wd·sign(w) for L1."""
    w = np.asarray(w, dtype=float)
    return 2 * wd * w if kind == "l2" else wd * np.sign(w)


def autograd_penalty_grad(w: np.ndarray, wd: float, kind: str = "l2") -> np.ndarray:
    """The same gradient as autograd finds it, for checking penalty_grad."""
    t = torch.tensor(np.asarray(w, dtype=float), requires_grad=True)
    penalty([t], wd, kind).backward()
    return t.grad.numpy()


@dataclass(frozen=True)
class Fit:
    """A trained toy model: its loss curves, its prediction on a grid, its weights."""

    steps: np.ndarray  # the steps at which losses were recorded
    train_loss: np.ndarray  # MSE on the training points (eval mode, no penalty)
    valid_loss: np.ndarray  # MSE on the validation points
    x_grid: np.ndarray
    y_grid: np.ndarray  # the eval-mode prediction
    samples: np.ndarray  # (k, len(x_grid)): train-mode predictions, each with its own mask
    weights: np.ndarray  # every weight matrix flattened

    @property
    def gap(self) -> float:
        """Validation loss minus training loss at the end: how much the model overfits."""
        return float(self.valid_loss[-1] - self.train_loss[-1])


def init_params(hidden: int = 32, seed: int = 0) -> dict[str, np.ndarray]:
    """Weights and biases of 1 → hidden → hidden → 1, initialised as nn.Linear does."""
    rng = np.random.default_rng(seed)
    out = {}
    for i, (n_in, n_out) in enumerate([(1, hidden), (hidden, hidden), (hidden, 1)], start=1):
        bound = 1 / np.sqrt(n_in)
        out[f"W{i}"] = rng.uniform(-bound, bound, (n_in, n_out))
        out[f"b{i}"] = rng.uniform(-bound, bound, n_out)
    return out


def loss_and_grads(
    params: dict[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    wd: float = 0.0,
    kind: str = "l2",
    masks: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[float, dict[str, np.ndarray]]:
    """MSE (+ the penalty on W1..W3) and its gradient by hand (backpropagation), in numpy.

    x and y are columns (n, 1); masks are dropout's multipliers after each hidden ReLU.
    """
    P = params
    z1 = x @ P["W1"] + P["b1"]
    h1 = np.maximum(z1, 0) * (masks[0] if masks else 1)
    z2 = h1 @ P["W2"] + P["b2"]
    h2 = np.maximum(z2, 0) * (masks[1] if masks else 1)
    out = h2 @ P["W3"] + P["b3"]
    diff = out - y
    loss = float(np.mean(diff**2))
    d_out = 2 * diff / diff.size
    g = {"W3": h2.T @ d_out, "b3": d_out.sum(0)}
    d_z2 = (d_out @ P["W3"].T) * (masks[1] if masks else 1) * (z2 > 0)
    g["W2"], g["b2"] = h1.T @ d_z2, d_z2.sum(0)
    d_z1 = (d_z2 @ P["W2"].T) * (masks[0] if masks else 1) * (z1 > 0)
    g["W1"], g["b1"] = x.T @ d_z1, d_z1.sum(0)
    if wd:
        ws = [P[k] for k in ("W1", "W2", "W3")]
        loss += float(wd * sum((w**2).sum() if kind == "l2" else np.abs(w).sum() for w in ws))
        for k in ("W1", "W2", "W3"):
            g[k] = g[k] + penalty_grad(P[k], wd, kind)
    return loss, g


def predict(params: dict[str, np.ndarray], x: np.ndarray, masks=None) -> np.ndarray:
    """The network's output for a column x (eval mode unless masks are given)."""
    h1 = np.maximum(x @ params["W1"] + params["b1"], 0) * (masks[0] if masks else 1)
    h2 = np.maximum(h1 @ params["W2"] + params["b2"], 0) * (masks[1] if masks else 1)
    return h2 @ params["W3"] + params["b3"]


def _masks(rng: np.random.Generator, n: int, hidden: int, p: float) -> tuple[np.ndarray, np.ndarray] | None:
    if not p:
        return None
    return tuple((rng.random((n, hidden)) >= p) / (1 - p) for _ in range(2))


def fit(
    wd: float = 0.0,
    dropout: float = 0.0,
    kind: str = "l2",
    steps: int = 300,
    lr: float = 0.03,
    hidden: int = 32,
    seed: int = 0,
    record_every: int = 10,
    n_samples: int = 5,
) -> Fit:
    """Train the MLP on toy_data(seed) with Adam (β 0.9, 0.999), full batch, the penalty in the loss."""
    d = {k: v[:, None] for k, v in toy_data(seed=seed).items()}
    params = init_params(hidden, seed)
    rng = np.random.default_rng(seed + 1)
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(v) for k, v in params.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    rec_steps, train, valid = [], [], []

    def record(step: int) -> None:
        rec_steps.append(step)
        train.append(float(np.mean((predict(params, d["x_train"]) - d["y_train"]) ** 2)))
        valid.append(float(np.mean((predict(params, d["x_valid"]) - d["y_valid"]) ** 2)))

    record(0)
    n = len(d["x_train"])
    for t in range(1, steps + 1):
        _, g = loss_and_grads(params, d["x_train"], d["y_train"], wd, kind, _masks(rng, n, hidden, dropout))
        for k in params:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            params[k] = params[k] - lr * (m[k] / (1 - b1**t)) / (np.sqrt(v[k] / (1 - b2**t)) + eps)
        if t % record_every == 0 or t == steps:
            record(t)
    x_grid = np.linspace(-1.1, 1.1, 200)[:, None]
    samples = [
        predict(params, x_grid, _masks(rng, len(x_grid), hidden, dropout))[:, 0] for _ in range(n_samples)
    ]
    return Fit(
        np.array(rec_steps),
        np.array(train),
        np.array(valid),
        x_grid[:, 0],
        predict(params, x_grid)[:, 0],
        np.stack(samples) if dropout else predict(params, x_grid).T,
        np.concatenate([params[k].ravel() for k in ("W1", "W2", "W3")]),
    )


def near_zero(ws: np.ndarray, tol: float = 1e-2) -> float:
    """The fraction of weights within tol of zero (L1 drives many there, L2 only shrinks)."""
    return float(np.mean(np.abs(ws) < tol))


def dropout_mask(n: int, p: float, seed: int = 0, training: bool = True) -> np.ndarray:
    """What nn.Dropout(p) multiplies n ones by: 0 or 1/(1-p) in training, all ones in eval."""
    torch.manual_seed(seed)
    layer = nn.Dropout(p)
    layer.train(training)
    return layer(torch.ones(n)).numpy()
