"""Prediction for multi-label and segmentation models: labels above a threshold or "none of these",
Grad-CAM per label, the mask with its overlay, legend and shares; and the Predict and Models pages."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from core.analysis import masks
from core.serving import gradcam, predict, predict_multi, predict_seg, upload
from dashboard import state
from dashboard.views import predict_multi as multi_view
from dashboard.views import predict_seg as seg_view
from tests.apptest import open_page
from tests.task_models import MULTI, SEG, SIZE, THRESHOLD, trained_task


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    return trained_task(tmp_path_factory, "multi_label")


@pytest.fixture(scope="module")
def seg(tmp_path_factory):
    return trained_task(tmp_path_factory, "segmentation")


@pytest.fixture
def multi_model(multi, fresh_workspace):
    return predict.load(upload.import_bundle(multi.zip, f"{MULTI}.zip").name)


@pytest.fixture
def seg_model(seg, fresh_workspace):
    return predict.load(upload.import_bundle(seg.zip, f"{SEG}.zip").name)


def prepared(run, i: int = 0, square_side: int = 0) -> predict.PreparedImage:
    f = run.images[i]
    return predict.prepare(f.read_bytes(), f.name, SIZE, 3, square_side)


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


# --- multi-label ---------------------------------------------------------------------------------


def test_labels_above_the_threshold_or_none_of_these():
    pred = predict_multi.MultiPrediction("x.png", np.array([0.2, 0.9, 0.5, 0.7]), ["a", "b", "c", "d"])
    assert pred.labels(0.5) == ["b", "d"]  # most likely first; 0.5 itself is not above 0.5
    assert pred.label(0.5) == "b, d"
    assert pred.labels(0.1) == ["b", "d", "c", "a"]
    assert pred.labels(0.95) == [] and pred.label(0.95) == predict_multi.NONE == "none of these"
    assert pred.best == ("b", pytest.approx(0.9))


def test_a_multi_label_model_answers_each_label_on_its_own(multi, multi_model):
    images = [prepared(multi, i) for i in range(len(multi.images))]
    preds = predict.predict(multi_model, images)
    assert all(isinstance(p, predict_multi.MultiPrediction) for p in preds)
    probs = np.stack([p.probs for p in preds])
    assert probs.shape == (len(images), 4) and ((probs > 0) & (probs < 1)).all()
    assert not np.allclose(probs.sum(axis=1), 1)  # sigmoids, not a softmax
    table = predict.results_table(preds, images, THRESHOLD, task="multi_label")
    assert list(table["file"]) == [f.name for f in multi.images]
    assert list(table["labels"]) == [p.label(THRESHOLD) for p in preds]
    assert [c for c in table.columns if c.startswith("p(")] == [f"p({c})" for c in multi_model.classes]
    everything = predict.results_table(preds, images, 0.0001, task="multi_label")
    assert set(everything["n labels"]) == {4}


def test_grad_cam_per_label_is_the_map_of_its_sigmoid_output(multi, multi_model):
    import torch

    image = prepared(multi, 2)
    maps = [gradcam.grad_cam(multi_model, image.pixels, i) for i in range(4)]
    assert [m.class_index for m in maps] == [0, 1, 2, 3]
    assert gradcam.explains(multi_model)
    # the same map from the label's probability (sigmoid) instead of its logit
    model, saved = multi_model.model, {}
    layer = dict(model.named_modules())[maps[1].layer]
    hook = layer.register_forward_hook(lambda _m, _i, out: saved.__setitem__("act", out))
    try:
        with torch.enable_grad():
            score = torch.sigmoid(model(predict.to_batch(multi_model.info, [image.pixels])))[0, 1]
            (grad,) = torch.autograd.grad(score, saved["act"])
    finally:
        hook.remove()
    cam = torch.relu((grad[0].mean(dim=(1, 2))[:, None, None] * saved["act"].detach()[0]).sum(dim=0))
    cam = torch.nn.functional.interpolate(cam[None, None], size=(SIZE, SIZE), mode="bilinear")[0, 0]
    if float(cam.max()) > 0:
        np.testing.assert_allclose(maps[1].heat, (cam / cam.max()).numpy(), atol=1e-4)
    assert not any(p.grad is not None for p in model.parameters())


# --- segmentation --------------------------------------------------------------------------------


def test_a_segmentation_model_gives_a_mask_with_shares(seg, seg_model):
    image = prepared(seg, 0, square_side=384)
    [pred] = predict.predict(seg_model, [image])
    assert isinstance(pred, predict_seg.SegPrediction)
    assert pred.mask.shape == (SIZE, SIZE) and pred.mask.dtype == np.uint8
    assert pred.mask.max() < len(pred.codes) and 0 < pred.confidence <= 1
    np.testing.assert_allclose(pred.shares(), masks.class_shares(pred.mask, len(pred.codes)))
    assert pred.shares().sum() == pytest.approx(1)
    assert [c for c, _ in pred.present()] == [
        pred.codes[i] for i in np.argsort(-pred.shares(), kind="stable") if pred.shares()[i] > 0
    ]
    table = predict_seg.shares_table(pred)
    assert list(table["class"]) == pred.codes
    assert list(table["colour"]) == [h for _, h in masks.legend(pred.codes)]


def test_the_mask_is_resized_back_to_the_uploads_centre_square_by_nearest(seg, seg_model):
    wide = np.asarray(Image.open(seg.images[1]).convert("RGB").resize((90, 60)))
    image = predict.prepare(png(wide), "wide.png", SIZE, 3, square_side=384)
    assert image.square.shape == (60, 60, 3)
    [pred] = predict.predict(seg_model, [image])
    full = predict_seg.full_mask(pred, image)
    assert full.shape == (60, 60)
    assert set(np.unique(full)) <= set(np.unique(pred.mask))  # nearest: no new values
    # the overlay, fully opaque: every pixel of a class takes the legend's colour of that class
    shown = predict_seg.overlay(pred, image, alpha=1.0)
    assert shown.shape == (60, 60, 3)
    colours = masks.palette(len(pred.codes))
    for k in range(1, len(pred.codes)):
        if (full == k).any():
            assert (shown[full == k] == colours[k]).all()
    # the PNG a person downloads holds the class indices, coloured by the palette
    back = Image.open(io.BytesIO(predict_seg.mask_png(full, len(pred.codes))))
    assert back.mode == "P" and back.size == (60, 60)
    np.testing.assert_array_equal(np.asarray(back), full)
    assert back.getpalette()[3:6] == list(colours[1])


def test_segmentation_has_no_grad_cam(seg, seg_model):
    assert gradcam.supports(seg_model.model) and not gradcam.explains(seg_model)
    with pytest.raises(ValueError, match="one score per class"):
        gradcam.grad_cam(seg_model, prepared(seg).pixels)


# --- the Predict page ----------------------------------------------------------------------------


def _bars(at) -> dict:
    chart = next(c for c in at.get("plotly_chart") if "each label on its own" in c.proto.spec)
    return json.loads(chart.proto.spec)


def test_predict_page_shows_a_multi_label_answer_and_the_threshold_moves_it(multi, multi_model):
    image = multi.images[3]
    expected = predict.predict(multi_model, [prepared(multi, 3)])[0]
    at = open_page("../pages/predict.py")
    assert at.selectbox(key=state.PREDICT_MODEL).value == MULTI
    at.file_uploader(key="predict_upload").set_value((image.name, image.read_bytes(), "image/png")).run()
    assert not at.exception, at.exception
    slider = at.slider(key=multi_view.threshold_key(multi_model.info))
    assert slider.value == pytest.approx(THRESHOLD)  # the model's own threshold
    assert slider.label == "Label threshold" and slider.help
    [metric] = at.metric
    assert metric.label == "Labels" and metric.value == expected.label(THRESHOLD)
    spec = _bars(at)
    assert sorted(spec["data"][0]["y"]) == sorted(multi_model.classes)  # every label
    assert spec["layout"]["shapes"][0]["x0"] == pytest.approx(THRESHOLD)
    assert "labels above" in " ".join(c.value for c in at.caption)

    # above every probability: "none of these", said and explained
    assert expected.probs.max() < 0.98  # a barely trained model: no label is that sure
    at.slider(key=multi_view.threshold_key(multi_model.info)).set_value(0.99).run()
    assert at.metric[0].value == "none of these"
    assert any("none of these" in i.value for i in at.info)
    at.slider(key=multi_view.threshold_key(multi_model.info)).set_value(0.01).run()
    assert at.metric[0].value == ", ".join(c for c, _ in expected.ranked())

    # Grad-CAM for a chosen label
    pick = at.selectbox(key=f"{multi_view.GRADCAM_LABEL}_{multi_model.info.sha256[:16]}")
    assert pick.value == int(np.argmax(expected.probs)) and pick.help
    pick.set_value(multi_model.classes.index("square")).run()
    assert not at.exception, at.exception
    captions = " ".join(c for img in at.get("image") for c in img.captions)
    assert "where it looked for square" in captions


def test_predict_page_gives_a_table_of_label_sets_for_many_images(multi, multi_model):
    files = [(f.name, f.read_bytes(), "image/png") for f in multi.images]
    at = open_page("../pages/predict.py")
    at.file_uploader(key="predict_upload").set_value(files).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["file"]) == [f.name for f in multi.images]
    preds = predict.predict(multi_model, [prepared(multi, i) for i in range(len(files))])
    assert list(table["labels"]) == [p.label(THRESHOLD) for p in preds]
    assert any(b.label == "Download results (CSV)" for b in at.get("download_button"))


def test_predict_page_shows_the_mask_overlay_legend_and_shares(seg, seg_model):
    image = seg.images[0]
    [expected] = predict.predict(seg_model, [prepared(seg, 0, 384)])
    at = open_page("../pages/predict.py")
    at.file_uploader(key="predict_upload").set_value((image.name, image.read_bytes(), "image/png")).run()
    assert not at.exception, at.exception
    [metric] = at.metric
    assert metric.label == "Largest class" and metric.value == expected.present()[0][0]
    captions = [c for img in at.get("image") for c in img.captions]
    assert any(c.startswith("the predicted mask over it") for c in captions)
    assert "the mask alone" in captions
    legend = at.dataframe[0].value  # the legend and the shares: a row per class in its colour
    assert list(legend["colour"]) == [h for _, h in masks.legend(expected.codes)]
    assert list(legend["class"]) == expected.codes
    assert list(legend["share"]) == pytest.approx(expected.shares().tolist())
    assert any(b.label == "Download the mask (PNG)" for b in at.get("download_button"))
    assert at.slider(key=seg_view.OPACITY).help
    assert "Show where it looked (Grad-CAM)" not in [
        t.label for t in at.get("toggle")
    ]  # the mask is the answer


def test_predict_page_gives_a_table_of_classes_for_many_segmented_images(seg, seg_model):
    files = [(f.name, f.read_bytes(), "image/png") for f in seg.images[:3]]
    at = open_page("../pages/predict.py")
    at.file_uploader(key="predict_upload").set_value(files).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["file"]) == [f.name for f in seg.images[:3]]
    assert [c for c in table.columns if c.startswith("share(")] == [
        f"share({c})" for c in seg_model.info.codes
    ]


def test_the_models_page_shows_task_threshold_and_codes(multi, seg, fresh_workspace):
    upload.import_bundle(multi.zip, f"{MULTI}.zip")
    upload.import_bundle(seg.zip, f"{SEG}.zip")
    at = open_page("../pages/library.py")
    table = at.dataframe[0].value.set_index("name")
    assert table.loc[MULTI, "task"] == "multi-label" and table.loc[SEG, "task"] == "segmentation"
    assert table.loc[SEG, "main figure"].startswith("mean IoU")
    at.selectbox(key="library_model").set_value(MULTI).run()
    texts = [t.value for t in at.text]
    assert any(t.startswith(f"Threshold: {THRESHOLD:.2f}") for t in texts)
    assert "Labels: circle, square, star, triangle" in texts
    assert "Multi-label image classification" in " ".join(c.value for c in at.caption)
    at.selectbox(key="library_model").set_value(SEG).run()
    assert not at.exception, at.exception
    texts = [t.value for t in at.text]
    assert any(t.startswith("Codes (mask value: class): 0 background, 1 ") for t in texts)
    assert not any(t.startswith("Threshold") for t in texts)
