"""The SGD lab: its gradient is autograd's and the finite difference's, its descent behaves as the
maths says (converges below 2/λmax, diverges above), and its page answers the controls."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.labs import sgd
from tests.apptest import chart_spec, open_page, values

PAGE = "../pages/learn_sgd.py"


@pytest.mark.parametrize("degree", [1, 2])
def test_the_gradient_is_autograds_and_the_finite_difference(degree):
    x, y = sgd.points(degree)
    rng = np.random.default_rng(1)
    for _ in range(5):
        params = rng.normal(0, 2, degree + 1)
        by_hand = sgd.gradient(params, x, y)
        autograd = np.array(sgd.autograd_step(params, x, y, 0.1).grad)
        np.testing.assert_allclose(autograd, by_hand, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(sgd.finite_difference(params, x, y), autograd, rtol=1e-6, atol=1e-8)


def test_a_step_is_w_minus_lr_times_grad_and_lowers_the_loss():
    x, y = sgd.points()
    step = sgd.autograd_step(sgd.START[1], x, y, 0.3)
    np.testing.assert_allclose(step.after, np.array(step.before) - 0.3 * np.array(step.grad), rtol=1e-12)
    assert step.loss == pytest.approx(sgd.loss(sgd.START[1], x, y))
    assert sgd.loss(step.after, x, y) < step.loss


@pytest.mark.parametrize("degree", [1, 2])
def test_descent_converges_below_the_stable_limit_and_diverges_above(degree):
    x, y = sgd.points(degree)
    limit = sgd.largest_stable_lr(x, degree)
    good = sgd.descend(sgd.START[degree], x, y, 0.9 * limit, 2000)
    np.testing.assert_allclose(good.path[-1], sgd.best_fit(x, y, degree), atol=1e-6)
    assert not good.diverged
    bad = sgd.descend(sgd.START[degree], x, y, 1.1 * limit, 300)
    assert bad.diverged


def test_full_batch_is_the_batch_of_every_point_and_mini_batches_wander_near_the_minimum():
    x, y = sgd.points()
    full = sgd.descend(sgd.START[1], x, y, 0.3, 40)
    np.testing.assert_array_equal(full.path, sgd.descend(sgd.START[1], x, y, 0.3, 40, batch_size=len(x)).path)
    mini = sgd.descend(sgd.START[1], x, y, 0.3, 120, batch_size=5)
    assert not np.allclose(mini.path[:41], full.path)
    assert np.linalg.norm(mini.path[-1] - sgd.best_fit(x, y)) < 0.2


def test_the_surface_and_the_arrows_are_the_loss_and_its_gradient():
    x, y = sgd.points()
    slopes, intercepts = np.linspace(-1, 2, 7), np.linspace(-2, 1, 5)
    z = sgd.surface(x, y, slopes, intercepts)
    ds, di = sgd.gradient_field(x, y, slopes, intercepts)
    for i, b in enumerate(intercepts):
        for j, s in enumerate(slopes):
            assert z[i, j] == pytest.approx(sgd.loss((s, b), x, y))
            np.testing.assert_allclose([ds[i, j], di[i, j]], sgd.gradient((s, b), x, y), atol=1e-12)


def test_the_page_steps_with_the_numbers_of_autograd(fresh_workspace):
    at = open_page(PAGE)
    assert [e.label for e in at.expander] == [
        "One step at a time",
        "The loss surface and the path taken",
        "Too small, good, too large",
        "Mini-batch or full batch",
        "A quadratic",
    ]
    assert not at.code
    at.slider(key="sgd_lr").set_value(0.5).run()
    at.button(key="sgd_step").click().run()
    x, y = sgd.points()
    step = sgd.autograd_step(sgd.START[1], x, y, 0.5)
    code = at.code[0].value
    assert "slope     -= lr * slope.grad" in code
    assert f"({step.grad[0]:+.4f}) = {step.after[0]:+.4f}" in code
    assert any(c.value.startswith("1 steps taken") for c in at.caption)
    path = chart_spec(at, "steps taken")["data"]
    assert len(values(next(t for t in path if t.get("name") == "steps taken")["x"])) == 2

    at.button(key="sgd_run").click().run()
    assert any(c.value.startswith("21 steps taken") for c in at.caption)
    at.button(key="sgd_reset").click().run()
    assert not at.code and any(c.value.startswith("0 steps taken") for c in at.caption)


def test_the_page_answers_its_sliders(fresh_workspace):
    at = open_page(PAGE)

    def curve_lengths(name: str) -> list[int]:
        chart = next(
            c for c in at.get("plotly_chart") if name in c.proto.spec and "loss (MSE)" in c.proto.spec
        )
        spec = json.loads(chart.proto.spec)
        return [len(values(t["y"])) for t in spec["data"] if t.get("mode") == "lines"]

    assert curve_lengths("too small (lr") == [31, 31, 31]
    at.slider(key="sgd_rates_steps").set_value(60).run()
    assert curve_lengths("too small (lr") == [61, 61, 61]

    def mini_end() -> float:
        spec = chart_spec(at, "mini-batches of")
        return values(next(t for t in spec["data"] if str(t.get("name", "")).startswith("mini"))["x"])[-1]

    before = mini_end()
    at.slider(key="sgd_batch_size").set_value(2).run()
    assert mini_end() != before
    assert "mini-batches of 2" in next(
        c.proto.spec for c in at.get("plotly_chart") if "mini-batches" in c.proto.spec
    )

    at.slider(key="sgd_quad_steps").set_value(200).run()
    assert "after 200 steps" in chart_spec(at, "after 200 steps")["data"][1]["name"]


def test_a_link_naming_a_section_opens_it(fresh_workspace):
    from tests.apptest import open_app

    at = open_app()
    at.query_params["section"] = "rates"
    at.switch_page(PAGE).run()
    assert not at.exception
    opened = [e.label for e in at.expander if e.proto.expanded]
    assert opened == ["Too small, good, too large"]
