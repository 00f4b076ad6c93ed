"""Results of a table run: the scores are the run's own, the confusion, the worst rows, what the model
leans on (permutation importance), the embeddings projected with PCA, and the tree baseline beside it.

One tiny run of each table task per session (a few hundred rows, a few epochs, about a second):
the target of the classification table depends on `signal` (and a little on `colour`), never on
`noise`, so importance can be checked against what is known to be true.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import runs, workspace
from core.config import TrainConfig
from core.jobs.store import DONE, Job, Store

CLS, REG, RATINGS = "tiny_income", "tiny_price", "tiny_ratings"  # datasets (and models) by task
GRADES = "tiny_grades"  # three classes, one of them never in validation
COLOURS = {"red": 1.0, "green": -1.0, "blue": 0.0, "grey": 0.5}


@dataclass
class TableRun:
    """A finished table (or ratings) run in a workspace of its own."""

    root: Path
    job: Job
    name: str

    @property
    def dataset(self) -> Path:
        """The dataset's folder (table.csv or ratings.csv, dataset.json)."""
        return self.root / "datasets" / self.name


def income_table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """income is >50K when 2·signal + colour's effect > 0; noise plays no part; 5 signals missing."""
    rng = np.random.default_rng(seed)
    signal, noise = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(list(COLOURS), size=n)
    effect = np.array([COLOURS[c] for c in colour])
    income = np.where(2 * signal + effect > 0, ">50K", "<=50K")
    shown = signal.round(4).astype(object)
    shown[:5] = ""
    return pd.DataFrame({"signal": shown, "noise": noise.round(4), "colour": colour, "income": income})


def price_table(n: int = 300, seed: int = 1) -> pd.DataFrame:
    """price = 3·size + colour's effect + a little noise (a regression target)."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(0, 2, size=n)
    colour = rng.choice(list(COLOURS), size=n)
    price = 3 * size + np.array([COLOURS[c] for c in colour]) + rng.normal(scale=0.1, size=n)
    return pd.DataFrame({"size": size.round(4), "colour": colour, "price": price.round(4)})


def ratings_table(n_users: int = 40, n_items: int = 30, seed: int = 2) -> pd.DataFrame:
    """Every user rates about half the items: 1 to 5 stars from two hidden factors."""
    rng = np.random.default_rng(seed)
    u, v = rng.normal(size=(n_users, 2)), rng.normal(size=(n_items, 2))
    rows = [
        (f"u{a}", f"film {b}: part {b % 3} & more", float(np.clip(np.round(3 + u[a] @ v[b]), 1, 5)))
        for a in range(n_users)
        for b in range(n_items)
        if rng.random() < 0.5
    ]
    return pd.DataFrame(rows, columns=["user", "item", "rating"])


def grades_table(n: int = 300, seed: int = 3) -> pd.DataFrame:
    """grade low (x < 0), mid (x < 2) or high; the held-out rows (the validation, by a flag column)
    all have x < 1, so no validation row is high and the model has no reason to answer high."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, n)
    grade = np.where(x < 0, "low", np.where(x < 2, "mid", "high"))
    held = (x < 1) & (rng.random(n) < 0.4)
    return pd.DataFrame(
        {
            "x": x.round(4),
            "noise": rng.normal(size=n).round(4),
            "grade": grade,
            "held_out": np.where(held, "yes", "no"),
        }
    )


DATA = {
    CLS: (
        income_table,
        "tabular_classification",
        {"target": "income", "cat": ["colour"], "cont": ["signal", "noise"]},
        TrainConfig(task="tabular_classification", dataset=CLS, arch="tabular_mlp", epochs=4, bs=64, lr=1e-2),
    ),
    REG: (
        price_table,
        "tabular_regression",
        {"target": "price", "cat": ["colour"], "cont": ["size"]},
        TrainConfig(task="tabular_regression", dataset=REG, arch="tabular_mlp", epochs=3, bs=32, lr=1e-2),
    ),
    RATINGS: (
        ratings_table,
        "collaborative",
        {"user": "user", "item": "item", "rating": "rating"},
        TrainConfig(task="collaborative", dataset=RATINGS, arch="dot_bias", epochs=2, bs=64, lr=5e-3),
    ),
    GRADES: (
        grades_table,
        "tabular_classification",
        {"target": "grade", "cat": [], "cont": ["x", "noise"]},
        TrainConfig(
            task="tabular_classification", dataset=GRADES, arch="tabular_mlp", epochs=6, bs=32, lr=1e-2
        ),
    ),
}
SPLITS = {GRADES: {"kind": "column", "column": "held_out"}}  # the others: random, a quarter, seed 0
_RUNS: dict[tuple[str, str], TableRun] = {}


