"""The built-in tables and ratings: each resolves with its task and size, census_synth has gaps of
both kinds, ratings_synth records the best achievable RMSE, and both are redrawn identically."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.data import datasets, layouts, ratings_synth, tables


@pytest.mark.parametrize(
    "name, task, rows, vocab",
    [
        ("breast_cancer", "tabular_classification", 569, ["benign", "malignant"]),
        ("wine", "tabular_classification", 178, ["cultivar_1", "cultivar_2", "cultivar_3"]),
        ("diabetes", "tabular_regression", 442, ["progression"]),
    ],
)
def test_sklearn_tables_resolve_with_their_task(fresh_workspace, name, task, rows, vocab):
    info = datasets.resolve(name)
    assert info.task == task and name in datasets.available() and name in datasets.builtin_names()
    items = layouts.read_items(info.path, info.task)
    assert len(items.frame) == rows and items.vocab == vocab
    assert sum(items.is_valid) == round(rows * 0.2)
    assert items.roles.cont and all(items.frame[c].dtype == np.float64 for c in items.roles.cont)
    assert tables.problems(items.frame, items.roles, items.split) == []
    assert (
        "learn" in datasets.metadata(info)["description"]
        or "network" in datasets.metadata(info)["description"]
    )


def test_census_synth_mixes_kinds_with_gaps(fresh_workspace):
    info = datasets.resolve("census_synth")
    assert info.task == "tabular_classification" and "census_synth" in datasets.SYNTHETIC
    items = tables.read_table(info.path)
    frame = items.frame
    assert len(frame) == 20_000 and items.vocab == ["<=50K", ">50K"]
    assert 0.15 < (frame["income"] == ">50K").mean() < 0.35
    sizes = {c: frame[c].nunique() for c in items.roles.cat}
    assert sizes["sex"] == 2 and sizes["education"] == 16 and sizes["native_country"] == 40
    assert 10 <= sizes["occupation"] <= 20 and 6 <= sizes["workclass"] <= 10
    missing = frame.isna().mean()
    assert 0.03 < missing["age"] < 0.08 and 0.03 < missing["hours_per_week"] < 0.08  # continuous gaps
    assert 0.03 < missing["workclass"] < 0.08 and 0.03 < missing["native_country"] < 0.08  # categorical
    assert (frame["capital_gain"] == 0).mean() > 0.8  # skewed: mostly zero
    assert sorted(p.name for p in info.path.iterdir()) == ["dataset.json", "table.csv"]


def test_ratings_synth_records_its_noise_floor(fresh_workspace):
    info = datasets.resolve("ratings_synth")
    assert info.task == "collaborative" and "ratings_synth" in datasets.available()
    items = layouts.read_items(info.path, info.task)
    frame = items.frame
    assert 18_000 <= len(frame) <= 22_000
    assert frame["user"].nunique() == 300 and frame["item"].nunique() == 200
    assert frame["rating"].min() >= 0.5 and frame["rating"].max() <= 5.0
    assert not frame.duplicated(["user", "item"]).any()
    meta = datasets.metadata(info)
    assert items.noise_sd == meta["noise_sd"] == ratings_synth.NOISE_SD
    truth = ratings_synth.truth(meta["seed"])
    users = frame["user"].astype(int).to_numpy() - 1
    films = frame["item"].astype(int).to_numpy() - 1
    rmse = float(np.sqrt(np.mean((truth.expected(users, films) - frame["rating"].to_numpy()) ** 2)))
    assert rmse == pytest.approx(meta["noise_floor"], rel=1e-4)
    assert 0.4 < meta["noise_floor"] < 0.6
    # a mean-rating guess is far worse than the floor: there is something to learn
    assert frame["rating"].std() > 1.5 * meta["noise_floor"]
    titles = items.items
    assert set(titles["genre"]) == set(ratings_synth.GENRES) and titles["title"].is_unique
    assert titles["title"].str.contains(":").any() and titles["title"].str.contains("&").any()
    assert items.files == ["ratings.csv", "items.csv"]


def test_generated_datasets_are_redrawn_identically(fresh_workspace, tmp_path, monkeypatch):
    from core import workspace

    first = {n: datasets.resolve(n).path for n in ("census_synth", "ratings_synth")}
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv(workspace.ENV_VAR, str(other))
    for name, folder in first.items():
        again = datasets.resolve(name).path
        assert again != folder
        for f in sorted(p.name for p in folder.iterdir()):
            assert (again / f).read_bytes() == (folder / f).read_bytes(), f
    assert not [p for p in (other / "datasets").iterdir() if p.name.startswith(".tmp")]
    meta = json.loads((first["ratings_synth"] / "dataset.json").read_text())
    assert meta["roles"] == {"user": "user", "item": "item", "rating": "rating"}
    assert pd.read_csv(first["census_synth"] / "table.csv", dtype=str)["income"].isin(["<=50K", ">50K"]).all()
