"""fastai's tabular processing (FillMissing, Categorify, Normalize), fitted once on the training rows.

The same steps as fastai's TabularPandas(procs=[Categorify, FillMissing, Normalize]) — fastai's
own pipeline is the test oracle — but kept as plain numbers (vocabularies, fill values, means and
stds) that go to JSON and back, and applied to a whole frame at once to give the two tensors the
network reads: category codes (N×n_cat int64) and normalised floats (N×n_cont float32).

- FillMissing: every continuous column's training median is its fill value; a column with
  missing values in the training rows also gets a categorical column `<col>_na` (True where the
  value was missing), as fastai adds. (fastai refuses a missing value in a column that had none
  in training; here it is filled with the median.)
- Categorify: per categorical column the vocabulary "#na#" then the sorted values of the training
  rows; a missing or unseen value gets code 0 ("#na#"). The same rule (vocabulary, category_codes)
  serves ratings' users and items. The training count of each category is kept (for the form).
- Normalize: (value - mean) / std with the training rows' mean and std (ddof 0, plus 1e-7) after
  filling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.errors import UserError

if TYPE_CHECKING:
    import torch

NA = "#na#"  # code 0 of every categorical column: missing or never seen in training
NA_VOCAB = [NA, "False", "True"]  # the vocabulary of an added `<col>_na` column
EPS = 1e-7  # added to every std, as fastai's Normalize does
FORMAT = 1  # the version of to_json's layout
STEP_NOTES = {  # what each stage of Procs.steps does, in a sentence
    "raw": "The rows as read: text categories, numbers, and gaps where a value is missing.",
    "FillMissing": "Each gap in a continuous column takes that column's median over the training rows",
    "_na": "column(s) with gaps in training also get a True/False `_na` column.",
    "Categorify": "Each category becomes its position in the column's vocabulary (#na# first, then the "
    "training rows' values sorted); a missing or never-seen value is 0.",
    "Normalize": "Each continuous column has the training rows' mean subtracted and is divided by their "
    "standard deviation, so every input is on a similar scale.",
}


@dataclass(frozen=True)
class CatColumn:
    """A categorical column: its name and vocabulary (vocab[0] is "#na#"); source is the continuous
    column whose missingness it records, for an added `<col>_na` column."""

    name: str
    vocab: list[str]
    source: str | None = None
    counts: list[int] | None = None  # training rows per category, aligned with vocab (None: an older state)


@dataclass(frozen=True)
class ContColumn:
    """A continuous column: its fill value (training median), and the mean and std that normalise it."""

    name: str
    fill: float
    mean: float
    std: float


@dataclass(frozen=True)
class Step:
    """One stage of the processing shown on a few rows: the rows after it, a sentence, and what it
    learned (vocabularies, fill values or means and stds) as a small table."""

    name: str
    frame: pd.DataFrame
    note: str
    learned: pd.DataFrame | None = None


def _text(v: Any) -> Any:
    """One value as text: NaN when missing, a whole number stored as a float as "3", not "3.0"."""
    if isinstance(v, (str, bool, np.bool_)):
        return str(v)
    if isinstance(v, (int, float, np.integer, np.floating)) and not math.isnan(f := float(v)):
        return str(int(f)) if f.is_integer() and abs(f) < 2**53 else repr(f)
    return np.nan if v is None or v is pd.NA or isinstance(v, (float, np.floating)) else str(v)


def as_text(values: pd.Series) -> pd.Series:
    """A categorical column's values as text (object dtype), NaN where missing; whole numbers
    stored as floats read as "3", not "3.0" (also in a column that mixes numbers with text)."""
    if pd.api.types.is_bool_dtype(values):
        return values.map(str).astype(object)
    if pd.api.types.is_numeric_dtype(values):
        return pd.to_numeric(values, errors="coerce").astype(float).map(_text).astype(object)
    out = values.astype(object)
    if pd.api.types.infer_dtype(out, skipna=True) not in ("string", "empty"):
        out = out.map(_text).astype(object)
    return out.where(out.notna(), np.nan)


def vocabulary(values: pd.Series) -> list[str]:
    """fastai's Categorify classes for a column: "#na#", then its distinct values as text, sorted."""
    return [NA, *sorted(as_text(values).dropna().unique().tolist())]


def category_codes(values: pd.Series, vocab: list[str]) -> np.ndarray:
    """Each value's index in vocab (int64): 0 ("#na#") for a missing value or one vocab lacks."""
    return pd.Index(vocab[1:], dtype=object).get_indexer(as_text(values).to_numpy()).astype(np.int64) + 1


