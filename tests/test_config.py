"""TrainConfig: validation messages, dict round-trips and the learning-rate argument."""

from __future__ import annotations

import json
import math

import pytest

from core.config import SCHEDULES, Augment, TrainConfig, config_problems
from core.errors import ConfigError, UserError


def test_defaults_are_valid():
    cfg = TrainConfig()
    assert cfg.validate() is cfg
    assert config_problems(cfg) == []


@pytest.mark.parametrize("lr", [0, 0.0, -1e-3, float("-inf")])
def test_refuses_learning_rate_not_above_zero(lr):
    with pytest.raises(ConfigError, match="learning rate must be greater than 0"):
        TrainConfig(lr=lr).validate()


@pytest.mark.parametrize("lr", [10, 10.0, 1e3])
def test_refuses_learning_rate_of_ten_or_more(lr):
    with pytest.raises(ConfigError, match="10 or more"):
        TrainConfig(lr=lr).validate()


def test_learning_rate_just_below_ten_is_allowed():
    assert TrainConfig(lr=9.99).validate().lr == 9.99


def test_refuses_nan_learning_rate():
    with pytest.raises(ConfigError, match="greater than 0"):
        TrainConfig(lr=math.nan).validate()


def test_config_error_is_a_user_error():
    with pytest.raises(UserError):
        TrainConfig(lr=-1).validate()


def test_refuses_batch_size_zero():
    with pytest.raises(ConfigError, match="batch size must be at least 1"):
        TrainConfig(bs=0).validate()


def test_refuses_batch_size_larger_than_training_set_naming_both_numbers():
    with pytest.raises(ConfigError) as err:
        TrainConfig(bs=128).validate(n_train=100)
    message = str(err.value)
    assert "128" in message
    assert "100" in message


def test_batch_size_equal_to_training_set_is_allowed():
    assert TrainConfig(bs=100).validate(n_train=100).bs == 100


def test_batch_size_is_not_checked_against_unknown_training_set():
    assert TrainConfig(bs=1000).validate().bs == 1000


def test_refuses_zero_epochs():
    with pytest.raises(ConfigError, match="at least 1 epoch"):
        TrainConfig(epochs=0).validate()


def test_refuses_unknown_schedule_and_lists_the_known_ones():
    with pytest.raises(ConfigError) as err:
        TrainConfig(schedule="cosine_warm").validate()
    message = str(err.value)
    assert "cosine_warm" in message
    for name in SCHEDULES:
        assert name in message


@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_every_known_schedule_is_valid(schedule):
    assert TrainConfig(schedule=schedule).validate().schedule == schedule


def test_refuses_low_end_above_learning_rate():
    with pytest.raises(ConfigError, match="must not exceed the high end"):
        TrainConfig(lr=1e-3, lr_low=1e-2).validate()


def test_refuses_non_positive_low_end():
    with pytest.raises(ConfigError, match="low end"):
        TrainConfig(lr=1e-3, lr_low=0.0).validate()


def test_low_end_equal_to_learning_rate_is_allowed():
    assert TrainConfig(lr=1e-3, lr_low=1e-3).validate().lr_arg() == slice(1e-3, 1e-3)


@pytest.mark.parametrize(
    ("changes", "phrase"),
    [
        ({"wd": -0.1}, "Weight decay"),
        ({"size": 4}, "image size"),
        ({"valid_pct": 0.9}, "validation share"),
        ({"seed": -1}, "seed"),
        ({"freeze_epochs": -1}, "Freeze epochs"),
        ({"aug": Augment(max_zoom=0.5)}, "Zoom"),
        ({"aug": Augment(max_rotate=400)}, "Rotation"),
    ],
)
def test_other_out_of_range_settings_are_refused(changes, phrase):
    with pytest.raises(ConfigError, match=phrase):
        TrainConfig(**changes).validate()


def test_lr_arg_is_a_float_without_low_end():
    assert TrainConfig(lr=2e-3).lr_arg() == 2e-3


def test_lr_arg_is_a_slice_with_low_end():
    arg = TrainConfig(lr=1e-2, lr_low=1e-4).lr_arg()
    assert isinstance(arg, slice)
    assert (arg.start, arg.stop) == (1e-4, 1e-2)


def test_to_dict_from_dict_round_trip_through_json():
    cfg = TrainConfig(
        dataset="digits_flip10",
        arch="resnet18",
        lr=1e-2,
        lr_low=1e-4,
        bs=32,
        wd=0.1,
        epochs=3,
        schedule="flat_cos",
        freeze_epochs=1,
        seed=7,
        size=24,
        valid_pct=0.25,
        augment=True,
        aug=Augment(flip=True, max_rotate=30.0, max_zoom=1.5, max_translate=0.2, max_lighting=0.5),
        pretrained=False,
        mixed_precision=True,
    )
    data = cfg.to_dict()
    assert data["aug"] == {
        "flip": True,
        "max_rotate": 30.0,
        "max_zoom": 1.5,
        "max_translate": 0.2,
        "max_lighting": 0.5,
    }
    back = TrainConfig.from_dict(json.loads(json.dumps(data)))
    assert back == cfg
    assert isinstance(back.aug, Augment)
    assert back.aug.max_rotate == 30.0


def test_from_dict_fills_missing_keys_with_defaults():
    cfg = TrainConfig.from_dict({"lr": 0.01})
    assert cfg == TrainConfig(lr=0.01)


def test_from_dict_refuses_unknown_keys_naming_them():
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict({"lr": 0.01, "learning_rate": 0.1, "batch": 3})
    message = str(err.value)
    assert "learning_rate" in message
    assert "batch" in message


def test_from_dict_refuses_unknown_augmentation_keys_with_a_sentence():
    with pytest.raises(ConfigError, match="max_rotat"):
        TrainConfig.from_dict({"aug": {"max_rotat": 5.0}})


def test_replace_gives_a_changed_copy():
    cfg = TrainConfig()
    other = cfg.replace(bs=8)
    assert (cfg.bs, other.bs) == (64, 8)
