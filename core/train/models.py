"""The architecture registry: build any model for n classes and c channels, and summarise it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from core.errors import UserError
from core.train.archs import ARCHS


@dataclass
class BuiltModel:
    """A model ready for a Learner: the module, how to split it into layer groups, and notes."""

    model: nn.Module
    splitter: Callable[[nn.Module], list]
    notice: str | None = None  # e.g. "no pretrained weights here: trained from scratch"
    pretrained: bool = False


def _params(module: nn.Module) -> list:
    return list(module.parameters())


def _body_head_split(model: nn.Sequential) -> list:
    """Two layer groups: everything but the head, then the head (the last child)."""
    return [_params(model[0]), _params(model[1])]


def mnist_cnn(n_classes: int, n_in: int, size: int) -> nn.Sequential:
    """Keras's MNIST example network, as two groups (body, head)."""
    side = (size - 4) // 2
    if side < 1:
        raise UserError(f"mnist_cnn needs images of at least 6 pixels; got {size}.")
    body = nn.Sequential(
        nn.Conv2d(n_in, 32, 3),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
    )
    head = nn.Sequential(
        nn.Linear(64 * side * side, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, n_classes)
    )
    return nn.Sequential(body, head)


def simple_cnn(n_classes: int, n_in: int, size: int) -> nn.Sequential:
    """fastai's SimpleCNN with filters (n_in, 16, 32, 64, n_classes), as (body, head)."""
    from fastai.layers import SimpleCNN

    layers = list(SimpleCNN([n_in, 16, 32, 64, n_classes]).children())
    return nn.Sequential(nn.Sequential(*layers[:-2]), nn.Sequential(*layers[-2:]))


def pretrained_weights_file(arch: str) -> Path | None:
    """Where torchvision keeps arch's ImageNet weights, when they are on this machine."""
    from torchvision import models as tvm

    enum = {"resnet18": tvm.ResNet18_Weights, "resnet34": tvm.ResNet34_Weights}[arch]
    name = Path(enum.DEFAULT.url).name
    path = Path(torch.hub.get_dir()) / "checkpoints" / name
    return path if path.exists() else None


def _resnet(arch: str, n_classes: int, n_in: int, pretrained: bool) -> BuiltModel:
    from fastai.vision.learner import _resnet_split, create_vision_model
    from torchvision import models as tvm

    fn = {"resnet18": tvm.resnet18, "resnet34": tvm.resnet34}[arch]
    notice = None
    if pretrained and pretrained_weights_file(arch) is None:
        pretrained = False
        notice = (
            f"No ImageNet weights for {arch} on this machine (and no internet to fetch "
            "them), so it trains from scratch: expect slower progress than fine-tuning."
        )
    model = create_vision_model(fn, n_classes, pretrained=pretrained, n_in=n_in)
    return BuiltModel(model, lambda m: list(_resnet_split(m)), notice, pretrained)


def build_model(
    arch: str, n_classes: int, n_in: int = 3, size: int = 32, pretrained: bool = True
) -> BuiltModel:
    """Build arch for n_classes outputs and n_in input channels."""
    if arch not in ARCHS:
        raise UserError(f"Unknown architecture {arch!r}. Choose one of: {', '.join(ARCHS)}.")
    if n_classes < 2:
        raise UserError("A classifier needs at least two classes.")
    if arch == "mnist_cnn":
        return BuiltModel(mnist_cnn(n_classes, n_in, size), _body_head_split)
    if arch == "simple_cnn":
        return BuiltModel(simple_cnn(n_classes, n_in, size), _body_head_split)
    if arch == "small_cnn":
        from core.train.small_cnn import small_cnn

        return BuiltModel(small_cnn(n_classes, n_in, size), _body_head_split)
    if arch.startswith(("tiny_unet", "unet_")):  # segmentation: a class per pixel (core/train/unet.py)
        from core.train.unet import build_unet

        return build_unet(arch, n_classes, n_in, size, pretrained)
    return _resnet(arch, n_classes, n_in, pretrained)


def summary(model: nn.Module, input_shape: tuple[int, ...]) -> pd.DataFrame:
    """One row per layer: name, kind, output shape, parameters, trainable — for one input batch."""
    rows: list[dict] = []
    hooks = []

    def hook(name: str, module: nn.Module):
        def record(_mod, _inp, out):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else None
            params = list(module.parameters(recurse=False))
            n = sum(p.numel() for p in params)
            rows.append(
                {
                    "layer": name,
                    "kind": type(module).__name__,
                    "output shape": "×".join(str(s) for s in shape[1:]) if shape else "",
                    "parameters": n,
                    "trainable": bool(params) and all(p.requires_grad for p in params),
                }
            )

        return record

    for name, module in model.named_modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(hook(name, module)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            device = next(model.parameters()).device
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return pd.DataFrame(rows, columns=["layer", "kind", "output shape", "parameters", "trainable"])


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def freeze_groups(built: BuiltModel, n_frozen: int) -> None:
    """Freeze the first n_frozen layer groups as fastai's freeze_to does.

    As in fastai (train_bn=True), batch-norm layers stay trainable even in frozen groups: their
    statistics must adapt to the new data.
    """
    groups = built.splitter(built.model)
    bn_params = {
        id(p)
        for m in built.model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        for p in m.parameters()
    }
    for i, params in enumerate(groups):
        for p in params:
            p.requires_grad_(i >= n_frozen or id(p) in bn_params)


def n_groups(built: BuiltModel) -> int:
    """How many layer groups (body parts and head) the model is split into."""
    return len(built.splitter(built.model))