def numbers(values: pd.Series, name: str) -> np.ndarray:
    """A continuous column as float64, NaN where empty; a cell that is not a finite number is refused."""
    if pd.api.types.is_bool_dtype(values):
        raise UserError(f"The continuous column {name!r} holds true/false values; make it categorical.")
    nums = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    bad = (np.isnan(nums) & values.notna().to_numpy()) | np.isinf(nums)
    if bad.any():
        cell = values.iloc[int(np.flatnonzero(bad)[0])]
        raise UserError(
            f"The continuous column {name!r} holds {str(cell)[:40]!r}, which is not a finite number; "
            "make the column categorical or fix the cell."
        )
    return nums


def distinct_texts(values: Any) -> bool:
    """True for a list of texts that names no value twice."""
    texts = isinstance(values, list) and all(isinstance(v, str) for v in values)
    return texts and len(set(values)) == len(values)


def checked_vocab(values: Any, what: str, least: int = 1) -> list[str]:
    """values when they are a vocabulary (texts, "#na#" first, none twice); ValueError otherwise."""
    if not distinct_texts(values) or len(values) < least or values[0] != NA:
        raise ValueError(f"{what} must start with {NA!r} and name no value twice ({least}+ texts)")
    return values


def _column(c: Any, na: list[str]) -> CatColumn | ContColumn:
    """A column of a state's "cat" (with "vocab") or "cont" list, checked."""
    from core.serving.format import is_int, is_num

    if not isinstance(c, dict) or not isinstance(c.get("name"), str):
        raise ValueError("every column needs a name")
    name = c["name"]
    if "vocab" not in c:
        if not all(is_num(c.get(k)) for k in ("fill", "mean", "std")) or not c["std"] > 0:
            raise ValueError(f"{name[:40]!r} needs a fill, a mean and a std > 0")
        return ContColumn(name, float(c["fill"]), float(c["mean"]), float(c["std"]))
    vocab = checked_vocab(c["vocab"], f"the vocabulary of {name[:40]!r}")
    source = name[: -len("_na")] if name.endswith("_na") and name[: -len("_na")] in na else None
    if source is not None and vocab != NA_VOCAB:
        raise ValueError(f"the vocabulary of {name[:40]!r} must be {NA_VOCAB}")
    counts = c.get("counts")
    if counts is not None and not (
        isinstance(counts, list) and len(counts) == len(vocab) and all(is_int(n) and n >= 0 for n in counts)
    ):
        raise ValueError(f"the counts of {name[:40]!r} must be whole numbers, one per category")
    return CatColumn(name, list(vocab), source, None if counts is None else list(counts))


def _missing_columns(frame: pd.DataFrame, names: list[str]) -> None:
    absent = [n for n in names if n not in frame.columns]
    if absent:
        raise UserError(f"The table has no column {', '.join(map(repr, absent))}, which the model reads.")


