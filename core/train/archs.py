"""The architectures on offer: names and one-line descriptions (light: no torch import)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Arch:
    """One entry of the registry: what it is, and how heavy."""

    name: str
    title: str
    description: str
    pretrainable: bool = False


ARCHS = {
    a.name: a
    for a in [
        Arch(
            "mnist_cnn",
            "MNIST CNN",
            "Keras's classic MNIST network: two 3×3 convolutions, max-pool, dropout, dense 128, "
            "dropout, output. Small and quick; the default.",
        ),
        Arch(
            "simple_cnn",
            "fastai simple_cnn",
            "fastai's SimpleCNN: four stride-2 3×3 convolutions with batch norm, then pooling. "
            "Tiny: good for seeing the mechanics.",
        ),
        Arch(
            "resnet18",
            "ResNet-18",
            "torchvision's 18-layer residual network, with ImageNet weights when present on this "
            "machine. Strong on photos; heavy on a CPU.",
            pretrainable=True,
        ),
        Arch(
            "resnet34",
            "ResNet-34",
            "A deeper residual network (34 layers): more capacity, about twice the work of ResNet-18.",
            pretrainable=True,
        ),
    ]
}
