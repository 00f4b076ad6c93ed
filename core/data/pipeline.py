"""One image through the data path, step by step, with the tensor's statistics at each step.

Every number comes from the same code and the same cache that training uses (data.image_tensor,
augment_batch, the training split's mean and std), so what the Data page shows is what the
model is fed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.config import Augment
from core.data import loaders as data
from core.data.augment import augment_batch
from core.data.datasets import Items


@dataclass(frozen=True)
class Stats:
    """What a beginner should look at in a tensor."""

    shape: tuple[int, ...]
    dtype: str
    min: float
    max: float
    mean: float
    std: float  # sample standard deviation, as torch.std

    @property
    def rank(self) -> int:
        """The number of axes: 2 for a grey picture as stored, 3 for C×H×W, 4 for a batch."""
        return len(self.shape)

    def row(self) -> dict:
        """A table row."""
        return {
            "shape": " × ".join(str(s) for s in self.shape),
            "rank": self.rank,
            "dtype": self.dtype,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std": self.std,
        }


def tensor_stats(x: torch.Tensor | np.ndarray) -> Stats:
    """Shape, dtype, min, max, mean and std of an array or a tensor (computed in float64)."""
    t = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x
    f = t.detach().to("cpu", torch.float64)
    std = float(f.std()) if f.numel() > 1 else 0.0
    return Stats(
        tuple(t.shape),
        str(t.dtype).removeprefix("torch."),
        float(f.min()),
        float(f.max()),
        float(f.mean()),
        std,
    )


@dataclass(frozen=True)
class Step:
    """One stage of the pipeline."""

    group: str  # file, resized, floats, augmented, normalised
    name: str
    what: str  # one sentence: what happened at this step
    tensor: torch.Tensor | np.ndarray
    stats: Stats
    picture: np.ndarray  # H×W or H×W×3 uint8, for showing


@dataclass(frozen=True)
class Normalisation:
    """The per-channel mean and std that batches are normalised with."""

    mean: torch.Tensor  # shape C
    std: torch.Tensor
    n_train: int


def normalisation(items: Items, size: int) -> Normalisation:
    """The mean and std over the training split's cached pixels, exactly as data.build takes them."""
    valid = torch.tensor(items.is_valid)
    x_train = data.rows_of(data.image_tensor(items, size), torch.nonzero(~valid).flatten())
    mean, std = data.channel_stats(x_train)
    return Normalisation(mean, std, len(x_train))


def raw_array(path: Path) -> tuple[np.ndarray, str]:
    """The pixels as the file stores them (H×W for grey, H×W×C for colour) and the file's mode."""
    from PIL import Image

    with Image.open(path) as img:
        img.seek(0)
        mode = img.mode
        if mode not in ("L", "RGB", "RGBA"):
            img = img.convert("RGB")
        return np.asarray(img).copy(), mode


def picture(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """A tensor as an image to look at: C×H×W floats or uint8 → H×W(×3) uint8.

    Floats in [0, 1] are scaled by 255; anything else (normalised values) is stretched from its
    own min to its max, since a normalised tensor has no colours of its own.
    """
    if isinstance(x, np.ndarray):
        return x if x.dtype == np.uint8 else np.clip(x, 0, 255).astype(np.uint8)
    t = x.detach().to("cpu")
    if t.dtype == torch.uint8:
        arr = t.numpy()
    else:
        t = t.double()
        lo, hi = float(t.min()), float(t.max())
        if lo < 0 or hi > 1:
            t = (t - lo) / max(hi - lo, 1e-12)
        arr = (t * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    arr = arr.transpose(1, 2, 0)
    return arr[..., 0] if arr.shape[-1] == 1 else arr


def image_steps(
    items: Items,
    file: str,
    size: int,
    norm: Normalisation,
    spec: Augment | None = None,
    n_draws: int = 4,
    seed: int = 0,
) -> list[Step]:
    """file → resized (the cache) → floats → augmented draws → normalised, for one image."""
    index = items.files.index(file)
    raw, mode = raw_array(items.root / file)
    channels = "height × width" if raw.ndim == 2 else "height × width × channels"
    steps = [
        Step(
            "file",
            "as stored",
            f"The file's pixels ({mode}): {channels}, whole numbers 0–255.",
            raw,
            tensor_stats(raw),
            raw,
        )
    ]
    cached = torch.from_numpy(np.array(data.image_tensor(items, size)[index]))  # a copy: may be mapped
    c = cached.shape[0]
    steps.append(
        Step(
            "resized",
            f"{size}×{size}",
            f"Centre-cropped to a square and resized to {size}×{size}, "
            f"channels first ({'1 channel: every image in the set is grey' if c == 1 else '3 channels'}); "
            "this is the tensor cache, decoded once.",
            cached,
            tensor_stats(cached),
            picture(cached),
        )
    )
    x = cached.float().div_(255)
    steps.append(
        Step(
            "floats",
            "÷ 255",
            "Divided by 255: floats from 0 to 1, what the maths works on.",
            x,
            tensor_stats(x),
            picture(x),
        )
    )
    mean = norm.mean.view(1, c, 1, 1)
    std = norm.std.view(1, c, 1, 1)
    if spec is not None:
        gen = torch.Generator().manual_seed(seed)
        drawn = augment_batch(x.unsqueeze(0).repeat(n_draws, 1, 1, 1), spec, gen)
        for k in range(n_draws):
            steps.append(
                Step(
                    "augmented",
                    f"draw {k + 1}",
                    f"A random {spec.describe()}: each epoch sees a new one.",
                    drawn[k],
                    tensor_stats(drawn[k]),
                    picture(drawn[k]),
                )
            )
        normed = (drawn - mean) / std
    else:
        normed = (x.unsqueeze(0) - mean) / std
    means = ", ".join(f"{v:.3f}" for v in norm.mean.tolist())
    stds = ", ".join(f"{v:.3f}" for v in norm.std.tolist())
    for k in range(normed.shape[0]):
        label = f"draw {k + 1}" if spec is not None else "model input"
        steps.append(
            Step(
                "normalised",
                label,
                f"Minus the training set's mean ({means}), divided "
                f"by its std ({stds}): values centred on 0, what the model sees.",
                normed[k],
                tensor_stats(normed[k]),
                picture(normed[k]),
            )
        )
    return steps


def augment_preview(
    paths: list[Path], size: int, spec: Augment, n_draws: int, seed: int = 0
) -> list[list[np.ndarray]]:
    """For each image, the resized original then n_draws random augmentations, as pictures."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for path in paths:
        x = torch.from_numpy(data.decode_image(path, size).transpose(2, 0, 1).copy())
        x = x.float().div_(255)
        drawn = augment_batch(x.unsqueeze(0).repeat(n_draws, 1, 1, 1), spec, gen)
        rows.append([picture(x)] + [picture(d) for d in drawn])
    return rows
