"""Out-of-sample ranking: k-fold cross-validated predictions for every training image, as a job.

A model ranks the images it trained on by a loss it has driven down, label errors included: it
memorised them. Here each training image is predicted by a model trained on the other k-1 folds,
one that never saw it, so a wrong label shows up as a large loss.

Multi-label runs (task "multi_label") are cross-validated the same way: folds from
multilabel_folds, sigmoid probabilities per label, and the written result carries "task" and
"threshold"; core.analysis.multilabel.out_of_sample turns it into the Results ranking.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from core import fsutil, workspace
from core.analysis.interpret import frame_from_probs
from core.config import TrainConfig
from core.errors import UserError

DEFAULT_K = 5
MAX_K = 20


def result_path(job_id: int) -> Path:
    """Where a crossval job writes its predictions."""
    return workspace.subdir("crossval") / f"{int(job_id)}.json"


def stratified_folds(labels: list[int] | np.ndarray, k: int, seed: int) -> np.ndarray:
    """A fold number (0…k-1) for each item: every class dealt evenly over the folds, shuffled."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    folds = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        folds[idx] = (np.arange(len(idx)) + offset) % k
        offset += len(idx)  # so small classes do not all start in fold 0
    return folds


def multilabel_folds(targets: np.ndarray, k: int, seed: int) -> np.ndarray:
    """A fold number (0…k-1) for each row of N×C multi-hot targets, every label spread over the folds.

    Greedy, rarest label first (a light iterative stratification): each image not yet dealt that
    has the label goes to the fold holding the fewest images with it (then the fewest images),
    so a label on at least two images is in the training folds of every fold. Images without
    a label fill the smallest folds. Shuffled from seed, so it repeats.
    """
    t = np.asarray(targets, dtype=bool)
    n = len(t)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    folds = np.full(n, -1, dtype=np.int64)
    sizes = np.zeros(k, dtype=np.int64)
    tie = rng.random(k)  # a seeded tie-break between equal folds
    for c in np.argsort(t.sum(axis=0), kind="stable"):
        have = np.zeros(k, dtype=np.int64)
        for i in order[t[order, c]]:
            if folds[i] >= 0:
                have[folds[i]] += 1
        for i in order[t[order, c]]:
            if folds[i] < 0:
                f = min(range(k), key=lambda j: (have[j], sizes[j], tie[j]))
                folds[i] = f
                have[f] += 1
                sizes[f] += 1
    for i in order[folds[order] < 0]:
        f = min(range(k), key=lambda j: (sizes[j], tie[j]))
        folds[i] = f
        sizes[f] += 1
    return folds


def _fold_bundle(cfg: TrainConfig, items, arr, labels, train_idx, held_idx, size: int, fold: int):
    import torch

    from core.data.loaders import default_device, make_loaders

    bundle = make_loaders(
        cfg, items, arr, labels, train_idx, held_idx, size, cfg.seed + fold, default_device()
    )
    bundle.notes.append(f"fold {fold + 1}")
    return bundle, torch.tensor(bundle.mean), torch.tensor(bundle.std)


