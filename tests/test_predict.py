"""Inference: checked images, every colour mode converted, probabilities, threshold, Grad-CAM."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from PIL import Image

from core.serving import export, gradcam, predict, upload
from tests.model_helpers import MODEL, trained_model, tree


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_model(tmp_path_factory)


@pytest.fixture
def loaded(trained, fresh_workspace):
    upload.import_bundle(trained.zip, "digits_small.zip")
    return predict.load(MODEL)


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def gradient(mode: str = "RGB", size=(40, 30)) -> Image.Image:
    """A horizontal red ramp, so crops and colours can be checked by value."""
    x = np.tile(np.linspace(0, 255, size[0]).astype(np.uint8), (size[1], 1))
    rgb = np.stack([x, np.zeros_like(x), 255 - x], axis=2)
    return Image.fromarray(rgb, "RGB").convert(mode)


# --- bad inputs: each with the sentence a person sees ------------------------------------------


def test_bad_images_are_refused_with_the_reason(tmp_path, monkeypatch, fresh_workspace):
    monkeypatch.chdir(tmp_path)
    png = encode(gradient(), "PNG")
    cases = {
        "empty.png": (b"", "empty.png is empty (0 bytes)"),
        "notes.jpg": (
            b"Dear diary, today I trained a model.\n",
            "notes.jpg is not an image: its content is text. Give a PNG, JPEG, WebP, BMP or GIF file.",
        ),
        "broken.png": (
            png[: len(png) // 2],
            "broken.png is damaged: it is a PNG file that cannot be decoded",
        ),
        "archive.png": (b"PK\x03\x04" + b"\0" * 40, "archive.png is not an image: it is a zip archive"),
        "huge.png": (
            encode(Image.new("1", (8000, 6000)), "PNG"),
            "huge.png is too large in pixels: 8,000×6,000 pixels (48 megapixels); "
            "images up to 40 megapixels are accepted",
        ),
        "bomb.png": (
            encode(Image.new("1", (14000, 14000)), "PNG"),  # past Pillow's own limit
            "bomb.png is too large in pixels",
        ),
    }
    before = tree(tmp_path)
    for name, (data, message) in cases.items():
        with pytest.raises(predict.ImageError) as refused:
            predict.prepare(data, name, 8, 1)
        assert message in str(refused.value), (name, str(refused.value))
    assert tree(tmp_path) == before  # nothing written anywhere


def test_too_many_bytes_is_refused_before_decoding():
    data = b"\xff\xd8\xff" + bytes(21 * 2**20)
    with pytest.raises(predict.ImageError, match="photo.jpg is 21.0 MB; images up to 20 MB"):
        predict.prepare(data, "photo.jpg", 8, 3)


def test_bad_files_in_a_batch_are_reported_and_the_rest_predicted():
    good = encode(gradient(), "PNG")
    prepared, problems = predict.prepare_many([("a.png", good), ("b.jpg", b"text"), ("c.png", good)], 8, 3)
    assert [p.name for p in prepared] == ["a.png", "c.png"]
    assert problems == [
        ("b.jpg", "b.jpg is not an image: its content is text. Give a PNG, JPEG, WebP, BMP or GIF file.")
    ]


# --- every colour mode, converted properly ----------------------------------------------------


def test_the_model_view_is_a_centre_crop_resized_like_training(tmp_path):
    from core.data.loaders import decode_image

    data = encode(gradient(size=(40, 30)), "PNG")
    img = predict.prepare(data, "ramp.png", 10, 3)
    assert img.pixels.shape == (10, 10, 3) and img.pixels.dtype == np.uint8
    assert (img.format, img.width, img.height, img.mode) == ("PNG", 40, 30, "RGB")
    # the left 5 columns were cropped away: the ramp no longer starts at 0
    assert img.pixels[0, 0, 0] > 20 and img.pixels[0, -1, 0] < 235
    path = tmp_path / "ramp.png"
    path.write_bytes(data)
    np.testing.assert_array_equal(img.pixels, decode_image(path, 10))


def test_grey_models_see_luminance_and_colour_models_see_rgb():
    data = encode(Image.new("RGB", (12, 12), (255, 0, 0)), "PNG")
    grey = predict.prepare(data, "red.png", 8, 1)
    assert grey.pixels.shape == (8, 8) and int(grey.pixels[0, 0]) == 76  # Pillow's L of pure red
    assert "colours turned to grey" in " ".join(grey.notes)
    assert predict.prepare(data, "red.png", 8, 3).pixels[0, 0].tolist() == [255, 0, 0]


def test_alpha_is_laid_over_white():
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[:, :5] = (0, 0, 0, 255)  # opaque black on the left, fully transparent on the right
    img = predict.prepare(encode(Image.fromarray(rgba, "RGBA"), "PNG"), "a.png", 10, 1)
    assert img.pixels[5, 0] == 0 and img.pixels[5, 9] == 255
    assert "transparent areas shown on white" in img.notes


def test_palette_with_transparency_and_the_first_gif_frame():
    red = Image.new("RGB", (10, 10), (255, 0, 0)).convert("P")
    blue = Image.new("RGB", (10, 10), (0, 0, 255)).convert("P")
    data = encode(red, "GIF", save_all=True, append_images=[blue], duration=100, loop=0)
    img = predict.prepare(data, "anim.gif", 4, 3)
    assert img.format == "GIF" and "first frame of an animation" in img.notes
    assert img.pixels[0, 0].tolist() == [255, 0, 0]
    pal = Image.new("P", (6, 6), 0)
    pal.putpalette([0, 128, 0] + [0, 0, 0] * 255)
    pal.info["transparency"] = 0
    see = predict.prepare(encode(pal, "PNG", transparency=0), "p.png", 6, 3)
    assert see.pixels[0, 0].tolist() == [255, 255, 255]  # the transparent index shows white


def test_sixteen_bit_grey_is_scaled_not_clipped():
    arr = np.full((8, 8), 32896, dtype=np.uint16)  # half of 65535 -> 128, not 255
    arr[:, :4] = 65535
    data = encode(Image.fromarray(arr), "PNG")
    img = predict.prepare(data, "deep.png", 8, 1)
    assert img.mode.startswith("I")
    assert img.pixels[0, 0] == 255 and img.pixels[0, 7] == 128
    assert "16-bit image scaled to 8 bits" in img.notes


def test_cmyk_jpeg_is_converted_to_rgb():
    cmyk = Image.new("RGB", (16, 16), (200, 40, 30)).convert("CMYK")
    img = predict.prepare(encode(cmyk, "JPEG", quality=95), "print.jpg", 8, 3)
    assert img.mode == "CMYK" and "CMYK converted to RGB" in img.notes
    assert np.abs(img.pixels[4, 4].astype(int) - [200, 40, 30]).max() < 12


@pytest.mark.parametrize("fmt", ["WEBP", "BMP", "JPEG"])
def test_other_formats_are_recognised_by_content(fmt):
    data = encode(gradient(), fmt)
    img = predict.prepare(data, "misnamed.png", 8, 3)  # the name says PNG; the content decides
    assert img.format == fmt and img.pixels.shape == (8, 8, 3)


def test_exif_orientation_is_applied():
    tall = Image.new("RGB", (20, 40), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    img = predict.prepare(encode(tall, "JPEG", exif=exif), "phone.jpg", 8, 3)
    assert (img.thumbnail.shape[1], img.thumbnail.shape[0]) == (40, 20)
    assert "turned upright (camera orientation)" in img.notes


# --- predictions -------------------------------------------------------------------------------


def test_probabilities_top_k_and_the_not_sure_threshold(trained, loaded):
    prepared = [predict.prepare(f.read_bytes(), f.name, 8, 1) for f in trained.valid_files]
    preds = predict.predict(loaded, prepared)
    for p in preds:
        assert p.probs.shape == (10,) and p.probs.sum() == pytest.approx(1, abs=1e-5)
        top = p.top(3)
        assert [c for c, _ in top] == [loaded.classes[i] for i in np.argsort(-p.probs)[:3]]
        cls, prob = p.best
        assert p.label(prob) == cls  # exactly at the threshold still answers
        assert p.label(min(1.0, prob + 1e-3)) == predict.NOT_SURE
        assert p.label(0.0) == cls
    right = sum(p.best[0] == label for p, label in zip(preds, trained.valid_labels))
    assert right >= 16
    table = predict.results_table(preds, prepared, threshold=1.0)
    assert list(table["file"]) == [f.name for f in trained.valid_files]
    assert set(table["prediction"]) == {predict.NOT_SURE}
    assert list(table["most likely"]) == [p.best[0] for p in preds]


def test_serving_normalises_as_runs_does(trained, loaded):
    """One normalisation for training's runs and for serving: core.runs.normalise."""
    import torch

    from core import runs

    pixels = [predict.prepare(f.read_bytes(), f.name, 8, 1).pixels for f in trained.valid_files[:4]]
    x = torch.from_numpy(np.stack(pixels)[:, None])
    info = loaded.info
    assert torch.equal(predict.to_batch(info, pixels), runs.normalise(x, info.mean, info.std))


