"""`python -m bench.tables`: the table tasks' quality against gradient boosting, and the engine's speed.

1. quality with each task's defaults (tasks.default_config), trained as the worker trains it:
   breast_cancer's validation accuracy and training seconds (the issue: ≥ 95 % within 10 s);
   diabetes's validation RMSE against scikit-learn's HistGradientBoostingRegressor on the same
   split (the issue: ≤ 1.05× its RMSE); census_synth's accuracy against
   HistGradientBoostingClassifier. The boosted trees read the same columns: the categories as
   their training-vocabulary codes (native categorical support), the numbers raw with their gaps.
2. speed on census_synth (20,000 rows): the engine's epoch against a hand-written PyTorch loop
   over the same tensors, TabularModel, loss, AdamW and one-cycle schedule, at batch sizes 512 and
   64, and fastai's default pipeline (TabularPandas(...).dataloaders(bs) and tabular_learner with
   the same layers) beside them, as ratios measured in one run.

Seconds per epoch are medians over the epochs (train + validation), wall and CPU time. On a shared
machine wall times swing when a neighbour starts: compare the CPU ratios there.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from types import SimpleNamespace

import numpy as np
import torch

from bench.tasks import _epoch_log, _median, print_ratios, print_ways, run_engine
from core import tasks
from core.data import access, datasets

QUALITY = {  # dataset → (metric, goal, the seconds it must be reached within or None)
    "breast_cancer": ("accuracy", 0.95, 10.0),
    "diabetes": ("rmse", None, None),
    "census_synth": ("accuracy", None, None),
}
SPEED_DATASET = "census_synth"
WITHIN_GBM = 1.05  # diabetes: the network's RMSE at most this multiple of gradient boosting's


def gbm(cfg) -> dict:
    """scikit-learn's HistGradientBoosting on the dataset's split and columns: its main metric, seconds."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    bundle = tasks.get(cfg.task).loaders(cfg, device="cpu")
    procs, items = bundle.procs, bundle.items
    frame, valid = items.frame, np.asarray(items.is_valid)
    users = [c for c in procs.cats if c.source is None]
    codes = procs.codes(procs.filled(frame)[0])[:, : len(users)].astype(float)
    codes[codes == 0] = np.nan  # missing or unseen: the trees' own missing-value branch
    conts = np.column_stack([frame[c.name].to_numpy(float) for c in procs.conts]) if procs.conts else None
    x = codes if conts is None else np.hstack([codes, conts])
    y = procs.target(frame).numpy()
    cat_mask = [True] * len(users) + [False] * len(procs.conts)
    regression = procs.classes is None
    Model = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
    t = time.perf_counter()
    model = Model(random_state=0, categorical_features=cat_mask if any(cat_mask) else None)
    model.fit(x[~valid], y[~valid])
    pred = model.predict(x[valid])
    seconds = time.perf_counter() - t
    if regression:
        return {"rmse": float(np.sqrt(np.mean((pred - y[valid]) ** 2))), "seconds": round(seconds, 2)}
    return {"accuracy": float(np.mean(pred == y[valid])), "seconds": round(seconds, 2)}


def quality(name: str) -> dict:
    """The defaults on one dataset: each epoch's figures, the final main metric, gradient boosting's."""
    info = datasets.resolve(name)
    with access.dataset(info):
        pass  # a crash-interrupted change is finished (and a built-in written) before timing starts
    task = tasks.for_dataset(name)
    cfg = tasks.default_config(task.name, dataset=name)
    r = run_engine(cfg)
    metric, goal, within = QUALITY[name]
    out = {
        "dataset": name,
        "task": task.name,
        "metric": metric,
        "value": r[metric],
        "seconds": round(r["rows"][-1]["elapsed"], 2),
        "epochs": [round(row[metric], 4) for row in r["rows"]],
        "gbm": gbm(cfg),
    }
    out["vs_gbm"] = round(out["value"] / out["gbm"][metric], 3)
    if goal is not None:
        reached = next((row for row in r["rows"] if row[metric] >= goal), None)
        out["goal"] = {"at_least": goal, "within": within, "final_ok": out["value"] >= goal}
        out["goal"]["seconds_to_goal"] = round(reached["elapsed"], 2) if reached else None
        out["goal"]["ok"] = out["value"] >= goal and out["seconds"] <= within
    if metric == "rmse":
        out["goal"] = {"at_most_gbm_times": WITHIN_GBM, "ok": out["vs_gbm"] <= WITHIN_GBM}
    return out


