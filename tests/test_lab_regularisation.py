"""Regularisation lab: the penalty's gradient, overfitting cured, dropout's mask, and the page."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.labs import regularisation as reg
from tests.apptest import chart_spec, open_page

PAGE = "../pages/learn_regularisation.py"


def test_weight_decays_gradient_is_two_wd_w_by_autograd_and_finite_difference():
    rng = np.random.default_rng(0)
    w = rng.normal(size=7)
    wd = 0.03
    np.testing.assert_allclose(reg.autograd_penalty_grad(w, wd), 2 * wd * w, rtol=1e-12)
    np.testing.assert_allclose(reg.penalty_grad(w, wd), 2 * wd * w)
    h = 1e-6
    fd = [(wd * (x + h) ** 2 - wd * (x - h) ** 2) / (2 * h) for x in w]
    np.testing.assert_allclose(reg.penalty_grad(w, wd), fd, rtol=1e-6)


@pytest.mark.parametrize("kind", reg.PENALTIES)
def test_the_fits_backpropagation_equals_autograd(kind):
    import torch

    params = reg.init_params(hidden=8, seed=3)
    d = reg.toy_data(seed=3)
    x, y = d["x_train"][:, None], d["y_train"][:, None]
    rng = np.random.default_rng(0)
    masks = tuple((rng.random((len(x), 8)) >= 0.5) / 0.5 for _ in range(2))
    loss, grads = reg.loss_and_grads(params, x, y, wd=0.01, kind=kind, masks=masks)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    m1, m2 = (torch.tensor(m) for m in masks)
    h1 = torch.relu(torch.tensor(x) @ t["W1"] + t["b1"]) * m1
    h2 = torch.relu(h1 @ t["W2"] + t["b2"]) * m2
    out = h2 @ t["W3"] + t["b3"]
    total = ((out - torch.tensor(y)) ** 2).mean() + reg.penalty([t["W1"], t["W2"], t["W3"]], 0.01, kind)
    total.backward()
    assert loss == pytest.approx(total.item(), rel=1e-12)
    for k, v in t.items():
        np.testing.assert_allclose(grads[k], v.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_l1s_gradient_is_wd_sign_w():
    w = np.array([-2.0, -0.01, 0.3, 5.0])
    np.testing.assert_allclose(reg.autograd_penalty_grad(w, 0.1, "l1"), 0.1 * np.sign(w))
    np.testing.assert_allclose(reg.penalty_grad(w, 0.1, "l1"), 0.1 * np.sign(w))


@pytest.fixture(scope="module")
def fits(one_thread):
    return {
        seed: {
            "none": reg.fit(seed=seed),
            "wd": reg.fit(wd=1e-2, seed=seed),
            "dropout": reg.fit(dropout=0.5, seed=seed),
        }
        for seed in (0, 1, 2)
    }


def test_the_toy_overfits_without_regularisation(fits):
    for by in fits.values():
        none = by["none"]
        assert none.valid_loss[-1] > 2 * none.train_loss[-1]
        assert none.train_loss[-1] < 0.09  # below the noise's variance (0.3²): it learned noise


@pytest.mark.parametrize("cure", ["wd", "dropout"])
def test_weight_decay_and_dropout_shrink_the_validation_gap(fits, cure):
    for seed, by in fits.items():
        assert by[cure].gap < by["none"].gap, seed
    mean = np.mean([by[cure].gap for by in fits.values()])
    assert mean < 0.6 * np.mean([by["none"].gap for by in fits.values()])


def test_l1_leaves_more_weights_at_zero_than_l2(one_thread):
    l1 = reg.fit(wd=1e-3, kind="l1")
    l2 = reg.fit(wd=1e-3, kind="l2")
    assert reg.near_zero(l1.weights) > reg.near_zero(l2.weights) + 0.1


def test_dropout_zeroes_about_half_in_training_and_none_in_eval():
    train = reg.dropout_mask(10_000, 0.5, training=True)
    assert 0.45 < np.mean(train == 0) < 0.55
    assert set(np.unique(train)) == {0.0, 2.0}  # survivors scaled by 1/(1-p)
    assert np.all(reg.dropout_mask(10_000, 0.5, training=False) == 1.0)


def _metric(at, label: str) -> str:
    return next(m for m in at.metric if m.label == label).value


def test_the_page_shows_the_cure_when_weight_decay_moves():
    at = open_page(PAGE)
    assert at.title[0].value == "Regularisation"
    gap = float(_metric(at, "Gap"))
    assert not any(t["name"] == "no regularisation" for t in chart_spec(at, "this fit")["data"])
    at.select_slider(key="regularisation_wd").set_value(1e-2).run()
    assert not at.exception
    assert float(_metric(at, "Gap")) < gap
    assert any(t["name"] == "no regularisation" for t in chart_spec(at, "this fit")["data"])


def test_the_page_checks_the_gradient_and_draws_a_new_mask():
    at = open_page(PAGE)
    at.slider(key="regularisation_w").set_value(1.5).run()
    at.slider(key="regularisation_wd_demo").set_value(0.2).run()
    text = "\n".join(m.value for m in at.markdown)
    assert "autograd's gradient of wd·w² is 0.6, and 2·wd·w = 0.6" in text
    before = _mask(at)
    assert before[1] == [1.0] * 32 and 0 in before[0]  # eval: all ones; training: some zeros
    at.button(key="regularisation_resample").click().run()
    assert not at.exception
    after = _mask(at)
    assert after[0] != before[0] and after[1] == [1.0] * 32


def _mask(at) -> list[list[float]]:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    z = next(t for spec in specs for t in spec["data"] if t.get("type") == "heatmap")["z"]
    return [[float(v) for v in row] for row in z]
