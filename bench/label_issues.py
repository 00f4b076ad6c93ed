"""Confident learning: speed on synthetic probabilities, and quality against planted flips.

    python -m bench.label_issues speed                 # flags + joint for 50,000×10, ≤ 1 s
    python -m bench.label_issues quality [--k 5 10] [--seeds 0 1] [--datasets digits_flip10 ...]

quality runs real crossval jobs (default run settings, tasks.default_config) in a temporary
workspace and scores each way of flagging against the dataset's flipped.json: F1 of the flagged
set, beside the first N of the loss ranking with N known. "label_issues default" is what
core.analysis.label_issues flags (rule calibrated_count: cleanlab's calibrated count,
num_label_issues "off_diagonal_calibrated", of the self-confidence ranking); the filter_by rows
are cleanlab.filter.find_label_issues with that filter (prune_by_noise_rate is cleanlab's default).
"avg" rows average the out-of-sample probabilities of the seeds' cross-validations (repeated
k-fold). Each ends with a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

FILTERS = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_self_confidence",
    "low_normalized_margin",
)


def synthetic(n: int = 50_000, c: int = 10, noise: float = 0.1, seed: int = 0):
    """Labels and softmax probabilities with about `noise` of the labels flipped."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, c, n)
    logits = rng.normal(0, 1, (n, c))
    logits[np.arange(n), true] += 3.0
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    given = true.copy()
    flip = rng.random(n) < noise
    given[flip] = (true[flip] + rng.integers(1, c, flip.sum())) % c
    return given, probs


def speed(n: int = 50_000, c: int = 10, repeat: int = 5) -> dict:
    """Seconds for flags + quality + joint (label_issues.single_label) on n×c probabilities."""
    from core.analysis import label_issues

    given, probs = synthetic(n, c)
    label_issues.single_label(given, probs)  # imports and first-call costs out of the timing
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = label_issues.single_label(given, probs)
        times.append(time.perf_counter() - t)
    return {
        "n": n,
        "classes": c,
        "seconds_best": round(min(times), 3),
        "seconds_median": round(float(np.median(times)), 3),
        "flagged": int(out["flagged"].sum()),
    }


def _f1(chosen: np.ndarray, planted: np.ndarray) -> dict:
    hit = int((chosen & planted).sum())
    p = hit / chosen.sum() if chosen.sum() else 0.0
    r = hit / planted.sum() if planted.sum() else 0.0
    return {
        "n": int(chosen.sum()),
        "precision": round(p, 3),
        "recall": round(r, 3),
        "f1": round(2 * p * r / (p + r) if p + r else 0.0, 3),
    }


def score_all(labels: np.ndarray, probs: np.ndarray, planted: np.ndarray) -> dict:
    """F1 against planted flips for each filter_by, and the loss ranking at N known."""
    from cleanlab import filter

    from core.analysis.label_issues import PINNED

    out = {}
    for how in FILTERS:
        mask = filter.find_label_issues(labels, probs, **{**PINNED, "filter_by": how})
        out[how] = _f1(np.asarray(mask, bool), planted)
    from cleanlab import count, rank

    calibrated = count.num_label_issues(labels, probs, estimation_method="off_diagonal_calibrated")
    for how in ("self_confidence", "normalized_margin"):
        quality = rank.get_label_quality_scores(labels, probs, method=how)
        out[f"calibrated_count+{how}"] = _f1(_first(quality, calibrated), planted)
    from core.analysis import label_issues

    out["label_issues default"] = _f1(label_issues.single_label(labels, probs)["flagged"], planted)
    quality = rank.get_label_quality_scores(labels, probs, method="self_confidence")
    out["ranking_N_known"] = _f1(_first(quality, int(planted.sum())), planted)
    return out


def _first(quality: np.ndarray, n: int) -> np.ndarray:
    """A mask of the n lowest-quality items."""
    mask = np.zeros(len(quality), bool)
    mask[np.argsort(quality, kind="stable")[:n]] = True
    return mask


def _crossval(dataset: str, k: int, seed: int) -> dict:
    from core import tasks
    from core.jobs.store import Store
    from core.train import crossval

    cfg = tasks.default_config("single_label", dataset=dataset).replace(seed=seed)
    store = Store()
    job = store.submit("crossval", {"config": cfg.to_dict(), "k": k, "source_run": 0})
    crossval.crossval(cfg, k, store, job)
    return crossval.load_result(job)


def quality(datasets: list[str], ks: list[int], seeds: list[int]) -> dict:
    """Real crossval jobs; every filter's F1 per (dataset, k, seed) and for the seeds averaged."""
    from core.data.datasets import flipped_files, resolve

    report = {}
    for name in datasets:
        flips = {f["file"] for f in flipped_files(resolve(name))}
        for k in ks:
            runs = []
            for seed in seeds:
                t = time.perf_counter()
                res = _crossval(name, k, seed)
                vocab = res["vocab"]
                labels = np.array([vocab.index(g) for g in res["labels"]])
                probs = np.asarray(res["probs"], dtype=np.float64)
                planted = np.array([f in flips for f in res["files"]])
                runs.append((res["files"], probs))
                if os.environ.get("LI_SAVE"):
                    np.savez(
                        f"{os.environ['LI_SAVE']}/{name}_k{k}_s{seed}.npz",
                        labels=labels,
                        probs=probs,
                        planted=planted,
                    )
                row = score_all(labels, probs, planted)
                row["seconds"] = round(time.perf_counter() - t, 1)
                report[f"{name} k={k} seed={seed}"] = row
                _print(f"{name} k={k} seed={seed}", row)
            if len(runs) > 1:  # the same files in every run (the same training split)
                avg = np.mean([p for _, p in runs], axis=0)
                row = score_all(labels, avg, planted)
                report[f"{name} k={k} avg{len(runs)}"] = row
                _print(f"{name} k={k} avg of {len(runs)} seeds", row)
    return report


def _print(title: str, row: dict) -> None:
    print(title, flush=True)
    for how, s in row.items():
        if isinstance(s, dict):
            print(
                f"  {how:<24} n={s['n']:<4} P={s['precision']:.3f} R={s['recall']:.3f} F1={s['f1']:.3f}",
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    """Parse argv, run the chosen benchmark, print a JSON line."""
    p = argparse.ArgumentParser(prog="python -m bench.label_issues")
    p.add_argument("what", choices=["speed", "quality"])
    p.add_argument("--datasets", nargs="+", default=["digits_flip10", "digits_flip20"])
    p.add_argument("--k", nargs="+", type=int, default=[5])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    args = p.parse_args(argv)
    if args.what == "speed":
        out = speed()
        print(json.dumps(out), flush=True)
        return 0 if out["seconds_median"] <= 1.0 else 1
    os.environ.setdefault("PLAYGROUND_WORKSPACE", tempfile.mkdtemp(prefix="li_bench_"))
    print(json.dumps(quality(args.datasets, args.k, args.seeds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
