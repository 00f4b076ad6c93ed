"""Prediction for tables: a form's row or a CSV of rows through the processing the model trained on.

A table model's bundle holds its processing state beside the weights (plain JSON, never a
pickle): the target, the classes, each categorical column's vocabulary, each continuous
column's fill value (the training median), mean and std, and the network's shape. Rows are
processed by the very code training used (core.data.table_procs.Procs.transform): a missing
continuous value takes the median (and its `_na` column says so), a category the model never
saw becomes "#na#" (code 0), and each row's notes say which of its cells were treated so.

check_state is the import check of every table or ratings state (format.validate_config calls
it): plain JSON of bounded size and depth that the one check of its kind accepts (the same that
rebuilds a run's network: core.train.tabular.shape_of, core.train.collab.shape_of) and whose
classes or target are the bundle's outputs. It reads no tensor and imports no torch, so the
library lists bundles quickly; the weights are checked against the network the state builds
on load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.data.table_procs import NA, as_text
from core.errors import UserError
from core.serving.format import BundleError, is_num

if TYPE_CHECKING:
    from core.runs import RunRecord
    from core.serving.library import ModelInfo
    from core.serving.predict import LoadedModel

MAX_STATE_NODES = 2_000_000  # values in a state (a ratings model's users and items are most of them)
MAX_STATE_DEPTH = 8
MAX_STATE_TEXT = 10_000  # characters in one text of a state (a CSV cell's limit)
MAX_ROWS = 100_000  # rows of one CSV batch on the Predict page
BATCH = 4096


# --- the state's import checks ---------------------------------------------------------------


def _walk(state: Any) -> None:
    """Plain JSON: text keys, finite numbers, bounded texts, at most MAX_STATE_NODES values deep
    MAX_STATE_DEPTH."""
    if not isinstance(state, dict):
        raise BundleError("config.json's state must be a JSON object.")
    stack, nodes = [(state, 1)], 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_STATE_NODES or depth > MAX_STATE_DEPTH:
            raise BundleError(
                f"config.json's state is too large or too deeply nested (at most {MAX_STATE_NODES:,} "
                f"values, {MAX_STATE_DEPTH} levels deep); refused."
            )
        if isinstance(value, dict):
            if not all(isinstance(k, str) and len(k) <= MAX_STATE_TEXT for k in value):
                raise BundleError("config.json's state has a key that is not short text.")
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, str):
            if len(value) > MAX_STATE_TEXT:
                raise BundleError(f"config.json's state holds a text longer than {MAX_STATE_TEXT:,}.")
        elif value is not None and not isinstance(value, bool) and not is_num(value):
            raise BundleError(f"config.json's state holds {str(value)[:40]}, which is not plain JSON.")


def check_state(task: str, state: Any, outputs: list[str]) -> None:
    """A table or ratings bundle's state: bounded plain JSON that the one check of its kind accepts
    (core.train.tabular.shape_of or core.train.collab.shape_of), whose classes (or target) are the
    bundle's outputs; BundleError otherwise."""
    from core.train import collab, tabular

    _walk(state)
    try:
        if task == "collaborative":
            collab.shape_of(state)
            return
        tabular.shape_of(state)
    except UserError as e:
        raise BundleError(str(e)) from e
    if task == "tabular_classification" and state.get("classes") != outputs:
        raise BundleError("config.json's state names other classes than the bundle's classes.")
    if task != "tabular_classification" and (
        state.get("classes") is not None or [state.get("target")] != outputs
    ):
        raise BundleError("config.json's state names another target than the bundle's.")


# --- what a bundle stores --------------------------------------------------------------------


def bundle_fields(record: RunRecord) -> dict[str, Any]:
    """A table run's bundle fields: the processing state, and its classes or its target's name."""
    if not isinstance(record.state, dict):
        raise UserError("This run has no processing state to save; train it again.")
    if record.task == "tabular_classification":
        return {"classes": list(record.vocab), "state": record.state}
    return {"target": str(record.state["target"]), "state": record.state}


# --- the form --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One input of the Predict form: a categorical column (choices) or a continuous one (a number)."""

    name: str
    kind: str  # "cat" or "cont"
    choices: list[str] | None  # the categories the model knows ("#na#" left out), or None
    default: str | float


