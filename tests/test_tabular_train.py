"""Training on tables: the regression losses' pull by an outlier, metrics as scikit-learn computes
them in the target's units, breast_cancer trained through the worker's path and the CLI, the saved
state rebuilding the network, and bad options refused in sentences."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from core import runs, tasks
from core.cli import main
from core.config import TrainConfig
from core.data import table_loaders
from core.data.tables import TableRoles
from core.errors import ConfigError, UserError
from core.jobs.store import DONE, Store
from core.train import tabular
from tests.test_cli import core_cli


def _linear_fit(x: torch.Tensor, y: torch.Tensor, loss: torch.nn.Module) -> torch.Tensor:
    """(intercept, slope) minimising loss over the points (full-batch Adam, then it has settled)."""
    w = torch.zeros(2, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.05)
    for _ in range(1500):
        opt.zero_grad()
        loss((w[0] + w[1] * x).unsqueeze(1), y).backward()
        opt.step()
    return w.detach()


def test_one_outlier_moves_the_mae_fit_least_and_the_mse_fit_most_with_huber_between(one_thread):
    x = torch.linspace(0, 1, 41)
    y = 1 + 2 * x + 0.05 * torch.sin(17 * x)
    far = y.clone()
    far[35] += 30  # one row far off
    std = float(far.std(unbiased=False))
    shifts = {}
    for name in ("mse", "huber", "mae"):
        loss = tabular.regression_loss(name, 0.1, std)
        a, b = _linear_fit(x, y, loss), _linear_fit(x, far, loss)
        shifts[name] = float((torch.stack([b[0] - a[0], b[0] + b[1] - a[0] - a[1]])).abs().max())
    assert shifts["mae"] < shifts["huber"] < shifts["mse"]
    assert shifts["mae"] < shifts["mse"] / 5
    assert tabular.regression_loss("huber", 0.1, std).delta == pytest.approx(0.1 * std)  # in target units


def _frame(n: int = 240, classes: int = 0, seed: int = 0) -> tuple[pd.DataFrame, TableRoles, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], n).astype(object)
    value = 50 + 20 * x + np.where(colour == "red", 15.0, 0.0) + rng.normal(0, 2, n)
    frame = pd.DataFrame({"x": x, "noise": rng.normal(size=n), "colour": colour, "value": value})
    frame.loc[::17, "x"] = np.nan
    if classes:
        frame["label"] = pd.qcut(frame["value"], classes, labels=[f"c{i}" for i in range(classes)]).astype(
            object
        )
        roles = TableRoles("label", ("colour",), ("x", "noise"))
    else:
        roles = TableRoles("value", ("colour",), ("x", "noise"))
    return frame, roles, np.arange(n) % 5 == 0


def _trained(cfg: TrainConfig, frame, roles, valid, classes=None):
    from core.train.training import build_learner, fit

    bundle = table_loaders.from_frame(cfg, frame, roles, valid, classes, device="cpu")
    learn, _ = build_learner(cfg, bundle)
    fit(learn, cfg)
    figures = tabular.summary(learn, cfg.task)  # before get_preds, which writes a record of its own
    preds, targs = learn.get_preds(dl=bundle.dls.valid)
    return bundle, figures, preds, targs


def test_regression_metrics_are_in_the_targets_units_as_scikit_learn_computes_them(one_thread):
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    frame, roles, valid = _frame()
    cfg = tasks.default_config("tabular_regression", dataset="x", epochs=6, bs=32)
    bundle, got, preds, targs = _trained(cfg, frame, roles, valid)
    lo, hi = bundle.state["model"]["y_range"]
    seen = frame.value[~valid]
    span = seen.max() - seen.min()
    assert (lo, hi) == pytest.approx((seen.min() - span / 10, seen.max() + span / 10))  # a 10 % margin
    assert float(preds.min()) >= lo and float(preds.max()) <= hi
    p, t = preds.reshape(-1).numpy(), targs.reshape(-1).numpy()
    assert got["rmse"] == pytest.approx(root_mean_squared_error(t, p), rel=1e-4)
    assert got["mae"] == pytest.approx(mean_absolute_error(t, p), rel=1e-4)
    assert got["r2"] == pytest.approx(r2_score(t, p), abs=1e-4)
    assert got["r2"] > 0.5  # it learned the value, in the value's own units


@pytest.mark.parametrize("n_classes, average", [(2, "binary"), (3, "macro")])
def test_classification_f1_is_binary_for_two_classes_and_macro_otherwise(n_classes, average, one_thread):
    from sklearn.metrics import accuracy_score, f1_score

    frame, roles, valid = _frame(classes=n_classes)
    classes = [f"c{i}" for i in range(n_classes)]
    cfg = tasks.default_config("tabular_classification", dataset="x", epochs=3, bs=32)
    _, got, preds, targs = _trained(cfg, frame, roles, valid, classes)
    p, t = preds.argmax(-1).numpy(), targs.numpy()
    assert got["accuracy"] == pytest.approx(accuracy_score(t, p), abs=1e-6)
    assert got["f1"] == pytest.approx(f1_score(t, p, average=average), abs=1e-6)


def test_f1_is_one_function_for_training_results_and_the_baseline():
    """Three classes, one never true nor predicted in validation: it counts 0 in the macro F1
    everywhere (0.489 here), not left out of the mean in some places (0.733)."""
    from fastai.torch_core import to_detach
    from sklearn.metrics import f1_score

    from core.analysis import tabular as analysis

    y, p, classes = [0, 0, 1, 1], [0, 1, 1, 1], ["a", "b", "c"]
    learn = SimpleNamespace(pred=torch.eye(3)[p] * 5, y=torch.tensor(y), to_detach=to_detach)
    mets = tabular.metrics("tabular_classification", 3)
    for m in mets:
        m.reset()
        m.accumulate(learn)
    training = {m.name: m.value for m in mets}
    assert training["f1"] == pytest.approx(f1_score(y, p, labels=[0, 1, 2], average="macro")) == 0.4888888888
    frame = pd.DataFrame(
        {"split": "valid", "target": [classes[i] for i in y], "predicted": [classes[i] for i in p]}
    )
    interp = analysis.TableInterpretation(0, "x", "tabular_classification", frame, classes, {})
    assert analysis.scores(interp) == training == tabular.figures("tabular_classification", y, p, 3)


def test_figures_that_cannot_be_measured_are_none_never_nan(one_thread):
    from core.analysis import baseline

    assert tabular.figures("tabular_regression", [3.0], [2.5])["r2"] is None  # one row
    assert tabular.figures("tabular_regression", [2.0, 2.0], [2.5, 1.0])["r2"] is None  # no variance
    assert tabular.figures("tabular_regression", [], []) == {"rmse": None, "mae": None, "r2": None}
    frame, roles, valid = _frame(n=60)
    valid = np.arange(60) == 59  # one validation row
    cfg = tasks.default_config("tabular_regression", dataset="x", epochs=1, bs=16)
    _bundle, got, _preds, _targs = _trained(cfg, frame, roles, valid)
    assert got["r2"] is None and got["rmse"] > 0
    items = SimpleNamespace(roles=roles, frame=frame, task="tabular_regression", vocab=["value"])
    trees = baseline.fit(items, valid)
    assert trees["r2"] is None and trees["n_valid"] == 1
    json.dumps([got, trees], allow_nan=False)  # what run.json and baseline.json hold


def test_one_y_range_rule_with_each_tasks_margin():
    from core.train import collab

    values = torch.tensor([1.0, 5.0])
    assert tabular.y_range_for(values) == pytest.approx([0.6, 5.4])  # tables: 10 % of the span
    assert tabular.y_range_for(values, collab.Y_MARGIN) == pytest.approx([0.0, 6.0])  # ratings: 25 %
    assert tabular.y_range_for(torch.tensor([2.0, 2.0])) == [1.5, 2.5]  # all equal: half a unit


def test_the_training_batches_drop_a_short_last_batch_and_cover_the_rows():
    frame, roles, valid = _frame(n=241)  # 192 training rows + 1 → a last batch of one would break batch norm
    frame.loc[240, "value"] = 60.0
    valid = np.append(valid[:-1], False)
    cfg = tasks.default_config("tabular_regression", dataset="x", bs=64)
    bundle = table_loaders.from_frame(cfg, frame, roles, valid, None, device="cpu")
    assert (bundle.n_train, bundle.n_valid) == (193, 48)
    sizes = [len(b[2]) for b in bundle.dls.train]
    assert sizes == [64, 64, 64]
    cats, conts, y = bundle.dls.valid.one_batch()
    assert cats.dtype == torch.int64 and conts.dtype == torch.float32 and y.dtype == torch.float32
    assert cats.shape == (48, 2) and conts.shape == (48, 2)  # colour and x_na; x and noise


def test_breast_cancer_trains_through_the_worker_path_and_its_state_rebuilds_the_network(
    fresh_workspace, one_thread
):
    from core.train.training import train

    cfg = tasks.default_config("tabular_classification", dataset="breast_cancer", epochs=2)
    store = Store()
    job_id = store.submit("train", {"config": cfg.to_dict()})
    store.claim_next(pid=os.getpid())
    result = train(cfg, store, job_id)
    store.finish(job_id, DONE, result=result)
    store.close()
    assert result["task"] == "tabular_classification" and result["epochs_done"] == 2
    assert result["accuracy"] > 0.85 and result["f1"] > 0.8  # chance is about 0.63 (all benign)
    assert result["classes"] == ["benign", "malignant"] and result["data_path"] == "memory"
    record = runs.read_record(job_id)
    state = json.loads(json.dumps(record.state, allow_nan=False))  # plain JSON
    assert state["kind"] == "table" and state["model"]["n_cont"] == 30 and state["model"]["emb_szs"] == []
    model = tasks.get("tabular_classification").build_model(record)
    weights = runs.load(job_id).model.state_dict()
    model.load_state_dict(weights)
    damaged = {**state, "model": {**state["model"], "n_cont": 29}}
    with pytest.raises(UserError, match="n_cont"):
        tabular.build_from_state("tabular_mlp", damaged)


def test_the_cli_trains_breast_cancer_and_prints_accuracy_and_f1():
    out = core_cli("train", "--dataset", "breast_cancer", "--epochs", "1")
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].split() == ["epoch", "train_loss", "valid_loss", "accuracy", "time"]
    summary = json.loads(lines[-1])
    assert summary["state"] == DONE and summary["task"] == "tabular_classification"
    assert summary["accuracy"] > 0.8 and 0 < summary["f1"] <= 1


REFUSED = {
    "layers not numbers": (["--opt", "layers=a,b"], "Layer sizes are whole numbers"),
    "dropout above 1": (["--opt", "ps=1.5"], "dropout must be at least 0 and below 1"),
    "unknown loss": (["--dataset", "diabetes", "--opt", "loss=foo"], "loss must be one of mse, mae, huber"),
    "loss of the other task": (["--opt", "loss=mae"], "tabular_classification settings"),
}


@pytest.mark.parametrize("argv, says", REFUSED.values(), ids=REFUSED.keys())
def test_bad_options_are_refused_in_a_sentence(argv, says, capsys):
    dataset = [] if "--dataset" in argv else ["--dataset", "breast_cancer"]
    assert main(["train", *dataset, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert says.lower() in err.lower(), err


def test_bad_options_in_a_config_are_refused_before_any_data_is_read():
    for options, says in [({"layers": "0"}, "1 to 8 layer sizes"), ({"huber_delta": 0.0}, "Huber's delta")]:
        with pytest.raises(ConfigError, match=says):
            TrainConfig(
                task="tabular_regression", arch="tabular_mlp", dataset="diabetes", options=options
            ).validate()
