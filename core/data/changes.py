"""Journalled changes to a dataset's files: apply, roll back, undo and crash recovery.

A change deletes files (into the workspace trash), relabels files (into another label's class
folder, never over another file) and retags images of a multi-label dataset (their row of
labels.csv gets a new set of tags: core.data.label_rows, whose whole text before and after the
journal keeps). Before the first file moves, the journal lists every move and retag; a
failure half-way puts back what moved; a crash half-way is finished (every move done) or rolled
back by `recover_locked`. A relabel to a label the dataset does not have yet gets a new class
folder (`labels.folder_names`), and the dataset's labels.json is updated inside the change, so
undo and recovery put it back too. Every function here expects the dataset's lock to be held:
call them through core.data.access.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core import workspace
from core.data.journal import (
    APPLIED,
    APPLYING,
    BEGIN,
    MOVED,
    RECOVERED,
    RESTORED,
    ROLLBACK_BEGIN,
    ROLLED_BACK,
    UNDO_BEGIN,
    UNDOING,
    UNDONE,
    UNFINISHED,
    Journal,
    journals,
    last_applied,
    new_journal,
)
from core.data.label_folders import (
    label_folders,
    labels_backward,
    labels_change,
    labels_forward,
    relabel_target,
)
from core.data.label_rows import (
    current_tags,
    retag_backward,
    retag_change,
    retag_done,
    retag_forward,
    tags_key,
)
from core.data.moves import backward, forward, free_name, position, remove_empty_dirs
from core.data.places import check_file, dataset_root, from_ws, in_dataset, rel_to_ws, trash_dir
from core.errors import UserError
from core.fsutil import fsync_dir, sha256_file


@dataclass(frozen=True)
class FileAction:
    """One file to delete, relabel (to a label) or retag (to a set of tags), with the fingerprint
    it had when chosen."""

    file: str
    action: str  # delete, relabel or retag
    to: str | None  # the label a relabel moves the file to; a retag's new tags (a labels cell)
    size: int
    sha256: str
    old: str | None = None  # a retag's tags when it was chosen (a labels cell)


def _as_dict(a: FileAction) -> dict:
    data = dataclasses.asdict(a)
    if data["old"] is None:  # the ids of deletes and relabels stay what they were before retags
        del data["old"]
    return data


def change_id(dataset: str, actions: Sequence[FileAction]) -> str:
    """A change's id: the same actions on the same file contents give the same id."""
    text = json.dumps([dataset, [_as_dict(a) for a in actions]], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def change_record(dataset: str, actions: Sequence[FileAction]) -> dict:
    """The JSON a journal stores for a change made outside the cleaner (as Plan.to_dict writes)."""
    return {
        "id": change_id(dataset, actions),
        "dataset": dataset,
        "created": time.time(),
        "actions": [_as_dict(a) for a in actions],
        "kept": [],
        "problems": [],
        "marks": False,  # not made from marks: undoing it brings no marks back
    }


# --- reports -------------------------------------------------------------------------------------


@dataclass
class ApplyReport:
    """What applying a change did: the moves made, the files skipped (with why), and the journal."""

    apply_id: str | None
    moved: list[dict] = field(default_factory=list)  # {file, action, to, dest} (a retag: dest = file)
    skipped: list[dict] = field(default_factory=list)  # {file, reason}
    already_applied: bool = False

    def summary(self) -> str:
        """One sentence for the page."""
        if self.already_applied:
            return "This plan is already applied: nothing changed."
        d = sum(m["action"] == "delete" for m in self.moved)
        r = sum(m["action"] == "relabel" for m in self.moved)
        t = sum(m["action"] == "retag" for m in self.moved)
        if t:
            text = f"Moved {d} file(s) to the trash and gave {t} image(s) new tags."
        else:
            text = f"Moved {d} file(s) to the trash and relabelled {r}."
        if self.skipped:
            text += f" Skipped {len(self.skipped)}: changed or removed since the plan was made."
        return text


@dataclass
class UndoReport:
    """What an undo put back, what it could not, and the record the change was applied with."""

    apply_id: str | None
    restored: list[str] = field(default_factory=list)
    renamed: list[dict] = field(default_factory=list)  # {file, as}
    missing: list[str] = field(default_factory=list)
    record: dict | None = None  # the plan (or other record) the journal's begin event holds
    retagged: list[str] = field(default_factory=list)  # images whose old tags are back

    def summary(self) -> str:
        """One sentence for the page."""
        if self.apply_id is None:
            return "Nothing to undo."
        text = f"Undid change {self.apply_id}: {len(self.restored)} file(s) back where they were."
        if self.retagged:
            text += f" {len(self.retagged)} image(s) have their old tags again."
        if self.renamed:
            text += f" {len(self.renamed)} came back under a new name (the old one was taken)."
        if self.missing:
            text += f" {len(self.missing)} could not be found any more and stay missing."
        return text


# --- apply ---------------------------------------------------------------------------------------


def _check_actions(
    actions: Sequence[FileAction], root: Path, folders: dict[str, str]
) -> tuple[list[FileAction], list[dict]]:
    ready, skipped = [], []
    tags = current_tags(root) if any(a.action == "retag" for a in actions) else {}
    for a in actions:
        path = check_file(root, a.file)
        if a.action == "relabel":
            workspace.safe_join(root, relabel_target(a.file, folders[a.to]))
        if not path.is_file():
            skipped.append({"file": a.file, "reason": "removed since the plan was made"})
        elif path.stat().st_size != a.size or sha256_file(path) != a.sha256:
            skipped.append({"file": a.file, "reason": "changed since the plan was made"})
        elif a.action == "retag" and a.file not in tags:
            skipped.append({"file": a.file, "reason": "no longer listed in labels.csv"})
        elif a.action == "retag" and tags_key(tags[a.file]) != tags_key(a.old):
            skipped.append({"file": a.file, "reason": "its tags changed since the plan was made"})
        else:
            ready.append(a)
    return ready, skipped


def _moves_for(
    ready: list[FileAction], root: Path, trash: Path, folders: dict[str, str]
) -> tuple[list[dict], list[str]]:
    """Every move with its source and a free destination, and the folders that must be created."""
    taken: set[str] = set()
    moves, mkdirs = [], []
    for i, a in enumerate(ready):
        if a.action == "retag":  # not a move: a row of labels.csv (retag_change)
            continue
        src = root / a.file
        if a.action == "delete":
            dst = trash / a.file
        else:
            target = root / relabel_target(a.file, folders[a.to])
            dst = target.parent / free_name(target.parent, target.name, taken)
        folder = dst.parent
        while not folder.exists():  # the folders this apply creates, removed again by undo
            mkdirs.append(rel_to_ws(folder))
            folder = folder.parent
        moves.append(
            {
                "i": i,
                "file": a.file,
                "action": a.action,
                "to": a.to,
                "src": rel_to_ws(src),
                "dst": rel_to_ws(dst),
                "sha256": a.sha256,
            }
        )
    return moves, sorted(set(mkdirs))


def apply_locked(dataset: str, record: dict, actions: Sequence[FileAction]) -> ApplyReport:
    """Apply actions as one journalled change (the lock held, recovery done); see the module docstring.

    record (JSON-ready, with an "id") is stored in the journal; a change whose record id is
    already applied (and not undone) changes nothing. Files changed or removed since they were
    fingerprinted are skipped and reported. If a move fails, the moves already made are put back
    and a UserError says what happened.
    """
    root = dataset_root(dataset)
    for j in reversed(journals(dataset)):
        b = j.begin()
        if b and b["plan"]["id"] == record["id"] and j.state() == "applied":
            return ApplyReport(j.id, already_applied=True)
    folders, added = label_folders(root, [a.to for a in actions if a.action == "relabel"])
    ready, skipped = _check_actions(actions, root, folders)
    journal = new_journal(dataset)
    moves, mkdirs = _moves_for(ready, root, trash_dir(dataset) / journal.id, folders)
    retags = [a for a in ready if a.action == "retag"]
    if not moves and not retags:
        return ApplyReport(None, skipped=skipped)
    used = {a.to for a in ready if a.action == "relabel"}
    change = labels_change(root, {lab: f for lab, f in added.items() if lab in used})
    retag = retag_change(root, {a.file: a.to or "" for a in retags})
    extra = {"labels": change} if change else {}
    extra.update({"retag": retag} if retag else {})
    journal.append(BEGIN, plan=record, moves=moves, mkdirs=mkdirs, skipped=skipped, **extra)
    done: list[dict] = []
    try:
        labels_forward(root, change)
        retag_forward(root, retag)  # before any move: recovery finishes only when it is written
        for move in moves:
            forward(move)
            done.append(move)
            journal.append(MOVED, i=move["i"])
    except Exception as e:
        _roll_back(journal, root, reason=f"{type(e).__name__}: {e}")
        at = moves[len(done)]["file"] if len(done) < len(moves) else "labels.csv"
        raise UserError(
            f"Applying the plan failed at {at} ({e}); the "
            f"{len(done)} file(s) already moved were put back. Nothing changed."
        ) from e
    _finish(journal, moves)
    report = ApplyReport(journal.id, skipped=skipped)
    report.moved = [
        {"file": m["file"], "action": m["action"], "to": m["to"], "dest": in_dataset(m["dst"], root)}
        for m in moves
    ] + [{"file": a.file, "action": "retag", "to": a.to, "dest": a.file} for a in retags]
    return report


def _finish(journal: Journal, moves: list[dict]) -> None:
    for folder in {str(from_ws(m["dst"]).parent) for m in moves} | {
        str(from_ws(m["src"]).parent) for m in moves
    }:
        fsync_dir(Path(folder))
    journal.append(APPLIED, n=len(moves))


def _roll_back(journal: Journal, root: Path, reason: str) -> None:
    begin = journal.begin()
    journal.append(ROLLBACK_BEGIN, reason=reason)
    taken: set[str] = set()
    for move in reversed(begin["moves"]):
        where, renamed = backward(move, taken)
        if where in ("after", "half"):
            journal.append(RESTORED, i=move["i"], renamed=renamed)
    remove_empty_dirs(begin["mkdirs"])
    retag_backward(root, begin.get("retag"))
    labels_backward(root, begin.get("labels"))
    journal.append(ROLLED_BACK)


# --- undo and recovery ---------------------------------------------------------------------------


def undo_locked(journal: Journal, dataset: str) -> UndoReport:
    """Reverse one applied (or half-undone) change; the dataset's lock must be held."""
    begin = journal.begin()
    root = dataset_root(dataset)
    if journal.state() != UNDOING:
        journal.append(UNDO_BEGIN)
    report = UndoReport(journal.id, record=begin["plan"])
    taken: set[str] = set()
    for move in reversed(begin["moves"]):
        where, renamed = backward(move, taken)
        if where == "gone":
            report.missing.append(move["file"])
        elif renamed:
            report.renamed.append({"file": move["file"], "as": in_dataset(renamed, root)})
        else:
            report.restored.append(move["file"])
        if where in ("after", "half"):
            journal.append(RESTORED, i=move["i"], renamed=renamed)
    remove_empty_dirs(begin["mkdirs"])
    if begin.get("retag"):
        report.retagged = retag_backward(root, begin["retag"])
        back = set(report.retagged)
        report.missing += [r["file"] for r in begin["retag"]["rows"] if r["file"] not in back]
    labels_backward(root, begin.get("labels"))
    with contextlib.suppress(OSError):
        (trash_dir(dataset) / journal.id).rmdir()
    journal.append(UNDONE, restored=len(report.restored), renamed=report.renamed, missing=report.missing)
    return report


def undo_last_locked(dataset: str) -> UndoReport:
    """Reverse the most recent applied change of a dataset (the lock held, recovery done).

    Files come back byte for byte where they were; a file whose old name is now taken comes back
    under a new name; one that has disappeared since is reported.
    """
    journal = last_applied(dataset)
    return UndoReport(None) if journal is None else undo_locked(journal, dataset)


def recover_locked(dataset: str) -> list[str]:
    """Finish or roll back every journal left unfinished by a crash; the lock must be held."""
    messages = []
    for journal in journals(dataset):
        state = journal.state()
        if state not in UNFINISHED:
            continue
        begin = journal.begin()
        moves, root = begin["moves"], dataset_root(dataset)
        if state == UNDOING:
            undo_locked(journal, dataset)
            journal.append(RECOVERED, action="undo finished")
            messages.append(f"Finished undoing change {journal.id}, interrupted by a crash.")
            continue
        positions = [position(m) for m in moves]
        written = retag_done(root, begin.get("retag"))  # written before any move
        if state == APPLYING and written and all(p in ("after", "half") for p in positions):
            labels_forward(root, begin.get("labels"))
            retag_forward(root, begin.get("retag"))
            for move in moves:
                forward(move)
            _finish(journal, moves)
            journal.append(RECOVERED, action="apply finished")
            messages.append(
                f"Finished applying change {journal.id}, interrupted by a crash after its last move."
            )
        else:
            _roll_back(journal, root, reason="interrupted by a crash")
            journal.append(RECOVERED, action="rolled back")
            messages.append(
                f"Rolled back change {journal.id}, interrupted by a crash: its files "
                "are back where they were."
            )
    return messages
