"""Safe ingestion: add_archive, add_folder and add_csv check what a person hands in and add a dataset.

The parts live in their own modules: names (dataset names, entry paths), sources (reading zips,
tars, folders and CSVs' files within budgets: Limits, IngestCancelled), layout (which file is
which label and split), place (the temp folder renamed into place: Report, clean_stale_temps).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

from core.data.ingest import layout, place, sources
from core.data.ingest.names import check_free, dataset_name
from core.data.ingest.place import Relabel, Report
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
) -> Report:
    """Check a zip or tar archive (a path or an open binary file) and add it as dataset `name`.

    relabel may rewrite each entry's path (a catalogue layout) or return None to leave it out;
    meta adds to (or overrides) what dataset.json records.
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
            read = sources.zip_entries if kind == "zip" else sources.tar_entries
            return read(f, shown, raw, budget, progress, cancelled)

        what = f"archive {shown}"
        return place.build(name, shown, what, gather, limits, progress, cancelled, relabel=relabel, meta=meta)


def add_folder(
    path: str | Path, name: str, *, limits: Limits = DEFAULTS, progress: Progress | None = None
) -> Report:
    """Check a folder on this machine (class folders, or train/ and valid/) and copy it in."""
    folder = sources.outside_folder(path)
    name = dataset_name(name)
    check_free(name)
    shown = str(folder)

    def gather(raw: Path, budget: Budget) -> Gathered:
        return sources.folder_entries(folder, raw, budget, progress)

    return place.build(name, shown, f"folder {shown}", gather, limits, progress, None)


def add_csv(
    csv_path: str | Path, name: str, *, limits: Limits = DEFAULTS, progress: Progress | None = None
) -> Report:
    """Check a CSV of file,label (paths relative to the CSV's folder) and copy its images in."""
    text = str(csv_path).strip()
    if not text:
        raise UserError("Give the path of the CSV file.")
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise UserError(f"{text} is not a full path; give it from the root, e.g. /data/labels.csv.")
    path = path.resolve()  # a CSV that is a link is judged (and read) where it really lies
    sources.check_import_root(path)
    if not path.is_file():
        raise UserError(f"There is no file {path} on the machine running the dashboard.")
    sources.outside_folder(path.parent)
    name = dataset_name(name)
    check_free(name)
    shown = str(path)

    def gather(raw: Path, budget: Budget) -> Gathered:
        data = path.read_bytes() if path.stat().st_size <= layout.MAX_CSV_BYTES else None
        rows = layout.read_csv(data, path.name, limits)
        return sources.csv_entries(path, [(line, rel) for line, rel, _, _ in rows], raw, budget, progress)

    return place.build(name, shown, f"CSV {shown}", gather, limits, progress, None, csv_name=path.name)
