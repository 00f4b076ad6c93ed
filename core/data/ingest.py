"""Safe ingestion: archives, folders and CSVs are checked, then copied into the workspace as datasets.

Everything a person hands in is hostile until checked. Archive entries that climb out with
`..`, absolute paths, links and special files refuse the whole archive; so do overlapping
zip entries and archives that expand past the size budget (counted while writing, not only
from what the archive declares). Files are recognised as images by their content; the rest
are skipped and reported. Work happens in a hidden temporary folder inside the workspace
that is renamed into place only when complete, and removed whatever happens otherwise.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import statistics
import struct
import tarfile
import tempfile
import time
import unicodedata
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

from core import workspace
from core.data import datasets, images
from core.errors import UserError

MB = 2**20
CHUNK = MB
SPLIT_NAMES = ("train", *datasets.VALID_NAMES)
RESERVED = {*SPLIT_NAMES, "test"}  # class names that read_image_folder would take for splits
LABEL_HEADERS = ("label", "labels", "class", "category", "target", "y")
FILE_HEADERS = ("file", "fname", "filename", "file_name", "name", "image", "path", "image_id", "id")
VALID_HEADERS = ("is_valid", "valid", "split")
MAX_CSV_BYTES = 20 * MB
TMP_PREFIX = ".tmp-ingest-"
STALE_AFTER = 6 * 3600  # seconds: a temporary folder this old was left by a crash
IMPORT_ROOT_VAR = "PLAYGROUND_IMPORT_ROOT"  # when set, folder imports must lie inside it

Progress = Callable[[float, str], None]
Cancelled = Callable[[], bool]


@dataclass(frozen=True)
class Limits:
    """How much one upload, folder or download may hold."""

    max_archive_bytes: int = 200 * MB  # the archive as uploaded (Streamlit holds it in memory)
    max_total_bytes: int = 2048 * MB  # everything extracted or copied, counted while writing
    max_file_bytes: int = images.MAX_FILE_BYTES  # one file
    max_files: int = 50_000  # entries in an archive, files in a folder, rows in a CSV
    max_pixels: int = images.PILLOW_MAX_PIXELS  # one image; more is a decompression bomb


class IngestCancelled(Exception):
    """The person (or the worker's shutdown) asked to stop; nothing was kept."""


@dataclass
class Report:
    """What was added, and every file that was left out with the reason."""

    name: str
    path: Path
    source: str
    classes: dict[str, int]
    split: str
    skipped: list[images.Problem] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)  # class as given → safe folder name
    ignored_hidden: int = 0  # dot-files and __MACOSX/ entries, left out silently

    @property
    def n_images(self) -> int:
        """Images in the new dataset."""
        return sum(self.classes.values())

    def summary(self) -> str:
        """One sentence for the page."""
        per_class = ", ".join(f"{c} {n:,}" for c, n in sorted(self.classes.items()))
        text = f"Added {self.name}: {self.n_images:,} images in {len(self.classes)} classes ({per_class})."
        if self.skipped:
            text += f" {len(self.skipped):,} file(s) skipped (listed below)."
        return text


@dataclass
class _Gathered:
    """What a source handed over: its files, plus what was left out on the way."""

    entries: list[_Entry] = field(default_factory=list)
    problems: list[images.Problem] = field(default_factory=list)
    hidden: int = 0


@dataclass(frozen=True)
class _Entry:
    """One file handed in: where it sits in the person's layout, and our temporary copy."""

    parts: tuple[str, ...]
    file: Path

    @property
    def shown(self) -> str:
        """The path as the person knows it."""
        return "/".join(self.parts)


@dataclass
class _Budget:
    """Bytes and files written so far, refused the moment a limit is passed."""

    limits: Limits
    what: str
    total: int = 0
    files: int = 0

    def add_file(self) -> None:
        """Count one more file."""
        self.files += 1
        if self.files > self.limits.max_files:
            raise UserError(
                f"{self.what} holds more than {self.limits.max_files:,} files, the "
                "limit; split it into smaller sets. Nothing was added."
            )

    def add_bytes(self, n: int) -> None:
        """Count n more bytes written."""
        self.total += n
        if self.total > self.limits.max_total_bytes:
            raise UserError(
                f"{self.what} expands to more than {human_size(self.limits.max_total_bytes)}, the "
                "limit for one dataset (a zip bomb?). Extraction stopped; nothing was added."
            )


