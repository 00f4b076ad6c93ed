"""fastai's tabular_learner on the tables fast path: TabularModel, the task's loss and metrics.

The network is fastai's TabularModel(emb_szs, n_cont, out_sz, layers, ps, embed_p, y_range) with
tabular_learner's defaults (batch norm on the continuous inputs and in each hidden layer): one
embedding per categorical column (sized by fastai's emb_sz_rule), the continuous columns beside
them, then Linear → ReLU → BatchNorm → Dropout per hidden layer, then one output per class or a
single value.

- Classification: cross-entropy; metrics accuracy and F1 (of the second class for two classes,
  the mean over classes — macro — otherwise).
- Regression: the network outputs the target in its own units; with y_range (the default) it is
  squeezed by a sigmoid into the training targets' (min, max) widened by 10 % of their span on
  each side. The loss is MSE, MAE (L1) or Huber, whose delta is given in standard deviations of
  the training targets: delta × std is where squared turns absolute. Metrics RMSE, MAE and R²,
  in the target's units, over the whole validation set.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from fastai.learner import Metric
from torch import nn

from core.errors import UserError
from core.train.models import BuiltModel

Y_MARGIN = 0.1  # the y_range reaches this share of the targets' span beyond their min and max
METRICS = {"tabular_classification": ("accuracy", "f1"), "tabular_regression": ("rmse", "mae", "r2")}
MAX_VOCAB = 1_000_000  # categories one column may have in a state (a bound for hostile bundles)


class _Flat(nn.Module):
    """A regression loss on predictions and targets flattened to one value per row."""

    def forward(self, pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
        """The loss of the batch (mean over rows)."""
        return self.loss(pred.float().reshape(-1), targ.float().reshape(-1))

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        """The output is already the value."""
        return x

    def decodes(self, x: torch.Tensor) -> torch.Tensor:
        """The output is already the value."""
        return x


class MSE(_Flat):
    """Mean squared error (fastai's MSELossFlat): a row twice as far off costs four times as much."""

    loss = staticmethod(nn.functional.mse_loss)


class MAE(_Flat):
    """Mean absolute error (fastai's L1LossFlat): every unit of error costs the same."""

    loss = staticmethod(nn.functional.l1_loss)


class Huber(_Flat):
    """Huber loss with delta in the target's units: squared (halved) below delta, linear above."""

    def __init__(self, delta: float):
        super().__init__()
        self.delta = float(delta)

    def loss(self, pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
        """The mean Huber loss at the loss's delta."""
        return nn.functional.huber_loss(pred, targ, delta=self.delta)


def regression_loss(name: str, delta_sd: float = 1.0, target_std: float = 1.0) -> nn.Module:
    """The loss named in tasks.tabular.LOSSES; Huber's delta is delta_sd × the training targets' std."""
    if name == "mse":
        return MSE()
    if name == "mae":
        return MAE()
    if name == "huber":
        return Huber(float(delta_sd) * (float(target_std) if target_std > 0 else 1.0))
    raise UserError(f"Unknown loss {name!r}; choose mse, mae or huber.")


class F1(Metric):
    """F1 over the whole validation pass, from counts: the second class's for two classes
    (the positive one), else the mean over classes (macro)."""

    name = "f1"

    def __init__(self, n_classes: int):
        self.n = int(n_classes)
        self.reset()

    def reset(self) -> None:
        """Start a new validation pass."""
        self.confusion = torch.zeros(self.n, self.n, dtype=torch.long)

    def accumulate(self, learn) -> None:
        """Add one batch to the confusion counts (true class × predicted class)."""
        pred = learn.pred.detach().argmax(dim=-1).cpu()
        targ = learn.yb[0].detach().reshape(-1).cpu().long()
        self.confusion += torch.bincount(targ * self.n + pred, minlength=self.n * self.n).view(self.n, self.n)

    @property
    def value(self) -> float | None:
        """Binary F1 of class 1, or the macro F1 (a class never true nor predicted counts 0)."""
        if int(self.confusion.sum()) == 0:
            return None
        c = self.confusion.double()
        tp = c.diag()
        denom = c.sum(0) + c.sum(1)  # 2·tp + fp + fn
        f1 = torch.where(denom > 0, 2 * tp / denom.clamp_min(1), torch.zeros_like(tp))
        return float(f1[1]) if self.n == 2 else float(f1.mean())


class RegressionMetric(Metric):
    """RMSE, MAE or R² in the target's units over the whole validation pass, from running sums."""

    def __init__(self, kind: str):
        self.kind = kind
        self.reset()

    @property
    def name(self) -> str:
        """The recorder's column name."""
        return self.kind

    def reset(self) -> None:
        """Start a new validation pass."""
        self.sums = torch.zeros(5, dtype=torch.float64)  # n, Σy, Σy², Σ(p−y)², Σ|p−y|

    def accumulate(self, learn) -> None:
        """Add one batch's rows to the sums."""
        p = learn.pred.detach().reshape(-1).double().cpu()
        y = learn.yb[0].detach().reshape(-1).double().cpu()
        e = p - y
        self.sums += torch.stack([torch.tensor(float(len(y)), dtype=torch.float64), y.sum(), (y * y).sum(),
                                  (e * e).sum(), e.abs().sum()])  # fmt: skip

    @property
    def value(self) -> float | None:
        """The figure (None before any row; R² None when every target is the same)."""
        n, sy, syy, sse, sae = self.sums.tolist()
        if n == 0:
            return None
        if self.kind == "rmse":
            return math.sqrt(sse / n)
        if self.kind == "mae":
            return sae / n
        sst = syy - sy * sy / n
        return 1 - sse / sst if sst > 1e-12 else None


def metrics(task_name: str, n_classes: int) -> list:
    """Fresh metrics for the task, named as METRICS lists them."""
    if task_name == "tabular_classification":
        from fastai.metrics import accuracy

        return [accuracy, F1(n_classes)]
    return [RegressionMetric(k) for k in METRICS["tabular_regression"]]


def y_range_for(y: torch.Tensor) -> list[float]:
    """The training targets' (min, max) widened by Y_MARGIN of their span (by 1 when all are equal)."""
    lo, hi = float(y.min()), float(y.max())
    margin = Y_MARGIN * (hi - lo) if hi > lo else 1.0
    return [lo - margin, hi + margin]


def model_spec(cfg, procs, train_y: torch.Tensor) -> dict[str, Any]:
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


def _count(value: Any, what: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise UserError(
            f"The table's state is malformed: {what} must be a whole number from {low} to {high}."
        )
    return value


def _fraction(value: Any, what: str) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not 0 <= value < 1:
        raise UserError(f"The table's state is malformed: {what} must be at least 0 and below 1.")
    return float(value)


def shape_of(state: Any) -> dict[str, Any]:
    """The checked network shape a state describes; UserError with a sentence when it is malformed
    (the embeddings must match the state's vocabularies, n_cont its continuous columns)."""
    from core.data.table_procs import Procs
    from core.tasks.tabular import parse_layers

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
        raise UserError("The table's state is malformed: emb_szs must be a list of [categories, size].")
    emb = [
        [_count(n, "a vocabulary size", 2, MAX_VOCAB), _count(s, "an embedding size", 1, 4096)]
        for n, s in emb
    ]
    if [n for n, _ in emb] != [len(c.vocab) for c in procs.cats]:
        raise UserError("The table's state is malformed: its embeddings do not match its vocabularies.")
    if _count(spec.get("n_cont"), "n_cont", 0, 100_000) != len(procs.conts):
        raise UserError("The table's state is malformed: n_cont does not match its continuous columns.")
    n_out = _count(spec.get("n_out"), "n_out", 1, 100_000)
    if n_out != (1 if procs.classes is None else len(procs.classes)):
        raise UserError("The table's state is malformed: its outputs do not match its classes.")
    layers = spec.get("layers")
    try:
        layers = parse_layers(",".join(str(v) for v in layers)) if isinstance(layers, list) else None
    except ValueError:
        layers = None
    if layers is None:
        raise UserError("The table's state is malformed: layers must be a list of sizes.")
    yr = spec.get("y_range")
    if yr is not None:
        ok = isinstance(yr, list) and len(yr) == 2
        ok = ok and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in yr
        )
        if not ok or not yr[0] < yr[1]:
            raise UserError(
                "The table's state is malformed: y_range must be null or [low, high] with low < high."
            )
        yr = [float(yr[0]), float(yr[1])]
    if not emb and not procs.conts:
        raise UserError("The table's state is malformed: the model reads no columns.")
    return {
        "emb_szs": emb,
        "n_cont": len(procs.conts),
        "n_out": n_out,
        "layers": layers,
        "ps": _fraction(spec.get("ps", 0.0), "ps"),
        "embed_p": _fraction(spec.get("embed_p", 0.0), "embed_p"),
        "y_range": yr,
    }


def _one_group(model: nn.Module) -> list:
    return [list(model.parameters())]


def build_from_state(arch: str, state: dict) -> BuiltModel:
    """The untrained TabularModel a run's or bundle's state describes (checked first)."""
    from fastai.tabular.model import TabularModel

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
    return BuiltModel(model, splitter=_one_group)


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
        mets = metrics("tabular_regression", 1)
    learn = make_learner(cfg, bundle.dls, built, loss, mets)
    plain_tensors_only(learn)
    return learn, built


def plain_tensors_only(learn) -> None:
    """Drop fastai's CastToTensor: the fast path's batches are plain tensors already, and the
    callback's per-batch walk over them is a quarter of a millisecond of nothing on a CPU."""
    from fastai.learner import CastToTensor

    if learn.cbs.filter(lambda cb: isinstance(cb, CastToTensor)):
        learn.remove_cb(CastToTensor)


def summary(learn, task_name: str) -> dict[str, float | None]:
    """The last epoch's validation metrics by name, in METRICS order (None when no epoch finished)."""
    record = list(getattr(learn, "final_record", []) or [])
    out = {}
    for i, name in enumerate(METRICS[task_name], start=2):
        value = record[i] if len(record) > i else None
        out[name] = float(value) if value is not None else None
    return out
