"""AppTest: the Data page — choosing, adding (upload, folder, shapes, download), overview,
pipeline, augmentation into the Train page's config, and checking images."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import workspace
from core.data import catalogue, datasets, download, ingest
from core.jobs.store import Store
from dashboard import state
from tests.apptest import open_page
from tests.inputs import class_images, truncated_png, write_tree, zip_bytes

PAGE = "../pages/data.py"


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory) -> Path:
    """Digits written once for this module (every test's own workspace links to it)."""
    root = tmp_path_factory.mktemp("digits_once")
    old = os.environ[workspace.ENV_VAR]
    os.environ[workspace.ENV_VAR] = str(root)
    try:
        return datasets.ensure_digits()
    finally:
        os.environ[workspace.ENV_VAR] = old


@pytest.fixture
def ws(fresh_workspace, digits_folder) -> Path:
    """A workspace of the test's own, with Digits already in it."""
    (workspace.subdir("datasets") / "digits").symlink_to(digits_folder, target_is_directory=True)
    return fresh_workspace


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(
        download,
        "availability",
        lambda *a, **k: (False, "no internet: the name s3.amazonaws.com cannot be looked up"),
    )


def open_data(**session) -> AppTest:
    return open_page(PAGE, **session)


def show(at: AppTest, section: str) -> AppTest:
    at.radio(key="data_section").set_value(section).run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def every_widget_explains_itself(at: AppTest) -> None:
    widgets = [
        *at.selectbox,
        *at.radio,
        *at.text_input,
        *at.number_input,
        *at.toggle,
        *at.slider,
        *at.button,
        *at.get("file_uploader"),
        *at.multiselect,
    ]
    assert widgets
    for w in widgets:
        assert w.help and len(w.help) > 20, getattr(w, "label", w)


def test_digits_overview_counts_sizes_samples_and_split(ws, offline):
    at = open_data()
    assert at.title[0].value == "Data"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"images": "1,797", "classes": "10", "training": "1,438", "validation": "359"}
    figure = json.loads(next(c for c in at.get("plotly_chart") if "train" in c.proto.spec).proto.spec)
    bars = {t["name"]: t for t in figure["data"]}
    assert sorted(bars) == ["train", "valid"]
    assert bars["train"]["x"] == [str(d) for d in range(10)]
    from tests.test_page_train import values

    assert sum(values(bars["train"]["y"])) == 1438 and sum(values(bars["valid"]["y"])) == 359
    assert any("every image is 8×8 pixels" in m for m in texts(at.markdown))
    assert any("**Split:** stratified, 20% validation, seed 42" in m for m in texts(at.markdown))
    grids = at.image
    assert [g.captions[0] for g in grids] == [str(d) for d in range(10)]
    assert all(len(g.value) == 8 for g in grids)  # eight samples per class
    every_widget_explains_itself(at)


def test_uploading_a_zip_adds_a_dataset_and_selects_it(ws, offline):
    at = open_data()
    entries = {
        **class_images(("cats", "dogs", "birds"), per_class=6, prefix="pets/"),
        "pets/cats/notes.png": b"not a picture",
    }
    at.get("file_uploader")[0].set_value(("pets.zip", zip_bytes(entries), "application/zip"))
    at.run()
    next(b for b in at.button if b.label == "Add the upload").click().run()
    assert not at.exception, at.exception
    assert texts(at.success) == [
        "Added pets: 18 images in 3 classes (birds 6, cats 6, dogs 6). 1 file(s) skipped (listed below)."
    ]
    skipped = at.dataframe[0].value
    assert skipped.to_dict("records") == [
        {
            "file": "cats/notes.png",
            "reason": ("it is not a PNG, JPEG, GIF, BMP, WebP or TIFF image: its content is text"),
        }
    ]
    assert at.session_state[state.DATASET] == "pets"
    assert at.selectbox(key="data_dataset").value == "pets"
    assert {m.label: m.value for m in at.metric}["images"] == "18"
    assert [g.captions[0] for g in at.image] == ["birds", "cats", "dogs"]
    assert any("random 20% becomes the validation set" in m for m in texts(at.markdown))


