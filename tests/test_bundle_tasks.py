"""Bundles of multi-label and segmentation models: what config.json stores, the round trip, the
generated predict.py, and the malformed bundles that are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import runs, workspace
from core.serving import export, library, predict, predict_seg, upload
from core.serving import format as fmt
from tests.conftest import subprocess_env
from tests.model_helpers import altered, entries, tree
from tests.task_models import MULTI, SEG, SIZE, THRESHOLD, trained_task

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    return trained_task(tmp_path_factory, "multi_label")


@pytest.fixture(scope="module")
def seg(tmp_path_factory):
    return trained_task(tmp_path_factory, "segmentation")


def config_of(run) -> dict:
    return json.loads(entries(run.zip)[f"{run.name}/config.json"])


# --- what a bundle stores ----------------------------------------------------------------------


def test_a_multi_label_bundle_stores_its_labels_and_the_runs_threshold(multi):
    config = config_of(multi)
    record = runs.parse_record(json.loads((multi.run_dir / "run.json").read_text()))
    assert config["task"] == "multi_label" and config["arch"] == "mnist_cnn"
    assert config["classes"] == record.vocab == ["circle", "square", "star", "triangle"]
    assert config["threshold"] == THRESHOLD == record.config.options.threshold
    assert config["training"]["metrics"]["f1_macro"] == pytest.approx(multi.job.result["f1_macro"])
    assert "codes" not in config
    assert sorted(entries(multi.zip)) == [
        f"{MULTI}/{f}" for f in ("config.json", "model.safetensors", "predict.py")
    ]


def test_a_segmentation_bundle_stores_its_codes(seg):
    config = config_of(seg)
    codes = (seg.root / "datasets" / SEG / "codes.txt").read_text().split()
    assert config["task"] == "segmentation" and config["arch"] == "tiny_unet"
    assert config["codes"] == codes and codes[0] == "background"
    assert "classes" not in config and "threshold" not in config
    assert config["training"]["metrics"]["mean_iou"] == pytest.approx(seg.job.result["mean_iou"])


def test_the_library_reads_task_threshold_codes_and_main_metric(multi, seg, fresh_workspace):
    m = upload.import_bundle(multi.zip, "m.zip")
    s = upload.import_bundle(seg.zip, "s.zip")
    assert (m.task, m.threshold, m.main_metric) == ("multi_label", THRESHOLD, "f1_macro")
    assert m.score == pytest.approx(multi.job.result["f1_macro"])
    assert (s.task, s.threshold, s.main_metric) == ("segmentation", None, "mean_iou")
    assert s.codes == s.classes == config_of(seg)["codes"]
    assert not m.is_digit_model and not s.is_digit_model


# --- the round trip: export → zip → import → predict, as the run predicts -------------------------


def test_multi_label_round_trip_predicts_as_the_run_does(multi, fresh_workspace, one_thread):
    from core.analysis import multilabel

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(workspace.ENV_VAR, str(multi.root))
        interp = multilabel.interpret(runs.load(multi.job.id))
    info = upload.import_bundle(multi.zip, "multi.zip")  # into this test's own workspace
    loaded = predict.load(info.name)
    prepared = [predict.prepare(f.read_bytes(), f.name, SIZE, 3) for f in multi.images]
    got = predict.predict(loaded, prepared)
    rows = [interp.files.index(multi.rel(f)) for f in multi.images]
    np.testing.assert_allclose([p.probs for p in got], interp.probs[rows], atol=1e-5)
    for p, row in zip(got, rows):  # the same labels as the run at its own threshold
        given = {interp.vocab[i] for i in np.flatnonzero(interp.probs[row] > THRESHOLD)}
        assert set(p.labels(info.threshold)) == given


def test_segmentation_round_trip_predicts_as_the_run_does(seg, fresh_workspace, one_thread):
    from core.analysis import segmentation

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(workspace.ENV_VAR, str(seg.root))
        run = runs.load(seg.job.id)
        expected = [segmentation.predicted_mask(run, seg.rel(f))[2] for f in seg.images]
    info = upload.import_bundle(seg.zip, "seg.zip")
    loaded = predict.load(info.name)
    prepared = [predict.prepare(f.read_bytes(), f.name, SIZE, 3) for f in seg.images]
    got = predict.predict(loaded, prepared)
    for p, mask in zip(got, expected):
        np.testing.assert_array_equal(p.mask, mask)


# --- the generated predict.py ------------------------------------------------------------------


def unzip(data: bytes, folder: Path, name: str) -> Path:
    for entry, content in entries(data).items():
        (folder / entry).parent.mkdir(parents=True, exist_ok=True)
        (folder / entry).write_bytes(content)
    return folder / name


SEP = "----- next run -----"


def run_script(bundle_dir: Path, *runs: list[str], without_project: bool = True, **env) -> list[str]:
    """`python predict.py ARGS` in the bundle's folder, once per ARGS list, in one fresh process
    (torch is imported once); without_project makes core unimportable. Returns each run's output."""
    block = "sys.modules['core'] = None\n" if without_project else ""
    code = (
        f"import runpy, sys\n{block}"
        f"for args in {[list(r) for r in runs]!r}:\n"
        "    sys.argv = ['predict.py', *args]\n"
        "    runpy.run_path('predict.py', run_name='__main__')\n"
        f"    print({SEP!r}, flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=bundle_dir,
        env=subprocess_env(PYTHONPATH="", OMP_NUM_THREADS="1", **env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [out.strip() for out in done.stdout.split(SEP)[: len(runs)]]


def test_predict_script_gives_the_labels_of_a_multi_label_bundle_without_the_project(
    multi, tmp_path, fresh_workspace, one_thread
):
    bundle_dir = unzip(multi.zip, tmp_path, MULTI)
    loaded = predict.load(upload.import_bundle(multi.zip, "m.zip").name)
    image = multi.images[1]
    ours = predict.predict(loaded, [predict.prepare(image.read_bytes(), image.name, SIZE, 3)])[0]
    top = float(ours.probs.max())
    as_json, above_all, below_all = run_script(
        bundle_dir,
        [str(image), "--json"],
        [str(image), "--threshold", str(min(0.999, top + 0.001))],
        [str(image), "--threshold", "0.0001"],
    )
    out = json.loads(as_json.splitlines()[-1])
    assert out["threshold"] == THRESHOLD and out["labels"] == ours.labels(THRESHOLD)
    np.testing.assert_allclose([out["probabilities"][c] for c in ours.classes], ours.probs, atol=1e-6)
    # a threshold above every probability: the answer is "none of these"
    assert above_all.startswith("none of these")
    # and one below every probability gives every label, most likely first
    assert [line.split("\t")[0] for line in below_all.splitlines()] == [c for c, _ in ours.ranked()]


def test_predict_script_writes_the_mask_of_a_tiny_unet_bundle_without_the_project(
    seg, tmp_path, fresh_workspace, one_thread
):
    bundle_dir = unzip(seg.zip, tmp_path, SEG)
    loaded = predict.load(upload.import_bundle(seg.zip, "s.zip").name)
    # a non-square upload: the mask covers its centre square, at that square's size
    image = tmp_path / "wide.png"
    Image.open(seg.images[2]).convert("RGB").resize((60, 40)).save(image)
    prepared = predict.prepare(image.read_bytes(), image.name, SIZE, 3)
    ours = predict.predict(loaded, [prepared])[0]
    out_png = tmp_path / "mask.png"
    as_json, text = run_script(
        bundle_dir, [str(image), "--mask", str(out_png), "--json"], [str(image), "--mask", str(out_png)]
    )
    out = json.loads(as_json.splitlines()[-1])
    written = np.asarray(Image.open(out_png))
    assert written.shape == (40, 40)
    np.testing.assert_array_equal(written, predict_seg.full_mask(ours, prepared))
    assert out["shares"] == pytest.approx(dict(zip(ours.codes, ours.shares().tolist())), abs=1e-9)
    assert "mask written to" in text and "values are class indices" in text


def test_predict_script_rebuilds_fastai_models_through_the_project(tmp_path, fresh_workspace, one_thread):
    """unet_resnet18 and a multi-label simple_cnn (its last ReLU removed by the task) are rebuilt by
    the playground's own tasks, so the script's answers are the Predict page's."""
    import torch

    from core import tasks

    torch.manual_seed(0)
    codes = ["background", "road", "car"]
    unet = tasks.get("segmentation").build_from_bundle(
        {"arch": "unet_resnet18", "codes": codes, "input": {"channels": 3, "size": 32}}
    )
    common = dict(size=32, channels=3, mean=[0.5] * 3, std=[0.25] * 3)
    street = upload.import_bundle(
        export.pack(
            unet.state_dict(),
            arch="unet_resnet18",
            classes=codes,
            name="street",
            task="segmentation",
            **common,
        ),
        "street.zip",
    )
    labels = ["car", "road", "sky"]
    cnn = tasks.get("multi_label").build_from_bundle(
        {"arch": "simple_cnn", "classes": labels, "input": {"channels": 3, "size": 32}}
    )
    tags = upload.import_bundle(
        export.pack(
            cnn.state_dict(),
            arch="simple_cnn",
            classes=labels,
            name="tags",
            task="multi_label",
            options={"threshold": 0.3},
            **common,
        ),
        "tags.zip",
    )
    assert (street.task, street.codes, tags.threshold) == ("segmentation", codes, 0.3)
    street_dir = unzip(library.zip_bytes(street.name), tmp_path, street.name)
    tags_dir = unzip(library.zip_bytes(tags.name), tmp_path, tags.name)
    image = ROOT / "assets" / "examples" / "shape_triangle.png"
    prepared = predict.prepare(image.read_bytes(), image.name, 32, 3)
    mask = predict.predict(predict.load(street.name), [prepared])[0]
    probs = predict.predict(predict.load(tags.name), [prepared])[0]
    out_png = tmp_path / "street_mask.png"
    _, as_json = run_script(
        street_dir,
        [str(image), "--mask", str(out_png)],
        [str(image), "--bundle", str(tags_dir), "--json"],
        without_project=False,
        PLAYGROUND_ROOT=str(ROOT),
    )
    np.testing.assert_array_equal(np.asarray(Image.open(out_png)), predict_seg.full_mask(mask, prepared))
    out = json.loads(as_json.splitlines()[-1])
    np.testing.assert_allclose([out["probabilities"][c] for c in labels], probs.probs, atol=1e-6)
    assert out["labels"] == probs.labels(0.3)
    assert probs.probs.min() < 0.5  # no ReLU before the sigmoids, in the script as on the page


# --- malformed bundles are refused, with the reason, leaving nothing --------------------------------


def _set(**changes):
    def edit(cfg):
        cfg.update(changes)

    return edit


def _drop(key):
    return lambda cfg: cfg.pop(key)


BAD = {
    "threshold 2": ("multi", _set(threshold=2), "threshold must be a number from 0.01 to 0.99"),
    "threshold 0": ("multi", _set(threshold=0), "threshold must be a number from 0.01 to 0.99"),
    "threshold 0.995 (past every slider)": (
        "multi",
        _set(threshold=0.995),
        "threshold must be a number from 0.01 to 0.99",
    ),
    "threshold as text": ("multi", _set(threshold="0.5"), "threshold must be a number from 0.01 to 0.99"),
    "threshold true": ("multi", _set(threshold=True), "threshold must be a number from 0.01 to 0.99"),
    "no threshold": ("multi", _drop("threshold"), "config.json lacks threshold (a multi-label model"),
    "a label with a space": (
        "multi",
        _set(classes=["circle", "square", "star", "tri angle"]),
        "The multi-label class 'tri angle' holds a space",
    ),
    "multi-label on a U-Net": (
        "multi",
        _set(arch="tiny_unet"),
        "says task multi_label but architecture tiny_unet, which does not make multi_label models",
    ),
    "multi-label with codes": ("multi", _set(codes=["a", "b"]), "unknown field(s) codes for a multi_label"),
    "codes not a list": (
        "seg",
        _set(codes="background circle square triangle"),
        "codes must be a list of class names (text), one per mask value",
    ),
    "codes holding a number": (
        "seg",
        _set(codes=["background", 1, 2, 3]),
        "codes must be a list of class names",
    ),
    "missing codes": ("seg", _drop("codes"), "config.json lacks codes (a segmentation model names the class"),
    "codes named twice": ("seg", _set(codes=["background", "circle", "circle", "x"]), "same code name twice"),
    "a code with a newline": (
        "seg",
        _set(codes=["background", "circle\nrm -rf /", "square", "triangle"]),
        "contains control characters",
    ),
    "one code": ("seg", _set(codes=["background"], n_classes=1), "between 2 and 255 code names"),
    "codes that do not fit the weights": (
        "seg",
        _set(codes=["background", "circle", "square"], n_classes=3),
        "config.json lists 3 classes but the weights' output layer has 4",
    ),
    "segmentation on a classifier": (
        "seg",
        _set(arch="simple_cnn"),
        "says task segmentation but architecture simple_cnn, which does not make segmentation models",
    ),
    "segmentation with classes": (
        "seg",
        _set(classes=["a", "b"]),
        "unknown field(s) classes for a segmentation",
    ),
    "a threshold on a segmentation": ("seg", _set(threshold=0.5), "unknown field(s) threshold"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_malformed_task_bundles_are_refused_and_leave_nothing(
    case, multi, seg, fresh_workspace, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    which, edit, message = BAD[case]
    data = altered((multi if which == "multi" else seg).zip, config=edit)
    before = tree(tmp_path)
    with pytest.raises(fmt.BundleError) as refused:
        upload.import_bundle(data, "bundle.zip")
    assert message in str(refused.value), str(refused.value)
    assert tree(tmp_path) == before
    assert tree(fresh_workspace / "models") == set()


def test_export_never_writes_what_import_refuses(multi):
    config = config_of(multi)
    config["threshold"] = 1.5
    with pytest.raises(fmt.BundleError, match="threshold must be a number from 0.01 to 0.99"):
        fmt.validate_config(config)
    with pytest.raises(fmt.BundleError, match="threshold must be a number from 0.01 to 0.99"):
        export.pack(
            {},
            arch="mnist_cnn",
            classes=["a", "b"],
            size=8,
            channels=1,
            mean=[0.5],
            std=[0.5],
            task="multi_label",
            options={"threshold": 1.0},
        )
