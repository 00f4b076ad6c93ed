"""The cleaner's file operations: nothing lost, nothing duplicated, nothing overwritten, undoable."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.analysis import marks, plans
from core.data import access, journal, labels, moves
from core.errors import PathEscapeError, UserError
from tests.access_helpers import held_elsewhere
from tests.conftest import subprocess_env
from tests.results_helpers import contents, folder_bytes

ROOT = Path(__file__).resolve().parents[1]


def write_toy(root: Path, decodable: bool = False) -> Path:
    """train/ and valid/, classes a, b, c, four files each with distinct bytes (8×8 PNGs if decodable)."""
    from PIL import Image

    rng = random.Random(0)
    for split in ("train", "valid"):
        for cls in ("a", "b", "c"):
            for i in range(4):
                path = root / split / cls / f"{cls}{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                if decodable:
                    Image.frombytes("RGB", (8, 8), rng.randbytes(8 * 8 * 3)).save(path)
                else:
                    path.write_bytes(rng.randbytes(64))
    return root


@pytest.fixture
def toy(fresh_workspace) -> Path:
    """datasets/toy (see write_toy): files that are not images, enough for moving files."""
    return write_toy(fresh_workspace / "datasets" / "toy")


def trash(ws: Path) -> Path:
    return ws / "trash" / "toy"


def dirs(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_dir()}


FIVE = {  # three deletes and two relabels, one of them into a class that does not exist yet
    "train/a/a0.png": {"action": "delete", "to": None},
    "train/a/a1.png": {"action": "delete", "to": None},
    "valid/b/b0.png": {"action": "delete", "to": None},
    "train/b/b1.png": {"action": "relabel", "to": "c"},
    "train/c/c2.png": {"action": "relabel", "to": "d"},
    "train/c/c3.png": {"action": "keep", "to": None},
}


def mark_all(chosen: dict) -> None:
    for file, mark in chosen.items():
        marks.set_mark("toy", file, mark["action"], mark["to"])


def test_marks_are_kept_in_the_workspace_keyed_by_file(toy, fresh_workspace):
    mark_all(FIVE)
    assert marks.load_marks("toy") == FIVE
    assert (fresh_workspace / "marks" / "toy" / "marks.json").is_file()
    marks.set_mark("toy", "train/a/a0.png", None)
    marks.set_mark("toy", "train/b/b1.png", "relabel", "a")
    stored = marks.load_marks("toy")
    assert "train/a/a0.png" not in stored and stored["train/b/b1.png"]["to"] == "a"
    marks.clear_marks("toy")
    assert marks.load_marks("toy") == {}


def test_apply_moves_deletes_to_the_trash_and_relabels_to_their_class(toy, fresh_workspace):
    before = folder_bytes(toy)
    mark_all(FIVE)
    plan = plans.make_plan("toy")
    assert plan.summary() == "3 deletes, 2 relabels (1 kept as they are)"
    report = plans.apply_plan(plan)
    after = folder_bytes(toy)
    for gone in ("train/a/a0.png", "train/a/a1.png", "valid/b/b0.png", "train/b/b1.png", "train/c/c2.png"):
        assert gone not in after
    assert after["train/c/b1.png"] == before["train/b/b1.png"]
    assert after["train/d/c2.png"] == before["train/c/c2.png"]
    assert after["train/c/c3.png"] == before["train/c/c3.png"]  # kept
    binned = folder_bytes(trash(fresh_workspace) / report.apply_id)
    assert binned == {f: before[f] for f in ("train/a/a0.png", "train/a/a1.png", "valid/b/b0.png")}
    assert report.summary() == "Moved 3 file(s) to the trash and relabelled 2."
    assert marks.load_marks("toy") == {}  # applied marks are done with
    (entry,) = journal.history("toy")
    assert (entry.state, entry.deletes, entry.relabels) == ("applied", 3, 2)


def test_apply_then_undo_gives_back_a_byte_identical_folder(toy, fresh_workspace):
    before, before_dirs = folder_bytes(toy), dirs(toy)
    mark_all(FIVE)
    plans.apply_plan(plans.make_plan("toy"))
    assert folder_bytes(toy) != before
    report = plans.undo_last("toy")
    assert report.summary().startswith("Undid change 00001: 5 file(s) back")
    assert folder_bytes(toy) == before
    assert dirs(toy) == before_dirs  # the class folder the relabel created is gone again
    assert contents(trash(fresh_workspace)) == {}
    assert marks.load_marks("toy") == FIVE  # the marks come back, ready to apply again
    assert [e.state for e in journal.history("toy")] == ["undone"]
    assert plans.undo_last("toy").apply_id is None  # nothing left to undo
    plans.apply_plan(plans.make_plan("toy"))  # apply again after undo
    assert "train/d/c2.png" in folder_bytes(toy)


def test_applying_the_same_plan_twice_changes_nothing_the_second_time(toy, fresh_workspace):
    mark_all(FIVE)
    plan = plans.make_plan("toy")
    plans.apply_plan(plan)
    once, binned = folder_bytes(toy), folder_bytes(fresh_workspace / "trash")
    again = plans.apply_plan(plan)
    assert again.already_applied and again.moved == []
    assert again.summary() == "This plan is already applied: nothing changed."
    assert folder_bytes(toy) == once
    assert folder_bytes(fresh_workspace / "trash") == binned
    assert len(journal.history("toy")) == 1


def test_relabel_into_a_class_with_a_same_named_file_keeps_both(toy):
    (toy / "train/c/same.png").write_bytes(b"already in c")
    (toy / "train/a/same.png").write_bytes(b"moving from a")
    marks.set_mark("toy", "train/a/same.png", "relabel", "c")
    report = plans.apply_plan(plans.make_plan("toy"))
    assert (toy / "train/c/same.png").read_bytes() == b"already in c"
    assert (toy / "train/c/same-1.png").read_bytes() == b"moving from a"
    assert report.moved[0]["dest"] == "train/c/same-1.png"
    plans.undo_last("toy")
    assert (toy / "train/a/same.png").read_bytes() == b"moving from a"
    assert not (toy / "train/c/same-1.png").exists()


def test_a_file_removed_or_changed_outside_between_plan_and_apply_is_reported(toy):
    mark_all(FIVE)
    plan = plans.make_plan("toy")
    (toy / "train/a/a0.png").unlink()  # another program removed it
    (toy / "train/b/b1.png").write_bytes(b"edited meanwhile")
    report = plans.apply_plan(plan)
    assert {s["file"]: s["reason"] for s in report.skipped} == {
        "train/a/a0.png": "removed since the plan was made",
        "train/b/b1.png": "changed since the plan was made",
    }
    assert [m["file"] for m in report.moved] == ["train/a/a1.png", "train/c/c2.png", "valid/b/b0.png"]
    assert (toy / "train/b/b1.png").read_bytes() == b"edited meanwhile"  # untouched
    # the decisions on the skipped files still stand; the applied ones are cleared
    assert set(marks.load_marks("toy")) == {"train/a/a0.png", "train/b/b1.png"}
    assert "Skipped 2" in report.summary()


@pytest.mark.parametrize("name", ["", "   ", "x\x00y", "tab\there", "new\nline", "x" * 201, None])
def test_a_relabel_target_that_is_not_a_label_is_refused(toy, fresh_workspace, name):
    before = folder_bytes(fresh_workspace)
    with pytest.raises(UserError):
        marks.set_mark("toy", "train/a/a0.png", "relabel", name)
    with pytest.raises(UserError):
        plans.make_plan("toy", {"train/a/a0.png": {"action": "relabel", "to": name}})
    assert folder_bytes(fresh_workspace) == before


@pytest.mark.parametrize(
    "name",
    ["../escape", "..", ".", "/tmp", "a/b", "a\\b", ".hidden", " padded", "valid", "train", "<=50K", "A"],
)
def test_any_text_label_gets_its_own_folder_and_undo_removes_it(toy, name):
    before = folder_bytes(toy)
    marks.set_mark("toy", "train/a/a0.png", "relabel", name)
    marks.set_mark("toy", "valid/b/b0.png", "relabel", name)
    report = plans.apply_plan(plans.make_plan("toy"))
    folder = report.moved[0]["dest"].split("/")[1]
    assert folder.lower() not in ("a", "b", "c")  # never collapsed into another label's folder
    assert (toy / "train" / folder).resolve().parent == toy / "train"  # one folder, inside
    assert [m["dest"] for m in report.moved] == [f"train/{folder}/a0.png", f"valid/{folder}/b0.png"]
    assert folder_bytes(toy)[f"train/{folder}/a0.png"] == before["train/a/a0.png"]
    items = access.items("toy")
    assert items.labels[items.files.index(f"train/{folder}/a0.png")] == name  # the label, as text
    assert labels.load_mapping(toy).get(folder, folder) == name
    plans.undo_last("toy")
    assert folder_bytes(toy) == before  # labels.json too, byte for byte
    assert not (toy / "train" / folder).exists()


def test_a_relabel_to_an_existing_text_label_uses_its_folder(toy):
    (toy / labels.MAPPING_FILE).write_text(labels.mapping_text({"a": "a", "b": "b", "c/d": "c"}))
    marks.set_mark("toy", "train/a/a0.png", "relabel", "c/d")
    report = plans.apply_plan(plans.make_plan("toy"))
    assert report.moved[0]["dest"] == "train/c/a0.png"
    problem = plans.make_plan("toy", {"train/c/c0.png": {"action": "relabel", "to": "c/d"}})
    assert problem.actions == () and "already in class c/d" in problem.problems[0]
    marks.set_mark("toy", "train/b/b0.png", "relabel", "c")  # the text "c" is a new label, not c/d
    dest = plans.apply_plan(plans.make_plan("toy")).moved[0]["dest"]
    assert dest.startswith("train/c-") and dest.endswith("/b0.png")
    assert labels.load_mapping(toy) == {"c": "c/d", dest.split("/")[1]: "c"}


@pytest.mark.parametrize(
    "file",
    [
        "../../runs.sqlite",
        "train/../../outside.png",
        "/etc/passwd",
        "train/a/../../../x.png",
        "a0.png",
        "train//a0.png",
    ],
)
def test_a_file_path_that_would_leave_the_dataset_is_refused(toy, fresh_workspace, file):
    (fresh_workspace / "outside.png").write_bytes(b"not yours")
    with pytest.raises(PathEscapeError):
        plans.make_plan("toy", {file: {"action": "delete", "to": None}})
    with pytest.raises(PathEscapeError):
        marks.set_mark("toy", file, "delete")
    assert (fresh_workspace / "outside.png").read_bytes() == b"not yours"


def test_a_link_to_a_file_outside_is_refused(toy, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"secret")
    (toy / "train/a/link.png").symlink_to(secret)
    with pytest.raises(PathEscapeError):
        plans.make_plan("toy", {"train/a/link.png": {"action": "delete", "to": None}})
    assert secret.read_bytes() == b"secret"


def test_a_failure_on_the_third_move_puts_everything_back(toy, fresh_workspace, monkeypatch):
    before, everything = folder_bytes(toy), contents(toy, fresh_workspace / "trash")
    mark_all(FIVE)
    plan = plans.make_plan("toy")
    real, calls = moves.move_no_clobber, []

    def third_fails(src, dst):
        calls.append(src)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(moves, "move_no_clobber", third_fails)
    with pytest.raises(UserError, match="the 2 file\\(s\\) already moved were put back"):
        plans.apply_plan(plan)
    assert contents(toy, fresh_workspace / "trash") == everything
    assert folder_bytes(toy) == before
    monkeypatch.setattr(moves, "move_no_clobber", real)
    assert access.recover("toy") == []  # nothing left to recover: the state is consistent
    assert folder_bytes(toy) == before
    (entry,) = journal.history("toy")
    assert entry.state == "rolled back" and "No space left" in entry.note
    assert marks.load_marks("toy") == FIVE  # nothing applied, so the marks stay
    plans.apply_plan(plan)  # and the same plan applies cleanly afterwards
    assert "train/d/c2.png" in folder_bytes(toy)


CRASH = textwrap.dedent("""
    import os, sys
    from core.analysis import marks, plans
    from core.data import journal, moves
    real, calls = {target}, []
    def crash(*args, **kwargs):
        calls.append(args)
        if len(calls) == {when}:
            os._exit(9)  # the process dies: no except, no finally, no rollback
        return real(*args, **kwargs)
    {patch}
    for file, mark in {marks!r}.items():
        marks.set_mark("toy", file, mark["action"], mark["to"])
    plans.apply_plan(plans.make_plan("toy"))
    sys.exit(0)