def test_labels_with_markup_are_shown_as_written_not_refused(ws, offline):
    at = open_data()
    entries = class_images(("<=50K", ">50K", "*bold* [x](y)"), per_class=5)
    at.get("file_uploader")[0].set_value(("census.zip", zip_bytes(entries), "application/zip"))
    at.run()
    next(b for b in at.button if b.label == "Add the upload").click().run()
    assert not at.exception, at.exception
    assert texts(at.success) == [
        r"Added census: 15 images in 3 classes (\*bold\* \[x\](y) 5, \<=50K 5, \>50K 5)."
    ]
    assert [g.captions[0] for g in at.image] == [r"\*bold\* \[x\](y)", r"\<=50K", r"\>50K"]
    figure = json.loads(next(c for c in at.get("plotly_chart") if "train" in c.proto.spec).proto.spec)
    assert set(figure["data"][0]["x"]) == {"*bold* [x](y)", "&lt;=50K", "&gt;50K"}


def test_a_hostile_upload_is_refused_on_the_page_and_adds_nothing(ws, offline):
    at = open_data()
    data = zip_bytes({**class_images(), "../../escape.png": b"x"})
    at.get("file_uploader")[0].set_value(("evil.zip", data, "application/zip"))
    at.run()
    next(b for b in at.button if b.label == "Add the upload").click().run()
    assert not at.exception
    assert texts(at.error) == [
        "The archive evil.zip names '../../escape.png', which climbs out "
        "of its folder with '..'. Refused, nothing was added."
    ]
    assert datasets.available() == [*datasets.builtin_names(), *datasets.SYNTHETIC]
    assert at.session_state[state.DATASET] == "digits"


def test_a_folder_on_the_server_and_drawn_shapes_can_be_added(ws, tmp_path, offline):
    source = write_tree(tmp_path / "garden", class_images(("roses", "tulips"), per_class=5))
    at = open_data()
    at.text_input(key="add_folder_path").set_value(str(source)).run()
    next(b for b in at.button if b.label == "Add the folder").click().run()
    assert texts(at.success) == ["Added garden: 10 images in 2 classes (roses 5, tulips 5)."]
    assert at.session_state[state.DATASET] == "garden"
    at.number_input(key="add_shapes_seed").set_value(3).run()
    at.number_input(key="add_shapes_n").set_value(10).run()
    next(b for b in at.button if b.label == "Draw them").click().run()
    assert at.session_state[state.DATASET] == "shapes_seed3_10"
    assert {m.label: m.value for m in at.metric}["images"] == "30"
    assert [g.captions[0] for g in at.image] == ["circle", "square", "triangle"]


def test_the_pipeline_section_shows_each_step_with_its_numbers(ws, offline):
    at = show(open_data(), "Pipeline")
    table = at.dataframe[0].value
    assert list(table["step"]) == [
        "file: as stored",
        "resized: 16×16",
        "floats: ÷ 255",
        *[f"augmented: draw {k}" for k in range(1, 5)],
        *[f"normalised: draw {k}" for k in range(1, 5)],
    ]
    first = table.iloc[0]
    assert (first["shape"], first["rank"], first["dtype"]) == ("8 × 8", 2, "uint8")
    assert table.iloc[1]["shape"] == "1 × 16 × 16" and table.iloc[1]["rank"] == 3
    assert set(table.iloc[-4:]["dtype"]) == {"float32"}
    assert any("rank-4 tensor" in i for i in texts(at.info))
    at.toggle(key="pipe_augment").set_value(False).run()
    steps = list(at.dataframe[0].value["step"])
    assert steps == ["file: as stored", "resized: 16×16", "floats: ÷ 255", "normalised: model input"]
    every_widget_explains_itself(at)


def test_augmentation_chosen_here_is_what_the_train_page_queues(ws, offline, no_worker):
    at = show(open_data(), "Augmentation")
    assert len(at.image) == 4 and all(len(g.value) == 7 for g in at.image)  # original + 6 draws
    at.toggle(key="aug_flip").set_value(True).run()
    at.slider(key="aug_rotate").set_value(45).run()
    at.slider(key="aug_warp").set_value(0.3).run()
    at.toggle(key="data_use_augment").set_value(True).run()
    every_widget_explains_itself(at)
    assert at.session_state[state.AUGMENT]["max_warp"] == pytest.approx(0.3)
    at.switch_page("../pages/train.py").run()
    assert at.toggle(key="cfg_augment").value is True
    assert any("warp up to 0.3" in c for c in texts(at.caption))
    next(b for b in at.button if "Start training" in b.label).click().run()
    config = Store().get(at.session_state[state.RUN]).params["config"]
    assert config["augment"] is True
    assert config["aug"]["flip"] is True and config["aug"]["max_rotate"] == 45.0
    assert config["aug"]["max_warp"] == pytest.approx(0.3)