def crossval(cfg: TrainConfig, k: int, store, job_id: int) -> dict:
    """Train k models, each on k-1 folds of the training split, and predict the held-out fold."""
    import torch

    from core.analysis import interpret
    from core.data import access
    from core.data import loaders as data
    from core.train.callbacks import StreamToStore
    from core.train.training import build_learner, fit

    if not 2 <= k <= MAX_K:
        raise UserError(f"Use between 2 and {MAX_K} folds (5 is usual).")
    started, t0 = time.perf_counter(), time.time()
    store.set_progress(job_id, 0.0, "preparing data")
    multi = cfg.task == "multi_label"
    with access.dataset(cfg.dataset) as info:  # recovered; no cleaning half-way through reading
        size = cfg.size or info.default_size
        if multi:
            from core.data import multi_loaders

            items, arr, print_ = multi_loaders.read(cfg, info, size)
        else:
            items = interpret.dataset_items(cfg)
            arr = data.image_tensor(items, size)  # numpy: a memory-mapped cache stays on disk
            print_ = interpret.fingerprint(items)
    if multi:
        labels = multi_loaders.targets(items)
    else:
        labels = torch.tensor([items.vocab.index(lab) for lab in items.labels], dtype=torch.long)
    train_all = np.flatnonzero(~np.asarray(items.is_valid))
    if len(train_all) < 2 * k:
        raise UserError(f"{len(train_all)} training images are too few for {k} folds.")
    if multi:
        folds = multilabel_folds(labels[train_all].numpy(), k, cfg.seed)
    else:
        folds = stratified_folds(labels[train_all].numpy(), k, cfg.seed)
    per_fold = [int((folds != f).sum()) for f in range(k)]
    cfg.validate(n_train=min(per_fold))
    batches = [n // cfg.bs if n > cfg.bs else 1 for n in per_fold]
    total = sum((cfg.freeze_epochs + cfg.epochs) * b for b in batches)
    stream = StreamToStore(store, job_id, total)
    probs = np.zeros((len(train_all), len(items.vocab)), dtype=np.float32)
    fold_scores = []
    for f in range(k):
        store.set_progress(job_id, stream.step / total, f"fold {f + 1} of {k}: training")
        train_idx = torch.from_numpy(train_all[folds != f])
        held_idx = torch.from_numpy(train_all[folds == f])
        bundle, mean, std = _fold_bundle(cfg, items, arr, labels, train_idx, held_idx, size, f)
        learn, _ = build_learner(cfg.replace(seed=cfg.seed + f), bundle)
        fit(learn, cfg, stream)
        if stream.cancelled:
            return {"run_id": job_id, "cancelled": True, "folds_done": f}
        held_probs = interpret.predict_probs(
            learn.model, arr[held_idx], mean.tolist(), std.tolist(), task=cfg.task
        )
        probs[folds == f] = held_probs
        fold_scores.append(_score(held_probs, labels[held_idx].numpy(), cfg))
    files = [items.files[i] for i in train_all]
    given = [list(items.labels[i]) if multi else items.labels[i] for i in train_all]
    out = {
        "job_id": job_id,
        "task": cfg.task,
        "dataset": cfg.dataset,
        "k": k,
        "config": cfg.to_dict(),
        "created": t0,
        "fingerprint": print_,
        "vocab": items.vocab,
        "files": files,
        "labels": given,
        "folds": folds.tolist(),
        "probs": np.round(probs, 6).tolist(),
    }
    if multi:
        out["threshold"] = float(cfg.options.threshold)
    path = fsutil.atomic_write(result_path(job_id), json.dumps(out))
    oos = _score(probs, labels[torch.from_numpy(train_all)].numpy(), cfg)
    name = "f1_macro" if multi else "accuracy"
    return {
        "run_id": job_id,
        "k": k,
        "n": len(files),
        f"fold_{name}": fold_scores,
        f"oos_{name}": oos,
        "path": str(path),
        "fingerprint": print_,
        "seconds": round(time.perf_counter() - started, 3),
        "cancelled": False,
    }


def _score(probs: np.ndarray, labels: np.ndarray, cfg: TrainConfig) -> float:
    """A fold's held-out figure: accuracy (single-label) or macro F1 at the threshold (multi-label)."""
    if cfg.task == "multi_label":
        from core.analysis.multilabel import scores

        return scores(probs, labels > 0.5, float(cfg.options.threshold))["f1_macro"]
    return float((probs.argmax(1) == labels).mean())


def run_crossval_job(job, store) -> dict:
    """The worker's entry point for a "crossval" job: params config, k, and source_run."""
    cfg = TrainConfig.from_dict(job.params["config"]).validate()
    return crossval(cfg, int(job.params.get("k", DEFAULT_K)), store, job.id)


def load_result(job_id: int) -> dict | None:
    """The predictions a finished crossval job wrote (None when there are none)."""
    try:
        return json.loads(result_path(job_id).read_text())
    except (OSError, ValueError, RecursionError):
        return None


def out_of_sample_frame(
    result: dict, model_frame: pd.DataFrame, renamed: dict[str, str] | None = None
) -> pd.DataFrame:
    """Every image judged by a model that never trained on it.

    Training images get their cross-validated predictions, scored against their label as it is
    now (so a relabel since shows); validation images keep the run's own predictions (the run
    never trained on them). renamed maps a file's old name to its new one (relabels applied since
    the cross-validation); images added since are left out.
    """
    renamed = renamed or {}
    now = model_frame.set_index("file")
    probs = np.asarray(result["probs"], dtype=np.float64)
    keep, files = [], []
    for i, old in enumerate(result["files"]):
        f = renamed.get(old, old)
        if f in now.index and now.at[f, "split"] == "train":
            keep.append(i)
            files.append(f)
    labels = [now.at[f, "actual"] for f in files]
    train = frame_from_probs(
        files,
        labels,
        ["train"] * len(files),
        probs[keep] if keep else np.zeros((0, len(result["vocab"]))),
        result["vocab"],
    )
    valid = model_frame[model_frame["split"] == "valid"]
    return pd.concat([train, valid], ignore_index=True) if len(train) else valid.reset_index(drop=True)
