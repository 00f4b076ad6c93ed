"""fastai's tabular_learner on the tables fast path: TabularModel, the task's loss and metrics.

The network is fastai's TabularModel(emb_szs, n_cont, out_sz, layers, ps, embed_p, y_range) with
tabular_learner's defaults (batch norm on the continuous inputs and in each hidden layer): one
embedding per categorical column (sized by fastai's emb_sz_rule), the continuous columns beside
them, then Linear → ReLU → BatchNorm → Dropout per hidden layer, then one output per class or a
single value.

- Classification: cross-entropy; metrics accuracy and F1 (of the second class for two classes,
  else the mean over every class the model has — macro, a class never true nor predicted
  counting 0).
- Regression: the network outputs the target in its own units; with y_range (the default) it is
  squeezed by a sigmoid into the training targets' (min, max) widened by 10 % of their span on
  each side. The loss is MSE, MAE (L1) or Huber (core.train.table_losses), whose delta is given
  in standard deviations of the training targets: delta × std is where squared turns absolute.
  Metrics RMSE, MAE and R², in the target's units, over the whole validation set.

figures() is the one place those numbers are computed: training's metrics (which collect the
validation pass's predictions and targets, then call it), Results, the tree baseline and
collaborative filtering's RMSE and MAE. shape_of() is the one check of a table's state (run or
bundle). Light at import (no torch, no fastai): the bundle checks call it.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import UserError
from core.serving.format import is_int, is_num

if TYPE_CHECKING:
    from torch import nn

    from core.train.models import BuiltModel

Y_MARGIN = 0.1  # the y_range reaches this share of the targets' span beyond their min and max
METRICS = {
    "tabular_classification": ("accuracy", "f1"),
    "tabular_regression": ("rmse", "mae", "r2"),
    "collaborative": ("rmse", "mae"),
}
MAX_VOCAB = 1_000_000  # categories one column may have in a state (a bound for hostile bundles)


def figures(task: str, y: Any, predicted: Any, n_classes: int = 0) -> dict[str, float | None]:
    """The task's figures (METRICS) for targets y and predictions: class indices for classes,
    values in the target's units otherwise. A figure that cannot be measured is None, never NaN:
    every one with no rows, R² with fewer than two rows or targets that do not vary."""
    y, p = np.asarray(y).reshape(-1), np.asarray(predicted).reshape(-1)
    if not len(y):
        return dict.fromkeys(METRICS[task])
    if task == "tabular_classification":
        from sklearn.metrics import f1_score

        y, p = y.astype(np.int64), p.astype(np.int64)
        n = n_classes or int(max(y.max(), p.max())) + 1
        labels = [1] if n == 2 else list(range(n))  # binary: the second class's F1
        f1 = f1_score(y, p, labels=labels, average="macro", zero_division=0)
        return {"accuracy": float(np.mean(p == y)), "f1": float(f1)}
    y, p = y.astype(np.float64), p.astype(np.float64)
    err = p - y
    out = {"rmse": math.sqrt(float(np.mean(err * err))), "mae": float(np.mean(np.abs(err)))}
    if "r2" in METRICS[task]:
        sst = float(np.sum((y - y.mean()) ** 2))
        varies = len(y) > 1 and sst > 1e-12 * float(np.sum(y * y))
        out["r2"] = 1 - float(np.sum(err * err)) / sst if varies else None
    return {k: v if v is not None and math.isfinite(v) else None for k, v in out.items()}


def _figure(task: str, name: str, n_classes: int, y: np.ndarray, predicted: np.ndarray) -> float | None:
    return figures(task, y, predicted, n_classes)[name]


def metrics(task: str, n_classes: int = 0) -> list:
    """Fresh fastai metrics for the task, named as METRICS lists them: each collects the whole
    validation pass's predictions (the argmax for classes) and targets, then calls figures."""
    from fastai.metrics import AccumMetric

    classify = task == "tabular_classification"
    return [
        AccumMetric(
            functools.partial(_figure, task, name, n_classes),
            dim_argmax=-1 if classify else None,
            to_np=True,
            invert_arg=True,
            name=name,
        )
        for name in METRICS[task]
    ]