def test_check_images_lists_broken_files_and_moves_them_to_the_trash(ws, offline):
    report = ingest.add_archive(io.BytesIO(zip_bytes(class_images())), "pics")
    (report.path / "dogs" / "dog3.png").write_bytes(truncated_png())
    at = show(open_data(**{state.DATASET: "pics"}), "Check images")
    next(b for b in at.button if b.label == "Check every image").click().run()
    assert texts(at.warning)[-1] == "1 image(s) cannot be read; training would stop at them."
    problems = at.dataframe[0].value
    assert list(problems["file"]) == ["dogs/dog3.png"]
    assert problems["reason"][0].startswith("it is corrupt or truncated")
    next(b for b in at.button if b.label.startswith("Move 1 file(s)")).click().run()
    assert not (report.path / "dogs" / "dog3.png").exists()
    (moved,) = (ws / "trash" / "pics").glob("*/dogs/dog3.png")
    assert moved.read_bytes() == truncated_png()
    assert texts(at.success)[0].startswith("Moved 1 file(s) to the trash: ")
    next(b for b in at.button if b.label == "Check every image").click().run()
    assert texts(at.success) == ["All 9 images decode."]
    next(b for b in at.button if b.label == "Undo the last change").click().run()
    assert (report.path / "dogs" / "dog3.png").read_bytes() == truncated_png()  # back, byte for byte
    assert texts(at.success)[0].startswith("Undid change ")
    assert not [b for b in at.button if b.label == "Undo the last change"]


def test_offline_the_catalogue_is_listed_but_disabled_with_the_reason(ws, offline):
    at = open_data()
    assert any(
        w.startswith("Offline: no internet: the name s3.amazonaws.com cannot be looked up")
        for w in texts(at.warning)
    )
    buttons = {key: at.button(key=f"dl_{key}") for key in catalogue.CATALOGUE}
    assert set(buttons) == {
        "MNIST_SAMPLE",
        "MNIST_TINY",
        "PETS",
        "IMAGENETTE_160",
        "PLANET_TINY",
        "CAMVID_TINY",
        "ADULT_SAMPLE",
        "ML_SAMPLE",
    }
    for b in buttons.values():
        assert b.disabled
        assert b.help == ("Unavailable offline: no internet: the name s3.amazonaws.com cannot be looked up.")
    sizes = [m for m in texts(at.markdown) if m.endswith(" MB")]
    assert {"3.1 MB", "774.1 MB", "94.4 MB"} <= set(sizes)


def test_online_a_download_is_queued_and_its_progress_shown(ws, monkeypatch, no_worker):
    monkeypatch.setattr(download, "availability", lambda *a, **k: (True, "answered"))
    at = open_data()
    button = at.button(key="dl_MNIST_TINY")
    assert not button.disabled
    button.click().run()
    job = Store().get(at.session_state[state.DOWNLOAD_JOB])
    assert job.kind == "download" and job.params == {"key": "MNIST_TINY"}
    assert no_worker
    store = Store()
    store.claim_next(pid=1)
    store.set_progress(job.id, 0.4, "downloading 134 KB of 334 KB (50 KB/s)")
    at.run()
    progress = [p.proto.text for p in at.get("progress")]
    assert progress == ["MNIST tiny (3s and 7s): downloading 134 KB of 334 KB (50 KB/s)"]
    assert all(at.button(key=f"dl_{key}").disabled for key in catalogue.CATALOGUE)
    next(b for b in at.button if b.label == "Stop the download").click().run()
    assert Store().get(job.id).cancel_requested


def test_the_server_writes_the_default_dataset_before_the_first_visit(fresh_workspace):
    """The Data page's first visit in a fresh workspace would wait for Digits to be written: the
    server does it at start, in the background (dashboard.warm), without loading torch or fastai."""
    import subprocess
    import sys

    from tests.apptest import ROOT

    code = (
        "import sys; from dashboard import warm; warm.warm_up(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fastai', 'torch')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert datasets.ensure_digits() == fresh_workspace / "datasets" / "digits"  # already there
    assert (fresh_workspace / "datasets" / "digits" / datasets.META_FILE).is_file()


def test_tests_do_not_start_the_servers_warm_up(fresh_workspace):
    from dashboard import warm
    from tests.apptest import open_app

    open_app()
    assert not warm._started.is_set()  # AppTest runs the app without a server: nothing in the background