@dataclass
class Procs:
    """What the processing learned from the training rows; apply it with transform and target."""

    target_name: str  # the target column
    classes: list[str] | None  # the class names (classification), or None (regression)
    cats: list[CatColumn]  # every embedding in the model's order: the categorical columns, then `_na`
    conts: list[ContColumn]
    target_stats: dict[str, float] | None = None  # regression: the training targets' mean, std, min, max
    na: list[str] = field(init=False)

    def __post_init__(self):
        self.na = [c.source for c in self.cats if c.source is not None]

    @property
    def cat_names(self) -> list[str]:
        """The embedding columns in order (the added `<col>_na` columns last)."""
        return [c.name for c in self.cats]

    @property
    def cont_names(self) -> list[str]:
        """The continuous columns in order."""
        return [c.name for c in self.conts]

    @property
    def input_names(self) -> list[str]:
        """The frame's columns the model reads (no `_na` columns: they are made from their source)."""
        return [c.name for c in self.cats if c.source is None] + self.cont_names

    def filled(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(categorical columns as text with `_na` columns added, continuous columns filled) of frame."""
        _missing_columns(frame, self.input_names)
        cats, conts = {}, {}
        for c in self.cats:
            if c.source is None:
                cats[c.name] = as_text(frame[c.name]).to_numpy()
        for c in self.conts:
            nums = numbers(frame[c.name], c.name)
            if c.name in self.na:
                cats[f"{c.name}_na"] = np.where(np.isnan(nums), "True", "False").astype(object)
            conts[c.name] = np.where(np.isnan(nums), c.fill, nums)
        return pd.DataFrame(cats, index=frame.index), pd.DataFrame(conts, index=frame.index)

    def codes(self, cats: pd.DataFrame) -> np.ndarray:
        """Text categories (the first of filled's frames) as codes N×n_cat: 0 for missing or unseen."""
        out = np.zeros((len(cats), len(self.cats)), dtype=np.int64)
        for j, c in enumerate(self.cats):
            out[:, j] = category_codes(cats[c.name], c.vocab)
        return out

    def normalised(self, conts: pd.DataFrame) -> np.ndarray:
        """Filled continuous columns (filled's second frame) as normalised float32 N×n_cont."""
        if not self.conts:
            return np.zeros((len(conts), 0), dtype=np.float32)
        mean = np.array([c.mean for c in self.conts])
        std = np.array([c.std for c in self.conts])
        return ((conts[self.cont_names].to_numpy(dtype=float) - mean) / std).astype(np.float32)

    def transform(self, frame: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows of frame as (codes: int64 N×n_cat, normalised floats: float32 N×n_cont)."""
        import torch

        cats, conts = self.filled(frame)
        return torch.from_numpy(self.codes(cats)), torch.from_numpy(self.normalised(conts))

    def target(self, frame: pd.DataFrame) -> torch.Tensor:
        """The target of every row: class indices (int64) or values (float32); a missing or unknown
        target is refused."""
        import torch

        _missing_columns(frame, [self.target_name])
        if self.classes is None:
            values = numbers(frame[self.target_name], self.target_name)
            if np.isnan(values).any():
                raise UserError(
                    f"{int(np.isnan(values).sum())} rows have no {self.target_name!r} to learn from."
                )
            return torch.from_numpy(values.astype(np.float32))
        codes = pd.Index(self.classes).get_indexer(as_text(frame[self.target_name]).to_numpy())
        if (codes < 0).any():
            cell = frame[self.target_name].iloc[int(np.flatnonzero(codes < 0)[0])]
            raise UserError(
                f"The target {self.target_name!r} has {str(cell)[:40]!r} (or nothing) in a row, which is not "
                f"one of the classes the model knows ({', '.join(self.classes[:10])})."
            )
        return torch.from_numpy(codes.astype(np.int64))

    def to_json(self) -> dict[str, Any]:
        """Plain JSON: the target, the classes, each column's vocabulary (and its training counts) or
        fill, mean and std."""

        def cat(c: CatColumn) -> dict[str, Any]:
            counts = {} if c.counts is None else {"counts": list(c.counts)}
            return {"name": c.name, "vocab": list(c.vocab), **counts}

        return {
            "kind": "table",
            "format": FORMAT,
            "target": self.target_name,
            "classes": None if self.classes is None else list(self.classes),
            "cat": [cat(c) for c in self.cats],
            "cont": [{"name": c.name, "fill": c.fill, "mean": c.mean, "std": c.std} for c in self.conts],
            "na": list(self.na),
            "target_stats": None if self.target_stats is None else dict(self.target_stats),
        }

    @classmethod
    def from_json(cls, d: Any) -> Procs:
        """The Procs to_json wrote; a state that does not hold together is refused with a UserError
        (the processing half of core.train.tabular.shape_of, the one check of a table's state)."""
        from core.serving.format import is_num

        if not (isinstance(d, dict) and all(isinstance(d.get(k), list) for k in ("cat", "cont"))):
            raise UserError("The table's processing state is damaged: it must list its cat and cont columns.")
        na, classes, stats = d.get("na") or [], d.get("classes"), d.get("target_stats")
        try:
            if not distinct_texts(na) or not isinstance(d.get("target"), str):
                raise ValueError("it needs the target's name and the names of its _na columns")
            if not (classes is None or distinct_texts(classes)):
                raise ValueError("the classes must be texts, none named twice")
            if not (stats is None or (isinstance(stats, dict) and all(map(is_num, stats.values())))):
                raise ValueError("the target's statistics must be numbers")
            cats, conts = [_column(c, na) for c in d["cat"]], [_column(c, na) for c in d["cont"]]
            if {type(c) for c in cats} - {CatColumn} or {type(c) for c in conts} - {ContColumn}:
                raise ValueError("a categorical column needs a vocabulary and a continuous one none")
            procs = cls(d["target"], classes, cats, conts, None if stats is None else dict(stats))
            if sorted(procs.na) != sorted(na) or not set(na) <= set(procs.cont_names):
                raise ValueError("its _na columns do not match its continuous columns")
        except ValueError as e:
            raise UserError(f"The table's processing state is damaged: {e}.") from None
        return procs

    def steps(self, rows: pd.DataFrame) -> list[Step]:
        """raw → FillMissing → Categorify → Normalize on a few rows, for the Data page."""
        raw = rows[[n for n in [*self.input_names, self.target_name] if n in rows.columns]].copy()
        cats, conts = self.filled(rows)
        codes = pd.DataFrame(self.codes(cats), columns=self.cat_names, index=rows.index)
        normed = pd.DataFrame(self.normalised(conts), columns=self.cont_names, index=rows.index)
        fills = pd.DataFrame(
            {
                "column": self.cont_names,
                "fill (training median)": [c.fill for c in self.conts],
                "adds": [f"{c.name}_na" * (c.name in self.na) for c in self.conts],
            }
        )
        vocabs = pd.DataFrame(
            {
                "column": self.cat_names,
                "categories": [len(c.vocab) for c in self.cats],
                "vocabulary (code 0, 1, 2, …)": [
                    ", ".join(c.vocab[:30]) + ", …" * (len(c.vocab) > 30) for c in self.cats
                ],
            }
        )
        stats = pd.DataFrame(
            {
                "column": self.cont_names,
                "mean": [c.mean for c in self.conts],
                "std": [c.std for c in self.conts],
            }
        )
        gaps = f"; {len(self.na)} {STEP_NOTES['_na']}" if self.na else "."
        return [
            Step("raw", raw, STEP_NOTES["raw"]),
            Step("FillMissing", pd.concat([cats, conts], axis=1), STEP_NOTES["FillMissing"] + gaps, fills),
            Step("Categorify", pd.concat([codes, conts], axis=1), STEP_NOTES["Categorify"], vocabs),
            Step("Normalize", pd.concat([codes, normed], axis=1), STEP_NOTES["Normalize"], stats),
        ]


def fit(frame: pd.DataFrame, roles: Any, is_valid: Any, classes: list[str] | None = None) -> Procs:
    """Procs fitted on frame's training rows (is_valid False) for roles (target, cat, cont).

    classes: the class names in output order for a classification target (None: a regression
    target; its training mean, std, min and max are kept in target_stats).
    """
    cat_names, cont_names, target = list(roles.cat), list(roles.cont), str(roles.target)
    _missing_columns(frame, [*cat_names, *cont_names, target])
    if not cat_names and not cont_names:
        raise UserError("The table has no input columns: mark at least one column categorical or continuous.")
    train = frame.loc[~np.asarray(is_valid, dtype=bool)]
    if len(train) == 0:
        raise UserError("The training side of the split has no rows.")
    cats = []
    for name in cat_names:
        vocab = vocabulary(train[name])
        counts = np.bincount(category_codes(train[name], vocab), minlength=len(vocab))
        cats.append(CatColumn(name, vocab, counts=[int(n) for n in counts]))
    conts, na, cats_na = [], [], []
    taken = set(cat_names) | set(cont_names) | {target}
    for name in cont_names:
        nums = numbers(train[name], name)
        present = nums[~np.isnan(nums)]
        if len(present) == 0:
            raise UserError(f"The continuous column {name!r} has no values in the training rows.")
        fill = float(np.median(present))
        if len(present) < len(nums):
            if f"{name}_na" in taken:
                raise UserError(
                    f"{name!r} has gaps, and its `{name}_na` column would clash with a column of that name."
                )
            na.append(name)
        filled = np.where(np.isnan(nums), fill, nums)
        conts.append(ContColumn(name, fill, float(filled.mean()), float(filled.std(ddof=0) + EPS)))
        gaps = int(np.isnan(nums).sum())
        if gaps:
            cats_na.append(CatColumn(f"{name}_na", list(NA_VOCAB), name, [0, len(nums) - gaps, gaps]))
    cats += cats_na
    stats = None
    if classes is None:
        y = numbers(train[target], target)
        y = y[~np.isnan(y)]
        if len(y) == 0:
            raise UserError(f"The target {target!r} has no values in the training rows.")
        stats = {
            "mean": float(y.mean()),
            "std": float(y.std(ddof=0)),
            "min": float(y.min()),
            "max": float(y.max()),
        }
    return Procs(target, None if classes is None else [str(c) for c in classes], cats, conts, stats)


def emb_sizes(procs: Procs) -> list[tuple[str, int, int]]:
    """(column, cardinality, embedding size by fastai's emb_sz_rule) for every embedding column."""
    from fastai.tabular.model import emb_sz_rule

    return [(c.name, len(c.vocab), int(emb_sz_rule(len(c.vocab)))) for c in procs.cats]