def form_fields(info: ModelInfo) -> list[Field]:
    """One field per input column, in the model's order: categories first, then numbers.

    A category starts at the most frequent one in the training rows (the state's counts; the
    first known one for an older state without them), a number at its training median (its fill).
    """
    procs = procs_of(info.state or {})
    out = []
    for c in procs.cats:
        if c.source is not None:
            continue  # made from its continuous column
        choices = list(c.vocab[1:])
        best = int(np.argmax(c.counts[1:])) if c.counts and choices else 0
        out.append(Field(c.name, "cat", choices, choices[best] if choices else NA))
    out += [Field(c.name, "cont", None, float(c.fill)) for c in procs.conts]
    return out


# --- predicting rows -------------------------------------------------------------------------


def procs_of(state: dict):
    """The Procs a state describes (core.data.table_procs), refused as a BundleError when damaged."""
    from core.data.table_procs import Procs

    try:
        return Procs.from_json(state)
    except UserError as e:
        raise BundleError(str(e)) from e


def _notes(frame: pd.DataFrame, procs) -> list[str]:
    """Per row, which cells were treated: an unknown category read as #na#, a missing value filled."""
    notes = [[] for _ in range(len(frame))]
    for c in procs.cats:
        if c.source is not None:
            continue
        text = as_text(frame[c.name]).to_numpy()
        known = set(c.vocab[1:])
        for i, v in enumerate(text):
            if isinstance(v, str) and v not in known:
                notes[i].append(f"{c.name}: {v[:40]!r} unknown → {NA}")
            elif not isinstance(v, str):
                notes[i].append(f"{c.name}: missing → {NA}")
    for c in procs.conts:
        missing = pd.to_numeric(frame[c.name], errors="coerce").isna().to_numpy()
        for i in np.flatnonzero(missing):
            notes[i].append(f"{c.name}: missing → {c.fill:.4g} (the training median)")
    return ["; ".join(n) for n in notes]


def outputs(model, cats, conts, task: str, lock: Any = None) -> np.ndarray:
    """The network's answers for processed rows: class probabilities N×C, or values N (batched).

    lock: held while the network runs (core.serving.predict.MODEL_LOCK for a served model, which
    other sessions share); Results pass none, their run's network is their own.
    """
    import contextlib

    import torch

    from core import tasks

    activation = tasks.get(task).activation
    out = []
    with lock or contextlib.nullcontext(), torch.inference_mode():
        model.eval()
        device = next(model.parameters()).device
        for i in range(0, len(cats), BATCH):
            logits = model(cats[i : i + BATCH].to(device), conts[i : i + BATCH].to(device))
            out.append(activation(logits).float().cpu().numpy())
    if not out:
        return np.zeros((0, 1) if task == "tabular_classification" else (0,), dtype=np.float32)
    return np.concatenate(out)


def check_columns(frame: pd.DataFrame, procs) -> None:
    """UserError naming every input column the rows lack (the target and others may be absent)."""
    absent = [n for n in procs.input_names if n not in frame.columns]
    if absent:
        raise UserError(
            f"The rows lack the column(s) {', '.join(map(repr, absent))}, which the model reads; "
            f"it needs {', '.join(procs.input_names)}."
        )


def predict_rows(loaded: LoadedModel, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's answer for each row: every column of frame as given (ids and all, so a batch
    joins back to its rows), then `predicted` and, for classes, the probability of the answer and
    of every class (p(class)); then the row's notes. A given column named like an added one is
    kept as "<name> (column)"."""
    from core.serving.predict import MODEL_LOCK

    info = loaded.info
    procs = procs_of(info.state or {})
    check_columns(frame, procs)
    frame = frame.reset_index(drop=True)
    cats, conts = procs.transform(frame)
    answers = outputs(loaded.model, cats, conts, info.task, MODEL_LOCK)
    added = {"predicted": answers.reshape(-1).astype(float)}
    if info.task == "tabular_classification":
        classes = list(info.classes)
        best = answers.argmax(axis=1) if len(answers) else np.zeros(0, dtype=int)
        added = {
            "predicted": [classes[i] for i in best],
            "probability": answers[np.arange(len(best)), best].astype(float),
            **{f"p({c})": answers[:, j].astype(float) for j, c in enumerate(classes)},
        }
    added["notes"] = _notes(frame, procs)
    out = frame.rename(columns={c: f"{c} (column)" for c in frame.columns if c in added})
    return out.assign(**added)


def predict_csv(loaded: LoadedModel, data: bytes, shown: str = "the CSV") -> pd.DataFrame:
    """predict_rows for a CSV a person handed in (the bounded reader; at most MAX_ROWS rows)."""
    from core.data.csv_reader import CsvLimits, read_csv

    frame = read_csv(data, shown, CsvLimits(max_rows=MAX_ROWS))
    return predict_rows(loaded, frame)
