"""The fast data path for segmentation: images and masks decoded once into uint8 caches.

Images go through the image cache of core.data.loaders (the same decoding as single-label
and Predict). Each mask is decoded once with the same centre crop, resized by the nearest
pixel (so its values stay class indices) and kept as uint8 N×H×W beside the images, in the
workspace's cache/ folder (core.data.tensor_cache: in memory within the cache budget, else
memory-mapped and streamed), keyed by the masks' files, the size and the codes.
Batches are plain tensors: normalised float images and long masks, augmented together
(core.data.augment.augment_pair).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core import fsutil, workspace
from core.config import TrainConfig
from core.data import image_cache, loaders, tensor_cache
from core.data.augment import augment_pair
from core.data.datasets import DatasetInfo, resolve
from core.data.layouts import SegItems, fingerprint
from core.errors import UserError

MASK_CACHE_VERSION = 2  # bump when mask decoding changes, so old caches are not reused
MASK_MODES = ("1", "L", "P")  # single-channel 8-bit (or 1-bit) images whose values are indices


def _mask_key(items: SegItems, size: int) -> str:
    head = f"mask-v{MASK_CACHE_VERSION}|{items.root}|{size}|{len(items.codes)}"
    return "mask-" + fsutil.files_digest(items.root, items.masks, head)[:24]


def mask_values(path: Path, n_codes: int, shown: str | None = None) -> np.ndarray:
    """A mask file's class indices at full size (H×W uint8), checked against the codes.

    UserError naming the file when it is not a single-channel 8-bit image or holds a value
    with no code.
    """
    from PIL import Image

    shown = shown or Path(path).name
    try:
        with Image.open(path) as img:
            img.seek(0)
            if img.mode not in MASK_MODES:
                raise UserError(
                    f"The mask {shown} is a {img.mode} image; a mask is an 8-bit single-channel PNG "
                    "whose values are class indices."
                )
            arr = np.asarray(img).astype(np.uint8)  # a palette image gives its indices, not colours
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise UserError(f"Cannot read the mask {shown}: {e}") from e
    top = int(arr.max()) if arr.size else 0
    if top >= n_codes:
        raise UserError(
            f"The mask {shown} holds the value {top}, but codes.txt names only {n_codes} classes "
            f"(values 0 to {n_codes - 1})."
        )
    return arr


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """A mask centre-cropped to a square and resized to size×size by the nearest pixel.

    The crop is the one core.data.images.square_resize gives its image, so they stay aligned.
    """
    from PIL import Image

    h, w = mask.shape
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    square = Image.fromarray(np.ascontiguousarray(mask[top : top + side, left : left + side]))
    return np.asarray(square.resize((size, size), Image.Resampling.NEAREST), dtype=np.uint8)


def aligned_mask(items: SegItems, i: int, n_codes: int | None = None) -> np.ndarray:
    """The mask of items' i-th image at full size, turned as the image is when decoded (EXIF
    orientation, core.data.images.upright), so its pixels lie on the image's. Checked: the mask's
    size against the image's as stored, and its values against n_codes (the dataset's codes by
    default; 256 reads any value, as the Data page shows them)."""
    from PIL import Image

    from core.data.images import orientation, turn_like

    rel = items.masks[i]
    arr = mask_values(items.root / rel, len(items.codes) if n_codes is None else n_codes, rel)
    try:
        with Image.open(items.root / items.files[i]) as img:
            (width, height), tag = img.size, orientation(img)
    except OSError as e:
        raise UserError(f"Cannot read image {items.files[i]}: {e}") from e
    if (arr.shape[1], arr.shape[0]) != (width, height):
        raise UserError(
            f"The mask {rel} is {arr.shape[1]}×{arr.shape[0]} pixels but its image {items.files[i]} is "
            f"{width}×{height}; a mask has its image's size."
        )
    return turn_like(arr, tag)


def decode_mask(items: SegItems, i: int, size: int) -> np.ndarray:
    """The mask of items' i-th image at size×size as training sees it (aligned_mask, resize_mask)."""
    return resize_mask(aligned_mask(items, i), size)


def mask_tensor(items: SegItems, size: int) -> np.ndarray:
    """Every mask of items as uint8 N×size×size class indices, cached on disk (decoded a chunk at
    a time) and in memory, or memory-mapped read-only when over the cache budget."""

    def write(tmp: Path) -> None:
        n = len(items.masks)
        out = tensor_cache.NpyWriter(tmp, (n, size, size))
        try:
            for start in range(0, n, image_cache.DECODE_CHUNK):
                stop = min(start + image_cache.DECODE_CHUNK, n)
                out.append(np.stack([decode_mask(items, i, size) for i in range(start, stop)]))
        finally:
            out.close_early()
        out.close()

    return tensor_cache.cached_array(_mask_key(items, size), write)