def summary(learn, task: str) -> dict[str, float | None]:
    """The last epoch's validation metrics by name, in METRICS order (None when no epoch finished
    or a figure could not be measured)."""
    record = list(getattr(learn, "final_record", []) or [])
    out = {}
    for i, name in enumerate(METRICS[task], start=2):
        value = record[i] if len(record) > i else None
        out[name] = float(value) if value is not None and math.isfinite(float(value)) else None
    return out


def huber_delta(delta_sd: float, target_std: float) -> float:
    """Huber's delta in the target's units: delta_sd standard deviations of the training targets."""
    return float(delta_sd) * (float(target_std) if target_std and target_std > 0 else 1.0)


def regression_loss(name: str, delta_sd: float = 1.0, target_std: float = 1.0) -> nn.Module:
    """The loss named in tasks.tabular.LOSSES; Huber's delta is huber_delta(delta_sd, target_std)."""
    from core.train.table_losses import MAE, MSE, Huber

    if name == "mse":
        return MSE()
    if name == "mae":
        return MAE()
    if name == "huber":
        return Huber(huber_delta(delta_sd, target_std))
    raise UserError(f"Unknown loss {name!r}; choose mse, mae or huber.")


def y_range_for(values: Any, margin: float = Y_MARGIN) -> list[float]:
    """The training targets' (min, max) widened by margin × their span on each side (by 0.5 when
    all are equal): a sigmoid never reaches its ends, so the range must reach past the targets'."""
    lo, hi = float(values.min()), float(values.max())
    pad = margin * (hi - lo) if hi > lo else 0.5
    return [lo - pad, hi + pad]


def one_group(model: nn.Module) -> list:
    """Every parameter in one group: tables and ratings train from scratch, nothing is frozen."""
    return [list(model.parameters())]


def model_spec(cfg, procs, train_y: Any) -> dict[str, Any]:
    """The network's shape for cfg and the fitted procs (the state's "model")."""
    from core.data.table_procs import emb_sizes
    from core.tasks.tabular import parse_layers

    opts = cfg.options
    regression = procs.classes is None
    return {
        "layers": parse_layers(opts.layers),
        "ps": float(opts.ps),
        "embed_p": float(opts.embed_p),
        "emb_szs": [[n, size] for _name, n, size in emb_sizes(procs)],
        "n_cont": len(procs.conts),
        "n_out": 1 if regression else len(procs.classes),
        "y_range": y_range_for(train_y) if regression and getattr(opts, "y_range", False) else None,
    }


def malformed(what: str, kind: str = "table's") -> UserError:
    """The error of a state that does not hold together ("The table's state is malformed: …")."""
    return UserError(f"The {kind} state is malformed: {what}.")


def count(value: Any, what: str, low: int, high: int, kind: str = "table's") -> int:
    """value when it is a whole number from low to high; malformed otherwise."""
    if not is_int(value) or not low <= value <= high:
        raise malformed(f"{what} must be a whole number from {low} to {high}", kind)
    return value


def checked_layers(layers: Any, kind: str = "table's") -> list[int]:
    """A state's hidden layer sizes, checked as the Train form checks them."""
    from core.tasks.tabular import parse_layers

    try:
        if not isinstance(layers, list) or not all(is_int(v) for v in layers):
            raise ValueError
        return parse_layers(",".join(str(v) for v in layers))
    except ValueError:
        raise malformed("layers must be a list of sizes", kind) from None


def checked_y_range(yr: Any, kind: str = "table's") -> list[float] | None:
    """A state's y_range: null, or [low, high] of finite numbers with low < high."""
    if yr is None:
        return None
    if not (isinstance(yr, list) and len(yr) == 2 and all(map(is_num, yr))) or not yr[0] < yr[1]:
        raise malformed("y_range must be null or [low, high] with low < high", kind)
    return [float(yr[0]), float(yr[1])]


def _fraction(value: Any, what: str) -> float:
    if not is_num(value) or not 0 <= value < 1:
        raise malformed(f"{what} must be at least 0 and below 1")
    return float(value)


