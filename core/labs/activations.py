"""The activations lab's maths: activation functions, a one-hidden-layer fit, a 2-D classifier."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FUNCTIONS = ("relu", "sigmoid", "tanh", "gelu")
CURVES = ("wave", "bump", "steps")
POINTS = ("circles", "xor", "spirals", "blobs")


def _module(name: str):
    """The torch module of an activation name ('none' is the identity)."""
    from torch import nn

    return {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU, "none": nn.Identity}[
        name
    ]()


def activation(name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The activation's values at x and its derivative (by autograd)."""
    import torch

    t = torch.as_tensor(np.asarray(x, dtype=np.float32)).requires_grad_(True)
    y = _module(name)(t)
    (grad,) = torch.autograd.grad(y.sum(), t)
    return y.detach().numpy(), grad.numpy()


def curve(kind: str, x: np.ndarray) -> np.ndarray:
    """A target curve on x: a wave, a bump or steps (for the network to fit)."""
    x = np.asarray(x, dtype=np.float32)
    if kind == "wave":
        return np.sin(2.5 * x) + 0.3 * x
    if kind == "bump":
        return np.exp(-4 * x**2) * 2 - 0.5
    if kind == "steps":
        return np.floor(x + 0.5).astype(np.float32) / 2
    raise ValueError(f"unknown curve {kind!r}")


def mlp(widths: list[int], act: str, n_in: int = 1, n_out: int = 1, seed: int = 0):
    """A fully connected network n_in → widths… → n_out with the activation after each hidden layer."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    layers, last = [], n_in
    for w in widths:
        layers += [nn.Linear(last, w), _module(act)]
        last = w
    layers.append(nn.Linear(last, n_out))
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class CurveFit:
    """A one-hidden-layer network's fit of a curve: the grid, the target, the fit, its loss."""

    x: np.ndarray
    target: np.ndarray
    fit: np.ndarray
    loss: float
    slope: float | None = None  # without an activation: the single line the network is
    intercept: float | None = None


def fit_curve(
    kind: str, units: int, act: str = "relu", steps: int = 200, lr: float = 0.05, seed: int = 0
) -> CurveFit:
    """Train 1 → units → 1 (Adam, full batch, MSE) on the curve; act 'none' leaves it linear."""
    import torch

    x = np.linspace(-2, 2, 120, dtype=np.float32)
    y = curve(kind, x)
    xt, yt = torch.from_numpy(x)[:, None], torch.from_numpy(y)[:, None]
    net = mlp([units], act, seed=seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(net(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        fit = net(xt)
        loss = float(torch.nn.functional.mse_loss(fit, yt))
    slope = intercept = None
    if act == "none":
        slope, intercept = collapse(net)
    return CurveFit(x, y, fit[:, 0].numpy(), loss, slope, intercept)


def collapse(net) -> tuple[float, float]:
    """A network of Linear layers only, multiplied out: (slope, intercept) of the one line it is.

    W₂(W₁x + b₁) + b₂ = (W₂W₁)x + (W₂b₁ + b₂): affine layers stacked are one affine function.
    """
    import torch
    from torch import nn

    w, b = torch.eye(1), torch.zeros(1)
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, nn.Linear):
                w, b = layer.weight @ w, layer.weight @ b + layer.bias
    return float(w[0, 0]), float(b[0])


def points(kind: str, n: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 2-D toy set within [-1.1, 1.1]², labels 0/1: circles, XOR, two spirals (yin and yang) or blobs."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(np.float32)
    if kind == "circles":
        r = np.where(y == 0, rng.uniform(0, 0.4, n), rng.uniform(0.6, 0.95, n))
        a = rng.uniform(0, 2 * math.pi, n)
        xy = np.stack([r * np.cos(a), r * np.sin(a)], 1)
    elif kind == "xor":
        xy = rng.uniform(-1, 1, (n, 2))
        xy += np.sign(xy) * 0.05
        y = ((xy[:, 0] > 0) ^ (xy[:, 1] > 0)).astype(np.float32)
    elif kind == "spirals":
        t = rng.uniform(0.25, 1, n) * 3 * math.pi
        a = t + np.where(y == 0, 0, math.pi)
        xy = np.stack([t * np.cos(a), t * np.sin(a)], 1) / (3 * math.pi)
    elif kind == "blobs":
        centre = np.where(y[:, None] == 0, -0.45, 0.45)
        xy = centre + rng.normal(0, 0.25, (n, 2))
    else:
        raise ValueError(f"unknown points {kind!r}")
    xy = np.clip(xy + rng.normal(0, noise, xy.shape), -1.1, 1.1)
    return xy.astype(np.float32), y


@dataclass(frozen=True)
class Classified:
    """A 2-D classifier's training: losses per step, snapshots of its decision surface, accuracy."""

    losses: list[float]
    steps: list[int]  # the steps at which a snapshot was taken
    grids: list[np.ndarray]  # P(class 1) on the grid at each snapshot step (res × res)
    axis: np.ndarray  # the grid's coordinates along x and y
    accuracy: float  # on the training points, after the last step


def train_classifier(
    xy: np.ndarray,
    y: np.ndarray,
    widths: list[int],
    act: str = "relu",
    lr: float = 0.03,
    steps: int = 300,
    every: int = 25,
    res: int = 40,
    seed: int = 0,
) -> Classified:
    """Train an MLP 2 → widths → 1 (Adam, full batch, binary cross-entropy), snapshot every `every` steps."""
    import torch

    X, Y = torch.from_numpy(xy), torch.from_numpy(y)[:, None]
    net = mlp(widths, act, n_in=2, seed=seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    axis = np.linspace(-1.2, 1.2, res, dtype=np.float32)
    gx, gy = np.meshgrid(axis, axis)
    grid = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1))
    losses, taken, grids = [], [], []

    def snapshot(step: int) -> None:
        with torch.no_grad():
            grids.append(torch.sigmoid(net(grid)).reshape(res, res).numpy())
        taken.append(step)

    snapshot(0)
    for step in range(1, steps + 1):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(X), Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % every == 0 or step == steps:
            snapshot(step)
    with torch.no_grad():
        accuracy = float(((net(X) > 0).float() == Y).float().mean())
    return Classified(losses, taken, grids, axis, accuracy)