def human_size(n: float) -> str:
    """Bytes as a person reads them: 3.2 MB, 811.7 MB, 1.2 GB."""
    if n >= 2**30:
        return f"{n / 2**30:.1f} GB"
    if n >= MB:
        return f"{n / MB:.1f} MB"
    return f"{n / 1024:.0f} KB"


# --- names ---------------------------------------------------------------------------------


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


def check_free(name: str) -> None:
    """Refuse a dataset name that is built in or already taken."""
    if name in datasets.BUILTINS:
        raise UserError(f"{name} is the name of a built-in dataset; choose another name.")
    if (workspace.subdir("datasets") / name).exists():
        raise UserError(f"A dataset called {name} already exists; choose another name.")


def safe_class_name(raw: str) -> str:
    """A class name that is a harmless folder name: letters, digits, space, - _ . + ( ) only."""
    text = unicodedata.normalize("NFC", raw)
    text = "".join(c if c.isalnum() or c in " -_.+()" else "_" for c in text)
    text = re.sub(r"_+", "_", text).strip(" ._")[:64].strip(" ._")
    if not text:
        return "unnamed"
    if text.lower() in RESERVED:
        return f"{text}_class"
    return text


def _safe_stem(raw: str) -> str:
    stem = raw.rsplit(".", 1)[0] if "." in raw.strip(".") else raw
    text = "".join(c if c.isalnum() or c in "-_+()" else "_" for c in unicodedata.normalize("NFC", stem))
    return re.sub(r"_+", "_", text).strip("_")[:80] or "image"


