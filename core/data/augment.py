"""Augmentation on whole batches of float images (flip, rotate, zoom, shift, warp, lighting)."""

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


def perspective_warp(grid: torch.Tensor, max_warp: float, gen: torch.Generator) -> torch.Tensor:
    """Tilt each image of a sampling grid (N×H×W×2, coordinates in [-1, 1]) in perspective.

    A homography x' = x / (1 + a·x + b·y), y' = y / (1 + a·x + b·y), with a and b drawn from
    ±max_warp / 2: one side of the picture comes nearer, the opposite side moves away, as when
    a photo is taken at a slant (fastai's max_warp). With max_warp ≤ 0.5 the divisor stays ≥ 0.5.
    """
    n = grid.shape[0]
    a = (torch.rand(n, generator=gen) * 2 - 1) * (max_warp / 2)
    b = (torch.rand(n, generator=gen) * 2 - 1) * (max_warp / 2)
    a = a.to(grid.device, grid.dtype).view(n, 1, 1)
    b = b.to(grid.device, grid.dtype).view(n, 1, 1)
    denom = 1 + a * grid[..., 0] + b * grid[..., 1]
    return grid / denom.unsqueeze(-1)


def augment_batch(x: torch.Tensor, spec: Augment, gen: torch.Generator) -> torch.Tensor:
    """Randomly transform a batch of images with values in [0, 1] (N×C×H×W), all at once."""
    n = x.shape[0]
    theta = affine_matrices(n, spec, gen).to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if spec.max_warp > 0:  # drawn only when on, so runs without warp keep their random sequence
        grid = perspective_warp(grid, spec.max_warp, gen)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if spec.max_lighting > 0:
        shape = (n, 1, 1, 1)
        span = spec.max_lighting
        brightness = (torch.rand(shape, generator=gen) * 2 - 1) * span * 0.5
        contrast = 1 + (torch.rand(shape, generator=gen) * 2 - 1) * span
        x = ((x - 0.5) * contrast.to(x.device) + 0.5 + brightness.to(x.device)).clamp_(0, 1)
    return x
