"""Multi-label ingestion: images with a CSV of their tags, written as images/ and a labels.csv.

The CSV needs a header naming a file column and a labels column: `file,labels` (tags separated
by spaces, as fastai's Planet data; `is_valid` optional) or Planet's own `image_name,tags`, whose
names lack the extension and whose images lie in train/. Rows are checked strictly: a row that
leads out of the folder, a file listed twice, a labels cell that is not a space-separated list
of labels, or a wrong header refuse the whole import with the line to fix. Images that do not
decode, and files the CSV does not name, are skipped and reported.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.data import images, layouts
from core.data.ingest.layout import MAX_CSV_BYTES, RANDOM_SPLIT, VALID_HEADERS, _strip_wrappers, csv_rows
from core.data.ingest.names import entry_parts, safe_stem, unique_name
from core.data.ingest.report import MULTI, Report
from core.data.ingest.sources import Cancelled, Entry, IngestCancelled, Limits, Progress
from core.data.labels import FLAG_WORDS, TAG_MARKS, check_tag, valid_flag
from core.errors import UserError

FILE_HEADERS = (
    "file",
    "fname",
    "filename",
    "file_name",
    "image_name",
    "image",
    "image_id",
    "name",
    "path",
    "id",
)
TAG_HEADERS = ("labels", "tags", "label", "tag")
# Where a name without an extension (Planet's image_name) may lie, in the order they are tried.
IMAGE_FOLDERS = ((), ("train",), ("images",))
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".gif", ".webp")
EXAMPLE = "file,labels (tags separated by spaces, e.g. a.jpg,cloudy water) or Planet's image_name,tags"


@dataclass(frozen=True)
class Row:
    """One image the CSV names, with its tags and its split (None: none given)."""

    line: int
    file: str
    tags: tuple[str, ...]
    valid: bool | None


def is_tags_header(header: list[str]) -> bool:
    """True for a header that names a file column and a column of several labels: the playground's
    own file,labels or Planet's image_name,tags (one label per image is written file,label)."""
    names = [h.strip().lower() for h in header]
    return ("tags" in names or "labels" in names) and any(h in FILE_HEADERS for h in names)


def read_rows(data: bytes | None, shown: str, limits: Limits) -> list[Row]:
    """The rows of a multi-label CSV, each checked; UserError naming the line at the first problem.

    data is None when the file was too large to read (more than MAX_CSV_BYTES).
    """
    rows = csv_rows(data, shown, limits.max_files)
    if not rows:
        raise UserError(f"{shown} is empty; it needs a header ({EXAMPLE}) and a line per image.")
    header = [h.strip().lower() for h in rows[0][1]]
    file_col = next((i for i, h in enumerate(header) if h in FILE_HEADERS), None)
    tag_col = next((i for i, h in enumerate(header) if h in TAG_HEADERS), None)
    if file_col is None or tag_col is None:
        raise UserError(
            f"{shown} starts with {','.join(rows[0][1])[:80]!r}, not a header naming a file and a "
            f"labels column; a multi-label CSV starts with {EXAMPLE}. Nothing was added."
        )
    valid_col = next((i for i, h in enumerate(header) if h in VALID_HEADERS), None)
    rows = rows[1:]
    if not rows:
        raise UserError(f"{shown} has a header but no rows; it needs a line per image. Nothing was added.")
    if len(rows) > limits.max_files:
        raise UserError(f"{shown} lists more than {limits.max_files:,} images, the limit. Nothing was added.")
    out = []
    for line, row in rows:
        where = f"{shown}, line {line}"
        if len(row) != len(header):
            raise UserError(
                f"{where} has {len(row)} cells where the header has {len(header)}: "
                f"{','.join(row)[:80]!r}. Separate an image's labels with spaces inside one cell, "
                "not with commas. Nothing was added."
            )
        rel = row[file_col].strip()
        if not rel:
            raise UserError(f"{where} names no file. Nothing was added.")
        entry_parts(rel, f"{where},")  # refuses absolute paths and '..' before anything is read
        out.append(Row(line, rel, _tags(row[tag_col], where), _valid(row, valid_col, where)))
    return out


def _tags(cell: str, where: str) -> tuple[str, ...]:
    """An image's tags from its labels cell, each a new tag (labels.check_tag), refusing a list
    written with commas, bars or brackets."""
    marks = sorted({c for c in cell if c in TAG_MARKS})
    if marks:
        raise UserError(
            f"{where}: the labels {cell.strip()[:60]!r} hold {' '.join(repr(m) for m in marks)}; "
            "write an image's labels separated by single spaces (e.g. cloudy water). Nothing was added."
        )
    try:
        return tuple(
            check_tag(t, f"{where}: the label") for t in layouts.parse_tags(cell, f"{where}: the label")
        )
    except UserError as e:
        raise UserError(f"{e} Nothing was added.") from e


def _valid(row: list[str], col: int | None, where: str) -> bool | None:
    if col is None:
        return None
    flag = valid_flag(row[col])
    if flag is None:
        raise UserError(
            f"{where}: is_valid must be true or false, not {row[col][:20]!r} (write {FLAG_WORDS}). "
            "Nothing was added."
        )
    return flag


