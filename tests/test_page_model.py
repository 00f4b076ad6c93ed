"""AppTest: the Model page's table, parameter counts, freeze control and layer notes."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest
from torch import nn

from core.train import models
from dashboard import state
from tests.apptest import open_page as open_app_page

DIGITS = {"n_classes": 10, "n_in": 1, "size": 16}  # what the page must derive from the folder


def open_page(arch: str | None = None) -> AppTest:
    at = open_app_page("../pages/model.py", timeout=90)
    if arch is not None:
        at.selectbox(key=state.ARCH).select(arch).run()
        assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str) -> int:
    (m,) = [m for m in at.metric if m.label == label]
    return int(m.value.replace(",", ""))


def freeze_head_only(at: AppTest) -> None:
    radio = at.radio(key=state.MODEL_FROZEN)
    radio.set_value(radio.options.__len__() - 1).run()
    assert not at.exception, at.exception


def test_defaults_show_the_table_the_counts_and_the_layer_notes(fresh_workspace):
    at = open_page()
    table = at.dataframe[0].value
    built = models.build_model("mnist_cnn", **DIGITS)
    total, _ = models.count_parameters(built.model)
    assert list(table.columns[:2]) == ["layer", "group"]
    assert {"kind", "output shape", "parameters", "trainable"} <= set(table.columns)
    assert table["parameters"].sum() == total
    assert metric(at, "Parameters") == total
    assert metric(at, "Trainable") == total  # nothing frozen by default
    assert table.iloc[0]["output shape"] == "32×14×14"  # 1×16×16 in, 3×3 convolution
    assert table.iloc[-1]["output shape"] == "10"  # one score per digit
    assert "10 classes, 1 channel(s), 16×16 px" in "\n".join(c.value for c in at.caption)
    notes = "\n".join(m.value for m in at.markdown)
    for kind in ("Conv2d", "ReLU", "MaxPool2d", "Dropout", "Flatten", "Linear"):
        assert f"- **{kind}** " in notes
    assert "learned filters" in notes and "random share" in notes


def test_head_only_trains_just_the_head(fresh_workspace):
    at = open_page()
    total = metric(at, "Parameters")
    freeze_head_only(at)
    head = models.build_model("mnist_cnn", **DIGITS).model[1]
    assert metric(at, "Trainable") == sum(p.numel() for p in head.parameters())
    assert metric(at, "Trainable") < total
    table = at.dataframe[0].value
    learned = table[table["parameters"] > 0]
    assert (learned["trainable"] == (learned["group"] == "head")).all()


def test_simple_cnn_head_only_keeps_batch_norm_trainable(fresh_workspace):
    at = open_page("simple_cnn")
    assert at.session_state[state.ARCH] == "simple_cnn"
    assert "BatchNorm2d" in set(at.dataframe[0].value["kind"])
    freeze_head_only(at)
    built = models.build_model("simple_cnn", **DIGITS)
    head = sum(p.numel() for p in built.model[1].parameters())
    bn = sum(
        p.numel() for m in built.model[0].modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()
    )
    assert metric(at, "Trainable") == head + bn
    assert any("train_bn" in c.value for c in at.caption)
    assert "- **BatchNorm2d** " in "\n".join(m.value for m in at.markdown)
    # the choice is the session's: the LR finder follows it
    at.switch_page("../pages/lr_find.py").run()
    assert any("fastai simple_cnn" in c.value for c in at.caption)


def test_resnet_without_weights_says_so_and_has_three_groups(fresh_workspace):
    at = open_page("resnet18")
    if models.pretrained_weights_file("resnet18") is None:
        assert any("No ImageNet weights" in i.value for i in at.info)
    assert len(at.radio(key=state.MODEL_FROZEN).options) == 3
    freeze_head_only(at)
    assert metric(at, "Trainable") < metric(at, "Parameters")
    notes = "\n".join(m.value for m in at.markdown)
    assert "- **AdaptiveMaxPool2d** " in notes and "- **BatchNorm1d** " in notes
    # back to a two-group model: the freeze control fits the new model instead of failing
    at.selectbox(key=state.ARCH).select("mnist_cnn").run()
    assert not at.exception
    assert len(at.radio(key=state.MODEL_FROZEN).options) == 2


def test_grey_pictures_saved_as_rgb_are_shown_with_one_channel(fresh_workspace):
    """The page counts channels as training does: grey pixels mean one channel, whatever the mode."""
    from PIL import Image

    root = fresh_workspace / "datasets" / "greyrgb"
    for cls, shade in (("dark", 40), ("light", 200)):
        (root / cls).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (20, 20), (shade + i,) * 3).save(root / cls / f"{i}.png")
    at = open_app_page("../pages/model.py", timeout=90, **{state.DATASET: "greyrgb"})
    assert "2 classes, 1 channel(s), 64×64 px" in "\n".join(c.value for c in at.caption)