def _entry_parts(name: str, where: str) -> tuple[str, ...]:
    """The path components of an archive entry or CSV row, refusing escapes."""
    raw = name.replace("\\", "/")
    if "\x00" in raw:
        raise UserError(f"{where} names {name!r}, which contains a NUL byte; refused, nothing was added.")
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        raise UserError(
            f"{where} names the absolute path {name!r}; only paths inside the "
            "dataset are allowed. Refused, nothing was added."
        )
    parts = tuple(p for p in raw.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UserError(
            f"{where} names {name!r}, which climbs out of its folder with '..'. Refused, nothing was added."
        )
    return parts


def _hidden(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" or p == "Thumbs.db" for p in parts)


# --- public entry points --------------------------------------------------------------------


def add_archive(
    source: BinaryIO | Path | str,
    name: str,
    *,
    shown_as: str | None = None,
    limits: Limits = Limits(),
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    relabel: Callable[[tuple[str, ...]], tuple[str, ...] | None] | None = None,
    meta: dict | None = None,
) -> Report:
    """Check a zip or tar archive (a path or an open binary file) and add it as dataset `name`.

    relabel may rewrite each entry's path (a catalogue layout) or return None to leave it out.
    """
    name = dataset_name(name)
    check_free(name)
    shown = shown_as or (Path(source).name if isinstance(source, (str, Path)) else name)
    with _open_binary(source) as f:
        f.seek(0, io.SEEK_END)
        size = f.tell()
        f.seek(0)
        if size > limits.max_archive_bytes:
            raise UserError(
                f"{shown} is {human_size(size)}, more than the "
                f"{human_size(limits.max_archive_bytes)} limit for one upload. "
                "Nothing was added."
            )
        head = f.read(512)
        f.seek(0)
        kind = _archive_kind(head, shown)

        def gather(raw: Path, budget: _Budget) -> _Gathered:
            if kind == "zip":
                return _zip_entries(f, shown, raw, budget, progress, cancelled)
            return _tar_entries(f, shown, raw, budget, progress, cancelled)

        return _ingest(
            name, shown, f"archive {shown}", gather, limits, progress, cancelled, relabel=relabel, meta=meta
        )


def add_folder(
    path: str | Path, name: str, *, limits: Limits = Limits(), progress: Progress | None = None
) -> Report:
    """Check a folder on this machine (class folders, or train/ and valid/) and copy it in."""
    folder = _outside_folder(path)
    name = dataset_name(name)
    check_free(name)
    shown = str(folder)

    def gather(raw: Path, budget: _Budget) -> _Gathered:
        return _folder_entries(folder, raw, budget, progress)

    return _ingest(name, shown, f"folder {shown}", gather, limits, progress, None)


def add_csv(
    csv_path: str | Path, name: str, *, limits: Limits = Limits(), progress: Progress | None = None
) -> Report:
    """Check a CSV of file,label (paths relative to the CSV's folder) and copy its images in."""
    text = str(csv_path).strip()
    if not text:
        raise UserError("Give the path of the CSV file.")
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise UserError(f"{text} is not a full path; give it from the root, e.g. /data/labels.csv.")
    path = path.resolve()  # a CSV that is a link is judged (and read) where it really lies
    _check_import_root(path)
    if not path.is_file():
        raise UserError(f"There is no file {path} on the machine running the dashboard.")
    folder = _outside_folder(path.parent)
    name = dataset_name(name)
    check_free(name)
    shown = str(path)

    def gather(raw: Path, budget: _Budget) -> _Gathered:
        data = path.read_bytes() if path.stat().st_size <= MAX_CSV_BYTES else None
        rows = _read_csv(data, path.name, limits)
        found = _Gathered([_Entry((path.name,), path)])
        for i, (line, rel, _label, _valid) in enumerate(rows):
            parts = _entry_parts(rel, f"{path.name}, line {line},")
            try:
                source = workspace.safe_join(folder, *parts)
            except UserError as e:
                raise UserError(
                    f"{path.name}, line {line}, names {rel!r}, which leads outside "
                    "the CSV's folder. Refused, nothing was added."
                ) from e
            if Path(folder, *parts).is_symlink() or not source.is_file():
                continue  # reported as missing when the rows are matched
            budget.add_file()
            if source.stat().st_size > limits.max_file_bytes:
                found.problems.append(images.Problem(rel, _too_big(limits)))
                continue
            copy = raw / str(i)
            with open(source, "rb") as src:
                _copy_limited(src, copy, budget, limits, "/".join(parts))
            found.entries.append(_Entry(parts, copy))
            if progress and i % 50 == 0:
                progress(0.5 * i / max(1, len(rows)), f"copied {i:,} of {len(rows):,} files")
        return found

    return _ingest(name, shown, f"CSV {shown}", gather, limits, progress, None, csv_name=path.name)


# --- the common pipeline ---------------------------------------------------------------------


def _ingest(
    name: str,
    shown: str,
    what: str,
    gather: Callable[[Path, _Budget], _Gathered],
    limits: Limits,
    progress: Progress | None,
    cancelled: Cancelled | None,
    *,
    relabel: Callable[[tuple[str, ...]], tuple[str, ...] | None] | None = None,
    meta: dict | None = None,
    csv_name: str | None = None,
) -> Report:
    root = workspace.subdir("datasets")
    clean_stale_temps()
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=root))
    try:
        raw, final = tmp / "raw", tmp / "final"
        raw.mkdir()
        final.mkdir()
        found = gather(raw, _Budget(limits, shown))
        entries = found.entries
        if relabel is not None:
            entries = [_Entry(p, e.file) for e in entries if (p := relabel(e.parts)) is not None]
        if not entries and not found.problems:
            raise UserError(f"{shown} is empty: there are no files in it. Nothing was added.")
        plan, skipped, split = _plan(entries, shown, limits, csv_name)
        report = _place(
            plan, found.problems + skipped, final, limits, progress, cancelled, name, shown, split
        )
        report.ignored_hidden = found.hidden
        info = {
            "title": name,
            "description": f"{report.n_images:,} images in {len(report.classes)} classes, from {what}.",
            "source": what,
            "split": split,
            "classes": report.classes,
            "n_images": report.n_images,
            "renamed_classes": report.renamed,
            "skipped": [asdict(p) for p in report.skipped[:1000]],
            "n_skipped": len(report.skipped),
            "default_size": report_default_size(final),
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            **(meta or {}),
        }
        (final / datasets.META_FILE).write_text(json.dumps(info, indent=2))
        target = root / name
        if target.exists():
            raise UserError(
                f"A dataset called {name} appeared while this one was being added; choose another name."
            )
        os.rename(final, target)
        report.path = target
        if progress:
            progress(1.0, report.summary())
        return report
    except OSError as e:
        raise UserError(
            f"Could not write the dataset into the workspace ({e.strerror or e}). Nothing was added."
        ) from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def clean_stale_temps() -> int:
    """Remove temporary folders left by an ingestion that crashed long ago; returns how many."""
    root = workspace.subdir("datasets")
    removed = 0
    for p in root.glob(".tmp-*"):  # ingestions, and built-ins whose writing was cut short
        try:
            if time.time() - p.stat().st_mtime > STALE_AFTER:
                shutil.rmtree(p, ignore_errors=True)
                removed += 1
        except OSError:
            pass
    return removed


