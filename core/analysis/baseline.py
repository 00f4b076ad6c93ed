"""The question any tabular person asks first: does the network beat gradient-boosted trees here?

scikit-learn's HistGradientBoostingClassifier (or Regressor) is trained on the same rows, the
same split and the same input columns as a table run, and judged by the same figures (accuracy
and F1, or RMSE, MAE and R²), so the two can be read side by side. Categorical columns become
ordinal codes learned from the training rows (unknown and missing ones are "missing", which the
trees handle natively) and are declared categorical, so the trees split on sets of categories
rather than on an order that means nothing; a column with more categories than the trees can
bin (255) is left as plain codes. The result is kept in runs/<id>/baseline.json, keyed by the
data version it was computed on, so it is computed once per version of the data.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from core import fsutil, runs
from core.errors import UserError

BASELINE = "baseline.json"
MAX_CAT_BINS = 254  # HistGradientBoosting bins categories into at most 255 bins, one kept for missing
TABLE_TASKS = ("tabular_classification", "tabular_regression")


def encode(frame: pd.DataFrame, cat: list[str], cont: list[str], is_valid: np.ndarray):
    """The inputs as a float matrix: codes for categories (learned on the training rows, NaN for
    missing or unseen), the continuous columns as they are (NaN kept); and which are categorical."""
    from core.data.table_procs import as_text

    columns, categorical = [], []
    train = ~np.asarray(is_valid, dtype=bool)
    for col in cat:
        text = as_text(frame[col])
        seen = sorted(text[train].dropna().unique().tolist())
        codes = pd.Index(seen, dtype=object).get_indexer(text.to_numpy()).astype(np.float64)
        codes[codes < 0] = np.nan
        columns.append(codes)
        categorical.append(len(seen) <= MAX_CAT_BINS)
    for col in cont:
        columns.append(pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64))
        categorical.append(False)
    x = np.stack(columns, axis=1) if columns else np.zeros((len(frame), 0))
    return x, np.asarray(categorical, dtype=bool)


def metrics(task: str, y: np.ndarray, predicted: np.ndarray, n_classes: int = 0) -> dict[str, float]:
    """The figures of a table run, by the same names: accuracy and F1 (binary for two classes,
    macro otherwise, as fastai's F1Score), or RMSE, MAE and R²."""
    from sklearn.metrics import f1_score, r2_score

    if not len(y):
        names = ("accuracy", "f1") if task == "tabular_classification" else ("rmse", "mae", "r2")
        return dict.fromkeys(names, float("nan"))
    if task == "tabular_classification":
        average = "binary" if n_classes == 2 else "macro"
        return {
            "accuracy": float(np.mean(predicted == y)),
            "f1": float(f1_score(y, predicted, average=average, zero_division=0)),
        }
    err = np.asarray(predicted, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": float(r2_score(y, predicted)) if len(y) > 1 else float("nan"),
    }


def fit(items, seed: int = 0) -> dict:
    """Train the trees on the training rows of TableItems and judge them on the validation rows."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    roles, frame = items.roles, items.frame
    is_valid = np.asarray(items.is_valid, dtype=bool)
    x, categorical = encode(frame, list(roles.cat), list(roles.cont), is_valid)
    classify = items.task == "tabular_classification"
    if classify:
        index = {c: i for i, c in enumerate(items.vocab)}
        y = frame[roles.target].map(lambda v: index.get(v, -1)).to_numpy(dtype=np.int64)
        known = y >= 0
        model = HistGradientBoostingClassifier(random_state=seed, categorical_features=categorical)
    else:
        y = pd.to_numeric(frame[roles.target], errors="coerce").to_numpy(dtype=np.float64)
        known = np.isfinite(y)
        model = HistGradientBoostingRegressor(random_state=seed, categorical_features=categorical)
    train, valid = known & ~is_valid, known & is_valid
    if not train.any() or not valid.any():
        raise UserError("The baseline needs rows with a target on both sides of the split.")
    start = time.perf_counter()
    model.fit(x[train], y[train])
    seconds = time.perf_counter() - start
    predicted = model.predict(x[valid])
    return {
        "model": type(model).__name__,
        **metrics(items.task, y[valid], predicted, len(items.vocab)),
        "seconds": round(seconds, 3),
        "n_train": int(train.sum()),
        "n_valid": int(valid.sum()),
    }


def path(run_id: int):
    """Where a run's baseline is kept: runs/<id>/baseline.json."""
    return runs.run_dir(run_id) / BASELINE


def cached(run_id: int, version: str) -> dict | None:
    """The kept baseline of a run for this data version, or None."""
    try:
        data = json.loads(path(run_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("data_fingerprint") == version else None


def gbm_baseline(run_id: int) -> dict:
    """Gradient-boosted trees on a table run's data, split and columns, with the run's figures.

    Returns {"model", the metrics by the run's names, "seconds" (to train), "n_train", "n_valid",
    "data_fingerprint" (the version it was computed on), "same_data" (True when that is the
    version the run trained on)}; kept in runs/<id>/baseline.json and read back while the data
    are unchanged.
    """
    from core.analysis.tabular import table_items
    from core.data import tables

    record = runs.read_record(run_id)
    if record.task not in TABLE_TASKS:
        raise UserError(f"Run {run_id} is not a table run; the tree baseline is for tables.")
    items = table_items(record.config)
    version = tables.fingerprint(items)
    found = cached(run_id, version)
    if found is not None:
        return found
    result = {
        **fit(items, seed=record.config.seed),
        "data_fingerprint": version,
        "same_data": version == record.data_fingerprint,
    }
    fsutil.atomic_write(path(run_id), json.dumps(result, indent=2))
    return result
