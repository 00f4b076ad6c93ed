"""Predicting with a saved ratings model: recommendations for a user, items like an item.

A bundle holds the model's weights and its state (users, items, titles, genres, the rating
range: core.data.ratings_loaders) but no ratings. Leaving out what a user has already rated
("exclude_seen") therefore reads the ratings of the model's dataset in this workspace, when it
is here; a bundle imported without its data can still recommend, but cannot know what the user
has seen, and says so (the frame's attrs["seen"] is None then).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from core.analysis.collab import describe_items, nearest_items
from core.data.table_procs import category_codes
from core.errors import UserError
from core.train import collab

MAX_N = 1000  # the most recommendations or similar items one call returns


def bundle_fields(record) -> dict[str, Any]:
    """What a bundle's config.json stores for a ratings model beyond the weights: {"state": ...}."""
    if not isinstance(record.state, dict) or record.state.get("kind") != "ratings":
        raise UserError(
            "This run has no ratings state (users and items); it cannot be saved as a ratings model."
        )
    return {"state": record.state}


def _state(source: Any) -> dict:
    """The ratings state of a ModelInfo, LoadedModel or a state itself."""
    state = source if isinstance(source, dict) else getattr(source, "state", None)
    if state is None and hasattr(source, "info"):
        state = getattr(source.info, "state", None)
    if not isinstance(state, dict) or state.get("kind") != "ratings":
        raise UserError("This model was not trained on ratings: it has no users and items.")
    return state


def users(info) -> list[str]:
    """The users the model knows (its training users, without fastai's "#na#")."""
    return [u for u in _state(info)["users"][1:]]


def items(info) -> list[str]:
    """The items the model knows (its training items, without "#na#")."""
    return [i for i in _state(info)["items"][1:]]


def user_index(state: dict, user: str) -> int:
    """A user's row in the model; UserError with a sentence when the model never saw them."""
    known = state["users"]
    try:
        return known.index(str(user), 1)
    except ValueError:
        raise UserError(
            f"user {str(user)!r} was not in the training data; the model knows {len(known) - 1} users."
        ) from None


def _n(n: int) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_N:
        raise UserError(f"Ask for 1 to {MAX_N} items.")
    return n


def seen_ratings(loaded, user: str) -> dict[str, float] | None:
    """The items user rated in the model's dataset as it is now ({item: rating}); None when that
    dataset is not in this workspace (an imported bundle) or is no longer a ratings dataset."""
    from core.data import ratings_loaders
    from core.data.datasets import resolve

    name = getattr(loaded.info, "dataset", None)
    if not name:
        return None
    try:
        ratings, _ = ratings_loaders.read(resolve(name))
    except UserError:
        return None
    roles = ratings_loaders.roles_of(ratings)
    frame = ratings.frame
    mine = frame[frame[roles["user"]].astype(str) == str(user)]
    return {str(i): float(r) for i, r in zip(mine[roles["item"]], mine[roles["rating"]])}


def recommend(loaded, user: str, n: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
    """The n items with the highest predicted rating for user (item, title, genre, predicted).

    exclude_seen leaves out the items the user rated in the model's dataset, when it is in this
    workspace; attrs["seen"] is how many were left out, or None when they could not be known.
    """
    from core.serving.predict import MODEL_LOCK

    state = _state(loaded)
    u = user_index(state, user)
    n = _n(n)
    index = np.arange(1, len(state["items"]))
    pairs = torch.from_numpy(np.stack([np.full(len(index), u), index], axis=1).astype(np.int64))
    with MODEL_LOCK:
        predicted = collab.predict_pairs(loaded.model, pairs).numpy().astype(np.float64)
    out = pd.DataFrame(describe_items(state, index))
    out["predicted"] = predicted
    seen = None
    if exclude_seen:
        rated = seen_ratings(loaded, user)
        if rated is not None:
            keep = ~out["item"].isin(set(rated))
            seen = int((~keep).sum())
            out = out[keep]
    out = out.sort_values("predicted", ascending=False, kind="stable").head(n).reset_index(drop=True)
    out.attrs["seen"] = seen
    return out


def similar(loaded, item: str, n: int = 10) -> pd.DataFrame:
    """The n items nearest to item by the cosine of their factors (item, title, genre, similarity)."""
    from core.serving.predict import MODEL_LOCK

    _state(loaded)
    with MODEL_LOCK:
        return nearest_items(loaded, item, _n(n))


def predict_pairs(loaded, frame: pd.DataFrame) -> pd.DataFrame:
    """Predicted ratings for the rows of frame (its user and item columns, named as in training).

    Returns the user and item columns, `predicted`, and `note` (why a row has no prediction: a
    user or item the model never saw; empty otherwise).
    """
    from core.serving.predict import MODEL_LOCK

    state = _state(loaded)
    roles = state.get("roles") or {"user": "user", "item": "item"}
    missing = [c for c in (roles["user"], roles["item"]) if c not in frame.columns]
    if missing:
        raise UserError(f"The table needs the column(s) {', '.join(map(repr, missing))} (user and item).")
    us = category_codes(frame[roles["user"]], state["users"])
    its = category_codes(frame[roles["item"]], state["items"])
    pairs = torch.from_numpy(np.stack([us, its], axis=1).reshape(-1, 2))
    known = (pairs[:, 0] > 0) & (pairs[:, 1] > 0)
    with MODEL_LOCK:
        pred = collab.predict_pairs(loaded.model, pairs[known]).numpy().astype(np.float64)
    values = np.full(len(pairs), np.nan)
    values[known.numpy()] = pred
    notes = []
    for uu, ii, u_raw, i_raw in zip(us, its, frame[roles["user"]], frame[roles["item"]]):
        why = []
        if uu == 0:
            why.append(f"user {str(u_raw)!r} was not in the training data")
        if ii == 0:
            why.append(f"item {str(i_raw)!r} was not in the training data")
        notes.append("; ".join(why))
    return pd.DataFrame(
        {
            roles["user"]: frame[roles["user"]].astype(str).to_numpy(),
            roles["item"]: frame[roles["item"]].astype(str).to_numpy(),
            "predicted": values,
            "note": notes,
        }
    )
