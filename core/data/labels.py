"""Labels are text; folder names are derived from them, one to one, and the mapping is stored.

A label is whatever text a dataset uses (`<=50K`, `Star Wars: Episode IV`, `-rf`). Where a label
becomes a folder name, `folder_names` gives a safe one: the label itself when it already is a
harmless folder name, else a cleaned name plus a short hash of the label, so two labels never
collapse into one folder. The mapping lives in the dataset's `labels.json`; a dataset without
one (every dataset made before labels were text) reads its folder names as its labels. Markup in
a label is escaped where it is shown, never refused here.

valid_flag is the one reader of an is_valid cell (labels.csv, an image CSV, a table's split column).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from core.errors import UserError

MAX_LABEL = 200  # characters; long enough for a film title, short enough to show in a table
MAX_FOLDER = 64
MAPPING_FILE = "labels.json"
MAPPING_FORMAT = 1
# Folder names read_image_folder takes for splits, so never a class folder.
SPLIT_FOLDERS = ("train", "valid", "val", "validation", "test")
# The words an is_valid cell may hold (any letter case, surrounding spaces ignored); empty is training.
VALID_WORDS = ("true", "1", "1.0", "yes", "y", "valid", "validation", "val")
TRAIN_WORDS = ("false", "0", "0.0", "no", "n", "train", "training", "")
FLAG_WORDS = "true/false, yes/no, 1/0 or valid/train"  # for the sentence refusing another word
# What a tag may not hold besides spaces: the marks of a list written another way than with spaces.
# The one rule for a new tag, whether an import, a retag or a typed value brings it in (check_tag).
TAG_MARKS = ",;|[]"


def check_label(text: object, what: str = "A label") -> str:
    """Any non-empty text of at most MAX_LABEL characters without control characters."""
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{what} must be a non-empty piece of text; got {text!r}.")
    if len(text) > MAX_LABEL:
        raise UserError(f"{what} {text[:20]!r}… is longer than {MAX_LABEL} characters.")
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise UserError(f"{what} {text[:40]!r} contains control characters (a tab, a newline, NUL…).")
    return text


def check_tag(text: object, what: str = "A tag") -> str:
    """A new multi-label tag: a label (check_label) holding no space and none of TAG_MARKS.

    Like any label, a tag that looks like a formula (=1+1, +1, -2, @x), markup or a path is text:
    escaped where it is shown, neutralised in a CSV for download, never refused for it.
    """
    check_label(text, what)
    if any(c.isspace() for c in text):
        raise UserError(f"{what} {text[:40]!r} holds a space; a tag is one word (use - or _).")
    marks = sorted({c for c in text if c in TAG_MARKS})
    if marks:
        raise UserError(
            f"{what} {text[:40]!r} holds {' '.join(repr(m) for m in marks)}; an image's tags are "
            "separated by single spaces (e.g. cloudy water)."
        )
    return text


def valid_flag(cell: object) -> bool | None:
    """True for a validation row, False for a training row (an empty cell too), None for any other
    value: the one reading of an is_valid cell, whether text, a number or a bool."""
    if cell is None or isinstance(cell, (bool, np.bool_)):
        return bool(cell)
    if isinstance(cell, (int, float, np.integer, np.floating)):
        number = float(cell)
        if np.isnan(number):  # an empty cell of a number column
            return False
        return True if number == 1 else False if number == 0 else None
    if not isinstance(cell, str):
        return None
    text = cell.strip().lower()
    return True if text in VALID_WORDS else False if text in TRAIN_WORDS else None


def safe_folder_name(raw: str) -> str:
    """A harmless folder name like the label: letters, digits, space, - _ . + ( ) only."""
    text = unicodedata.normalize("NFC", raw)
    text = "".join(c if c.isalnum() or c in " -_.+()" else "_" for c in text)
    text = re.sub(r"_+", "_", text).strip(" ._")[:MAX_FOLDER].strip(" ._")
    if not text:
        return "unnamed"
    if text.lower() in SPLIT_FOLDERS:
        return f"{text}_class"
    return text


def _short_hash(label: str) -> str:
    return hashlib.sha256(label.encode("utf-8")).hexdigest()[:8]


def folder_names(labels: Iterable[str], taken: Iterable[str] = ()) -> dict[str, str]:
    """A distinct safe folder name for each label (label -> folder), stable for a given label.

    `taken` holds folder names already used (in any letter case) by other labels.
    """
    used = {t.lower() for t in taken}
    out: dict[str, str] = {}
    for label in sorted(set(labels)):
        check_label(label)
        safe = safe_folder_name(label)
        name = safe if safe == label else f"{safe[: MAX_FOLDER - 9]}-{_short_hash(label)}"
        n = 1
        while name.lower() in used:
            n += 1
            name = f"{safe[: MAX_FOLDER - 12]}-{_short_hash(label)}-{n}"
        used.add(name.lower())
        out[label] = name
    return out


def parse_mapping(text: str | None, shown: str = MAPPING_FILE) -> dict[str, str]:
    """folder -> label from labels.json's text (empty for None); UserError when it is damaged."""
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise UserError(f"{shown} is damaged ({e}); it maps class folders to their labels.") from e
    folders = data.get("folders") if isinstance(data, dict) else None
    if not isinstance(folders, dict) or not all(isinstance(v, str) for v in folders.values()):
        raise UserError(f"{shown} does not map folder names to labels; fix or remove it.")
    return {str(k): v for k, v in folders.items()}


def load_mapping(root: Path) -> dict[str, str]:
    """folder -> label for the dataset at root (empty when every folder name is its label)."""
    path = Path(root) / MAPPING_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path} cannot be read: {e}") from e
    return parse_mapping(text, str(path))


def dump_mapping(folders: dict[str, str]) -> str:
    """labels.json's text for a folder -> label map (the one writer of the file's format)."""
    return json.dumps({"format": MAPPING_FORMAT, "folders": folders}, indent=2, ensure_ascii=False)


def mapping_text(label_to_folder: dict[str, str]) -> str:
    """The labels.json content for a label -> folder map (only labels that differ are stored)."""
    return dump_mapping({f: lab for lab, f in sorted(label_to_folder.items()) if f != lab})


def label_of(folder: str, mapping: dict[str, str]) -> str:
    """The label a class folder stands for."""
    return mapping.get(folder, folder)
