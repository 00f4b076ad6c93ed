"""The loss-functions lab: each fit is its loss's optimum, a moved outlier shifts the MAE fit less
than the MSE fit, RMSE and MSE share their minimum, cross-entropy and softmax are torch's, and the
page answers its controls."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.labs import losses
from tests.apptest import open_page

PAGE = "../pages/learn_losses.py"


def _shift(kind: str, low: float, high: float, delta: float = 0.5) -> float:
    """How far the fitted line moves (largest change over x in [0, 1]) when the outlier moves in y."""
    x0, y0 = losses.points()
    a = losses.fit(*losses.with_outlier(x0, y0, (0.9, low)), kind, delta)
    b = losses.fit(*losses.with_outlier(x0, y0, (0.9, high)), kind, delta)
    ends = np.array([[0.0, 1.0], [1.0, 1.0]])
    return float(np.abs(ends @ (b - a)).max())


@pytest.mark.parametrize("low, high", [(1.0, 6.0), (0.9, -3.0), (2.0, 4.0)])
def test_a_moved_outlier_shifts_the_mae_fit_less_than_the_mse_fit(low, high):
    mse, mae, huber = (_shift(k, low, high) for k in ("mse", "mae", "huber"))
    assert mae < mse / 5
    assert huber < mse
    # The MSE line moves by exactly the outlier's leverage times its move: least squares is linear in y.
    assert mse > 0.1 * abs(high - low)


@pytest.mark.parametrize("kind", losses.LOSSES)
def test_each_fit_is_the_optimum_of_its_loss(kind):
    x, y = losses.with_outlier(*losses.points(), (0.8, 4.0))
    best = losses.fit(x, y, kind, 0.5)
    value = losses.mean_loss(best, x, y, kind, 0.5)
    rng = np.random.default_rng(0)
    for d in rng.normal(0, 0.05, (200, 2)):
        assert value <= losses.mean_loss(best + d, x, y, kind, 0.5) + 1e-12
    if kind == "mse":
        np.testing.assert_allclose(best, np.polyfit(x, y, 1), atol=1e-10)


def test_huber_is_torchs_and_mse_and_mae_are_torchs():
    r = torch.linspace(-3, 3, 61, dtype=torch.float64)
    zero = torch.zeros_like(r)
    for kind, fn in (
        ("mse", torch.nn.functional.mse_loss),
        ("mae", torch.nn.functional.l1_loss),
        (
            "huber",
            lambda a, b, reduction: torch.nn.functional.huber_loss(a, b, reduction=reduction, delta=0.7),
        ),
    ):
        expected = fn(r, zero, reduction="none").numpy()
        np.testing.assert_allclose(losses.pointwise(r.numpy(), kind, 0.7), expected, atol=1e-12)


def test_rmse_and_mse_share_their_minimum_and_scale_as_units_and_units_squared():
    x, y = losses.points()
    slopes = np.linspace(-0.5, 2.5, 301)
    mse, rmse = losses.rmse_and_mse(x, y, slopes, 0.0)
    assert np.argmin(mse) == np.argmin(rmse)
    np.testing.assert_allclose(rmse, np.sqrt(mse))
    mse10, rmse10 = losses.rmse_and_mse(x, y, slopes, 0.0, scale=10)
    np.testing.assert_allclose(mse10, 100 * mse)
    np.testing.assert_allclose(rmse10, 10 * rmse)


def test_cross_entropy_is_torchs_and_smooth_where_accuracy_jumps():
    for margin in (-2.0, 0.0, 1.3):
        s = losses.scored(losses.LOGITS, losses.TARGETS, margin)
        z = torch.tensor(losses.LOGITS)
        z[torch.arange(len(losses.TARGETS)), torch.tensor(losses.TARGETS)] += margin
        expected = torch.nn.functional.cross_entropy(z, torch.tensor(losses.TARGETS))
        assert s["cross_entropy"] == pytest.approx(float(expected))
        assert s["accuracy"] == pytest.approx(
            float((z.argmax(1) == torch.tensor(losses.TARGETS)).float().mean())
        )
    margins = np.linspace(-3, 3, 121)
    ce, acc = losses.margin_sweep(losses.LOGITS, losses.TARGETS, margins)
    assert np.all(np.diff(ce) < 0)  # every increase of the margin lowers the loss
    assert np.sum(np.diff(acc) == 0) > 100  # accuracy is flat almost everywhere
    assert set(np.round(acc * 6).astype(int)) <= set(range(7))


def test_softmax_is_torchs_with_temperature_and_relu_makes_ruled_out_classes_alike():
    z = np.array([2.0, 1.0, -0.5, -1.5])
    for t in (0.2, 1.0, 4.0):
        p = losses.softmax(z, t)
        np.testing.assert_allclose(p, torch.softmax(torch.tensor(z) / t, 0).numpy(), atol=1e-12)
        assert p.sum() == pytest.approx(1.0)
    assert losses.softmax(z, 0.2).max() > losses.softmax(z, 1.0).max() > losses.softmax(z, 4.0).max()
    q = losses.softmax(losses.relu(z))
    assert q[2] == q[3] and losses.softmax(z)[2] > losses.softmax(z)[3]
    assert losses.softmax(np.array([1000.0, 0.0])).tolist() == [1.0, 0.0]  # no overflow


def test_the_page_moves_the_lines_with_the_outlier_and_answers_every_slider(fresh_workspace):
    at = open_page(PAGE)
    assert [e.label for e in at.expander] == [
        "MSE, MAE and Huber",
        "RMSE or MSE",
        "Cross-entropy and accuracy",
        "Softmax and temperature",
    ]

    def fits():
        table = at.dataframe[0].value
        return {row["loss"]: (row["slope"], row["intercept"]) for _, row in table.iterrows()}

    before = fits()
    at.slider(key="losses_outlier_y").set_value(6.0).run()
    after = fits()
    moved = {k: np.abs(np.subtract(after[k], before[k])).max() for k in before}
    assert moved["MAE"] < moved["MSE"] / 5 and moved["MSE"] > 0.3

    def caption(start: str) -> str:
        return next(c.value for c in at.caption if c.value.startswith(start))

    rmse_1 = caption("At the best slope")
    at.select_slider(key="losses_scale").set_value(100).run()
    rmse_100 = caption("At the best slope")
    rmse = [float(s.split("RMSE = ")[1].split(" ")[0]) for s in (rmse_1, rmse_100)]
    assert rmse[1] == pytest.approx(rmse[0] * 100, rel=2e-3)

    assert [m.value for m in at.metric] == ["1.345", "50%"]
    at.slider(key="losses_margin").set_value(3.0).run()
    s = losses.scored(losses.LOGITS, losses.TARGETS, 3.0)
    assert s["accuracy"] == 1.0
    assert [m.value for m in at.metric] == [f"{s['cross_entropy']:.3f}", "100%"]

    sharp = caption("Largest probability")
    at.slider(key="losses_temperature").set_value(4.0).run()
    assert caption("Largest probability") != sharp
