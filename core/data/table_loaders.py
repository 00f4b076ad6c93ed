"""The tables fast path: the rows processed once into tensors of codes and floats, batches by index.

The table, its roles and its split are read under the dataset's lock (core.data.access, which
hands table folders to core.data.tables; the split is the dataset's own, from dataset.json).
The processing (core.data.table_procs: FillMissing, Categorify, Normalize) is fitted on the
training rows and applied to every row once; batches are then slices of three tensors — codes
N×n_cat int64, floats N×n_cont float32, targets N — through the image fast path's fastai wrapper
(core.data.loaders.TensorLoader), with no per-row Python work.

What a saved model needs beside its weights is the state (plain JSON, in run.json and bundles):
Procs.to_json() — {"kind": "table", "format", "target", "classes", "cat": [{"name", "vocab", "counts"}],
"cont": [{"name", "fill", "mean", "std"}], "na", "target_stats"} — plus "roles", "split" (the
dataset's, so the rows can be split again) and "model" (core.train.tabular.model_spec: layers,
ps, embed_p, emb_szs, n_cont, n_out, y_range). Read it back with Procs.from_json and
core.train.tabular.build_from_state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from core import workspace
from core.data.loaders import TensorLoader, default_device
from core.data.table_procs import Procs, fit
from core.errors import UserError

if TYPE_CHECKING:
    from core.config import TrainConfig
    from core.data.datasets import DatasetInfo


class TableLoader(TensorLoader):
    """A TensorLoader whose inputs are two tensors: batches are (codes, floats, targets).

    The image loader's shuffling, seeding, length and fastai hooks (new, to, one_batch) are kept;
    x holds the codes and conts the floats, gathered by the same indices.
    """

    n_inp = 2

    def __init__(self, cats: torch.Tensor, conts: torch.Tensor, y: torch.Tensor, bs: int, **kwargs: Any):
        super().__init__(cats, y, bs, **kwargs)
        self.conts = conts

    def decode_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The codes, floats and targets of the given rows."""
        dev = self.device
        return (
            self.x.index_select(0, idx).to(dev, non_blocking=True),
            self.conts.index_select(0, idx).to(dev, non_blocking=True),
            self.y.index_select(0, idx).to(dev, non_blocking=True),
        )


@dataclass
class TableBundle:
    """Table loaders plus what Results, Predict and a saved model need to know about them."""

    dls: Any  # fastai DataLoaders of two TableLoaders
    n_train: int
    n_valid: int
    vocab: list[str]  # the classes, or [target] for a regression
    state: dict
    procs: Procs
    items: Any = None  # the core.data.tables.TableItems read (None when built from a frame)
    path_used: str = "memory"
    data_fingerprint: str | None = None
    notes: list[str] = field(default_factory=list)


def read(cfg: TrainConfig, info: DatasetInfo) -> tuple[Any, str]:
    """The dataset's TableItems and data version, read under its lock (never half-way through a change)."""
    from core.data import access, layouts, tables

    with access.dataset(info) as locked:
        items = access.items(locked)
        if not isinstance(items, tables.TableItems):
            raise UserError(
                f"{info.name} is not a table (a table.csv with column roles); train it as its own task."
            )
        version = layouts.fingerprint(items)
    if items.task != cfg.task:
        raise UserError(
            f"{info.name}'s target makes it {items.task.replace('_', ' ')}, "
            f"not {cfg.task.replace('_', ' ')}; "
            "change the target's role on the Data page or train the task the data are for."
        )
    return items, version


def loaders(
    cfg: TrainConfig,
    cats: torch.Tensor,
    conts: torch.Tensor,
    y: torch.Tensor,
    is_valid: np.ndarray,
    vocab: list[str],
    device=None,
) -> Any:
    """fastai DataLoaders over the tensors: shuffled training batches of cfg.bs (a short last batch
    is dropped whenever there is more than one batch, as fastai's drop_last does: a batch of one
    row would break batch norm), validation batches of twice that, in order."""
    from fastai.data.core import DataLoaders

    valid = torch.from_numpy(np.asarray(is_valid, dtype=bool))
    tr, va = torch.nonzero(~valid).flatten(), torch.nonzero(valid).flatten()
    device = torch.device(device) if device is not None else default_device()
    common = {"device": device, "vocab": list(vocab)}
    train = TableLoader(
        cats[tr],
        conts[tr],
        y[tr],
        cfg.bs,
        shuffle=True,
        drop_last=len(tr) > cfg.bs,
        seed=cfg.seed,
        **common,
    )
    valid_dl = TableLoader(cats[va], conts[va], y[va], cfg.bs * 2, **common)
    return DataLoaders(train, valid_dl, path=workspace.root(), device=device)


