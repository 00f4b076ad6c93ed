"""Cleaning a multi-label dataset: a retag rewrites the image's row of labels.csv, journalled and undoable."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.analysis import marks, plans
from core.data import access, journal, layouts
from core.errors import UserError
from tests.conftest import subprocess_env
from tests.results_helpers import folder_bytes

ROOT = Path(__file__).resolve().parents[1]
DATASET = "tags"
ROWS = {  # file -> its labels cell as written
    "images/im0.png": "a b",
    "images/im1.png": "b",
    "images/im2.png": "",
    "images/im3.png": "a c",
    "images/im4.png": "c",
    "images/im5.png": "a b c",
}
CSV = "file,labels\n" + "".join(f"{f},{t}\n" for f, t in ROWS.items())


@pytest.fixture
def tags(fresh_workspace) -> Path:
    """datasets/tags: six files (bytes, not images: nothing here decodes them) and a labels.csv."""
    root = fresh_workspace / "datasets" / DATASET
    rng = random.Random(0)
    for f in ROWS:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_bytes(rng.randbytes(64))
    (root / "labels.csv").write_text(CSV)
    return root


def csv_tags(root: Path) -> dict[str, tuple[str, ...]]:
    """labels.csv as the dataset reader reads it: file -> its tags."""
    return {f: t for f, t, _ in layouts.read_labels_csv(root / "labels.csv")}


def retag(file: str, tags: list[str]) -> None:
    marks.set_mark(DATASET, file, "retag", tags)


def test_a_retag_rewrites_the_row_and_undo_gives_back_the_same_file(tags):
    before = folder_bytes(tags)
    retag("images/im0.png", ["c"])
    retag("images/im2.png", ["b", "a"])  # an image with no label gets two
    marks.set_mark(DATASET, "images/im4.png", "keep")
    plan = plans.make_plan(DATASET)
    assert plan.summary() == "0 deletes, 2 retags (1 kept as they are)"
    assert [(a.file, a.old, a.to) for a in plan.retags] == [
        ("images/im0.png", "a b", "c"),
        ("images/im2.png", "", "a b"),
    ]
    report = plans.apply_plan(plan)
    assert report.summary() == "Moved 0 file(s) to the trash and gave 2 image(s) new tags."
    now = csv_tags(tags)
    assert now["images/im0.png"] == ("c",) and now["images/im2.png"] == ("a", "b")
    assert {f: now[f] for f in ROWS if f not in ("images/im0.png", "images/im2.png")} == {
        f: layouts.parse_tags(t) for f, t in ROWS.items() if f not in ("images/im0.png", "images/im2.png")
    }
    items = access.items(DATASET)
    assert items.labels[items.files.index("images/im0.png")] == ("c",)  # training reads the new tags
    assert marks.load_marks(DATASET) == {}
    (entry,) = journal.history(DATASET)
    assert (entry.state, entry.deletes, entry.retags) == ("applied", 0, 2)

    undone = plans.undo_last(DATASET)
    assert undone.retagged == ["images/im0.png", "images/im2.png"]
    assert "2 image(s) have their old tags again" in undone.summary()
    assert folder_bytes(tags) == before  # labels.csv byte for byte
    assert marks.load_marks(DATASET)["images/im0.png"] == {"action": "retag", "to": "c"}  # marks back
    assert [e.state for e in journal.history(DATASET)] == ["undone"]


def test_a_labels_csv_saved_with_a_byte_order_mark_retags_and_undoes_byte_for_byte(tags):
    (tags / "labels.csv").write_bytes(b"\xef\xbb\xbf" + CSV.encode())  # as Excel saves "CSV UTF-8"
    before = folder_bytes(tags)
    retag("images/im4.png", ["a"])
    plans.apply_plan(plans.make_plan(DATASET))
    assert csv_tags(tags)["images/im4.png"] == ("a",)
    plans.undo_last(DATASET)
    assert folder_bytes(tags) == before


def test_deletes_and_retags_apply_as_one_change_and_undo_together(tags, fresh_workspace):
    before = folder_bytes(tags)
    marks.set_mark(DATASET, "images/im1.png", "delete")
    retag("images/im3.png", [])  # no label at all
    report = plans.apply_plan(plans.make_plan(DATASET))
    assert report.summary() == "Moved 1 file(s) to the trash and gave 1 image(s) new tags."
    assert not (tags / "images/im1.png").exists()
    assert csv_tags(tags)["images/im3.png"] == ()
    items = access.items(DATASET)
    assert "images/im1.png" not in items.files  # its row stays, the reader skips the missing file
    plans.undo_last(DATASET)
    assert folder_bytes(tags) == before


def test_undo_keeps_an_edit_made_to_another_row_meanwhile(tags):
    retag("images/im0.png", ["c"])
    plans.apply_plan(plans.make_plan(DATASET))
    text = (tags / "labels.csv").read_text().replace("images/im4.png,c", "images/im4.png,a c")
    (tags / "labels.csv").write_text(text)  # someone edits another row by hand
    plans.undo_last(DATASET)
    now = csv_tags(tags)
    assert now["images/im0.png"] == ("a", "b") and now["images/im4.png"] == ("a", "c")


def test_a_retag_of_a_file_deleted_or_retagged_since_the_plan_is_refused(tags):
    before = (tags / "labels.csv").read_bytes()
    retag("images/im0.png", ["c"])
    retag("images/im1.png", ["a"])
    plan = plans.make_plan(DATASET)
    (tags / "images/im0.png").unlink()  # deleted by another program since the plan
    text = before.decode().replace("images/im1.png,b", "images/im1.png,b c")
    (tags / "labels.csv").write_text(text)  # and im1's tags changed meanwhile
    report = plans.apply_plan(plan)
    assert report.apply_id is None and report.moved == []
    assert {s["file"]: s["reason"] for s in report.skipped} == {
        "images/im0.png": "removed since the plan was made",
        "images/im1.png": "its tags changed since the plan was made",
    }
    assert (tags / "labels.csv").read_text() == text  # untouched
    assert journal.history(DATASET) == []
    assert set(marks.load_marks(DATASET)) == {"images/im0.png", "images/im1.png"}  # decisions stand


@pytest.mark.parametrize(
    "bad",
    [
        ["[link](http://x)"],
        ["a|b"],
        ["a;b"],
        ["two words"],
        ["tab\there"],
        ["nul\x00"],
        ["x" * 201],
        42,  # not a list of tags
        [3],
        None,
    ],
)
def test_a_tag_with_a_separator_a_space_or_not_a_tag_is_refused(tags, bad):
    before = folder_bytes(tags)
    with pytest.raises(UserError):
        marks.set_mark(DATASET, "images/im0.png", "retag", bad)
    with pytest.raises(UserError):
        plans.make_plan(DATASET, {"images/im0.png": {"action": "retag", "to": bad}})
    assert folder_bytes(tags) == before and marks.load_marks(DATASET) == {}


def test_a_tag_the_dataset_already_has_is_kept_and_a_same_set_is_nothing_to_do(tags):
    (tags / "labels.csv").write_text(CSV.replace("images/im4.png,c", "images/im4.png,c/d"))
    retag("images/im0.png", ["c/d", "a"])
    retag("images/im1.png", ["b"])  # what it has already
    plan = plans.make_plan(DATASET)
    assert [a.file for a in plan.retags] == ["images/im0.png"]
    assert plan.problems == ("images/im1.png already has exactly these tags: nothing to retag.",)


def test_relabel_marks_are_refused_on_a_multi_label_dataset(tags):
    with pytest.raises(UserError, match="retag them instead"):
        plans.make_plan(DATASET, {"images/im0.png": {"action": "relabel", "to": "c"}})


def test_retag_marks_are_refused_on_a_single_label_dataset(fresh_workspace):
    root = fresh_workspace / "datasets" / "folders"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        (root / cls / f"{cls}.png").write_bytes(b"x")
    with pytest.raises(UserError, match="not a multi-label dataset"):
        plans.make_plan("folders", {"a/a.png": {"action": "retag", "to": "b"}})


CRASH = textwrap.dedent("""
    import os, sys
    from core.analysis import plans
    from core.data import journal, moves
    real = {target}
    calls = []
    def crash(*args, **kwargs):
        if {when}:
            calls.append(args)
            if len(calls) == {count}:
                os._exit(9)  # the process dies: no except, no finally, no rollback
        return real(*args, **kwargs)
    {patch}
    plans.apply_plan(plans.make_plan("tags"))
    sys.exit(0)
