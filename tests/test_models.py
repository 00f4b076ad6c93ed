"""The architecture registry: every arch builds, resnets explain a missing download, summary()."""

from __future__ import annotations

from functools import cache

import pandas as pd
import pytest
import torch

from core.config import TrainConfig
from core.data import loaders as data
from core.errors import UserError
from core.train import models
from core.train.training import build_learner

ARCHS = ["mnist_cnn", "simple_cnn", "small_cnn", "resnet18", "resnet34"]  # the image classifiers


pytestmark = pytest.mark.usefixtures("one_thread")


def _size(arch: str) -> int:
    return 32 if arch.startswith("resnet") else 16


@cache
def _built(arch: str, n_in: int, pretrained: bool = False) -> models.BuiltModel:
    """Each model once per file: a resnet takes a second or two to initialise on two cores."""
    return models.build_model(arch, n_classes=3, n_in=n_in, size=_size(arch), pretrained=pretrained)


def test_registry_lists_the_image_archs():
    """The classifiers (the segmentation U-Nets are tested in tests/test_segmentation.py)."""
    image = {a: spec for a, spec in models.ARCHS.items() if "single_label" in spec.tasks}
    assert list(image) == ARCHS
    assert {a for a, spec in image.items() if spec.pretrainable} == {"resnet18", "resnet34"}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("n_in", [1, 3])
def test_each_arch_gives_one_score_per_class(arch, n_in):
    size = _size(arch)
    built = _built(arch, n_in)
    model = built.model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, n_in, size, size))
    assert out.shape == (2, 3)
    assert torch.isfinite(out).all()
    groups = built.splitter(built.model)
    assert len(groups) >= 2
    assert sum(p.numel() for g in groups for p in g) == models.count_parameters(model)[0]


@pytest.mark.parametrize("arch", ["resnet18", "resnet34"])
def test_resnet_without_local_weights_says_it_trains_from_scratch(arch):
    if models.pretrained_weights_file(arch) is not None:
        pytest.skip(f"{arch} weights are on this machine")
    built = _built(arch, 3, pretrained=True)
    assert built.pretrained is False
    assert built.notice is not None
    assert arch in built.notice
    assert "from scratch" in built.notice


@pytest.mark.parametrize("arch", ARCHS)
def test_no_notice_when_weights_are_not_asked_for(arch):
    built = _built(arch, 1)
    assert built.notice is None
    assert built.pretrained is False


def test_unknown_arch_names_the_choices():
    with pytest.raises(UserError) as err:
        models.build_model("vgg99", n_classes=3)
    message = str(err.value)
    assert "vgg99" in message
    for arch in ARCHS:
        assert arch in message


def test_refuses_fewer_than_two_classes():
    with pytest.raises(UserError, match="at least two classes"):
        models.build_model("mnist_cnn", n_classes=1)


def test_mnist_cnn_refuses_images_too_small():
    with pytest.raises(UserError, match="at least 6 pixels"):
        models.build_model("mnist_cnn", n_classes=3, n_in=1, size=5)


@pytest.mark.parametrize("arch", ARCHS)
def test_summary_parameters_add_up_to_the_model_total(arch):
    size = _size(arch)
    model = _built(arch, 3).model
    table = models.summary(model, (3, size, size))
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["layer", "kind", "output shape", "parameters", "trainable"]
    total, trainable = models.count_parameters(model)
    assert table["parameters"].sum() == total
    assert total == trainable
    # Every layer that has weights is trainable before freezing.
    assert table.loc[table.parameters > 0, "trainable"].all()
    # The last layer's output is one score per class.
    assert table["output shape"].iloc[-1] in ("3", "3×1×1")


@pytest.mark.parametrize("n_in", [1, 3])
@pytest.mark.parametrize("size", [16, 24, 40, 64])
def test_small_cnn_takes_any_size_and_keeps_a_map_for_grad_cam(n_in, size):
    """Global pooling makes one score per class whatever the side; the last convolution still
    gives a map of at least 2×2, the layer Grad-CAM reads."""
    built = models.build_model("small_cnn", n_classes=3, n_in=n_in, size=size)
    model = built.model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, n_in, size, size))
    assert out.shape == (2, 3)
    assert torch.isfinite(out).all()
    table = models.summary(model, (n_in, size, size))
    last_conv = table[table.kind == "Conv2d"].iloc[-1]
    side = int(last_conv["output shape"].split("×")[-1])
    assert side >= 2
    assert [len(g) for g in built.splitter(model)] == [12, 2]  # body (4 conv + 4×2 batch norm), head


def test_summary_leaves_the_model_in_training_mode():
    model = models.build_model("simple_cnn", n_classes=3, n_in=1, size=16).model
    model.train()
    models.summary(model, (1, 16, 16))
    assert model.training


def test_summary_shows_output_shapes_of_mnist_cnn():
    model = models.build_model("mnist_cnn", n_classes=10, n_in=1, size=16).model
    table = models.summary(model, (1, 16, 16)).set_index("layer")
    assert table.loc["0.0", "output shape"] == "32×14×14"
    assert table.loc["0.2", "output shape"] == "64×12×12"
    assert table.loc["0.4", "output shape"] == "64×6×6"
    assert table.loc["1.0", "parameters"] == 64 * 6 * 6 * 128 + 128
    assert table.loc["1.3", "output shape"] == "10"


@pytest.mark.parametrize("arch", ["mnist_cnn", "simple_cnn", "resnet18"])
def test_summary_shows_the_body_frozen_after_freeze(arch):
    cfg = TrainConfig(arch=arch, size=32 if arch == "resnet18" else 12, bs=32, pretrained=False)
    bundle = data.build(cfg, device="cpu")
    learn, _ = build_learner(cfg, bundle)
    shape = (bundle.channels, bundle.size, bundle.size)
    before = models.summary(learn.model, shape)
    assert before.loc[before.parameters > 0, "trainable"].all()

    learn.freeze()
    after = models.summary(learn.model, shape)
    assert after["parameters"].sum() == before["parameters"].sum()
    weighted = after[after.parameters > 0]
    body = weighted[weighted.layer.str.startswith("0.")]
    head = weighted[weighted.layer.str.startswith("1.")]
    assert len(body) and len(head)
    # fastai keeps batch norm trainable in a frozen body (train_bn); everything else is frozen.
    assert not body.loc[~body.kind.str.startswith("BatchNorm"), "trainable"].any()
    assert head["trainable"].all()
    total, trainable = models.count_parameters(learn.model)
    assert trainable == after.loc[after.trainable, "parameters"].sum() < total

    learn.unfreeze()
    assert models.summary(learn.model, shape)["trainable"].sum() == before["trainable"].sum()
