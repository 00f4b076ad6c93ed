"""The fast data path: decode once into a uint8 tensor cache (core.data.image_cache), serve
batches by index to fastai, from memory or streamed from the memory-mapped cache."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from core import fsutil, workspace
from core.config import Augment, TrainConfig
from core.data import layouts
from core.data.augment import augment_batch
from core.data.datasets import DatasetInfo, Items, resolve
from core.data.image_cache import (  # noqa: F401 - the cache's public names, read through loaders
    data_path,
    data_path_note,
    dataset_path_note,
    decode_image,
    image_tensor,
)
from core.data.tensor_cache import DiskRows, on_disk
from core.errors import UserError

FLOAT_BUDGET = 512 * 2**20  # bytes of pre-normalised floats kept when not augmenting


class TensorLoader:
    """A fastai-compatible loader that slices batches from uint8 images by index.

    Batches are plain tensors (no per-item Python work, no TensorImage dispatch): images are
    gathered by index, turned to floats, augmented as a whole batch, and normalised. The images
    are a tensor in memory, or DiskRows of a memory-mapped cache (read a batch at a time). On a
    GPU each batch is pinned and copied without blocking.
    """

    n_inp = 1

    def __init__(
        self,
        x: torch.Tensor | DiskRows,
        y: torch.Tensor | DiskRows,
        bs: int,
        shuffle: bool = False,
        drop_last: bool = False,
        mean: torch.Tensor | None = None,
        std: torch.Tensor | None = None,
        augment: Augment | None = None,
        seed: int = 0,
        device: torch.device | str = "cpu",
        vocab: list[str] | None = None,
        items: list[str] | None = None,
    ):
        self.x, self.y, self.bs = x, y, bs
        self.shuffle, self.drop_last, self.augment = shuffle, drop_last, augment
        c = x.shape[1]
        self.mean = (mean if mean is not None else torch.zeros(c)).view(1, c, 1, 1).float()
        self.std = (std if std is not None else torch.ones(c)).view(1, c, 1, 1).float()
        self.gen = torch.Generator().manual_seed(seed)
        self.device = torch.device(device)
        self.vocab = vocab or []
        self.items = items or []

    @property
    def n(self) -> int:
        """Number of images."""
        return len(self.y)

    @property
    def c(self) -> int:
        """Number of classes."""
        return len(self.vocab)

    @property
    def dataset(self) -> TensorLoader:
        """fastai reads len(dl.dataset); the loader is its own dataset."""
        return self

    def __len__(self) -> int:
        if self.n == 0:
            return 0
        return self.n // self.bs if self.drop_last else math.ceil(self.n / self.bs)

    def get_idxs(self) -> torch.Tensor:
        """The order of this pass: shuffled from the loader's own seeded generator, or as stored."""
        if self.shuffle:
            return torch.randperm(self.n, generator=self.gen)
        return torch.arange(self.n)

    def _normalised(self) -> torch.Tensor | None:
        """Without augmentation, every image normalised once (when in memory and within the budget)."""
        if self.augment is not None or on_disk(self.x) or self.x.numel() * 4 > FLOAT_BUDGET:
            return None
        source = (self.x, self.mean, self.std)
        cached = getattr(self, "_xf", None)
        if cached is None or any(a is not b for a, b in zip(cached[0], source)):
            self._xf = (source, (self.x.float().div_(255) - self.mean) / self.std)
        return self._xf[1]

    def decode_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (normalised floats, augmented when set) and labels for the given indices."""
        ready = self._normalised()
        if ready is not None:
            return self.send(ready.index_select(0, idx)), self.send(self.y.index_select(0, idx))
        xb = self.send(self.x.index_select(0, idx)).float().div_(255)
        if self.augment is not None:
            xb = augment_batch(xb, self.augment, self.gen)
        xb = (xb - self.mean.to(self.device)) / self.std.to(self.device)
        return xb, self.send(self.y.index_select(0, idx))

    def send(self, t: torch.Tensor) -> torch.Tensor:
        """A batch on the loader's device: on a GPU pinned first, then copied without blocking."""
        if self.device.type == "cuda":
            return t.pin_memory().to(self.device, non_blocking=True)
        return t.to(self.device, non_blocking=True)

    def __iter__(self):
        idxs = self.get_idxs()
        for i in range(len(self)):
            yield self.decode_batch(idxs[i * self.bs : (i + 1) * self.bs])

    def one_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The first batch, as training would see it."""
        return next(iter(self))

    def new(self, dataset=None, **kwargs) -> TensorLoader:
        """A copy with some attributes changed (fastai calls new(shuffle=False, drop_last=False))."""
        clone = copy.copy(self)
        clone.gen = torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,), generator=self.gen)))
        get_idxs = kwargs.pop("get_idxs", None)
        for k, v in kwargs.items():
            setattr(clone, k, v)
        if get_idxs is not None:
            clone.get_idxs = get_idxs
        return clone

    def to(self, device) -> TensorLoader:
        """Move batches to device (the data stay on the CPU; each batch is copied)."""
        self.device = torch.device(device)
        return self


@dataclass
class DataBundle:
    """Loaders plus what a page or a saved model needs to know about them."""

    dls: object  # fastai DataLoaders of two TensorLoaders
    items: Items
    size: int
    channels: int
    mean: list[float]
    std: list[float]
    n_train: int
    n_valid: int
    path_used: str = "in-memory tensor cache"  # or "streamed from disk: …" (data_path_note)
    notes: list[str] = field(default_factory=list)
    data_fingerprint: str | None = None  # the version of the files read (core.runs.data_fingerprint)

    @property
    def vocab(self) -> list[str]:
        """Class names in the order of the model's outputs."""
        return self.items.vocab


