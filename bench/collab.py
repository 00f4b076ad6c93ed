"""`python -m bench.collab`: collaborative filtering on ratings_synth, quality and the engine's speed.

1. quality: a fresh run with the task's defaults (tasks.default_config("collaborative")), trained
   as the worker trains it; each epoch's validation RMSE, the final RMSE against the noise floor
   the ratings were drawn with (dataset.json's noise_floor and noise_sd) and against predicting
   the training mean, and the seconds it took (the issue: within 10 % of the noise floor);
2. speed: the engine's epoch against a hand-written PyTorch loop over the same index tensors,
   model, loss, AdamW and one-cycle schedule (as a ratio, measured in the same run), and fastai's
   default pipeline beside them (CollabDataLoaders' TabularCollab on the same frame and split,
   collab_learner with its own Adam, MSELossFlat and rmse).

Seconds per epoch are medians over the epochs (train + validation), in wall time and in the
process's CPU time; on a shared machine compare the CPU ratios (--threads 1 steadies them).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from bench.tasks import _epoch_log, _median, print_ratios, print_ways, run_engine
from core import tasks
from core.data import access, datasets, ratings_loaders
from core.train.table_losses import MSE

DATASET = "ratings_synth"
WITHIN = 1.10  # the issue: RMSE within 10 % of the noise floor


def _config(**changes):
    return tasks.default_config("collaborative", dataset=DATASET, **changes)


def floors() -> dict:
    """dataset.json's noise figures: noise_floor (the truth's RMSE) and noise_sd."""
    meta = datasets.metadata(datasets.resolve(DATASET))
    return {"noise_floor": meta.get("noise_floor"), "noise_sd": meta.get("noise_sd")}


def mean_baseline(bundle) -> float:
    """The validation RMSE of predicting the training ratings' mean for every rating."""
    enc = bundle.encoded
    valid = torch.from_numpy(enc.is_valid)
    mean = enc.y[~valid].double().mean()
    return float((enc.y[valid].double() - mean).pow(2).mean().sqrt())


