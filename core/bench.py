"""`python -m core bench`: the engine against fastai's default pipeline and a plain PyTorch loop."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from core import data, datasets
from core.config import TrainConfig
from core.jobs import Store
from core.models import build_model


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 512]).argmax(1) for i in range(0, len(x), 512)])
    return float((pred == y).float().mean())


def run_engine(cfg: TrainConfig) -> dict:
    """The engine as the worker runs it: tensor cache, fastai Learner, records streamed to a store."""
    from core.callbacks import StreamToStore
    from core.training import build_learner, fit

    bundle = data.build(cfg)
    learn, _ = build_learner(cfg, bundle)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.sqlite")
        job_id = store.submit("train", {"config": cfg.to_dict()})
        stream = StreamToStore(store, job_id, cfg.epochs * len(bundle.dls.train))
        t = time.perf_counter()
        fit(learn, cfg, stream)
        seconds = time.perf_counter() - t
        store.close()
    acc = float(learn.final_record[2])
    return {"seconds": seconds, "accuracy": acc, "n_train": bundle.n_train}


def run_fastai_default(cfg: TrainConfig) -> dict:
    """fastai's usual pipeline: ImageDataLoaders.from_folder with per-item Resize."""
    from fastai.callback.progress import ProgressCallback
    from fastai.learner import Learner
    from fastai.metrics import accuracy
    from fastai.vision.augment import Resize
    from fastai.vision.core import PILImageBW
    from fastai.vision.data import ImageDataLoaders

    from core.training import seed_everything

    info = datasets.resolve(cfg.dataset)
    size = cfg.size or info.default_size
    seed_everything(cfg.seed)
    dls = ImageDataLoaders.from_folder(info.path, train="train", valid="valid", bs=cfg.bs,
                                       item_tfms=Resize(size), img_cls=PILImageBW,
                                       seed=cfg.seed)
    built = build_model(cfg.arch, len(dls.vocab), 1, size, False)
    learn = Learner(dls, built.model, loss_func=nn.CrossEntropyLoss(), metrics=accuracy,
                    splitter=built.splitter, wd=cfg.wd)
    learn.remove_cb(ProgressCallback)
    learn.logger = lambda *_: None
    t = time.perf_counter()
    learn.fit_one_cycle(cfg.epochs, cfg.lr, wd=cfg.wd)
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "accuracy": float(learn.final_record[2]),
            "n_train": len(dls.train_ds)}


def run_plain_loop(cfg: TrainConfig) -> dict:
    """A hand-written PyTorch loop over normalised tensors already in memory (the floor)."""
    from core.training import seed_everything

    bundle = data.build(cfg, device="cpu")
    train, valid = bundle.dls.train, bundle.dls.valid
    x = ((train.x.float() / 255) - train.mean) / train.std
    y = train.y
    xv = ((valid.x.float() / 255) - valid.mean) / valid.std
    seed_everything(cfg.seed)
    model = build_model(cfg.arch, len(bundle.vocab), bundle.channels, bundle.size, False).model
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), eps=1e-5,
                            weight_decay=cfg.wd)
    steps = cfg.epochs * (len(x) // cfg.bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps,
                                                pct_start=0.25, div_factor=25)
    loss_fn = nn.CrossEntropyLoss()
    t = time.perf_counter()
    for _ in range(cfg.epochs):
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
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "accuracy": acc, "n_train": len(x)}


def bench_arch(arch: str, epochs: int, skip_fastai: bool = False) -> dict:
    """All three ways on one architecture; figures per way plus the ratios."""
    cfg = TrainConfig(arch=arch, epochs=epochs)
    out: dict = {"arch": arch, "epochs": epochs}
    ways = {"engine": run_engine, "plain_loop": run_plain_loop}
    if not skip_fastai:
        ways["fastai_default"] = run_fastai_default
    for name, fn in ways.items():
        r = fn(cfg)
        out[name] = {
            "seconds_per_epoch": round(r["seconds"] / epochs, 3),
            "images_per_second": round(r["n_train"] * epochs / r["seconds"], 1),
            "accuracy": round(r["accuracy"], 4),
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
    print(f"Digits, {epochs} epoch(s) each, {torch.get_num_threads()} threads", flush=True)
    print(f"{'arch':<11} {'way':<15} {'s/epoch':>8} {'img/s':>9} {'accuracy':>9}", flush=True)
    for arch in archs:
        r = bench_arch(arch, epochs, skip_fastai)
        for way in ("engine", "fastai_default", "plain_loop"):
            if way in r:
                w = r[way]
                print(f"{arch:<11} {way:<15} {w['seconds_per_epoch']:>8.3f} "
                      f"{w['images_per_second']:>9.1f} {w['accuracy']:>9.4f}", flush=True)
        ratios = f"engine/plain = {r['engine_vs_plain']:.2f}×"
        if "engine_vs_fastai" in r:
            ratios += (f", engine/fastai-default = {r['engine_vs_fastai']:.3f}×, "
                       f"fastai-default/plain = {r['fastai_vs_plain']:.1f}×")
        print(f"{arch:<11} {ratios}", flush=True)
        results.append(r)
    print(json.dumps({"bench": results}), flush=True)
    return 0
