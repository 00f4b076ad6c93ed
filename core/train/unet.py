"""U-Nets for segmentation: a tiny one written here for the CPU, and fastai's on ResNets.

A U-Net answers "which class is each pixel?". Its encoder shrinks the picture step by step
while learning what is in it; its decoder grows it back to full size, and at each step the
encoder's picture of that size is passed across (the skip connections of the U), so the
output knows both what is there and exactly where.

- tiny_unet: three downsamplings, widths 16-32-64-128: about half a million parameters, quick
  enough to train on two CPU cores in about a minute (the default and the one tests use).
- unet_resnet18 / unet_resnet34: fastai's create_unet_model (its DynamicUnet) on a torchvision
  ResNet encoder, with ImageNet weights when they are cached on this machine, else from scratch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import UserError

UNET_ARCHS = ("tiny_unet", "unet_resnet18", "unet_resnet34")
TINY_WIDTHS = (16, 32, 64, 128)  # channels at full size, /2, /4 and /8 (the bottom of the U)


def _block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3×3 convolutions with batch norm and ReLU, the U-Net's unit."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class TinyUNet(nn.Module):
    """A small U-Net: encoder blocks with max-pooling down, transposed convolutions up, skips across."""

    def __init__(self, n_classes: int, n_in: int = 3, widths: tuple[int, ...] = TINY_WIDTHS):
        super().__init__()
        self.encoder = nn.ModuleList()
        c = n_in
        for w in widths:
            self.encoder.append(_block(c, w))
            c = w
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(c, w, 2, stride=2))
            self.decoder.append(_block(2 * w, w))
            c = w
        self.head = nn.Conv2d(c, n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits N×classes×H×W for images N×C×H×W."""
        skips = []
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        skips.pop()  # the bottom of the U has no partner
        for up, block in zip(self.up, self.decoder):
            skip = skips.pop()
            x = up(x)
            if x.shape[-2:] != skip.shape[-2:]:  # a side not divisible by 8: match the skip's size
                x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
            x = block(torch.cat([skip, x], dim=1))
        return self.head(x)


def _tiny_split(model: TinyUNet) -> list:
    """Two layer groups: the encoder (frozen by freeze), then the decoder and head."""
    decoder = [*model.up.parameters(), *model.decoder.parameters(), *model.head.parameters()]
    return [list(model.encoder.parameters()), decoder]


def _resnet_unet(arch: str, n_classes: int, n_in: int, size: int, pretrained: bool):
    """fastai's create_unet_model on a torchvision ResNet (its DynamicUnet), split as unet_learner does."""
    from fastai.vision.learner import _resnet_split, create_unet_model
    from torchvision import models as tvm

    from core.train.models import BuiltModel, pretrained_weights_file

    base = arch.removeprefix("unet_")
    fn = {"resnet18": tvm.resnet18, "resnet34": tvm.resnet34}[base]
    notice = None
    if pretrained and pretrained_weights_file(base) is None:
        pretrained = False
        notice = (
            f"No ImageNet weights for {base} on this machine (and no internet to fetch them), so its "
            "U-Net trains from scratch: expect slower progress than fine-tuning."
        )
    if size < 32:
        raise UserError(f"{arch} halves the picture five times; it needs images of at least 32 pixels.")
    model = create_unet_model(fn, n_classes, (size, size), pretrained=pretrained, n_in=n_in)
    return BuiltModel(model, lambda m: list(_resnet_split(m)), notice, pretrained)


def build_unet(arch: str, n_classes: int, n_in: int = 3, size: int = 64, pretrained: bool = True):
    """A U-Net named arch with n_classes output channels for n_in-channel images of size pixels."""
    from core.train.models import BuiltModel

    if arch == "tiny_unet":
        if size < 8:
            raise UserError(
                f"tiny_unet halves the picture three times; it needs at least 8 pixels, got {size}."
            )
        return BuiltModel(TinyUNet(n_classes, n_in), _tiny_split)
    if arch in ("unet_resnet18", "unet_resnet34"):
        return _resnet_unet(arch, n_classes, n_in, size, pretrained)
    raise UserError(f"Unknown U-Net {arch!r}. Choose one of: {', '.join(UNET_ARCHS)}.")
