"""`python -m bench.sweep`: a sweep of N runs of the default Digits config against N separate runs.

Each round runs, in a workspace of its own (the dataset cached once beforehand, untimed):
- `python -m core sweep --lr LOW:HIGH --budget N --sampler random` (one process: fastai is
  imported once, Optuna picks each run's lr, the runs go through the queue);
- N separate `python -m core train --lr X` with the very lrs the sweep chose (each process pays
  the fastai import and the worker's warm-up).
It reports the ratio of the summed training seconds (what the runs themselves took; target
≤ 1.15: a sweep must not slow its runs) and of the wall times (target < 1). The order of the
two sides flips every round, so a machine that slows down over time hurts neither more.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_TRAIN_RATIO = 1.15


def _core(ws: str, *args: str) -> tuple[dict, float]:
    """Run `python -m core ARGS` in workspace ws; its last JSON line and its wall seconds."""
    env = {**os.environ, "PLAYGROUND_WORKSPACE": ws, "PYTHONUNBUFFERED": "1"}
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"`python -m core {' '.join(args)}` failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def _sweep(ws: str, runs: int, lr: str, extra: list[str]) -> tuple[list[tuple[float, float]], float]:
    """(lr, training seconds) of each member, and the sweep's wall seconds."""
    summary, wall = _core(ws, "sweep", "--lr", lr, "--budget", str(runs), "--sampler", "random", *extra)
    from core.jobs import sweeps
    from core.jobs.store import Store

    store = Store(Path(ws) / "runs.sqlite")  # workspace.db_path() of that workspace
    members = sweeps.status(store, summary["sweep_id"]).members
    store.close()
    return [(m.params["config"]["lr"], m.result["seconds"]) for m in members], wall


def _separate(ws: str, lrs: list[float], extra: list[str]) -> tuple[list[float], float]:
    """Training seconds of each separate `train` run, and their summed wall seconds."""
    seconds, wall = [], 0.0
    for lr in lrs:
        result, w = _core(ws, "train", "--lr", repr(lr), *extra)
        seconds.append(result["seconds"])
        wall += w
    return seconds, wall


def main(argv: list[str] | None = None) -> int:
    """Alternate the sweep and the separate runs for some rounds; print each and the ratios."""
    p = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__)
    p.add_argument("--runs", type=int, default=8)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--lr", default="1e-3:1e-2", help="the sweep's lr range")
    p.add_argument("--epochs", type=int, default=None, help="default: the default config's")
    args = p.parse_args(argv)
    extra = ["--epochs", str(args.epochs)] if args.epochs else []
    rows = []
    for i in range(args.rounds):
        with tempfile.TemporaryDirectory() as ws_sweep, tempfile.TemporaryDirectory() as ws_sep:
            for ws in (ws_sweep, ws_sep):  # write and cache Digits before anything is timed
                _core(ws, "train", "--epochs", "1")
            if i % 2 == 0:
                members, sweep_wall = _sweep(ws_sweep, args.runs, args.lr, extra)
                seconds, sep_wall = _separate(ws_sep, [lr for lr, _ in members], extra)
            else:  # the separate runs first: they need the lrs, so take them from a fixed draw
                import numpy as np

                low, high = (float(x) for x in args.lr.split(":"))
                lrs = list(np.exp(np.random.default_rng(i).uniform(np.log(low), np.log(high), args.runs)))
                seconds, sep_wall = _separate(ws_sep, [float(x) for x in lrs], extra)
                members, sweep_wall = _sweep(ws_sweep, args.runs, args.lr, extra)
        sweep_s = sum(s for _, s in members)
        row = {
            "round": i + 1,
            "sweep_train_seconds": round(sweep_s, 2),
            "separate_train_seconds": round(sum(seconds), 2),
            "train_seconds_ratio": round(sweep_s / sum(seconds), 3),
            "sweep_wall_seconds": round(sweep_wall, 2),
            "separate_wall_seconds": round(sep_wall, 2),
            "wall_ratio": round(sweep_wall / sep_wall, 3),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    ratio = statistics.median(r["train_seconds_ratio"] for r in rows)
    wall = statistics.median(r["wall_ratio"] for r in rows)
    out = {
        "runs": args.runs,
        "rounds": args.rounds,
        "train_seconds_ratio": round(ratio, 3),  # medians over the rounds
        "wall_ratio": round(wall, 3),
        "target_train_seconds_ratio": TARGET_TRAIN_RATIO,
        "ok": ratio <= TARGET_TRAIN_RATIO and wall < 1,
    }
    print(json.dumps(out), flush=True)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
