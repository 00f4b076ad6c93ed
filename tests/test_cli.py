"""`python -m core …` as a person types it: train, lr-find, datasets and bad arguments."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import workspace
from core.jobs.store import DONE, Store
from tests.conftest import subprocess_env

ROOT = Path(__file__).resolve().parents[1]
EPOCH_LINE = re.compile(
    r"^(?P<epoch>\d+)\s+(?P<train>\d+\.\d{6})\s+(?P<valid>\d+\.\d{6})\s+(?P<acc>\d\.\d{6})"
    r"\s+(?P<time>\d{2}:\d{2})$"
)


def core_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m core ARGS` from the project root in the session's workspace."""
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_train_prints_one_line_per_epoch_and_a_json_summary():
    out = core_cli(
        "train",
        "--dataset",
        "digits",
        "--arch",
        "mnist_cnn",
        "--epochs",
        "2",
        "--lr",
        "3e-3",
        "--bs",
        "64",
        "--wd",
        "0.01",
        "--seed",
        "0",
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 4, out.stdout  # header, two epochs, summary: nothing else
    assert lines[0].split() == ["epoch", "train_loss", "valid_loss", "accuracy", "time"]
    rows = [EPOCH_LINE.match(line) for line in lines[1:3]]
    assert all(rows), lines[1:3]
    assert [int(r["epoch"]) for r in rows] == [0, 1]

    summary = json.loads(lines[3])
    assert {"run_id", "valid_loss", "accuracy", "seconds"} <= set(summary)
    assert summary["state"] == DONE
    assert summary["accuracy"] > 0.9
    assert summary["seconds"] > 0
    assert summary["epochs_done"] == 2
    # The summary repeats the last epoch's figures, as printed.
    assert float(rows[1]["acc"]) == pytest.approx(summary["accuracy"], abs=5e-6)
    assert float(rows[1]["valid"]) == pytest.approx(summary["valid_loss"], abs=5e-6)

    store = Store(workspace.db_path())
    try:
        job = store.get(summary["run_id"])
        assert job is not None and job.kind == "train" and job.state == DONE
        assert job.params["config"]["epochs"] == 2 and job.params["config"]["lr"] == 3e-3
        assert job.result["accuracy"] == pytest.approx(summary["accuracy"])
        epochs = store.epochs(job.id)
        assert epochs["epoch"].tolist() == [0, 1]
        assert epochs["accuracy"].tolist()[-1] == pytest.approx(summary["accuracy"])
        assert len(store.batches(job.id)) == epochs["step"].iloc[-1]
    finally:
        store.close()


def test_lr_find_ends_with_four_suggestions():
    out = core_cli("lr-find", "--dataset", "digits", "--arch", "mnist_cnn")
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    suggestions = summary["suggestions"]
    assert set(suggestions) == {"valley", "slide", "minimum", "steep"}
    for name, lr in suggestions.items():
        assert isinstance(lr, float) and 0 < lr < 10, (name, lr)
        assert any(line.split() == [name, f"{lr:.2e}"] for line in lines[:-1]), name
    assert summary["state"] == DONE


BAD_ARGUMENTS = {
    "lr zero": (["--lr", "0"], "learning rate"),
    "lr negative": (["--lr", "-1"], "learning rate"),
    "lr ten": (["--lr", "10"], "learning rate"),
    "lr not a number": (["--lr", "abc"], "abc"),
    "batch size zero": (["--bs", "0"], "batch size"),
    "no epochs": (["--epochs", "0"], "epoch"),
    "unknown dataset": (["--dataset", "nope"], "Unknown dataset 'nope'"),
    "unknown arch": (["--arch", "nope"], "Unknown architecture 'nope'"),
    "unknown task": (["--task", "nope"], "invalid choice: 'nope'"),
    "unknown task option": (["--opt", "dropout=0.5"], "one of the single_label settings: label_smoothing"),
    "option not a number": (["--opt", "label_smoothing=much"], "needs a float"),
    "option out of range": (["--opt", "label_smoothing=1.5"], "Label smoothing must be"),
}


def test_task_options_from_the_command_line_reach_the_config():
    from core.cli import _parser
    from core.config_args import config as _config
    from core.train import train_cli

    args = _parser().parse_args(["train", "--opt", "label_smoothing=0.1", "--epochs", "2"])
    _, cfg = train_cli.job_and_config(args, _config)
    assert (cfg.task, cfg.options.label_smoothing, cfg.epochs) == ("single_label", 0.1, 2)


@pytest.mark.parametrize("args,says", BAD_ARGUMENTS.values(), ids=BAD_ARGUMENTS.keys())
def test_bad_arguments_get_one_line_and_status_2(args, says):
    t = time.monotonic()
    out = core_cli("train", *args, timeout=60)
    took = time.monotonic() - t
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: ")
    assert says.lower() in lines[0].lower()
    assert out.stdout == ""  # not even the table header
    assert took < 5, f"refusing {args} took {took:.1f} s"


def test_bad_arguments_are_refused_without_loading_fastai():
    code = (
        "import contextlib, io, json, sys\n"
        "from core.cli import main\n"
        f"cases = {[a for a, _ in BAD_ARGUMENTS.values()]!r}\n"
        "codes = []\n"
        "for args in cases:\n"
        "    with contextlib.redirect_stderr(io.StringIO()):\n"
        "        try:\n"
        "            codes.append(main(['train', *args]))\n"
        "        except SystemExit as e:\n"
        "            codes.append(e.code)\n"
        "fastai = sorted(m for m in sys.modules if m.split('.')[0] == 'fastai')\n"
        "print(json.dumps({'codes': codes, 'fastai': fastai}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["codes"] == [2] * len(BAD_ARGUMENTS)
    assert report["fastai"] == [], "fastai was imported just to refuse bad arguments"


def test_datasets_lists_digits_and_its_flipped_variants():
    out = core_cli("datasets", timeout=60)
    assert out.returncode == 0, out.stderr
    names = [line.split()[0] for line in out.stdout.strip().splitlines()]
    assert names[:4] == ["digits", "digits_flip5", "digits_flip10", "digits_flip20"]
    text = out.stdout
    assert "1,797" in text
    for pct in (5, 10, 20):
        assert f"{pct}% of the training labels flipped" in text


FAKE_WORKER = """
import os, time
from core.jobs import worker
from core.jobs.store import Store
handle = worker.acquire_lock()
assert handle is not None
store = Store()
job = None
while True:
    job = job or store.claim_next(os.getpid())
    store.heartbeat(job.id if job else None, os.getpid())
    time.sleep(0.2)
"""


def test_train_behind_a_worker_that_gets_killed_does_not_wait_forever(fresh_workspace, tmp_path):
    from core.jobs import worker

    # A stand-in for `python -m core worker`: holds the lock, claims jobs and beats (no fastai).
    fake = subprocess.Popen([sys.executable, "-c", FAKE_WORKER], cwd=ROOT, env=subprocess_env())
    cli = None
    store = Store()
    err = open(tmp_path / "cli.err", "w+")
    try:
        wait_deadline = time.monotonic() + 30
        while not worker.worker_alive():
            assert fake.poll() is None and time.monotonic() < wait_deadline, "no fake worker"
            time.sleep(0.05)
        cli = subprocess.Popen(
            [sys.executable, "-m", "core", "train", "--epochs", "1"],
            cwd=ROOT,
            env=subprocess_env(),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        while not (store.jobs() and store.jobs()[0].state == "RUNNING"):
            assert time.monotonic() < wait_deadline + 30, "the worker never claimed the job"
            time.sleep(0.05)
        job_id = store.jobs()[0].id
        fake.kill()  # SIGKILL: the OS frees the lock, the heartbeat stops
        fake.wait(10)
        assert not worker.worker_alive()
        try:
            rc = cli.wait(timeout=10)  # ten missed heartbeats
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"job {job_id} is still {store.get(job_id).state} 10 s after its worker "
                "died, and the CLI is still waiting on it"
            )
        err.seek(0)
        message = err.read()
        assert rc != 0
        assert "worker" in message and "stopped" in message
        assert store.get(job_id).state == "FAILED"
    finally:
        for proc in (fake, cli):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        err.close()
        store.close()
