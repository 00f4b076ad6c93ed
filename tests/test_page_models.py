"""AppTest: Save model under a finished run, the Models library, and the Predict page."""

from __future__ import annotations

import csv
import io
import json
import pickle
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.fsutil import frame_csv_bytes
from core.jobs.store import Store
from core.serving import export, library, predict, upload
from dashboard import predict_view, state
from dashboard.markup import md
from tests.apptest import open_page
from tests.model_helpers import MODEL, seed_finished_run, trained_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_model(tmp_path_factory)


@pytest.fixture
def saved(trained, fresh_workspace):
    """The trained model in this test's library."""
    return upload.import_bundle(trained.zip, "digits_small.zip")


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def image_captions(at: AppTest) -> str:
    return " ".join(c for image in at.get("image") for c in image.captions)


# --- Save model on the Train page --------------------------------------------------------------


def test_save_model_under_a_finished_run(trained, fresh_workspace):
    run_id = seed_finished_run(trained)
    at = open_page("../pages/train.py")
    name_box = at.text_input(key=f"save_name_{run_id}")
    assert name_box.value == f"digits_mnist_cnn_run{run_id}"
    assert name_box.help
    name_box.set_value("my first model").run()
    button(at, "Save model").click().run()
    assert not at.exception, at.exception
    assert "Saved as my_first_model in the model library." in texts(at.success)
    folder = fresh_workspace / "models" / "my_first_model"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "predict.py"]
    assert json.loads((folder / "config.json").read_text())["training"]["run_id"] == run_id
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Download bundle (.zip)", "Download predict.py"]
    assert at.session_state[state.PREDICT_MODEL] == "my_first_model"
    # a reload finds it saved, instead of offering to save it twice
    again = open_page("../pages/train.py")
    assert "Saved as my_first_model in the model library." in texts(again.success)
    assert not [b for b in again.button if b.label == "Save model"]


# --- the Models page -------------------------------------------------------------------------


def test_models_page_without_models_says_how_to_get_one(fresh_workspace):
    at = open_page("../pages/library.py")
    assert any("No saved models yet" in i for i in texts(at.info))
    assert at.file_uploader(key="import_0").help


def test_models_page_lists_details_and_every_control_explains_itself(trained, saved):
    at = open_page("../pages/library.py")
    table = at.dataframe[0].value
    row = table[table["name"] == MODEL].iloc[0]
    assert (row["dataset"], row["architecture"], row["classes"]) == ("digits", "mnist_cnn", 10)
    assert row["main figure"] == f"accuracy {trained.job.result['accuracy']:.1%}"
    assert row["input"] == "8×8, grey" and row["size"].endswith("KB")
    assert "Classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in texts(at.text)
    assert [b.label for b in at.get("download_button")] == ["Download bundle (.zip)", "Download predict.py"]
    widgets = [
        *at.button,
        *at.text_input,
        *at.selectbox,
        *at.checkbox,
        *at.get("download_button"),
        *at.get("file_uploader"),
    ]
    for widget in widgets:
        assert widget.help and len(widget.help) > 20, widget.label


def test_importing_a_pickle_shows_why_and_saves_nothing(fresh_workspace, tmp_path):
    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "marker"), "w"))

    at = open_page("../pages/library.py")
    at.file_uploader(key="import_0").set_value(
        ("export.pkl", pickle.dumps(Payload()), "application/octet-stream")
    ).run()
    button(at, "Import").click().run()
    [error] = texts(at.error)
    assert error.startswith("Not imported, nothing was saved: export.pkl is a pickle")
    assert "load_learner" in error
    assert not (tmp_path / "marker").exists()
    assert library.list_models() == []


def test_import_rename_and_delete_from_the_page(trained, fresh_workspace):
    at = open_page("../pages/library.py")
    at.file_uploader(key="import_0").set_value(("shared.zip", trained.zip, "application/zip")).run()
    button(at, "Import").click().run()
    assert f"Imported as {MODEL}." in texts(at.success)
    assert list(at.dataframe[0].value["name"]) == [MODEL]

    at.text_input(key=f"rename_{MODEL}").set_value("digits-v2").run()
    button(at, "Rename").click().run()
    assert "Renamed to digits-v2." in texts(at.success)
    assert list(at.dataframe[0].value["name"]) == ["digits-v2"]
    assert at.selectbox(key="library_model").value == "digits-v2"

    assert button(at, "Delete").disabled  # only after saying yes
    at.checkbox(key="confirm_delete_digits-v2").check().run()
    button(at, "Delete").click().run()
    assert any("Moved digits-v2 to the trash (trash/models/" in i for i in texts(at.info))
    assert library.list_models() == []
    [trashed] = (fresh_workspace / "trash" / "models").iterdir()
    assert (trashed / "model.safetensors").is_file()


