"""Layout: which file belongs to which label and split, from class folders, train/ + valid/ or a CSV."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass

from core.data import datasets, images
from core.data.ingest.names import entry_parts
from core.data.ingest.sources import Entry, Limits
from core.data.labels import FLAG_WORDS, valid_flag
from core.errors import UserError
from core.fsutil import MB, human_size

LABEL_HEADERS = ("label", "labels", "class", "category", "target", "y")
FILE_HEADERS = ("file", "fname", "filename", "file_name", "name", "image", "path", "image_id", "id")
VALID_HEADERS = ("is_valid", "valid", "split")
MAX_CSV_BYTES = 20 * MB
RANDOM_SPLIT = (
    "none in the data: a random 20% becomes the validation set when training, chosen by the run's seed"
)


@dataclass(frozen=True)
class Planned:
    """One file's place in the new dataset, before its content is checked."""

    entry: Entry
    split: str | None  # "train", "valid" or None (a random split when training)
    label: str  # as the person named it: a class folder's name or a CSV's label cell
    stem: tuple[str, ...]  # the path below the class folder, for the new file's name


def _strip_wrappers(entries: list[Entry]) -> list[Entry]:
    """Drop folders that wrap everything (toys/cats/a.png → cats/a.png), keeping one level."""
    while entries and all(len(e.parts) >= 2 for e in entries):
        if len({e.parts[0] for e in entries}) != 1 or all(len(e.parts) == 2 for e in entries):
            break
        entries = [Entry(e.parts[1:], e.file) for e in entries]
    return entries


def plan(
    entries: list[Entry], shown: str, limits: Limits, csv_name: str | None
) -> tuple[list[Planned], list[images.Problem], str]:
    """Which file belongs to which label and split, from the layout the person used.

    train/ and valid/ folders come first, then a top-level CSV with a label column, then
    class folders. Returns the plan, the files left out with why, and how the split was made.
    """
    if csv_name is not None:
        return _plan_csv(next(e for e in entries if e.parts == (csv_name,)), entries, limits)
    entries = _strip_wrappers(entries)
    tops = {e.parts[0] for e in entries if len(e.parts) > 1}
    skipped: list[images.Problem] = []
    valid_name = next((n for n in datasets.VALID_NAMES if n in tops), None)
    if "train" in tops and valid_name:
        planned, ignored = [], Counter()
        for e in entries:
            if len(e.parts) >= 3 and e.parts[0] in ("train", valid_name):
                split = "train" if e.parts[0] == "train" else "valid"
                planned.append(Planned(e, split, e.parts[1], e.parts[2:]))
            elif len(e.parts) > 1 and e.parts[0] not in ("train", valid_name):
                ignored[e.parts[0] + "/"] += 1
            else:
                skipped.append(images.Problem(e.shown, "not inside a class folder"))
        for folder, n in sorted(ignored.items()):
            why = (
                "a test/ folder has no labels"
                if folder.startswith("test")
                else "only train/ and valid/ hold labelled images"
            )
            skipped.append(images.Problem(folder, f"{n:,} file(s) left out: {why}"))
        return planned, skipped, f"the train/ and {valid_name}/ folders of {shown}"
    csv_entry = _labels_csv(entries)
    if csv_entry is not None:
        return _plan_csv(csv_entry, entries, limits)
    planned = []
    for e in entries:
        if len(e.parts) >= 2:
            planned.append(Planned(e, None, e.parts[0], e.parts[1:]))
        else:
            skipped.append(images.Problem(e.shown, "not inside a class folder"))
    return planned, skipped, RANDOM_SPLIT


def _labels_csv(entries: list[Entry]) -> Entry | None:
    """A top-level CSV whose header names a label column, when there is one."""
    for e in entries:
        if len(e.parts) == 1 and e.parts[0].lower().endswith(".csv"):
            try:
                with open(e.file, encoding="utf-8-sig", errors="replace") as f:
                    header = [h.strip().lower() for h in next(csv.reader(f), [])]
            except (OSError, csv.Error):
                continue
            if any(h in LABEL_HEADERS for h in header):
                return e
    return None


def csv_header(entries: list[Entry], csv_name: str | None = None) -> list[str] | None:
    """The header row of the set's labels CSV: the one named, else a top-level one (labels.csv first)."""
    if csv_name is None:
        entries = _strip_wrappers(entries)
    tops = [e for e in entries if len(e.parts) == 1 and e.parts[0].lower().endswith(".csv")]
    if csv_name is not None:
        tops = [e for e in tops if e.parts == (csv_name,)]
    tops.sort(key=lambda e: e.parts[0].lower() != "labels.csv")
    if not tops:
        return None
    try:
        with open(tops[0].file, encoding="utf-8-sig", errors="replace") as f:
            return next(csv.reader(f), None)
    except (OSError, csv.Error):
        return None