def test_the_loaded_model_is_cached_by_its_weights_hash(trained, loaded):
    again = predict.load(MODEL)
    assert again.cached and again.model is loaded.model
    copy = upload.import_bundle(trained.zip, "copy.zip", name="copy")
    assert predict.load(copy.name).model is loaded.model  # same weights, same hash, one model


def test_grad_cam_gives_a_heat_map_for_the_predicted_class(trained, loaded):
    img = predict.prepare(trained.valid_files[6].read_bytes(), "three.png", 8, 1)
    heat = gradcam.grad_cam(loaded, img.pixels)
    assert gradcam.supports(loaded.model)
    assert heat.layer == "0.2" and heat.map_size == (4, 4)  # the last convolution, 4×4 at 8 px
    assert heat.heat.shape == (8, 8) and heat.heat.min() >= 0 and heat.heat.max() == pytest.approx(1)
    assert heat.class_index == int(predict.predict(loaded, [img])[0].probs.argmax())
    assert heat.heat.std() > 0.05  # it singles out some regions
    assert not any(p.grad is not None for p in loaded.model.parameters())  # left clean
    picture = gradcam.overlay(img.pixels, heat.heat, side=192)
    assert picture.shape == (192, 192, 3) and picture.dtype == np.uint8


def test_grad_cam_picks_a_map_not_the_one_pixel_classifier_layer(fresh_workspace):
    import torch

    from core.train.models import build_model

    model = build_model("simple_cnn", 3, 3, 16, pretrained=False).model.eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    data = export.pack(
        state,
        arch="simple_cnn",
        classes=["a", "b", "c"],
        size=16,
        channels=3,
        mean=[0.5] * 3,
        std=[0.25] * 3,
        name="shapes",
    )
    upload.import_bundle(data, "shapes.zip")
    loaded = predict.load("shapes")
    pixels = (torch.rand(16, 16, 3) * 255).to(torch.uint8).numpy()
    heat = gradcam.grad_cam(loaded, pixels)
    assert heat.layer == "0.2.0" and heat.map_size == (2, 2)
    assert heat.heat.shape == (16, 16)