""")


def crash_while_applying(target: str, when: int, patch: str) -> None:
    code = CRASH.format(target=target, when=when, patch=patch, marks=FIVE)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 9, done.stderr[-2000:]


def test_a_crash_on_the_third_move_is_rolled_back_at_the_next_start(toy, fresh_workspace):
    before, everything = folder_bytes(toy), contents(toy, fresh_workspace / "trash")
    crash_while_applying("moves.move_no_clobber", 3, "moves.move_no_clobber = crash")
    assert journal.needs_recovery("toy")
    assert contents(toy, fresh_workspace / "trash") == everything  # nothing lost, nothing doubled
    assert folder_bytes(toy) != before  # two files had moved
    messages = access.recover_all()  # what the dashboard does when it next starts
    assert messages == [
        "Rolled back change 00001, interrupted by a crash: its files are back where they were."
    ]
    assert folder_bytes(toy) == before
    assert contents(toy, fresh_workspace / "trash") == everything
    assert not journal.needs_recovery("toy")
    (entry,) = journal.history("toy")
    assert entry.state == "rolled back" and "interrupted by a crash" in entry.note


def test_a_crash_between_link_and_unlink_is_rolled_back(toy, fresh_workspace):
    before = folder_bytes(toy)
    # the second move's unlink never happens: one file under two names
    crash_while_applying("os.unlink", 2, "os.unlink = crash")
    assert access.recover("toy")
    assert folder_bytes(toy) == before
    assert contents(fresh_workspace / "trash") == {}


def test_a_crash_after_the_last_move_is_finished_at_the_next_start(toy, fresh_workspace):
    before = folder_bytes(toy)
    # every file moved; the process died before writing "applied"
    crash_while_applying("journal.Journal.append", 7, "journal.Journal.append = crash")
    assert journal.needs_recovery("toy")
    assert access.recover("toy") == [
        "Finished applying change 00001, interrupted by a crash after its last move."
    ]
    after = folder_bytes(toy)
    assert after["train/d/c2.png"] == before["train/c/c2.png"] and "train/a/a0.png" not in after
    assert journal.history("toy")[0].state == "applied"
    plans.undo_last("toy")
    assert folder_bytes(toy) == before


def test_undo_never_overwrites_a_file_that_took_the_old_name(toy):
    marks.set_mark("toy", "train/a/a0.png", "delete")
    old = (toy / "train/a/a0.png").read_bytes()
    plans.apply_plan(plans.make_plan("toy"))
    (toy / "train/a/a0.png").write_bytes(b"a new file with the old name")
    report = plans.undo_last("toy")
    assert (toy / "train/a/a0.png").read_bytes() == b"a new file with the old name"
    assert (toy / "train/a/a0-1.png").read_bytes() == old
    assert report.renamed == [{"file": "train/a/a0.png", "as": "train/a/a0-1.png"}]


def test_one_lock_per_dataset(toy, monkeypatch):
    mark_all(FIVE)
    plan = plans.make_plan("toy")
    monkeypatch.setattr(access, "LOCK_WAIT", 0.2)
    before = folder_bytes(toy)
    with held_elsewhere("toy"):  # as if another process were applying
        with pytest.raises(UserError, match="Another change to toy is being applied"):
            plans.apply_plan(plan)
        with pytest.raises(UserError, match="Another change to toy"):
            plans.undo_last("toy")
    assert folder_bytes(toy) == before


def test_history_lists_every_change_newest_first_and_undo_goes_back_one_at_a_time(toy):
    before = folder_bytes(toy)
    marks.set_mark("toy", "train/a/a0.png", "delete")
    plans.apply_plan(plans.make_plan("toy"))
    middle = folder_bytes(toy)
    marks.set_mark("toy", "train/b/b0.png", "relabel", "a")
    plans.apply_plan(plans.make_plan("toy"))
    assert [(e.apply_id, e.state, e.deletes, e.relabels) for e in journal.history("toy")] == [
        ("00002", "applied", 0, 1),
        ("00001", "applied", 1, 0),
    ]
    assert journal.renames("toy") == {"train/b/b0.png": "train/a/b0.png"}
    plans.undo_last("toy")
    assert folder_bytes(toy) == middle
    plans.undo_last("toy")
    assert folder_bytes(toy) == before
    assert [e.state for e in journal.history("toy")] == ["undone", "undone"]


def test_journal_is_written_before_any_file_moves(toy, fresh_workspace, monkeypatch):
    mark_all(FIVE)
    plan = plans.make_plan("toy")
    seen = []
    real = moves.move_no_clobber

    def look(src, dst):
        (j,) = journal.journals("toy")
        begin = j.begin()
        seen.append(len(begin["moves"]))
        return real(src, dst)

    monkeypatch.setattr(moves, "move_no_clobber", look)
    plans.apply_plan(plan)
    assert seen == [5] * 5  # every move was on disk in the journal before the first one
    lines = (fresh_workspace / "journals" / "toy" / "00001.jsonl").read_text().splitlines()
    assert [line.split('"event": "')[1].split('"')[0] for line in lines] == [
        "begin",
        *["moved"] * 5,
        "applied",
    ]
