"""Safe ingestion: add_archive, add_folder and add_csv check what a person hands in and add a dataset.

Each takes task: "single_label" (class folders, train/ + valid/, a file,label CSV),
"multi_label" (images with a CSV of space-separated tags, core.data.ingest.multi),
"segmentation" (images/ with masks and codes.txt or palette.csv, core.data.ingest.seg), or
None to find it from the layout (place.detect_task).

The parts live in their own modules: names (dataset names, entry paths), sources (limits,
budgets, reading folders and CSVs' files: Limits, IngestCancelled), archives (zips and tars,
bombs cut off), layout (which file is which label and split), multi, seg and masks (the other
tasks' layouts and checks), place (the temp folder renamed into place, clean_stale_temps),
report (Report: what was added).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

from core.data.ingest import archives, layout, multi, place, sources
from core.data.ingest.names import check_free, dataset_name, entry_parts
from core.data.ingest.place import Relabel
from core.data.ingest.report import MULTI, SEG, Report
from core.data.ingest.sources import Budget, Cancelled, Gathered, Limits, Progress
from core.errors import UserError
from core.fsutil import human_size

DEFAULTS = Limits()  # what one upload, folder or CSV may hold unless a caller says otherwise


def add_archive(
    source: BinaryIO | Path | str,
    name: str,
    *,
    shown_as: str | None = None,
    limits: Limits = DEFAULTS,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    relabel: Relabel | None = None,
    meta: dict | None = None,
    task: str | None = None,
) -> Report:
    """Check a zip or tar archive (a path or an open binary file) and add it as dataset `name`.

    relabel may rewrite each entry's path (a catalogue layout) or return None to leave it out;
    meta adds to (or overrides) what dataset.json records; task as the module says.
    """
    name = dataset_name(name)
    check_free(name)
    shown = shown_as or (Path(source).name if isinstance(source, (str, Path)) else name)
    with sources.open_binary(source) as f:
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
        kind = sources.archive_kind(head, shown)

        def gather(raw: Path, budget: Budget) -> Gathered:
            read = archives.zip_entries if kind == "zip" else archives.tar_entries
            keep = None if relabel is None else (lambda parts: relabel(parts) is not None)
            return read(f, shown, raw, budget, progress, cancelled, keep)

        what = f"archive {shown}"
        return place.build(
            name, shown, what, gather, limits, progress, cancelled, relabel=relabel, meta=meta, task=task
        )


def add_folder(
    path: str | Path,
    name: str,
    *,
    limits: Limits = DEFAULTS,
    progress: Progress | None = None,
    task: str | None = None,
) -> Report:
    """Check a folder on this machine (class folders, train/ and valid/, a labels.csv beside
    images, images/ with masks/) and copy it in."""
    folder = sources.outside_folder(path)
    name = dataset_name(name)
    check_free(name)
    shown = str(folder)

    def gather(raw: Path, budget: Budget) -> Gathered:
        return sources.folder_entries(folder, raw, budget, progress)

    return place.build(name, shown, f"folder {shown}", gather, limits, progress, None, task=task)


def add_csv(
    csv_path: str | Path,
    name: str,
    *,
    limits: Limits = DEFAULTS,
    progress: Progress | None = None,
    task: str | None = None,
) -> Report:
    """Check a CSV of file,label (paths relative to the CSV's folder) and copy its images in.

    With task "multi_label" (or a CSV with Planet's tags column) the CSV is file,labels with
    tags separated by spaces, or Planet's image_name,tags (names without their extension).
    """
    if task == SEG:
        raise UserError(
            "A segmentation set is a folder of images/ with masks/ and codes.txt, not a CSV; "
            "add it as a folder or a zip."
        )
    # a CSV that is a link is judged (and read) where it really lies
    path = sources.full_path(csv_path, "the CSV file", "/data/labels.csv")
    sources.check_import_root(path)
    if not path.is_file():
        raise UserError(f"There is no file {path} on the machine running the dashboard.")
    sources.outside_folder(path.parent)
    name = dataset_name(name)
    check_free(name)
    shown = str(path)

    data = path.read_bytes() if path.stat().st_size <= layout.MAX_CSV_BYTES else None
    if task is None and data is not None:
        header = data[: data.find(b"\n") % (len(data) + 1)].decode("utf-8-sig", errors="replace").strip("\r")
        task = MULTI if multi.is_tags_header(header.split(",")) else None

    def gather(raw: Path, budget: Budget) -> Gathered:
        if task == MULTI:
            rows = [
                (r.line, _existing(path, r.line, r.file)) for r in multi.read_rows(data, path.name, limits)
            ]
        else:
            rows = [(line, rel) for line, rel, _, _ in layout.read_csv(data, path.name, limits)]
        return sources.csv_entries(path, rows, raw, budget, progress)

    return place.build(
        name, shown, f"CSV {shown}", gather, limits, progress, None, csv_name=path.name, task=task
    )


def _existing(csv_file: Path, line: int, rel: str) -> str:
    """The file a multi-label row names, as it lies beside the CSV (Planet: train/<name>.jpg)."""
    for parts in multi.candidates(entry_parts(rel, f"{csv_file.name}, line {line},")):
        if Path(csv_file.parent, *parts).is_file():
            return "/".join(parts)
    return rel  # reported as missing when the rows are matched
