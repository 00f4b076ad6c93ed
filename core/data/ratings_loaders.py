"""The collaborative-filtering fast path: ratings become index tensors once, batches by index.

A ratings table (user, item, rating) is encoded as fastai's CollabDataLoaders.from_df encodes
it (TabularCollab with Categorify): each of the user and item columns gets a vocabulary fitted
on the TRAINING rows, "#na#" first and then the distinct values sorted (the tables' own rule:
core.data.table_procs.vocabulary and category_codes), and every row becomes
the pair of their indices (a user or item seen only in validation is "#na#", index 0). The
split is the dataset's own (dataset.json, core.data.tables.split_mask). The pairs (N×2 int64)
and ratings (N float32) are made once; batches are slices by index through the image fast
path's fastai wrapper (core.data.loaders.TensorLoader), with no per-row Python work.

What a saved model needs beside its weights is the state (plain JSON, in run.json and bundles):

    {"kind": "ratings", "roles": {"user", "item", "rating"}, "users": [...], "items": [...],
     "titles": {item: title} | null, "genres": {item: genre} | null, "item_counts": [...],
     "y_range": [lo, hi] | null, "mean_rating": float, "noise_sd": float | null,
     "noise_floor": float | null (dataset.json's best achievable RMSE, else noise_sd),
     "split": the dataset's split when it trained (core.data.tables.Split.to_json) | null,
     "model": {"arch", "n_factors", "emb_szs": [[n_users, size], [n_items, size]], "layers"}}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from core import workspace
from core.data.loaders import TensorLoader, default_device
from core.data.table_procs import category_codes, vocabulary
from core.errors import UserError

if TYPE_CHECKING:
    from core.config import TrainConfig
    from core.data.datasets import DatasetInfo


class RatingsLoader(TensorLoader):
    """A TensorLoader whose inputs are (user, item) index pairs: batches are (N×2 int64, N float32).

    The image loader's shuffling, seeding, length and fastai hooks (new, to, one_batch) are
    kept; only the batch itself differs (no scaling or normalising of indices).
    """

    def decode_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The index pairs and ratings of the given rows."""
        xb = self.x.index_select(0, idx).to(self.device, non_blocking=True)
        return xb, self.y.index_select(0, idx).to(self.device, non_blocking=True)


@dataclass
class Encoded:
    """A ratings table as the model reads it."""

    users: list[str]  # the user vocabulary, "#na#" first
    items: list[str]  # the item vocabulary, "#na#" first
    x: torch.Tensor  # N×2 int64: (user index, item index) per row, in the table's order
    y: torch.Tensor  # N float32: the ratings
    is_valid: np.ndarray  # N bool


