"""What a person chose for each image: keep, delete or relabel marks, kept in the workspace per dataset."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from core import workspace
from core.data import labels
from core.data.access import lock_name
from core.data.places import area, check_file, dataset_root
from core.errors import UserError
from core.fsutil import atomic_write

ACTIONS = ("keep", "delete", "relabel")
MARKS_WAIT = 5.0  # seconds to wait for another tab saving marks of the same dataset


def marks_path(dataset: str) -> Path:
    """The file that holds a dataset's marks."""
    return area("marks", dataset) / "marks.json"


def load_marks(dataset: str) -> dict[str, dict]:
    """The marks of a dataset: {file: {"action": keep|delete|relabel, "to": label or None}}."""
    try:
        data = json.loads(marks_path(dataset).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict) and v.get("action") in ACTIONS}


def edit_marks(dataset: str, change: Callable[[dict], None]) -> dict[str, dict]:
    """Apply change(marks) to the stored marks under the marks' lock, saved atomically; the result."""
    path = marks_path(dataset)
    name = "marks-" + lock_name(dataset).removeprefix("dataset-")
    with workspace.space().lock(name, MARKS_WAIT, "The marks are being saved; try again."):
        marks = load_marks(dataset)
        change(marks)
        atomic_write(path, json.dumps(marks, indent=1, sort_keys=True))
    return marks


def set_mark(dataset: str, file: str, action: str | None, to: str | None = None) -> dict[str, dict]:
    """Mark one file keep, delete or relabel (to a label, any text); action None removes its mark."""
    if action is not None and action not in ACTIONS:
        raise UserError(f"Unknown mark {action!r}; choose keep, delete or relabel.")
    if action == "relabel":
        if to is None:
            raise UserError("Say which label to relabel to.")
        labels.check_label(to, "A relabel target")
    check_file(dataset_root(dataset), file)

    def change(marks: dict) -> None:
        if action is None:
            marks.pop(file, None)
        else:
            marks[file] = {"action": action, "to": to if action == "relabel" else None}

    return edit_marks(dataset, change)


def clear_marks(dataset: str, files: list[str] | None = None) -> dict[str, dict]:
    """Remove the marks of some files, or all marks of the dataset."""

    def change(marks: dict) -> None:
        for f in list(marks) if files is None else files:
            marks.pop(f, None)

    return edit_marks(dataset, change)
