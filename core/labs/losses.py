"""Loss functions: MSE, MAE and Huber fits of a line with a movable outlier; RMSE beside MSE;
cross-entropy beside accuracy; softmax with a temperature (and with a ReLU before it).

Every fit is exact or converged to 1e-9, so a figure and a test see the loss's own optimum.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

LOSSES = ("mse", "mae", "huber")
TRUE_LINE = (1.0, 0.0)  # the slope and intercept the ordinary points follow


def points(n: int = 12, noise: float = 0.15, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n points (x in [0, 1]) near y = x, without the outlier."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, n)
    return x, TRUE_LINE[0] * x + TRUE_LINE[1] + rng.normal(0.0, noise, n)


def with_outlier(x: np.ndarray, y: np.ndarray, outlier: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The points plus one outlier at (x, y) = outlier, appended last."""
    return np.append(x, outlier[0]), np.append(y, outlier[1])


def pointwise(residuals: np.ndarray, kind: str, delta: float = 1.0) -> np.ndarray:
    """Each residual's loss: r² (mse), |r| (mae), or Huber (r²/2 inside ±delta, linear outside)."""
    r = np.asarray(residuals, dtype=float)
    if kind == "mse":
        return r**2
    if kind == "mae":
        return np.abs(r)
    if kind == "huber":
        a = np.abs(r)
        return np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))
    raise ValueError(f"unknown loss {kind!r}")


def mean_loss(params, x: np.ndarray, y: np.ndarray, kind: str, delta: float = 1.0) -> float:
    """The mean of the pointwise loss of the line (slope, intercept) on the points."""
    return float(np.mean(pointwise(params[0] * x + params[1] - y, kind, delta)))


def _least_squares(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    a = np.stack([x, np.ones_like(x)], axis=1)
    if w is not None:
        s = np.sqrt(w)
        a, y = a * s[:, None], y * s
    return np.linalg.lstsq(a, y, rcond=None)[0]


def fit(x: np.ndarray, y: np.ndarray, kind: str, delta: float = 1.0) -> np.ndarray:
    """The line (slope, intercept) minimising the mean loss on the points.

    mse: least squares. mae: exact — an optimum of the absolute error passes through two of the
    points (a vertex of the linear programme), so every pair is tried. huber: iteratively
    reweighted least squares (weight 1 inside ±delta, delta/|r| outside), started from the MAE fit.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if kind == "mse":
        return _least_squares(x, y)
    if kind == "mae":
        i, j = np.array(list(combinations(range(len(x)), 2))).T
        keep = x[i] != x[j]
        i, j = i[keep], j[keep]
        slopes = (y[j] - y[i]) / (x[j] - x[i])
        intercepts = y[i] - slopes * x[i]
        cost = np.abs(slopes[:, None] * x[None, :] + intercepts[:, None] - y[None, :]).mean(axis=1)
        k = int(np.argmin(cost))
        return np.array([slopes[k], intercepts[k]])
    if kind == "huber":
        params = fit(x, y, "mae")
        for _ in range(200):
            r = np.abs(params[0] * x + params[1] - y)
            w = np.where(r <= delta, 1.0, delta / np.maximum(r, 1e-12))
            new = _least_squares(x, y, w)
            if np.abs(new - params).max() < 1e-10:
                return new
            params = new
        return params
    raise ValueError(f"unknown loss {kind!r}")


def fits(x: np.ndarray, y: np.ndarray, delta: float = 1.0) -> dict[str, np.ndarray]:
    """The MSE, MAE and Huber lines of the same points, by loss name."""
    return {kind: fit(x, y, kind, delta) for kind in LOSSES}


def rmse_and_mse(x: np.ndarray, y: np.ndarray, slopes: np.ndarray, intercept: float, scale: float = 1.0):
    """MSE and RMSE of lines of these slopes through a fixed intercept, the y values times scale.

    Both have their minimum at the same slope (the square root is increasing), but the MSE is in
    squared units (×scale²) and the RMSE in the units of y (×scale).
    """
    s = np.asarray(slopes, dtype=float)[:, None]
    mse = np.mean((scale * (s * x[None, :] + intercept) - scale * y[None, :]) ** 2, axis=1)
    return mse, np.sqrt(mse)


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    """exp(z / T) / Σ exp(z / T) along the last axis (max subtracted, so large z cannot overflow)."""
    z = np.asarray(logits, dtype=float) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def relu(z) -> np.ndarray:
    """max(z, 0): what a ReLU before the softmax would do to the logits."""
    return np.maximum(np.asarray(z, dtype=float), 0.0)


# A handful of predictions over three classes: logits (rows) and the true class of each.
LOGITS = np.array(
    [
        [2.0, 0.5, -1.0],
        [0.2, 1.5, 0.1],
        [0.3, 0.1, 0.4],
        [-0.5, 2.5, 0.0],
        [1.0, 1.1, -2.0],
        [0.0, -1.0, 1.2],
    ]
)
TARGETS = np.array([0, 1, 2, 0, 0, 1])


def scored(logits: np.ndarray, targets: np.ndarray, margin: float = 0.0) -> dict[str, np.ndarray | float]:
    """Cross-entropy and accuracy when margin is added to every true class's logit.

    Per prediction: the probability of the true class, −log of it (its cross-entropy), and
    whether the true class has the largest logit; then the mean loss and the accuracy.
    """
    z = np.array(logits, dtype=float)
    rows = np.arange(len(targets))
    z[rows, targets] += margin
    p = softmax(z)[rows, targets]
    correct = z.argmax(axis=1) == targets
    loss = -np.log(p)
    return {
        "p_true": p,
        "loss": loss,
        "correct": correct,
        "cross_entropy": float(loss.mean()),
        "accuracy": float(correct.mean()),
    }


def margin_sweep(
    logits: np.ndarray, targets: np.ndarray, margins: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean cross-entropy and accuracy over a range of margins: one smooth, one in steps."""
    out = [scored(logits, targets, m) for m in margins]
    return np.array([o["cross_entropy"] for o in out]), np.array([o["accuracy"] for o in out])
