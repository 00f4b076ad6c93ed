"""A run's settings from command-line flags: the flags train, lr-find and sweep share, the
dataset's task (its layout decides), and --opt NAME=VALUE for the task's own settings."""

from __future__ import annotations

import argparse

from core import safejson
from core.config import SCHEDULES, TrainConfig, config_problems
from core.errors import ConfigError, UserError

DEFAULTS = TrainConfig()


def add(p: argparse.ArgumentParser, training: bool) -> None:
    """The settings of a run. Left out, a setting takes the default of the dataset's task
    (core.tasks.default_config), so `train --dataset shapes_seg` trains a U-Net."""
    from core import tasks

    p.add_argument(
        "--task",
        default=None,
        choices=tasks.names(),
        help="the kind of problem; the dataset decides it, and a different one is refused",
    )
    p.add_argument(
        "--opt",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of the task's own (e.g. label_smoothing=0.1, threshold=0.4); repeat for more",
    )
    p.add_argument("--dataset", default=DEFAULTS.dataset, help="dataset name (see `datasets`)")
    p.add_argument(
        "--arch", default=None, help="architecture (default: the task's, e.g. mnist_cnn, tiny_unet)"
    )
    p.add_argument("--bs", type=int, default=None, help="batch size (default: the task's)")
    p.add_argument("--wd", type=float, default=None, help="weight decay (default: the task's)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")
    p.add_argument("--size", type=int, default=None, help="image side in pixels")
    p.add_argument("--augment", action="store_true", help="augment training batches")
    p.add_argument("--no-pretrained", action="store_true", help="never use pretrained weights")
    if training:
        p.add_argument("--epochs", type=int, default=None, help="passes over the data (default: the task's)")
        p.add_argument("--lr", type=float, default=None, help="(peak) learning rate (default: the task's)")
        p.add_argument(
            "--lr-low", type=float, default=None, help="low end of a discriminative range slice(lr_low, lr)"
        )
        p.add_argument("--schedule", default=None, choices=list(SCHEDULES))
        p.add_argument(
            "--freeze-epochs", type=int, default=None, help="epochs training only the head before unfreezing"
        )


CONFIG_FLAGS = ("arch", "bs", "wd", "seed", "size", "epochs", "lr", "lr_low", "schedule", "freeze_epochs")
NUMBER_FLAGS = ("bs", "wd", "seed", "size", "epochs", "lr", "lr_low", "freeze_epochs")
MAX_RUN_ID = 2**63 - 1  # the job store's ids are SQLite integers


def run_id(text: str) -> int:
    """argparse type of a run id: a whole number from 1 that the job store can hold."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid run id {text[:20]!r}; give a run's number") from None
    if not 1 <= value <= MAX_RUN_ID:
        raise argparse.ArgumentTypeError(f"there is no run {text[:20]}; `python -m core runs` lists them")
    return value


def check_numbers(given: dict) -> None:
    """Refuse a number flag outside its range before the dataset is looked at: a built-in dataset
    is made on its first use, so a mistyped flag then costs nothing and leaves nothing behind."""
    numbers = {k: v for k, v in given.items() if k in NUMBER_FLAGS}
    if "lr_low" in numbers and "lr" not in numbers:
        numbers["lr"] = 9.99  # the highest lr accepted: any lr_low it refuses is refused later too
    found = config_problems(TrainConfig(**numbers)) if numbers else []
    if found:
        raise ConfigError(found[0])


def task_of(dataset: str, asked: str | None = None) -> str:
    """The task of a dataset (its layout decides); a different --task is refused with a sentence."""
    from core.data import datasets

    if dataset not in datasets.available():
        names = ", ".join(datasets.available())
        raise UserError(f"Unknown dataset {dataset!r}. Choose one of: {names}.")
    found = datasets.resolve(dataset).task
    if asked is not None and asked != found:
        raise UserError(
            f"{dataset} is a {found} dataset, so --task {asked} does not fit it: leave --task out "
            f"(the dataset decides) or choose a {asked} dataset."
        )
    return found


def config(args: argparse.Namespace) -> TrainConfig:
    """The run the flags describe: the dataset's task, its defaults, then every flag given."""
    from core import tasks

    given = {k: getattr(args, k) for k in CONFIG_FLAGS if getattr(args, k, None) is not None}
    check_numbers(given)
    task = task_of(args.dataset, args.task)
    if args.augment:
        given["augment"] = True
    if args.no_pretrained:
        given["pretrained"] = False
    options = task_options(task, args.opt)
    return tasks.default_config(task, dataset=args.dataset, options=options, **given).validate()


def task_options(task: str, pairs: list[str]) -> dict:
    """--opt NAME=VALUE pairs as the task's options, each value typed as its field is declared."""
    import dataclasses
    import typing

    from core import tasks

    options = tasks.get(task).Options
    hints = typing.get_type_hints(options)
    names = [f.name for f in dataclasses.fields(options)]
    words = {
        "true": True,
        "yes": True,
        "on": True,
        "1": True,
        "false": False,
        "no": False,
        "off": False,
        "0": False,
    }
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in names:
            choices = ", ".join(names) or "none"
            raise UserError(f"--opt takes NAME=VALUE with NAME one of the {task} settings: {choices}.")
        kind = hints[name]
        try:
            if kind is bool:
                out[name] = words[value.strip().lower()]
            elif kind in (int, float, str):
                out[name] = kind(value)
            else:
                out[name] = safejson.loads(value, f"--opt {name}")
        except (KeyError, ValueError, UserError):
            raise UserError(
                f"--opt {name} needs a {getattr(kind, '__name__', kind)}; got {value!r}."
            ) from None
    return out
