"""Collaborative filtering: fastai's CollabDataLoaders as the oracle, training, the analysis views."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from core import runs, tasks, workspace
from core.analysis import collab as analysis
from core.data import ratings_loaders
from core.errors import UserError
from core.jobs.store import DONE, Store
from core.train import collab, tabular
from core.train.training import seed_everything

ROLES = {"user": "user", "item": "item", "rating": "rating"}


def synth_ratings(
    n_users: int = 80,
    n_items: int = 40,
    n: int = 2400,
    noise: float = 0.2,
    n_genres: int = 4,
    seed: int = 0,
    star: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ratings from known tastes: each genre a direction, each user a taste per direction, plus noise.

    star: item "i00" is liked by everyone (+2 on every rating), the universally-liked item.
    """
    rng = np.random.default_rng(seed)
    genre = np.arange(n_items) % n_genres
    centres = np.eye(n_genres) * 1.5
    item_f = centres[genre] + 0.1 * rng.normal(size=(n_items, n_genres))
    user_f = rng.normal(0, 1, (n_users, n_genres))
    bias = np.zeros(n_items)
    if star:
        bias[0] = 2.0
    cells = rng.choice(n_users * n_items, n, replace=False)
    u, i = cells // n_items, cells % n_items
    r = 2.75 + 0.5 * (user_f[u] * item_f[i]).sum(1) + bias[i] + rng.normal(0, noise, n)
    frame = pd.DataFrame(
        {"user": [f"u{x:03d}" for x in u], "item": [f"i{x:02d}" for x in i], "rating": np.clip(r, 0.5, 5.0)}
    )
    items = pd.DataFrame(
        {
            "item": [f"i{x:02d}" for x in range(n_items)],
            "title": [f"Film {x}: part & whole" for x in range(n_items)],
            "genre": [f"genre {g}" for g in genre],
        }
    )
    return frame, items


def write_dataset(name: str, frame: pd.DataFrame, items: pd.DataFrame | None = None, noise_sd=None) -> Path:
    """A ratings dataset in the workspace's layout: ratings.csv, items.csv, dataset.json."""
    folder = workspace.subdir("datasets") / name
    folder.mkdir(parents=True)
    frame.to_csv(folder / "ratings.csv", index=False)
    if items is not None:
        items.to_csv(folder / "items.csv", index=False)
    meta = {
        "task": "collaborative",
        "title": name,
        "roles": ROLES,
        "split": {"kind": "random", "valid_pct": 0.2, "seed": 0},
    }
    if noise_sd is not None:
        meta["noise_sd"] = noise_sd
    (folder / "dataset.json").write_text(json.dumps(meta))
    return folder


def fit_frame(frame, items=None, arch="dot_bias", seed=0, **changes):
    """A learner trained on frame (random 20 % validation) with the task's defaults and changes."""
    cfg = tasks.default_config("collaborative", arch=arch, **changes)
    valid = np.random.default_rng(seed).random(len(frame)) < 0.2
    bundle = ratings_loaders.from_frame(cfg, frame, ROLES, valid, items, device="cpu")
    seed_everything(cfg.seed)
    learn, _ = collab.learner(cfg, bundle)
    learn.fit_one_cycle(cfg.epochs, cfg.lr, wd=cfg.wd)
    return learn, bundle


def as_loaded(learn, bundle):
    """What the analysis views take: a network and the state."""
    return SimpleNamespace(model=learn.model.eval(), info=SimpleNamespace(state=bundle.state))


# --- the oracle: fastai's CollabDataLoaders on the same frame and split ----------------------


def test_vocabularies_and_indices_are_fastais(one_thread):
    from fastai.collab import CollabDataLoaders
    from fastai.data.transforms import RandomSplitter
    from fastcore.basics import range_of

    frame, _ = synth_ratings(n_users=30, n_items=25, n=400, seed=3)
    frame.loc[len(frame)] = ["lonely user", "i01", 4.0]  # a user who may land only in validation
    frame.loc[len(frame)] = ["u001", "Zebra: & <b>", 2.5]  # an item name with punctuation
    frame["rating"] = frame["rating"].astype("float32")
    dls = CollabDataLoaders.from_df(
        frame, user_name="user", item_name="item", rating_name="rating", valid_pct=0.2, seed=42, bs=64
    )
    _, valid_idx = RandomSplitter(valid_pct=0.2, seed=42)(range_of(frame))
    is_valid = np.zeros(len(frame), dtype=bool)
    is_valid[list(valid_idx)] = True

    enc = ratings_loaders.encode(frame, "user", "item", "rating", is_valid)

    assert enc.users == list(dls.classes["user"]) and enc.items == list(dls.classes["item"])
    assert enc.users[0] == "#na#" and enc.users[1:] == sorted(enc.users[1:])
    for ds in (dls.train_ds, dls.valid_ds):
        rows = ds.items.index.to_numpy()
        assert torch.equal(enc.x[rows], torch.tensor(ds.cats.to_numpy(), dtype=torch.long))
        assert np.allclose(enc.y[rows].numpy(), ds.ys.to_numpy().ravel())
    assert set(np.flatnonzero(~is_valid)) == set(dls.train_ds.items.index)
    if frame.index[-2] in set(valid_idx):  # unseen in training: fastai's #na#, index 0
        assert int(enc.x[len(frame) - 2, 0]) == 0


