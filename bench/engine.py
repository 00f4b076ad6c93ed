"""`python -m core bench`: the engine against a plain PyTorch loop (and fastai's default pipeline).

The engine is timed as the worker runs it: tensor cache, fastai Learner, every batch recorded
into a job store. The plain loop is the floor: the same model, optimiser and one-cycle schedule
over tensors already normalised in memory. Both run in alternating rounds (engine first in odd
rounds, plain first in even ones) so a machine that slows down hurts neither side more; each
round's figure is seconds per epoch (the median over its epochs), and the ratio reported is the
median over rounds of engine / plain, with the lowest and highest round beside it.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from core.config import TrainConfig
from core.data import datasets
from core.data import loaders as data
from core.jobs.store import Store
from core.train import device as devices
from core.train.models import build_model


class _EpochTimes:
    """A fastai callback collecting each epoch's wall time (train + validation)."""

    def __new__(cls):
        from fastai.callback.core import Callback

        class EpochTimes(Callback):
            order = 0

            def before_fit(self):
                self.times, self.cpu_times = [], []  # not "cpu": a Learner method

            def before_epoch(self):
                self.t0, self.c0 = time.perf_counter(), time.process_time()

            def after_epoch(self):
                devices.synchronize(self.dls.device)
                self.times.append(time.perf_counter() - self.t0)
                self.cpu_times.append(time.process_time() - self.c0)

        return EpochTimes()


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 512]).argmax(1) for i in range(0, len(x), 512)])
    return float((pred == y).float().mean())


def run_engine(cfg: TrainConfig, device: str = "cpu") -> dict:
    """The engine as the worker runs it: tensor cache, fastai Learner, records streamed to a store."""
    from core.train.callbacks import StreamToStore
    from core.train.training import build_learner, fit

    bundle = data.build(cfg, device=device)
    learn, _ = build_learner(cfg, bundle)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.sqlite")
        job_id = store.submit("train", {"config": cfg.to_dict()})
        stream = StreamToStore(store, job_id, cfg.epochs * len(bundle.dls.train))
        timer = _EpochTimes()
        learn.add_cb(timer)
        fit(learn, cfg, stream)
        store.close()
    acc = float(learn.final_record[2])
    return {
        "epoch_seconds": timer.times,
        "cpu_seconds": timer.cpu_times,
        "accuracy": acc,
        "n_train": bundle.n_train,
    }


def run_fastai_default(cfg: TrainConfig, device: str = "cpu") -> dict:
    """fastai's usual pipeline: ImageDataLoaders.from_folder with per-item Resize."""
    from fastai.callback.progress import ProgressCallback
    from fastai.learner import Learner
    from fastai.metrics import accuracy
    from fastai.vision.augment import Resize
    from fastai.vision.core import PILImageBW
    from fastai.vision.data import ImageDataLoaders

    from core.train.training import seed_everything

    info = datasets.resolve(cfg.dataset)
    size = cfg.size or info.default_size
    seed_everything(cfg.seed)
    dls = ImageDataLoaders.from_folder(
        info.path,
        train="train",
        valid="valid",
        bs=cfg.bs,
        item_tfms=Resize(size),
        img_cls=PILImageBW,
        seed=cfg.seed,
        device=torch.device(device),
    )
    built = build_model(cfg.arch, len(dls.vocab), 1, size, False)
    learn = Learner(
        dls,
        built.model,
        loss_func=nn.CrossEntropyLoss(),
        metrics=accuracy,
        splitter=built.splitter,
        wd=cfg.wd,
    )
    learn.remove_cb(ProgressCallback)
    learn.logger = lambda *_: None
    timer = _EpochTimes()
    learn.fit_one_cycle(cfg.epochs, cfg.lr, wd=cfg.wd, cbs=[timer])
    return {
        "epoch_seconds": timer.times,
        "cpu_seconds": timer.cpu_times,
        "accuracy": float(learn.final_record[2]),
        "n_train": len(dls.train_ds),
    }


