"""SGD by hand: a polynomial (a line, or a quadratic) fitted to noisy points by gradient descent.

Parameters are ordered from the highest power down: (slope, intercept) for a line, (a, b, c) for
a·x² + b·x + c. The loss is the mean squared error. Every step's gradient comes from torch's
autograd, exactly as `loss.backward()` gives it in a training loop; `gradient` is the same
derivative written out by hand (used for the arrows on the loss surface), and
`finite_difference` checks both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LINE = (1.5, 0.5)  # the true slope and intercept of the points
QUADRATIC = (2.0, -1.0, 0.25)  # the true a, b, c
START = {1: (-1.0, -1.0), 2: (0.0, 0.0, 0.0)}  # where descent starts, by degree


def points(degree: int = 1, n: int = 30, noise: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n noisy points (x in [-1, 1]) around the true line (degree 1) or parabola (degree 2)."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-1.0, 1.0, n))
    y = predict(LINE if degree == 1 else QUADRATIC, x) + rng.normal(0.0, noise, n)
    return x, y


def features(x: np.ndarray, degree: int) -> np.ndarray:
    """The columns x^degree … x^1, x^0 (one row per point), matching the parameters' order."""
    return np.stack([np.asarray(x, dtype=float) ** p for p in range(degree, -1, -1)], axis=-1)


def predict(params, x: np.ndarray) -> np.ndarray:
    """The polynomial with these coefficients (highest power first) at x."""
    params = np.asarray(params, dtype=float)
    return features(x, len(params) - 1) @ params


def loss(params, x: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of the polynomial on the points."""
    return float(np.mean((predict(params, x) - y) ** 2))


def gradient(params, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The MSE's gradient by hand: d/dp_k = 2/n · Σ (prediction − y) · x^k."""
    params = np.asarray(params, dtype=float)
    f = features(x, len(params) - 1)
    return 2.0 / len(x) * f.T @ (f @ params - y)


def finite_difference(params, x: np.ndarray, y: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """The gradient estimated by central differences: (L(p + eps) − L(p − eps)) / 2·eps."""
    params = np.asarray(params, dtype=float)
    out = np.empty_like(params)
    for k in range(len(params)):
        step = np.zeros_like(params)
        step[k] = eps
        out[k] = (loss(params + step, x, y) - loss(params - step, x, y)) / (2 * eps)
    return out


@dataclass(frozen=True)
class Step:
    """One update as autograd computed it: w -= lr * w.grad, with every number of it."""

    before: tuple[float, ...]
    grad: tuple[float, ...]
    lr: float
    after: tuple[float, ...]
    loss: float  # the loss before the step, on the batch used


def autograd_step(params, x: np.ndarray, y: np.ndarray, lr: float) -> Step:
    """One gradient-descent step on (x, y): the loss's backward pass gives w.grad, then w -= lr·grad."""
    import torch

    w = torch.tensor(np.asarray(params, dtype=float), dtype=torch.float64, requires_grad=True)
    f = torch.as_tensor(features(x, len(params) - 1), dtype=torch.float64)
    value = ((f @ w - torch.as_tensor(y, dtype=torch.float64)) ** 2).mean()
    value.backward()
    with torch.no_grad():
        grad = w.grad.clone()
        w -= lr * w.grad
    return Step(
        before=tuple(float(v) for v in params),
        grad=tuple(grad.tolist()),
        lr=float(lr),
        after=tuple(w.detach().tolist()),
        loss=float(value.detach()),
    )


@dataclass(frozen=True)
class Descent:
    """A run of gradient descent: the parameters after each step and the full-data loss there."""

    path: np.ndarray  # (steps + 1, n_params), starting point first
    losses: np.ndarray  # (steps + 1,) MSE on all the points

    @property
    def diverged(self) -> bool:
        """True when the loss grew beyond the start's or stopped being a number."""
        finite = np.isfinite(self.losses)
        return bool(not finite.all() or self.losses[-1] > self.losses[0])


def descend(
    start,
    x: np.ndarray,
    y: np.ndarray,
    lr: float,
    steps: int,
    batch_size: int | None = None,
    seed: int = 0,
) -> Descent:
    """steps updates from start with autograd; batch_size None or ≥ n is full-batch descent.

    Mini-batches are drawn by shuffling the points each epoch (seeded), as a DataLoader does.
    A diverging run stops once its parameters overflow, the rest of the path repeating the last.
    """
    import torch

    n = len(x)
    bs = n if batch_size is None or batch_size >= n else int(batch_size)
    per_epoch = -(-n // bs)
    rng = np.random.default_rng(seed)
    order = np.arange(n)
    f = torch.as_tensor(features(x, len(start) - 1), dtype=torch.float64)
    target = torch.as_tensor(np.asarray(y, dtype=float), dtype=torch.float64)
    params = np.asarray(start, dtype=float)
    path = [params]
    for i in range(steps):
        j = i % per_epoch
        if bs < n and j == 0:
            order = rng.permutation(n)
        idx = order[j * bs : (j + 1) * bs]
        if not np.all(np.isfinite(params)) or np.abs(params).max() > 1e8:
            path.append(params)
            continue
        w = torch.tensor(params, dtype=torch.float64, requires_grad=True)
        t = torch.from_numpy(idx)
        ((f[t] @ w - target[t]) ** 2).mean().backward()  # the same step as autograd_step's
        with torch.no_grad():
            w -= lr * w.grad
        params = w.detach().numpy()
        path.append(params)
    arr = np.array(path)
    with np.errstate(over="ignore", invalid="ignore"):
        losses = np.mean((features(x, arr.shape[1] - 1) @ arr.T - y[:, None]) ** 2, axis=0)
    return Descent(path=arr, losses=losses)


def largest_stable_lr(x: np.ndarray, degree: int = 1) -> float:
    """Above this learning rate full-batch descent on the MSE diverges: 2 / the Hessian's top eigenvalue.

    The MSE is quadratic in the parameters, with Hessian 2/n · FᵀF for the feature matrix F.
    """
    f = features(x, degree)
    return float(2.0 / np.linalg.eigvalsh(2.0 / len(x) * f.T @ f).max())


def best_fit(x: np.ndarray, y: np.ndarray, degree: int = 1) -> np.ndarray:
    """The parameters that minimise the MSE (least squares), where descent should end."""
    return np.linalg.lstsq(features(x, degree), y, rcond=None)[0]


def surface(x: np.ndarray, y: np.ndarray, slopes: np.ndarray, intercepts: np.ndarray) -> np.ndarray:
    """The MSE of a line over a grid: result[i, j] is the loss at (slopes[j], intercepts[i])."""
    s = np.asarray(slopes, dtype=float)[None, :, None]
    b = np.asarray(intercepts, dtype=float)[:, None, None]
    return np.mean((s * x[None, None, :] + b - y[None, None, :]) ** 2, axis=-1)


def gradient_field(
    x: np.ndarray, y: np.ndarray, slopes: np.ndarray, intercepts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The MSE's gradient (d/dslope, d/dintercept) of a line at every point of a grid."""
    s, b = np.meshgrid(np.asarray(slopes, float), np.asarray(intercepts, float))
    mx, my, mxx, mxy = x.mean(), y.mean(), (x * x).mean(), (x * y).mean()
    d_slope = 2 * (s * mxx + b * mx - mxy)
    d_intercept = 2 * (s * mx + b - my)
    return d_slope, d_intercept