def run_plain_loop(cfg) -> dict:
    """A hand-written PyTorch loop over the engine's tensors with the same model, loss, AdamW and
    one-cycle schedule; validation each epoch computes the task's metrics."""
    from torch.optim.lr_scheduler import OneCycleLR

    from core.train.training import seed_everything

    task = tasks.get(cfg.task)
    bundle = task.loaders(cfg, device="cpu")
    train, valid = bundle.dls.train, bundle.dls.valid
    seed_everything(cfg.seed)
    learn, built = task.learner(cfg, bundle)  # only for its model, loss and metric objects
    model, loss_fn, metrics = built.model, learn.loss_func, list(learn.metrics)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), eps=1e-5, weight_decay=cfg.wd)
    n_batches = len(train.y) // cfg.bs
    sched = OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * n_batches, pct_start=0.25, div_factor=25)
    rows, values = [], {}
    for _ in range(cfg.epochs):
        t, c = time.perf_counter(), time.process_time()
        model.train()
        perm = torch.randperm(len(train.y))
        for i in range(n_batches):
            idx = perm[i * cfg.bs : (i + 1) * cfg.bs]
            loss = loss_fn(model(train.x[idx], train.conts[idx]), train.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        for m in metrics:
            m.reset()
        with torch.no_grad():
            for i in range(0, len(valid.y), cfg.bs * 2):
                sl = slice(i, i + cfg.bs * 2)
                yb = valid.y[sl]
                pred = model(valid.x[sl], valid.conts[sl])
                batch = SimpleNamespace(pred=pred, y=yb, yb=(yb,), to_detach=lambda t: t.detach())
                for m in metrics:
                    m.accumulate(batch)
        values = {m.name: float(m.value) for m in metrics}
        rows.append({"seconds": time.perf_counter() - t, "cpu": time.process_time() - c})
    return {"rows": rows, "n_train": len(train.y), **values}


def run_fastai_default(cfg) -> dict:
    """fastai's usual path: TabularPandas(...).dataloaders(bs) and tabular_learner (same layers)."""
    from fastai.callback.progress import ProgressCallback
    from fastai.metrics import accuracy
    from fastai.tabular.core import Categorify, FillMissing, Normalize, TabularPandas
    from fastai.tabular.learner import tabular_learner

    from core.tasks.tabular import parse_layers
    from core.train.training import seed_everything

    bundle = tasks.get(cfg.task).loaders(cfg, device="cpu")  # the same rows, roles and split
    items = bundle.items
    valid = np.asarray(items.is_valid)
    splits = (np.flatnonzero(~valid).tolist(), np.flatnonzero(valid).tolist())
    seed_everything(cfg.seed)
    to = TabularPandas(
        items.frame,
        procs=[Categorify, FillMissing, Normalize],
        cat_names=list(items.roles.cat),
        cont_names=list(items.roles.cont),
        y_names=items.roles.target,
        splits=splits,
    )
    dls = to.dataloaders(bs=cfg.bs, device="cpu")
    learn = tabular_learner(dls, layers=parse_layers(cfg.options.layers), metrics=accuracy, wd=cfg.wd)
    learn.remove_cb(ProgressCallback)
    learn.logger = lambda *_: None
    log = _epoch_log()
    learn.fit_one_cycle(cfg.epochs, cfg.lr, wd=cfg.wd, cbs=[log])
    return {"rows": log.rows, "n_train": len(splits[0])}


def speed(bs: int, epochs: int, skip_fastai: bool = False) -> dict:
    """Seconds per epoch of the three ways on SPEED_DATASET at batch size bs, and their ratios."""
    task = tasks.for_dataset(SPEED_DATASET)
    cfg = tasks.default_config(task.name, dataset=SPEED_DATASET, bs=bs, epochs=epochs)
    ways = {"engine": run_engine, "plain_loop": run_plain_loop}
    if not skip_fastai:
        ways["fastai_default"] = run_fastai_default
    out: dict = {"bs": bs, "epochs": epochs}
    for way, fn in ways.items():
        r = fn(cfg)
        per_epoch = _median([row["seconds"] for row in r["rows"]])
        out[way] = {
            "seconds_per_epoch": round(per_epoch, 4),
            "cpu_seconds_per_epoch": round(_median([row["cpu"] for row in r["rows"]]), 4),
            "rows_per_second": round(r["n_train"] / per_epoch, 1),
        }
    for key, unit in (("seconds_per_epoch", ""), ("cpu_seconds_per_epoch", "_cpu")):
        e = out["engine"][key]
        out[f"engine_vs_plain{unit}"] = round(e / out["plain_loop"][key], 3)
        if "fastai_default" in out:
            out[f"fastai_vs_plain{unit}"] = round(out["fastai_default"][key] / out["plain_loop"][key], 3)
    return out


def _print_quality(q: dict) -> None:
    figures = " ".join(f"{v:.4f}" for v in q["epochs"])
    print(f"{q['dataset']} ({q['task']}), defaults: {q['metric']} by epoch {figures}", flush=True)
    g = q["gbm"]
    line = (
        f"  network {q['metric']} {q['value']:.4f} in {q['seconds']:.1f} s; "
        f"HistGradientBoosting {g[q['metric']]:.4f} ({g['seconds']:.1f} s); network/GBM {q['vs_gbm']:.3f}"
    )
    goal = q.get("goal")
    if goal is not None and "at_least" in goal:
        line += f"; ≥ {goal['at_least']} within {goal['within']:.0f} s: {'ok' if goal['ok'] else 'NOT MET'}"
    elif goal is not None:
        line += f"; ≤ {goal['at_most_gbm_times']}× GBM: {'ok' if goal['ok'] else 'NOT MET'}"
    print(line, flush=True)


def _print_speed(s: dict) -> None:
    print(f"{SPEED_DATASET} at bs {s['bs']} ({s['epochs']} epochs each):", flush=True)
    print_ways(s, "rows_per_second", "rows/s")
    print_ratios(s)


def main(argv: list[str] | None = None) -> int:
    """Quality on each dataset, then speed at each batch size; a table each, then one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.tables", description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=list(QUALITY), choices=list(QUALITY))
    parser.add_argument("--bs", nargs="*", type=int, default=[512, 64], help="batch sizes for the speed part")
    parser.add_argument(
        "--epochs", type=int, default=3, help="epochs per way for the speed part (the median counts)"
    )
    parser.add_argument("--skip-fastai", action="store_true", help="leave out fastai's default pipeline")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 steadies a busy machine)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs, load average {load}", flush=True)
    out: dict = {"quality": [], "speed": []}
    for name in args.datasets:
        q = quality(name)
        _print_quality(q)
        out["quality"].append(q)
    for bs in args.bs:
        s = speed(bs, args.epochs, args.skip_fastai)
        _print_speed(s)
        out["speed"].append(s)
    print(json.dumps({"bench_tables": out}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