def candidates(parts: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Where the file a row names may lie: as written, or (no extension) Planet-style in train/."""
    name = parts[-1]
    if "." in name and "." + name.rsplit(".", 1)[1].lower() in IMAGE_EXTS:
        return [parts]
    out = [parts]
    for folder in IMAGE_FOLDERS:
        out += [(*folder, *parts[:-1], name + ext) for ext in IMAGE_EXTS]
    return out


def find_csv(entries: list[Entry], csv_name: str | None) -> Entry:
    """The CSV of a multi-label set: the one named, else labels.csv, else the one top-level CSV."""
    if csv_name is not None:
        return next(e for e in entries if e.parts == (csv_name,))
    tops = [e for e in entries if len(e.parts) == 1 and e.parts[0].lower().endswith(".csv")]
    named = [e for e in tops if e.parts[0].lower() == layouts.MULTI_CSV]
    if named or len(tops) == 1:
        return (named or tops)[0]
    if not tops:
        raise UserError(
            f"There is no labels.csv beside the images; a multi-label set needs one, with {EXAMPLE}. "
            "Nothing was added."
        )
    raise UserError(
        f"There are {len(tops)} CSV files at the top ({', '.join(e.parts[0] for e in tops[:4])}); "
        "name the one with the labels labels.csv. Nothing was added."
    )


def place(
    entries: list[Entry],
    skipped: list[images.Problem],
    final: Path,
    limits: Limits,
    progress: Progress | None,
    cancelled: Cancelled | None,
    name: str,
    shown: str,
    csv_name: str | None = None,
) -> Report:
    """Check the CSV and each image it names, and write images/ and labels.csv into final."""
    if csv_name is None:
        entries = _strip_wrappers(entries)
    table = find_csv(entries, csv_name)
    size = table.file.stat().st_size
    rows = read_rows(table.file.read_bytes() if size <= MAX_CSV_BYTES else None, table.shown, limits)
    by_path = {e.parts: e for e in entries if e is not table}
    matched: list[tuple[Row, Entry]] = []
    missing, first_line = [], {}
    for row in rows:
        options = [(*table.parts[:-1], *c) for c in candidates(entry_parts(row.file, table.shown))]
        entry = next((by_path[c] for c in options if c in by_path), None)
        if entry is None:
            missing.append(row)
            continue
        if entry.parts in first_line:
            raise UserError(
                f"{table.shown} lists {row.file!r} twice (lines {first_line[entry.parts]} and {row.line}); "
                "give each image one line holding all its labels. Nothing was added."
            )
        first_line[entry.parts] = row.line
        matched.append((row, entry))
    if not matched:
        raise UserError(
            f"None of the {len(rows):,} files named in {table.shown} exist next to it (the first is "
            f"{rows[0].file!r}); paths are relative to the CSV's folder. Nothing was added."
        )
    skipped += [images.Problem(r.file, f"named in {table.shown} but not found") for r in missing]
    named = {e.parts for _, e in matched}
    skipped += [
        images.Problem(e.shown, f"not named in {table.shown}")
        for e in entries
        if e is not table and e.parts not in named
    ]
    return _write(matched, skipped, final, limits, progress, cancelled, name, shown, table.shown)


def _write(
    matched: list[tuple[Row, Entry]],
    skipped: list[images.Problem],
    final: Path,
    limits: Limits,
    progress: Progress | None,
    cancelled: Cancelled | None,
    name: str,
    shown: str,
    table: str,
) -> Report:
    """Move each image that decodes into final/images/ and write labels.csv for them."""
    folder = final / layouts.IMAGES
    folder.mkdir()
    used: set[str] = set()
    files, labels, flags = [], [], []
    for i, (row, entry) in enumerate(matched):
        if cancelled and cancelled():
            raise IngestCancelled()
        if progress and i % 25 == 0:
            progress(0.5 + 0.5 * i / len(matched), f"checked {i:,} of {len(matched):,} images")
        try:
            facts = images.inspect(entry.file, limits.max_pixels, limits.max_file_bytes)
        except images.BadImage as e:
            skipped.append(images.Problem(entry.shown, str(e)))
            continue
        file_name = unique_name(safe_stem(entry.parts[-1]), facts.extension, used)
        os.rename(entry.file, folder / file_name)
        files.append(f"{layouts.IMAGES}/{file_name}")
        labels.append(row.tags)
        flags.append(row.valid)
    counts = Counter(t for tags in labels for t in tags)
    split = _check_usable(files, counts, flags, skipped, shown, table)
    is_valid = None if split == RANDOM_SPLIT else [bool(f) for f in flags]
    layouts.write_labels_csv(final / layouts.MULTI_CSV, files, labels, is_valid)
    unlabelled = sum(1 for tags in labels if not tags)
    meta = {"task": MULTI, "labels": sorted(counts), "unlabelled": unlabelled}
    return Report(
        name,
        final,
        shown,
        dict(sorted(counts.items())),
        split,
        skipped,
        task=MULTI,
        images=len(files),
        meta=meta,
    )


def _check_usable(
    files: list[str],
    counts: Counter,
    flags: list[bool | None],
    skipped: list[images.Problem],
    shown: str,
    table: str,
) -> str:
    """Refuse a set nobody could train on; return how the split is made."""
    if not files:
        first = f" The first problem: {skipped[0].file}: {skipped[0].reason}." if skipped else ""
        raise UserError(
            f"No usable images in {shown}: the files {table} names are not {images.FORMAT_NAMES} "
            f"images.{first} Nothing was added."
        )
    if not counts:
        raise UserError(
            f"None of the images in {table} has a label (every labels cell is empty); a model "
            "needs labels to learn from. Nothing was added."
        )
    if len(counts) < 2:
        raise UserError(
            f"Every label in {table} is {next(iter(counts))!r}; a multi-label model needs at least two "
            "different labels to tell apart. Nothing was added."
        )
    if all(f is None for f in flags):
        return RANDOM_SPLIT
    n_valid = sum(1 for f in flags if f)
    if not n_valid:
        raise UserError(
            f"The is_valid column of {table} marks no usable image as validation. Nothing was added."
        )
    if n_valid == len(flags):
        raise UserError(f"The is_valid column of {table} marks every image as validation. Nothing was added.")
    return f"the is_valid column of {table}"
