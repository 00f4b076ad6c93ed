"""`python -m core train`'s own flags: early stopping, keep-best, mixed precision and --continue RUN.

core/cli.py adds them to the train parser and asks here which job to follow and with which
config: a new run (the usual flags, plus stopping) or a continuation queued through
core/train/continuing.py (refused with a sentence, nothing queued, when it cannot be).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from core import config_args
from core.config import TrainConfig

DEFAULTS = TrainConfig()


def add_args(t: argparse.ArgumentParser) -> None:
    """Stopping, keep-best, and --continue RUN (which takes --epochs, --lr, --schedule, --unfreeze)."""
    t.add_argument("--early-stop", action="store_true", help="stop when --monitor stops improving")
    t.add_argument("--patience", type=int, default=DEFAULTS.patience, help="epochs to wait (early stopping)")
    t.add_argument(
        "--monitor",
        default=DEFAULTS.monitor,
        help="valid_loss or the task's main metric (accuracy, f1_macro, mean_iou)",
    )
    t.add_argument("--keep-best", action="store_true", help="keep the best epoch's weights, not the last")
    t.add_argument(
        "--continue",
        dest="continue_run",
        type=config_args.run_id,
        metavar="RUN",
        help="train RUN further from its last completed epoch (weights and optimizer state); "
        "--epochs, --lr, --schedule change it, the other settings are RUN's",
    )
    t.add_argument("--unfreeze", action="store_true", help="with --continue: unfreeze a frozen model")
    t.add_argument(
        "--mixed-precision",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="on a CUDA GPU, train in bf16 (fp16 where the GPU lacks bf16); on by default there, "
        "no effect on the CPU",
    )
    # None tells a continuation "keep the parent's"; a new run takes its task's defaults.
    t.set_defaults(epochs=None, lr=None, schedule=None)


def job_and_config(
    args: argparse.Namespace, config_of: Callable[[argparse.Namespace], TrainConfig]
) -> tuple[int | None, TrainConfig]:
    """(the queued continuation's id, its config), or (None, the new run's config from config_of)."""
    if args.continue_run is None:  # flags left out (None) take the defaults of the dataset's task
        from core.train import device

        mixed = args.mixed_precision
        cfg = config_of(args).replace(
            early_stop=args.early_stop,
            patience=args.patience,
            monitor=args.monitor,
            keep_best=args.keep_best,
            mixed_precision=device.cuda_available() if mixed is None else mixed,
        )
        return None, cfg.validate()
    from core.jobs.store import Store
    from core.train import continuing

    store = Store()
    job_id = continuing.submit_continue(
        store,
        args.continue_run,
        epochs=args.epochs,
        lr=args.lr,
        schedule=args.schedule,
        unfreeze=args.unfreeze,
        keep_best=True if args.keep_best else None,
        early_stop=True if args.early_stop else None,
    )
    return job_id, TrainConfig.from_dict(store.get(job_id).params["config"])
