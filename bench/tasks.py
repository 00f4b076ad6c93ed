"""`python -m bench.tasks`: multi-label and segmentation, time to quality and the engine's speed.

For each task on its built-in dataset (shapes_multi, shapes_seg):

1. time to quality: a fresh run with the task's defaults (tasks.default_config), trained as the
   worker trains it (fast path, fastai Learner, records streamed to a job store); the first
   epoch's figures, the seconds until the issue's target is met, and the final figures;
2. the engine's epoch time against a hand-written PyTorch loop over the same tensors, model,
   loss and schedule (measured in the same run, as a ratio), and fastai's default DataBlock
   pipeline (MultiCategoryBlock / MaskBlock with per-item Resize) beside them.

Seconds per epoch are medians over the epochs (train + validation), in wall time and in the
process's CPU time. The machine's load average is printed first: on a shared machine the wall
times are slower than on an idle one and swing when a neighbour starts, so compare the CPU
ratios there (and --threads 1 keeps two threads from waiting on each other).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from core import tasks
from core.data import access, datasets

# The targets: what must hold at an epoch's end, and within how many seconds of training.
TARGETS = {
    "multi_label": {
        "dataset": "shapes_multi",
        "goal": {"f1_macro": 0.90, "accuracy_multi": 0.95},
        "seconds": 60,
    },
    "segmentation": {"dataset": "shapes_seg", "goal": {"mean_iou": 0.85}, "seconds": 120},
}
FIRST_EPOCH_AT_MOST = {"multi_label": ("f1_macro", 0.80), "segmentation": ("mean_iou", 0.70)}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _epoch_log():
    """A fastai callback keeping each epoch's wall time, seconds since the fit began and metrics."""
    from fastai.callback.core import Callback

    class EpochLog(Callback):
        order = 100  # after the Recorder has written the epoch's metrics

        def before_fit(self):
            self.t_fit, self.rows = time.perf_counter(), []

        def before_epoch(self):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def after_epoch(self):
            now, cpu = time.perf_counter(), time.process_time() - self.c0
            names = list(self.recorder.metric_names[1:-1])  # train_loss, valid_loss, metrics
            values = [float(v) for v in self.recorder.log[1 : 1 + len(names)]]
            row = {"seconds": now - self.t0, "cpu": cpu, "elapsed": now - self.t_fit}
            self.rows.append({**row, **dict(zip(names, values))})

    return EpochLog()


def run_engine(cfg) -> dict:
    """The engine as the worker runs it; each epoch's time, elapsed training time and metrics."""
    from core.jobs.store import Store
    from core.train.callbacks import StreamToStore
    from core.train.training import build_learner, fit

    task = tasks.get(cfg.task)
    bundle = task.loaders(cfg)
    learn, _ = build_learner(cfg, bundle)
    log = _epoch_log()
    learn.add_cb(log)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.sqlite")
        job_id = store.submit("train", {"config": cfg.to_dict()})
        fit(learn, cfg, StreamToStore(store, job_id, cfg.epochs * len(bundle.dls.train)))
        store.close()
    return {"rows": log.rows, "n_train": bundle.n_train, **task.summary(learn)}


def _targets(y: torch.Tensor) -> torch.Tensor:
    """Masks (uint8) as the class indices a loss takes; multi-hot targets as they are."""
    return y.long() if y.dtype == torch.uint8 else y


def run_plain_loop(cfg) -> dict:
    """A hand-written PyTorch loop over the engine's tensors, normalised once, with the same model,
    loss, AdamW and one-cycle schedule; validation each epoch computes the task's metrics."""
    from torch.optim.lr_scheduler import OneCycleLR

    from core.train.training import seed_everything

    task = tasks.get(cfg.task)
    bundle = task.loaders(cfg, device="cpu")
    train, valid = bundle.dls.train, bundle.dls.valid
    x, y = (train.x.float() / 255 - train.mean) / train.std, _targets(train.y)
    xv, yv = (valid.x.float() / 255 - valid.mean) / valid.std, _targets(valid.y)
    seed_everything(cfg.seed)
    learn, built = task.learner(cfg, bundle)  # only for its model, loss and metric objects
    model, loss_fn, metrics = built.model, learn.loss_func, list(learn.metrics)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), eps=1e-5, weight_decay=cfg.wd)
    n_batches = len(x) // cfg.bs
    sched = OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * n_batches, pct_start=0.25, div_factor=25)
    rows, values = [], {}
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
        for m in metrics:
            m.reset()
        with torch.no_grad():
            for i in range(0, len(xv), cfg.bs * 2):
                yb = yv[i : i + cfg.bs * 2]
                pred = model(xv[i : i + cfg.bs * 2])
                batch = SimpleNamespace(pred=pred, y=yb, yb=(yb,), to_detach=lambda t: t.detach())
                for m in metrics:
                    m.accumulate(batch)
        values = {m.name: float(m.value) for m in metrics}
        rows.append({"seconds": time.perf_counter() - t, "cpu": time.process_time() - c})
    return {"rows": rows, "n_train": len(x), **values}


