"""How a table's rows are split into training and validation, and how its cells are read as
numbers or text (for splits and for roles alike).

Splits: random (seeded), group (every row with one value on one side, whole groups taken while
they bring the share nearer the one asked), ordered (the last share by a column: numbers by
value, ISO dates as text) or column (a true/false column, read by core.data.labels.valid_flag).
core.data.table_roles checks them with the roles; core.data.tables re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.data.labels import FLAG_WORDS, valid_flag
from core.errors import UserError

SPLIT_KINDS = ("random", "group", "ordered", "column")


@dataclass(frozen=True)
class Split:
    """How rows are split: random (seeded), group (by a column), ordered (by a column), column (flags)."""

    kind: str = "random"
    column: str | None = None
    valid_pct: float = 0.2
    seed: int = 0

    def to_json(self) -> dict:
        """Plain JSON for dataset.json (only the fields the kind uses)."""
        keys = {
            "random": ("valid_pct", "seed"),
            "group": ("column", "valid_pct", "seed"),
            "ordered": ("column", "valid_pct"),
            "column": ("column",),
        }[self.kind]
        return {"kind": self.kind, **{k: getattr(self, k) for k in keys}}

    @classmethod
    def from_json(cls, d: dict) -> Split:
        """The split dataset.json holds; UserError when it is not one of the four kinds."""
        if not isinstance(d, dict) or d.get("kind", "random") not in SPLIT_KINDS:
            raise UserError(f"A split is one of: {', '.join(SPLIT_KINDS)}.")
        kind, column = d.get("kind", "random"), d.get("column")
        pct, seed = d.get("valid_pct", 0.2), d.get("seed", 0)
        if kind != "random" and not (isinstance(column, str) and column):
            raise UserError(f"A {kind} split needs the name of a column.")
        if isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 0.01 <= pct <= 0.9:
            raise UserError("The validation share must be a number from 0.01 to 0.9.")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
            raise UserError("The split's seed must be a whole number from 0 to 4294967295.")
        return cls(kind, column if kind != "random" else None, float(pct), seed)


def column_numbers(series: pd.Series) -> np.ndarray | None:
    """The column as float64 (NaN where empty), or None when a non-empty cell is not a finite number."""
    if series.dtype.kind in "fiub":
        values = series.to_numpy(dtype=np.float64)
        return None if np.isinf(values).any() else values
    text = series.map(lambda c: c.strip() if isinstance(c, str) else c)
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    if (series.notna().to_numpy() & ~np.isfinite(values)).any():
        return None
    return values


def column_text(series: pd.Series) -> pd.Series:
    """The column as text with NaN for empty cells (numbers read by another reader written back)."""
    if series.dtype.kind not in "fiub":
        return series.astype(object).where(series.notna(), np.nan)

    def show(v):
        return str(int(v)) if float(v).is_integer() else repr(float(v))

    return series.map(lambda v: np.nan if pd.isna(v) else show(v)).astype(object)


def _flags(series: pd.Series) -> np.ndarray:
    out = np.zeros(len(series), dtype=bool)
    for i, cell in enumerate(series.tolist()):
        flag = valid_flag(None if pd.isna(cell) else cell)
        if flag is None:
            raise UserError(
                f"The split column {series.name!r} must say true or false in every row ({FLAG_WORDS}; "
                f"empty is training); row {i + 2} holds {str(cell)[:20]!r}."
            )
        out[i] = flag
    return out


def _group_mask(keys: np.ndarray, want: int, seed: int) -> np.ndarray:
    """Whole groups in a seeded order, each taken only when it brings the count nearer want and
    leaves some rows for training (a prefix of the order could overshoot by one big group)."""
    groups, codes, counts = np.unique(keys, return_inverse=True, return_counts=True)
    taken, total = [], 0
    for g in np.random.default_rng(seed).permutation(len(groups)):
        after = total + int(counts[g])
        if abs(after - want) < abs(total - want) and after < len(keys):
            taken.append(g)
            total = after
    return np.isin(codes, taken)


def split_mask(frame: pd.DataFrame, split: Split) -> np.ndarray:
    """Which rows are validation (True): random (seeded), group, ordered or column; UserError if unusable."""
    n = len(frame)
    if split.kind != "random" and split.column not in frame.columns:
        raise UserError(f"The split column {split.column!r} is not in the table.")
    if split.kind == "column":
        return _flags(frame[split.column])
    mask = np.zeros(n, dtype=bool)
    want = round(n * split.valid_pct)
    if split.kind == "random":
        order = np.random.default_rng(split.seed).permutation(n)
        mask[order[:want]] = True
    elif split.kind == "group":
        keys = column_text(frame[split.column]).fillna("").astype(str).to_numpy()
        mask = _group_mask(keys, want, split.seed)
    else:  # ordered: numbers by value, other text (ISO dates) as text; empty cells first
        values = column_numbers(frame[split.column])
        if values is None:
            text = column_text(frame[split.column])
            keys = text.fillna("").astype(str).to_numpy()
        else:
            keys = np.where(np.isnan(values), -np.inf, values)
        order = np.argsort(keys, kind="stable")
        if want:
            mask[order[n - want :]] = True
    return mask


def group_problem(split: Split, n: int, got: int) -> list[str]:
    """A group split far from the share asked (off by more than half of it), in a sentence."""
    want = round(n * split.valid_pct)
    if not n or (got and abs(got - want) <= want / 2):
        return []
    return [
        f"Grouping by {split.column!r} puts {100 * got / n:.0f} % of the rows in validation "
        f"({100 * split.valid_pct:.0f} % asked): the groups are too few or one is too large; "
        "choose another column or another share."
    ]
