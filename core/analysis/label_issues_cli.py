"""`python -m core label-issues --run RUN`: how many training labels look wrong, and which.

    python -m core label-issues --run 3 [--method self_confidence|normalized_margin] [--k 5]

Uses the run's newest finished out-of-sample (crossval) job, or runs one first (k folds, like
the Results page) when there is none or it used another k. Prints the estimated count, the
flagged files and, for a dataset with planted flips (flipped.json), precision, recall and F1
beside the plain ranking's; ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys

from core.errors import UserError


def add_parser(sub) -> None:
    """Register the `label-issues` subcommand on the CLI's subparsers."""
    from core.analysis.label_issues import METHODS

    p = sub.add_parser("label-issues", help="confident learning: the training labels that look wrong")
    from core.config_args import run_id

    p.add_argument("--run", type=run_id, required=True, help="a finished training run")
    p.add_argument("--method", default="self_confidence", choices=list(METHODS), help="label-quality score")
    p.add_argument("--k", type=int, default=None, help="folds of the out-of-sample job (default: 5)")


def crossval_result(run: int, k: int | None, quiet: bool = False) -> dict:
    """The run's newest finished crossval result with k folds (any k when None); runs one when missing."""
    from core.cli import run_and_follow
    from core.jobs.store import DONE, Store
    from core.train.crossval import DEFAULT_K, MAX_K, load_result

    store = Store()
    job = store.get(run)
    if job is None or job.kind != "train":
        raise UserError(f"There is no training run {run}; `python -m core runs` lists them.")
    if job.state != DONE:
        raise UserError(f"Run {run} is {job.state.lower()}, not finished; label issues need a trained run.")
    if job.params["config"].get("task", "single_label") not in ("single_label", "multi_label"):
        raise UserError("Label issues are for single-label and multi-label runs, not this run's task.")
    if k is not None and not 2 <= k <= MAX_K:
        raise UserError(f"Use between 2 and {MAX_K} folds (5 is usual).")
    cv = store.latest("crossval", source_run=run, states=(DONE,))
    result = load_result(cv.id) if cv is not None else None
    if result is not None and (k is None or result["k"] == k):
        return result
    k = k or DEFAULT_K
    if not quiet:
        print(
            f"Run {run} has no out-of-sample job with {k} folds yet; running one…",
            file=sys.stderr,
            flush=True,
        )
    done = run_and_follow(
        "crossval", {"config": job.params["config"], "k": k, "source_run": run}, quiet=quiet
    )
    if done.state != DONE:
        why = f": {done.error}" if done.error else "."
        raise UserError(f"The out-of-sample job {done.id} did not finish ({done.state.lower()}){why}")
    result = load_result(done.id)
    if result is None:
        raise UserError(f"The out-of-sample job {done.id} wrote no predictions; run it again.")
    return result


def cmd_label_issues(args: argparse.Namespace) -> int:
    """Print the estimated count, the flagged files and, where flips are known, the scores; a JSON line."""
    from core.analysis import label_issues
    from core.data.datasets import flipped_files, resolve

    result = crossval_result(args.run, args.k)
    dataset = result["dataset"]
    issues = label_issues.find(result, dataset, method=args.method)
    print(
        f"About {issues.count} of {issues.n} training labels look wrong "
        f"({result['k']}-fold out-of-sample job {issues.crossval_job}, ranked by {issues.method}).",
        flush=True,
    )
    for note in issues.notes + (["The data changed since the out-of-sample job."] if issues.stale else []):
        print(f"note: {note}", flush=True)
    flagged = issues.ranked(likely_only=True)
    for row in flagged.itertuples():
        print(f"{row.file}\tgiven {row.given}\tsuggested {row.suggested or '(none)'}\t{row.quality:.3f}")
    out = {
        "run_id": args.run,
        "crossval_job": issues.crossval_job,
        "dataset": dataset,
        "task": issues.task,
        "method": issues.method,
        "n": issues.n,
        "count": issues.count,
        "stale": issues.stale,
        "flagged": list(flagged["file"]),
    }
    flips = flipped_files(resolve(dataset))
    if flips:
        scores = label_issues.against_flips(issues, flips)
        for name, s in (("flagged", scores["flagged"]), ("ranking, first K", scores["ranking"])):
            print(f"{name}: precision {s['precision']:.3f}, recall {s['recall']:.3f}, F1 {s['f1']:.3f}")
        oracle = scores["ranking_oracle"]
        print(f"ranking, first {scores['flips']} (the planted count): F1 {oracle['f1']:.3f}", flush=True)
        out["against_flips"] = scores
    print(json.dumps(out), flush=True)
    return 0
