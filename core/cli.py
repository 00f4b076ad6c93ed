"""The command line: train, lr-find, bench, worker and datasets, all through the job store.

On a shared class server (core.people) every command acts in the space of the person who runs
it: the server account's name is their identity. An administrator (an account the class file
lists under admins) may act as anyone with `--as IDENTITY`; the worker acts for no one (it runs
each job in its owner's space).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time

from core import config_args
from core.errors import UserError
from core.train import train_cli

MAX_NUM_IT = 10_000  # lr-find iterations: fastai's default is 100


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line, exit status 2."""

    def error(self, message: str):
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _seconds(text: str) -> float:
    """argparse type of a duration in seconds: a finite number (0 or less: never)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"give a number of seconds, not {text[:20]!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m core", description="fastai playground engine")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("train", help="train a model and print one line per epoch")
    config_args.add(t, training=True)
    train_cli.add_args(t)  # --early-stop, --keep-best, --continue RUN …
    f = sub.add_parser("lr-find", help="run the learning-rate finder")
    config_args.add(f, training=False)
    f.add_argument("--num-it", type=int, default=100, help="iterations (default 100)")
    w = sub.add_parser("worker", help="run queued jobs (the dashboard starts one itself)")
    w.add_argument("--once", action="store_true", help="exit when the queue is empty")
    w.add_argument("--idle-exit", type=_seconds, default=None, help="exit after N idle seconds")
    w.add_argument(
        "--slot", type=int, default=0, help="which of several workers serving one store (default 0)"
    )
    b = sub.add_parser("bench", help="engine vs a plain PyTorch loop (and fastai's default pipeline)")
    b.add_argument("--epochs", type=int, default=4, help="epochs per fit (default 4)")
    b.add_argument("--rounds", type=int, default=5, help="alternating engine/plain rounds (default 5)")
    b.add_argument("--archs", default="simple_cnn,mnist_cnn")
    b.add_argument("--size", type=int, default=None, help="image side in pixels (default: the dataset's)")
    b.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to train (default cpu)")
    b.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the worker's)")
    b.add_argument("--skip-fastai", action="store_true", help="skip the slow fastai baseline")
    sub.add_parser("datasets", help="list the datasets")
    r = sub.add_parser("runs", help="list the training runs, newest first")
    r.add_argument("--json", action="store_true", help="one JSON list instead of a table")
    r.add_argument("--dataset", help="only runs on this dataset")
    r.add_argument("--arch", help="only runs of this architecture")
    r.add_argument("--state", type=str.upper, choices=["QUEUED", "RUNNING", "DONE", "FAILED", "CANCELLED"])
    r.add_argument("--text", help="only runs whose id, name, note, dataset or architecture has this")
    r.add_argument("--deleted", action="store_true", help="list runs in the trash too")
    c = sub.add_parser("compare", help="2-10 runs: the settings that differ, final figures, noise (JSON)")
    c.add_argument("runs", nargs="+", type=config_args.run_id, metavar="RUN", help="run ids")
    from core.jobs import sweep_cli

    sweep_cli.add_parser(sub)  # `sweep`: Optuna picks the settings, the queue runs them
    from core.analysis import label_issues_cli

    label_issues_cli.add_parser(sub)  # `label-issues`: confident learning on the out-of-sample job
    # --as before or after the command: the subcommands' copy only overrides when given
    p.add_argument("--as", dest="as_identity", metavar="IDENTITY", default=None, help=AS_HELP)
    for command in sub.choices.values():
        command.add_argument(
            "--as", dest="as_identity", metavar="IDENTITY", default=argparse.SUPPRESS, help=AS_HELP
        )
    return p


AS_HELP = "on a shared class server, act as this person (administrators only)"


def os_account() -> str:
    """The name of the server account running this command, from the operating system (not from
    $USER, which anyone can set)."""
    import pwd

    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        raise UserError(f"The account running this command (uid {uid}) has no name on this server.") from None


def person_for_command(args: argparse.Namespace):
    """The person a command acts for: None alone on a laptop and for the worker; on a shared
    class server, the account running it, or (an administrator only) the one --as names."""
    from core import people

    asked = getattr(args, "as_identity", None)
    if not people.shared():
        if asked is not None:
            raise UserError(
                "--as acts as a person of a shared class; without a class file that shares the "
                "playground (PLAYGROUND_CLASS, shared = true) there is one space and no one to act as."
            )
        return None
    if args.command == "worker":
        if asked is not None:
            raise UserError(
                "The worker runs every person's jobs, each in its owner's space; --as does not apply."
            )
        return None
    account = os_account()
    if asked is None:
        return people.person_for(account)
    if account not in people.config().admins:
        raise UserError(f"Only an administrator named in the class file may use --as; {account} is not one.")
    return people.person_for(asked)


def run_and_follow(kind: str, params: dict, on_epoch=None, quiet: bool = False, job_id: int | None = None):
    """Queue a job, run it here if no worker is running (else let the worker), follow it.

    on_epoch is called with each new epoch record (a dict). Ctrl-C asks the job to stop.
    job_id: follow that job, already queued, instead of queueing one. Returns the finished Job.
    """
    from core.jobs import worker
    from core.jobs.store import LANE_OF, Store

    store = Store()
    if job_id is None:
        job_id = store.submit(kind, params)
    runners: list[threading.Thread] = []

    def plan(own: Store) -> dict | None:
        job = own.get(job_id)
        if job is None or job.finished_state:
            return None  # e.g. failed as an orphan of the worker that died
        # its own lane only: a command waits for its job, not for a download queued meanwhile
        return {"until_job": job_id, "lanes": (LANE_OF[job.kind],)}

    def run_here_if_no_worker() -> bool:
        runner = worker.start_inline(store, plan)
        if runner is not None:
            runners.append(runner)
        return runner is not None

    if not run_here_if_no_worker() and not quiet:
        pos = store.queue_position(job_id)
        print(
            f"A worker (pid {worker.lock_holder()}) is running; job {job_id} is queued at position {pos}.",
            file=sys.stderr,
            flush=True,
        )
    seen = 0
    last_check = time.monotonic()
    while True:
        try:
            if not runners and time.monotonic() - last_check > 1.0:
                last_check = time.monotonic()
                if run_here_if_no_worker() and not quiet:  # the worker we waited on died
                    print("The worker stopped; running the job here.", file=sys.stderr, flush=True)
            job = store.get(job_id)
            epochs = store.epochs(job_id)
            for _, rec in epochs.iloc[seen:].iterrows():
                if on_epoch:
                    on_epoch(rec.to_dict())
            seen = len(epochs)
            if job.finished_state:
                break
            time.sleep(0.2)
        except KeyboardInterrupt:
            print("Stopping after this batch…", file=sys.stderr, flush=True)
            store.request_cancel(job_id)
    for runner in runners:
        runner.join()
    return store.get(job_id)


EPOCH_FIELDS = {"epoch", "phase", "step", "train_loss", "valid_loss", "seconds"}


def _epoch_printer(metric: str, seen: set[str] | None = None):
    """Prints one epoch record as fastai's table does: epoch, losses, the task's metric, time.

    seen, when given, collects the names of every metric the records carry (for the summary).
    """
    from core.fsutil import format_duration

    def print_epoch(rec: dict) -> None:
        if seen is not None:
            seen.update(k for k, v in rec.items() if k not in EPOCH_FIELDS and isinstance(v, float))
        value = rec.get(metric)
        print(
            f"{int(rec['epoch']):<6d} {rec['train_loss']:<11.6f} {rec['valid_loss']:<11.6f} "
            f"{value if value is not None else float('nan'):<9.6f} {format_duration(rec['seconds'])}",
            flush=True,
        )

    return print_epoch


def cmd_train(args: argparse.Namespace) -> int:
    """`train`: queue a training run, follow it, print its epochs and a JSON summary.

    The dataset decides the task; the column printed is the task's main metric, and the summary
    holds every metric of the task (e.g. accuracy_multi beside f1_macro).
    """
    from core import tasks

    job_id, cfg = train_cli.job_and_config(args, config_args.config)  # a new run, or --continue RUN's
    metric = tasks.get(cfg.task).main_metric
    print(f"{'epoch':<6} {'train_loss':<11} {'valid_loss':<11} {metric:<9} time", flush=True)
    seen: set[str] = set()
    job = run_and_follow(
        "train", {"config": cfg.to_dict()}, on_epoch=_epoch_printer(metric, seen), job_id=job_id
    )
    return _finish(
        job,
        [
            "run_id",
            "task",
            "train_loss",
            "valid_loss",
            metric,
            *sorted(seen - {metric}),
            "seconds",
            "total_seconds",
            "images_per_second",
            "epochs_done",
            "notice",
            "parent",
            "best_epoch",
            "kept",
            "stopped_early_after",
        ],
    )


def cmd_lr_find(args: argparse.Namespace) -> int:
    """`lr-find`: run the learning-rate finder and print its four suggestions."""
    if not 6 <= args.num_it <= MAX_NUM_IT:
        raise UserError(f"lr-find needs from 6 to {MAX_NUM_IT:,} iterations (--num-it).")
    cfg = config_args.config(args)
    t = time.perf_counter()
    job = run_and_follow("lr_find", {"config": cfg.to_dict(), "num_it": args.num_it})
    if job.result:
        job.result["total_seconds"] = round(time.perf_counter() - t, 3)
        sugg = job.result.get("suggestions", {})
        for name, lr in sugg.items():
            print(f"{name:<8} {lr:.2e}" if lr else f"{name:<8} (none)", flush=True)
    return _finish(job, ["run_id", "suggestions", "seconds", "total_seconds", "notice"])


def _finish(job, keys: list[str]) -> int:
    if job.state == "FAILED":
        print(f"error: {job.error}", file=sys.stderr)
        print(json.dumps({"run_id": job.id, "state": job.state, "error": job.error}))
        return 1
    result = job.result or {}
    out = {"run_id": job.id, "state": job.state}
    out.update({k: result.get(k) for k in keys if k in result})
    print(json.dumps(out), flush=True)
    return 0 if job.state == "DONE" else 130


def cmd_worker(args: argparse.Namespace) -> int:
    """`worker`: run queued jobs until stopped (or idle, with --idle-exit); --slot N for the
    N-th of several workers serving one store."""
    from core.jobs import worker

    return worker.main(once=args.once, idle_exit=args.idle_exit, slot=args.slot)


def cmd_bench(args: argparse.Namespace) -> int:
    """`bench`: the engine against a plain loop (and fastai's default pipeline), in alternating rounds."""
    if args.epochs < 1 or args.rounds < 1:
        raise UserError("Benchmark at least 1 epoch and 1 round.")
    if args.threads is not None and args.threads < 1:
        raise UserError("--threads must be at least 1.")
    if args.size is not None and not 8 <= args.size <= 1024:
        raise UserError("--size must be between 8 and 1024 pixels.")
    from core.train import device as devices

    if args.device == "cuda" and not devices.cuda_available():
        raise UserError(
            "--device cuda needs a CUDA GPU, and PyTorch sees none on this machine; "
            "run the bench with --device cpu (the default)."
        )
    from bench import engine as bench

    return bench.main(
        args.epochs,
        [a.strip() for a in args.archs.split(",") if a.strip()],
        skip_fastai=args.skip_fastai,
        rounds=args.rounds,
        device=args.device,
        threads=args.threads or devices.threads(),
        size=args.size,
    )


def cmd_datasets(_args: argparse.Namespace) -> int:
    """`datasets`: list every dataset that can be trained on."""
    from core.data import datasets

    for name in datasets.available():
        print(f"{name:<16} {datasets.BUILTINS.get(name, '(your own)')}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """`sweep`: queue a sweep, follow it, end with a JSON line naming the best run."""
    from core.jobs import sweep_cli

    return sweep_cli.cmd_sweep(args)


def cmd_label_issues(args: argparse.Namespace) -> int:
    """`label-issues --run RUN`: the training labels that look wrong (core.analysis.label_issues_cli)."""
    from core.analysis import label_issues_cli

    return label_issues_cli.cmd_label_issues(args)


def cmd_runs(args: argparse.Namespace) -> int:
    """`runs`: every training run, as a table or (--json) one JSON list."""
    from core.analysis import history
    from core.jobs.store import Store

    filters = dict(dataset=args.dataset, arch=args.arch, state=args.state, text=args.text)
    frame = history.runs_frame(Store(), **filters, include_deleted=args.deleted)
    print(json.dumps(history.records(frame)) if args.json else history.table_text(frame), flush=True)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """`compare A B …`: one JSON object of what differs between the runs and whether it is noise."""
    from core.analysis import compare
    from core.jobs.store import Store

    print(json.dumps(compare.to_dict(compare.compare(args.runs, store=Store()))), flush=True)
    return 0


COMMANDS = {
    "train": cmd_train,
    "lr-find": cmd_lr_find,
    "worker": cmd_worker,
    "bench": cmd_bench,
    "datasets": cmd_datasets,
    "runs": cmd_runs,
    "compare": cmd_compare,
    "sweep": cmd_sweep,
    "label-issues": cmd_label_issues,
}


def main(argv: list[str] | None = None) -> int:
    """Parse argv and run the command; user errors print one line and exit with status 2 (an
    unusable workspace or file: one line, status 1), never a traceback."""
    from core import people

    args = _parser().parse_args(argv)
    try:
        with people.acting_as(person_for_command(args)):  # their space for every path and job
            return COMMANDS[args.command](args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the workspace (PLAYGROUND_WORKSPACE) or a file named cannot be used
        where = f": {e.filename}" if e.filename else ""
        print(f"error: {e.strerror or e}{where}.", file=sys.stderr)
        return 1