def test_a_ratings_dataset_becomes_loaders_and_a_state(fresh_workspace):
    frame, items = synth_ratings(n=600)
    write_dataset("tastes", frame, items, noise_sd=0.2)
    cfg = tasks.default_config("collaborative", dataset="tastes", bs=64)

    bundle = tasks.get("collaborative").loaders(cfg, device="cpu")

    assert bundle.n_train + bundle.n_valid == 600 and bundle.n_valid == 120  # the dataset's own split
    xb, yb = bundle.dls.one_batch()
    assert xb.dtype == torch.long and xb.shape == (64, 2) and yb.dtype == torch.float32
    state = bundle.state
    assert state["kind"] == "ratings" and state["noise_sd"] == 0.2 and state["users"][0] == "#na#"
    assert state["titles"]["i03"] == "Film 3: part & whole" and state["genres"]["i03"] == "genre 3"
    lo, hi = state["y_range"]
    train = bundle.encoded.y[~torch.from_numpy(bundle.encoded.is_valid)]
    span = float(train.max() - train.min())
    assert lo == pytest.approx(float(train.min()) - span / 4) and hi == pytest.approx(
        float(train.max()) + span / 4
    )
    assert sum(state["item_counts"]) == bundle.n_train and state["item_counts"][0] == 0
    assert json.loads(json.dumps(state)) == state  # plain JSON
    assert len(bundle.data_fingerprint) == 16


def test_an_image_dataset_is_refused_as_ratings(fresh_workspace):
    from core.data.datasets import DatasetInfo

    info = DatasetInfo("pets", fresh_workspace / "datasets" / "pets", "Pets", "", task="single_label")
    with pytest.raises(UserError, match="pets is not a ratings dataset"):
        ratings_loaders.build(tasks.default_config("collaborative", dataset="pets"), info)


def test_a_malformed_state_is_refused_with_a_sentence():
    frame, _ = synth_ratings(n=300)
    cfg = tasks.default_config("collaborative")
    state = ratings_loaders.from_frame(cfg, frame, ROLES, np.arange(300) % 5 == 0, device="cpu").state
    assert isinstance(collab.build_from_state("dot_bias", state).model, torch.nn.Module)
    bad = dict(state, model=dict(state["model"], emb_szs=[[3, 4], [5, 6]]))
    with pytest.raises(UserError, match="do not match"):
        collab.build_from_state("neural_collab", bad)
    with pytest.raises(UserError, match="y_range"):
        collab.build_from_state("dot_bias", dict(state, y_range=[5, 1]))
    with pytest.raises(UserError, match="not that of a ratings model"):
        collab.build_from_state("dot_bias", {"kind": "table"})
    twice = dict(state, users=[*state["users"][:-1], state["users"][1]])
    with pytest.raises(UserError, match="users must start with '#na#' and name no value twice"):
        collab.build_from_state("dot_bias", twice)
    with pytest.raises(UserError, match="items must start with"):
        collab.build_from_state("dot_bias", dict(state, items=[*state["items"][:-1], 7]))
    with pytest.raises(UserError, match="titles must map items to texts"):
        collab.build_from_state("dot_bias", dict(state, titles={"i01": 3}))


def test_users_and_items_are_text_by_the_tables_rule():
    """Ids stored as numbers read as the tables' categories read them: 3.0 is "3", at training and
    when a frame of pairs is looked up."""
    from core.data.table_procs import NA, category_codes, vocabulary

    frame = pd.DataFrame({"user": [1.0, 2.0, 3.0, 2.0], "item": [10, 11, 10, 12], "rating": [4.0, 3, 5, 2]})
    enc = ratings_loaders.encode(frame, "user", "item", "rating", np.zeros(4, dtype=bool))
    assert enc.users == [NA, "1", "2", "3"] == vocabulary(frame["user"]) and enc.items == [
        NA,
        "10",
        "11",
        "12",
    ]
    asked = pd.Series(["2", 3, 3.0, "9", np.nan], dtype=object)
    assert category_codes(asked, enc.users).tolist() == [2, 3, 3, 0, 0]


