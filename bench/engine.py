"""`python -m core bench`: the engine against fastai's default pipeline and a plain PyTorch loop."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from core.config import TrainConfig
from core.data import datasets
from core.data import loaders as data
from core.jobs.store import Store
from core.train.models import build_model


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


class _EpochTimes:
    """A fastai callback collecting each epoch's wall time (train + validation)."""

    def __new__(cls):
        from fastai.callback.core import Callback

        class EpochTimes(Callback):
            order = 0

            def before_fit(self):
                self.times = []

            def before_epoch(self):
                self.t0 = time.perf_counter()

            def after_epoch(self):
                self.times.append(time.perf_counter() - self.t0)

        return EpochTimes()


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 512]).argmax(1) for i in range(0, len(x), 512)])
    return float((pred == y).float().mean())


def run_engine(cfg: TrainConfig) -> dict:
    """The engine as the worker runs it: tensor cache, fastai Learner, records streamed to a store."""
    from core.train.callbacks import StreamToStore
    from core.train.training import build_learner, fit

    bundle = data.build(cfg)
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
    return {"epoch_seconds": timer.times, "accuracy": acc, "n_train": bundle.n_train}


def run_fastai_default(cfg: TrainConfig) -> dict:
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
        "accuracy": float(learn.final_record[2]),
        "n_train": len(dls.train_ds),
    }


def run_plain_loop(cfg: TrainConfig) -> dict:
    """A hand-written PyTorch loop over normalised tensors already in memory (the floor)."""
    from core.train.training import seed_everything

    bundle = data.build(cfg, device="cpu")
    train, valid = bundle.dls.train, bundle.dls.valid
    x = ((train.x.float() / 255) - train.mean) / train.std
    y = train.y
    xv = ((valid.x.float() / 255) - valid.mean) / valid.std
    seed_everything(cfg.seed)
    model = build_model(cfg.arch, len(bundle.vocab), bundle.channels, bundle.size, False).model
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), eps=1e-5, weight_decay=cfg.wd)
    steps = cfg.epochs * (len(x) // cfg.bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.25, div_factor=25
    )
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for _ in range(cfg.epochs):
        t = time.perf_counter()
        model.train()
        perm = torch.randperm(len(x))
        for i in range(len(x) // cfg.bs):
            idx = perm[i * cfg.bs : (i + 1) * cfg.bs]
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        acc = _accuracy(model, xv, valid.y)  # validate each epoch, as fastai does
        times.append(time.perf_counter() - t)
    return {"epoch_seconds": times, "accuracy": acc, "n_train": len(x)}


def bench_arch(arch: str, epochs: int, skip_fastai: bool = False) -> dict:
    """All three ways on one architecture; figures per way plus the ratios."""
    cfg = TrainConfig(arch=arch, epochs=epochs)
    out: dict = {"arch": arch, "epochs": epochs}
    ways = {"engine": run_engine, "plain_loop": run_plain_loop}
    if not skip_fastai:
        ways["fastai_default"] = run_fastai_default
    for name, fn in ways.items():
        r = fn(cfg)
        per_epoch = _median(r["epoch_seconds"])  # the median shrugs off warm-up and noise
        out[name] = {
            "seconds_per_epoch": round(per_epoch, 4),
            "images_per_second": round(r["n_train"] / per_epoch, 1),
            "accuracy": round(r["accuracy"], 4),
            "epoch_seconds": [round(v, 4) for v in r["epoch_seconds"]],
        }
    e = out["engine"]["seconds_per_epoch"]
    out["engine_vs_plain"] = round(e / out["plain_loop"]["seconds_per_epoch"], 3)
    if "fastai_default" in out:
        out["engine_vs_fastai"] = round(e / out["fastai_default"]["seconds_per_epoch"], 3)
        out["fastai_vs_plain"] = round(
            out["fastai_default"]["seconds_per_epoch"] / out["plain_loop"]["seconds_per_epoch"], 3
        )
    return out


def main(epochs: int, archs: list[str], skip_fastai: bool = False) -> int:
    """Print a table per architecture and end with one JSON line of every figure."""
    datasets.resolve("digits")
    results = []
    print(
        f"Digits, {epochs} epoch(s) each, {torch.get_num_threads()} threads; seconds per "
        "epoch are medians over the epochs (train + validation)",
        flush=True,
    )
    print(f"{'arch':<11} {'way':<15} {'s/epoch':>8} {'img/s':>9} {'accuracy':>9}", flush=True)
    for arch in archs:
        r = bench_arch(arch, epochs, skip_fastai)
        for way in ("engine", "fastai_default", "plain_loop"):
            if way in r:
                w = r[way]
                print(
                    f"{arch:<11} {way:<15} {w['seconds_per_epoch']:>8.3f} "
                    f"{w['images_per_second']:>9.1f} {w['accuracy']:>9.4f}",
                    flush=True,
                )
        ratios = f"engine/plain = {r['engine_vs_plain']:.2f}×"
        if "engine_vs_fastai" in r:
            ratios += (
                f", engine/fastai-default = {r['engine_vs_fastai']:.3f}×, "
                f"fastai-default/plain = {r['fastai_vs_plain']:.1f}×"
            )
        print(f"{arch:<11} {ratios}", flush=True)
        results.append(r)
    print(json.dumps({"bench": results}), flush=True)
    return 0
