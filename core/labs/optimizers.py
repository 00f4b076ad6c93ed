"""SGD, momentum, RMSProp and Adam stepping on small 2-D surfaces, in numpy.

Every optimiser sees the same gradient function and the same learning rate, so their paths can
be compared point for point. The update rules follow PyTorch's (and fastai's defaults):

- SGD:       p -= lr·g
- momentum:  v = β·v + g;                      p -= lr·v
- RMSProp:   s = α·s + (1-α)·g²;               p -= lr·g / (√s + ε)
- Adam:      m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;
             p -= lr·m̂ / (√v̂ + ε) with m̂ = m/(1-β1ᵗ), v̂ = v/(1-β2ᵗ)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")
EPS = 1e-8
BLOW_UP = 1e6  # a coordinate past this means the run diverged; the path stops there


@dataclass(frozen=True)
class Surface:
    """A loss surface over two parameters: its value, its gradient, where runs start and end."""

    name: str
    f: Callable[[np.ndarray, np.ndarray], np.ndarray]
    grad: Callable[[float, float], np.ndarray]
    start: tuple[float, float]
    minimum: tuple[float, float]
    x_range: tuple[float, float]
    y_range: tuple[float, float]


def _bowl(x, y):
    return x**2 + y**2


def _ravine(x, y):
    return 0.05 * x**2 + 2.0 * y**2


def _rosenbrock(x, y):
    return (1 - x) ** 2 + 10.0 * (y - x**2) ** 2


def _saddle(x, y):
    return x**2 + 0.25 * y**4 - 0.5 * y**2


SURFACES = {
    s.name: s
    for s in (
        Surface(
            "bowl", _bowl, lambda x, y: np.array([2 * x, 2 * y]), (-4.0, 3.0), (0.0, 0.0), (-5, 5), (-5, 5)
        ),
        Surface(
            "ravine",
            _ravine,
            lambda x, y: np.array([0.1 * x, 4.0 * y]),
            (-8.0, 1.5),
            (0.0, 0.0),
            (-10, 10),
            (-3, 3),
        ),
        Surface(
            "rosenbrock",
            _rosenbrock,
            lambda x, y: np.array([-2 * (1 - x) - 40.0 * x * (y - x**2), 20.0 * (y - x**2)]),
            (-1.5, 2.0),
            (1.0, 1.0),
            (-2, 2),
            (-1, 3),
        ),
        Surface(
            "saddle",
            _saddle,
            lambda x, y: np.array([2 * x, y**3 - y]),
            (-2.0, 0.01),
            (0.0, 1.0),
            (-2.5, 2.5),
            (-2, 2),
        ),
    )
}


@dataclass(frozen=True)
class Path:
    """One optimiser's run: the points visited, the loss at each, the gradients and updates."""

    optimizer: str
    points: np.ndarray  # (n + 1, 2): the start, then the parameters after each step
    losses: np.ndarray  # (n + 1,)
    grads: np.ndarray  # (n, 2): the gradient each step used
    updates: np.ndarray  # (n, 2): what each step subtracted from the parameters
    diverged: bool


def run(
    surface: str,
    optimizer: str,
    lr: float,
    steps: int,
    beta1: float = 0.9,
    beta2: float = 0.99,
    start: tuple[float, float] | None = None,
) -> Path:
    """Step `optimizer` on `surface` from its start (or `start`) for `steps` steps.

    beta1 is the momentum (SGD with momentum, Adam's first moment); beta2 is the squared
    gradients' average (RMSProp's α, Adam's second moment). A run that blows up stops early.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}")
    s = SURFACES[surface]
    p = np.array(start or s.start, dtype=float)
    points, grads, updates = [p.copy()], [], []
    m = np.zeros(2)
    v = np.zeros(2)
    diverged = False
    for t in range(1, steps + 1):
        g = s.grad(*p)
        if optimizer == "sgd":
            u = lr * g
        elif optimizer == "momentum":
            m = beta1 * m + g
            u = lr * m
        elif optimizer == "rmsprop":
            v = beta2 * v + (1 - beta2) * g**2
            u = lr * g / (np.sqrt(v) + EPS)
        else:
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g**2
            u = lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + EPS)
        p = p - u
        if not np.all(np.isfinite(p)) or np.abs(p).max() > BLOW_UP:
            diverged = True
            break
        points.append(p.copy())
        grads.append(g)
        updates.append(u)
    pts = np.array(points)
    return Path(
        optimizer,
        pts,
        s.f(pts[:, 0], pts[:, 1]),
        np.array(grads).reshape(-1, 2),
        np.array(updates).reshape(-1, 2),
        diverged,
    )


def steps_to_minimum(path: Path, surface: str, tol: float = 0.05) -> int | None:
    """The first step after which the path stays within tol of the surface's minimum, or None."""
    d = np.linalg.norm(path.points - np.array(SURFACES[surface].minimum), axis=1)
    outside = np.nonzero(d > tol)[0]
    if path.diverged:
        return None
    if len(outside) == 0:
        return 0
    last = int(outside[-1])
    return last + 1 if last + 1 < len(d) else None


def race(surface: str, lr: float, steps: int, beta1: float = 0.9, beta2: float = 0.99) -> dict[str, Path]:
    """Every optimiser on the same surface with the same learning rate and betas."""
    return {name: run(surface, name, lr, steps, beta1, beta2) for name in OPTIMIZERS}


def grid(surface: str, n: int = 80) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """xs (n,), ys (n,) and the loss on the grid (n, n), rows along y, for a contour plot."""
    s = SURFACES[surface]
    xs = np.linspace(*s.x_range, n)
    ys = np.linspace(*s.y_range, n)
    xx, yy = np.meshgrid(xs, ys)
    return xs, ys, s.f(xx, yy)


def noisy_series(n: int = 100, noise: float = 0.5, seed: int = 0) -> np.ndarray:
    """A slow sine with noise on top: the kind of signal gradients are, to be averaged."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.sin(t / n * 2 * np.pi) + noise * rng.standard_normal(n)


def ewma(values: np.ndarray, beta: float, debias: bool = True) -> np.ndarray:
    """The exponentially weighted average a_t = β·a_(t-1) + (1-β)·x_t, starting at a_0 = 0.

    With debias, each a_t is divided by 1-βᵗ (Adam's bias correction), which removes the pull
    towards the zero it started from.
    """
    out = np.empty(len(values))
    a = 0.0
    for t, x in enumerate(values, start=1):
        a = beta * a + (1 - beta) * float(x)
        out[t - 1] = a / (1 - beta**t) if debias else a
    return out


def ewma_weights(beta: float, n: int = 50) -> np.ndarray:
    """How much the value k steps back counts in the average: (1-β)·βᵏ for k = 0 … n-1."""
    return (1 - beta) * beta ** np.arange(n)
