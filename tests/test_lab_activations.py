"""The activations lab: the functions and their slopes, a network without activation collapsing
to a line, more units fitting better, the 2-D classifier's speed and accuracy; the page moved."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from core.labs import activations as lab
from tests.apptest import chart_spec, open_page

PAGE = "../pages/learn_activations.py"


def test_the_functions_and_their_slopes():
    x = np.linspace(-3, 3, 61, dtype=np.float32)
    y, dy = lab.activation("relu", x)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    np.testing.assert_array_equal(dy, (x > 0).astype(np.float32))
    y, dy = lab.activation("sigmoid", x)
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-x)), atol=1e-6)
    np.testing.assert_allclose(dy, y * (1 - y), atol=1e-6)
    y, dy = lab.activation("tanh", x)
    np.testing.assert_allclose(dy, 1 - np.tanh(x) ** 2, atol=1e-5)
    y, _ = lab.activation("gelu", x)
    assert y[-1] == pytest.approx(x[-1], abs=0.01) and abs(y[0]) < 0.01


def affine_residual(x: np.ndarray, out: np.ndarray) -> float:
    """The largest distance of out from the best line through (x, out)."""
    a, b = np.polyfit(x.astype(np.float64), out.astype(np.float64), 1)
    return float(np.abs(out - (a * x + b)).max())


@pytest.mark.parametrize("widths", [[16], [8, 8], [32, 4, 16]])
def test_a_network_without_activation_is_an_affine_function_of_its_input(widths):
    net = lab.mlp(widths, "none", seed=3)
    x = np.linspace(-5, 5, 101, dtype=np.float32)
    with torch.no_grad():
        out = net(torch.from_numpy(x)[:, None])[:, 0].numpy()
    assert affine_residual(x, out) < 1e-4 * max(1.0, float(np.abs(out).max()))
    slope, intercept = lab.collapse(net)
    np.testing.assert_allclose(out, slope * x + intercept, atol=1e-4)
    relu = lab.mlp(widths, "relu", seed=3)
    with torch.no_grad():
        bent = relu(torch.from_numpy(x)[:, None])[:, 0].numpy()
    assert affine_residual(x, bent) > 1e-3  # with ReLU it bends


def test_the_trained_network_without_activation_is_the_line_its_weights_multiply_to():
    fit = lab.fit_curve("wave", 16, "none")
    np.testing.assert_allclose(fit.fit, fit.slope * fit.x + fit.intercept, atol=1e-4)
    best = np.polyfit(fit.x, fit.target, 1)  # the least-squares line is the best it can do
    assert fit.loss == pytest.approx(float(np.mean((np.polyval(best, fit.x) - fit.target) ** 2)), rel=0.02)
    assert lab.fit_curve("wave", 16, "relu").loss < fit.loss / 10


def test_more_units_fit_the_curve_better():
    losses = [lab.fit_curve("wave", units).loss for units in (1, 16, 64)]
    assert losses[0] > 10 * losses[1] and losses[2] < 0.02


def test_the_2d_classifier_trains_300_steps_within_2_seconds_and_separates_circles(one_thread):
    xy, y = lab.points("circles", noise=0.05)
    start = time.perf_counter()
    result = lab.train_classifier(xy, y, [8, 8], "relu", steps=300)
    assert time.perf_counter() - start <= 2.0
    assert result.accuracy >= 0.97 and result.losses[-1] < result.losses[0] / 4
    assert result.steps[0] == 0 and result.steps[-1] == 300 and len(result.grids) == len(result.steps)
    grid, axis = result.grids[-1], result.axis
    centre = int(np.argmin(np.abs(axis)))
    ring = int(np.argmin(np.abs(axis - 0.8)))
    assert grid[centre, centre] < 0.2 and grid[centre, ring] > 0.8  # inside blue, the ring red


def test_without_activation_the_classifier_cannot_do_xor():
    xy, y = lab.points("xor", noise=0.0)
    assert lab.train_classifier(xy, y, [8, 8], "none").accuracy < 0.75
    assert lab.train_classifier(xy, y, [8, 8], "relu").accuracy > 0.95


@pytest.mark.parametrize("kind", lab.POINTS)
def test_the_points_are_balanced_and_in_the_plane(kind):
    xy, y = lab.points(kind, n=200, noise=0.0)
    assert xy.shape == (200, 2) and set(np.unique(y)) == {0.0, 1.0}
    assert 60 <= y.sum() <= 140 and np.abs(xy).max() <= 1.1


# The page, as a person uses it


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_units_change_the_fit_and_functions_change_the_chart():
    at = open_page(PAGE, timeout=120)
    few = float(metric(at, "Loss (MSE)"))
    at.select_slider(key="activations_units").set_value(32).run()
    assert not at.exception, at.exception
    assert float(metric(at, "Loss (MSE)")) < few / 5
    names = [t["name"] for t in chart_spec(at, '"relu"')["data"]]
    assert names == ["relu", "sigmoid"]
    at.multiselect(key="activations_pick").select("tanh").run()
    at.toggle(key="activations_derivative").set_value(True).run()
    names = [t["name"] for t in chart_spec(at, '"relu"')["data"]]
    assert {"relu", "sigmoid", "tanh", "tanh′ (slope)"} <= set(names)


def test_without_activation_shows_the_line_and_the_playground_moves():
    at = open_page(PAGE, timeout=120)
    line = next(m.value for m in at.markdown if m.value.startswith("without: y ="))
    assert float(metric(at, "Loss without activation")) > 10 * float(metric(at, "Loss with ReLU"))
    relu = metric(at, "Loss with ReLU")
    at.select_slider(key="activations_units_none").set_value(2).run()
    assert metric(at, "Loss with ReLU") != relu  # units matter with an activation…
    assert next(m.value for m in at.markdown if m.value.startswith("without: y =")) == line  # …not without
    assert chart_spec(at, "step 300")
    at.select_slider(key="activations_shown").set_value(0).run()
    assert not at.exception, at.exception
    assert chart_spec(at, "step 0 (untrained)")
    at.selectbox(key="activations_points").select("xor").run()
    at.selectbox(key="activations_play_act").select("none").run()
    assert not at.exception, at.exception
    assert int(metric(at, "Accuracy after training").rstrip("%")) < 75
    assert chart_spec(at, "step 300")  # new settings show the last step again