class SegLoader(loaders.TensorLoader):
    """A TensorLoader whose targets are masks: batches of (normalised float images, long masks).

    With augmentation on, each image and its mask go through the same flip, rotation, zoom,
    shift and warp (the mask by the nearest pixel); lighting changes the image only.
    """

    def decode_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (normalised, augmented when set) and their masks (long) for the given indices."""
        yb = self.send(self.y.index_select(0, idx))
        ready = self._normalised()
        if ready is not None:
            return self.send(ready.index_select(0, idx)), yb.long()
        xb = self.send(self.x.index_select(0, idx)).float().div_(255)
        if self.augment is not None:
            xb, yb = augment_pair(xb, yb, self.augment, self.gen)
        xb = (xb - self.mean.to(self.device)) / self.std.to(self.device)
        return xb, yb.long()


def seg_items(info: DatasetInfo | str, valid_pct: float = 0.2, seed: int = 0) -> SegItems:
    """The dataset's images and masks as they are now, read under its lock (core.data.access)."""
    from core.data import access

    items = access.items(info, valid_pct=valid_pct, seed=seed)
    if not isinstance(items, SegItems):
        name = info if isinstance(info, str) else info.name
        raise UserError(f"{name} is not a segmentation dataset (images/, masks/ and codes.txt).")
    return items


def arrays(items: SegItems, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 N×C×H×W) and masks (uint8 N×H×W) of items at size, through the caches
    (each an np.memmap, read-only, when over the cache budget)."""
    return loaders.image_tensor(items, size), mask_tensor(items, size)


def tensors(items: SegItems, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """arrays() as tensors, to read: a memory-mapped cache gives a read-only view, so slice it
    and copy (.long(), .float()) before changing anything."""
    return tuple(tensor_cache.as_tensor(a) for a in arrays(items, size))


def build(cfg: TrainConfig, info: DatasetInfo | None = None, device=None) -> loaders.DataBundle:
    """Train and validation SegLoaders for cfg's dataset, through the image and mask caches."""
    from fastai.data.core import DataLoaders

    from core.data import access

    info = info or resolve(cfg.dataset)
    size = cfg.size or info.default_size
    with access.dataset(info) as info:  # locked: never read half-way through a cleaning
        items = seg_items(info, cfg.valid_pct, cfg.seed)
        images, masks = arrays(items, size)
        version = fingerprint(items)
    valid = torch.tensor(items.is_valid)
    train_idx = torch.nonzero(~valid).flatten()
    valid_idx = torch.nonzero(valid).flatten()
    if len(train_idx) == 0 or len(valid_idx) == 0:
        raise UserError(f"{info.name} needs images in both the training and validation split.")
    device = torch.device(device) if device is not None else loaders.default_device()
    x_train = loaders.rows_of(images, train_idx)
    mean, std = loaders.channel_stats(x_train)
    common = {"mean": mean, "std": std, "device": device, "vocab": items.codes}
    train = SegLoader(
        x_train,
        loaders.rows_of(masks, train_idx),
        cfg.bs,
        shuffle=True,
        drop_last=len(train_idx) > cfg.bs,
        augment=cfg.aug if cfg.augment else None,
        seed=cfg.seed,
        items=[items.files[i] for i in train_idx.tolist()],
        **common,
    )
    valid_dl = SegLoader(
        loaders.rows_of(images, valid_idx),
        loaders.rows_of(masks, valid_idx),
        cfg.bs * 2,
        items=[items.files[i] for i in valid_idx.tolist()],
        **common,
    )
    dls = DataLoaders(train, valid_dl, path=workspace.root(), device=device)
    bundle = loaders.DataBundle(
        dls, items, size, images.shape[1], mean.tolist(), std.tolist(), len(train_idx), len(valid_idx)
    )
    bundle.path_used = "in-memory tensor cache (images and masks)"
    if tensor_cache.on_disk(images) or tensor_cache.on_disk(masks):
        size_text = fsutil.human_size(images.nbytes + masks.nbytes)
        bundle.path_used = f"streamed from disk: {size_text} of images and masks, memory-mapped"
    bundle.data_fingerprint = version
    return bundle
