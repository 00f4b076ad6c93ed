"""fastai's collab_learner on the ratings fast path: the two models, MSE, RMSE and MAE.

- "dot_bias" is fastai's EmbeddingDotBias(n_factors, n_users, n_items, y_range): a vector of
  n_factors and a bias per user and per item; the prediction is
  `dot(u_weight[u], i_weight[i]) + u_bias[u] + i_bias[i]`, then, with a y_range (lo, hi),
  `lo + (hi - lo) · sigmoid(that)`.
- "neural_collab" is fastai's EmbeddingNN (a TabularModel with no continuous columns): the
  user's and the item's embeddings side by side through fully connected layers (Linear →
  ReLU → BatchNorm per hidden layer, then Linear to one output, then the same SigmoidRange).
  As collab_learner does, the embedding sizes come from fastai's rule (emb_sz_rule: min(600,
  round(1.6 · n^0.56)) for n users or items, "#na#" counted), not from n_factors.

y_range: fastai's course uses (0, 5.5) for 0.5–5 stars, because a sigmoid never reaches its
ends; here it is the training ratings' (min, max) widened by a quarter of their span on each
side ((-0.625, 6.125) for 0.5–5), so any rating scale works and the sigmoid is nearly straight
over the ratings (a 10 % margin bends it: about 5 % worse RMSE on ratings_synth, whose ratings
are a straight sum clipped at the ends). The loss is the mean squared error.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from core.errors import UserError
from core.train.models import BuiltModel

ARCHS = ("dot_bias", "neural_collab")
Y_MARGIN = 0.25  # the y_range reaches this share of the ratings' span beyond their min and max
METRICS = ("rmse", "mae")
MAX_ROWS = 10_000_000  # users or items a state may name (a bound for hostile bundles)


class MSE(nn.MSELoss):
    """The mean squared error on plain tensors, predictions and ratings flattened (as MSELossFlat)."""

    def forward(self, pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
        """Mean of (pred − targ)² over the batch."""
        return super().forward(pred.float().reshape(-1), targ.float().reshape(-1))

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        """The output is already a rating."""
        return x

    def decodes(self, x: torch.Tensor) -> torch.Tensor:
        """The output is already a rating."""
        return x


def _rmse(pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(torch.nn.functional.mse_loss(pred.float(), targ.float()))


def metrics() -> list:
    """Fresh RMSE (over the whole validation set) and MAE metrics, named "rmse" and "mae"."""
    from fastai.metrics import AccumMetric, mae

    return [AccumMetric(_rmse, name="rmse"), mae]


def y_range_for(ratings: torch.Tensor) -> list[float]:
    """The training ratings' (min, max) widened by Y_MARGIN of their span (0.5 when all are equal)."""
    lo, hi = float(ratings.min()), float(ratings.max())
    margin = Y_MARGIN * (hi - lo) if hi > lo else 0.5
    return [round(lo - margin, 6), round(hi + margin, 6)]


def model_spec(cfg, n_users: int, n_items: int) -> dict[str, Any]:
    """The network's shape for cfg (the state's "model"): factors, embedding sizes, layers."""
    from fastai.tabular.model import emb_sz_rule

    from core.tasks.tabular import parse_layers

    opts = cfg.options
    return {
        "arch": cfg.arch,
        "n_factors": int(opts.n_factors),
        "emb_szs": [[n_users, int(emb_sz_rule(n_users))], [n_items, int(emb_sz_rule(n_items))]],
        "layers": parse_layers(opts.layers),
    }


def build_model(
    arch: str,
    n_users: int,
    n_items: int,
    n_factors: int,
    emb_szs: list[list[int]],
    layers: list[int],
    y_range: list[float] | None,
) -> nn.Module:
    """fastai's EmbeddingDotBias ("dot_bias") or EmbeddingNN ("neural_collab"), untrained."""
    from fastai.collab import EmbeddingDotBias, EmbeddingNN
    from fastai.tabular.model import tabular_config

    yr = tuple(y_range) if y_range is not None else None
    if arch == "dot_bias":
        return EmbeddingDotBias(n_factors, n_users, n_items, y_range=yr)
    if arch == "neural_collab":
        config = tabular_config()
        config["y_range"] = yr
        return EmbeddingNN(emb_szs=[tuple(e) for e in emb_szs], layers=list(layers), **config)
    raise UserError(f"Unknown collaborative architecture {arch!r}; choose one of: {', '.join(ARCHS)}.")


def _count(value: Any, what: str, low: int = 1, high: int = MAX_ROWS) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise UserError(
            f"The ratings state is malformed: {what} must be a whole number from {low} to {high}."
        )
    return value