def csv_rows(data: bytes | None, shown: str, max_rows: int | None = None) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every non-blank row of an uploaded labels CSV (UTF-8, a BOM allowed);
    UserError when it is too large (data None), not UTF-8, or not CSV.

    With max_rows, reading stops (refused) once more than max_rows rows follow the first one,
    before the rest is parsed.
    """
    if data is None:
        raise UserError(f"{shown} is larger than {human_size(MAX_CSV_BYTES)}; that is not a labels file.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(f"{shown} is not a text file (it is not UTF-8). Nothing was added.") from e
    rows: list[tuple[int, list[str]]] = []
    try:
        for i, row in enumerate(csv.reader(io.StringIO(text))):
            if any(c.strip() for c in row):
                rows.append((i + 1, row))
                if max_rows is not None and len(rows) > max_rows + 1:
                    raise UserError(
                        f"{shown} lists more than {max_rows:,} images, the limit. Nothing was added."
                    )
    except csv.Error as e:
        raise UserError(f"{shown} is not a readable CSV ({e}). Nothing was added.") from e
    return rows


def read_csv(data: bytes | None, shown: str, limits: Limits) -> list[tuple[int, str, str, bool | None]]:
    """(line, file, label, is_valid or None) for each row of a file,label CSV.

    data is None when the file was too large to read (more than MAX_CSV_BYTES).
    """
    rows = csv_rows(data, shown, limits.max_files)
    if not rows:
        raise UserError(f"{shown} has no rows; it needs a file,label line per image.")
    header = [h.strip().lower() for h in rows[0][1]]
    file_col, label_col, valid_col = 0, 1, None
    if any(h in LABEL_HEADERS for h in header):
        label_col = next(i for i, h in enumerate(header) if h in LABEL_HEADERS)
        file_col = next(
            (i for i, h in enumerate(header) if h in FILE_HEADERS and i != label_col),
            0 if label_col != 0 else 1,
        )
        valid_col = next((i for i, h in enumerate(header) if h in VALID_HEADERS), None)
        rows = rows[1:]
    if not rows:
        raise UserError(f"{shown} has a header but no rows; it needs a file,label line per image.")
    if len(rows) > limits.max_files:
        raise UserError(f"{shown} lists more than {limits.max_files:,} images, the limit.")
    out = []
    for line, row in rows:
        if len(row) <= max(file_col, label_col):
            raise UserError(
                f"{shown}, line {line}: expected a file and a label separated by a "
                f"comma, found {','.join(row)!r}. Nothing was added."
            )
        valid = None
        if valid_col is not None and valid_col < len(row):
            valid = valid_flag(row[valid_col])
            if valid is None:
                raise UserError(
                    f"{shown}, line {line}: the {header[valid_col]} column must say true or false, not "
                    f"{row[valid_col][:20]!r} (write {FLAG_WORDS}). Nothing was added."
                )
        out.append((line, row[file_col].strip(), row[label_col].strip(), valid))
    return out


def _plan_csv(
    csv_entry: Entry, entries: list[Entry], limits: Limits
) -> tuple[list[Planned], list[images.Problem], str]:
    csv_shown = csv_entry.shown
    size = csv_entry.file.stat().st_size
    rows = read_csv(csv_entry.file.read_bytes() if size <= MAX_CSV_BYTES else None, csv_shown, limits)
    base = csv_entry.parts[:-1]
    by_path = {e.parts: e for e in entries if e is not csv_entry}
    planned, skipped, missing, seen = [], [], [], set()
    for line, rel, label, valid in rows:
        parts = base + entry_parts(rel, f"{csv_shown}, line {line},")
        if not label:
            skipped.append(images.Problem(rel, f"line {line} of {csv_shown} gives no label"))
            continue
        if parts in seen:
            skipped.append(images.Problem(rel, f"listed again on line {line} of {csv_shown}"))
            continue
        seen.add(parts)
        entry = by_path.get(parts)
        if entry is None:
            missing.append(rel)
            continue
        split = None if valid is None else ("valid" if valid else "train")
        planned.append(Planned(entry, split, label, parts[-1:]))
    if rows and len(missing) == len(rows):
        raise UserError(
            f"None of the {len(rows):,} files named in {csv_shown} exist next to it "
            f"(the first is {missing[0]!r}); paths are relative to the CSV's folder. "
            "Nothing was added."
        )
    for rel in missing:
        skipped.append(images.Problem(rel, f"named in {csv_shown} but not found"))
    if any(p.split is not None for p in planned):
        return planned, skipped, f"the is_valid column of {csv_shown}"
    return planned, skipped, RANDOM_SPLIT
