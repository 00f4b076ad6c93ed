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


def test_a_stamp_changes_when_a_file_is_rewritten_and_leaves_out_missing_ones(tmp_path):
    import os

    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("1")
    first = fsutil.stamp([a, b])
    assert [s[0] for s in first] == ["a.csv"]  # b is missing: left out, not an error
    a.write_text("12")
    os.utime(a, ns=(first[0][1] + 10**9, first[0][1] + 10**9))
    b.write_text("x")
    assert [s[0] for s in fsutil.stamp([a, b])] == ["a.csv", "b.csv"]
    assert fsutil.stamp([a])[0][1:] != first[0][1:]


def test_a_files_digest_changes_with_a_file_its_tag_or_its_name(tmp_path):
    import os

    for name in ("x.png", "y.png"):
        (tmp_path / name).write_bytes(b"abc")
    base = fsutil.files_digest(tmp_path, ["x.png", "y.png"], "v1")
    assert base == fsutil.files_digest(tmp_path, ["x.png", "y.png"], "v1")  # a key: stable
    assert base != fsutil.files_digest(tmp_path, ["x.png", "y.png"], "v2")
    assert base != fsutil.files_digest(tmp_path, ["x.png", "y.png"], "v1", tags=[1, 0])
    st = (tmp_path / "y.png").stat()
    os.utime(tmp_path / "y.png", ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert base != fsutil.files_digest(tmp_path, ["x.png", "y.png"], "v1")
    with pytest.raises(OSError):
        fsutil.files_digest(tmp_path, ["gone.png"], "v1")


def test_a_zips_end_record_finds_its_directory_where_zipfile_does(tmp_path):
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(3):
            zf.writestr(f"m/{i}.txt", b"data" * i)
        zf.comment = b"a comment after the end record"
    for data in (buf.getvalue(), b"#!/bin/sh prepended, as in a self-extracting zip\n" + buf.getvalue()):
        end = fsutil.zip_end(io.BytesIO(data))
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            assert end == (3, end.size, zf.start_dir) and end.size > 0
    assert fsutil.zip_end(io.BytesIO(b"not a zip at all")) is None
