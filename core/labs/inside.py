"""Inside a model: activation statistics layer by layer, BatchNorm's effect, dropout's mask."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from core.labs.hooks import hooked_eval, leaves


def run_images(loaded, n: int = 64) -> tuple[np.ndarray, list[str]]:
    """Up to n validation images of a run's dataset (uint8 N×C×H×W, evenly spread) and their labels."""
    from core.analysis import interpret
    from core.data import loaders

    items = interpret.dataset_items(loaded.config)
    images = loaders.image_tensor(items, loaded.record.size)
    valid = [i for i, v in enumerate(items.is_valid) if v] or list(range(len(items.files)))
    picked = np.linspace(0, len(valid) - 1, num=min(n, len(valid))).round().astype(int)
    rows = [valid[i] for i in picked]
    return images[rows], [items.labels[i] for i in rows]


def normalised(loaded, images: np.ndarray) -> torch.Tensor:
    """uint8 images as the run's model takes them (scaled, minus mean, over std)."""
    from core import runs

    return runs.normalise(images, loaded.record.mean, loaded.record.std)


def activation_stats(model: nn.Module, x: torch.Tensor) -> list[dict]:
    """Mean, standard deviation and share of zeros of every leaf layer's output, in order.

    The model runs in eval mode (as in use) without gradients; x is a normalised batch.
    """
    rows: list[dict] = []

    def hook(name: str, module: nn.Module):
        def record(_mod, _inp, out):
            if isinstance(out, torch.Tensor) and out.is_floating_point():
                o = out.detach().float()
                rows.append(
                    {
                        "layer": name,
                        "kind": type(module).__name__,
                        "mean": float(o.mean()),
                        "std": float(o.std()) if o.numel() > 1 else 0.0,
                        "zeros": float((o == 0).float().mean()),
                    }
                )

        return record

    with hooked_eval(model, [(m, hook(n, m)) for n, m in leaves(model)]):
        model(x)
    return rows


def batchnorm_effect(
    shift: float, scale: float, n: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Activations drawn with mean shift and spread scale, before and after a BatchNorm (training mode).

    BatchNorm subtracts the batch's mean and divides by its standard deviation, then multiplies by
    a learned weight (1 at first) and adds a learned bias (0 at first).
    """
    g = torch.Generator().manual_seed(seed)
    before = torch.randn(n, 1, generator=g) * scale + shift
    bn = nn.BatchNorm1d(1).train()
    with torch.no_grad():
        after = bn(before)
    return before[:, 0].numpy(), after[:, 0].numpy()


def dropout_demo(p: float, training: bool, shape: tuple[int, ...] = (8, 8), seed: int = 0) -> dict:
    """Dropout applied to positive activations of shape: input, output and the mask of kept units.

    In training each unit is zeroed with probability p and the kept ones are divided by 1 - p, so
    the expected sum is unchanged; in eval mode dropout passes its input through untouched.
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g) + 0.5
    layer = nn.Dropout(p).train(training)
    torch.manual_seed(seed)
    with torch.no_grad():
        y = layer(x)
    kept = y != 0
    return {
        "input": x.numpy(),
        "output": y.numpy(),
        "kept": kept.numpy(),
        "zeroed_share": float(1 - kept.float().mean()),
    }
