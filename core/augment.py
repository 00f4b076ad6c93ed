"""Augmentation on whole batches of float images (flip, rotate, zoom, shift, lighting)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from core.config import Augment


def affine_matrices(n: int, spec: Augment, gen: torch.Generator) -> torch.Tensor:
    """n random 2×3 affine matrices (rotation, zoom, shift and optional mirror)."""
    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen) * (hi - lo) + lo

    angle = uniform(-spec.max_rotate, spec.max_rotate) * (math.pi / 180)
    scale = 1.0 / uniform(1.0, spec.max_zoom)  # sampling a smaller area zooms in
    mirror = torch.ones(n)
    if spec.flip:
        mirror = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    tx = uniform(-spec.max_translate, spec.max_translate) * 2  # grid units span [-1, 1]
    ty = uniform(-spec.max_translate, spec.max_translate) * 2
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack(
        [torch.stack([cos * mirror, -sin, tx], 1), torch.stack([sin * mirror, cos, ty], 1)], 1
    )
    return theta


def augment_batch(x: torch.Tensor, spec: Augment, gen: torch.Generator) -> torch.Tensor:
    """Randomly transform a batch of images with values in [0, 1] (N×C×H×W), all at once."""
    n = x.shape[0]
    theta = affine_matrices(n, spec, gen).to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if spec.max_lighting > 0:
        shape = (n, 1, 1, 1)
        span = spec.max_lighting
        brightness = (torch.rand(shape, generator=gen) * 2 - 1) * span * 0.5
        contrast = 1 + (torch.rand(shape, generator=gen) * 2 - 1) * span
        x = ((x - 0.5) * contrast.to(x.device) + 0.5 + brightness.to(x.device)).clamp_(0, 1)
    return x