def run_plain_loop(cfg: TrainConfig, device: str = "cpu") -> dict:
    """A hand-written PyTorch loop over normalised tensors already in memory (the floor).

    On CUDA it uses the engine's precision and memory format (core/train/device.py), so the
    ratio measures the engine's overhead, not a difference in arithmetic.
    """
    from core.train.training import seed_everything

    dev = torch.device(device)
    bundle = data.build(cfg, device="cpu")
    train, valid = bundle.dls.train, bundle.dls.valid
    x = (((train.x.float() / 255) - train.mean) / train.std).to(dev)
    y = train.y.to(dev)
    xv = (((valid.x.float() / 255) - valid.mean) / valid.std).to(dev)
    seed_everything(cfg.seed)
    model = build_model(cfg.arch, len(bundle.vocab), bundle.channels, bundle.size, False).model.to(dev)
    dtype = devices.autocast_dtype(devices.precision(cfg.mixed_precision, dev))
    if devices.wants_channels_last(model, dev):
        model = model.to(memory_format=torch.channels_last)
        last = torch.channels_last
        x, xv = x.contiguous(memory_format=last), xv.contiguous(memory_format=last)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), eps=1e-5, weight_decay=cfg.wd)
    steps = cfg.epochs * (len(x) // cfg.bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.25, div_factor=25
    )
    loss_fn = nn.CrossEntropyLoss()
    times, cpu = [], []
    for _ in range(cfg.epochs):
        t, c = time.perf_counter(), time.process_time()
        model.train()
        perm = torch.randperm(len(x), device=dev)
        for i in range(len(x) // cfg.bs):
            idx = perm[i * cfg.bs : (i + 1) * cfg.bs]
            with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
                loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad()
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            sched.step()
        with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
            acc = _accuracy(model, xv, valid.y.to(dev))  # validate each epoch, as fastai does
        devices.synchronize(dev)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {"epoch_seconds": times, "cpu_seconds": cpu, "accuracy": acc, "n_train": len(x)}


def _figures(r: dict) -> dict:
    per_epoch = statistics.median(r["epoch_seconds"])  # the median shrugs off warm-up and noise
    return {
        "seconds_per_epoch": round(per_epoch, 4),
        "cpu_seconds_per_epoch": round(statistics.median(r["cpu_seconds"]), 4),
        "images_per_second": round(r["n_train"] / per_epoch, 1),
        "accuracy": round(r["accuracy"], 4),
        "n_train": r["n_train"],
        "epoch_seconds": [round(v, 4) for v in r["epoch_seconds"]],
    }


def bench_arch(cfg: TrainConfig, rounds: int, device: str = "cpu", skip_fastai: bool = False) -> dict:
    """Engine and plain loop in alternating rounds on cfg (and fastai's default once); the ratios."""
    ways = {"engine": run_engine, "plain_loop": run_plain_loop}
    for fn in ways.values():  # warm-up: first-use costs belong to neither side
        fn(replace(cfg, epochs=1), device)
    out: dict = {"arch": cfg.arch, "epochs": cfg.epochs, "size": cfg.size, "rounds": []}
    for i in range(rounds):
        order = ("engine", "plain_loop") if i % 2 == 0 else ("plain_loop", "engine")
        got = {name: _figures(ways[name](cfg, device)) for name in order}
        got["ratio"] = round(got["engine"]["seconds_per_epoch"] / got["plain_loop"]["seconds_per_epoch"], 3)
        cpu = got["engine"]["cpu_seconds_per_epoch"] / got["plain_loop"]["cpu_seconds_per_epoch"]
        got["cpu_ratio"] = round(cpu, 3)
        got["first"] = order[0]
        out["rounds"].append(got)
    for way in ways:
        seconds = statistics.median(r[way]["seconds_per_epoch"] for r in out["rounds"])
        out[way] = {
            "seconds_per_epoch": round(seconds, 4),
            "images_per_second": round(out["rounds"][0][way]["n_train"] / seconds, 1),
            "accuracy": out["rounds"][-1][way]["accuracy"],
        }
    ratios = [r["ratio"] for r in out["rounds"]]
    out["engine_vs_plain"] = round(statistics.median(ratios), 3)
    out["engine_vs_plain_spread"] = [min(ratios), max(ratios)]
    cpu_ratios = [r["cpu_ratio"] for r in out["rounds"]]
    out["engine_vs_plain_cpu"] = round(statistics.median(cpu_ratios), 3)
    out["engine_vs_plain_cpu_spread"] = [min(cpu_ratios), max(cpu_ratios)]
    if not skip_fastai:
        out["fastai_default"] = _figures(run_fastai_default(cfg, device))
        e = out["engine"]["seconds_per_epoch"]
        out["engine_vs_fastai"] = round(e / out["fastai_default"]["seconds_per_epoch"], 3)
        out["fastai_vs_plain"] = round(
            out["fastai_default"]["seconds_per_epoch"] / out["plain_loop"]["seconds_per_epoch"], 3
        )
    return out


def main(
    epochs: int,
    archs: list[str],
    skip_fastai: bool = False,
    rounds: int = 5,
    device: str = "cpu",
    threads: int | None = None,
    size: int | None = None,
) -> int:
    """Print each round and a line per architecture; end with one JSON line of every figure."""
    if threads:
        torch.set_num_threads(threads)
    datasets.resolve("digits")
    print(
        f"Digits, {epochs} epoch(s) per fit, {rounds} round(s), device {devices.describe(device)}, "
        f"torch {torch.__version__}; seconds per epoch are medians over a fit's epochs (train + validation)",
        flush=True,
    )
    results = []
    for arch in archs:
        cfg = TrainConfig(
            arch=arch, epochs=epochs, size=size, pretrained=False, mixed_precision=device != "cpu"
        )
        r = bench_arch(cfg, rounds, device, skip_fastai)
        for i, rnd in enumerate(r["rounds"]):
            e, p = rnd["engine"]["seconds_per_epoch"], rnd["plain_loop"]["seconds_per_epoch"]
            print(
                f"{arch:<11} round {i + 1} ({rnd['first'].replace('_loop', '')} first): engine "
                f"{e:.3f} s, plain {p:.3f} s, "
                f"ratio {rnd['ratio']:.3f} (CPU time {rnd['cpu_ratio']:.3f})",
                flush=True,
            )
        for way in ("engine", "plain_loop", "fastai_default"):
            if way in r:
                w = r[way]
                print(
                    f"{arch:<11} {way:<15} {w['seconds_per_epoch']:>8.3f} s/epoch "
                    f"{w['images_per_second']:>9.1f} img/s  accuracy {w['accuracy']:.4f}",
                    flush=True,
                )
        lo, hi = r["engine_vs_plain_spread"]
        clo, chi = r["engine_vs_plain_cpu_spread"]
        ratios = (
            f"engine/plain = {r['engine_vs_plain']:.3f}× wall "
            f"(median of {rounds}; rounds {lo:.3f}–{hi:.3f}), "
            f"{r['engine_vs_plain_cpu']:.3f}× CPU time (rounds {clo:.3f}–{chi:.3f})"
        )
        if "engine_vs_fastai" in r:
            ratios += (
                f", engine/fastai-default = {r['engine_vs_fastai']:.3f}×, "
                f"fastai-default/plain = {r['fastai_vs_plain']:.1f}×"
            )
        print(f"{arch:<11} {ratios}", flush=True)
        results.append(r)
    print(json.dumps({"bench": results, "device": str(device), "torch": torch.__version__}), flush=True)
    return 0
