"""Segmentation: a label per pixel, as fastai's MaskBlock, unet_learner and SegmentationInterpretation.

Images in images/, a mask per image (values are class indices) and codes.txt naming the
classes. Images and masks are cached as uint8 (core.data.seg_loaders), learned by a U-Net
(core/train/unet.py) with cross-entropy over every pixel (fastai's CrossEntropyLossFlat(axis=1))
and judged by pixel accuracy, Dice and mean IoU over the validation pixels of each epoch.
Heavy imports happen inside the methods so the registry loads instantly in the dashboard.
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

METRICS = ("pixel_accuracy", "dice", "mean_iou")  # in the order the learner reports them


@dataclass(frozen=True)
class SegmentationOptions:
    """Settings only segmentation has (none yet)."""

    def problems(self) -> list[str]:
        """Every reason these options are not sensible, as sentences (none)."""
        return []


def pixel_loss():
    """Cross-entropy averaged over every pixel, on plain tensors (fastai's CrossEntropyLossFlat(axis=1))."""
    import torch
    from torch import nn

    class PixelCrossEntropy(nn.CrossEntropyLoss):
        """Logits N×C×H×W against masks N×H×W; get_preds' activation and decodes along the class axis."""

        def activation(self, x: torch.Tensor) -> torch.Tensor:
            """Logits to per-pixel class probabilities."""
            return torch.softmax(x, dim=1)

        def decodes(self, x: torch.Tensor) -> torch.Tensor:
            """Probabilities to a mask of class indices."""
            return x.argmax(dim=1)

    return PixelCrossEntropy()


def pixel_metrics() -> list:
    """fastai metrics pixel_accuracy, dice and mean_iou, accumulated over every validation pixel.

    Each batch adds to a pixel confusion matrix; at the end of the epoch the scores come from it
    (core.analysis.segmentation.scores), as fastai's DiceMulti and JaccardCoeffMulti do: Dice and
    IoU are means over the classes present in the truth or the prediction.
    """
    from fastai.metrics import Metric

    from core.analysis.segmentation import confusion, scores

    class PixelMetric(Metric):
        def __init__(self, name: str):
            self._name, self.cm = name, None

        def reset(self):
            self.cm = None

        def accumulate(self, learn):
            pred, truth = learn.pred, learn.y
            if isinstance(truth, tuple):
                truth = truth[0]
            cm = confusion(truth.detach(), pred.detach().argmax(dim=1), pred.shape[1]).cpu()
            self.cm = cm if self.cm is None else self.cm + cm

        @property
        def value(self):
            return None if self.cm is None else scores(self.cm.numpy())[self._name]

        @property
        def name(self) -> str:
            return self._name

    return [PixelMetric(n) for n in METRICS]


class Segmentation:
    """A class per pixel: images with masks in, a mask of class indices out."""

    name = "segmentation"
    title = "Segmentation (a label per pixel)"
    inputs = "images"
    main_metric = "mean_iou"
    higher_is_better = True
    metric_format = "{:.2%}"
    cache_format = "image-uint8+mask-uint8"  # N×C×H×W images and N×H×W masks (core.data.seg_loaders)
    result_views = ("seg_scores", "pixel_confusion", "worst_masks", "trash")
    Options = SegmentationOptions
    archs = archs_for("segmentation")  # the registry says which architectures fit (core/train/archs.py)
    default_arch = "tiny_unet"
    # A fresh run's settings: tiny_unet at the dataset's size, one-cycle to 1e-2, batches of 16
    # (more steps per epoch than 64). On shapes_seg: mean IoU about 0.88 after 16 epochs, in about
    # a minute on two idle cores (python -m bench.tasks). Augmentation, when turned on, moves each
    # mask with its image.
    defaults = {"arch": "tiny_unet", "epochs": 16, "lr": 1e-2, "bs": 16}

    def recognises(self, folder: Path) -> bool:
        """True when folder holds images/, their masks and codes.txt."""
        from core.data import layouts
        from core.errors import UserError

        if layouts.detect(Path(folder)) != "segmentation":
            return False
        try:
            layouts.read_seg(Path(folder))
        except (UserError, OSError):
            return False
        return True

    def loaders(self, cfg: TrainConfig, info: DatasetInfo | None = None, device: Any = None) -> DataBundle:
        """Loaders on the fast path: the uint8 image and mask caches, aligned augmentation."""
        from core.data import seg_loaders

        return seg_loaders.build(cfg, info, device)

    def learner(self, cfg: TrainConfig, bundle: DataBundle) -> tuple[Any, Any]:
        """A U-Net from the architecture registry with per-pixel cross-entropy and the pixel metrics."""
        from core.train.training import make_learner

        built = self.build(cfg.arch, len(bundle.vocab), bundle.channels, bundle.size, cfg.pretrained)
        return make_learner(cfg, bundle.dls, built, pixel_loss(), pixel_metrics()), built

    def summary(self, learn: Any) -> dict[str, float | None]:
        """The final pixel accuracy, Dice and mean IoU (None when no epoch finished)."""
        record = list(getattr(learn, "final_record", []) or [])
        out = {}
        for i, name in enumerate(METRICS, start=2):  # after train_loss and valid_loss
            value = record[i] if len(record) > i else None
            out[name] = float(value) if value is not None else None
        return out

    def record(self, cfg: TrainConfig, bundle: DataBundle) -> RunRecord:
        """Codes, input size, channels, normalisation and the data version the run saw."""
        from core.runs import RunRecord

        return RunRecord(
            config=cfg,
            vocab=list(bundle.vocab),
            size=bundle.size,
            channels=bundle.channels,
            mean=list(bundle.mean),
            std=list(bundle.std),
            data_fingerprint=bundle.data_fingerprint,
        )

    def build(self, arch: str, n_outputs: int, channels: int, size: int, pretrained: bool = False) -> Any:
        """The registry's U-Net for arch, a score per class for every pixel (models.build_model)."""
        from core.train.models import build_model

        return build_model(arch, n_outputs, channels, size, pretrained)

    def build_model(self, record: RunRecord) -> torch.nn.Module:
        """The untrained U-Net the run's weights load into."""
        return self.build(record.config.arch, len(record.vocab), record.channels, record.size).model

    def activation(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax over the class axis: each pixel's probabilities sum to 1."""
        import torch

        return torch.softmax(logits.float(), dim=1)

    def interpret(self, loaded: LoadedRun) -> Any:
        """Per-image loss and IoU and the pixel confusion on every image of the dataset as it is now."""
        from core.analysis import segmentation

        return segmentation.interpret(loaded)

    def bundle_fields(self, record: RunRecord) -> dict[str, Any]:
        """The codes in output order and how an image becomes the model's input."""
        from core.runs import bundle_input

        return {
            "n_classes": len(record.vocab),
            "codes": list(record.vocab),
            "input": bundle_input(record),
            "output": "logits classes×size×size; the mask is their argmax over classes",
        }

    def build_from_bundle(self, config: dict[str, Any]) -> torch.nn.Module:
        """The untrained U-Net for a checked bundle config."""
        inp = config["input"]
        n = len(config["codes"])
        return self.build(config["arch"], n, inp["channels"], inp["size"]).model
