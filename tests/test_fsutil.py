"""The plumbing written once: durations, sizes, hashes, atomic writes, locks and safe CSV."""

from __future__ import annotations

import csv
import hashlib
import io

import pandas as pd
import pytest

from core import fsutil, workspace


@pytest.mark.parametrize(
    "seconds, shown",
    [(0, "00:00"), (59.6, "00:59"), (60, "01:00"), (61.9, "01:01"), (3599, "59:59"), (3600, "1:00:00")],
)
def test_durations_truncate_as_fastai_does(seconds, shown):
    from fastprogress.core import format_time

    assert fsutil.format_duration(seconds) == shown
    assert fsutil.format_duration(seconds) == format_time(seconds)  # fastai's own epoch table


def test_the_cli_prints_epoch_times_with_the_shared_formatter(capsys):
    from core.cli import _epoch_printer

    _epoch_printer("accuracy")(
        {"epoch": 0, "train_loss": 1, "valid_loss": 2, "accuracy": 0.5, "seconds": 59.6}
    )
    assert capsys.readouterr().out.split()[-1] == "00:59"


def test_sizes_read_like_a_person_writes_them():
    assert fsutil.human_size(3 * 2**20 + 2**19) == "3.5 MB"
    assert fsutil.human_size(2**30 * 1.25) == "1.2 GB"
    assert fsutil.human_size(2048) == "2 KB"


def test_file_hash_matches_hashlib_on_a_file_larger_than_one_chunk(tmp_path):
    data = bytes(range(256)) * (fsutil.CHUNK // 128)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert fsutil.sha256_file(path) == hashlib.sha256(data).hexdigest() == fsutil.sha256_bytes(data)


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "run.json"
    fsutil.atomic_write(target, "old")

    class Boom(str):
        def encode(self, *a, **k):
            raise OSError("disk full")

    with pytest.raises(OSError):
        fsutil.atomic_write(target, Boom("new"))
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]
    fsutil.atomic_write(target, b"new")
    assert target.read_bytes() == b"new"


def test_a_held_lock_makes_the_second_taker_wait_then_give_up(tmp_path):
    path = tmp_path / "locks" / "x.lock"
    with fsutil.file_lock(path):
        assert fsutil.try_lock(path, wait=0.1) is None
        with pytest.raises(fsutil.Busy):
            with fsutil.file_lock(path, wait=0.05):
                pass
    handle = fsutil.try_lock(path)
    assert handle is not None
    handle.close()


def test_space_locks_refuse_path_like_names_and_say_busy(fresh_workspace):
    space = workspace.space()
    with pytest.raises(workspace.PathEscapeError):
        with space.lock("../escape"):
            pass
    with space.lock("dataset-digits"):
        with pytest.raises(workspace.Busy, match="cleaning in progress"):
            with space.lock("dataset-digits", wait=0.05, busy_message="cleaning in progress"):
                pass
    assert (fresh_workspace / "locks" / "dataset-digits.lock").is_file()


def test_every_path_of_a_named_space_stays_inside_it(fresh_workspace):
    alice = workspace.space("alice")
    assert alice.subdir("datasets") == fresh_workspace / "spaces" / "alice" / "datasets"
    with pytest.raises(workspace.PathEscapeError):
        alice.path("..", "..", "etc")
    with pytest.raises(workspace.PathEscapeError):
        _ = workspace.space("../bob").root
    assert workspace.space().root == fresh_workspace


def test_downloaded_csv_cells_that_look_like_formulas_are_neutralised():
    frame = pd.DataFrame(
        {"file": ["a.png", "b.png", "c.png"], "label": ["=SUM(1)", "-rf", "cat"], "p": [-0.5, 0.2, 1.0]}
    )
    rows = list(csv.reader(io.StringIO(fsutil.frame_csv_bytes(frame).decode("utf-8"))))
    assert rows[0] == ["file", "label", "p"]
    assert [r[1] for r in rows[1:]] == ["'=SUM(1)", "'-rf", "cat"]
    assert rows[1][2] == "-0.5"  # numbers are numbers, not formulas
    assert fsutil.neutralise_cell("@cmd") == "'@cmd" and fsutil.neutralise_cell("\tx") == "'\tx"
