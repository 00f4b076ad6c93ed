"""Optimizers lab: the update rules' maths, and the page answering its controls."""

from __future__ import annotations

import numpy as np
import pytest

from core.labs import optimizers as opt
from tests.apptest import chart_spec, open_page, values

PAGE = "../pages/learn_optimizers.py"


@pytest.mark.parametrize("lr", [0.03, 0.05, 0.1])
def test_adam_reaches_the_ravines_minimum_in_fewer_steps_than_sgd(lr):
    sgd = opt.steps_to_minimum(opt.run("ravine", "sgd", lr, 2000), "ravine")
    adam = opt.steps_to_minimum(opt.run("ravine", "adam", lr, 2000), "ravine")
    assert sgd is not None and adam is not None
    assert adam < sgd


@pytest.mark.parametrize("name", list(opt.SURFACES))
def test_each_surfaces_gradient_is_the_finite_difference(name):
    s = opt.SURFACES[name]
    h = 1e-6
    for x, y in [(0.3, -0.7), (-1.2, 1.1), s.start]:
        fd = [(s.f(x + h, y) - s.f(x - h, y)) / (2 * h), (s.f(x, y + h) - s.f(x, y - h)) / (2 * h)]
        np.testing.assert_allclose(s.grad(x, y), fd, rtol=1e-5, atol=1e-6)
    assert np.allclose(s.grad(*s.minimum), 0)


def test_sgd_is_lr_times_the_gradient_and_adams_first_step_is_lr_long():
    lr = 0.05
    sgd = opt.run("ravine", "sgd", lr, 1)
    np.testing.assert_allclose(
        sgd.updates[0], lr * opt.SURFACES["ravine"].grad(*opt.SURFACES["ravine"].start)
    )
    adam = opt.run("ravine", "adam", lr, 1)
    np.testing.assert_allclose(np.abs(adam.updates[0]), [lr, lr], rtol=1e-6)  # m̂/√v̂ = sign(g)


def test_a_too_large_learning_rate_diverges_and_the_path_stops():
    path = opt.run("bowl", "sgd", 1.5, 200)  # |1 - 2·lr| = 2: each step doubles the distance
    assert path.diverged
    assert np.all(np.isfinite(path.points))
    assert opt.steps_to_minimum(path, "bowl") is None


def test_the_weighted_average_of_a_constant_is_that_constant_once_bias_corrected():
    x = np.full(20, 3.0)
    np.testing.assert_allclose(opt.ewma(x, 0.9, debias=True), 3.0)
    raw = opt.ewma(x, 0.9, debias=False)
    assert raw[0] == pytest.approx(0.3) and raw[-1] < 3.0
    assert opt.ewma_weights(0.9, 500).sum() == pytest.approx(1.0, abs=1e-6)


def _trace(at, figure: str, name: str) -> list[float]:
    spec = chart_spec(at, figure)
    return values(next(t for t in spec["data"] if t.get("name", "").startswith(name))["x"])


def test_the_page_redraws_the_race_when_a_control_moves():
    at = open_page(PAGE)
    assert at.title[0].value == "Optimizers"
    table = at.dataframe[0].value
    sgd_row = table[table["optimizer"] == "SGD"].iloc[0]
    assert sgd_row["steps to the minimum"] == "—"  # 200 steps at lr 0.1: SGD still crawling the ravine
    before = _trace(at, "SGD + momentum", "Adam")
    at.select_slider(key="optimizers_lr").set_value(0.3).run()
    assert not at.exception
    assert _trace(at, "SGD + momentum", "Adam") != before
    table = at.dataframe[0].value
    assert table[table["optimizer"] == "SGD"].iloc[0]["steps to the minimum"] != "—"
    at.selectbox(key="optimizers_surface").set_value("rosenbrock").run()
    assert not at.exception
    assert any("diverged" in t.get("name", "") for t in chart_spec(at, "minimum")["data"])


def test_moving_beta_changes_the_weighted_average():
    at = open_page(PAGE)
    spec = chart_spec(at, "bias-corrected")
    before = values(next(t for t in spec["data"] if t["name"].startswith("average"))["y"])
    at.slider(key="optimizers_beta").set_value(0.5).run()
    spec = chart_spec(at, "bias-corrected")
    after = next(t for t in spec["data"] if t["name"].startswith("average"))
    assert after["name"] == "average, β = 0.5"
    assert values(after["y"]) != before
