"""Names: a safe dataset name, whether it is free, and the parts of a path a person handed in."""

from __future__ import annotations

import re
import unicodedata

from core import workspace
from core.data import datasets
from core.errors import UserError


def dataset_name(text: str) -> str:
    """A safe dataset name from what a person typed or a file name: a-z, 0-9 and _ only."""
    stem = re.sub(r"\.(zip|tgz|tar\.gz|tar|csv)$", "", text.strip(), flags=re.IGNORECASE)
    ascii_text = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")[:40].strip("_")
    if not name:
        raise UserError("Give the dataset a name with at least one letter or digit.")
    if name[0].isdigit():
        name = f"data_{name}"
    return name


# The trash keeps a dataset's deleted files in trash/<dataset>/, beside the trash of saved
# models and of runs: a dataset may not take their names.
RESERVED = ("models", "runs")


def check_free(name: str) -> None:
    """Refuse a dataset name that is built in, reserved for the workspace, or already taken."""
    if name in RESERVED:
        raise UserError(f"{name} is a name the workspace uses for its own folders; choose another name.")
    if name in datasets.BUILTINS:
        raise UserError(f"{name} is the name of a built-in dataset; choose another name.")
    if (workspace.subdir("datasets") / name).exists():
        raise UserError(f"A dataset called {name} already exists; choose another name.")
    from core import publish  # late: publish reads the dataset registry

    if publish.published_path("datasets", name) is not None:
        raise UserError(f"{name} is the name of a dataset the teacher published; choose another name.")


def safe_stem(raw: str) -> str:
    """A harmless file-name stem from a file's name as given (its extension dropped)."""
    stem = raw.rsplit(".", 1)[0] if "." in raw.strip(".") else raw
    text = "".join(c if c.isalnum() or c in "-_+()" else "_" for c in unicodedata.normalize("NFC", stem))
    return re.sub(r"_+", "_", text).strip("_")[:80] or "image"


def readable(text: str) -> str:
    """text with what was not UTF-8 in the bytes it came from (tar and os names keep such bytes
    as surrogate escapes, which cannot be written out again) shown as the replacement character."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            data = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            data = text.encode("utf-8", "replace")
        return data.decode("utf-8", "replace")


def readable_parts(parts: tuple[str, ...]) -> tuple[str, ...]:
    """Each part of a path made readable()."""
    return tuple(readable(p) for p in parts)


def entry_parts(name: str, where: str) -> tuple[str, ...]:
    """The path components of an archive entry or CSV row, refusing escapes."""
    name = readable(name)
    raw = name.replace("\\", "/")
    if "\x00" in raw:
        raise UserError(
            f"{where} names {name[:80]!r}, which contains a NUL byte; refused, nothing was added."
        )
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        raise UserError(
            f"{where} names the absolute path {name[:80]!r}; only paths inside the "
            "dataset are allowed. Refused, nothing was added."
        )
    parts = tuple(p for p in raw.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UserError(
            f"{where} names {name[:80]!r}, which climbs out of its folder with '..'. "
            "Refused, nothing was added."
        )
    return parts


def is_hidden(parts: tuple[str, ...]) -> bool:
    """Dot-files, __MACOSX/ and Thumbs.db: left out quietly, never reported."""
    return any(p.startswith(".") or p == "__MACOSX" or p == "Thumbs.db" for p in parts)


def unique_name(stem: str, extension: str, used: set[str]) -> str:
    """stem + extension, or stem-2, stem-3… + extension: a name no other file in `used` has.

    `used` holds the stems already taken, lower-case (file systems may ignore case, and a mask
    is found by its image's stem, so a.png and a.jpg may not both exist); the new one is added.
    """
    name, n = stem, 2
    while name.lower() in used:
        name, n = f"{stem}-{n}", n + 1
    used.add(name.lower())
    return f"{name}{extension}"
