"""Interpretation of a collaborative-filtering run: every rating predicted, factors and biases.

As in the fastai course's collaborative-filtering lesson: the model's RMSE on the validation
ratings beside what predicting the training mean would score (and, for the built-in
ratings_synth, beside the noise the ratings were drawn with: no model can do better on
average); the item factors projected on their two main directions (PCA) for the most-rated
items; the items ranked by their learned bias (liked whoever the user); the items nearest to
one item by the cosine of their factor vectors.

The views take a LoadedRun (core.runs.load), a predicting LoadedModel (core.serving.predict)
or a CollabInterpretation: each has the network and the state (core.data.ratings_loaders).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.data.table_procs import NA, category_codes
from core.errors import UserError
from core.train import collab
from core.train.tabular import figures

SPLITS = ("train", "valid")
FRAME_COLUMNS = ["user", "item", "title", "rating", "split", "predicted", "error", "known"]
PCA_TOP = 500  # the course plots the most-rated items only: rarely rated ones have noisy factors
NO_BIAS = (
    "The neural model has no bias per item: its embeddings go through layers together, so no "
    "single number says how much an item is liked whoever the user. Train the dot-product model "
    "(dot_bias) to rank items by bias."
)


@dataclass
class CollabInterpretation:
    """A ratings run's predictions on every rating of its dataset as it is now."""

    run_id: int
    dataset: str
    arch: str
    state: dict
    model: Any  # torch.nn.Module in eval mode
    frame: pd.DataFrame  # FRAME_COLUMNS: one row per rating
    rmse: float | None  # on the validation ratings (None: no validation ratings)
    mae: float | None
    train_rmse: float | None
    baseline_rmse: float | None  # predicting the training ratings' mean for every validation rating
    noise_floor: float | None  # the built-in's generating noise: the best RMSE to expect
    fingerprint: str | None = None
    notes: list[str] = field(default_factory=list)


def _parts(source: Any) -> tuple[Any, dict]:
    """The network and the state of a LoadedRun, LoadedModel or CollabInterpretation."""
    if isinstance(source, CollabInterpretation):
        return source.model, source.state
    record = getattr(source, "record", None)
    state = record.state if record is not None else getattr(getattr(source, "info", None), "state", None)
    if not isinstance(state, dict) or state.get("kind") != "ratings":
        raise UserError("This is not a collaborative-filtering model: it has no users and items.")
    return source.model, state


def interpret(loaded) -> CollabInterpretation:
    """Predict every rating of the run's dataset as it is now, split as the run was split (its
    state's split cut again, with a note when the dataset's split has changed since), and score."""
    from core.data import ratings_loaders
    from core.data.datasets import resolve
    from core.data.table_loaders import run_split

    rec = loaded.record
    state = rec.state
    if not isinstance(state, dict) or state.get("kind") != "ratings":
        raise UserError(f"Run {loaded.run_id} is not a collaborative-filtering run.")
    ratings, version = ratings_loaders.read(resolve(rec.config.dataset))
    roles = ratings_loaders.roles_of(ratings)
    frame = ratings.frame
    users = category_codes(frame[roles["user"]], state["users"])
    items = category_codes(frame[roles["item"]], state["items"])
    predicted = collab.predict_pairs(loaded.model, torch.from_numpy(np.stack([users, items], axis=1)))
    y = ratings_loaders.ratings_of(frame, roles["rating"]).astype(np.float64)
    valid, notes = run_split(state, ratings)
    pred = predicted.numpy().astype(np.float64)
    titles = state.get("titles") or {}
    item_text = frame[roles["item"]].astype(str)
    out = pd.DataFrame(
        {
            "user": frame[roles["user"]].astype(str).to_numpy(),
            "item": item_text.to_numpy(),
            "title": item_text.map(lambda i: titles.get(i, i)).to_numpy(),
            "rating": y,
            "split": np.where(valid, "valid", "train"),
            "predicted": pred,
            "error": pred - y,
            "known": (users > 0) & (items > 0),
        },
        columns=FRAME_COLUMNS,
    )
    train_mean = float(y[~valid].mean()) if (~valid).any() else float(state.get("mean_rating", 0.0))
    unseen = int((~out["known"].to_numpy() & valid).sum())
    if unseen:
        notes.append(
            f"{unseen} validation rating(s) name a user or item with no training rating; the model "
            f"predicts them from its {NA} row, as fastai does."
        )
    noise = next(
        (v for v in (state.get("noise_floor"), state.get("noise_sd"), ratings.noise_sd) if v is not None),
        None,
    )
    return CollabInterpretation(
        run_id=int(loaded.run_id),
        dataset=rec.config.dataset,
        arch=rec.config.arch,
        state=state,
        model=loaded.model,
        frame=out,
        **scores_of(y[valid], pred[valid]),
        train_rmse=scores_of(y[~valid], pred[~valid])["rmse"],
        baseline_rmse=scores_of(y[valid], np.full(int(valid.sum()), train_mean))["rmse"],
        noise_floor=float(noise) if noise is not None and math.isfinite(float(noise)) else None,
        fingerprint=version,
        notes=notes,
    )


