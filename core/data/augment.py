"""Augmentation on whole batches of float images (flip, rotate, zoom, shift, warp, lighting).

augment_pair moves segmentation masks with their images (nearest-neighbour for the masks).
"""

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


def _sampling_grid(x: torch.Tensor, spec: Augment, gen: torch.Generator) -> torch.Tensor:
    """One random sampling grid per image of x (N×C×H×W): the affine part, then the warp."""
    theta = affine_matrices(x.shape[0], spec, gen).to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if spec.max_warp > 0:  # drawn only when on, so runs without warp keep their random sequence
        grid = perspective_warp(grid, spec.max_warp, gen)
    return grid


def _lighting(x: torch.Tensor, spec: Augment, gen: torch.Generator) -> torch.Tensor:
    """Random brightness and contrast per image (values in [0, 1] stay there)."""
    if spec.max_lighting <= 0:
        return x
    shape = (x.shape[0], 1, 1, 1)
    span = spec.max_lighting
    brightness = (torch.rand(shape, generator=gen) * 2 - 1) * span * 0.5
    contrast = 1 + (torch.rand(shape, generator=gen) * 2 - 1) * span
    return ((x - 0.5) * contrast.to(x.device) + 0.5 + brightness.to(x.device)).clamp_(0, 1)


def augment_batch(x: torch.Tensor, spec: Augment, gen: torch.Generator) -> torch.Tensor:
    """Randomly transform a batch of images with values in [0, 1] (N×C×H×W), all at once."""
    grid = _sampling_grid(x, spec, gen)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return _lighting(x, spec, gen)


def augment_pair(
    x: torch.Tensor, mask: torch.Tensor, spec: Augment, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Transform images (N×C×H×W in [0, 1]) and their masks (N×H×W class indices) identically.

    Both are resampled through the same grid (flip, rotation, zoom, shift and warp), the images
    bilinearly and the masks by the nearest pixel, so a mask's pixels stay on their shape and
    stay class indices. Pixels that come from outside the picture are black in the image and 0
    (the first code, background) in the mask. Lighting changes the images only.
    """
    grid = _sampling_grid(x, spec, gen)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    m = mask.unsqueeze(1).to(grid.dtype)
    m = F.grid_sample(m, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return _lighting(x, spec, gen), m.squeeze(1).round_().to(mask.dtype)