def _fastai_dls(cfg, bundle):
    """fastai's default DataBlock over the same items and split: per-item Resize, batch Normalize."""
    from fastai.data.block import DataBlock, MultiCategoryBlock
    from fastai.data.transforms import Normalize
    from fastai.vision.augment import Resize
    from fastai.vision.data import ImageBlock, MaskBlock

    items = bundle.items
    root = items.root
    index = {f: i for i, f in enumerate(items.files)}
    valid = [i for i, v in enumerate(items.is_valid) if v]
    train = [i for i, v in enumerate(items.is_valid) if not v]
    if cfg.task == "segmentation":
        blocks = (ImageBlock, MaskBlock(items.codes))
        get_y = [root / m for m in items.masks]
    else:
        blocks = (ImageBlock, MultiCategoryBlock(vocab=items.vocab))
        get_y = [list(tags) for tags in items.labels]
    block = DataBlock(
        blocks=blocks,
        get_items=lambda _: [root / f for f in items.files],
        get_y=lambda p: get_y[index[p.relative_to(root).as_posix()]],
        splitter=lambda _: (train, valid),
        item_tfms=Resize(bundle.size),
        batch_tfms=Normalize.from_stats(bundle.mean, bundle.std),
    )
    return block.dataloaders(root, bs=cfg.bs, num_workers=0, device="cpu")


def run_fastai_default(cfg) -> dict:
    """fastai's usual pipeline and its own loss and metrics (TensorBase types, per-item transforms)."""
    from fastai.callback.progress import ProgressCallback
    from fastai.learner import Learner
    from fastai.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat
    from fastai.metrics import F1ScoreMulti, JaccardCoeffMulti, accuracy_multi

    from core.train.training import seed_everything

    task = tasks.get(cfg.task)
    bundle = task.loaders(cfg, device="cpu")  # the same items, split, size and normalisation
    seed_everything(cfg.seed)
    dls = _fastai_dls(cfg, bundle)
    model = task.learner(cfg, bundle)[1].model  # the same network, freshly built
    if cfg.task == "segmentation":
        loss, metrics = CrossEntropyLossFlat(axis=1), [JaccardCoeffMulti()]
    else:
        loss, metrics = BCEWithLogitsLossFlat(), [accuracy_multi, F1ScoreMulti(average="macro")]
    learn = Learner(dls, model, loss_func=loss, metrics=metrics, wd=cfg.wd)
    learn.remove_cb(ProgressCallback)
    learn.logger = lambda *_: None
    log = _epoch_log()
    learn.fit_one_cycle(cfg.epochs, cfg.lr, wd=cfg.wd, cbs=[log])
    return {"rows": log.rows, "n_train": len(dls.train_ds)}


def time_to_quality(name: str, rows: list[dict]) -> dict:
    """The first epoch's main metric, the seconds until the goal first held, and whether in time."""
    target = TARGETS[name]
    reached = next((r for r in rows if all(r.get(k, 0) >= v for k, v in target["goal"].items())), None)
    metric, most = FIRST_EPOCH_AT_MOST[name]
    first = rows[0].get(metric) if rows else None
    return {
        "first_epoch": {metric: first, "at_most": most, "ok": first is not None and first <= most},
        "goal": target["goal"],
        "seconds_to_goal": round(reached["elapsed"], 1) if reached else None,
        "epoch_of_goal": rows.index(reached) + 1 if reached else None,
        "within": target["seconds"],
        "ok": reached is not None and reached["elapsed"] <= target["seconds"],
    }