def scores(interp: CollabInterpretation, split: str = "valid") -> dict[str, float]:
    """RMSE and MAE of one split's ratings."""
    if split not in SPLITS:
        raise UserError(f"The split is one of: {', '.join(SPLITS)}.")
    rows = interp.frame[interp.frame["split"] == split]
    return scores_of(rows["rating"].to_numpy(), rows["predicted"].to_numpy())


def scores_of(ratings: np.ndarray, predicted: np.ndarray) -> dict[str, float | None]:
    """RMSE and MAE of predicted ratings (core.train.tabular.figures, as training's metrics)."""
    return figures("collaborative", ratings, predicted)


def describe_items(state: dict, index: np.ndarray) -> dict[str, list]:
    """item, title and genre columns for item indices (a title falls back to the item's name)."""
    names = [state["items"][i] for i in index]
    titles, genres = state.get("titles") or {}, state.get("genres") or {}
    return {
        "item": names,
        "title": [titles.get(n, n) for n in names],
        "genre": [genres.get(n) for n in names],
    }


def _counts(state: dict) -> np.ndarray:
    counts = state.get("item_counts")
    n = len(state["items"])
    if isinstance(counts, list) and len(counts) == n:
        return np.asarray(counts, dtype=np.int64)
    return np.zeros(n, dtype=np.int64)


def item_pca(source, n: int = PCA_TOP) -> pd.DataFrame:
    """The n most-rated items' factors projected on their two main directions (scikit-learn PCA).

    Columns item, title, genre, x, y, count; attrs["explained"] holds the two components' shares
    of the variance. dot_bias: the rows of i_weight; neural_collab: the item embedding.
    """
    from sklearn.decomposition import PCA

    model, state = _parts(source)
    factors = collab.item_factors(model).numpy().astype(np.float64)
    counts = _counts(state)
    order = np.argsort(-counts[1:], kind="stable") + 1  # "#na#" (row 0) is no item
    top = order[: max(2, int(n))]
    if len(top) < 2:
        raise UserError("The item map needs at least two items.")
    k = min(2, factors.shape[1], len(top))
    pca = PCA(n_components=k).fit(factors[top])
    xy = pca.transform(factors[top])
    out = pd.DataFrame(describe_items(state, top))
    out["x"] = xy[:, 0]
    out["y"] = xy[:, 1] if k > 1 else 0.0
    out["count"] = counts[top]
    out.attrs["explained"] = [float(v) for v in pca.explained_variance_ratio_]
    return out


def item_bias(source) -> pd.DataFrame | None:
    """Every item's learned bias, highest first (item, title, genre, bias, count); None for the
    neural model, which has none (NO_BIAS says why in words)."""
    model, state = _parts(source)
    bias = collab.item_biases(model)
    if bias is None:
        return None
    index = np.arange(1, len(state["items"]))
    out = pd.DataFrame(describe_items(state, index))
    out["bias"] = bias.numpy().astype(np.float64)[index]
    out["count"] = _counts(state)[index]
    return out.sort_values("bias", ascending=False, kind="stable").reset_index(drop=True)


def item_index(state: dict, item: str) -> int:
    """An item's row in the model; UserError with a sentence when the model never saw it."""
    items = state["items"]
    try:
        i = items.index(str(item), 1)
    except ValueError:
        raise UserError(
            f"item {str(item)!r} was not in the training data; the model knows {len(items) - 1} items."
        ) from None
    return i


def nearest_items(source, item: str, n: int = 10) -> pd.DataFrame:
    """The n items whose factor vectors point most nearly the same way as item's (cosine similarity).

    Columns item, title, genre, similarity (1 = the same direction), most similar first; the
    item itself is left out.
    """
    model, state = _parts(source)
    i = item_index(state, item)
    factors = collab.item_factors(model).double()
    unit = factors / factors.norm(dim=1, keepdim=True).clamp_min(1e-12)
    sims = (unit @ unit[i]).numpy()
    sims[0] = -np.inf  # "#na#"
    sims[i] = -np.inf
    order = np.argsort(-sims, kind="stable")[: max(0, min(int(n), len(sims) - 2))]
    out = pd.DataFrame(describe_items(state, order))
    out["similarity"] = sims[order]
    return out
