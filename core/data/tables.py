"""The on-disk layout of tables and ratings: read them, propose column roles, split, save roles.

A table dataset is a folder with `table.csv` (UTF-8, a header row) and `dataset.json` naming the
column roles — {"target": …, "cat": [...], "cont": [...]}; other columns are ignored — and the
split. A ratings dataset holds `ratings.csv` (roles {"user", "item", "rating"}) and optionally
`items.csv` (item,title,genre). Cells are read as the text written (labels such as `<=50K` or
`Space & Time: Part 2` kept exactly); continuous columns and the rating become floats.

The task follows the roles: a text target, or a target of few distinct whole numbers, is a
class (tabular_classification); any other number is a value (tabular_regression). A target of
whole numbers may be either (target_kinds names both); save_roles(..., task=…) records the choice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core import fsutil, safejson
from core.data.csv_reader import read_csv, typed
from core.data.table_roles import (
    COLLAB,
    MAX_CAT_INTS,
    MAX_CLASSES,
    TABULAR_TASKS,
    RatingRoles,
    TableRoles,
    problems,
    propose_rating_roles,
    propose_roles,
    target_kinds,
    task_for,
)
from core.data.table_split import SPLIT_KINDS, Split, column_numbers, column_text, split_mask
from core.errors import UserError

__all__ = [
    "COLLAB",
    "ITEMS_CSV",
    "MAX_CAT_INTS",
    "MAX_CLASSES",
    "RATINGS_CSV",
    "SPLIT_KINDS",
    "TABLE_CSV",
    "TABULAR_TASKS",
    "RatingItems",
    "RatingRoles",
    "Split",
    "TableItems",
    "TableRoles",
    "fingerprint",
    "problems",
    "propose_rating_roles",
    "propose_roles",
    "read",
    "read_ratings",
    "read_table",
    "recognises",
    "save_roles",
    "split_mask",
    "target_kinds",
    "task_for",
    "task_of",
    "column_numbers",
    "column_text",
]

TABLE_CSV = "table.csv"
RATINGS_CSV = "ratings.csv"
ITEMS_CSV = "items.csv"
META = "dataset.json"


@dataclass
class TableItems:
    """The rows of a table dataset, typed by their roles, with the split and the task."""

    root: Path
    frame: pd.DataFrame  # cat columns (and a class target) as text with NaN, cont (and a value target) float
    roles: TableRoles
    split: Split
    is_valid: list[bool]
    task: str
    vocab: list[str]  # the sorted classes, or [target] for regression
    files: list[str] = field(default_factory=lambda: [TABLE_CSV])
    meta: dict = field(default_factory=dict)


@dataclass
class RatingItems:
    """The ratings of a ratings dataset (user and item as text, rating float) and the items' names."""

    root: Path
    frame: pd.DataFrame
    roles: RatingRoles
    split: Split
    is_valid: list[bool]
    items: pd.DataFrame | None = None  # item, title, genre
    noise_sd: float | None = None
    task: str = COLLAB
    vocab: list[str] = field(default_factory=lambda: ["rating"])
    files: list[str] = field(default_factory=lambda: [RATINGS_CSV])
    meta: dict = field(default_factory=dict)


# --- reading ---------------------------------------------------------------------------------


def _read(path: Path) -> pd.DataFrame:
    """Every cell of a CSV as the text written (empty → NaN), through the one bounded reader."""
    if not Path(path).is_file():
        raise UserError(f"{Path(path).name} is missing from {Path(path).parent.name}.")
    return read_csv(Path(path), shown=Path(path).name)


def _meta(folder: Path) -> dict:
    try:
        meta = safejson.read(Path(folder) / META)
    except UserError:  # missing or damaged: the roles are proposed again, as for a new table
        return {}
    return meta if isinstance(meta, dict) else {}


def _typed_table(raw: pd.DataFrame, roles: TableRoles, task: str) -> pd.DataFrame:
    """Cat columns and a class target as text; cont columns and a value target as float."""
    out, plain = {}, typed(raw)
    for col in raw.columns:
        if col in roles.cont or (col == roles.target and task == TABULAR_TASKS[1]):
            values = column_numbers(raw[col])
            out[col] = raw[col] if values is None else values  # problems() names the bad cells
        elif col in roles.cat or col == roles.target:
            out[col] = column_text(raw[col])
        else:
            out[col] = plain[col]  # ignored: numbers where every cell is one, else text
    return pd.DataFrame(out, index=raw.index)


def _stored_task(meta: dict, frame: pd.DataFrame, roles: TableRoles) -> str:
    """dataset.json's task when the target allows it (target_kinds), else the one it makes."""
    kinds = target_kinds(frame, roles)
    return meta["task"] if meta.get("task") in kinds else kinds[0]


def _checked(frame, roles, split, task: str | None = None) -> None:
    found = problems(frame, roles, split, task)
    if found:
        raise UserError(" ".join(found))


def _split_of(meta: dict, valid_pct: float | None, seed: int | None) -> Split:
    split = Split.from_json(meta["split"]) if isinstance(meta.get("split"), dict) else Split()
    if split.kind in ("random", "group"):
        split = Split(
            split.kind,
            split.column,
            split.valid_pct if valid_pct is None else valid_pct,
            split.seed if seed is None else seed,
        )
    return split


def _classes(target: pd.Series) -> list[str]:
    """The classes sorted as fastai sorts them: by value when every class is a number, else as text."""
    classes = target.dropna().unique().tolist()
    if column_numbers(pd.Series(classes, dtype=object)) is not None:
        return sorted(classes, key=lambda c: (float(c), c))
    return sorted(classes)


