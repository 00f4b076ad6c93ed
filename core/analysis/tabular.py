"""Interpretation of a table run: scores, confusion or residuals, the worst rows, what the model uses.

The run's network is rebuilt from its weights and state and applied to every row of its table
as it is now (a corrected cell is judged as corrected), split as the run was split (its state's
split cut again: core.data.table_loaders.run_split, with a note when the dataset's split has
changed since), processed by the very code training used
(core.data.table_procs.Procs.transform: the training rows' medians, vocabularies, means and
stds, kept in the run's state). From the predictions:

- scores: the task's figures (accuracy and F1, or RMSE, MAE and R²) on one split, by the one
  function training's metrics call (core.train.tabular.figures), so the validation figures are
  the run's own;
- confusion (classes) and residuals (values), and the rows with the largest loss;
- permutation importance: shuffle one input column among the validation rows (so it keeps its
  values but loses its link to the target), predict again and see how much the main figure
  gets worse. A column the model leans on costs a lot; one it ignores costs nothing;
- the learned embedding of a categorical column projected to two dimensions with PCA: values
  the network treats alike end up close together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.errors import UserError
from core.train.tabular import figures

SPLITS = ("train", "valid")
EPS = 1e-12  # probabilities are clipped here so a loss is finite
ADDED = ("split", "target", "predicted", "loss", "probability", "residual")


def shown_as(column: str, target: str) -> str:
    """The name a table's column has in an interpretation's frame: its own, unless it is one of the
    added columns' names (then "<name> (column)"; a target called "target" keeps its name)."""
    return f"{column} (column)" if column in ADDED and not column == target == "target" else column


def table_items(cfg):
    """The run's table as it is now (TableItems), read under its lock as training read it."""
    from core.data import datasets, table_loaders

    items, _version = table_loaders.read(cfg, datasets.resolve(cfg.dataset))
    return items


@dataclass
class TableInterpretation:
    """A table run's predictions on every row of its table (frame), with what they came from."""

    run_id: int
    dataset: str
    task: str
    frame: pd.DataFrame  # the raw rows + split, target, predicted, loss, probability | residual
    classes: list[str] | None  # classification: the classes in output order
    state: dict
    probs: np.ndarray | None = None  # classification: N×C probabilities, rows as in frame
    fingerprint: str = ""
    notes: list[str] = field(default_factory=list)  # sentences the page shows above the results

    def part(self, split: str | None) -> pd.DataFrame:
        """The rows of one split (every row for None)."""
        if split is None:
            return self.frame
        if split not in SPLITS:
            raise UserError(f"Unknown split {split!r}; choose train or valid.")
        return self.frame[self.frame["split"] == split]


