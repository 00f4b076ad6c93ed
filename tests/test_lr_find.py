"""The learning-rate finder: the curve, the four suggestions, and a model left exactly as it was."""

from __future__ import annotations

import copy
import math
import random

import numpy as np
import pytest
import torch
from fastcore.foundation import L

from core.config import TrainConfig
from core.data import loaders as data
from core.train.lr_find import SUGGESTIONS, find_lr, suggest
from core.train.training import build_learner

CFG = TrainConfig(size=8, bs=64, epochs=1)


pytestmark = pytest.mark.usefixtures("one_thread")


def _learner():
    learn, _ = build_learner(CFG, data.build(CFG, device="cpu"))
    return learn


def _tensors(state) -> list[tuple[str, object]]:
    """Every leaf of a (nested) state as (path, value), tensors cloned."""
    out = []

    def walk(prefix, value):
        if isinstance(value, dict):
            for k in sorted(value, key=str):
                walk(f"{prefix}.{k}", value[k])
        elif isinstance(value, (list, tuple, L)):
            for i, v in enumerate(value):
                walk(f"{prefix}[{i}]", v)
        elif isinstance(value, torch.Tensor):
            out.append((prefix, value.detach().clone()))
        else:
            out.append((prefix, copy.deepcopy(value)))

    walk("", state)
    return out


def _assert_same(before, after):
    assert [k for k, _ in before] == [k for k, _ in after]
    for (key, a), (_, b) in zip(before, after, strict=True):
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b), key
        else:
            assert a == b, key


@pytest.fixture(scope="module")
def trained_and_found():
    """A learner trained for one epoch (so Adam has state), then run through find_lr."""
    learn = _learner()
    learn.fit_one_cycle(1, 3e-3)
    model = _tensors(learn.model.state_dict())
    opt = _tensors(learn.opt.state_dict())
    rngs = (torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy())
    frozen = [p.requires_grad for p in learn.model.parameters()]
    result = find_lr(learn)
    return learn, result, model, opt, rngs, frozen


def test_model_weights_are_exactly_as_before(trained_and_found):
    learn, _, model, *_ = trained_and_found
    assert len(model) > 0
    _assert_same(model, _tensors(learn.model.state_dict()))


def test_optimizer_state_is_exactly_as_before(trained_and_found):
    learn, _, _, opt, *_ = trained_and_found
    assert any(isinstance(v, torch.Tensor) for _, v in opt)  # Adam's moving averages
    _assert_same(opt, _tensors(learn.opt.state_dict()))


def test_random_generators_and_trainable_flags_are_as_before(trained_and_found):
    learn, *_, rngs, frozen = trained_and_found
    assert torch.equal(torch.get_rng_state(), rngs[0])
    assert random.getstate() == rngs[1]
    assert np.array_equal(np.random.get_state()[1], rngs[2])
    assert [p.requires_grad for p in learn.model.parameters()] == frozen


def test_curve_has_matching_lrs_and_losses(trained_and_found):
    _, result, *_ = trained_and_found
    lrs, losses = result["lrs"], result["losses"]
    assert len(lrs) == len(losses)
    assert 10 < len(lrs) <= 100
    assert all(b > a for a, b in zip(lrs, lrs[1:], strict=False))  # the rate only grows
    assert lrs[0] == pytest.approx(1e-7, rel=0.5)
    assert all(isinstance(v, float) for v in lrs + losses)
    assert result["cancelled"] is False


def test_all_four_suggestions_are_positive_floats(trained_and_found):
    _, result, *_ = trained_and_found
    suggestions = result["suggestions"]
    assert set(suggestions) == set(SUGGESTIONS) == {"valley", "slide", "minimum", "steep"}
    for name, value in suggestions.items():
        assert isinstance(value, float), name
        assert math.isfinite(value) and value > 0, name
        assert result["lrs"][0] <= value <= result["lrs"][-1], name


def test_learner_without_optimizer_still_has_none(tmp_path):
    learn = _learner()
    assert learn.opt is None
    model = _tensors(learn.model.state_dict())
    result = find_lr(learn, num_it=20)
    assert learn.opt is None
    _assert_same(model, _tensors(learn.model.state_dict()))
    assert len(result["lrs"]) == len(result["losses"]) <= 20


def test_training_after_find_lr_runs_and_learns():
    learn = _learner()
    find_lr(learn, num_it=20)
    learn.fit_one_cycle(1, 3e-3)
    assert learn.recorder.values[-1][2] > 0.3  # accuracy well above chance (0.1)


def test_find_lr_leaves_the_next_training_run_unchanged():
    plain = _learner()
    probed = _learner()
    dropout_rng = torch.get_rng_state()
    find_lr(probed, num_it=10)
    plain.fit(1, 1e-3)
    torch.set_rng_state(dropout_rng)  # both fits draw the same dropout masks
    probed.fit(1, 1e-3)
    _assert_same(_tensors(plain.model.state_dict()), _tensors(probed.model.state_dict()))


@pytest.mark.parametrize("n", [0, 1, 3, 8, 15])
def test_suggest_on_a_too_short_curve_gives_none(n):
    """Nothing is left after dropping the first tenth (10 points) and the last five."""
    lrs = np.logspace(-7, 1, n).tolist()
    losses = np.linspace(2.5, 1.0, n).tolist()
    out = suggest(lrs, losses, num_it=100)
    assert out == dict.fromkeys(SUGGESTIONS)


def test_suggest_keeps_the_points_between_the_first_tenth_and_the_last_five():
    """With 16 points exactly one is kept, lrs[10]: the minimum suggestion is a tenth of it."""
    lrs = np.logspace(-7, 1, 16).tolist()
    losses = np.linspace(2.5, 1.0, 16).tolist()
    out = suggest(lrs, losses, num_it=100)
    assert out["minimum"] == pytest.approx(lrs[10] / 10, rel=1e-5)
    assert out["valley"] == pytest.approx(lrs[10], rel=1e-5)


def test_suggest_cuts_the_curve_at_the_first_nan():
    lrs = np.logspace(-7, 1, 100).tolist()
    losses = np.concatenate([np.linspace(2.5, 0.5, 60), [math.nan] * 40]).tolist()
    out = suggest(lrs, losses, num_it=100)
    for name, value in out.items():
        assert value is not None and lrs[10] / 10 <= value <= lrs[59], name
    assert out["minimum"] == pytest.approx(lrs[59] / 10, rel=1e-5)


def test_suggest_on_a_clean_curve_gives_four_values_where_fastai_puts_them():
    lrs = np.logspace(-7, 1, 100)
    # Flat, then a steady fall from 1e-4 to 1e-1, then a blow-up: the textbook lr_find shape.
    losses = np.where(lrs < 1e-4, 2.3, 2.3 - 0.3 * np.log10(lrs / 1e-4))
    losses = np.where(lrs > 1e-1, losses[np.argmax(lrs > 1e-1)] + 5 * (lrs - 1e-1), losses)
    out = suggest(lrs.tolist(), losses.tolist(), num_it=100)
    assert all(isinstance(v, float) for v in out.values()), out
    # minimum: a tenth of the rate at the lowest loss; the others lie on the fall, in the
    # order fastai's definitions give: steepest first, then the valley, then the slide.
    assert out["minimum"] == pytest.approx(lrs[np.argmin(losses)] / 10, rel=1e-5)
    for name in ("steep", "valley", "slide"):
        assert 1e-4 <= out[name] <= 1e-1, (name, out)
    assert out["steep"] < out["valley"] < out["slide"] < out["minimum"] * 10, out