def ratings_of(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The rating column as float32; UserError naming a row when one is missing or not a number."""
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        i = int(bad[0])
        raise UserError(
            f"The rating column {column!r} must hold a number in every row; row {i + 1} has "
            f"{frame[column].iloc[i]!r}."
        )
    return values.astype(np.float32)


def encode(frame: pd.DataFrame, user: str, item: str, rating: str, is_valid) -> Encoded:
    """Vocabularies fitted on the training rows and every row's index pair and rating."""
    for col in (user, item, rating):
        if col not in frame.columns:
            raise UserError(
                f"The ratings have no column {col!r}; columns: {', '.join(map(str, frame.columns))}."
            )
    valid = np.asarray(is_valid, dtype=bool)
    if len(valid) != len(frame):
        raise UserError("The split does not cover every rating; set the split again.")
    train = frame[~valid]
    users, items = vocabulary(train[user]), vocabulary(train[item])
    pairs = np.stack([category_codes(frame[user], users), category_codes(frame[item], items)], axis=1)
    y = ratings_of(frame, rating)
    return Encoded(users, items, torch.from_numpy(pairs), torch.from_numpy(y), valid)


@dataclass
class RatingsBundle:
    """Ratings loaders plus what Results, Predict and a saved model need to know about them."""

    dls: Any  # fastai DataLoaders of two RatingsLoaders
    n_train: int
    n_valid: int
    state: dict
    users: list[str]
    items: list[str]
    encoded: Encoded
    ratings: Any = None  # the core.data.tables.RatingItems read (None when built from a frame)
    vocab: list[str] = field(default_factory=lambda: ["rating"])
    path_used: str = "memory"
    data_fingerprint: str | None = None
    notes: list[str] = field(default_factory=list)


def _lookup(frame: pd.DataFrame | None, column: str, vocab: list[str]) -> dict[str, str] | None:
    """items.csv's column (title or genre) for the items in vocab, or None when it has none."""
    if frame is None or column not in frame.columns or "item" not in frame.columns:
        return None
    known = set(vocab[1:])
    out = {}
    for key, value in zip(frame["item"], frame[column]):
        k = str(key)
        if k in known and not pd.isna(value):
            out[k] = str(value)
    return out or None


def _finite(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def make_state(
    cfg: TrainConfig,
    enc: Encoded,
    roles: dict[str, str],
    item_table: pd.DataFrame | None = None,
    noise_sd: float | None = None,
    noise_floor: float | None = None,
    split: dict | None = None,
) -> dict:
    """The run's state (module docstring): vocabularies, titles, rating range, the model's shape."""
    from core.train import collab
    from core.train.tabular import y_range_for

    train_y = enc.y[torch.from_numpy(~enc.is_valid)]
    counts = torch.bincount(enc.x[torch.from_numpy(~enc.is_valid), 1], minlength=len(enc.items))
    counts[0] = 0
    noise = _finite(noise_sd)
    return {
        "kind": "ratings",
        "roles": dict(roles),
        "users": list(enc.users),
        "items": list(enc.items),
        "titles": _lookup(item_table, "title", enc.items),
        "genres": _lookup(item_table, "genre", enc.items),
        "item_counts": [int(c) for c in counts.tolist()],
        "y_range": y_range_for(train_y, collab.Y_MARGIN) if cfg.options.y_range else None,
        "mean_rating": float(train_y.double().mean()),
        "noise_sd": noise,
        "noise_floor": _finite(noise_floor) if noise_floor is not None else noise,
        "split": split,
        "model": collab.model_spec(cfg, len(enc.users), len(enc.items)),
    }


def loaders(cfg: TrainConfig, enc: Encoded, device=None) -> Any:
    """fastai DataLoaders: shuffled training batches of cfg.bs (a short last one dropped), then
    validation batches of twice that, each sliced by index from the encoded tensors."""
    from fastai.data.core import DataLoaders

    valid = torch.from_numpy(enc.is_valid)
    train_idx, valid_idx = torch.nonzero(~valid).flatten(), torch.nonzero(valid).flatten()
    device = torch.device(device) if device is not None else default_device()
    common = {"device": device, "vocab": ["rating"]}
    train = RatingsLoader(
        enc.x[train_idx],
        enc.y[train_idx],
        cfg.bs,
        shuffle=True,
        drop_last=len(train_idx) > cfg.bs,
        seed=cfg.seed,
        **common,
    )
    valid_dl = RatingsLoader(enc.x[valid_idx], enc.y[valid_idx], cfg.bs * 2, **common)
    return DataLoaders(train, valid_dl, path=workspace.root(), device=device)


def from_frame(
    cfg: TrainConfig,
    frame: pd.DataFrame,
    roles: dict[str, str],
    is_valid,
    item_table: pd.DataFrame | None = None,
    noise_sd: float | None = None,
    device=None,
    noise_floor: float | None = None,
    split: dict | None = None,
) -> RatingsBundle:
    """A RatingsBundle for a ratings frame already in memory (build reads the dataset's); split is
    the dataset's split as JSON, kept in the state so Results can split the rows again."""
    enc = encode(frame, roles["user"], roles["item"], roles["rating"], is_valid)
    n_valid = int(enc.is_valid.sum())
    n_train = len(enc.is_valid) - n_valid
    if n_train == 0 or n_valid == 0:
        raise UserError("Collaborative filtering needs ratings in both the training and validation split.")
    state = make_state(cfg, enc, roles, item_table, noise_sd, noise_floor, split)
    dls = loaders(cfg, enc, device)
    return RatingsBundle(dls, n_train, n_valid, state, enc.users, enc.items, enc)


def read(info: DatasetInfo):
    """The dataset's ratings (core.data.tables.RatingItems) and data version, read under its lock."""
    from core.data import access, tables

    if info.task != tables.COLLAB:
        raise UserError(f"{info.name} is not a ratings dataset (a ratings.csv of user, item and rating).")
    with access.dataset(info) as info:
        ratings = tables.read_ratings(info.path)
        version = tables.fingerprint(ratings)
    return ratings, version


def roles_of(ratings) -> dict[str, str]:
    """The user, item and rating column names of a RatingItems."""
    r = ratings.roles
    return {"user": r.user, "item": r.item, "rating": r.rating}


def build(cfg: TrainConfig, info: DatasetInfo | None = None, device=None) -> RatingsBundle:
    """Train and validation loaders for cfg's ratings dataset, split as its dataset.json says."""
    from core.data.datasets import resolve

    info = info or resolve(cfg.dataset)
    ratings, version = read(info)
    bundle = from_frame(
        cfg,
        ratings.frame,
        roles_of(ratings),
        ratings.is_valid,
        ratings.items,
        ratings.noise_sd,
        device,
        noise_floor=(ratings.meta or {}).get("noise_floor"),
        split=ratings.split.to_json(),
    )
    bundle.ratings = ratings
    bundle.data_fingerprint = version
    return bundle
