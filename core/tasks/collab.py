"""Collaborative filtering: fastai's CollabDataLoaders and collab_learner.

A ratings table (user, item, rating) in; a rating for any user and item out. Users and items
become indices into two vocabularies (core.data.ratings_loaders), and the network learns a
vector of factors and a bias for each: their dot product plus the biases (EmbeddingDotBias), or
the two vectors through fully connected layers (EmbeddingNN). Judged by RMSE against the best a
model could do (the noise the built-in ratings were drawn with) or against predicting the mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.tasks.tabular import parse_layers
from core.train.archs import archs_for

if TYPE_CHECKING:
    import torch

    from core.config import TrainConfig
    from core.data.datasets import DatasetInfo
    from core.runs import LoadedRun, RunRecord

MAX_FACTORS = 1024


@dataclass(frozen=True)
class CollabOptions:
    """Settings of fastai's collab_learner."""

    # The length of each user's and item's vector (collab_learner's n_factors; fastai's default is
    # 50). With some 50 ratings per person, most of 50 factors learn the noise: on ratings_synth
    # (drawn from 4 tastes) 4 factors score within 10 % of the noise floor, 50 about 35 % above it.
    # The neural model sizes its embeddings by fastai's rule instead (core.train.collab).
    n_factors: int = 4
    layers: str = "100"  # neural_collab only: hidden layer sizes, comma-separated
    y_range: bool = True  # squeeze predictions into the ratings' range (fastai's y_range)

    def problems(self) -> list[str]:
        """Every reason these options are not sensible, as sentences."""
        out = []
        n = self.n_factors
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_FACTORS:
            out.append(f"The number of factors must be from 1 to {MAX_FACTORS} (fastai uses 50).")
        try:
            parse_layers(self.layers)
        except ValueError as e:
            out.append(str(e))
        return out


class Collaborative:
    """Ratings of items by users: a (user, item) pair in, a predicted rating out."""

    name = "collaborative"
    title = "Collaborative filtering"
    inputs = "ratings"
    main_metric = "rmse"
    higher_is_better = False
    metric_format = "{:.4f}"
    cache_format = "ratings-tensors"  # user and item indices (int64) and ratings (float32), in memory
    result_views = ("collab_scores", "item_map", "item_bias", "nearest")
    Options = CollabOptions
    archs = archs_for("collaborative")
    default_arch = "dot_bias"
    # Tuned on ratings_synth (bench/collab.py): ~3 s on a CPU core, RMSE within 10 % of its noise
    # floor. The course's fit_one_cycle(5, 5e-3, wd=0.1) is still short of the floor after 5 epochs.
    defaults: dict[str, Any] = {
        "arch": "dot_bias",
        "epochs": 15,
        "lr": 3e-2,
        "wd": 0.1,
        "bs": 256,
        "pretrained": False,
    }

    def recognises(self, folder: Path) -> bool:
        """True when folder holds a ratings.csv with user, item and rating roles."""
        from core.data import tables

        return tables.recognises(Path(folder), self.name)

    def loaders(self, cfg: TrainConfig, info: DatasetInfo | None = None, device: Any = None) -> Any:
        """Loaders on the fast path: user and item indices and ratings as tensors, batches by index."""
        from core.data import ratings_loaders

        return ratings_loaders.build(cfg, info, device)

    def learner(self, cfg: TrainConfig, bundle: Any) -> tuple[Any, Any]:
        """EmbeddingDotBias or EmbeddingNN with MSE and RMSE (core.train.collab)."""
        from core.train import collab

        return collab.learner(cfg, bundle)

    def summary(self, learn: Any) -> dict[str, float | None]:
        """The final RMSE and MAE (None when no epoch finished)."""
        from core.train import tabular

        return tabular.summary(learn, self.name)

    def record(self, cfg: TrainConfig, bundle: Any) -> RunRecord:
        """The user and item vocabularies and the rating range (the state) and the data version."""
        from core.runs import state_record

        return state_record(cfg, bundle)

    def build(self, arch: str, n_outputs: int, channels: int, size: int, pretrained: bool = False) -> Any:
        """Not for ratings: the network is built from the user and item vocabularies (build_model)."""
        from core.errors import UserError

        raise UserError("A ratings model is built from its users and items, not from an image size.")

    def build_model(self, record: RunRecord) -> torch.nn.Module:
        """The untrained network the run's weights load into, from its state."""
        from core.train import collab

        return collab.build_from_state(record.config.arch, record.state).model

    def activation(self, logits: torch.Tensor) -> torch.Tensor:
        """The network's output is already the rating."""
        return logits.float().reshape(-1)

    def interpret(self, loaded: LoadedRun) -> Any:
        """Predictions on every rating, biases and factors (core.analysis.collab)."""
        from core.analysis import collab

        return collab.interpret(loaded)

    def bundle_fields(self, record: RunRecord) -> dict[str, Any]:
        """The state: user and item vocabularies, item titles and genres, the rating range."""
        from core.serving import predict_collab

        return predict_collab.bundle_fields(record)

    def build_from_bundle(self, config: dict[str, Any]) -> torch.nn.Module:
        """The untrained network for a checked bundle config (its state)."""
        from core.train import collab

        return collab.build_from_state(config["arch"], config["state"]).model
