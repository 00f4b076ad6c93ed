"""`python -m core …` on a shared class server acts in the space of the account that runs it;
an administrator may act as anyone with --as, nobody else may; alone on a laptop nothing changes.

The account name is faked by replacing core.cli.os_account, the one function that reads it.
"""

from __future__ import annotations

import json
import os
import pwd
import sqlite3

import pytest

from core import cli, people

TRAIN = ["train", "--dataset", "digits", "--arch", "mnist_cnn", "--epochs", "1", "--bs", "64", "--seed", "0"]


@pytest.fixture
def classroom(fresh_workspace, tmp_path, monkeypatch):
    """A shared class in a workspace of its own; the server account 'admin' is its administrator."""
    path = tmp_path / "class.toml"
    path.write_text('shared = true\nteachers = ["teacher@class"]\nadmins = ["admin"]\n', encoding="utf-8")
    monkeypatch.setenv(people.CONFIG_ENV, str(path))
    return fresh_workspace


def run_cli(monkeypatch, capsys, account: str, *argv: str) -> tuple[int, str, str]:
    """`python -m core ARGV` as the server account called account: (exit status, stdout, stderr)."""
    monkeypatch.setattr(cli, "os_account", lambda: account)
    status = cli.main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


def space_of(ws, identity: str):
    """The folder of identity's space in the workspace ws."""
    return ws / "spaces" / people.space_name(identity)


def listed_runs(monkeypatch, capsys, account: str, *extra: str) -> list[int]:
    """The run ids `python -m core runs --json` shows the account."""
    status, out, err = run_cli(monkeypatch, capsys, account, *extra, "runs", "--json")
    assert status == 0, err
    return [r["id"] for r in json.loads(out)]


def trained(status: int, out: str, err: str) -> int:
    """The run id of a `train` that finished; fails the test otherwise."""
    assert status == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["state"] == "DONE"
    return summary["run_id"]


def jobs_in(ws) -> int:
    """How many jobs the workspace's store holds, whoever owns them."""
    if not (ws / "runs.sqlite").exists():
        return 0
    with sqlite3.connect(ws / "runs.sqlite") as con:
        return con.execute("SELECT count(*) FROM jobs").fetchone()[0]


def test_a_run_queued_from_the_command_line_lands_in_the_accounts_own_space(classroom, monkeypatch, capsys):
    run = trained(*run_cli(monkeypatch, capsys, "alice", *TRAIN))
    alice = space_of(classroom, "alice")
    assert (alice / "runs" / str(run) / "model.safetensors").is_file()
    assert (alice / "datasets" / "digits").is_dir()  # the built-in was written where she works
    assert not (classroom / "runs" / str(run)).exists()  # nothing in the laptop's one space
    assert not (classroom / "datasets" / "digits").exists()
    assert listed_runs(monkeypatch, capsys, "alice") == [run]
    assert listed_runs(monkeypatch, capsys, "bob") == []  # another account does not see it


def test_an_administrator_acts_in_another_persons_space_with_as(classroom, monkeypatch, capsys):
    run = trained(*run_cli(monkeypatch, capsys, "admin", "--as", "bob@class", *TRAIN))
    bob = space_of(classroom, "bob@class")
    assert (bob / "runs" / str(run) / "model.safetensors").is_file()
    assert not space_of(classroom, "admin").exists()  # not in the administrator's own space
    assert listed_runs(monkeypatch, capsys, "bob@class") == [run]  # bob sees it as his
    assert listed_runs(monkeypatch, capsys, "admin", "--as", "Bob@Class") == [run]  # same person
    assert listed_runs(monkeypatch, capsys, "admin") == []


def test_as_is_refused_to_anyone_but_an_administrator(classroom, monkeypatch, capsys):
    for argv in (["--as", "bob@class", *TRAIN], ["runs", "--as", "bob@class"]):
        status, out, err = run_cli(monkeypatch, capsys, "alice", *argv)
        assert status != 0
        assert err.startswith("error: ") and err.count("\n") == 1 and "administrator" in err
        assert "Traceback" not in err and out == ""
    assert not space_of(classroom, "bob@class").exists()
    assert jobs_in(classroom) == 0  # nothing was queued for anyone


def test_the_worker_acts_for_no_one_and_takes_no_as(classroom, monkeypatch, capsys):
    status, _, err = run_cli(monkeypatch, capsys, "admin", "worker", "--as", "bob@class", "--once")
    assert status == 2 and err.startswith("error: ") and "worker" in err


def test_alone_on_a_laptop_the_command_line_is_unchanged(fresh_workspace, monkeypatch, capsys):
    monkeypatch.delenv(people.CONFIG_ENV, raising=False)
    run = trained(*run_cli(monkeypatch, capsys, "alice", *TRAIN))
    assert (fresh_workspace / "runs" / str(run) / "model.safetensors").is_file()
    assert (fresh_workspace / "datasets" / "digits").is_dir()
    assert not (fresh_workspace / "spaces").exists()
    assert listed_runs(monkeypatch, capsys, "bob") == [run]  # one space: whoever runs it sees it
    status, _, err = run_cli(monkeypatch, capsys, "admin", "--as", "bob@class", "runs")
    assert status == 2 and err.startswith("error: ") and "shared" in err
    assert people.current() is None  # the command left no person behind


def test_the_account_name_comes_from_the_system_not_the_environment(monkeypatch):
    monkeypatch.setenv("USER", "someone-else")
    monkeypatch.setenv("LOGNAME", "someone-else")
    assert cli.os_account() == pwd.getpwuid(os.geteuid()).pw_name != "someone-else"
