"""Tables: fastai's TabularPandas (FillMissing, Categorify, Normalize) and tabular_learner.

One row per example: categorical columns become codes fed to embeddings, continuous columns
are filled and normalised, and the target is a class (TabularClassification, judged by
accuracy) or a number (TabularRegression, judged by RMSE, with MSE, MAE or Huber as the loss).
The table, its column roles and its split are read by core.data.tables; the processing is
fitted on the training rows once (core.data.table_procs) and the rows become tensors of codes
and floats served by index (core.data.table_loaders). What the processing learned (vocabularies,
fill values, means and stds, the network's shape) is the run's state: plain JSON in run.json and
in bundles, from which the network is rebuilt (core.train.tabular).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import finite
from core.train.archs import archs_for

if TYPE_CHECKING:
    import torch

    from core.config import TrainConfig
    from core.data.datasets import DatasetInfo
    from core.runs import LoadedRun, RunRecord

LOSSES = {  # regression losses: name → what it does to outliers, in a sentence
    "mse": "Mean squared error: squares each error, so one far-off row pulls the fit hard "
    "(fastai's default).",
    "mae": "Mean absolute error (L1): every unit of error counts the same, so outliers pull far less.",
    "huber": "Huber: squared for errors below delta, absolute above it: MSE's smoothness near the "
    "answer, MAE's calm about outliers.",
}
MAX_LAYER = 4096  # the widest hidden layer a form or flag may ask for
MAX_LAYERS = 8


def parse_layers(text: str) -> list[int]:
    """'200,100' as [200, 100]; ValueError with a sentence when it is not 1–8 sizes from 1 to 4096."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise ValueError("Layer sizes are whole numbers separated by commas, e.g. 200,100.") from None
    if not 1 <= len(sizes) <= MAX_LAYERS or not all(1 <= s <= MAX_LAYER for s in sizes):
        raise ValueError(
            f"Give 1 to {MAX_LAYERS} layer sizes, each from 1 to {MAX_LAYER} (fastai uses 200,100)."
        )
    return sizes


def _fraction_problem(value: Any, what: str) -> list[str]:
    ok = finite(value)
    return [] if ok and 0 <= value < 1 else [f"The {what} must be at least 0 and below 1."]


@dataclass(frozen=True)
class TabularOptions:
    """Settings of fastai's tabular_learner that both table tasks have."""

    layers: str = "200,100"  # hidden layer sizes, comma-separated (tabular_learner's layers)
    ps: float = 0.0  # dropout after each hidden layer
    embed_p: float = 0.0  # dropout on the embeddings

    def problems(self) -> list[str]:
        """Every reason these options are not sensible, as sentences."""
        out = []
        try:
            parse_layers(self.layers)
        except ValueError as e:
            out.append(str(e))
        return (
            out + _fraction_problem(self.ps, "dropout") + _fraction_problem(self.embed_p, "embedding dropout")
        )


@dataclass(frozen=True)
class RegressionOptions(TabularOptions):
    """Settings of a table whose target is a number."""

    loss: str = "mse"  # one of LOSSES
    huber_delta: float = 1.0  # Huber only: where squared turns absolute, in standard deviations of the target
    y_range: bool = True  # squeeze predictions into the training targets' range (fastai's y_range)

    def problems(self) -> list[str]:
        """Every reason these options are not sensible, as sentences."""
        out = super().problems()
        if self.loss not in LOSSES:
            out.append(f"The loss must be one of {', '.join(LOSSES)}.")
        d = self.huber_delta
        if not (finite(d) and 0.01 <= d <= 100):
            out.append("Huber's delta must be from 0.01 to 100 (standard deviations of the target).")
        return out


class _Table:
    """What both table tasks share: the data path, the network, the state, the bundle."""

    inputs = "table"
    cache_format = "table-tensors"  # codes (N×n_cat int64) and floats (N×n_cont float32), in memory
    archs = archs_for("tabular_classification")
    default_arch = "tabular_mlp"

    def recognises(self, folder: Path) -> bool:
        """True when folder holds a table.csv whose roles make it this task."""
        from core.data import tables

        return tables.recognises(Path(folder), self.name)

    def loaders(self, cfg: TrainConfig, info: DatasetInfo | None = None, device: Any = None) -> Any:
        """Loaders on the fast path: the rows processed once into tensors, batches by index."""
        from core.data import table_loaders

        return table_loaders.build(cfg, info, device)

    def learner(self, cfg: TrainConfig, bundle: Any) -> tuple[Any, Any]:
        """fastai's TabularModel with the task's loss and metrics (core.train.tabular)."""
        from core.train import tabular

        return tabular.learner(cfg, bundle)

    def summary(self, learn: Any) -> dict[str, float | None]:
        """The final metrics by name (None when no epoch finished)."""
        from core.train import tabular

        return tabular.summary(learn, self.name)

    def record(self, cfg: TrainConfig, bundle: Any) -> RunRecord:
        """The classes (or the target's name), the processing state and the data version."""
        from core.runs import state_record

        return state_record(cfg, bundle)

    def build(self, arch: str, n_outputs: int, channels: int, size: int, pretrained: bool = False) -> Any:
        """Not for tables: their network is built from the processing state (build_model)."""
        from core.errors import UserError

        raise UserError(
            "A table's network is built from its data's processing state, not from an image size."
        )

    def build_model(self, record: RunRecord) -> torch.nn.Module:
        """The untrained network the run's weights load into, from its state."""
        from core.train import tabular

        return tabular.build_from_state(record.config.arch, record.state).model

    def interpret(self, loaded: LoadedRun) -> Any:
        """Predictions and losses on every row of the dataset as it is now (core.analysis.tabular)."""
        from core.analysis import tabular

        return tabular.interpret(loaded)

    def bundle_fields(self, record: RunRecord) -> dict[str, Any]:
        """The processing state, and the classes or the target's name (plain JSON)."""
        from core.serving import predict_table

        return predict_table.bundle_fields(record)

    def build_from_bundle(self, config: dict[str, Any]) -> torch.nn.Module:
        """The untrained network for a checked bundle config (its state)."""
        from core.train import tabular

        return tabular.build_from_state(config["arch"], config["state"]).model


class TabularClassification(_Table):
    """A table whose target is a class: rows in, class probabilities out."""

    name = "tabular_classification"
    title = "Tabular classification"
    main_metric = "accuracy"
    higher_is_better = True
    metric_format = "{:.2%}"
    result_views = ("table_scores", "confusion_table", "top_rows", "importance", "embeddings", "baseline")
    Options = TabularOptions
    defaults: dict[str, Any] = {"arch": "tabular_mlp", "epochs": 8, "lr": 1e-2, "bs": 64, "pretrained": False}

    def activation(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax: one probability per class, summing to 1."""
        import torch

        return torch.softmax(logits.float(), dim=-1)


class TabularRegression(_Table):
    """A table whose target is a number: rows in, a value out (in the target's own units)."""

    name = "tabular_regression"
    title = "Tabular regression"
    main_metric = "rmse"
    higher_is_better = False
    metric_format = "{:.4g}"
    result_views = ("table_scores", "residuals", "top_rows", "importance", "embeddings", "baseline")
    Options = RegressionOptions
    defaults: dict[str, Any] = {"arch": "tabular_mlp", "epochs": 8, "lr": 1e-2, "bs": 64, "pretrained": False}

    def activation(self, logits: torch.Tensor) -> torch.Tensor:
        """The network's output is already the value (in the target's units)."""
        return logits.float().reshape(len(logits), -1)[:, 0]
