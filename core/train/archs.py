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
    tasks: tuple[str, ...] = ("single_label", "multi_label")  # the kinds of problem it is built for


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
            "small_cnn",
            "Small CNN",
            "A compact network written for small images on a CPU: four blocks of convolution, "
            "batch norm and ReLU (16, 32, 64 then 128 filters), the first three ending in a max-pool "
            "that halves the image, find ever larger patterns; the head then asks of each pattern "
            "both how much of it there is and whether it is anywhere (average and max pooling). "
            "More capable than simple_cnn, far lighter than a ResNet.",
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
        Arch(
            "tiny_unet",
            "Tiny U-Net",
            "A small U-Net for a CPU: an encoder halves the image three times, a decoder doubles it "
            "back, and skip connections carry the fine detail across. The default for segmentation.",
            tasks=("segmentation",),
        ),
        Arch(
            "unet_resnet18",
            "U-Net on ResNet-18",
            "fastai's unet_learner model: a ResNet-18 encoder with a U-Net decoder (DynamicUnet); "
            "ImageNet weights when present on this machine. Heavy on a CPU.",
            pretrainable=True,
            tasks=("segmentation",),
        ),
        Arch(
            "unet_resnet34",
            "U-Net on ResNet-34",
            "The same U-Net on a deeper ResNet-34 encoder, as in the fastai course's CamVid lesson.",
            pretrainable=True,
            tasks=("segmentation",),
        ),
        Arch(
            "tabular_mlp",
            "Tabular MLP",
            "fastai's TabularModel: an embedding per categorical column (sized by fastai's rule), "
            "the continuous columns after batch norm, then fully connected layers with ReLU, batch "
            "norm and dropout. The network of tabular_learner.",
            tasks=("tabular_classification", "tabular_regression"),
        ),
        Arch(
            "dot_bias",
            "Dot product with biases",
            "fastai's EmbeddingDotBias: a vector of factors and a bias per user and per item; the "
            "predicted rating is their dot product plus both biases, squeezed into the rating range.",
            tasks=("collaborative",),
        ),
        Arch(
            "neural_collab",
            "Neural collaborative filtering",
            "fastai's EmbeddingNN: the user's and the item's embeddings side by side go through "
            "fully connected layers, which can learn interactions a dot product cannot.",
            tasks=("collaborative",),
        ),
    ]
}


def archs_for(task: str) -> tuple[str, ...]:
    """The architectures built for a task, in the registry's order (each task's `archs`)."""
    return tuple(name for name, arch in ARCHS.items() if task in arch.tasks)
