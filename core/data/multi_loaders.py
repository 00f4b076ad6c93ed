"""The multi-label fast path: the single-label uint8 image cache, with N×C multi-hot float targets.

The images are decoded once into the same cache single-label uses (core.data.loaders.image_tensor
only needs a root and a list of files); the targets are the labels.csv tags as multi-hot rows in
vocab order, sliced by index beside the images by the same TensorLoader.
"""

from __future__ import annotations

import torch

from core.config import TrainConfig
from core.data.datasets import DatasetInfo, resolve
from core.data.loaders import DataBundle, default_device, image_tensor, make_loaders
from core.errors import UserError


def targets(items) -> torch.Tensor:
    """The items' tags as float32 multi-hot rows N×C (vocab order), what BCE learns against."""
    return torch.from_numpy(items.targets()).float()


def read(cfg: TrainConfig, info: DatasetInfo, size: int):
    """The dataset's multi-label items, their pixels (uint8 N×C×H×W numpy, memory-mapped when over
    the cache budget) and data version, read under the dataset's lock (core.data.access): never
    half-way through a cleaning."""
    from core.data import access, layouts

    with access.dataset(info) as info:
        items = access.items(info, valid_pct=cfg.valid_pct, seed=cfg.seed)
        if not isinstance(items, layouts.MultiItems):
            raise UserError(
                f"{info.name} is not a multi-label dataset (it has no labels.csv of file,labels); "
                "train it as the task its data are laid out for."
            )
        if len(items.vocab) < 2:
            raise UserError(
                f"{info.name} uses fewer than two labels; a multi-label model needs at least two."
            )
        arr = image_tensor(items, size)  # an np.memmap when over the cache budget: make_loaders streams it
        version = layouts.fingerprint(items)
    return items, arr, version


def build(cfg: TrainConfig, info: DatasetInfo | None = None, device=None) -> DataBundle:
    """Train and validation loaders for cfg's multi-label dataset, through the tensor cache."""
    info = info or resolve(cfg.dataset)
    size = cfg.size or info.default_size
    items, arr, version = read(cfg, info, size)
    valid = torch.tensor(items.is_valid, dtype=torch.bool)
    train_idx = torch.nonzero(~valid).flatten()
    valid_idx = torch.nonzero(valid).flatten()
    if len(train_idx) == 0 or len(valid_idx) == 0:
        raise UserError(f"{info.name} needs images in both the training and validation split.")
    device = torch.device(device) if device is not None else default_device()
    bundle = make_loaders(cfg, items, arr, targets(items), train_idx, valid_idx, size, cfg.seed, device)
    bundle.data_fingerprint = version
    return bundle
