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
from core.analysis.marks import ACTIONS, clear_marks, edit_marks, load_marks
from core.data import access
from core.data.changes import ApplyReport, UndoReport, change_id
from core.data.changes import FileAction as PlannedAction
from core.data.label_folders import label_folders, relabel_target
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

    def summary(self) -> str:
        """'3 deletes, 2 relabels (4 kept)'."""
        d, r = len(self.deletes), len(self.relabels)
        text = f"{d} delete{'s' * (d != 1)}, {r} relabel{'s' * (r != 1)}"
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

    Paths that would leave the dataset folder, and relabel targets that are not labels, are
    refused with an error; a marked file that no longer exists, or a relabel to the label it
    already has, becomes a problem sentence and no action. The files are read under the
    dataset's lock, after crash recovery.
    """
    marks = load_marks(dataset) if marks is None else marks
    targets = [
        check_label(m.get("to"), "A relabel target") for m in marks.values() if m.get("action") == "relabel"
    ]
    actions, kept, problems = [], [], []
    with access.dataset(dataset) as info:
        root = info.path.resolve()
        folders, _ = label_folders(root, targets)
        for rel in sorted(marks):
            mark = marks[rel]
            action, to = mark.get("action"), mark.get("to")
            if action not in ACTIONS:
                raise UserError(f"Unknown mark {action!r} for {rel}; choose keep, delete or relabel.")
            path = check_file(root, rel)
            if action == "relabel":
                target = relabel_target(rel, folders[to])
                workspace.safe_join(root, target)
                if target == rel:
                    problems.append(f"{rel} is already in class {to}: nothing to relabel.")
                    continue
            if not path.is_file():
                problems.append(f"{rel} is no longer in the dataset; its mark was left out.")
                continue
            if action == "keep":
                kept.append(rel)
                continue
            size, digest = path.stat().st_size, sha256_file(path)
            actions.append(PlannedAction(rel, action, to if action == "relabel" else None, size, digest))
    return Plan(dataset, tuple(actions), tuple(kept), tuple(problems), time.time())


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
    back = set(report.restored)
    marks = {a.file: {"action": a.action, "to": a.to} for a in plan.actions if a.file in back}
    marks.update({f: {"action": "keep", "to": None} for f in plan.kept})
    edit_marks(dataset, lambda m: m.update(marks))
    return report
