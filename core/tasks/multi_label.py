"""Multi-label image classification: fastai's MultiCategoryBlock, BCEWithLogitsLossFlat, accuracy_multi.

Any number of labels per image (none included), read from a labels.csv of file,labels with
space-separated tags (core.data.layouts), cached as uint8 images like single-label, targets as
float multi-hot rows. The model answers each label independently with a sigmoid, and a label is
called present above the run's threshold (its options): the threshold decides accuracy_multi,
the macro F1 and prediction alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.train.archs import archs_for

if TYPE_CHECKING:
    import torch

    from core.config import TrainConfig
    from core.data.datasets import DatasetInfo
    from core.data.loaders import DataBundle
    from core.runs import LoadedRun, RunRecord


# Where a threshold may be: every threshold slider spans it, and runs and bundles are held to it.
THRESHOLD_RANGE = (0.01, 0.99)


@dataclass(frozen=True)
class MultiLabelOptions:
    """Settings only multi-label classification has."""

    # A label is predicted when its probability is above this (fastai's thresh=0.5 by default):
    # lower finds more of the labels an image has (recall) at the cost of false ones (precision).
    threshold: float = 0.5

    def problems(self) -> list[str]:
        """Every reason these options are not sensible, as sentences."""
        t = self.threshold
        low, high = THRESHOLD_RANGE
        if (
            not isinstance(t, (int, float))
            or isinstance(t, bool)
            or not math.isfinite(t)
            or not low <= t <= high
        ):
            return [f"The threshold must be from {low} to {high} (fastai uses 0.5)."]
        return []


def build(arch: str, n_labels: int, channels: int, size: int, pretrained: bool) -> Any:
    """The architecture registry's model for n_labels outputs, made fit for independent sigmoids.

    fastai's SimpleCNN ends in a ReLU, so its outputs are never negative: harmless before a
    softmax, fatal before a sigmoid (no label could fall below 0.5). Here that last ReLU is an
    Identity (no weights change names, so runs and bundles load as usual).
    """
    from torch import nn

    from core.train.models import build_model

    built = build_model(arch, n_labels, channels, size, pretrained)
    if arch == "simple_cnn":
        last = built.model[1][0]  # the head's ConvLayer: conv, then the ReLU
        if isinstance(last[-1], nn.ReLU):
            last[-1] = nn.Identity()
    return built


class MultiLabel:
    """Any number of labels per image: a labels.csv in, one probability per label out."""

    name = "multi_label"
    title = "Multi-label image classification"
    inputs = "images"
    main_metric = "f1_macro"
    higher_is_better = True
    metric_format = "{:.2%}"
    cache_format = "image-uint8"  # the single-label image cache; targets are N×C multi-hot floats
    result_views = ("per_label", "threshold", "top_losses_multi", "cleaner")
    Options = MultiLabelOptions
    archs = archs_for("multi_label")  # the registry says which architectures fit (core/train/archs.py)
    default_arch = "small_cnn"
    # Tuned on shapes_multi (2,000 images of 40 px) on two CPU cores: small_cnn has the capacity
    # simple_cnn lacks (which stalls near macro F1 0.66) and is still light, so 15 one-cycle epochs
    # with augmentation reach accuracy_multi ≈ 0.98 and macro F1 ≈ 0.97 in about 13 s of training
    # on a quiet machine (the issue asks ≥ 0.95 and ≥ 0.90 within 60 s), while one epoch is far
    # from enough (macro F1 ≈ 0.2).
    defaults: dict[str, Any] = {"arch": "small_cnn", "epochs": 15, "lr": 1e-2, "bs": 64, "augment": True}

    def recognises(self, folder: Path) -> bool:
        """True when folder holds images and a labels.csv naming their tags."""
        from core.data import layouts
        from core.errors import UserError

        try:
            items = layouts.read_multi(Path(folder))
        except (UserError, OSError, ValueError):
            return False
        return len(items.vocab) >= 2

    def loaders(self, cfg: TrainConfig, info: DatasetInfo | None = None, device: Any = None) -> DataBundle:
        """Loaders on the fast path: the uint8 image cache and multi-hot targets."""
        from core.data import multi_loaders

        return multi_loaders.build(cfg, info, device)

    def learner(self, cfg: TrainConfig, bundle: DataBundle) -> tuple[Any, Any]:
        """A CNN from the architecture registry with BCE on logits, accuracy_multi and f1_macro."""
        from core.train.multi_label import BCEWithLogits, metrics
        from core.train.training import make_learner

        thresh = float(cfg.options.threshold)
        built = build(cfg.arch, len(bundle.vocab), bundle.channels, bundle.size, cfg.pretrained)
        return make_learner(cfg, bundle.dls, built, BCEWithLogits(thresh), metrics(thresh)), built

    def summary(self, learn: Any) -> dict[str, float | None]:
        """The final accuracy_multi and f1_macro (None when no epoch finished)."""
        record = list(getattr(learn, "final_record", []) or [])
        out = {}
        for i, name in enumerate(("accuracy_multi", "f1_macro"), start=2):
            value = record[i] if len(record) > i else None
            out[name] = float(value) if value is not None else None
        return out

    def record(self, cfg: TrainConfig, bundle: DataBundle) -> RunRecord:
        """Labels, input size, channels, normalisation and the data version (as single-label)."""
        from core.tasks.single_label import SingleLabel

        return SingleLabel().record(cfg, bundle)

    def build(self, arch: str, n_outputs: int, channels: int, size: int, pretrained: bool = False) -> Any:
        """The registry's network for arch, fit for a sigmoid per label (see build above)."""
        return build(arch, n_outputs, channels, size, pretrained)

    def build_model(self, record: RunRecord) -> torch.nn.Module:
        """The untrained CNN the run's weights load into."""
        return build(record.config.arch, len(record.vocab), record.channels, record.size, False).model

    def activation(self, logits: torch.Tensor) -> torch.Tensor:
        """Sigmoid: one probability per label, each on its own."""
        import torch

        return torch.sigmoid(logits.float())

    def interpret(self, loaded: LoadedRun) -> Any:
        """Probabilities and tags of every image of the dataset as it is now (MultiInterpretation)."""
        from core.analysis import multilabel

        return multilabel.interpret(loaded)

    def bundle_fields(self, record: RunRecord) -> dict[str, Any]:
        """Labels in output order, the threshold, and how an image becomes the model's input."""
        from core.tasks.single_label import SingleLabel

        fields = SingleLabel().bundle_fields(record)
        fields["threshold"] = float(record.config.options.threshold)
        return fields

    def build_from_bundle(self, config: dict[str, Any]) -> torch.nn.Module:
        """The untrained CNN for a checked bundle config."""
        inp = config["input"]
        return build(config["arch"], len(config["classes"]), inp["channels"], inp["size"], False).model