# --- training and the analysis views ------------------------------------------------------


def test_a_short_run_beats_the_mean_and_results_read_it_back(fresh_workspace, one_thread):
    from core.train.training import train

    frame, items = synth_ratings(n=2400, noise=0.2)
    write_dataset("tastes", frame, items, noise_sd=0.2)
    cfg = tasks.default_config("collaborative", dataset="tastes", bs=64, epochs=8, lr=1e-2)
    store = Store()
    job_id = store.submit("train", {"config": cfg.to_dict()})
    store.claim_next(pid=os.getpid())
    result = train(cfg, store, job_id)
    store.finish(job_id, DONE, result=result)
    store.close()

    interp = analysis.interpret(runs.load(job_id))

    assert interp.rmse == pytest.approx(result["rmse"], abs=1e-5)  # the same ratings, the same figure
    assert interp.rmse < 0.6 * interp.baseline_rmse, (interp.rmse, interp.baseline_rmse)
    assert interp.noise_floor == 0.2 and interp.rmse > interp.noise_floor * 0.8
    assert len(interp.frame) == 2400 and (interp.frame.split == "valid").sum() == result["n_valid"]
    assert analysis.scores(interp)["rmse"] == pytest.approx(interp.rmse)
    pca = analysis.item_pca(interp, n=10)
    assert len(pca) == 10 and list(pca["count"]) == sorted(pca["count"], reverse=True)
    assert {"item", "title", "genre", "x", "y", "count"} <= set(pca.columns)


def test_nearest_items_share_the_genre_more_often_than_chance(one_thread):
    frame, items = synth_ratings(n=2400, n_genres=4)
    learn, bundle = fit_frame(frame, items, epochs=8, lr=1e-2)
    loaded = as_loaded(learn, bundle)
    genres = dict(zip(items["item"], items["genre"]))

    same = []
    for item in items["item"][:12]:
        near = analysis.nearest_items(loaded, item, n=3)
        assert item not in set(near["item"]) and len(near) == 3
        assert list(near["similarity"]) == sorted(near["similarity"], reverse=True)
        same += [genres[i] == genres[item] for i in near["item"]]
    assert np.mean(same) > 0.6  # chance is 9 of 39, about 0.23
    with pytest.raises(UserError, match="was not in the training data; the model knows"):
        analysis.nearest_items(loaded, "no such film")


def test_item_bias_ranks_the_universally_liked_item_first(one_thread):
    frame, items = synth_ratings(n=2400, star=True)
    learn, bundle = fit_frame(frame, items, epochs=8, lr=1e-2)

    ranked = analysis.item_bias(as_loaded(learn, bundle))

    assert ranked.iloc[0]["item"] == "i00" and ranked.iloc[0]["title"] == "Film 0: part & whole"
    assert len(ranked) == 40 and list(ranked["bias"]) == sorted(ranked["bias"], reverse=True)


def test_the_neural_model_trains_and_says_it_has_no_item_bias(one_thread):
    frame, items = synth_ratings(n=1200)
    learn, bundle = fit_frame(frame, items, arch="neural_collab", epochs=3)
    loaded = as_loaded(learn, bundle)

    assert tabular.summary(learn, "collaborative")["rmse"] < float(frame.rating.std())
    assert analysis.item_bias(loaded) is None and "dot_bias" in analysis.NO_BIAS
    assert len(analysis.item_pca(loaded)) == 40


def test_ratings_results_keep_the_runs_split_when_the_dataset_split_changes(
    tmp_path_factory, fresh_workspace, one_thread
):
    from tests.test_tabular_results import RATINGS, changed_split, trained_table

    run = trained_table(tmp_path_factory, RATINGS)
    changed_split(run, fresh_workspace)
    interp = analysis.interpret(runs.load(run.job.id))
    assert (interp.frame["split"] == "valid").sum() == run.job.result["n_valid"]
    assert interp.rmse == pytest.approx(run.job.result["rmse"], rel=1e-4)
    assert any("split has changed" in n for n in interp.notes)


def test_a_run_that_kept_no_split_is_judged_on_the_datasets_and_says_so():
    from types import SimpleNamespace

    from core.data.table_loaders import run_split
    from core.data.tables import Split

    items = SimpleNamespace(
        frame=pd.DataFrame({"a": range(4)}), split=Split(), is_valid=[False, True, False, False]
    )
    valid, notes = run_split({"kind": "table"}, items)
    assert valid.tolist() == items.is_valid and "did not record its split" in notes[0]
    same, none = run_split({"split": Split().to_json()}, items)
    assert none == [] and same.sum() == 1  # a fifth of four rows, seeded as the dataset's split