def run_plain_loop(cfg) -> dict:
    """A hand-written PyTorch loop over the engine's index tensors with the same model, MSE, AdamW
    and one-cycle schedule; validation RMSE each epoch."""
    from torch.optim.lr_scheduler import OneCycleLR

    from core.train import collab
    from core.train.training import seed_everything

    bundle = ratings_loaders.build(cfg, datasets.resolve(DATASET), device="cpu")
    train, valid = bundle.dls.train, bundle.dls.valid
    x, y, xv, yv = train.x, train.y, valid.x, valid.y
    seed_everything(cfg.seed)
    model = collab.build_from_state(cfg.arch, bundle.state).model
    loss_fn = MSE()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), eps=1e-5, weight_decay=cfg.wd)
    n_batches = len(x) // cfg.bs
    sched = OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * n_batches, pct_start=0.25, div_factor=25)
    rows, rmse = [], None
    for _ in range(cfg.epochs):
        t, c = time.perf_counter(), time.process_time()
        model.train()
        perm = torch.randperm(len(x))
        for i in range(n_batches):
            idx = perm[i * cfg.bs : (i + 1) * cfg.bs]
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            pred = torch.cat(
                [model(xv[i : i + cfg.bs * 2]).reshape(-1) for i in range(0, len(xv), cfg.bs * 2)]
            )
        rmse = float((pred - yv).pow(2).mean().sqrt())
        rows.append({"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "rmse": rmse})
    return {"rows": rows, "n_train": len(x), "rmse": rmse}


def run_fastai_default(cfg) -> dict:
    """fastai's own pipeline: TabularCollab (as CollabDataLoaders.from_df) on the same frame and
    split, collab_learner with fastai's Adam, MSELossFlat and rmse."""
    import numpy as np
    from fastai.callback.progress import ProgressCallback
    from fastai.collab import TabularCollab, collab_learner
    from fastai.data.block import TransformBlock
    from fastai.metrics import rmse
    from fastai.tabular.core import Categorify

    from core.train.training import seed_everything

    ratings, _ = ratings_loaders.read(datasets.resolve(DATASET))
    roles = ratings_loaders.roles_of(ratings)
    frame = ratings.frame[[roles["user"], roles["item"], roles["rating"]]].copy()
    frame[roles["rating"]] = frame[roles["rating"]].astype("float32")
    valid = np.asarray(ratings.is_valid)
    splits = (np.flatnonzero(~valid).tolist(), np.flatnonzero(valid).tolist())
    seed_everything(cfg.seed)
    to = TabularCollab(
        frame,
        [Categorify],
        [roles["user"], roles["item"]],
        y_names=[roles["rating"]],
        y_block=TransformBlock(),
        splits=splits,
    )
    dls = to.dataloaders(bs=cfg.bs, num_workers=0, device="cpu")
    ys = frame[roles["rating"]].to_numpy()[~valid]
    span = float(ys.max() - ys.min())
    y_range = (float(ys.min()) - span / 4, float(ys.max()) + span / 4)
    learn = collab_learner(
        dls,
        n_factors=cfg.options.n_factors,
        use_nn=cfg.arch == "neural_collab",
        y_range=y_range,
        metrics=[rmse],
        wd=cfg.wd,
    )
    learn.remove_cb(ProgressCallback)
    learn.logger = lambda *_: None
    log = _epoch_log()
    learn.fit_one_cycle(cfg.epochs, cfg.lr, wd=cfg.wd, cbs=[log])
    return {"rows": log.rows, "n_train": len(dls.train_ds), "rmse": log.rows[-1].get("_rmse")}


def bench(epochs: int, skip_fastai: bool = False, bs: int | None = None) -> dict:
    """Quality with the defaults, then the three ways for `epochs` epochs each (at batch size bs,
    the defaults' when None)."""
    info = datasets.resolve(DATASET)
    with access.dataset(info):
        pass  # written and recovered before timing starts
    cfg = _config()
    out: dict = {"dataset": DATASET, "defaults": tasks.get("collaborative").defaults, **floors()}
    out["n_factors"] = cfg.options.n_factors
    bundle = ratings_loaders.build(cfg, info, device="cpu")
    out["mean_baseline_rmse"] = round(mean_baseline(bundle), 4)
    t = time.perf_counter()
    engine = run_engine(cfg)
    out["seconds"] = round(time.perf_counter() - t, 2)
    out["rmse"] = round(engine["rmse"], 4)
    out["epochs"] = [round(r["rmse"], 4) for r in engine["rows"]]
    floor = out["noise_floor"] or out["noise_sd"]
    out["rmse_over_floor"] = round(engine["rmse"] / floor, 3)
    out["rmse_over_noise_sd"] = round(engine["rmse"] / out["noise_sd"], 3) if out["noise_sd"] else None
    out["ok"] = engine["rmse"] <= WITHIN * floor
    short = cfg.replace(epochs=epochs, bs=bs or cfg.bs)
    out["speed_bs"] = short.bs
    ways = {"engine": run_engine, "plain_loop": run_plain_loop}
    if not skip_fastai:
        ways["fastai_default"] = run_fastai_default
    for way, fn in ways.items():
        r = fn(short)
        per_epoch = _median([row["seconds"] for row in r["rows"]])
        out[way] = {
            "seconds_per_epoch": round(per_epoch, 4),
            "cpu_seconds_per_epoch": round(_median([row["cpu"] for row in r["rows"]]), 4),
            "ratings_per_second": round(r["n_train"] / per_epoch, 1),
            "rmse": round(float(r["rmse"]), 4) if r.get("rmse") is not None else None,
        }
    for key, unit in (("seconds_per_epoch", ""), ("cpu_seconds_per_epoch", "_cpu")):
        e = out["engine"][key]
        out[f"engine_vs_plain{unit}"] = round(e / out["plain_loop"][key], 3)
        if "fastai_default" in out:
            out[f"engine_vs_fastai{unit}"] = round(e / out["fastai_default"][key], 3)
    return out


def _print(r: dict) -> None:
    print(f"collaborative on {r['dataset']} with defaults {r['defaults']}, {r['n_factors']} factors:")
    print(f"  RMSE by epoch: {', '.join(f'{v:.4f}' for v in r['epochs'])}")
    verdict = "ok" if r["ok"] else "NOT MET"
    print(
        f"  RMSE {r['rmse']:.4f} in {r['seconds']} s: {r['rmse_over_floor']:.3f}× the noise floor "
        f"{r['noise_floor']} ({r['rmse_over_noise_sd']}× noise_sd {r['noise_sd']}); within "
        f"{WITHIN:.2f}×: {verdict}; the mean baseline {r['mean_baseline_rmse']:.4f}",
        flush=True,
    )
    print(f"  epoch times at batch size {r['speed_bs']}:")
    print_ways(r, "ratings_per_second", "ratings/s", lambda w: f"  RMSE {w['rmse']}")
    print_ratios(r)


def main(argv: list[str] | None = None) -> int:
    """Bench ratings_synth; a table, then one JSON line of every figure."""
    parser = argparse.ArgumentParser(prog="python -m bench.collab", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs for the epoch-time comparison")
    parser.add_argument("--bs", type=int, default=None, help="batch size for the epoch-time comparison")
    parser.add_argument("--skip-fastai", action="store_true", help="leave out fastai's default pipeline")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 steadies a busy machine)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs, load average {load}", flush=True)
    r = bench(args.epochs, args.skip_fastai, args.bs)
    _print(r)
    print(json.dumps({"bench_collab": r}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
