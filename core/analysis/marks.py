"""What a person chose for each image: keep, delete, relabel or retag marks, kept per dataset.

relabel moves a single-label image to another class; retag gives an image of a multi-label dataset
a new set of tags (its row of labels.csv), stored as a labels cell: tags sorted, one space apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from core import workspace
from core.data import labels
from core.data.access import lock_name
from core.data.label_rows import current_tags, join_tags
from core.data.places import area, check_file, dataset_root
from core.errors import UserError
from core.fsutil import atomic_write

ACTIONS = ("keep", "delete", "relabel", "retag")
MARKS_WAIT = 5.0  # seconds to wait for another tab saving marks of the same dataset


def marks_path(dataset: str) -> Path:
    """The file that holds a dataset's marks."""
    return area("marks", dataset) / "marks.json"


def load_marks(dataset: str) -> dict[str, dict]:
    """The marks of a dataset: {file: {"action": keep|delete|relabel|retag, "to": label, tags or None}}."""
    try:
        data = json.loads(marks_path(dataset).read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict) and v.get("action") in ACTIONS}


def edit_marks(dataset: str, change: Callable[[dict], None]) -> dict[str, dict]:
    """Apply change(marks) to the stored marks under the marks' lock, saved atomically; the result.
    A published dataset (read-only for everyone) takes no marks: its refusal says how to copy it."""
    from core.data.datasets import is_published

    if is_published(dataset):
        from core import publish

        raise publish.read_only(dataset)
    path = marks_path(dataset)
    name = "marks-" + lock_name(dataset).removeprefix("dataset-")
    with workspace.space().lock(name, MARKS_WAIT, "The marks are being saved; try again."):
        marks = load_marks(dataset)
        change(marks)
        atomic_write(path, json.dumps(marks, indent=1, sort_keys=True))
    return marks


def check_tags(tags: object, known: set[str] | frozenset[str] = frozenset()) -> str:
    """Tags (a list, or a labels cell) as a labels cell, sorted and unique; UserError on a bad tag.

    Every tag obeys the dataset format's rules (core.data.layouts.parse_tags: text, no space); a
    tag the dataset does not have yet (not in known) must also pass the import's tag rule
    (labels.check_tag): markup, paths and formulas are kept as text, separators are refused.
    """
    from core.data.layouts import parse_tags

    if isinstance(tags, str):
        tags = tags.split(" ")
    if not isinstance(tags, (list, tuple, set, frozenset)) or not all(isinstance(t, str) for t in tags):
        raise UserError(f"The new tags must be a list of text tags; got {tags!r}.")
    for t in tags:
        if any(c.isspace() for c in t):
            raise UserError(f"The tag {t[:40]!r} holds a space; a tag is one word (use - or _).")
    cell = join_tags(parse_tags(" ".join(tags), "A tag"))
    for t in cell.split():
        if t not in known:
            labels.check_tag(t, "The new tag")  # the import's own rule, so both agree
    return cell


def set_mark(dataset: str, file: str, action: str | None, to: object = None) -> dict[str, dict]:
    """Mark one file keep, delete, relabel (to a label, any text) or retag (to a list of tags);
    action None removes its mark."""
    if action is not None and action not in ACTIONS:
        raise UserError(f"Unknown mark {action!r}; choose keep, delete, relabel or retag.")
    if action == "relabel":
        if to is None:
            raise UserError("Say which label to relabel to.")
        labels.check_label(to, "A relabel target")
    root = dataset_root(dataset)
    check_file(root, file)
    if action == "retag":
        if to is None:
            raise UserError("Say which tags the image should have.")
        to = check_tags(to, dataset_tags(root))

    def change(marks: dict) -> None:
        if action is None:
            marks.pop(file, None)
        else:
            marks[file] = {"action": action, "to": to if action in ("relabel", "retag") else None}

    return edit_marks(dataset, change)


def dataset_tags(root: Path) -> set[str]:
    """Every tag the multi-label dataset at root uses now (labels.csv; empty for other datasets)."""
    return {t for cell in current_tags(root).values() for t in cell.split()}


def clear_marks(dataset: str, files: list[str] | None = None) -> dict[str, dict]:
    """Remove the marks of some files, or all marks of the dataset."""

    def change(marks: dict) -> None:
        for f in list(marks) if files is None else files:
            marks.pop(f, None)

    return edit_marks(dataset, change)
