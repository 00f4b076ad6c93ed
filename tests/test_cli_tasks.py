"""`python -m core` for the multi-label and segmentation datasets: the dataset decides the task,
the task's defaults fill what is left out, a contradicting --task is refused, and the printed
metric column is the task's."""

from __future__ import annotations

import json

import pytest

from core import tasks
from core.cli import _parser, main
from core.config_args import config as _config
from core.jobs.store import DONE, Store
from core.train import train_cli
from tests.test_cli import EPOCH_LINE, core_cli


def config_of(*argv: str):
    args = _parser().parse_args(["train", *argv])
    return train_cli.job_and_config(args, _config)[1]


def test_the_dataset_decides_the_task_and_its_defaults_fill_the_rest():
    seg = config_of("--dataset", "shapes_seg")
    fresh = tasks.default_config("segmentation", dataset="shapes_seg")
    assert (seg.task, seg.arch) == ("segmentation", "tiny_unet")
    assert (seg.epochs, seg.lr, seg.bs) == (fresh.epochs, fresh.lr, fresh.bs)
    multi = config_of("--dataset", "shapes_multi", "--epochs", "2", "--opt", "threshold=0.3")
    assert (multi.task, multi.arch, multi.epochs) == ("multi_label", tasks.get("multi_label").default_arch, 2)
    assert multi.options.threshold == 0.3
    assert config_of("--dataset", "shapes_seg", "--task", "segmentation").task == "segmentation"
    digits = config_of("--dataset", "digits")  # single-label runs are as before
    assert digits.to_dict() == config_of("--dataset", "digits", "--task", "single_label").to_dict()
    assert (digits.task, digits.arch, digits.epochs) == ("single_label", "mnist_cnn", 5)


REFUSED = {
    "contradicting task": (
        ["--dataset", "shapes_seg", "--task", "multi_label"],
        "shapes_seg is a segmentation dataset, so --task multi_label does not fit it",
    ),
    "arch of another task": (["--dataset", "shapes_seg", "--arch", "resnet18"], "choose one of: tiny_unet"),
    "u-net for labels": (["--dataset", "shapes_multi", "--arch", "tiny_unet"], "not an architecture for"),
    "option of another task": (
        ["--dataset", "shapes_seg", "--opt", "threshold=0.3"],
        "segmentation settings",
    ),
    "threshold out of range": (["--dataset", "shapes_multi", "--opt", "threshold=1"], "threshold must be"),
    "monitor of another task": (
        ["--dataset", "shapes_multi", "--keep-best", "--monitor", "accuracy"],
        "f1_macro",
    ),
}


@pytest.mark.parametrize("argv,says", REFUSED.values(), ids=REFUSED.keys())
def test_settings_that_do_not_fit_the_dataset_are_refused_in_a_sentence(argv, says, capsys):
    before = Store().latest("train")
    assert main(["train", *argv]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith("error: ") and len(out.err.strip().splitlines()) == 1
    assert says.lower() in out.err.lower(), out.err
    after = Store().latest("train")
    assert (after.id if after else None) == (before.id if before else None)  # nothing queued


def test_lr_find_and_sweep_also_take_the_task_from_the_dataset(capsys):
    from core.jobs import sweep_cli

    args = _parser().parse_args(["lr-find", "--dataset", "shapes_seg"])
    assert (_config(args).task, _config(args).arch) == ("segmentation", "tiny_unet")
    spec = sweep_cli.spec_from_args(
        _parser().parse_args(["sweep", "--dataset", "shapes_multi", "--budget", "2"])
    )
    assert spec.base.task == "multi_label" and spec.base.arch == tasks.get("multi_label").default_arch
    assert main(["sweep", "--dataset", "shapes_multi", "--task", "segmentation"]) == 2
    assert "shapes_multi is a multi_label dataset" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("dataset", "extra", "metric", "others"),
    [
        ("shapes_seg", ["--size", "32"], "mean_iou", {"pixel_accuracy", "dice"}),
        ("shapes_multi", ["--opt", "threshold=0.4"], "f1_macro", {"accuracy_multi"}),
    ],
)
def test_train_prints_the_tasks_metric_column(dataset, extra, metric, others):
    out = core_cli("train", "--dataset", dataset, "--epochs", "1", *extra)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 3, out.stdout  # header, one epoch, summary
    assert lines[0].split() == ["epoch", "train_loss", "valid_loss", metric, "time"]
    row = EPOCH_LINE.match(lines[1])
    assert row, lines[1]
    summary = json.loads(lines[2])
    assert summary["state"] == DONE and summary["task"] == tasks.for_dataset(dataset).name
    assert float(row["acc"]) == pytest.approx(summary[metric], abs=5e-6)
    assert others <= set(summary)
    job = Store().get(summary["run_id"])
    assert job.params["config"]["arch"] == tasks.for_dataset(dataset).default_arch
    assert job.task == tasks.for_dataset(dataset).name
