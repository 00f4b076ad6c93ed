"""Labels and their class folders inside a change: the folder of a label, new folders, labels.json.

A relabel names a label (any text, core.data.labels). A label the dataset has keeps its folder; a
new one gets `labels.folder_names`' folder, distinct from every folder in use, and when that folder
name differs from the label, the dataset's labels.json gains it inside the journalled change
(`labels_change` is stored in the journal; forward and backward are idempotent).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from core.data import labels as labels_
from core.data.datasets import VALID_NAMES
from core.fsutil import atomic_write, fsync_dir

SPLIT_DIRS = ("train", *VALID_NAMES)


def class_folders(root: Path) -> set[str]:
    """The class folder names of a dataset, in every split."""
    names = set()
    for top in (root, *(root / s for s in SPLIT_DIRS)):
        if not top.is_dir():
            continue
        for p in top.iterdir():
            if p.is_dir() and not p.name.startswith(".") and not (top == root and p.name in SPLIT_DIRS):
                names.add(p.name)
    return names


def label_folders(root: Path, wanted: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(label -> class folder for every wanted label, the new labels whose folder differs from it).

    A label the dataset has keeps its folder; a new one gets `labels.folder_names`' folder,
    distinct (in any letter case) from every folder in use, so two labels never share a folder.
    """
    wanted = [labels_.check_label(w, "A relabel target") for w in wanted]
    mapping = labels_.load_mapping(root)
    folders = class_folders(root)
    existing: dict[str, str] = {}
    for folder in sorted(folders | set(mapping)):
        existing.setdefault(labels_.label_of(folder, mapping), folder)
    new = sorted({w for w in wanted if w not in existing})
    made = labels_.folder_names(new, taken=folders | set(mapping)) if new else {}
    out = {w: existing.get(w) or made[w] for w in wanted}
    return out, {lab: f for lab, f in made.items() if f != lab}


def relabel_target(rel: str, folder: str) -> str:
    """Where a relabelled file goes: the same split, the label's class folder, the same name."""
    parts = rel.split("/")
    return "/".join([*parts[:-2], folder, parts[-1]])


def _read_labels(root: Path) -> str | None:
    try:
        return (root / labels_.MAPPING_FILE).read_text(encoding="utf-8")
    except OSError:
        return None


def _labels_text(text: str | None, add: dict[str, str], remove: dict[str, str], root: Path) -> str:
    """labels.json text with labels added, and removed ones whose folder is gone from every split."""
    folders = labels_.parse_mapping(text)
    folders.update({f: lab for lab, f in add.items()})
    for lab, f in remove.items():
        if folders.get(f) == lab and f not in class_folders(root):
            del folders[f]
    return labels_.dump_mapping(folders)


def labels_change(root: Path, added: dict[str, str]) -> dict | None:
    """What a change does to labels.json (added labels, text before and after); None for nothing."""
    if not added:
        return None
    before = _read_labels(root)
    return {"added": added, "before": before, "after": _labels_text(before, added, {}, root)}


def labels_forward(root: Path, change: dict | None) -> None:
    """Make labels.json name the change's new labels (idempotent)."""
    if not change:
        return
    now = _read_labels(root)
    if now != change["after"]:
        text = change["after"] if now == change["before"] else _labels_text(now, change["added"], {}, root)
        atomic_write(root / labels_.MAPPING_FILE, text)


def labels_backward(root: Path, change: dict | None) -> None:
    """Take the change's new labels out of labels.json again, byte for byte when nothing else changed."""
    if not change:
        return
    path, now = root / labels_.MAPPING_FILE, _read_labels(root)
    gone = not set(change["added"].values()) & class_folders(root)
    if now == change["after"] and gone:
        if change["before"] is None:
            path.unlink(missing_ok=True)
            fsync_dir(root)
        else:
            atomic_write(path, change["before"])
    elif now is not None:
        text = _labels_text(now, {}, change["added"], root)
        if text != now:
            atomic_write(path, text)