def test_predict_with_this_model_opens_the_predict_page(saved):
    at = open_page("../pages/library.py")
    button(at, "Predict with this model").click().run()
    assert not at.exception
    assert at.title[0].value == "Predict"
    assert at.session_state[state.PREDICT_MODEL] == MODEL


# --- the Predict page ---------------------------------------------------------------------------


def test_predict_without_models_points_to_train_and_import(fresh_workspace):
    at = open_page("../pages/predict.py")
    assert any("No saved models yet" in i for i in texts(at.info))
    links = [p.proto.page for p in at.get("page_link")]
    assert any("train" in p for p in links) and any("library" in p for p in links)


def _figure(at: AppTest) -> dict:
    chart = next(c for c in at.get("plotly_chart") if "probability" in c.proto.spec)
    return json.loads(chart.proto.spec)


def test_one_image_prediction_and_the_threshold(trained, saved):
    image = trained.valid_files[6]  # a 3
    expected = predict.predict(predict.load(MODEL), [predict.prepare(image.read_bytes(), "x", 8, 1)])[0]
    cls, p = expected.best
    at = open_page("../pages/predict.py")
    assert at.selectbox(key=state.PREDICT_MODEL).value == MODEL
    at.file_uploader(key="predict_upload").set_value(("three.png", image.read_bytes(), "image/png")).run()
    assert not at.exception, at.exception
    [metric] = at.metric
    assert metric.label == "Prediction" and metric.value == cls  # default threshold 0.5 < p
    assert p > 0.5
    spec = _figure(at)
    bars = spec["data"][0]
    assert bars["y"][-1] == cls and len(bars["y"]) == 5  # top 5, the most likely on top
    assert spec["layout"]["shapes"][0]["x0"] == pytest.approx(0.5)  # the threshold line
    captions = image_captions(at)
    assert "your image: PNG, 8×8, L" in captions
    assert "as the model sees it: 8×8 px, grey" in captions
    assert f"where it looked for {cls} (Grad-CAM on layer 0.2, a 4×4 map)" in captions

    # Above the model's confidence, the answer becomes "not sure", with the reason.
    at.slider(key=state.PREDICT_THRESHOLD).set_value(min(1.0, round(p + 0.05, 2))).run()
    assert at.metric[0].value == predict.NOT_SURE
    assert any(f"the best guess, {cls}, has {p:.0%}" in w for w in texts(at.warning))
    # At 0 it always answers.
    at.slider(key=state.PREDICT_THRESHOLD).set_value(0.0).run()
    assert at.metric[0].value == cls and not at.warning
    assert at.slider(key=state.PREDICT_THRESHOLD).help


def test_many_images_give_a_table_a_csv_and_the_bad_ones_their_reason(trained, saved):
    files = [(f.name, f.read_bytes(), "image/png") for f in trained.valid_files[:6]]
    files.append(("holiday.jpg", b"this is not a photo", "image/jpeg"))
    files.append(("empty.png", b"", "image/png"))
    at = open_page("../pages/predict.py")
    at.slider(key=state.PREDICT_THRESHOLD).set_value(1.0).run()
    at.file_uploader(key="predict_upload").set_value(files).run()
    assert not at.exception, at.exception
    errors = texts(at.error)
    assert (
        "holiday.jpg is not an image: its content is text. Give a PNG, JPEG, WebP, BMP or GIF file." in errors
    )
    assert any(e.startswith("empty.png is empty (0 bytes)") for e in errors)
    table = at.dataframe[0].value
    assert list(table["file"]) == [f.name for f in trained.valid_files[:6]]
    assert set(table["prediction"]) == {predict.NOT_SURE}  # threshold 1.0: nothing is that sure
    assert "6 images" in " ".join(texts(at.markdown))
    assert any(b.label == "Download results (CSV)" for b in at.get("download_button"))
    at.selectbox(key="predict_closer").set_value(3).run()
    assert f"{trained.valid_files[3].name}: most likely" in " ".join(texts(at.caption))


