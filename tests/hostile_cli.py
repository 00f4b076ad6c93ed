"""Hostile training settings (the form's values, TrainConfig) and `python -m core` arguments, for
the corpus of tests/hostile_inputs.py (case names start with `in_form_` and `in_cli_`)."""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path

from tests.hostile import Case
from tests.hostile_inputs import table_meta


def _config(fields: dict):
    from core.config import TrainConfig

    return TrainConfig.from_dict(fields).validate()


def _cli(argv: list[str]) -> int:
    """core.cli.main in-process: a non-zero exit with one line on stderr is a refusal (UserError);
    anything else that is not a clean exit fails the case."""
    from core import cli
    from core.errors import UserError

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli.main(argv)
        except SystemExit as e:
            code = e.code
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    if code in (0, None):
        return 0
    if len(lines) != 1 or not lines[0].startswith("error: "):
        raise AssertionError(f"exit {code} with stderr {err.getvalue()[-2000:]!r}")
    raise UserError(lines[0])


def _form(name, fields, match) -> Case:
    return Case(f"in_form_{name}", _const(fields), _config, match=match, kind="form")


def _const(value):
    return lambda tmp: value


TABULAR = {"task": "tabular_classification", "arch": "tabular_mlp", "dataset": "wine"}
TABULAR_REG = {"task": "tabular_regression", "arch": "tabular_mlp", "dataset": "diabetes"}


def form_cases() -> list[Case]:
    """Training settings as the form (or a stored run) hands them to TrainConfig."""
    return [
        _form("lr_nan", {"lr": math.nan}, "learning rate"),
        _form("lr_infinite", {"lr": math.inf}, "learning rate"),
        _form("lr_negative", {"lr": -0.1}, "learning rate"),
        _form("lr_absurd", {"lr": 1e6}, "learning rate"),
        _form("lr_as_text", {"lr": "0.01"}, "learning rate"),
        _form("lr_5000_digit_int", {"lr": 10**4000}, "learning rate"),
        _form("lr_low_above_lr", {"lr": 1e-3, "lr_low": 1e-2}, "low end"),
        _form("bs_negative", {"bs": -64}, "batch size"),
        _form("bs_huge", {"bs": 10**30}, "batch size"),
        _form("bs_fraction", {"bs": 2.5}, "batch size"),
        _form("bs_as_text", {"bs": "64"}, "batch size"),
        _form("epochs_zero", {"epochs": 0}, "epoch"),
        _form("epochs_billion", {"epochs": 10**9}, "1000 epochs"),
        _form("epochs_nan", {"epochs": math.nan}, "epoch"),
        _form("wd_nan", {"wd": math.nan}, "weight decay"),
        _form("wd_5000_digit_int", {"wd": 10**4000}, "weight decay"),
        _form("valid_pct_none", {"valid_pct": None}, "validation share"),
        _form("seed_huge", {"seed": 2**64}, "seed"),
        _form("size_huge", {"size": 10**9}, "image size"),
        _form("aug_rotate_text", {"aug": {"max_rotate": "ninety"}}, "rotation"),
        _form("aug_zoom_nan", {"aug": {"max_zoom": math.nan}}, "zoom"),
        _form("aug_not_a_table", {"aug": "strong"}, "augmentation"),
        _form("aug_unknown", {"aug": {"max_spin": 3}}, "augmentation setting"),
        _form("unknown_key", {"learning_rate": 0.1}, "unknown training setting"),
        _form("key_not_text", {1: 2}, "unknown training setting"),
        _form("task_unknown", {"task": "../../etc"}, "unknown task"),
        _form("arch_unknown", {"arch": "resnet9000"}, "architecture"),
        _form("options_unknown", {"options": {"bogus": 1}}, "setting"),
        _form("options_text_for_number", {"options": {"label_smoothing": "0.1"}}, "label smoothing"),
        _form("options_not_a_table", {"options": [1, 2]}, "options"),
        _form("patience_bool", {"patience": True}, "patience"),
        _form("table_dropout_400_digits", {**TABULAR, "options": {"ps": 10**400}}, "dropout must be"),
        _form("table_layers_not_text", {**TABULAR, "options": {"layers": [200, 100]}}, "layer"),
        _form("table_huber_nan", {**TABULAR_REG, "options": {"huber_delta": math.nan}}, "huber"),
    ]


def _cli_case(name, argv, match, expect="refused") -> Case:
    return Case(f"in_cli_{name}", _const(argv), _cli, expect, match, "cli")


def _cli_in(workspace: str):
    """_cli with PLAYGROUND_WORKSPACE pointing at workspace (the case runs in its own child)."""

    def act(argv: list[str]) -> int:
        import os

        os.environ["PLAYGROUND_WORKSPACE"] = workspace
        return _cli(argv)

    return act


