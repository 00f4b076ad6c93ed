"""The convolution lab: the output-shape formula against torch, padding that keeps the size,
the hand-worked pixel, max-pooling, a model's filters; and the page moved as a person would."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.labs import convolution as conv
from dashboard import state
from tests.apptest import open_page

PAGE = "../pages/learn_convolution.py"


def test_padding_1_stride_1_keeps_the_size_of_a_3x3_convolution():
    image = np.random.default_rng(0).random((17, 23), dtype=np.float32)
    for kernel in conv.PRESETS.values():
        assert conv.convolve(image, kernel, stride=1, padding=1).shape == (17, 23)
    assert all(conv.output_size(n, 3, 1, 1) == n for n in range(3, 100))


@pytest.mark.parametrize(
    "size, kernel, stride, padding",
    [
        (s, k, st, p)
        for s, k, st, p in itertools.product([5, 8, 17, 32], [1, 3, 5], [1, 2, 3], [0, 1, 2])
        if s + 2 * p >= k
    ],
)
def test_the_output_shape_formula_matches_torch(size, kernel, stride, padding):
    x = torch.zeros(1, 1, size, size + 3)
    out = F.conv2d(x, torch.zeros(1, 1, kernel, kernel), stride=stride, padding=padding)
    assert out.shape[-2:] == (
        conv.output_size(size, kernel, stride, padding),
        conv.output_size(size + 3, kernel, stride, padding),
    )


def test_the_identity_kernel_returns_the_image_and_a_blur_averages():
    image = np.random.default_rng(1).random((9, 9), dtype=np.float32)
    np.testing.assert_allclose(conv.convolve(image, conv.PRESETS["identity"], 1, 1), image, atol=1e-6)
    blurred = conv.convolve(image, conv.PRESETS["blur"], 1, 0)
    assert blurred[0, 0] == pytest.approx(image[:3, :3].mean(), abs=1e-6)


@pytest.mark.parametrize("stride, padding", [(1, 0), (1, 1), (2, 1), (3, 2)])
def test_the_pixel_worked_by_hand_is_the_convolution_s(stride, padding):
    image = np.random.default_rng(2).random((11, 13), dtype=np.float32)
    kernel = conv.PRESETS["sharpen"]
    out = conv.convolve(image, kernel, stride, padding)
    for r, c in [(0, 0), (out.shape[0] - 1, out.shape[1] - 1), (1, 2)]:
        patch, products, total = conv.convolve_at(image, kernel, r, c, stride, padding)
        assert patch.shape == (3, 3) and products == pytest.approx(patch * np.array(kernel))
        assert total == pytest.approx(float(out[r, c]), abs=1e-5)


def test_max_pooling_keeps_each_window_s_largest_value():
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_array_equal(conv.max_pool(image, 2), [[5, 7], [13, 15]])
    assert conv.max_pool(np.zeros((9, 9)), 3).shape == (3, 3)


def test_filters_and_feature_maps_of_a_model():
    from core.train.models import build_model

    model = build_model("mnist_cnn", 10, 1, 16).model.eval()
    first = conv.first_conv(model)
    weights = conv.filters(model)
    assert weights.shape == tuple(first.weight.shape)
    x = torch.randn(1, 1, 16, 16)
    maps = conv.feature_maps(model, x)
    np.testing.assert_allclose(maps, first(x)[0].detach().numpy(), atol=1e-6)
    assert conv.first_conv(torch.nn.Linear(2, 2)) is None


def test_read_grey_enlarges_tiny_images_and_shrinks_big_ones(tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 4), "white").save(tmp_path / "small.png")
    Image.new("L", (400, 200)).save(tmp_path / "big.png")
    small = conv.read_grey(tmp_path / "small.png")
    assert small.shape == (16, 32) and small.max() == pytest.approx(1.0)
    assert conv.read_grey(tmp_path / "big.png").shape == (48, 96)


# The page, as a person uses it


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_stride_and_padding_change_the_output_size_and_its_formula():
    at = open_page(PAGE, timeout=120)
    before = metric(at, "Output size")
    h = int(before.split("×")[0])
    assert conv.output_size(h, 3, 1, 1) == h  # the defaults keep the size
    at.slider(key="convolution_stride").set_value(2).run()
    assert not at.exception, at.exception
    half = conv.output_size(h, 3, 2, 1)
    assert metric(at, "Output size").startswith(f"{half}×")
    assert any(f"⌊({h} + 2·1 − 3) / 2⌋ + 1 = **{half}**" in m.value for m in at.markdown)
    at.slider(key="convolution_padding").set_value(0).run()
    assert metric(at, "Output size").startswith(f"{conv.output_size(h, 3, 2, 0)}×")


def test_a_preset_fills_the_kernel_and_changes_the_output():
    at = open_page(PAGE, timeout=120)
    hand = next(m.value for m in at.markdown if m.value.startswith("output["))
    at.selectbox(key="convolution_preset").select("identity").run()
    assert not at.exception, at.exception
    assert [at.number_input(key=f"convolution_k{i}{j}").value for i in range(3) for j in range(3)] == [
        0,
        0,
        0,
        0,
        1,
        0,
        0,
        0,
        0,
    ]
    assert next(m.value for m in at.markdown if m.value.startswith("output[")) != hand
    at.number_input(key="convolution_k00").set_value(2.0).run()
    assert at.number_input(key="convolution_k00").value == 2.0


def test_filters_say_train_first_without_a_run_and_show_a_run_s_filters(fresh_workspace):
    at = open_page(PAGE, timeout=120)
    assert any("No trained model yet" in i.value for i in at.info)
    from core import runs, tasks
    from core.config import TrainConfig

    record = runs.RunRecord(TrainConfig(), [str(i) for i in range(10)], 16, 1, [0.5], [0.25])
    model = tasks.get(record.task).build_model(record)
    runs.save(7, model.state_dict(), record)
    at = open_page(PAGE, timeout=120, **{state.RUN: 7})
    assert not any("No trained model yet" in i.value for i in at.info)
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("first-layer filters" in s for s in charts) and any("feature maps of" in s for s in charts)
    n = conv.first_conv(model).out_channels
    assert any(f"{n} filters of 3×3 over 1 channel(s)" in c.value for c in at.caption)
