"""The Embeddings lab: one-hot times a matrix is the lookup; PCA against numpy's SVD; its page."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.labs import embeddings
from dashboard import state
from tests.apptest import chart_spec, open_page

PAGE = "../pages/learn_embeddings.py"


@pytest.mark.parametrize("index", [0, 3, 9])
def test_one_hot_product_equals_the_embedding_lookup(index):
    demo = embeddings.one_hot_lookup(10, 5, index, seed=index)
    np.testing.assert_array_equal(demo["product"], demo["lookup"])
    np.testing.assert_array_equal(demo["lookup"], demo["matrix"][index])
    assert demo["one_hot"].sum() == 1 and demo["one_hot"][index] == 1


def test_pca_matches_numpys_svd():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6)) + 3
    coords, ratio = embeddings.pca(x, 6)
    assert ratio.sum() <= 1 + 1e-9
    centred = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    np.testing.assert_allclose(ratio, s**2 / (s**2).sum(), rtol=1e-8)
    np.testing.assert_allclose(np.abs(coords), np.abs(centred @ vt.T), atol=1e-8)  # up to each axis's sign
    two, ratio2 = embeddings.pca(x, 2)
    assert two.shape == (200, 2) and ratio2.sum() < 1
    np.testing.assert_allclose(ratio2, ratio[:2])


def test_last_features_are_what_the_last_layer_receives():
    from core.labs.memory import build

    model = build("mnist_cnn", 10, 1, 16)
    feats = embeddings.last_features(model, torch.randn(3, 1, 16, 16))
    assert feats.shape == (3, 128)
    assert (feats >= 0).all()  # after ReLU and (eval) dropout


def test_page_lookup_reacts_and_pca_needs_a_run(fresh_workspace):
    at = open_page(PAGE, timeout=90)
    assert next(m for m in at.metric if m.label == "Product equals lookup").value == "yes"
    at.slider(key="embeddings_index").set_value(4).run()
    assert not at.exception, at.exception
    result = at.dataframe[-1].value
    assert list(result.index) == ["one-hot @ matrix", "row 4"]
    assert any("Train a model first" in str(link.proto.label) for link in at.get("page_link"))


def test_page_pca_of_a_runs_features(results_ws):
    at = open_page(PAGE, timeout=120, **{state.RUN: 1})
    spec = chart_spec(at, "PC 1")
    assert len({trace["name"] for trace in spec["data"]}) >= 5  # digits: one colour per class
    kept = next(m for m in at.metric if m.label == "Variance kept by two components").value
    assert 0 < int(kept.rstrip("%")) <= 100
    at.radio(key="embeddings_colour").set_value("predicted").run()
    assert not at.exception, at.exception