def read_table(path: Path, valid_pct: float | None = None, seed: int | None = None) -> TableItems:
    """The rows of a table dataset with their roles (dataset.json, else proposed) and split.

    The split is dataset.json's; valid_pct and seed, when given, replace a random or group
    split's. Rows with an empty target are left out (counted in meta["rows_without_target"]).
    """
    root = Path(path)
    raw, meta = _read(root / TABLE_CSV), _meta(root)
    roles = TableRoles.from_json(meta["roles"]) if "roles" in meta else propose_roles(raw)
    split = _split_of(meta, valid_pct, seed)
    task = _stored_task(meta, raw, roles)
    frame = _typed_table(raw, roles, task)
    _checked(frame, roles, split, task)
    keep = frame[roles.target].notna().to_numpy()
    frame = frame[keep].reset_index(drop=True)
    is_valid = split_mask(frame, split)
    if task == TABULAR_TASKS[0]:
        vocab = _classes(frame[roles.target])
    else:
        vocab = [roles.target]
    meta = {**meta, "rows_without_target": int((~keep).sum())}
    return TableItems(root, frame, roles, split, is_valid.tolist(), task, vocab, meta=meta)


def _typed_ratings(raw: pd.DataFrame, roles: RatingRoles) -> pd.DataFrame:
    out = {}
    for col in raw.columns:
        if col in (roles.user, roles.item):
            out[col] = column_text(raw[col])
        else:
            values = column_numbers(raw[col])
            out[col] = raw[col] if values is None else values
    return pd.DataFrame(out, index=raw.index)


def read_ratings(path: Path, valid_pct: float | None = None, seed: int | None = None) -> RatingItems:
    """The ratings of a ratings dataset (user and item text, rating float), its split and items.csv.

    Rows missing the user, the item or the rating are left out (counted in meta["rows_incomplete"]).
    """
    root = Path(path)
    raw, meta = _read(root / RATINGS_CSV), _meta(root)
    roles = RatingRoles.from_json(meta["roles"]) if "roles" in meta else propose_rating_roles(raw)
    split = _split_of(meta, valid_pct, seed)
    frame = _typed_ratings(raw, roles)
    _checked(frame, roles, split)
    keep = frame[[roles.user, roles.item, roles.rating]].notna().all(axis=1).to_numpy()
    frame = frame[keep].reset_index(drop=True)
    is_valid = split_mask(frame, split)
    items, files = None, [RATINGS_CSV]
    if (root / ITEMS_CSV).is_file():
        items = _read(root / ITEMS_CSV)
        if "item" not in items.columns:
            raise UserError(f"{ITEMS_CSV} must have a column called item (and title, genre).")
        items = pd.DataFrame({c: column_text(items[c]) for c in items.columns})
        files.append(ITEMS_CSV)
    noise = meta.get("noise_sd")
    noise_sd = float(noise) if isinstance(noise, (int, float)) and not isinstance(noise, bool) else None
    meta = {**meta, "rows_incomplete": int((~keep).sum())}
    return RatingItems(root, frame, roles, split, is_valid.tolist(), items, noise_sd, files=files, meta=meta)


def read(path: Path, task: str, valid_pct: float | None = None, seed: int | None = None):
    """The items of a table or ratings dataset read as task: TableItems or RatingItems."""
    if task == COLLAB:
        return read_ratings(path, valid_pct, seed)
    return read_table(path, valid_pct, seed)


def task_of(folder: Path) -> str | None:
    """The task of a table or ratings folder (dataset.json's, else from its files); None for others."""
    folder = Path(folder)
    if (folder / RATINGS_CSV).is_file():
        return COLLAB
    if not (folder / TABLE_CSV).is_file():
        return None
    meta = _meta(folder)
    if meta.get("task") in TABULAR_TASKS:
        return meta["task"]
    try:
        raw = _read(folder / TABLE_CSV)
        roles = TableRoles.from_json(meta["roles"]) if "roles" in meta else propose_roles(raw)
        return task_for(raw, roles)
    except UserError:
        return TABULAR_TASKS[0]


def recognises(folder: Path, task: str) -> bool:
    """True when folder holds a table.csv (or ratings.csv) that reads as this task."""
    return task_of(folder) == task


def save_roles(name: str, roles: TableRoles | RatingRoles, split: Split, task: str | None = None):
    """Write the roles, the split and the task they make into dataset.json (atomically, locked).

    The task is derived from the target again (text → classes, numbers → values) unless task names
    one: it must be one target_kinds allows (whole numbers may be either, so a column of 1–5 stars
    becomes a value with task="tabular_regression"). Refuses with problems(), in sentences;
    returns the dataset's DatasetInfo as it now reads.
    """
    from core.data import access, datasets

    with access.for_writing(name) as info:
        folder = Path(info.path)
        ratings = isinstance(roles, RatingRoles)
        raw = _read(folder / (RATINGS_CSV if ratings else TABLE_CSV))
        if ratings:
            _checked(_typed_ratings(raw, roles), roles, split)
            task = COLLAB
        else:
            if task is not None and task not in TABULAR_TASKS:
                raise UserError(f"A table's task is one of: {', '.join(TABULAR_TASKS)}.")
            _checked(raw, roles, split, task)
            task = task_for(raw, roles, task)
        meta = {**_meta(folder), "roles": roles.to_json(), "split": split.to_json(), "task": task}
        fsutil.atomic_write(folder / META, json.dumps(meta, indent=2))
    return datasets.resolve(name)


def fingerprint(items: TableItems | RatingItems) -> str:
    """The data version: the csv files' content, the roles and the split."""
    h = hashlib.sha256()
    for rel in items.files:
        h.update(f"|{rel}|{fsutil.sha256_file(Path(items.root) / rel)}".encode())
    h.update(json.dumps([items.roles.to_json(), items.split.to_json(), items.task]).encode())
    return h.hexdigest()[:16]
