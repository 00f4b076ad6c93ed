"""What the Model page shows: the input a dataset gives, tables per freeze, and for a table or
ratings task the network's layers and its embeddings per input (no image size).

A table's or ratings' processing (Procs, or the user and item vocabularies) is fitted once per
data version here (processing: cached by the folder, its files' stamp and dataset.json's roles
and split) and shared by the Data page's steps, the Train page's embedding sizes and the Model
page's network, which is built from the state those make with the Train page's options: no
loaders are built to draw it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from core import fsutil
from dashboard.markup import md
from dashboard.text import sections

if TYPE_CHECKING:  # torch and the model factory load only when a model is built
    from core.train.models import BuiltModel

LAYERS = "layers"  # assets/text/layers.md: one `## Kind` section per torch module class
_MORE_LAYERS = {  # kinds of the table and ratings networks that layers.md does not explain (yet)
    "Embedding": "looks up a learned vector for each category (a user, an item, a value of a column): "
    "the same as multiplying a one-hot vector by a matrix, without building the one-hot vector.",
    "SigmoidRange": "squeezes the output into y_range with a sigmoid, so the network never predicts "
    "outside the targets' range and spends no effort learning where it lies.",
}


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
    notes = {**_MORE_LAYERS, **sections(LAYERS)}
    return [(k, notes.get(k, notes["unknown"])) for k in dict.fromkeys(kinds)]


@dataclass(frozen=True)
class NetworkView:
    """A table or ratings network: its layers, the embedding of each input, its parameter count."""

    layers: pd.DataFrame  # layer, kind, shape, parameters (the modules that hold or do something)
    embeddings: pd.DataFrame  # input, values, size, parameters: one row per embedding table
    total: int
    state: dict


_RATINGS_NAMES = {  # fastai's EmbeddingDotBias and EmbeddingNN modules, named for a person
    "u_weight": "user factors",
    "i_weight": "item factors",
    "u_bias": "user bias",
    "i_bias": "item bias",
    "embeds.0": "user",
    "embeds.1": "item",
}


def _shape_text(module) -> str:
    """A layer's shape in words: rows × size for an embedding, in → out for a linear layer."""
    from torch import nn

    if isinstance(module, nn.Embedding):
        return f"{module.num_embeddings} × {module.embedding_dim}"
    if isinstance(module, nn.Linear):
        return f"{module.in_features} → {module.out_features}"
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return str(module.num_features)
    if isinstance(module, nn.Dropout):
        return f"p = {module.p:g}"
    low, high = getattr(module, "low", None), getattr(module, "high", None)
    if low is not None and high is not None:  # SigmoidRange
        return f"{float(low):g} to {float(high):g}"
    return ""


def embedding_names(state: dict, names: list[str]) -> list[str]:
    """What each embedding (by module name) stands for: a categorical column, users or items."""
    if (state or {}).get("kind") == "table":
        columns = [c["name"] for c in state.get("cat", [])]
        return [columns[int(n.split(".")[-1])] if n.startswith("embeds.") else n for n in names]
    return [_RATINGS_NAMES.get(n, n) for n in names]


def describe_network(model, state: dict) -> NetworkView:
    """The layer table and the embedding table of a table or ratings network (no image size)."""
    from torch import nn

    rows, embeddings = [], []
    for name, module in model.named_modules():
        if not name or (list(module.children()) and not isinstance(module, nn.Embedding)):
            continue  # containers: their leaves are listed
        params = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append((name, type(module).__name__, _shape_text(module), params))
        if isinstance(module, nn.Embedding):
            embeddings.append((name, module.num_embeddings, module.embedding_dim, params))
    labels = embedding_names(state, [e[0] for e in embeddings])
    return NetworkView(
        layers=pd.DataFrame(rows, columns=["layer", "kind", "shape", "parameters"]),
        embeddings=pd.DataFrame(
            [(label, *e[1:]) for label, e in zip(labels, embeddings)],
            columns=["input", "values", "size", "parameters"],
        ),
        total=sum(p.numel() for p in model.parameters()),
        state=state or {},
    )


DATA_FILES = ("table.csv", "ratings.csv", "items.csv")  # core.data.tables' files
META = "dataset.json"  # the roles, the split and the task


def files_stamp(folder: str | Path) -> tuple:
    """(name, mtime_ns, size) of each data file of a table or ratings folder: a cache key that
    changes when a file is rewritten, without reading it."""
    return fsutil.stamp(Path(folder) / name for name in DATA_FILES)


def dataset_meta(folder: str | Path) -> str:
    """dataset.json as written (the roles, the split and the task: a few hundred bytes)."""
    try:
        return (Path(folder) / META).read_text(encoding="utf-8")
    except OSError:
        return ""


@dataclass(frozen=True)
class Processing:
    """A table's or ratings' processing fitted on its training rows, as training would fit it."""

    procs: Any = None  # a table: core.data.table_procs.Procs
    train_y: Any = None  # a table: the training rows' targets (for y_range)
    encoded: Any = None  # ratings: core.data.ratings_loaders.Encoded (the vocabularies, the pairs)
    roles: dict | None = None  # ratings: the user, item and rating columns
    item_table: Any = None  # ratings: items.csv (titles, genres), or None
    noise_sd: float | None = None
    noise_floor: float | None = None

    def state(self, cfg) -> dict:
        """The state a run of cfg on these data would save, the network's shape included (cfg's options)."""
        if self.procs is not None:
            from core.train.tabular import model_spec

            return {**self.procs.to_json(), "model": model_spec(cfg, self.procs, self.train_y)}
        from core.data import ratings_loaders

        return ratings_loaders.make_state(
            cfg, self.encoded, self.roles, self.item_table, self.noise_sd, self.noise_floor
        )


