"""`python -m core sweep`: queue a sweep, run it here when no worker is running, follow it, and
end with one JSON line naming the best run.

    python -m core sweep --lr 1e-4:1e-2 --bs 32,64 --budget 8 [--sampler tpe|random|grid] …

--lr takes a log range LOW:HIGH (or one value, kept fixed); --bs, --wd, --epochs and --arch take
comma-separated choices (one value is fixed for every run). Ctrl-C stops the whole sweep.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time

from core.errors import UserError


def add_parser(sub) -> None:
    """Register the `sweep` subcommand on the CLI's subparsers."""
    from core import tasks
    from core.config import SCHEDULES, TrainConfig
    from core.jobs.sweep_spec import MAX_BUDGET, SAMPLERS

    d = TrainConfig()
    s = sub.add_parser("sweep", help="try many settings (Optuna) and name the best run")
    s.add_argument("--lr", default=None, help="learning-rate log range LOW:HIGH, or one value")
    s.add_argument("--bs", default=None, help="batch sizes, e.g. 32,64")
    s.add_argument("--wd", default=None, help="weight decays, e.g. 0,0.01,0.1")
    s.add_argument("--epochs", default=None, help="epoch counts, e.g. 3,5")
    s.add_argument("--arch", default=None, help="architectures, e.g. mnist_cnn,simple_cnn")
    s.add_argument("--sampler", default="tpe", choices=list(SAMPLERS), help="how settings are chosen")
    s.add_argument("--budget", type=int, default=8, help=f"number of runs (at most {MAX_BUDGET})")
    s.add_argument("--name", default=None, help="what to call the sweep")
    s.add_argument(
        "--task", default=None, choices=tasks.names(), help="the kind of problem; the dataset decides it"
    )
    s.add_argument("--opt", action="append", default=[], metavar="NAME=VALUE", help="a task setting")
    s.add_argument("--dataset", default=d.dataset, help="dataset name (see `datasets`)")
    s.add_argument("--seed", type=int, default=d.seed, help="random seed of every run and of the search")
    s.add_argument("--size", type=int, default=None, help="image side in pixels")
    s.add_argument("--augment", action="store_true", help="augment training batches")
    s.add_argument("--no-pretrained", action="store_true", help="never use pretrained weights")
    s.add_argument("--schedule", default=None, choices=list(SCHEDULES), help="default: the task's")
    s.add_argument("--freeze-epochs", type=int, default=None, help="head-only epochs before unfreezing")


def _numbers(flag: str, text: str | None, kind: type, example: str) -> tuple:
    if text is None:
        return ()
    noun = "whole numbers" if kind is int else "numbers"
    try:
        values = tuple(kind(x) for x in text.split(",") if x.strip())
    except ValueError:  # not a number, or an int of thousands of digits
        raise UserError(
            f"{flag} takes {noun} separated by commas, like {example}; got {text[:40]!r}."
        ) from None
    if not all(math.isfinite(v) for v in values if isinstance(v, float)):
        raise UserError(f"{flag} takes finite {noun}, like {example}; got {text[:40]!r}.")
    return values


def spec_from_args(args: argparse.Namespace):
    """The SweepSpec the arguments describe (not yet validated)."""
    from core import tasks
    from core.config_args import check_numbers, task_of, task_options
    from core.jobs.sweep_spec import MAX_BUDGET
    from core.jobs.sweeps import SweepSpec

    given = {
        k: getattr(args, k) for k in ("size", "schedule", "freeze_epochs") if getattr(args, k) is not None
    }
    lr, one_lr = None, {}
    if args.lr is not None:
        parts = _numbers("--lr", args.lr.replace(":", ","), float, "1e-4:1e-2")
        if len(parts) == 1:
            one_lr = {"lr": parts[0]}
        elif len(parts) == 2 and ":" in args.lr:
            lr = parts
        else:
            raise UserError(f"--lr takes a range LOW:HIGH like 1e-4:1e-2, or one value; got {args.lr!r}.")
    choices = {
        "bs": _numbers("--bs", args.bs, int, "32,64"),
        "wd": _numbers("--wd", args.wd, float, "0,0.01,0.1"),
        "epochs": _numbers("--epochs", args.epochs, int, "3,5"),
    }
    # numbers first: the dataset (made on first use when built in) is looked at only for sane ones
    check_numbers({"seed": args.seed, **given, **one_lr})
    for key, values in [*choices.items(), ("lr", lr or ())]:
        for value in values:
            check_numbers({key: value})
    if not 1 <= args.budget <= MAX_BUDGET:
        raise UserError(f"A sweep's budget is from 1 to {MAX_BUDGET} runs; got {args.budget}.")
    task = task_of(args.dataset, args.task)  # the dataset decides; a different --task is refused
    if args.augment:
        given["augment"] = True
    if args.no_pretrained:
        given["pretrained"] = False
    base = tasks.default_config(
        task, options=task_options(task, args.opt), dataset=args.dataset, seed=args.seed, **given, **one_lr
    )
    return SweepSpec(
        base,
        lr=lr,
        **choices,
        archs=tuple(a.strip() for a in (args.arch or "").split(",") if a.strip()),
        sampler=args.sampler,
        budget=args.budget,
        seed=args.seed,
    )


