"""Where a run trains and how: the device, mixed precision (bf16 or fp16) and memory format.

On the CPU nothing changes: float32, the usual memory format. On a CUDA GPU a run with
mixed_precision (the Train form's default there) uses fastai's MixedPrecision callback in
bfloat16 where the GPU computes it natively (Ampere and later), else float16 with loss scaling;
convolutional models use the channels_last memory format, which cuDNN's fastest kernels expect.

torch is imported inside the functions: the Train page asks where runs train without paying
for importing torch on a machine with no NVIDIA driver.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

NVIDIA_DRIVER = "/proc/driver/nvidia/version"  # absent: CUDA cannot be available


def cuda_available() -> bool:
    """True when torch sees a CUDA GPU (torch is not imported when no NVIDIA driver is loaded)."""
    if not os.path.exists(NVIDIA_DRIVER) and not os.path.exists("/dev/nvidiactl"):
        return False
    import torch

    return torch.cuda.is_available()


def default_device() -> torch.device:
    """Where runs train: CUDA when there is a GPU, else the CPU (the loaders' own choice)."""
    from core.data.loaders import default_device as loaders_device

    return loaders_device()


def bf16_supported() -> bool:
    """True when the GPU computes bfloat16 natively (not by emulation, which is slower than fp16)."""
    import torch

    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # an older torch without the argument
        return bool(torch.cuda.is_bf16_supported())


def precision(mixed: bool, device: Any = None) -> str | None:
    """The mixed precision a run uses: "bf16" or "fp16" on a CUDA GPU when mixed is on, else None
    (float32 throughout, as on the CPU). device None means where runs train (default_device())."""
    import torch

    dev = torch.device(device) if device is not None else default_device()
    if not mixed or dev.type != "cuda" or not torch.cuda.is_available():
        return None
    return "bf16" if bf16_supported() else "fp16"


def autocast_dtype(name: str | None) -> torch.dtype | None:
    """The torch dtype of a precision name ("bf16", "fp16"); None for float32."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(name or "")


def wants_channels_last(model: torch.nn.Module, device: Any) -> bool:
    """True on CUDA for a model with 2-D convolutions (on the CPU the run stays as it was)."""
    import torch

    return torch.device(device).type == "cuda" and any(
        isinstance(m, torch.nn.Conv2d) for m in model.modules()
    )


def channels_last_callback():
    """A fastai callback giving each batch of images (N×C×H×W) the channels_last memory format."""
    import torch
    from fastai.callback.core import Callback

    def _last(x):
        if isinstance(x, torch.Tensor) and x.ndim == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    class ChannelsLast(Callback):
        def before_batch(self):
            self.learn.xb = tuple(_last(x) for x in self.learn.xb)

    return ChannelsLast()


def prepare(learn, mixed: bool) -> str | None:
    """Set learn up for its loaders' device: mixed precision (fastai's to_bf16 or to_fp16) and
    channels_last for convolutional models on CUDA; returns the precision used (None: float32)."""
    import torch

    dev = torch.device(getattr(learn.dls, "device", None) or "cpu")
    name = precision(mixed, dev)
    if name == "bf16":
        learn.to_bf16()
    elif name == "fp16":
        learn.to_fp16()
    if wants_channels_last(learn.model, dev):
        learn.model.to(memory_format=torch.channels_last)
        learn.add_cb(channels_last_callback())
    return name


def threads() -> int:
    """The compute threads a worker trains with on the CPU."""
    from core.jobs.worker import THREADS

    return THREADS


@functools.lru_cache(maxsize=4)
def describe(device: str | None = None, mixed: bool = True) -> str:
    """Where runs train, in words: "CPU (2 threads)" or "CUDA: <GPU name>, mixed precision bf16"."""
    if device is None:
        device = "cuda" if cuda_available() else "cpu"
    if not str(device).startswith("cuda"):
        return f"CPU ({threads()} threads)"
    import torch

    prec = precision(mixed, device)
    how = f"mixed precision {prec}" if prec else "float32"
    return f"CUDA: {torch.cuda.get_device_name(device)}, {how}"


def synchronize(device: Any) -> None:
    """Wait for the GPU's queued work (for timing); nothing on the CPU."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
