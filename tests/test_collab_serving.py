"""Predicting with a saved ratings model: recommendations, similar items, refusals, the bundle."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd
import pytest

from core import runs, tasks, workspace
from core.analysis import collab as analysis
from core.errors import UserError
from core.jobs.store import DONE, Store
from core.serving import predict_collab
from tests.test_collab import synth_ratings, write_dataset

MODEL = "tastes_model"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A dot-product model trained on a small ratings dataset and saved as a bundle, once."""
    import torch

    from core.serving import export
    from core.train.training import train

    root = tmp_path_factory.mktemp("collab")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(workspace.ENV_VAR, str(root))
            frame, items = synth_ratings(n=2400)
            write_dataset("tastes", frame, items)
            cfg = tasks.default_config("collaborative", dataset="tastes", bs=64, epochs=8, lr=1e-2)
            store = Store()
            job_id = store.submit("train", {"config": cfg.to_dict()})
            store.claim_next(pid=os.getpid())
            store.finish(job_id, DONE, result=train(cfg, store, job_id))
            export.save_run(store.get(job_id), MODEL)
            store.close()
    finally:
        torch.set_num_threads(threads)
    return root, job_id, frame


@pytest.fixture
def ws(trained, monkeypatch):
    """The trained model's workspace."""
    monkeypatch.setenv(workspace.ENV_VAR, str(trained[0]))
    return trained


def loaded_model():
    from core.serving import predict

    return predict.load(MODEL)


def test_recommendations_are_the_best_predicted_items_and_leave_out_seen_ones(ws):
    _, _, frame = ws
    loaded = loaded_model()
    rated = set(frame.loc[frame.user == "u001", "item"])

    every = predict_collab.recommend(loaded, "u001", n=40, exclude_seen=False)
    fresh = predict_collab.recommend(loaded, "u001", n=5)

    assert len(every) == len(predict_collab.items(loaded.info)) == 40
    assert list(every["predicted"]) == sorted(every["predicted"], reverse=True)
    assert every.attrs["seen"] is None and fresh.attrs["seen"] == len(rated)
    assert len(fresh) == 5 and not set(fresh["item"]) & rated
    unseen = every[~every["item"].isin(rated)].head(5)
    assert list(fresh["item"]) == list(unseen["item"])  # the best of what the user has not rated
    assert fresh.iloc[0]["title"].startswith("Film ") and fresh.iloc[0]["genre"].startswith("genre ")


def test_the_bundle_predicts_what_the_run_predicted(ws):
    _, job_id, _ = ws
    interp = analysis.interpret(runs.load(job_id))
    rows = interp.frame.head(50)

    out = predict_collab.predict_pairs(loaded_model(), rows[["user", "item"]])

    assert np.allclose(out["predicted"].to_numpy(), rows["predicted"].to_numpy(), atol=1e-5)
    assert (out["note"] == "").all()


def test_unknown_users_and_items_are_refused_with_a_sentence(ws):
    loaded = loaded_model()
    with pytest.raises(
        UserError, match=r"user 'nobody' was not in the training data; the model knows 80 users"
    ):
        predict_collab.recommend(loaded, "nobody")
    with pytest.raises(UserError, match="item 'i99' was not in the training data"):
        predict_collab.similar(loaded, "i99")
    with pytest.raises(UserError, match="1 to 1000"):
        predict_collab.recommend(loaded, "u001", n=0)
    table = pd.DataFrame({"user": ["u001", "nobody"], "item": ["#na#", "i02"]})
    out = predict_collab.predict_pairs(loaded, table)
    assert out["predicted"].isna().all()
    assert "item '#na#' was not in the training data" in out.loc[0, "note"]
    assert "user 'nobody'" in out.loc[1, "note"]
    with pytest.raises(UserError, match="'item'"):
        predict_collab.predict_pairs(loaded, table[["user"]])


def test_similar_items_and_the_vocabularies(ws):
    loaded = loaded_model()
    near = predict_collab.similar(loaded, "i03", n=4)

    assert len(near) == 4 and "i03" not in set(near["item"])
    assert list(near["similarity"]) == sorted(near["similarity"], reverse=True)
    assert "#na#" not in predict_collab.users(loaded.info) and len(predict_collab.users(loaded.info)) == 80
    assert predict_collab.items(loaded.info) == sorted(predict_collab.items(loaded.info))


def test_without_its_dataset_a_bundle_recommends_but_cannot_leave_out_seen_items(ws):
    from core.serving.predict import LoadedModel

    loaded = loaded_model()
    elsewhere = LoadedModel(dataclasses.replace(loaded.info, dataset="not here"), loaded.model, 0.0, True)

    recs = predict_collab.recommend(elsewhere, "u001", n=3)

    assert len(recs) == 3 and recs.attrs["seen"] is None
