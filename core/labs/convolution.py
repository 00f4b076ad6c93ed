"""The convolution lab's maths: 3×3 kernels, stride and padding, max-pooling, a model's filters."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PRESETS: dict[str, list[list[float]]] = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "top edges": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "left edges": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "outline": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "blur": [[1 / 9] * 3] * 3,
    "gaussian blur": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
}


def output_size(size: int, kernel: int = 3, stride: int = 1, padding: int = 0) -> int:
    """Side of a convolution's output: ⌊(size + 2·padding − kernel) / stride⌋ + 1 (0 when none fits)."""
    return max((size + 2 * padding - kernel) // stride + 1, 0)


def read_grey(path: str | Path, max_side: int = 96, min_side: int = 32) -> np.ndarray:
    """One image as a grey float array in [0, 1], its longer side brought within [min_side, max_side].

    The aspect ratio is kept; tiny images (Digits' 8×8) are enlarged so a 3×3 kernel has room.
    """
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("L")
        side = max(im.size)
        if side < min_side:
            scale = min_side / side
            im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.BILINEAR)
        im.thumbnail((max_side, max_side))
        return np.asarray(im, dtype=np.float32) / 255.0


def convolve(image: np.ndarray, kernel, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The kernel slid over a grey H×W image (zero padding, as torch's conv2d: no kernel flip)."""
    import torch
    import torch.nn.functional as F

    x = torch.as_tensor(np.asarray(image, dtype=np.float32))[None, None]
    k = torch.as_tensor(np.asarray(kernel, dtype=np.float32))[None, None]
    return F.conv2d(x, k, stride=stride, padding=padding)[0, 0].numpy()


def convolve_at(image: np.ndarray, kernel, row: int, col: int, stride: int = 1, padding: int = 0):
    """One output pixel worked by hand: the (padded) 3×3 patch under the kernel, the products, their sum."""
    k = np.asarray(kernel, dtype=np.float32)
    padded = np.pad(np.asarray(image, dtype=np.float32), padding)
    r, c = row * stride, col * stride
    patch = padded[r : r + k.shape[0], c : c + k.shape[1]]
    products = patch * k
    return patch, products, float(products.sum())


def max_pool(image: np.ndarray, size: int = 2, stride: int | None = None) -> np.ndarray:
    """Max-pooling: the largest value of each size×size window (stride defaults to size)."""
    import torch
    import torch.nn.functional as F

    x = torch.as_tensor(np.asarray(image, dtype=np.float32))[None, None]
    return F.max_pool2d(x, size, stride=stride or size)[0, 0].numpy()


def first_conv(model):
    """The model's first Conv2d layer (in module order), or None when it has none."""
    from torch import nn

    return next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)


def filters(model) -> np.ndarray:
    """The first convolution's weights, out × in × k × k (what each filter looks for)."""
    conv = first_conv(model)
    if conv is None:
        raise ValueError("the model has no convolution")
    return conv.weight.detach().cpu().float().numpy()


def model_input(path: str | Path, size: int, mean: list[float], std: list[float]):
    """One image as the model was trained to see it: resized to size×size, its channels, normalised."""
    import torch
    from PIL import Image

    from core.runs import normalise

    with Image.open(path) as im:
        im = im.convert("L" if len(mean) == 1 else "RGB").resize((size, size))
        a = np.asarray(im, dtype=np.uint8)
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    return normalise(torch.from_numpy(a.copy())[None], mean, std)


def feature_maps(model, x) -> np.ndarray:
    """What the first convolution outputs for a normalised input 1×C×H×W: one map per filter."""
    import torch

    conv = first_conv(model)
    if conv is None:
        raise ValueError("the model has no convolution")
    with torch.no_grad():
        return conv(x.to(conv.weight.dtype))[0].cpu().numpy()