def _fit(items) -> Processing:
    """The processing of TableItems or RatingItems, fitted on their training rows."""
    import numpy as np

    from core.data import ratings_loaders, table_procs, tables

    if isinstance(items, tables.RatingItems):
        roles = ratings_loaders.roles_of(items)
        encoded = ratings_loaders.encode(
            items.frame, roles["user"], roles["item"], roles["rating"], items.is_valid
        )
        floor = (items.meta or {}).get("noise_floor")
        return Processing(
            encoded=encoded, roles=roles, item_table=items.items, noise_sd=items.noise_sd, noise_floor=floor
        )
    classes = list(items.vocab) if items.task == "tabular_classification" else None
    procs = table_procs.fit(items.frame, items.roles, items.is_valid, classes)
    train = ~np.asarray(items.is_valid, dtype=bool)
    train_y = procs.target(items.frame.loc[train]) if classes is None else None
    return Processing(procs=procs, train_y=train_y)


@st.cache_resource(show_spinner=False, max_entries=8)
def _processing(name: str, root: str, stamp: tuple, roles: str, _items=None) -> Processing:
    # keyed by the folder, its data files' stamp and dataset.json (roles and split); _items, when
    # the caller has read them already, saves reading the CSV again
    from core.data import access

    return _fit(_items if _items is not None else access.items(name))


def processing(dataset: str, items=None) -> Processing:
    """The dataset's processing, fitted once per version of its files, roles and split (shared by
    the Data, Train and Model pages); items: the dataset's items when the caller has read them."""
    from core.data import datasets

    info = datasets.resolve(dataset)
    root = str(info.path)
    return _processing(info.name, root, files_stamp(root), dataset_meta(root), _items=items)


def network_view(cfg) -> NetworkView:
    """The untrained network a table or ratings TrainConfig would train, built from the state its
    data's processing (cached) and cfg's options make: no loaders, no pass over the rows."""
    from core import tasks

    state = processing(cfg.dataset).state(cfg)
    model = tasks.get(cfg.task).build_from_bundle({"arch": cfg.arch, "state": state})
    return describe_network(model, state)


def network_caption(task_name: str, view: NetworkView) -> str:
    """What goes in and comes out of a table or ratings network, in a sentence."""
    state, spec = view.state, view.state.get("model") or {}
    if state.get("kind") == "ratings":
        n_users = max(0, len(state.get("users") or []) - 1)  # "#na#" is no user
        n_items = max(0, len(state.get("items") or []) - 1)
        if spec.get("arch") == "neural_collab":
            hidden = " → ".join(str(v) for v in spec.get("layers") or [])
            how = f"the two vectors joined and through hidden layers of {hidden} units"
        else:
            how = (
                f"{spec.get('n_factors', '?')} factors each, their dot product plus a bias per user and item"
            )
        return (
            f"{n_users:,} users and {n_items:,} items, each a learned vector (plus a #na# row for one "
            f"never seen): {how}. A (user, item) pair in, a rating out."
        )
    n_cat, n_cont = len(state.get("cat") or []), len(state.get("cont") or [])
    out = "one number per class" if task_name == "tabular_classification" else "one number, the value"
    hidden = " → ".join(str(v) for v in spec.get("layers") or [])
    return (
        f"{n_cat} categorical inputs, each through its own embedding, and {n_cont} continuous inputs "
        f"(normalised, then batch-normed) are joined, go through hidden layers of {hidden or '?'} units, "
        f"and come out as {out}."
    )


def network_section(task, dataset: str, cfg) -> None:
    """The Model page for a table or ratings task: what goes in and out, the parameter counts, the
    embeddings and the layers of the network cfg would train (no image size, no freezing)."""
    from core.errors import UserError

    try:
        with st.spinner("Processing the data and building the network…"):
            net = network_view(cfg)
    except UserError as e:
        st.error(md(e))
        return
    st.caption(f"Built for **{md(dataset)}** ({task.title.lower()}) with the Train page's settings.")
    st.info(network_caption(task.name, net), icon=":material/output:")
    left, right = st.columns(2)
    left.metric("Parameters", f"{net.total:,}", help="Every number the model learns; all of them train.")
    right.metric(
        "In embeddings",
        f"{int(net.embeddings['parameters'].sum()):,}",
        help="Parameters of the embedding tables: one learned vector per category, user or item.",
    )
    st.subheader("Embeddings")
    st.caption(sections("model")["embeddings"])
    st.dataframe(net.embeddings, hide_index=True, width="stretch")
    st.subheader("Layers")
    st.dataframe(net.layers, hide_index=True, width="stretch")
    st.subheader("What each kind of layer does")
    kinds = list(net.layers["kind"])
    st.markdown("\n".join(f"- **{k}** {line}" for k, line in layer_explanations(kinds)))