def test_digit_models_offer_a_canvas_and_every_source_has_help(saved):
    at = open_page("../pages/predict.py")
    radio = at.radio(key="predict_source")
    assert radio.options == ["Upload images", "Take a photo", "Draw a digit"]
    assert radio.help
    radio.set_value("camera").run()
    assert not at.exception
    assert at.get("camera_input")[0].help
    radio.set_value("draw").run()
    assert not at.exception, at.exception
    assert any("Draw one digit, large, in the middle" in c for c in texts(at.caption))
    assert Store().jobs() == []  # predicting queues nothing


def test_try_an_example_shows_a_prediction(saved):
    at = open_page("../pages/predict.py")
    picker = at.selectbox(key=predict_view.EXAMPLE)
    assert picker.help and len(picker.help) > 20
    assert "digit 3" in picker.options and "shape triangle" in picker.options
    assert not at.metric  # nothing is predicted before an image is given
    picker.set_value("digit_3").run()
    assert not at.exception, at.exception
    image = ROOT / "assets" / "examples" / "digit_3.png"
    expected = predict.predict(predict.load(MODEL), [predict.prepare(image.read_bytes(), "x", 8, 1)])[0]
    [metric] = at.metric
    assert metric.label == "Prediction" and metric.value == expected.label(0.5)
    assert f"{md('digit_3.png')}: most likely {expected.best[0]} at" in " ".join(texts(at.caption))
    assert "as the model sees it: 8×8 px, grey" in image_captions(at)


def test_example_images_are_few_and_small():
    files = predict_view.examples()
    assert 4 <= len(files) <= 12
    assert sum(f.stat().st_size for f in files) < 20_000
    assert {f.stem.split("_")[0] for f in files} == {"digit", "shape"}


LABELS = [
    "-rf",
    "+SUM(1)",
    "<=50K",
    "Star Wars: Episode IV",
    "=SUM(1)",
    "@cmd",
    "<b>bold</b>",
    "[click](evil-site)",
    "*nine*",
    ":red[alarm]",
]


def test_labels_are_shown_as_typed_and_the_csv_is_neutralised(trained, fresh_workspace, monkeypatch):
    """Class names with markup or formula starts: escaped on the page, neutralised in the CSV."""
    from safetensors.torch import load_file

    run = json.loads((trained.run_dir / "run.json").read_text())
    state_dict = load_file(str(trained.run_dir / "model.safetensors"))
    data = export.pack(
        state_dict, arch="mnist_cnn", classes=LABELS, size=8, channels=1, mean=run["mean"], std=run["std"]
    )
    upload.import_bundle(data, "labels.zip")
    made = []

    def recorded(frame):
        made.append(frame_csv_bytes(frame))
        return made[-1]

    monkeypatch.setattr(predict_view, "frame_csv_bytes", recorded)
    at = open_page("../pages/predict.py")
    at.slider(key=state.PREDICT_THRESHOLD).set_value(0.0).run()
    files = [(f.name, f.read_bytes(), "image/png") for f in trained.valid_files]
    at.file_uploader(key="predict_upload").set_value(files).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    predicted = set(table["prediction"])
    assert {"-rf", "+SUM(1)", "=SUM(1)", "@cmd"} <= predicted  # digits 0, 1, 4 and 5
    assert made, "the CSV is built through fsutil.frame_csv_bytes"
    cells = [c for row in csv.reader(io.StringIO(made[-1].decode("utf-8"))) for c in row]
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)
    for label in ("-rf", "+SUM(1)", "=SUM(1)", "@cmd"):
        assert "'" + label in cells

    # the closer look at the first image (a 0): its class in markdown, escaped
    first = table.iloc[0]
    caption = next(c for c in texts(at.caption) if "most likely" in c)
    assert caption.startswith(f"{first['file']}: most likely {md(first['most likely'])} at")
    bars = _figure(at)["data"][0]["y"]
    assert all("<" not in y and ">" not in y for y in bars)  # HTML escaped for Plotly
    assert md("[click](evil-site)") == "\\[click\\](evil-site)"
    assert md(":red[alarm]") == "\\:red\\[alarm\\]" and md("-rf") == "\\-rf"