def shape_of(state: Any) -> dict[str, Any]:
    """The one check of a table's state (a run's or a bundle's) and the network shape it describes;
    UserError with a sentence when it does not hold together: the processing (Procs.from_json),
    and embeddings that match its vocabularies, n_cont its continuous columns, n_out its classes."""
    from core.data.table_procs import Procs

    if (
        not isinstance(state, dict)
        or state.get("kind") != "table"
        or not isinstance(state.get("model"), dict)
    ):
        raise UserError("The model's state is not that of a table model.")
    procs = Procs.from_json(state)
    spec = state["model"]
    emb = spec.get("emb_szs")
    if not (isinstance(emb, list) and all(isinstance(e, list) and len(e) == 2 for e in emb)):
        raise malformed("emb_szs must be a list of [categories, size]")
    if len(emb) != len(procs.cats):
        raise malformed(f"the model must have {len(procs.cats)} embeddings (one per categorical column)")
    emb = [
        [count(n, "a vocabulary size", 2, MAX_VOCAB), count(s, "an embedding size", 1, 4096)] for n, s in emb
    ]
    for c, (n, _size) in zip(procs.cats, emb):
        if len(c.vocab) != n:
            raise malformed(
                f"the column {c.name[:40]!r} lists {len(c.vocab)} categories but its embedding has {n} "
                "rows; the state does not belong to these weights"
            )
    if count(spec.get("n_cont"), "n_cont", 0, 100_000) != len(procs.conts):
        raise malformed("n_cont does not match its continuous columns")
    n_out = count(spec.get("n_out"), "n_out", 1, 100_000)
    if n_out != (1 if procs.classes is None else len(procs.classes)):
        raise malformed("its outputs do not match its classes")
    if not emb and not procs.conts:
        raise malformed("the model reads no columns")
    return {
        "emb_szs": emb,
        "n_cont": len(procs.conts),
        "n_out": n_out,
        "layers": checked_layers(spec.get("layers")),
        "ps": _fraction(spec.get("ps", 0.0), "ps"),
        "embed_p": _fraction(spec.get("embed_p", 0.0), "embed_p"),
        "y_range": checked_y_range(spec.get("y_range")),
    }


def build_from_state(arch: str, state: dict) -> BuiltModel:
    """The untrained TabularModel a run's or bundle's state describes (checked first)."""
    from fastai.tabular.model import TabularModel

    from core.train.models import BuiltModel

    if arch != "tabular_mlp":
        raise UserError(f"Unknown table architecture {arch!r}; the table network is tabular_mlp.")
    s = shape_of(state)
    model = TabularModel(
        [tuple(e) for e in s["emb_szs"]],
        s["n_cont"],
        s["n_out"],
        s["layers"],
        ps=s["ps"],
        embed_p=s["embed_p"],
        y_range=tuple(s["y_range"]) if s["y_range"] is not None else None,
    )
    return BuiltModel(model, splitter=one_group)


def learner(cfg, bundle) -> tuple[Any, BuiltModel]:
    """tabular_learner for cfg on the bundle: the state's network with the task's loss and metrics."""
    from core.train.training import CrossEntropy, make_learner

    built = build_from_state(cfg.arch, bundle.state)
    procs = bundle.procs
    if procs.classes is not None:
        loss = CrossEntropy()
        mets = metrics("tabular_classification", len(procs.classes))
    else:
        opts = cfg.options
        loss = regression_loss(opts.loss, opts.huber_delta, (procs.target_stats or {}).get("std", 1.0))
        mets = metrics("tabular_regression")
    learn = make_learner(cfg, bundle.dls, built, loss, mets)
    plain_tensors_only(learn)
    return learn, built


def plain_tensors_only(learn) -> None:
    """Drop fastai's CastToTensor: the fast path's batches are plain tensors already, and the
    callback's per-batch walk over them is a quarter of a millisecond of nothing on a CPU."""
    from fastai.learner import CastToTensor

    if learn.cbs.filter(lambda cb: isinstance(cb, CastToTensor)):
        learn.remove_cb(CastToTensor)