def _line(job, varied: list[str], metric: str) -> str:
    cfg, result = job.params["config"], job.result or {}
    settings = " ".join(f"{k}={cfg[k]:.3g}" if k in ("lr", "wd") else f"{k}={cfg[k]}" for k in varied)
    value = result.get(metric)
    shown = f"{metric} {value:.4f}" if isinstance(value, float) else (job.error or "")
    return f"run {job.id:<5} {job.state:<9} {settings}  {shown}".rstrip()


def follow(store, sweep_id: int, quiet: bool = False):
    """Run the sweep here when no worker is running (else let the worker), print each member as
    it ends; Ctrl-C stops the sweep. Returns its final SweepStatus."""
    from core.jobs import sweeps, worker

    runners: list[threading.Thread] = []

    def run_here_if_no_worker() -> bool:
        runner = worker.start_inline(
            store, lambda own: {"until": lambda: sweeps.finished(own, sweep_id), "lanes": ("compute",)}
        )
        if runner is not None:
            runners.append(runner)
        return runner is not None

    if not run_here_if_no_worker() and not quiet:
        print(f"A worker (pid {worker.lock_holder()}) is running; it runs the sweep.", file=sys.stderr)
    shown: set[int] = set()
    last_check = time.monotonic()
    while True:
        try:
            if not runners and time.monotonic() - last_check > 1.0:
                last_check = time.monotonic()
                if run_here_if_no_worker() and not quiet:
                    print("The worker stopped; running the sweep here.", file=sys.stderr, flush=True)
            if not runners:
                sweeps.tick(store)  # the worker ticks too; one older than sweeps would not
            st = sweeps.status(store, sweep_id)
            for m in st.members:
                if m.finished_state and m.id not in shown:
                    shown.add(m.id)
                    if not quiet:
                        print(_line(m, st.spec.varied(), st.metric), flush=True)
            if st.state in ("DONE", "CANCELLED", "FAILED"):
                break
            time.sleep(0.5)
        except KeyboardInterrupt:
            print("Stopping the sweep after this batch…", file=sys.stderr, flush=True)
            sweeps.cancel(store, sweep_id)
    for runner in runners:
        runner.join()
    return sweeps.status(store, sweep_id)


def cmd_sweep(args: argparse.Namespace) -> int:
    """`sweep`: validate, estimate, queue, follow; the last line is JSON naming the best run."""
    from core.fsutil import format_duration
    from core.jobs import sweeps
    from core.jobs.store import Store

    spec = spec_from_args(args)
    found = sweeps.problems(spec)
    if found:
        raise UserError(found[0])
    store = Store()
    estimate = sweeps.estimate_seconds(store, spec)
    t = time.perf_counter()
    sweep_id = sweeps.create(store, spec, name=args.name)
    print(
        f"sweep {sweep_id}: {spec.budget} runs ({spec.sampler}) over {', '.join(spec.varied())}; "
        f"about {format_duration(estimate)}",
        flush=True,
    )
    st = follow(store, sweep_id)
    best = store.get(st.best_run) if st.best_run else None
    out = {
        "sweep_id": sweep_id,
        "state": st.state,
        "best_run": st.best_run,
        st.metric: (best.result or {}).get(st.metric) if best else None,
        "best": {k: best.params["config"][k] for k in st.spec.varied()} if best else None,
        "runs": len(st.members),
        "done": sum(m.state == "DONE" for m in st.members),
        "seconds": round(time.perf_counter() - t, 3),
    }
    if st.error:
        out["error"] = st.error
        print(f"error: {st.error}", file=sys.stderr)
    print(json.dumps(out), flush=True)
    return {"DONE": 0, "CANCELLED": 130}.get(st.state, 1)
