"""Your own tables and ratings, and fastai's tabular downloads, turned into our table layout.

add_table reads a CSV (uploaded bytes, or a path on the machine running the dashboard) with the
one bounded reader (core.data.csv_reader), proposes column roles and a random split (or takes
the ones given), refuses what could not train (core.data.tables.problems), and writes
datasets/<name>/table.csv (or ratings.csv) with dataset.json in a hidden temporary folder that is
renamed into place only when whole: a refusal leaves nothing behind.

add_download does the same for a catalogue archive (ADULT_SAMPLE, ML_SAMPLE): the archive is
extracted with the checks of any upload, the CSV its layout names is read with the same limits,
and the entry's roles are recorded.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from core import workspace
from core.data import datasets, tables
from core.data.csv_reader import DEFAULT_LIMITS, CsvLimits, read_csv, write_csv
from core.data.ingest import archives, place, sources
from core.data.ingest.names import check_free, dataset_name
from core.data.ingest.sources import Budget, Cancelled, Limits, Progress
from core.data.tables import RatingRoles, Split, TableRoles
from core.errors import UserError
from core.fsutil import atomic_write, fsync_dir

if TYPE_CHECKING:
    from core.data.catalogue import Entry

KINDS = ("table", "ratings")
NOTHING = "Nothing was added."


def add_table(
    source: bytes | Path | str,
    name: str,
    kind: str = "table",
    *,
    limits: CsvLimits = DEFAULT_LIMITS,
    roles: TableRoles | RatingRoles | None = None,
    split: Split | None = None,
    shown_as: str | None = None,
    meta: dict | None = None,
) -> datasets.DatasetInfo:
    """Add a CSV (its bytes, or the full path of a file on this machine) as table dataset `name`.

    kind "table" gives table.csv (a tabular task, from the target the roles name) and "ratings"
    gives ratings.csv (collaborative filtering). roles and split default to the proposed roles and
    a random 20% validation share. UserError, with nothing written, for anything unusable.
    """
    if kind not in KINDS:
        raise UserError(f"{kind!r} is not a kind of table; choose one of: {', '.join(KINDS)}.")
    if isinstance(source, (str, Path)):
        path = _outside_file(source)
        shown = shown_as or path.name
        name = dataset_name(name)
        check_free(name)
        raw = read_csv(path, shown, limits)
        what = f"file {path}"
    else:
        name = dataset_name(name)
        check_free(name)
        shown = shown_as or "The uploaded file"
        raw = read_csv(source, shown, limits)
        what = f"upload {shown_as}" if shown_as else "upload"
    return _add_frame(raw, name, kind, roles, split, shown, what, meta or {})


def _outside_file(text: str | Path) -> Path:
    """A CSV on this machine a person may import: a full path, inside the import root, not ours."""
    text = str(text).strip()
    if not text:
        raise UserError("Give the path of the CSV file.")
    if "\x00" in text:
        raise UserError("The path holds a NUL byte; give the CSV's path as it is written.")
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise UserError(f"{text} is not a full path; give it from the root, e.g. /data/table.csv.")
    path = path.resolve()  # a link is judged (and read) where it really lies
    sources.check_import_root(path)  # shared: never a file of the workspace (anyone's space)
    if not path.is_file():
        raise UserError(f"There is no file {path} on the machine running the dashboard.")
    if workspace.inside(path, workspace.subdir("datasets")):
        raise UserError(f"{path} is already in one of the workspace's datasets; choose that dataset instead.")
    return path


def _add_frame(
    raw: pd.DataFrame,
    name: str,
    kind: str,
    roles: TableRoles | RatingRoles | None,
    split: Split | None,
    shown: str,
    what: str,
    meta: dict,
) -> datasets.DatasetInfo:
    """Check roles and split against the text frame, then publish the folder whole."""
    split = split or Split()
    ratings = kind == "ratings"
    if roles is None:
        roles = tables.propose_rating_roles(raw) if ratings else tables.propose_roles(raw)
    if ratings != isinstance(roles, RatingRoles):
        raise UserError("Ratings need user, item and rating roles; a table needs a target and inputs.")
    found = tables.problems(raw, roles, split)
    if found:
        raise UserError(f"{shown} cannot be trained on as it is: {' '.join(found)} {NOTHING}")
    task = tables.COLLAB if ratings else tables.task_for(raw, roles)
    n_rows, n_cols = raw.shape
    things = "ratings" if ratings else "rows"
    info = {
        "title": name,
        "description": f"{n_rows:,} {things} of {n_cols} columns from the {what}.",
        "task": task,
        "source": what,
        "roles": roles.to_json(),
        "split": split.to_json(),
        "n_rows": n_rows,
        "columns": [str(c) for c in raw.columns],
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        **meta,
    }
    _publish(name, {tables.RATINGS_CSV if ratings else tables.TABLE_CSV: raw}, info)
    return datasets.resolve(name)


def _publish(name: str, files: dict[str, pd.DataFrame], info: dict) -> Path:
    """Write the CSVs and dataset.json in a hidden folder, then rename it to datasets/<name>."""
    root = workspace.subdir("datasets")
    place.clean_stale_temps()
    tmp = Path(tempfile.mkdtemp(prefix=place.TMP_PREFIX, dir=root))
    try:
        for file_name, frame in files.items():
            write_csv(frame, tmp / file_name)
        atomic_write(tmp / datasets.META_FILE, json.dumps(info, indent=2))
        target = root / name
        if target.exists():
            raise UserError(
                f"A dataset called {name} appeared while this one was being added; choose another name."
            )
        os.rename(tmp, target)
        fsync_dir(root)
        return target
    except OSError as e:
        raise UserError(
            f"Could not write the dataset into the workspace ({e.strerror or e}). {NOTHING}"
        ) from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- catalogue downloads ---------------------------------------------------------------------


def add_download(
    entry: Entry,
    archive: Path,
    limits: Limits,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    csv_limits: CsvLimits = DEFAULT_LIMITS,
) -> dict:
    """Extract a catalogue archive whose layout is a table (catalogue.TABLE_LAYOUTS) into our layout.

    Returns what happened: the dataset's name, its task, rows and a one-line summary.
    """
    from core.data.catalogue import TABLE_LAYOUTS

    layout = TABLE_LAYOUTS[entry.layout]
    name = dataset_name(entry.name)
    check_free(name)
    shown = entry.archive_name
    root = workspace.subdir("datasets")
    scratch = Path(tempfile.mkdtemp(prefix=place.TMP_PREFIX, dir=root))
    try:
        with open(archive, "rb") as f:
            kind = sources.archive_kind(f.read(512), shown)
            f.seek(0)
            read = archives.zip_entries if kind == "zip" else archives.tar_entries
            found = read(f, shown, scratch, Budget(limits, shown), progress, cancelled)
        file = _member(found.entries, layout.file, shown)
        if progress:
            progress(0.6, f"reading {layout.file}")
        raw = layout.convert(read_csv(file, layout.file, csv_limits))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    meta = {
        "title": entry.title,
        "description": entry.description,
        "source": f"download {entry.source_url}",
        "catalogue_key": entry.key,
    }
    info = _add_frame(raw, name, layout.kind, layout.roles, Split(), shown, f"download {shown}", meta)
    things = "ratings" if layout.kind == "ratings" else "rows"
    summary = f"Added {info.name}: {len(raw):,} {things} of {len(raw.columns)} columns ({info.task})."
    if progress:
        progress(1.0, summary)
    return {"dataset": info.name, "task": info.task, "rows": len(raw), "skipped": 0, "summary": summary}


def _member(entries: list[sources.Entry], rel: str, shown: str) -> Path:
    """The extracted file at path rel of an archive (written with or without a leading ./)."""
    want = tuple(p for p in rel.split("/") if p)
    for e in entries:
        if e.parts == want:
            return e.file
    raise UserError(f"{shown} holds no {rel}; it is not the archive fastai publishes. {NOTHING}")
