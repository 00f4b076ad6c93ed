"""Single-label image classification: fastai's CategoryBlock, vision learner and ClassificationInterpretation.

One label per image, read from class folders (or a CSV of file,label turned into them),
cached as uint8 images, learned with cross-entropy and judged by accuracy. Heavy imports
(torch, fastai) happen inside the methods so the registry loads instantly in the dashboard.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class SingleLabelOptions:
    """Settings only single-label classification has."""

    # fastai's LabelSmoothingCrossEntropy eps: the target keeps 1-eps and spreads eps over the
    # other classes, which stops the model from growing ever more confident. 0 is plain
    # cross-entropy (the default, as fastai's vision_learner).
    label_smoothing: float = 0.0

    def problems(self) -> list[str]:
        """Every reason these options are not sensible, as sentences."""
        ls = self.label_smoothing
        if not isinstance(ls, (int, float)) or isinstance(ls, bool) or not 0 <= ls < 1:
            return ["Label smoothing must be at least 0 and below 1 (fastai uses 0.1 when it is on)."]
        return []


class SingleLabel:
    """One label per image: class folders in, class probabilities out."""

    name = "single_label"
    title = "Single-label image classification"
    inputs = "images"
    main_metric = "accuracy"
    higher_is_better = True
    metric_format = "{:.2%}"
    cache_format = "image-uint8"  # N×C×H×W uint8, in memory and on disk (core.data.loaders)
    result_views = ("confusion", "most_confused", "per_class", "top_losses", "cleaner")
    Options = SingleLabelOptions
    archs = archs_for("single_label")  # the registry says which architectures fit (core/train/archs.py)
    default_arch = "mnist_cnn"
    defaults: dict[str, Any] = {}  # TrainConfig's own defaults were chosen for it

    def recognises(self, folder: Path) -> bool:
        """True when folder holds class folders of images (or train/ and valid/ of them)."""
        from core.data.datasets import read_image_folder
        from core.errors import UserError

        try:
            items = read_image_folder(Path(folder))
        except (UserError, OSError):
            return False
        return len(items.vocab) >= 2

    def loaders(self, cfg: TrainConfig, info: DatasetInfo | None = None, device: Any = None) -> DataBundle:
        """Loaders on the fast path: the uint8 image cache, batch augmentation, normalisation."""
        from core.data import loaders

        return loaders.build(cfg, info, device)

    def learner(self, cfg: TrainConfig, bundle: DataBundle) -> tuple[Any, Any]:
        """A CNN from the architecture registry with cross-entropy and accuracy."""
        from fastai.metrics import accuracy

        from core.train.training import CrossEntropy, make_learner

        opts = cfg.options
        built = self.build(cfg.arch, len(bundle.vocab), bundle.channels, bundle.size, cfg.pretrained)
        loss = CrossEntropy(label_smoothing=float(opts.label_smoothing))
        return make_learner(cfg, bundle.dls, built, loss, [accuracy]), built

    def summary(self, learn: Any) -> dict[str, float | None]:
        """The final accuracy (None when no epoch finished)."""
        record = list(getattr(learn, "final_record", []) or [])
        value = record[2] if len(record) > 2 else None
        return {"accuracy": float(value) if value is not None else None}

    def record(self, cfg: TrainConfig, bundle: DataBundle) -> RunRecord:
        """Labels, input size, channels, normalisation and the data version the run saw."""
        from core.runs import RunRecord

        return RunRecord(
            config=cfg,
            vocab=list(bundle.vocab),
            size=bundle.size,
            channels=bundle.channels,
            mean=list(bundle.mean),
            std=list(bundle.std),
            data_fingerprint=bundle.data_fingerprint,  # taken under the dataset's lock when read
        )

    def build(self, arch: str, n_outputs: int, channels: int, size: int, pretrained: bool = False) -> Any:
        """The registry's network for arch (core.train.models.build_model)."""
        from core.train.models import build_model

        return build_model(arch, n_outputs, channels, size, pretrained)

    def build_model(self, record: RunRecord) -> torch.nn.Module:
        """The untrained CNN the run's weights load into."""
        return self.build(record.config.arch, len(record.vocab), record.channels, record.size).model

    def activation(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax: one probability per class, summing to 1."""
        import torch

        return torch.softmax(logits.float(), dim=-1)

    def interpret(self, loaded: LoadedRun) -> Any:
        """Predictions, losses and confusion on every image of the dataset as it is now."""
        from core.analysis import interpret

        return interpret.interpret(loaded.run_id, loaded)

    def bundle_fields(self, record: RunRecord) -> dict[str, Any]:
        """Classes in output order and how an image becomes the model's input."""
        from core.runs import bundle_input

        return {
            "n_classes": len(record.vocab),
            "classes": list(record.vocab),
            "input": bundle_input(record),
        }

    def build_from_bundle(self, config: dict[str, Any]) -> torch.nn.Module:
        """The untrained CNN for a checked bundle config."""
        inp = config["input"]
        n = len(config["classes"])
        return self.build(config["arch"], n, inp["channels"], inp["size"]).model
