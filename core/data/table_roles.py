"""Column roles and splits of a table: propose them, check them (problems), split the rows.

Roles: {"target", "cat", "cont"} for a table (other columns ignored), {"user", "item", "rating"}
for ratings. The task follows the target: text, or few distinct whole numbers, is a class
(tabular_classification); any other number is a value (tabular_regression). Whole numbers may be
either (target_kinds), and a task asked for explicitly wins where the target allows it. Splits:
random (seeded), group (every row with one value on one side), ordered (the last share by a
column: numbers by value, ISO dates as text) or column (a true/false column, read by
core.data.labels.valid_flag). core.data.tables reads and saves them; its names re-export these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.data.labels import MAX_LABEL, check_label
from core.data.table_split import Split, column_numbers, column_text, group_problem, split_mask
from core.errors import UserError

# The tasks a table (not ratings) can be: classes, or a value.
TABULAR_TASKS = ("tabular_classification", "tabular_regression")
CLASSES, VALUES = TABULAR_TASKS
COLLAB = "collaborative"
MAX_CAT_INTS = 20  # whole numbers with at most this many distinct values are categories
MAX_CLASSES = 500  # a classification target with more distinct values is refused
TARGET_NAMES = (
    "target",
    "label",
    "labels",
    "y",
    "class",
    "income",
    "salary",
    "outcome",
    "price",
    "progression",
)
USER_NAMES = ("user", "userid", "user_id", "users", "customer", "reader")
ITEM_NAMES = ("item", "itemid", "item_id", "movie", "movieid", "movie_id", "product", "book", "title")
RATING_NAMES = ("rating", "ratings", "score", "stars", "value")


@dataclass(frozen=True)
class TableRoles:
    """Which column is the target, which are categorical and which continuous inputs."""

    target: str
    cat: tuple[str, ...] = ()
    cont: tuple[str, ...] = ()

    def to_json(self) -> dict:
        """Plain JSON for dataset.json."""
        return {"target": self.target, "cat": list(self.cat), "cont": list(self.cont)}

    @classmethod
    def from_json(cls, d: dict) -> TableRoles:
        """The roles dataset.json holds; UserError when they are not names of columns."""
        if not isinstance(d, dict) or not isinstance(d.get("target"), str):
            raise UserError("The table's roles must name a target column.")
        lists = [d.get("cat", []), d.get("cont", [])]
        if not all(isinstance(x, list) and all(isinstance(c, str) for c in x) for x in lists):
            raise UserError("The table's categorical and continuous roles must be lists of column names.")
        return cls(d["target"], tuple(lists[0]), tuple(lists[1]))


@dataclass(frozen=True)
class RatingRoles:
    """Which columns of a ratings table hold the user, the item and the rating."""

    user: str = "user"
    item: str = "item"
    rating: str = "rating"

    def to_json(self) -> dict:
        """Plain JSON for dataset.json."""
        return {"user": self.user, "item": self.item, "rating": self.rating}

    @classmethod
    def from_json(cls, d: dict) -> RatingRoles:
        """The roles dataset.json holds; UserError when one is missing."""
        if not isinstance(d, dict) or not all(isinstance(d.get(k), str) for k in ("user", "item", "rating")):
            raise UserError("The ratings' roles must name the user, item and rating columns.")
        return cls(d["user"], d["item"], d["rating"])


def _whole(values: np.ndarray) -> bool:
    got = values[~np.isnan(values)]
    return bool(len(got)) and bool(np.all(got == np.round(got)))


def _kinds_of(series: pd.Series) -> tuple[str, ...]:
    """The tasks a target column allows, the one it makes by itself first."""
    values = column_numbers(series)
    if values is None:
        return (CLASSES,)  # text: classes only
    if not _whole(values):
        return (VALUES,)
    distinct = len(np.unique(values[~np.isnan(values)]))
    if distinct <= MAX_CAT_INTS:
        return (CLASSES, VALUES)  # a few whole numbers (stars, grades): classes unless asked
    return (VALUES, CLASSES) if distinct <= MAX_CLASSES else (VALUES,)


def target_kinds(frame: pd.DataFrame, roles: TableRoles) -> tuple[str, ...]:
    """The tasks the target allows, the one task_for gives first: one name when the target decides
    (text → classes, fractions → values), two when it holds whole numbers that may be either (a page
    offers the choice; save_roles(..., task=…) records it)."""
    if roles.target not in frame.columns:
        raise UserError(f"The target column {roles.target!r} is not in the table.")
    return _kinds_of(frame[roles.target])


def task_for(frame: pd.DataFrame, roles: TableRoles, task: str | None = None) -> str:
    """The task the target makes of a table: classes → tabular_classification, else regression.

    task, when given, is the one asked for; UserError when the target does not allow it."""
    kinds = target_kinds(frame, roles)
    if task is None:
        return kinds[0]
    if task not in TABULAR_TASKS:
        raise UserError(f"A table's task is one of: {', '.join(TABULAR_TASKS)}.")
    if task not in kinds:
        raise UserError(_not_allowed(roles.target, task))
    return task


def _not_allowed(target: str, task: str) -> str:
    if task == VALUES:
        return f"The target {target!r} holds text, so it can only be classes, not a value to predict."
    return (
        f"The target {target!r} holds fractions or more than {MAX_CLASSES} distinct numbers, so it can "
        "only be a value to predict, not classes."
    )


# --- roles -----------------------------------------------------------------------------------


def _kind(series: pd.Series) -> str:
    """'cat', 'cont' or 'ignore' for an input column, from its cells."""
    filled = series.dropna()
    n, distinct = len(filled), filled.nunique()
    name = str(series.name).strip().lower()
    if n == 0 or distinct <= 1 or name == "id" or name.endswith(("_id", " id")):
        return "ignore"
    values = column_numbers(series)
    if values is None:  # text: ids (one per row) and free text (most values distinct) are ignored
        return "ignore" if n > MAX_CAT_INTS and distinct > max(100, 0.5 * n) else "cat"
    if _whole(values):
        if distinct <= MAX_CAT_INTS:
            return "cat"
        if distinct == len(series) and n > MAX_CAT_INTS:
            return "ignore"  # a whole number per row: a row id
    return "cont"


def propose_roles(frame: pd.DataFrame) -> TableRoles:
    """Roles from dtype and cardinality: a target by name (else the last column), text or few
    whole numbers → categorical, other numbers → continuous, ids and free text → ignored."""
    if len(frame.columns) < 2:
        raise UserError("A table needs at least two columns: inputs and a target.")
    names = {str(c).strip().lower(): c for c in frame.columns}
    target = next((names[n] for n in TARGET_NAMES if n in names), frame.columns[-1])
    cat, cont = [], []
    for col in frame.columns:
        if col != target:
            kind = _kind(frame[col])
            (cat if kind == "cat" else cont if kind == "cont" else []).append(col)
    return TableRoles(target, tuple(cat), tuple(cont))


def propose_rating_roles(frame: pd.DataFrame) -> RatingRoles:
    """User, item and rating columns by name (userId, movieId, rating…), else the first three."""
    if len(frame.columns) < 3:
        raise UserError("A ratings table needs at least three columns: user, item and rating.")
    names = {str(c).strip().lower(): c for c in frame.columns}
    chosen: list = []
    for wanted in (USER_NAMES, ITEM_NAMES, RATING_NAMES):
        col = next((names[n] for n in wanted if n in names and names[n] not in chosen), None)
        chosen.append(col)
    rest = iter([c for c in frame.columns if c not in chosen])
    user, item, rating = (c if c is not None else next(rest) for c in chosen)
    return RatingRoles(user, item, rating)


# --- problems and saving ---------------------------------------------------------------------


def _example(series: pd.Series, bad: np.ndarray) -> str:
    row = int(np.flatnonzero(bad)[0])
    return f"{str(series.iloc[row])[:30]!r} (row {row + 2})"


def _not_numbers(series: pd.Series) -> np.ndarray:
    text = series.map(lambda c: c.strip() if isinstance(c, str) else c)
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    return series.notna().to_numpy() & ~np.isfinite(values)


def _short(value: object) -> str:
    text = str(value)
    return repr(text[:30] + "…" if len(text) > 30 else text)


def _bad_class(target: pd.Series) -> tuple[str, str] | None:
    """The first class that breaks the label rule (core.data.labels.check_label), shown short,
    and why."""
    for value in column_text(target).dropna().unique():
        try:
            check_label(value)
        except UserError:
            if not str(value).strip():
                why = "it is blank"
            elif len(value) > MAX_LABEL:
                why = f"it is longer than {MAX_LABEL} characters"
            else:
                why = "it holds a tab, a line break or another control character"
            return _short(value), why
    return None


def _table_problems(frame: pd.DataFrame, roles: TableRoles, task: str | None) -> list[str]:
    out, t = [], roles.target
    columns = set(frame.columns)
    for col in [*roles.cat, *roles.cont]:
        if col not in columns:
            out.append(f"The column {col!r} is not in the table.")
    for col in sorted(set(roles.cat) & set(roles.cont)):
        out.append(f"{col!r} is chosen as both categorical and continuous; choose one.")
    if t in (*roles.cat, *roles.cont):
        out.append(f"The target {t!r} is also chosen as an input; the model must not be shown the answer.")
    if not roles.cat and not roles.cont:
        out.append("Choose at least one input column (categorical or continuous).")
    for col in roles.cont:
        if col in columns and column_numbers(frame[col]) is None:
            bad = _not_numbers(frame[col])
            out.append(
                f"The continuous column {col!r} holds text such as {_example(frame[col], bad)}; "
                "make it categorical or fix those cells."
            )
    if t not in columns:
        return [f"The target column {t!r} is not in the table.", *out]
    kinds = _kinds_of(frame[t])
    if task is not None and task not in kinds and frame[t].notna().any():
        out.append(_not_allowed(t, task) if task in TABULAR_TASKS else f"{task!r} is not a table's task.")
    classes = (task or kinds[0]) == CLASSES
    target = frame[t].dropna()
    if len(target) == 0:
        out.append(f"The target {t!r} is empty in every row; there is nothing to learn.")
    elif target.nunique() < 2:
        out.append(
            f"The target {t!r} holds one value only ({str(target.iloc[0])[:30]!r}); nothing to tell apart."
        )
    elif classes and target.nunique() > MAX_CLASSES:
        out.append(
            f"The target {t!r} has {target.nunique():,} distinct values; at most {MAX_CLASSES} classes."
        )
    elif classes and (bad := _bad_class(target)) is not None:
        out.append(f"The target {t!r} holds {bad[0]}, which cannot be a class: {bad[1]}.")
    return out


def _empty_in_training(frame: pd.DataFrame, roles: TableRoles, train: np.ndarray) -> list[str]:
    """Inputs with no value in any training row: fastai's FillMissing and Categorify learn nothing
    from them and training stops, so they are refused here."""
    out = []
    for col in dict.fromkeys([*roles.cat, *roles.cont]):
        if col in frame.columns and col != roles.target and not frame[col][train].notna().any():
            kind = "categorical" if col in roles.cat else "continuous"
            out.append(f"The {kind} column {col!r} has no values in the training rows; ignore it.")
    return out


def _rating_problems(frame: pd.DataFrame, roles: RatingRoles) -> list[str]:
    out = []
    for role, col in roles.to_json().items():
        if col not in frame.columns:
            out.append(f"The {role} column {col!r} is not in the table.")
    if len({roles.user, roles.item, roles.rating}) < 3:
        out.append("The user, item and rating must be three different columns.")
    if out:
        return out
    rating = frame[roles.rating]
    if column_numbers(rating) is None:
        out.append(
            f"The rating column {roles.rating!r} holds text such as {_example(rating, _not_numbers(rating))}."
        )
    elif rating.dropna().nunique() < 2:
        out.append(f"The rating column {roles.rating!r} holds one value or none; there is nothing to learn.")
    return out


def problems(
    frame: pd.DataFrame, roles: TableRoles | RatingRoles, split: Split, task: str | None = None
) -> list[str]:
    """What stops these roles and this split from training, as sentences (empty when none).

    task, for a table, is the one asked for (save_roles' task), else the one the target makes."""
    if isinstance(roles, RatingRoles):
        out = _rating_problems(frame, roles)
        used = frame[[c for c in (roles.user, roles.item, roles.rating) if c in frame.columns]]
    else:
        out = _table_problems(frame, roles, task)
        used = frame[[roles.target]] if roles.target in frame.columns else frame.iloc[:, :0]
    rows = frame[used.notna().all(axis=1).to_numpy()] if len(used.columns) else frame
    rows = rows.reset_index(drop=True)
    try:
        mask = split_mask(rows, split)
    except UserError as e:
        return [*out, str(e)]
    if split.kind == "group" and (found := group_problem(split, len(rows), int(mask.sum()))):
        return [*out, *found]
    if len(rows) and not mask.any():
        out.append("The validation set is empty; choose a larger share or another column.")
    elif len(rows) and mask.all():
        out.append("Every row is in the validation set; leave some rows for training.")
    elif isinstance(roles, TableRoles):
        out += _empty_in_training(rows, roles, ~mask)
    return out
