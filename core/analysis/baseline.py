"""The question any tabular person asks first: does the network beat gradient-boosted trees here?

scikit-learn's HistGradientBoostingClassifier (or Regressor) is trained on the same rows, the
same split (the run's own: core.data.table_loaders.run_split) and the same input columns as a
table run, and judged by the same figures (core.train.tabular.figures: accuracy and F1, or RMSE,
MAE and R²), so the two can be read side by side. Categorical columns become
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
from core.data.table_roles import TABULAR_TASKS
from core.errors import UserError

BASELINE = "baseline.json"
MAX_CAT_BINS = 254  # HistGradientBoosting bins categories into at most 255 bins, one kept for missing


def encode(frame: pd.DataFrame, cat: list[str], cont: list[str], is_valid: np.ndarray):
    """The inputs as a float matrix: codes for categories (the network's vocabulary rule, learned on
    the training rows; NaN for missing or unseen), the continuous columns as they are (NaN kept);
    and which are categorical."""
    from core.data.table_procs import category_codes, vocabulary

    columns, categorical = [], []
    train = ~np.asarray(is_valid, dtype=bool)
    for col in cat:
        vocab = vocabulary(frame[col][train])
        codes = category_codes(frame[col], vocab).astype(np.float64) - 1  # "#na#" → -1 → missing
        codes[codes < 0] = np.nan
        columns.append(codes)
        categorical.append(len(vocab) - 1 <= MAX_CAT_BINS)
    for col in cont:
        columns.append(pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64))
        categorical.append(False)
    x = np.stack(columns, axis=1) if columns else np.zeros((len(frame), 0))
    return x, np.asarray(categorical, dtype=bool)


def fit(items, is_valid: np.ndarray, classes: list[str] | None = None, seed: int = 0) -> dict:
    """Train the trees on the training rows of TableItems and judge them on the validation rows
    (is_valid: the run's split), by core.train.tabular.figures as the network is judged.

    classes: the run's classes in output order (rows of another class are left out).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    from core.data.table_procs import as_text
    from core.train.tabular import figures

    roles, frame = items.roles, items.frame
    is_valid = np.asarray(is_valid, dtype=bool)
    x, categorical = encode(frame, list(roles.cat), list(roles.cont), is_valid)
    classify = items.task == "tabular_classification"
    classes = list(classes if classes is not None else items.vocab)
    if classify:
        y = pd.Index(classes, dtype=object).get_indexer(as_text(frame[roles.target]).to_numpy())
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
        **figures(items.task, y[valid], predicted, len(classes)),
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
    except (OSError, ValueError, RecursionError):
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
    from core.data.table_loaders import run_split

    record = runs.read_record(run_id)
    if record.task not in TABULAR_TASKS:
        raise UserError(f"Run {run_id} is not a table run; the tree baseline is for tables.")
    items = table_items(record.config)
    version = tables.fingerprint(items)
    found = cached(run_id, version)
    if found is not None:
        return found
    is_valid, _notes = run_split(record.state, items)
    classes = (record.state or {}).get("classes") if isinstance(record.state, dict) else None
    result = {
        **fit(items, is_valid, classes, seed=record.config.seed),
        "data_fingerprint": version,
        "same_data": version == record.data_fingerprint,
    }
    fsutil.atomic_write(path(run_id), json.dumps(result, indent=2))
    return result
