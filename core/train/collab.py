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
are a straight sum clipped at the ends): core.train.tabular.y_range_for with Y_MARGIN. The loss
is the mean squared error (core.train.table_losses.MSE); RMSE and MAE are core.train.tabular's
figures. shape_of is the one check of a ratings state. Light at import (no torch, no fastai).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.data.table_procs import checked_vocab
from core.errors import UserError
from core.train import tabular
from core.train.tabular import checked_layers, checked_y_range, count, malformed, one_group

if TYPE_CHECKING:
    import torch
    from torch import nn

    from core.train.models import BuiltModel

ARCHS = ("dot_bias", "neural_collab")
Y_MARGIN = 0.25  # the y_range reaches this share of the ratings' span beyond their min and max
MAX_ROWS = 10_000_000  # users or items a state may name (a bound for hostile bundles)
KIND = "ratings"  # how the checks' sentences name the state


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


def shape_of(state: Any) -> dict[str, Any]:
    """The one check of a ratings state (a run's or a bundle's) and the model shape it describes;
    UserError with a sentence when it does not hold together: users and items are distinct texts
    with "#na#" first, the embeddings match them, titles and genres map items to texts."""
    if not isinstance(state, dict) or state.get("kind") != "ratings":
        raise UserError("The model's state is not that of a ratings model.")
    users, items, spec = state.get("users"), state.get("items"), state.get("model")
    if not isinstance(users, list) or not isinstance(items, list) or not isinstance(spec, dict):
        raise malformed("it needs users, items and model", KIND)
    try:
        checked_vocab(users, "users", least=2)
        checked_vocab(items, "items", least=2)
    except ValueError as e:
        raise malformed(str(e), KIND) from None
    n_users = count(len(users), "the number of users", 2, MAX_ROWS, KIND)
    n_items = count(len(items), "the number of items", 2, MAX_ROWS, KIND)
    emb = spec.get("emb_szs")
    if not (
        isinstance(emb, list) and len(emb) == 2 and all(isinstance(e, list) and len(e) == 2 for e in emb)
    ):
        raise malformed("emb_szs must be [[users, size], [items, size]]", KIND)
    if [emb[0][0], emb[1][0]] != [n_users, n_items]:
        raise malformed(
            f"it lists {n_users} users and {n_items} items but its embeddings have {emb[0][0]} and "
            f"{emb[1][0]} rows; its embedding sizes do not match its users and items",
            KIND,
        )
    for key in ("titles", "genres"):
        found = state.get(key)
        if found is not None and not (
            isinstance(found, dict) and all(isinstance(v, str) for v in found.values())
        ):
            raise malformed(f"{key} must map items to texts", KIND)
    return {
        "n_users": n_users,
        "n_items": n_items,
        "n_factors": count(spec.get("n_factors"), "n_factors", 1, 1024, KIND),
        "emb_szs": [
            [n_users, count(emb[0][1], "an embedding size", 1, 4096, KIND)],
            [n_items, count(emb[1][1], "an embedding size", 1, 4096, KIND)],
        ],
        "layers": checked_layers(spec.get("layers"), KIND),
        "y_range": checked_y_range(state.get("y_range"), KIND),
    }


def build_from_state(arch: str, state: dict) -> BuiltModel:
    """The untrained network a run's or bundle's state describes, for arch (strict checks first)."""
    from core.train.models import BuiltModel

    s = shape_of(state)
    model = build_model(
        arch, s["n_users"], s["n_items"], s["n_factors"], s["emb_szs"], s["layers"], s["y_range"]
    )
    return BuiltModel(model, splitter=one_group)


def learner(cfg, bundle) -> tuple[Any, BuiltModel]:
    """fastai's collab_learner for cfg on the bundle: the state's network, MSE, RMSE and MAE."""
    from core.train.table_losses import MSE
    from core.train.training import make_learner

    built = build_from_state(cfg.arch, bundle.state)
    return make_learner(cfg, bundle.dls, built, MSE(), tabular.metrics("collaborative")), built


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


def predict_pairs(model: nn.Module, pairs: torch.Tensor, bs: int = 4096) -> torch.Tensor:
    """Predicted ratings (float32 CPU) for N×2 (user index, item index) pairs, in batches."""
    import torch

    model.eval()
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    with torch.no_grad():
        out = [
            model(pairs[i : i + bs].to(device)).float().reshape(-1).cpu() for i in range(0, len(pairs), bs)
        ]
    return torch.cat(out) if out else torch.zeros(0)
