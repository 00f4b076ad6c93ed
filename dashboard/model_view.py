"""What the Model page shows, as plain functions: the input a dataset gives, tables per freeze."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from dashboard.text import sections

if TYPE_CHECKING:  # torch and the model factory load only when a model is built
    from core.train.models import BuiltModel

LAYERS = "layers"  # assets/text/layers.md: one `## Kind` section per torch module class


@dataclass(frozen=True)
class DatasetInput:
    """What a model built for a dataset takes and gives."""

    n_classes: int
    channels: int
    size: int


@dataclass(frozen=True)
class ModelView:
    """A built model with its layer table under every freeze setting (index = groups frozen)."""

    built: BuiltModel
    tables: list[pd.DataFrame]
    counts: list[tuple[int, int]]  # (total, trainable) parameters per freeze setting

    @property
    def n_groups(self) -> int:
        """How many layer groups the model is split into."""
        return len(self.tables)


def dataset_input(name: str) -> DatasetInput:
    """Classes, channels and default image size of a dataset, as training will see them.

    Channels follow the engine's rule (1 only when every image is grey), read from the same
    decoded-image cache training uses, so the shapes shown are the ones that will train.
    """
    from core.data import access
    from core.data import loaders as data

    with access.dataset(name) as info:  # locked and recovered: never a folder half-way cleaned
        items = access.items(info)
        channels = int(data.image_tensor(items, info.default_size).shape[1])
    return DatasetInput(len(items.vocab), channels, info.default_size)


def group_names(n_groups: int) -> list[str]:
    """Names of the layer groups: body parts first, the head last."""
    if n_groups == 2:
        return ["body", "head"]
    return [f"body {i + 1}" for i in range(n_groups - 1)] + ["head"]


def describe(built: BuiltModel, size: int, channels: int) -> ModelView:
    """The layer table and parameter counts for each number of frozen groups (0 … n-1).

    Works on a copy, so the model given (possibly shared between sessions) is left as it was.
    """
    from core.train import models

    work = models.BuiltModel(copy.deepcopy(built.model), built.splitter, built.notice, built.pretrained)
    n = models.n_groups(work)
    names = group_names(n)
    group_of = {id(p): names[i] for i, params in enumerate(work.splitter(work.model)) for p in params}
    modules = dict(work.model.named_modules())
    tables, counts = [], []
    for frozen in range(n):
        models.freeze_groups(work, frozen)
        table = models.summary(work.model, (channels, size, size))
        table.insert(
            1,
            "group",
            [
                next((group_of.get(id(p), "") for p in modules[layer].parameters(recurse=False)), "")
                for layer in table["layer"]
            ],
        )
        # a layer without parameters (ReLU, pooling) has nothing to train: leave the cell empty
        table["trainable"] = table["trainable"].astype(object).where(table["parameters"] > 0, None)
        tables.append(table)
        counts.append(models.count_parameters(work.model))
    return ModelView(built, tables, counts)


def freeze_label(frozen: int, n_groups: int) -> str:
    """A freeze setting in words, with the fastai call that gives it."""
    if frozen == 0:
        return "0: nothing frozen, every layer trains (unfreeze())"
    if frozen == n_groups - 1:
        return f"{frozen}: only the head trains (freeze())"
    return f"{frozen}: the first {frozen} groups frozen (freeze_to({frozen}))"


def layer_explanations(kinds: list[str]) -> list[tuple[str, str]]:
    """(kind, one line on what it does) for each kind, in order of first appearance."""
    notes = sections(LAYERS)
    return [(k, notes.get(k, notes["unknown"])) for k in dict.fromkeys(kinds)]