def bench_task(name: str, epochs: int, skip_fastai: bool = False) -> dict:
    """Time to quality with the defaults, then the three ways for `epochs` epochs each."""
    target = TARGETS[name]
    info = datasets.resolve(target["dataset"])
    with access.dataset(info):
        pass  # a crash-interrupted change is finished before timing starts
    cfg = tasks.default_config(name, dataset=info.name)
    out: dict = {"task": name, "dataset": info.name, "defaults": tasks.get(name).defaults}
    engine = run_engine(cfg)
    out["quality"] = {
        **time_to_quality(name, engine["rows"]),
        "epochs": [{k: round(v, 4) for k, v in r.items()} for r in engine["rows"]],
    }
    short = cfg.replace(epochs=epochs)
    ways = {"engine": run_engine, "plain_loop": run_plain_loop}
    if not skip_fastai:
        ways["fastai_default"] = run_fastai_default
    for way, fn in ways.items():
        r = fn(short)
        per_epoch = _median([row["seconds"] for row in r["rows"]])
        out[way] = {
            "seconds_per_epoch": round(per_epoch, 4),
            "cpu_seconds_per_epoch": round(_median([row["cpu"] for row in r["rows"]]), 4),
            "images_per_second": round(r["n_train"] / per_epoch, 1),
        }
    for key, unit in (("seconds_per_epoch", ""), ("cpu_seconds_per_epoch", "_cpu")):
        e = out["engine"][key]
        out[f"engine_vs_plain{unit}"] = round(e / out["plain_loop"][key], 3)
        if "fastai_default" in out:
            out[f"engine_vs_fastai{unit}"] = round(e / out["fastai_default"][key], 3)
    return out


def print_ways(r: dict, rate: str, unit: str, extra=None) -> None:
    """One line per way that ran (engine, plain loop, fastai's default): wall and CPU seconds per
    epoch and its rate (r[way][rate], written with unit); extra(w) adds the way's own figure."""
    for way in ("engine", "plain_loop", "fastai_default"):
        if way in r:
            w = r[way]
            print(
                f"  {way:<15} {w['seconds_per_epoch']:8.4f} s/epoch ({w['cpu_seconds_per_epoch']:.4f} s CPU) "
                f"{w[rate]:10.1f} {unit}{extra(w) if extra else ''}"
            )


def print_ratios(r: dict) -> None:
    """The ratios against the plain loop (and fastai's default, when it ran), by wall and CPU time."""
    for unit, shown in (("", "wall"), ("_cpu", "CPU")):
        line = f"  {shown}: engine/plain = {r['engine_vs_plain' + unit]:.2f}×"
        if "engine_vs_fastai" + unit in r:
            line += f", engine/fastai-default = {r['engine_vs_fastai' + unit]:.3f}×"
        if "fastai_vs_plain" + unit in r:
            line += f", fastai-default/plain = {r['fastai_vs_plain' + unit]:.2f}×"
        print(line, flush=True)


def _print(r: dict) -> None:
    q = r["quality"]
    metric = FIRST_EPOCH_AT_MOST[r["task"]][0]
    print(f"{r['task']} on {r['dataset']} with defaults {r['defaults']}:", flush=True)
    for i, row in enumerate(q["epochs"], start=1):
        figures = ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("seconds", "cpu", "elapsed"))
        print(f"  epoch {i:>2}  {row['elapsed']:7.1f} s  {figures}", flush=True)
    first = q["first_epoch"]
    verdict = "ok" if first["ok"] else "NOT MET"
    print(f"  first epoch {metric} {first[metric]:.4f} (at most {first['at_most']}: {verdict})")
    goal = " and ".join(f"{k} ≥ {v}" for k, v in q["goal"].items())
    when = f"{q['seconds_to_goal']} s (epoch {q['epoch_of_goal']})" if q["seconds_to_goal"] else "not reached"
    print(f"  {goal}: {when}; within {q['within']} s: {'ok' if q['ok'] else 'NOT MET'}", flush=True)
    print_ways(r, "images_per_second", "img/s")
    print_ratios(r)


def main(argv: list[str] | None = None) -> int:
    """Bench the tasks named on the command line; a table each, then one JSON line of every figure."""
    parser = argparse.ArgumentParser(prog="python -m bench.tasks", description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--epochs", type=int, default=3, help="epochs for the epoch-time comparison")
    parser.add_argument("--skip-fastai", action="store_true", help="leave out fastai's default pipeline")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 steadies a busy machine)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs, load average {load}", flush=True)
    results = []
    for name in args.tasks:
        if name not in tasks.TASKS:
            print(f"{name}: not registered here; skipped", flush=True)
            continue
        r = bench_task(name, args.epochs, args.skip_fastai)
        _print(r)
        results.append(r)
    print(json.dumps({"bench_tasks": results}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