def _y_range(value: Any) -> list[float] | None:
    if value is None:
        return None
    ok = isinstance(value, (list, tuple)) and len(value) == 2
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    if not ok or not (float(value[0]) < float(value[1])) or any(abs(float(v)) > 1e12 for v in value):
        raise UserError(
            "The ratings state is malformed: y_range must be null or [low, high] with low < high."
        )
    return [float(value[0]), float(value[1])]


def shape_of(state: Any) -> dict[str, Any]:
    """The checked model shape a state describes; UserError with a sentence when it is malformed."""
    from core.tasks.tabular import parse_layers

    if not isinstance(state, dict) or state.get("kind") != "ratings":
        raise UserError("The model's state is not that of a ratings model.")
    users, items, spec = state.get("users"), state.get("items"), state.get("model")
    if not isinstance(users, list) or not isinstance(items, list) or not isinstance(spec, dict):
        raise UserError("The ratings state is malformed: it needs users, items and model.")
    n_users, n_items = (
        _count(len(users), "the number of users", 2),
        _count(len(items), "the number of items", 2),
    )
    emb = spec.get("emb_szs")
    if not (
        isinstance(emb, list) and len(emb) == 2 and all(isinstance(e, list) and len(e) == 2 for e in emb)
    ):
        raise UserError("The ratings state is malformed: emb_szs must be [[users, size], [items, size]].")
    if _count(emb[0][0], "emb_szs' users") != n_users or _count(emb[1][0], "emb_szs' items") != n_items:
        raise UserError(
            "The ratings state is malformed: its embedding sizes do not match its users and items."
        )
    layers = spec.get("layers")
    try:
        layers = parse_layers(",".join(str(v) for v in layers)) if isinstance(layers, list) else None
    except ValueError:
        layers = None
    if layers is None:
        raise UserError("The ratings state is malformed: layers must be a list of sizes.")
    return {
        "n_users": n_users,
        "n_items": n_items,
        "n_factors": _count(spec.get("n_factors"), "n_factors", 1, 1024),
        "emb_szs": [
            [n_users, _count(emb[0][1], "an embedding size", 1, 4096)],
            [n_items, _count(emb[1][1], "an embedding size", 1, 4096)],
        ],
        "layers": layers,
        "y_range": _y_range(state.get("y_range")),
    }


def _one_group(model: nn.Module) -> list:
    return [list(model.parameters())]


def build_from_state(arch: str, state: dict) -> BuiltModel:
    """The untrained network a run's or bundle's state describes, for arch (strict checks first)."""
    s = shape_of(state)
    model = build_model(
        arch, s["n_users"], s["n_items"], s["n_factors"], s["emb_szs"], s["layers"], s["y_range"]
    )
    return BuiltModel(model, splitter=_one_group)


def learner(cfg, bundle) -> tuple[Any, BuiltModel]:
    """fastai's collab_learner for cfg on the bundle: the state's network, MSE, RMSE and MAE."""
    from core.train.training import make_learner

    built = build_from_state(cfg.arch, bundle.state)
    return make_learner(cfg, bundle.dls, built, MSE(), metrics()), built


def summary(learn) -> dict[str, float | None]:
    """The last epoch's validation RMSE and MAE (None when no epoch finished)."""
    record = list(getattr(learn, "final_record", []) or [])
    out = {}
    for i, name in enumerate(METRICS, start=2):
        value = record[i] if len(record) > i else None
        out[name] = float(value) if value is not None else None
    return out


def item_factors(model: nn.Module) -> torch.Tensor:
    """Each item's learned vector (rows in the items vocabulary's order): i_weight or the item embedding."""
    if hasattr(model, "i_weight"):
        return model.i_weight.weight.detach().float().cpu()
    return model.embeds[1].weight.detach().float().cpu()


def user_factors(model: nn.Module) -> torch.Tensor:
    """Each user's learned vector: u_weight or the user embedding."""
    if hasattr(model, "u_weight"):
        return model.u_weight.weight.detach().float().cpu()
    return model.embeds[0].weight.detach().float().cpu()


def item_biases(model: nn.Module) -> torch.Tensor | None:
    """Each item's learned bias (dot_bias), or None: the neural model has no bias per item."""
    if hasattr(model, "i_bias"):
        return model.i_bias.weight.detach().float().cpu().reshape(-1)
    return None


@torch.no_grad()
def predict_pairs(model: nn.Module, pairs: torch.Tensor, bs: int = 4096) -> torch.Tensor:
    """Predicted ratings (float32 CPU) for N×2 (user index, item index) pairs, in batches."""
    model.eval()
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    out = [model(pairs[i : i + bs].to(device)).float().reshape(-1).cpu() for i in range(0, len(pairs), bs)]
    return torch.cat(out) if out else torch.zeros(0)