def default_device() -> torch.device:
    """CUDA when there is a GPU, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def build(cfg: TrainConfig, info: DatasetInfo | None = None, device=None) -> DataBundle:
    """Train and validation loaders for cfg's dataset, through the tensor cache."""
    from core.data import access

    info = info or resolve(cfg.dataset)
    size = cfg.size or info.default_size
    # locked, with any cleaning a crash interrupted finished or rolled back: never read half-way
    with access.dataset(info) as info:
        items = access.items(info, valid_pct=cfg.valid_pct, seed=cfg.seed)
        arr = image_tensor(items, size)
        version = layouts.fingerprint(items)  # what this run sees
    labels = torch.tensor([items.vocab.index(lab) for lab in items.labels], dtype=torch.long)
    valid = torch.tensor(items.is_valid)
    train_idx = torch.nonzero(~valid).flatten()
    valid_idx = torch.nonzero(valid).flatten()
    if len(train_idx) == 0 or len(valid_idx) == 0:
        raise UserError(f"{info.name} needs images in both the training and validation split.")
    device = torch.device(device) if device is not None else default_device()
    bundle = make_loaders(cfg, items, arr, labels, train_idx, valid_idx, size, cfg.seed, device)
    bundle.data_fingerprint = version
    return bundle


def channel_stats(x_train: torch.Tensor | DiskRows) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 training images (N×C×H×W), the normalisation batches get.

    Images on disk, or too many to turn to floats at once, are summed a chunk at a time.
    """
    if on_disk(x_train) or x_train.numel() * 4 > FLOAT_BUDGET:
        return _chunked_stats(x_train)
    sample = x_train.float().div_(255)
    return sample.mean(dim=(0, 2, 3)), sample.std(dim=(0, 2, 3)).clamp_min(1e-3)


def _chunked_stats(x: torch.Tensor | DiskRows) -> tuple[torch.Tensor, torch.Tensor]:
    """channel_stats in float64 sums over blocks of rows (the same numbers to about 1e-7)."""
    c = x.shape[1]
    total, squares, count = torch.zeros(c, dtype=torch.float64), torch.zeros(c, dtype=torch.float64), 0
    rows = max(1, 2**22 // max(int(np.prod(x.shape[1:])), 1))  # 32 MB of float64 at a time
    blocks = x.chunks(rows) if isinstance(x, DiskRows) else x.split(rows)
    for block in blocks:
        f = block.to(torch.float64).div_(255)
        total += f.sum(dim=(0, 2, 3))
        squares += f.square().sum(dim=(0, 2, 3))
        count += f.numel() // c
    mean = total / max(count, 1)
    var = (squares - count * mean.square()) / max(count - 1, 1)
    return mean.float(), var.clamp_min(0).sqrt().float().clamp_min(1e-3)


def rows_of(arr: torch.Tensor | np.ndarray, idx: torch.Tensor) -> torch.Tensor | DiskRows:
    """Rows idx of images: copied into a tensor when in memory, DiskRows of a memory-mapped cache."""
    if on_disk(arr):
        return DiskRows(arr, idx.numpy())
    if isinstance(arr, np.ndarray):
        arr = torch.from_numpy(arr)
    return arr[idx]


def make_loaders(
    cfg: TrainConfig,
    items: Items,
    arr: torch.Tensor | np.ndarray,
    labels: torch.Tensor,
    train_idx: torch.Tensor,
    valid_idx: torch.Tensor,
    size: int,
    seed: int,
    device: torch.device,
) -> DataBundle:
    """Training and validation TensorLoaders over arr's rows train_idx and valid_idx.

    The training split's mean and std normalise both; training batches are shuffled from seed,
    augmented when cfg says so, and drop a last short batch. A memory-mapped arr (image_tensor
    over the cache budget) is streamed: its rows are read a batch at a time.
    """
    from fastai.data.core import DataLoaders

    x_train, x_valid = rows_of(arr, train_idx), rows_of(arr, valid_idx)
    mean, std = channel_stats(x_train)
    files = items.files
    train = TensorLoader(
        x_train,
        labels[train_idx],
        cfg.bs,
        shuffle=True,
        drop_last=len(train_idx) > cfg.bs,
        mean=mean,
        std=std,
        augment=cfg.aug if cfg.augment else None,
        seed=seed,
        device=device,
        vocab=items.vocab,
        items=[files[i] for i in train_idx.tolist()],
    )
    valid_dl = TensorLoader(
        x_valid,
        labels[valid_idx],
        cfg.bs * 2,
        mean=mean,
        std=std,
        device=device,
        vocab=items.vocab,
        items=[files[i] for i in valid_idx.tolist()],
    )
    dls = DataLoaders(train, valid_dl, path=workspace.root(), device=device)
    bundle = DataBundle(
        dls, items, size, arr.shape[1], mean.tolist(), std.tolist(), len(train_idx), len(valid_idx)
    )
    if on_disk(arr):
        bundle.path_used = f"streamed from disk: {fsutil.human_size(arr.nbytes)} of pixels, memory-mapped"
    return bundle