@dataclass(frozen=True)
class _Planned:
    entry: _Entry
    split: str | None  # "train", "valid" or None (a random split when training)
    label: str  # as the person named it
    stem: tuple[str, ...]  # the path below the class folder, for the new file's name


def _strip_wrappers(entries: list[_Entry]) -> list[_Entry]:
    """Drop folders that wrap everything (toys/cats/a.png → cats/a.png), keeping one level."""
    while entries and all(len(e.parts) >= 2 for e in entries):
        if len({e.parts[0] for e in entries}) != 1 or all(len(e.parts) == 2 for e in entries):
            break
        entries = [_Entry(e.parts[1:], e.file) for e in entries]
    return entries


RANDOM_SPLIT = (
    "none in the data: a random 20% becomes the validation set when training, chosen by the run's seed"
)


def _plan(
    entries: list[_Entry], shown: str, limits: Limits, csv_name: str | None
) -> tuple[list[_Planned], list[images.Problem], str]:
    """Which file belongs to which class and split, from the layout the person used.

    train/ and valid/ folders come first, then a top-level CSV with a label column, then
    class folders.
    """
    if csv_name is not None:
        return _plan_csv(next(e for e in entries if e.parts == (csv_name,)), entries, limits)
    entries = _strip_wrappers(entries)
    tops = {e.parts[0] for e in entries if len(e.parts) > 1}
    skipped: list[images.Problem] = []
    valid_name = next((n for n in datasets.VALID_NAMES if n in tops), None)
    if "train" in tops and valid_name:
        plan, ignored = [], Counter()
        for e in entries:
            if len(e.parts) >= 3 and e.parts[0] in ("train", valid_name):
                split = "train" if e.parts[0] == "train" else "valid"
                plan.append(_Planned(e, split, e.parts[1], e.parts[2:]))
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
        return plan, skipped, f"the train/ and {valid_name}/ folders of {shown}"
    csv_entry = _labels_csv(entries)
    if csv_entry is not None:
        return _plan_csv(csv_entry, entries, limits)
    plan = []
    for e in entries:
        if len(e.parts) >= 2:
            plan.append(_Planned(e, None, e.parts[0], e.parts[1:]))
        else:
            skipped.append(images.Problem(e.shown, "not inside a class folder"))
    return plan, skipped, RANDOM_SPLIT


def _labels_csv(entries: list[_Entry]) -> _Entry | None:
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


