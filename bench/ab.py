"""`python -m bench.ab OLD NEW`: the engine bench of two checkouts, alternately, several rounds.

Each round runs `python -m core bench --skip-fastai` in OLD then in NEW (the order flips every
round, so a machine that slows down over time hurts neither side more) and reads its ratios of
the engine to a plain PyTorch loop. Ratios measured in the same process shrug off a shared,
noisy machine better than seconds. The medians over rounds are compared at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def run_bench(checkout: Path, epochs: int, archs: str, python: str) -> dict[str, float]:
    """engine/plain ratio per architecture from one bench run in checkout (its own workspace)."""
    with tempfile.TemporaryDirectory() as ws:
        env = {**os.environ, "PLAYGROUND_WORKSPACE": ws, "PYTHONPATH": str(checkout)}
        done = subprocess.run(
            [python, "-m", "core", "bench", "--skip-fastai", "--epochs", str(epochs), "--archs", archs],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    rows = figures["bench"]
    return {r["arch"]: r["engine_vs_plain"] for r in rows}


def main(argv: list[str] | None = None) -> int:
    """Alternate the two checkouts, print each round and the medians; the new/old ratio last."""
    p = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    p.add_argument("old", type=Path)
    p.add_argument("new", type=Path)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--archs", default="simple_cnn,mnist_cnn")
    p.add_argument("--python", default=sys.executable)
    args = p.parse_args(argv)
    ratios: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
    for i in range(args.rounds):
        order = [("old", args.old), ("new", args.new)]
        for side, folder in order if i % 2 == 0 else order[::-1]:
            got = run_bench(folder.resolve(), args.epochs, args.archs, args.python)
            for arch, r in got.items():
                ratios[side].setdefault(arch, []).append(r)
            print(f"round {i + 1} {side}: " + ", ".join(f"{a} {r:.3f}" for a, r in got.items()), flush=True)
    summary = {}
    for arch in ratios["old"]:
        old, new = _median(ratios["old"][arch]), _median(ratios["new"][arch])
        summary[arch] = {"old": round(old, 3), "new": round(new, 3), "new_over_old": round(new / old, 3)}
        print(f"{arch}: engine/plain old {old:.3f}, new {new:.3f}, new/old {new / old:.3f}", flush=True)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