def _cli_table(name, flags, match) -> Case:
    """`train` on a table dataset placed in the workspace (so no built-in dataset is made)."""

    def make(tmp: Path) -> list[str]:
        table_meta(b"{}")[0](tmp)
        return ["train", "--dataset", "edited", *flags]

    return Case(f"in_cli_{name}", make, _cli, "refused", match, "cli")


def cli_cases() -> list[Case]:
    """`python -m core …` arguments, run in-process through core.cli.main."""
    huge = "9" * 5000
    return [
        _cli_case("no_command", [], "required"),
        _cli_case("unknown_command", ["fly"], "invalid choice"),
        _cli_case("unknown_dataset", ["train", "--dataset", "no_such_data"], "unknown dataset"),
        _cli_case("dataset_with_nul", ["train", "--dataset", "dig\x00its"], "unknown dataset"),
        _cli_case("dataset_climbs_out", ["train", "--dataset", "../../etc"], "unknown dataset"),
        _cli_case("dataset_not_utf8", ["train", "--dataset", "caf\udce9"], "unknown dataset"),
        _cli_case("bs_text", ["train", "--bs", "abc"], "invalid int"),
        _cli_case("bs_5000_digits", ["train", "--bs", huge], "invalid int|batch size"),
        _cli_case("lr_nan", ["train", "--lr", "nan"], "learning rate"),
        _cli_case("lr_infinite", ["train", "--lr", "1e999"], "learning rate"),
        _cli_case("epochs_negative", ["train", "--epochs", "-3"], "epoch"),
        _cli_case("epochs_huge", ["train", "--epochs", "100000000000"], "1000 epochs"),
        _cli_case("size_huge", ["train", "--size", "100000"], "image size"),
        _cli_table("opt_not_a_number", ["--opt", "ps=abc"], "needs a float"),
        _cli_table("opt_unknown", ["--opt", "nosuch=1"], "--opt takes"),
        _cli_table("opt_nan", ["--opt", "ps=nan"], "dropout"),
        _cli_table("opt_huge_int", ["--opt", "embed_p=1" + "0" * 400], "dropout"),
        _cli_table("opt_layers_absurd", ["--opt", "layers=" + ",".join(["100000"] * 50)], "layer"),
        _cli_table("task_does_not_fit", ["--task", "segmentation"], "does not fit"),
        _cli_case("continue_huge_run", ["train", "--continue", huge], "invalid int|no run|run"),
        _cli_case("lr_find_few_iterations", ["lr-find", "--num-it", "3"], "from 6"),
        _cli_case("label_issues_huge_run", ["label-issues", "--run", "1" + "0" * 30], "no run"),
        _cli_case("compare_huge_run", ["compare", "1" + "0" * 30, "2"], "no run"),
        _cli_case("sweep_lr_text", ["sweep", "--lr", "1e-4:abc"], "--lr takes"),
        _cli_case(
            "sweep_budget_huge", ["sweep", "--lr", "1e-4:1e-2", "--budget", huge], "invalid int|budget"
        ),
        _cli_case("sweep_bs_negative", ["sweep", "--bs=-1,64"], "batch size"),
        _cli_case("sweep_bs_looks_like_a_flag", ["sweep", "--bs", "-1,64"], "expected one argument"),
        _cli_case("sweep_lr_infinite", ["sweep", "--lr", "1e-4:1e999"], "finite numbers"),
        _cli_case("sweep_lr_range_too_high", ["sweep", "--lr", "1e-4:50"], "learning rate of 10"),
        _cli_case("sweep_budget_over_limit", ["sweep", "--lr", "1e-4:1e-2", "--budget", "1000"], "budget"),
        _cli_case("lr_find_huge_iterations", ["lr-find", "--num-it", "100000000"], "iterations"),
        _cli_case("lr_low_nan", ["train", "--lr-low", "nan"], "low end"),
        _cli_case("seed_negative", ["sweep", "--seed", "-5", "--lr", "1e-4:1e-2"], "seed"),
        _cli_case("worker_idle_nan", ["worker", "--idle-exit", "nan"], "number of seconds"),
        _cli_case("worker_idle_text", ["worker", "--idle-exit", "soon"], "number of seconds"),
        Case(
            "in_cli_workspace_is_a_file",
            _const(["runs"]),
            _cli_in("/etc/hostname"),
            match="file exists",
            kind="cli",
        ),
        _cli_case("runs_text_with_nul", ["runs", "--text", "a\x00b"], None, "accepted"),
    ]


def cases() -> list[Case]:
    """Every form and CLI case."""
    return form_cases() + cli_cases()