def test_a_drawing_is_cropped_to_the_ink_and_centred():
    canvas = np.zeros((280, 280, 4), dtype=np.uint8)
    canvas[..., 3] = 255
    canvas[20:80, 200:220, :3] = 255  # a small white stroke in a corner, on black
    png = predict.centre_drawing(canvas, dark_background=True)
    img = np.asarray(Image.open(io.BytesIO(png)))
    assert img.shape[0] == img.shape[1] and img.shape[0] < 100
    ys, xs = np.nonzero(img > 128)
    assert abs((ys.min() + ys.max()) / 2 - img.shape[0] / 2) < 3
    assert abs((xs.min() + xs.max()) / 2 - img.shape[1] / 2) < 3
    empty = np.zeros((50, 50, 4), dtype=np.uint8)
    assert predict.centre_drawing(empty, dark_background=True) is None


def test_grad_cam_and_predictions_from_two_sessions_at_once(trained, loaded):
    """Streamlit serves each browser tab from its own thread; they share the cached model."""
    import threading

    img = predict.prepare(trained.valid_files[6].read_bytes(), "three.png", 8, 1)
    expected = predict.probabilities(loaded, [img.pixels])
    failures: list[BaseException] = []

    def explain():
        try:
            for _ in range(15):
                gradcam.grad_cam(loaded, img.pixels)
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)

    def classify():
        try:
            for _ in range(15):
                np.testing.assert_array_equal(predict.probabilities(loaded, [img.pixels]), expected)
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)

    threads = [threading.Thread(target=f) for f in (explain, classify, explain, classify)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert not any(p.grad is not None for p in loaded.model.parameters())


def test_a_rerun_neither_rereads_the_upload_nor_recomputes_grad_cam(trained, loaded, monkeypatch):
    from streamlit.runtime.uploaded_file_manager import UploadedFile

    from dashboard import state
    from tests.apptest import open_page

    reads, maps = [], []
    real_read, real_cam = UploadedFile.getvalue, gradcam.grad_cam

    def read(self):  # the app's reads (AppTest itself replays the upload with getvalue each run)
        if not sys._getframe(1).f_globals.get("__name__", "").startswith("streamlit"):
            reads.append(self.name)
        return real_read(self)

    monkeypatch.setattr(UploadedFile, "getvalue", read)
    monkeypatch.setattr(gradcam, "grad_cam", lambda *a, **k: maps.append(1) or real_cam(*a, **k))
    image = trained.valid_files[6].read_bytes()
    at = open_page("../pages/predict.py")
    at.file_uploader(key="predict_upload").set_value(("three.png", image, "image/png")).run()
    assert not at.exception, at.exception
    assert (reads, len(maps)) == (["three.png"], 1)
    for threshold in (0.9, 0.2, 0.55):  # each a rerun of the page
        at.slider(key=state.PREDICT_THRESHOLD).set_value(threshold).run()
    assert not at.exception, at.exception
    assert (reads, len(maps)) == (["three.png"], 1)
    assert "where it looked for" in " ".join(c for image in at.get("image") for c in image.captions)
    # another image is read, hashed and explained once more
    other = trained.valid_files[0].read_bytes()
    at.file_uploader(key="predict_upload").set_value(("other.png", other, "image/png")).run()
    assert (reads, len(maps)) == (["three.png", "other.png"], 2)