def _read_csv(data: bytes | None, shown: str, limits: Limits) -> list[tuple[int, str, str, bool | None]]:
    """(line, file, label, is_valid or None) for each row of a file,label CSV."""
    if data is None:
        raise UserError(f"{shown} is larger than {human_size(MAX_CSV_BYTES)}; that is not a labels file.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(f"{shown} is not a text file (it is not UTF-8). Nothing was added.") from e
    try:
        rows = [(i + 1, r) for i, r in enumerate(csv.reader(io.StringIO(text))) if any(c.strip() for c in r)]
    except csv.Error as e:
        raise UserError(f"{shown} is not a readable CSV ({e}). Nothing was added.") from e
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
            valid = row[valid_col].strip().lower() in ("1", "true", "yes", "valid", "validation", "val")
        out.append((line, row[file_col].strip(), row[label_col].strip(), valid))
    return out


def _plan_csv(
    csv_entry: _Entry, entries: list[_Entry], limits: Limits
) -> tuple[list[_Planned], list[images.Problem], str]:
    csv_shown = csv_entry.shown
    size = csv_entry.file.stat().st_size
    rows = _read_csv(csv_entry.file.read_bytes() if size <= MAX_CSV_BYTES else None, csv_shown, limits)
    base = csv_entry.parts[:-1]
    by_path = {e.parts: e for e in entries if e is not csv_entry}
    plan, skipped, missing, seen = [], [], [], set()
    for line, rel, label, valid in rows:
        parts = base + _entry_parts(rel, f"{csv_shown}, line {line},")
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
        plan.append(_Planned(entry, split, label, parts[-1:]))
    if rows and len(missing) == len(rows):
        raise UserError(
            f"None of the {len(rows):,} files named in {csv_shown} exist next to it "
            f"(the first is {missing[0]!r}); paths are relative to the CSV's folder. "
            "Nothing was added."
        )
    for rel in missing:
        skipped.append(images.Problem(rel, f"named in {csv_shown} but not found"))
    if any(p.split is not None for p in plan):
        return plan, skipped, f"the is_valid column of {csv_shown}"
    return plan, skipped, RANDOM_SPLIT


def _place(
    plan: list[_Planned],
    skipped: list[images.Problem],
    final: Path,
    limits: Limits,
    progress: Progress | None,
    cancelled: Cancelled | None,
    name: str,
    shown: str,
    split: str,
) -> Report:
    """Check each planned file as an image and move the good ones into safe class folders."""
    folder_of: dict[str, str] = {}  # label as given → safe folder name
    taken: set[str] = set()  # safe folder names, lower-case (file systems may ignore case)
    used: set[str] = set()
    counts: Counter = Counter()
    per_split: Counter = Counter()
    for i, item in enumerate(plan):
        if cancelled and cancelled():
            raise IngestCancelled()
        if progress and i % 25 == 0:
            progress(0.5 + 0.5 * i / max(1, len(plan)), f"checked {i:,} of {len(plan):,} images")
        try:
            facts = images.inspect(item.entry.file, limits.max_pixels, limits.max_file_bytes)
        except images.BadImage as e:
            skipped.append(images.Problem(item.entry.shown, str(e)))
            continue
        if item.label not in folder_of:
            safe, base, n = safe_class_name(item.label), safe_class_name(item.label), 2
            while safe.lower() in taken:
                safe, n = f"{base}_{n}", n + 1
            taken.add(safe.lower())
            folder_of[item.label] = safe
        cls = folder_of[item.label]
        parent = final / item.split / cls if item.split else final / cls
        stem = _safe_stem("_".join(item.stem))
        file_name, n = f"{stem}{facts.extension}", 2
        while f"{parent}/{file_name}".lower() in used:
            file_name, n = f"{stem}-{n}{facts.extension}", n + 1
        used.add(f"{parent}/{file_name}".lower())
        parent.mkdir(parents=True, exist_ok=True)
        os.rename(item.entry.file, parent / file_name)
        counts[cls] += 1
        per_split[item.split] += 1
    if not counts:
        first = f" The first problem: {skipped[0].file}: {skipped[0].reason}." if skipped else ""
        raise UserError(
            f"No usable images in {shown}: expected class folders (like cats/… and "
            f"dogs/…) holding {images.FORMAT_NAMES} images.{first} Nothing was added."
        )
    if len(counts) < 2:
        (only,) = counts
        raise UserError(
            f"{shown} has images of one class only ({only}); a classifier needs at "
            "least two classes. Nothing was added."
        )
    if per_split["valid"] and not per_split["train"]:
        raise UserError(f"{shown} has validation images but no training images. Nothing was added.")
    if per_split["train"] and not per_split["valid"]:
        raise UserError(
            f"{shown} has no usable validation images; put some in valid/ or leave "
            "out the split folders. Nothing was added."
        )
    renamed = {label: safe for label, safe in folder_of.items() if label != safe}
    return Report(name, final, shown, dict(counts), split, skipped, renamed)


def report_default_size(folder: Path) -> int:
    """An image size to train at by default: the typical short side, between 16 and 64 pixels."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != datasets.META_FILE)
    sample = files[:: max(1, len(files) // 200)]
    sides = [min(w, h) for w, h in images.image_sizes(folder, [str(p) for p in sample]) if w and h]
    if not sides:
        return 32
    return int(min(64, max(16, statistics.median(sides))))


# --- sources -----------------------------------------------------------------------------------


class _open_binary:
    """A context manager over a path (opened here) or a file object (left open)."""

    def __init__(self, source: BinaryIO | Path | str):
        self.source, self.handle = source, None

    def __enter__(self) -> BinaryIO:
        if isinstance(self.source, (str, Path)):
            self.handle = open(self.source, "rb")
            return self.handle
        return self.source

    def __exit__(self, *_):
        if self.handle is not None:
            self.handle.close()


def _archive_kind(head: bytes, shown: str) -> str:
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")) or head[257:262] == b"ustar":
        return "tar"
    raise UserError(
        f"{shown} is not a zip or tar archive: {images.describe_content(head)}. "
        "Upload a .zip of class folders."
    )


def _copy_limited(src: BinaryIO, dst: Path, budget: _Budget, limits: Limits, shown: str) -> None:
    """Copy in chunks, counting every byte against the budget as it is written."""
    written = 0
    with open(dst, "wb") as out:
        while chunk := src.read(CHUNK):
            written += len(chunk)
            if written > limits.max_file_bytes:
                raise UserError(
                    f"{shown} expands to more than {human_size(limits.max_file_bytes)}, the "
                    "limit for one file (a zip bomb?). Nothing was added."
                )
            budget.add_bytes(len(chunk))
            out.write(chunk)


def _too_big(limits: Limits) -> str:
    return f"it is larger than the {human_size(limits.max_file_bytes)} limit for one file"


def _zip_entries(
    f: BinaryIO,
    shown: str,
    raw: Path,
    budget: _Budget,
    progress: Progress | None,
    cancelled: Cancelled | None,
) -> _Gathered:
    limits = budget.limits
    try:
        zf = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise UserError(f"{shown} is not a readable zip file ({e}). Nothing was added.") from e
    found = _Gathered()
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_files:
            raise UserError(
                f"{shown} holds {len(infos):,} entries, more than the "
                f"{limits.max_files:,} limit. Nothing was added."
            )
        twice = [n for n, c in Counter(i.filename for i in infos).items() if c > 1]
        if twice:
            raise UserError(
                f"{shown} holds the entry {twice[0]!r} more than once; refused, nothing was added."
            )
        declared = 0
        for info in infos:
            parts = _entry_parts(info.filename, f"The archive {shown}")
            if ((info.external_attr >> 16) & 0o170000) == 0o120000:
                raise UserError(
                    f"The entry {info.filename!r} in {shown} is a symbolic link; links "
                    "could point outside the dataset. Refused, nothing was added."
                )
            if parts and not info.is_dir():
                declared += info.file_size
        if declared > limits.max_total_bytes:
            raise UserError(
                f"{shown} would expand to {human_size(declared)}, more than the "
                f"{human_size(limits.max_total_bytes)} limit (a zip bomb?). "
                "Nothing was added."
            )
        _check_overlaps(f, infos, getattr(zf, "start_dir", None), shown)
        for i, info in enumerate(infos):
            if cancelled and cancelled():
                raise IngestCancelled()
            parts = _entry_parts(info.filename, f"The archive {shown}")
            if info.is_dir() or not parts:
                continue
            if _hidden(parts):
                found.hidden += 1
                continue
            budget.add_file()
            if info.flag_bits & 0x1:
                raise UserError(
                    f"{shown} is encrypted ({info.filename} needs a password); "
                    "upload an unencrypted zip. Nothing was added."
                )
            if info.file_size > limits.max_file_bytes:
                found.problems.append(images.Problem("/".join(parts), _too_big(limits)))
                continue
            target = raw / str(i)
            try:
                with zf.open(info) as src:
                    _copy_limited(src, target, budget, limits, "/".join(parts))
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as e:
                raise UserError(
                    f"The entry {info.filename!r} of {shown} is damaged ({e}). Nothing was added."
                ) from e
            found.entries.append(_Entry(parts, target))
            if progress and i % 50 == 0:
                progress(0.5 * i / max(1, len(infos)), f"extracted {i:,} of {len(infos):,} files")
    return found


def _check_overlaps(f: BinaryIO, infos: Iterable[zipfile.ZipInfo], start_dir: int | None, shown: str) -> None:
    """Refuse entries whose bytes overlap (how the smallest zip bombs reuse one payload)."""
    spans = []
    for info in infos:
        f.seek(info.header_offset)
        header = f.read(30)
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise UserError(
                f"{shown} is damaged: the entry {info.filename!r} points to no file "
                "header. Nothing was added."
            )
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        end = info.header_offset + 30 + name_len + extra_len + info.compress_size
        spans.append((info.header_offset, end, info.filename))
    spans.sort(key=lambda s: (s[0], s[2]))
    for (_start_a, end_a, name_a), (start_b, _end_b, name_b) in zip(spans, spans[1:]):
        if end_a > start_b:
            raise UserError(
                f"{shown} has overlapping entries ({name_a!r} and {name_b!r} share "
                "bytes), a trick used by zip bombs. Refused, nothing was added."
            )
    if spans and start_dir is not None and spans[-1][1] > start_dir:
        raise UserError(
            f"{shown} is damaged: the entry {spans[-1][2]!r} runs into the zip's "
            "directory. Nothing was added."
        )


def _tar_entries(
    f: BinaryIO,
    shown: str,
    raw: Path,
    budget: _Budget,
    progress: Progress | None,
    cancelled: Cancelled | None,
) -> _Gathered:
    limits = budget.limits
    found, i = _Gathered(), 0
    try:
        with tarfile.open(fileobj=f, mode="r|*") as tar:
            for member in tar:
                if cancelled and cancelled():
                    raise IngestCancelled()
                i += 1
                parts = _entry_parts(member.name, f"The archive {shown}")
                if member.issym() or member.islnk():
                    raise UserError(
                        f"The entry {member.name!r} in {shown} is a link; links could "
                        "point outside the dataset. Refused, nothing was added."
                    )
                if member.isdir() or not parts:
                    continue
                if not member.isfile():
                    raise UserError(
                        f"The entry {member.name!r} in {shown} is a device or special "
                        "file. Refused, nothing was added."
                    )
                if _hidden(parts):
                    found.hidden += 1
                    continue
                budget.add_file()
                if member.size > limits.max_file_bytes:
                    found.problems.append(images.Problem("/".join(parts), _too_big(limits)))
                    continue
                target = raw / str(i)
                _copy_limited(tar.extractfile(member), target, budget, limits, "/".join(parts))
                found.entries.append(_Entry(parts, target))
                if progress and i % 50 == 0:
                    progress(0.25, f"extracted {i:,} files")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise UserError(f"{shown} is damaged or cut short ({e}). Nothing was added.") from e
    return found


def _check_import_root(path: Path) -> None:
    """Refuse a resolved path outside $PLAYGROUND_IMPORT_ROOT, when that is set."""
    allowed = os.environ.get(IMPORT_ROOT_VAR)
    if allowed and not workspace.inside(path, Path(allowed)):
        raise UserError(f"Only folders inside {allowed} may be imported on this server ({IMPORT_ROOT_VAR}).")


def _outside_folder(path: str | Path) -> Path:
    """A folder on this machine that a person may import from."""
    text = str(path).strip()
    if not text:
        raise UserError("Give the path of a folder on the machine running the dashboard.")
    folder = Path(text).expanduser()
    if not folder.is_absolute():
        raise UserError(f"{text} is not a full path; give it from the root, e.g. /data/pets.")
    folder = folder.resolve()
    _check_import_root(folder)  # before saying whether it exists
    if not folder.is_dir():
        raise UserError(f"There is no folder {folder} on the machine running the dashboard.")
    if workspace.inside(folder, workspace.subdir("datasets")):
        raise UserError(
            f"{folder} is already one of the workspace's datasets; choose it from the list instead."
        )
    return folder


def _folder_entries(folder: Path, raw: Path, budget: _Budget, progress: Progress | None) -> _Gathered:
    limits = budget.limits
    found = _Gathered()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        here = Path(dirpath)
        for d in sorted(dirnames):
            if (here / d).is_symlink():
                rel = (here / d).relative_to(folder).as_posix()
                found.problems.append(images.Problem(rel + "/", "a link to a folder, not followed"))
        dirnames[:] = sorted(d for d in dirnames if not (here / d).is_symlink())
        for fname in sorted(filenames):
            path = here / fname
            parts = path.relative_to(folder).parts
            shown = "/".join(parts)
            if _hidden(parts):
                found.hidden += 1
                continue
            if path.is_symlink():
                found.problems.append(images.Problem(shown, "a link, not followed"))
                continue
            if not path.is_file():
                found.problems.append(images.Problem(shown, "not a regular file"))
                continue
            budget.add_file()
            if path.stat().st_size > limits.max_file_bytes:
                found.problems.append(images.Problem(shown, _too_big(limits)))
                continue
            target = raw / str(len(found.entries))
            with open(path, "rb") as src:
                _copy_limited(src, target, budget, limits, shown)
            found.entries.append(_Entry(parts, target))
            if progress and len(found.entries) % 50 == 0:
                progress(0.25, f"copied {len(found.entries):,} files")
    return found