def from_frame(
    cfg: TrainConfig,
    frame: pd.DataFrame,
    roles: Any,
    is_valid,
    classes: list[str] | None,
    device=None,
    split: dict | None = None,
) -> TableBundle:
    """A TableBundle for a frame already in memory (build reads the dataset's): procs fitted on the
    training rows, every row transformed once, the state for cfg's network.

    classes: the class names (a classification target) or None (a regression target).
    """
    from core.train.tabular import model_spec

    valid = np.asarray(is_valid, dtype=bool)
    if len(valid) != len(frame):
        raise UserError("The split does not cover every row; set the split again.")
    n_valid = int(valid.sum())
    n_train = len(valid) - n_valid
    if n_train < 2 or n_valid == 0:
        raise UserError("A table needs at least 2 training rows and 1 validation row; change the split.")
    procs = fit(frame, roles, valid, classes)
    cats, conts = procs.transform(frame)
    y = procs.target(frame)
    vocab = list(classes) if classes is not None else [procs.target_name]
    state = {
        **procs.to_json(),
        "roles": {"target": procs.target_name, "cat": list(roles.cat), "cont": list(roles.cont)},
        "split": split,
        "model": model_spec(cfg, procs, y[torch.from_numpy(~valid)]),
    }
    dls = loaders(cfg, cats, conts, y, valid, vocab, device)
    return TableBundle(dls, n_train, n_valid, vocab, state, procs)


def build(cfg: TrainConfig, info: DatasetInfo | None = None, device=None) -> TableBundle:
    """Train and validation loaders for cfg's table dataset, on the fast path."""
    from core.data.datasets import resolve

    info = info or resolve(cfg.dataset)
    items, version = read(cfg, info)
    classes = list(items.vocab) if items.task == "tabular_classification" else None
    bundle = from_frame(
        cfg, items.frame, items.roles, items.is_valid, classes, device, split=items.split.to_json()
    )
    bundle.items, bundle.data_fingerprint = items, version
    dropped = int(items.meta.get("rows_without_target", 0) or 0)
    if dropped:
        bundle.notes.append(f"{dropped} rows without a {items.roles.target!r} value were left out.")
    return bundle


def run_split(state: Any, items: Any) -> tuple[np.ndarray, list[str]]:
    """Which rows of a table's or ratings' items (as they are now) are validation for a run: the
    run's own split (its state's "split", cut again on these rows), so a split the person changed
    later cannot put training rows among the ones judged. Returns (is_valid, notes): a sentence
    when the dataset's split is no longer the run's. A run that kept no split (an older one) is
    judged on the dataset's split as it is now, and the notes say so."""
    from core.data.tables import Split, split_mask

    saved = state.get("split") if isinstance(state, dict) else None
    now = items.split.to_json()
    if not isinstance(saved, dict):
        note = "This run did not record its split; it is judged on the dataset's split as it is now."
        return np.asarray(items.is_valid, dtype=bool), [note]
    split = Split.from_json(saved)
    notes = []
    if split.to_json() != now:
        notes.append(
            f"The dataset's split has changed since this run trained (now {_said(now)}; the run's was "
            f"{_said(split.to_json())}). These results use the run's split, so the validation rows are "
            "still rows the model never trained on."
        )
    return split_mask(items.frame, split), notes


def _said(split: dict) -> str:
    """A split in words: "random, 20 % validation, seed 0"."""
    parts = [split["kind"]]
    if split.get("column"):
        parts.append(f"by {split['column']!r}")
    if "valid_pct" in split:
        parts.append(f"{split['valid_pct']:.0%} validation")
    if "seed" in split:
        parts.append(f"seed {split['seed']}")
    return ", ".join(parts)
