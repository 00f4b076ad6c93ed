"""Plans: marks frozen with a fingerprint of each file, applied and undone as journalled changes.

A plan is what applying the marks will do; its id depends only on the actions and the file
contents. Applying and undoing go through core.data.access (the dataset's lock, crash recovery,
the journal in core.data.changes); this module keeps the marks in step: applied marks are done
with, undone ones come back.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from core import workspace
from core.analysis.marks import ACTIONS, check_tags, clear_marks, dataset_tags, edit_marks, load_marks
from core.data import access
from core.data.changes import ApplyReport, UndoReport, change_id
from core.data.changes import FileAction as PlannedAction
from core.data.label_folders import label_folders, relabel_target
from core.data.label_rows import current_tags, tags_key
from core.data.labels import check_label
from core.data.places import check_file
from core.errors import UserError
from core.fsutil import sha256_file


@dataclass(frozen=True)
class Plan:
    """What applying a set of marks will do; its id depends only on the actions and the contents."""

    dataset: str
    actions: tuple[PlannedAction, ...]
    kept: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # marks that could not become actions, as sentences
    created: float = 0.0

    @property
    def id(self) -> str:
        """The same marks on the same file contents give the same id."""
        return change_id(self.dataset, self.actions)

    @property
    def deletes(self) -> list[PlannedAction]:
        """The files this plan moves to the trash."""
        return [a for a in self.actions if a.action == "delete"]

    @property
    def relabels(self) -> list[PlannedAction]:
        """The files this plan moves to another class."""
        return [a for a in self.actions if a.action == "relabel"]

    @property
    def retags(self) -> list[PlannedAction]:
        """The images this plan gives a new set of tags (a multi-label dataset)."""
        return [a for a in self.actions if a.action == "retag"]

    def summary(self) -> str:
        """'3 deletes, 2 relabels (4 kept)'; '1 delete, 2 retags' for a multi-label dataset."""
        d, r, t = len(self.deletes), len(self.relabels), len(self.retags)
        text = f"{d} delete{'s' * (d != 1)}"
        text += f", {t} retag{'s' * (t != 1)}" if t else f", {r} relabel{'s' * (r != 1)}"
        return text + (f" ({len(self.kept)} kept as they are)" if self.kept else "")

    def to_dict(self) -> dict:
        """A JSON-ready dict (stored in the journal)."""
        return {
            "id": self.id,
            "dataset": self.dataset,
            "created": self.created,
            "actions": [asdict(a) for a in self.actions],
            "kept": list(self.kept),
            "problems": list(self.problems),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        """The plan a journal recorded."""
        return cls(
            data["dataset"],
            tuple(PlannedAction(**a) for a in data["actions"]),
            tuple(data.get("kept", ())),
            tuple(data.get("problems", ())),
            float(data.get("created", 0.0)),
        )


def make_plan(dataset: str, marks: dict[str, dict] | None = None) -> Plan:
    """Freeze marks (the stored ones by default) into a plan, fingerprinting every file.

    Paths that would leave the dataset folder, relabel targets that are not labels and retag
    tags that are not tags are refused with an error, and so are relabels in a multi-label
    dataset (its images are retagged) and retags in any other; a marked file that no longer
    exists, or a relabel or retag to what it already has, becomes a problem sentence and no
    action. The files are read under the dataset's lock, after crash recovery.
    """
    marks = load_marks(dataset) if marks is None else marks
    targets = [
        check_label(m.get("to"), "A relabel target") for m in marks.values() if m.get("action") == "relabel"
    ]
    actions, kept, problems = [], [], []
    with access.dataset(dataset) as info:
        root = info.path.resolve()
        multi = info.task == "multi_label"
        _check_kind(info.name, info.task, {m.get("action") for m in marks.values()})
        folders, _ = label_folders(root, targets)
        tags, known = (current_tags(root), dataset_tags(root)) if multi else ({}, set())
        for rel in sorted(marks):
            mark = marks[rel]
            action, to = mark.get("action"), mark.get("to")
            if action not in ACTIONS:
                raise UserError(f"Unknown mark {action!r} for {rel}; choose keep, delete, relabel or retag.")
            path = check_file(root, rel)
            if action == "relabel":
                target = relabel_target(rel, folders[to])
                workspace.safe_join(root, target)
                if target == rel:
                    problems.append(f"{rel} is already in class {to}: nothing to relabel.")
                    continue
            if action == "retag":
                to = check_tags(to, known)
                if rel in tags and tags_key(tags[rel]) == tags_key(to):
                    problems.append(f"{rel} already has exactly these tags: nothing to retag.")
                    continue
            if not path.is_file():
                problems.append(f"{rel} is no longer in the dataset; its mark was left out.")
                continue
            if action == "retag" and rel not in tags:
                problems.append(f"{rel} is not listed in labels.csv; its mark was left out.")
                continue
            if action == "keep":
                kept.append(rel)
                continue
            size, digest = path.stat().st_size, sha256_file(path)
            new = to if action in ("relabel", "retag") else None
            old = tags[rel] if action == "retag" else None
            actions.append(PlannedAction(rel, action, new, size, digest, old))
    return Plan(dataset, tuple(actions), tuple(kept), tuple(problems), time.time())


def _check_kind(dataset: str, task: str, actions: set) -> None:
    """Refuse marks that do not fit the dataset: relabel is for class folders, retag for labels.csv."""
    if "relabel" in actions and task != "single_label":
        raise UserError(
            f"{dataset} is not a dataset of class folders: its images cannot be relabelled by moving "
            "them to another class" + (" (retag them instead)." if task == "multi_label" else ".")
        )
    if "retag" in actions and task != "multi_label":
        raise UserError(f"{dataset} is not a multi-label dataset: only images with tags are retagged.")


def apply_plan(plan: Plan) -> ApplyReport:
    """Apply a plan as one journalled change (core.data.access.apply_change), then clear its marks.

    Files changed or removed since the plan was made are skipped and reported, and keep their
    marks (the decision still stands). Applying a plan that is already applied (and not undone)
    changes nothing. If a move fails, the moves already made are put back and a UserError says
    what happened.
    """
    report = access.apply_change(plan.dataset, plan.to_dict(), plan.actions)
    if report.apply_id is not None and not report.already_applied:
        clear_marks(plan.dataset, [m["file"] for m in report.moved] + list(plan.kept))
    return report


def undo_last(dataset: str) -> UndoReport:
    """Reverse the most recent applied plan of a dataset, and bring its marks back.

    Files come back byte for byte where they were; a file whose old name is now taken comes back
    under a new name; one that has disappeared since is reported.
    """
    report = access.undo_last(dataset)
    if report.apply_id is None or report.record is None:
        return report
    plan = Plan.from_dict(report.record)
    if report.record.get("marks") is False:  # a change not made from marks (a move to the trash)
        return report
    back = set(report.restored) | set(report.retagged)
    marks = {a.file: {"action": a.action, "to": a.to} for a in plan.actions if a.file in back}
    marks.update({f: {"action": "keep", "to": None} for f in plan.kept})
    edit_marks(dataset, lambda m: m.update(marks))
    return report
