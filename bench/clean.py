"""`python -m bench.clean`: how well the rankings find planted label errors, and what cleaning buys.

On Digits with a share of training labels flipped on purpose (flipped.json lists them), it trains a
model, ranks the training images by that model's own loss and by out-of-sample (k-fold) loss, and
counts the flipped images found in the top N and top 2N of each ranking (N = number flipped). Then,
for each cleaning policy, it applies the top 2N of the out-of-sample ranking through the cleaner
(core.analysis.plans; core.data.changes: journal, moves), retrains with the same settings and
reports the validation accuracy. It works in a temporary workspace: your own datasets are never touched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time


def recall_at(ranked_files: list[str], flipped: set[str], n: int) -> float:
    """Share of the flipped files among the first n of a ranking."""
    return len(flipped & set(ranked_files[:n])) / len(flipped) if flipped else float("nan")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    p = argparse.ArgumentParser(prog="python -m bench.clean", description=__doc__)
    p.add_argument("--dataset", default="digits_flip10", help="a flipped Digits variant")
    p.add_argument("--epochs", type=int, default=5, help="epochs of every training run")
    p.add_argument("--arch", default="mnist_cnn", help="the architecture (see python -m core train -h)")
    p.add_argument("--k", type=int, default=5, help="folds for the out-of-sample ranking")
    p.add_argument("--seeds", type=int, default=1, help="repeat with seeds 0…n-1 and report each")
    p.add_argument(
        "--confident",
        type=float,
        default=0.5,
        help="the 'relabel' policy relabels when the prediction is at least this sure",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary workspace afterwards")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    args = p.parse_args(argv)
    os.environ["PLAYGROUND_WORKSPACE"] = tempfile.mkdtemp(prefix="clean-bench-")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"{args.dataset}: {args.arch}, {args.epochs} epochs, {args.k} folds, workspace "
        f"{os.environ['PLAYGROUND_WORKSPACE']}"
    )
    print("Cleaning policies, each applied to the top 2N of the out-of-sample ranking:")
    for name, text in POLICIES.items():
        print(f"  {name}: {text}")
    print(flush=True)
    try:
        for seed in range(args.seeds):
            _one(args, seed)
    finally:
        if not args.keep:
            shutil.rmtree(os.environ["PLAYGROUND_WORKSPACE"], ignore_errors=True)
    return 0


POLICIES = {
    "relabel": "relabel to the out-of-sample prediction when it is sure enough, else keep",
    "delete": "delete every one (the blunt way)",
    "reviewer": "a person who relabels the flipped ones to their true class and keeps the rest",
}


def _marks(policy: str, top, truth: dict[str, str], confident: float) -> dict[str, dict]:
    marks = {}
    for row in top.itertuples():
        if policy == "delete":
            marks[row.file] = {"action": "delete", "to": None}
        elif policy == "reviewer" and row.file in truth:
            marks[row.file] = {"action": "relabel", "to": truth[row.file]}
        elif policy == "relabel" and row.probability >= confident and row.predicted != row.actual:
            marks[row.file] = {"action": "relabel", "to": row.predicted}
    return marks


def _one(args: argparse.Namespace, seed: int) -> None:
    from core import workspace
    from core.analysis import interpret, plans
    from core.config import TrainConfig
    from core.data.datasets import flipped_files, resolve
    from core.jobs.store import Store
    from core.train import crossval
    from core.train.training import train

    info = resolve(args.dataset)
    truth = {f["file"]: f["true"] for f in flipped_files(info)}
    flipped = set(truth)
    n = len(flipped)
    if not n:
        raise SystemExit(f"{args.dataset} has no planted label errors; use digits_flip5, 10 or 20.")
    store = Store()

    def run(dataset: str) -> dict:
        cfg = TrainConfig(dataset=dataset, arch=args.arch, epochs=args.epochs, seed=seed)
        return train(cfg, store, store.submit("train", {"config": cfg.to_dict()}))

    cfg = TrainConfig(dataset=args.dataset, arch=args.arch, epochs=args.epochs, seed=seed)
    t0 = time.perf_counter()
    before = run(args.dataset)
    frame = interpret.interpret(before["run_id"]).frame
    own = interpret.top_losses(frame, split="train")["file"].tolist()
    t1 = time.perf_counter()
    cv_id = store.submit("crossval", {"config": cfg.to_dict(), "k": args.k})
    crossval.crossval(cfg, args.k, store, cv_id)
    oos_ranked = interpret.top_losses(
        crossval.out_of_sample_frame(crossval.load_result(cv_id), frame), split="train"
    )
    oos = oos_ranked["file"].tolist()
    t2 = time.perf_counter()
    print(f"\nseed {seed}: {n} flipped training labels (N) among {len(own)}")
    print("  flipped images found in the top N / top 2N of the ranking")
    for label, ranked in (("by the model's own training loss", own), ("out-of-sample (k-fold)", oos)):
        print(
            f"    {label:34s}: {recall_at(ranked, flipped, n):6.1%} / "
            f"{recall_at(ranked, flipped, 2 * n):6.1%}"
        )
    print("  validation accuracy (the validation labels are clean)")
    print(f"    {args.dataset + ' as given':34s}: {before['accuracy']:6.2%}")
    print(f"    {'Digits without flips':34s}: {run('digits')['accuracy']:6.2%}")
    for policy in POLICIES:
        name = f"{args.dataset}_{policy}_{seed}"
        shutil.copytree(info.path, workspace.subdir("datasets") / name)
        plan = plans.make_plan(name, _marks(policy, oos_ranked.head(2 * n), truth, args.confident))
        plans.apply_plan(plan)
        fixed = sum(1 for a in plan.relabels if truth.get(a.file) == a.to)
        print(
            f"    {'cleaned (' + policy + '), retrained':34s}: {run(name)['accuracy']:6.2%}  "
            f"({len(plan.relabels)} relabels, {fixed} of them to the true class; "
            f"{len(plan.deletes)} deletes)"
        )
    print(
        f"  seconds: train {t1 - t0:.1f}, {args.k}-fold ranking {t2 - t1:.1f}, "
        f"the rest {time.perf_counter() - t2:.1f}",
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