def row_losses(task: str, answers: np.ndarray, y: np.ndarray, options=None, state=None) -> np.ndarray:
    """Each row's loss as training measured it: cross-entropy, or the run's MSE, MAE or Huber."""
    if task == "tabular_classification":
        p = np.clip(answers[np.arange(len(y)), y.astype(int)], EPS, 1.0)
        return -np.log(p)
    err = np.asarray(answers, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    loss = getattr(options, "loss", "mse")
    if loss == "mae":
        return np.abs(err)
    if loss == "huber":
        from core.train.tabular import huber_delta

        std = ((state or {}).get("target_stats") or {}).get("std", 1.0)
        delta = huber_delta(getattr(options, "huber_delta", 1.0), std)
        small = np.abs(err) < delta
        return np.where(small, 0.5 * err**2, delta * (np.abs(err) - 0.5 * delta))
    return err**2


def interpret(loaded) -> TableInterpretation:
    """Predict every row of the run's table with its network, through the run's own processing."""
    from core.data import layouts
    from core.data.table_loaders import run_split
    from core.serving.predict_table import outputs, procs_of

    rec, cfg = loaded.record, loaded.config
    if not isinstance(rec.state, dict):
        raise UserError(f"Run {loaded.run_id} has no processing state; train it again.")
    items = table_items(cfg)
    procs = procs_of(rec.state)
    split, notes = run_split(rec.state, items)
    classify = rec.task == "tabular_classification"
    keep = np.ones(len(items.frame), dtype=bool)
    if classify:  # rows of a class the run never saw cannot be scored against it
        keep = items.frame[procs.target_name].isin(procs.classes).to_numpy()
    raw = items.frame[keep].reset_index(drop=True)
    is_valid = split[keep]
    cats, conts = procs.transform(raw)
    y = procs.target(raw).numpy()
    answers = outputs(loaded.model, cats, conts, rec.task)
    frame = raw.rename(columns={c: shown_as(c, procs.target_name) for c in raw.columns})
    frame["split"] = np.where(is_valid, "valid", "train")
    frame["target"] = raw[procs.target_name].to_numpy()
    probs = None
    if classify:
        probs = answers.reshape(len(raw), len(procs.classes))
        best = probs.argmax(axis=1) if len(raw) else np.zeros(0, dtype=int)
        frame["predicted"] = [procs.classes[i] for i in best]
        frame["probability"] = probs[np.arange(len(best)), best].astype(float)
        frame["loss"] = row_losses(rec.task, probs, y)
    else:
        values = answers.reshape(-1).astype(float)
        frame["predicted"] = values
        frame["residual"] = y.astype(float) - values
        frame["loss"] = row_losses(rec.task, values, y, cfg.options, rec.state)
    return TableInterpretation(
        run_id=loaded.run_id,
        dataset=cfg.dataset,
        task=rec.task,
        frame=frame,
        classes=list(procs.classes) if classify else None,
        state=rec.state,
        probs=probs,
        fingerprint=layouts.fingerprint(items),
        notes=notes,
    )


def scores(interp: TableInterpretation, split: str = "valid") -> dict[str, float]:
    """accuracy and f1 (classes), or rmse, mae and r2 (values), on one split's rows."""
    rows = interp.part(split)
    if interp.task == "tabular_classification":
        index = {c: i for i, c in enumerate(interp.classes)}
        target = rows["target"].map(index).to_numpy(dtype=np.int64)
        predicted = rows["predicted"].map(index).to_numpy(dtype=np.int64)
        return figures(interp.task, target, predicted, len(interp.classes))
    return figures(interp.task, rows["target"].to_numpy(float), rows["predicted"].to_numpy(float))


def confusion(interp: TableInterpretation, split: str = "valid") -> tuple[np.ndarray, list[str]]:
    """Counts of rows by actual class (rows) and predicted class (columns) on one split."""
    if interp.classes is None:
        raise UserError("A confusion matrix is for classes; this run predicts a value.")
    rows, n = interp.part(split), len(interp.classes)
    index = {c: i for i, c in enumerate(interp.classes)}
    a = rows["target"].map(index).to_numpy(dtype=np.int64)
    p = rows["predicted"].map(index).to_numpy(dtype=np.int64)
    matrix = np.bincount(a * n + p, minlength=n * n).reshape(n, n)
    return matrix, list(interp.classes)


def top_rows(interp: TableInterpretation, k: int = 20) -> pd.DataFrame:
    """The k rows with the largest loss: validation rows first, then training rows."""
    frame = interp.frame.assign(_train=interp.frame["split"] != "valid")
    ordered = frame.sort_values(["_train", "loss"], ascending=[True, False], kind="stable")
    return ordered.drop(columns="_train").head(k)


def _main(task: str) -> tuple[str, bool]:
    from core import tasks

    t = tasks.get(task)
    return t.main_metric, t.higher_is_better


def permutation_importance(loaded, interp: TableInterpretation, n_repeats: int = 3, seed: int = 0):
    """How much the main figure worsens when one input column is shuffled among the validation rows.

    Returns DataFrame(column, drop, std) sorted by drop, largest first: drop is the mean loss of
    quality over n_repeats shuffles (accuracy lost, or RMSE gained), std its spread. A missing
    continuous value moves with its cell, so the column's `_na` flag is shuffled with it.
    """
    from core.serving.predict_table import outputs, procs_of

    procs = procs_of(interp.state)
    valid = interp.part("valid")
    if len(valid) < 2:
        raise UserError("Permutation importance needs at least two validation rows.")
    metric, higher = _main(interp.task)
    base = scores(interp, "valid")[metric]
    columns = list(procs.input_names)
    raw = valid[[shown_as(c, procs.target_name) for c in columns]].reset_index(drop=True)
    raw.columns = columns
    target = valid["target"].to_numpy()
    rng = np.random.default_rng(seed)
    rows = []
    for col in columns:
        drops = []
        for _ in range(n_repeats):
            shuffled = raw.copy()
            shuffled[col] = raw[col].to_numpy()[rng.permutation(len(raw))]
            cats, conts = procs.transform(shuffled)
            answers = outputs(loaded.model, cats, conts, interp.task)
            value = _figure(interp, answers, target)[metric]
            drops.append(base - value if higher else value - base)
        rows.append({"column": col, "drop": float(np.mean(drops)), "std": float(np.std(drops))})
    out = pd.DataFrame(rows, columns=["column", "drop", "std"])
    return out.sort_values("drop", ascending=False, kind="stable").reset_index(drop=True)


def _figure(interp: TableInterpretation, answers: np.ndarray, target: np.ndarray) -> dict[str, float]:
    if interp.task == "tabular_classification":
        index = {c: i for i, c in enumerate(interp.classes)}
        probs = answers.reshape(len(target), len(interp.classes))
        actual = np.array([index[t] for t in target], dtype=np.int64)
        return figures(interp.task, actual, probs.argmax(axis=1), len(interp.classes))
    return figures(interp.task, target.astype(float), answers.reshape(-1).astype(float))


def embedding_columns(state: dict) -> list[str]:
    """The categorical columns with a learned embedding, in the model's order (`_na` flags left out)."""
    na = {f"{n}_na" for n in (state or {}).get("na", [])}
    return [c["name"] for c in (state or {}).get("cat", []) if c["name"] not in na]


def embedding_pca(loaded, column: str, interp: TableInterpretation | None = None) -> pd.DataFrame:
    """Each category of a column as a point: its learned embedding projected to 2-D with PCA.

    Returns DataFrame(value, x, y, count): one row per category the model knows ("#na#" first),
    count being how many rows of the table hold it now (interp's rows, else the table read again).
    """
    from sklearn.decomposition import PCA

    from core.data.table_procs import as_text

    state = loaded.record.state or {}
    names = [c["name"] for c in state.get("cat", [])]
    if column not in names:
        raise UserError(f"{column!r} is not a categorical column of this model; choose one of {names}.")
    j = names.index(column)
    vocab = list(state["cat"][j]["vocab"])
    weights = loaded.model.embeds[j].weight.detach().float().cpu().numpy()
    if len(vocab) >= 2 and weights.shape[1] >= 2:
        xy = PCA(n_components=2, random_state=0).fit_transform(weights)
    else:  # a one-wide embedding (or a single category) is already a line
        xy = np.column_stack([weights[:, 0] - weights[:, 0].mean(), np.zeros(len(weights))])
    source = {f"{n}_na": n for n in state.get("na", [])}.get(column)
    name = source or column
    if interp is not None:
        values = interp.frame[shown_as(name, state.get("target", ""))]
    else:
        values = table_items(loaded.config).frame[name]
    text = values.isna().map(str) if source else as_text(values)
    counts = text.value_counts()
    count = [int(text.isna().sum()) + int(counts[~counts.index.isin(vocab)].sum())]
    count += [int(counts.get(v, 0)) for v in vocab[1:]]
    return pd.DataFrame({"value": vocab, "x": xy[:, 0], "y": xy[:, 1], "count": count})