""")


def crash_while_applying(target: str, patch: str, count: int = 1, when: str = "True") -> None:
    code = CRASH.format(target=target, patch=patch, count=count, when=when)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 9, done.stderr[-2000:]


def test_a_crash_while_writing_labels_csv_is_rolled_back(tags):
    before = folder_bytes(tags)
    retag("images/im0.png", ["c"])
    # the new labels.csv is written to a temp file; the process dies before renaming it
    crash_while_applying("os.replace", "os.replace = crash", when="str(args[1]).endswith('labels.csv')")
    assert journal.needs_recovery(DATASET)
    assert any(p.name.startswith(".labels.csv.") for p in tags.iterdir())  # the temp copy
    assert access.recover_all() == [
        "Rolled back change 00001, interrupted by a crash: its files are back where they were."
    ]
    assert folder_bytes(tags) == before  # the temp copy is gone too
    assert journal.history(DATASET)[0].state == "rolled back"


def test_a_crash_after_the_retag_before_the_delete_moved_is_rolled_back(tags, fresh_workspace):
    before = folder_bytes(tags)
    retag("images/im0.png", ["c"])
    marks.set_mark(DATASET, "images/im5.png", "delete")
    crash_while_applying("moves.move_no_clobber", "moves.move_no_clobber = crash")
    assert csv_tags(tags)["images/im0.png"] == ("c",)  # labels.csv was written, no file moved yet
    assert access.recover(DATASET)
    assert folder_bytes(tags) == before
    assert folder_bytes(fresh_workspace / "trash") == {}
    assert plans.apply_plan(plans.make_plan(DATASET)).summary().startswith("Moved 1 file(s)")


def test_a_crash_after_everything_was_done_is_finished_and_undoes_exactly(tags):
    before = folder_bytes(tags)
    retag("images/im0.png", ["c"])
    retag("images/im4.png", ["a", "b", "c"])
    # begin is written, labels.csv rewritten, then the process dies before "applied"
    crash_while_applying("journal.Journal.append", "journal.Journal.append = crash", count=2)
    assert access.recover(DATASET) == [
        "Finished applying change 00001, interrupted by a crash after its last move."
    ]
    assert csv_tags(tags)["images/im4.png"] == ("a", "b", "c")
    assert journal.history(DATASET)[0].state == "applied"
    plans.undo_last(DATASET)
    assert folder_bytes(tags) == before


def test_the_journal_holds_old_and_new_tags_before_labels_csv_changes(tags, fresh_workspace, monkeypatch):
    from core.data import label_rows

    retag("images/im3.png", ["b"])
    plan = plans.make_plan(DATASET)
    seen = []
    real = label_rows.atomic_write

    def look(path, data):
        (j,) = journal.journals(DATASET)
        seen.append(j.begin()["retag"]["rows"])
        return real(path, data)

    monkeypatch.setattr(label_rows, "atomic_write", look)
    plans.apply_plan(plan)
    assert seen == [[{"file": "images/im3.png", "old": "a c", "new": "b"}]]


def test_the_data_version_follows_the_tags_and_comes_back_with_undo(tags):
    """Runs compare data versions: a retag is another version, and undoing it is the first again."""
    before = layouts.fingerprint(access.items(DATASET))
    retag("images/im1.png", ["a"])
    plans.apply_plan(plans.make_plan(DATASET))
    retagged = layouts.fingerprint(access.items(DATASET))
    plans.undo_last(DATASET)
    assert retagged != before
    assert layouts.fingerprint(access.items(DATASET)) == before


@pytest.mark.parametrize("text", ["<b>x</b>", "../../etc/passwd", "a/b", "a\\b", ".hidden", "=1+1", "@x"])
def test_a_new_tag_follows_the_import_rule_markup_paths_and_formulas_are_text(tags, text):
    # what an import accepts as a tag, a retag accepts too (it used to refuse markup and paths);
    # it is only text in labels.csv, escaped where shown and framed in a CSV download
    before = folder_bytes(tags)
    marks.set_mark(DATASET, "images/im0.png", "retag", [text])
    assert marks.load_marks(DATASET)["images/im0.png"]["to"] == text
    assert folder_bytes(tags) == before  # a mark changes no file until the plan is applied
    with pytest.raises(UserError, match="holds '\\|'"):
        marks.check_tags(["a|b"])