def write_dataset(root: Path, name: str) -> Path:
    """The dataset name of DATA as a folder under root's workspace: the csv and its dataset.json."""
    make, task, roles, _cfg = DATA[name]
    folder = root / "datasets" / name
    folder.mkdir(parents=True, exist_ok=True)
    csv = "ratings.csv" if task == "collaborative" else "table.csv"
    make().to_csv(folder / csv, index=False)
    meta = {
        "task": task,
        "title": name,
        "roles": roles,
        "split": SPLITS.get(name, {"kind": "random", "valid_pct": 0.25, "seed": 0}),
    }
    (folder / "dataset.json").write_text(json.dumps(meta))
    return folder


def trained_table(tmp_path_factory, name: str, arch: str | None = None) -> TableRun:
    """Train the dataset name of DATA once per session (arch: another architecture for ratings)."""
    import torch

    from core.train.training import train

    key = (name, arch or "")
    if key in _RUNS:
        return _RUNS[key]
    cfg = DATA[name][3] if arch is None else DATA[name][3].replace(arch=arch)
    root = tmp_path_factory.mktemp(f"trained_{name}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(workspace.ENV_VAR, str(root))
            write_dataset(root, name)
            store = Store(root / "runs.sqlite")
            job_id = store.submit("train", {"config": cfg.to_dict()})
            store.claim_next(pid=os.getpid())
            result = train(cfg, store, job_id)
            store.finish(job_id, DONE, result=result)
            job = store.get(job_id)
            store.close()
    finally:
        torch.set_num_threads(threads)
    _RUNS[key] = TableRun(root, job, name)
    return _RUNS[key]


@pytest.fixture
def income(tmp_path_factory, monkeypatch):
    run = trained_table(tmp_path_factory, CLS)
    monkeypatch.setenv(workspace.ENV_VAR, str(run.root))
    return run


@pytest.fixture
def price(tmp_path_factory, monkeypatch):
    run = trained_table(tmp_path_factory, REG)
    monkeypatch.setenv(workspace.ENV_VAR, str(run.root))
    return run


def interpreted(run: TableRun):
    from core import tasks

    loaded = runs.load(run.job.id)
    return loaded, tasks.get(loaded.record.task).interpret(loaded)


# --- scores, confusion, residuals, the worst rows ------------------------------------------------


def test_the_validation_scores_are_the_runs_own(income, price, monkeypatch, one_thread):
    from core.analysis import tabular

    for run, names in ((income, ("accuracy", "f1")), (price, ("rmse", "mae", "r2"))):
        monkeypatch.setenv(workspace.ENV_VAR, str(run.root))
        _loaded, interp = interpreted(run)
        found = tabular.scores(interp, "valid")
        assert tuple(found) == names
        for name in names:
            assert found[name] == pytest.approx(run.job.result[name], rel=1e-4, abs=1e-6)
    assert income.job.result["accuracy"] >= 0.8  # the signal is easy to learn


def test_f1_of_three_classes_is_the_runs_own_when_one_is_absent_from_validation(
    tmp_path_factory, monkeypatch, one_thread
):
    from core.analysis import tabular

    run = trained_table(tmp_path_factory, GRADES)
    monkeypatch.setenv(workspace.ENV_VAR, str(run.root))
    _loaded, interp = interpreted(run)
    valid = interp.part("valid")
    assert "high" not in set(valid["target"]) | set(valid["predicted"])  # where two F1s used to part
    assert tabular.scores(interp)["f1"] == pytest.approx(run.job.result["f1"], abs=1e-6)
    assert run.job.result["f1"] < 0.7  # the absent class counts 0 in the mean over three


def changed_split(run: TableRun, root: Path) -> Path:
    """The run copied into the workspace root with its dataset, whose split is then changed."""
    import shutil

    shutil.copytree(run.root / "runs", root / "runs")
    folder = write_dataset(root, run.name)
    meta = json.loads((folder / "dataset.json").read_text())
    meta["split"] = {"kind": "random", "valid_pct": 0.5, "seed": 7}
    (folder / "dataset.json").write_text(json.dumps(meta))
    return folder


def test_results_and_the_baseline_keep_the_runs_split_when_the_dataset_split_changes(
    tmp_path_factory, fresh_workspace, one_thread
):
    from core.analysis import baseline, tabular
    from core.data.tables import Split, split_mask

    run = trained_table(tmp_path_factory, REG)
    folder = changed_split(run, fresh_workspace)
    _loaded, interp = interpreted(run)
    was = split_mask(pd.read_csv(folder / "table.csv"), Split("random", None, 0.25, 0))
    assert (interp.frame["split"] == "valid").tolist() == was.tolist()  # the rows the run was judged on
    assert was.sum() == run.job.result["n_valid"]
    assert any("split has changed" in n and "50% validation" in n for n in interp.notes)
    assert tabular.scores(interp)["rmse"] == pytest.approx(run.job.result["rmse"], rel=1e-4)
    trees = baseline.gbm_baseline(run.job.id)
    assert (trees["n_train"], trees["n_valid"]) == (run.job.result["n_train"], run.job.result["n_valid"])


def test_every_row_is_judged_and_the_confusion_counts_each_validation_row_once(income, one_thread):
    from core.analysis import tabular

    _loaded, interp = interpreted(income)
    frame = interp.frame
    assert len(frame) == income.job.result["n_train"] + income.job.result["n_valid"] == 400
    assert {"signal", "noise", "colour", "income"} <= set(frame.columns)  # the raw rows kept
    assert (frame["target"] == frame["income"]).all()
    matrix, classes = tabular.confusion(interp)
    assert classes == ["<=50K", ">50K"] and matrix.shape == (2, 2)
    assert matrix.sum() == income.job.result["n_valid"]
    assert np.trace(matrix) / matrix.sum() == pytest.approx(income.job.result["accuracy"], abs=1e-6)
    assert np.allclose(interp.probs.sum(axis=1), 1, atol=1e-5)
    assert (frame["probability"] >= 0.5 - 1e-6).all()


def test_the_worst_rows_come_first_validation_before_training(income, one_thread):
    from core.analysis import tabular

    _loaded, interp = interpreted(income)
    top = tabular.top_rows(interp, k=15)
    assert len(top) == 15 and (top["split"] == "valid").all()
    assert list(top["loss"]) == sorted(top["loss"], reverse=True)
    valid = interp.frame[interp.frame.split == "valid"]
    assert top["loss"].iloc[0] == valid["loss"].max()
    wrong = valid[valid.predicted != valid.target]  # two classes: a wrong answer costs more than ln 2
    assert len(wrong) and set(tabular.top_rows(interp, k=len(wrong)).index) == set(wrong.index)


def test_a_regression_run_shows_residuals_in_the_targets_units(price, one_thread):
    _loaded, interp = interpreted(price)
    frame = interp.frame
    assert np.allclose(frame["residual"], frame["target"] - frame["predicted"], atol=1e-5)
    assert np.allclose(frame["loss"], frame["residual"] ** 2, atol=1e-5)  # the run's loss: MSE
    assert frame["predicted"].between(frame["target"].min() - 1, frame["target"].max() + 1).all()


# --- what the model leans on ---------------------------------------------------------------------


def test_permutation_importance_ranks_the_driving_column_above_pure_noise(income, one_thread):
    from core.analysis import tabular

    loaded, interp = interpreted(income)
    imp = tabular.permutation_importance(loaded, interp, n_repeats=3, seed=0).set_index("column")
    assert set(imp.index) == {"signal", "noise", "colour"}
    assert imp.index[0] == "signal"  # sorted, largest drop first
    assert imp.loc["signal", "drop"] > 0.15  # shuffling it costs many points of accuracy
    assert imp.loc["signal", "drop"] > imp.loc["noise", "drop"] + 0.1
    assert abs(imp.loc["noise", "drop"]) < 0.05
    again = tabular.permutation_importance(loaded, interp, n_repeats=3, seed=0)
    assert again.equals(imp.reset_index())  # seeded: the same shuffles give the same table


def test_embedding_pca_gives_one_point_per_category_with_its_count(income, one_thread):
    from core.analysis import tabular

    loaded, interp = interpreted(income)
    assert tabular.embedding_columns(loaded.record.state) == ["colour"]
    points = tabular.embedding_pca(loaded, "colour", interp)
    assert list(points["value"]) == ["#na#", "blue", "green", "grey", "red"]
    assert np.isfinite(points[["x", "y"]].to_numpy()).all()
    table = pd.read_csv(income.dataset / "table.csv")
    assert dict(zip(points["value"], points["count"])) == {
        "#na#": 0,
        **table["colour"].value_counts().to_dict(),
    }
    assert points.equals(tabular.embedding_pca(loaded, "colour"))  # the table read again: the same
    flags = tabular.embedding_pca(loaded, "signal_na", interp)  # the added missing-value flag
    assert dict(zip(flags["value"], flags["count"])) == {"#na#": 0, "False": 395, "True": 5}
    with pytest.raises(Exception, match="not a categorical column"):
        tabular.embedding_pca(loaded, "noise", interp)


# --- the tree baseline ------------------------------------------------------------------------------


def test_the_tree_baseline_uses_the_same_split_and_names_and_is_kept(income, price, monkeypatch):
    from core.analysis import baseline

    for run, names in ((income, {"accuracy", "f1"}), (price, {"rmse", "mae", "r2"})):
        monkeypatch.setenv(workspace.ENV_VAR, str(run.root))
        (runs.run_dir(run.job.id) / baseline.BASELINE).unlink(missing_ok=True)
        found = baseline.gbm_baseline(run.job.id)
        assert names <= set(found) and set(run.job.result) >= names
        assert found["seconds"] > 0 and found["same_data"] is True
        assert (found["n_train"], found["n_valid"]) == (run.job.result["n_train"], run.job.result["n_valid"])
        assert all(np.isfinite(found[n]) for n in names)
        kept = json.loads((runs.run_dir(run.job.id) / baseline.BASELINE).read_text())
        assert kept == found
    monkeypatch.setenv(workspace.ENV_VAR, str(income.root))
    assert baseline.gbm_baseline(income.job.id)["accuracy"] > 0.85  # trees find the signal too

    def refit(*_a, **_k):
        raise AssertionError("the kept baseline should have been read")

    with monkeypatch.context() as mp:
        mp.setattr(baseline, "fit", refit)
        assert baseline.gbm_baseline(income.job.id) == kept_of(income)


def kept_of(run: TableRun) -> dict:
    from core.analysis import baseline

    return json.loads((runs.run_dir(run.job.id) / baseline.BASELINE).read_text())


def test_the_baseline_is_computed_again_when_the_data_change(tmp_path_factory, fresh_workspace):
    from core.analysis import baseline

    run = trained_table(tmp_path_factory, CLS)
    # a copy of the run in this test's workspace, so changing its data leaves the shared run alone
    import shutil

    shutil.copytree(run.root / "runs", fresh_workspace / "runs")
    write_dataset(fresh_workspace, CLS)
    first = baseline.gbm_baseline(run.job.id)
    csv = fresh_workspace / "datasets" / CLS / "table.csv"
    table = pd.read_csv(csv, keep_default_na=False)
    table.loc[:40, "income"] = "<=50K"
    table.to_csv(csv, index=False)
    second = baseline.gbm_baseline(run.job.id)
    assert second["data_fingerprint"] != first["data_fingerprint"] and second["same_data"] is False


def test_the_encoding_gives_unseen_and_missing_categories_no_code():
    from core.analysis.baseline import encode

    frame = pd.DataFrame({"c": ["a", "b", np.nan, "z"], "x": [1.0, np.nan, 3.0, 4.0]})
    x, categorical = encode(frame, ["c"], ["x"], np.array([False, False, False, True]))
    assert list(categorical) == [True, False]
    assert x[:2, 0].tolist() == [0.0, 1.0] and np.isnan(x[2:, 0]).all()  # missing and unseen (z)
    assert np.isnan(x[1, 1]) and x[3, 1] == 4.0
