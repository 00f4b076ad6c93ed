"""Placing: check each planned image, write the dataset in a hidden temp folder, rename it into place.

Work happens in a hidden temporary folder inside the workspace that is renamed into place only
when complete (images, labels.json and dataset.json), and removed whatever happens otherwise;
folders left by a crash long ago are cleaned on the next ingestion.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from core import workspace
from core.data import datasets, images, labels
from core.data.ingest import layout, multi, seg
from core.data.ingest.names import safe_stem
from core.data.ingest.report import MULTI, SEG, SINGLE, TASKS, Report, summary_text  # noqa: F401 - re-exported
from core.data.ingest.sources import Budget, Cancelled, Entry, Gathered, IngestCancelled, Limits, Progress
from core.errors import UserError
from core.fsutil import atomic_write, fsync_dir

TMP_PREFIX = ".tmp-ingest-"
STALE_AFTER = 6 * 3600  # seconds: a temporary folder this old was left by a crash
# Names at a dataset's top that are files of ours, so never a class folder.
OWN_FILES = (datasets.META_FILE, datasets.FLIPPED_FILE, labels.MAPPING_FILE)

Gather = Callable[[Path, Budget], Gathered]
Relabel = Callable[[tuple[str, ...]], tuple[str, ...] | None]


def build(
    name: str,
    shown: str,
    what: str,
    gather: Gather,
    limits: Limits,
    progress: Progress | None,
    cancelled: Cancelled | None,
    *,
    relabel: Relabel | None = None,
    meta: dict | None = None,
    csv_name: str | None = None,
    task: str | None = None,
) -> Report:
    """Gather a source into a temp folder, plan and check it, and rename it in as dataset name.

    task says what the labels are (single_label, multi_label, segmentation); None finds it
    from the layout (detect_task). Nothing is left behind on any failure: the temporary folder
    goes whatever happens.
    """
    if task is not None and task not in TASKS:
        raise UserError(
            f"{task!r} is not a kind of labels that can be added; choose one of {', '.join(TASKS)}."
        )
    root = workspace.subdir("datasets")
    clean_stale_temps()
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=root))
    try:
        raw, final = tmp / "raw", tmp / "final"
        raw.mkdir()
        final.mkdir()
        found = gather(raw, Budget(limits, shown))
        entries = found.entries
        if relabel is not None:
            entries = [Entry(p, e.file) for e in entries if (p := relabel(e.parts)) is not None]
        if not entries and not found.problems:
            raise UserError(f"{shown} is empty: there are no files in it. Nothing was added.")
        kind = task or detect_task(entries, csv_name)
        if kind == MULTI:
            report = multi.place(
                entries, found.problems, final, limits, progress, cancelled, name, shown, csv_name
            )
        elif kind == SEG:
            report = seg.place(entries, found.problems, final, limits, progress, cancelled, name, shown)
        else:
            planned, skipped, split = layout.plan(entries, shown, limits, csv_name)
            problems = found.problems + skipped
            report = _place(planned, problems, final, limits, progress, cancelled, name, shown, split)
        report.ignored_hidden = found.hidden
        info = {
            "title": name,
            "description": report.description(what),
            "task": report.task,
            **report.meta,
            "source": what,
            "split": report.split,
            "classes": report.classes,
            "n_images": report.n_images,
            "renamed_classes": report.renamed,
            "skipped": [asdict(p) for p in report.skipped[:1000]],
            "n_skipped": len(report.skipped),
            "default_size": report_default_size(final),
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            **(meta or {}),
        }
        atomic_write(final / datasets.META_FILE, json.dumps(info, indent=2))
        target = root / name
        if target.exists():
            raise UserError(
                f"A dataset called {name} appeared while this one was being added; choose another name."
            )
        os.rename(final, target)
        fsync_dir(root)
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


def detect_task(entries: list[Entry], csv_name: str | None = None) -> str:
    """What the labels of a set handed in are, from its layout: segmentation for images/ beside
    codes.txt or palette.csv, multi_label for a CSV with a labels or tags column (file,labels or
    Planet's image_name,tags), else single_label (file,label).
    """
    if csv_name is None and seg.looks_like(entries):
        return SEG
    header = layout.csv_header(entries, csv_name)
    return MULTI if header is not None and multi.is_tags_header(header) else SINGLE


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


def report_default_size(folder: Path) -> int:
    """An image size to train at by default: the typical short side, between 16 and 64 pixels."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in OWN_FILES)
    sample = files[:: max(1, len(files) // 200)]
    sides = [min(w, h) for w, h in images.image_sizes(folder, [str(p) for p in sample]) if w and h]
    if not sides:
        return 32
    return int(min(64, max(16, statistics.median(sides))))


def _usable_labels(planned: list[layout.Planned], skipped: list[images.Problem]) -> list[layout.Planned]:
    """The planned files whose label is usable text; the rest are listed as skipped."""
    out = []
    for item in planned:
        try:
            labels.check_label(item.label, "its label")
        except UserError as e:
            skipped.append(images.Problem(item.entry.shown, str(e)))
            continue
        out.append(item)
    return out


def _place(
    planned: list[layout.Planned],
    skipped: list[images.Problem],
    final: Path,
    limits: Limits,
    progress: Progress | None,
    cancelled: Cancelled | None,
    name: str,
    shown: str,
    split: str,
) -> Report:
    """Check each planned file as an image and move the good ones into their labels' folders.

    Each label gets a distinct safe folder (labels.folder_names); labels.json in `final` says
    which label a renamed folder stands for.
    """
    planned = _usable_labels(planned, skipped)
    folder_of = labels.folder_names({p.label for p in planned}, taken=OWN_FILES)
    used: set[str] = set()  # file paths written, lower-case (file systems may ignore case)
    counts: Counter = Counter()  # label → images
    per_split: Counter = Counter()
    for i, item in enumerate(planned):
        if cancelled and cancelled():
            raise IngestCancelled()
        if progress and i % 25 == 0:
            progress(0.5 + 0.5 * i / max(1, len(planned)), f"checked {i:,} of {len(planned):,} images")
        try:
            facts = images.inspect(item.entry.file, limits.max_pixels, limits.max_file_bytes)
        except images.BadImage as e:
            skipped.append(images.Problem(item.entry.shown, str(e)))
            continue
        folder = folder_of[item.label]
        parent = final / item.split / folder if item.split else final / folder
        stem = safe_stem("_".join(item.stem))
        file_name, n = f"{stem}{facts.extension}", 2
        while f"{parent}/{file_name}".lower() in used:
            file_name, n = f"{stem}-{n}{facts.extension}", n + 1
        used.add(f"{parent}/{file_name}".lower())
        parent.mkdir(parents=True, exist_ok=True)
        os.rename(item.entry.file, parent / file_name)
        counts[item.label] += 1
        per_split[item.split] += 1
    _refuse_unusable(counts, per_split, skipped, shown)
    kept = {label: folder_of[label] for label in counts}
    atomic_write(final / labels.MAPPING_FILE, labels.mapping_text(kept))
    renamed = {label: folder for label, folder in kept.items() if label != folder}
    return Report(name, final, shown, dict(counts), split, skipped, renamed)


def _refuse_unusable(counts: Counter, per_split: Counter, skipped: list[images.Problem], shown: str) -> None:
    """Refuse a result nobody could train on: no images, one class, or a one-sided split."""
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
