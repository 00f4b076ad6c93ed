"""Model bundles: export, a round trip through a fresh process, the library, and strict imports."""

from __future__ import annotations

import hashlib
import json
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core import workspace
from core.errors import UserError
from core.serving import export, library, predict, safetensors_check, upload
from core.serving import format as fmt
from tests.conftest import subprocess_env
from tests.model_helpers import MODEL, altered, entries, make_zip, trained_model, tree

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_model(tmp_path_factory)


# --- export --------------------------------------------------------------------------------


def test_export_writes_weights_config_and_script(trained):
    files = entries(trained.zip)
    assert sorted(files) == [f"{MODEL}/config.json", f"{MODEL}/model.safetensors", f"{MODEL}/predict.py"]
    weights = files[f"{MODEL}/model.safetensors"]
    assert weights == (trained.run_dir / "model.safetensors").read_bytes()
    config = json.loads(files[f"{MODEL}/config.json"])
    run = json.loads((trained.run_dir / "run.json").read_text())
    assert config["format"] == fmt.FORMAT and config["schema_version"] == 2
    assert config["task"] == "single_label"
    assert config["arch"] == "mnist_cnn"
    assert config["classes"] == run["vocab"] == list("0123456789")
    assert config["n_classes"] == 10
    assert config["input"]["size"] == 8 and config["input"]["channels"] == 1
    assert config["input"]["mean"] == run["mean"] and config["input"]["std"] == run["std"]
    assert config["weights"]["sha256"] == hashlib.sha256(weights).hexdigest()
    assert config["weights"]["bytes"] == len(weights)
    assert config["versions"]["torch"] and config["versions"]["safetensors"]
    assert config["training"]["run_id"] == trained.job.id
    assert config["training"]["config"]["epochs"] == 5
    assert config["training"]["metrics"]["accuracy"] == pytest.approx(trained.job.result["accuracy"])
    assert "load_learner" not in files[f"{MODEL}/predict.py"].decode()  # nothing unpickles


def _reference_probabilities(trained, files: list[Path]) -> np.ndarray:
    """The trained run's own weights, rebuilt here, on the images as core.serving.predict prepares them."""
    import torch
    from safetensors.torch import load_file

    from core.train.models import build_model

    run = json.loads((trained.run_dir / "run.json").read_text())
    model = build_model("mnist_cnn", 10, 1, 8, pretrained=False).model
    model.load_state_dict(load_file(str(trained.run_dir / "model.safetensors")))
    model.eval()
    info = library.ModelInfo(
        "run", trained.run_dir, "mnist_cnn", run["vocab"], 8, 1, run["mean"], run["std"], "", "", 0
    )
    pixels = [predict.prepare(f.read_bytes(), f.name, 8, 1).pixels for f in files]
    with torch.inference_mode():
        return torch.softmax(model(predict.to_batch(info, pixels)), dim=-1).numpy()


def test_round_trip_in_a_fresh_process_gives_identical_probabilities(trained, tmp_path, one_thread):
    zip_path = tmp_path / "digits_small.zip"
    zip_path.write_bytes(trained.zip)
    code = (
        "import json, sys, torch\n"
        "torch.set_num_threads(1)\n"
        "from core.serving import predict, upload\n"
        "info = upload.import_bundle(open(sys.argv[1], 'rb').read(), 'digits_small.zip')\n"
        "loaded = predict.load(info.name)\n"
        "px = [predict.prepare(open(p, 'rb').read(), p, info.size, info.channels).pixels\n"
        "      for p in sys.argv[2:]]\n"
        "print(json.dumps({'name': info.name, 'probs': predict.probabilities(loaded, px).tolist()}))\n"
    )
    other = tmp_path / "elsewhere"
    done = subprocess.run(
        [sys.executable, "-c", code, str(zip_path), *map(str, trained.valid_files)],
        cwd=ROOT,
        env=subprocess_env(**{workspace.ENV_VAR: str(other)}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["name"] == MODEL
    assert (other / "models" / MODEL / "model.safetensors").is_file()
    theirs = np.array(out["probs"], dtype=np.float32)
    ours = _reference_probabilities(trained, trained.valid_files)
    assert theirs.shape == (20, 10)
    np.testing.assert_array_equal(theirs, ours)
    # and the model is the trained one: it gets most of these validation digits right
    right = sum(trained.valid_labels[i] == str(int(theirs[i].argmax())) for i in range(20))
    assert right >= 16


def test_predicting_a_file_matches_the_training_pipelines_validation_batch(trained, monkeypatch, one_thread):
    """The image as the model sees it is the image training saw: same crop, resize, normalisation."""
    import torch

    from core.data import loaders as data
    from tests.model_helpers import CFG

    monkeypatch.setenv(workspace.ENV_VAR, str(trained.root))
    loaded = predict.load(MODEL)
    valid = data.build(CFG, device="cpu").dls.valid
    x, y = valid.one_batch()
    with torch.inference_mode():
        expected = torch.softmax(loaded.model(x), dim=-1).numpy()
    root = trained.root / "datasets" / "digits"
    files = [root / rel for rel in valid.items[: len(x)]]
    pixels = [predict.prepare(f.read_bytes(), f.name, 8, 1).pixels for f in files]
    got = predict.probabilities(loaded, pixels)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_generated_predict_script_agrees_with_the_playground(trained, tmp_path, one_thread):
    """predict.py, run outside the checkout, loads the bundle and gives the same probabilities."""
    folder = tmp_path / "unzipped"
    for name, content in entries(trained.zip).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    bundle_dir = folder / MODEL
    image = trained.valid_files[6]
    # `python predict.py IMAGE --json`, with the playground's own modules made unimportable:
    # an mnist_cnn bundle needs only torch, safetensors and Pillow
    run = (
        "import runpy, sys; sys.modules['core'] = None; "
        f"sys.argv = ['predict.py', {str(image)!r}, '--json']; "
        "runpy.run_path('predict.py', run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", run],
        cwd=bundle_dir,
        env=subprocess_env(PYTHONPATH="", OMP_NUM_THREADS="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    script = json.loads(done.stdout.strip().splitlines()[-1])
    ours = _reference_probabilities(trained, [image])[0]
    assert list(script) == sorted(script, key=script.get, reverse=True)  # most likely first
    np.testing.assert_allclose([script[c] for c in "0123456789"], ours, atol=1e-6)


# --- the library -----------------------------------------------------------------------------


def test_library_lists_renames_and_deletes_to_the_trash(trained, fresh_workspace):
    first = upload.import_bundle(trained.zip, "digits_small.zip")
    second = upload.import_bundle(trained.zip, "digits_small.zip")
    assert (first.name, second.name) == (MODEL, f"{MODEL}_2")  # a taken name gets a number
    listed = {m.name: m for m in library.list_models()}
    assert set(listed) == {MODEL, f"{MODEL}_2"}
    m = listed[MODEL]
    assert (m.dataset, m.arch, m.n_classes) == ("digits", "mnist_cnn", 10)
    assert m.accuracy == pytest.approx(trained.job.result["accuracy"])
    assert m.bytes > len(entries(trained.zip)[f"{MODEL}/model.safetensors"])
    assert m.created[:4].isdigit()

    with pytest.raises(UserError, match="already exists"):
        library.rename(MODEL, f"{MODEL}_2")
    library.rename(f"{MODEL}_2", "my digits!")
    models = fresh_workspace / "models"
    assert sorted(p.name for p in models.iterdir()) == [MODEL, "my_digits"]

    where = library.delete("my_digits")
    assert where.parent == fresh_workspace / "trash" / "models"
    assert (where / "model.safetensors").is_file() and (where / "config.json").is_file()
    assert [m.name for m in library.list_models()] == [MODEL]
    with pytest.raises(UserError, match="is not a model name"):
        library.delete("../x")


def test_save_run_refuses_a_taken_name_and_writes_nothing(trained, fresh_workspace):
    from tests.model_helpers import seed_finished_run

    run_id = seed_finished_run(trained)
    from core.jobs.store import Store

    job = Store().get(run_id)
    saved = export.save_run(job, "first")
    assert export.saved_from(job)[0].name == saved.name == "first"
    with pytest.raises(UserError, match="A model called first already exists"):
        export.save_run(job, "first")
    assert sorted(p.name for p in (fresh_workspace / "models").iterdir()) == ["first"]


# --- labels are text ---------------------------------------------------------------------------

LABELS = [
    "-rf",
    "+SUM(1)",
    "<=50K",
    "Star Wars: Episode IV",
    "=SUM(1)",
    "@cmd",
    "<img src=x onerror=alert(1)>",
    "[click](evil-site)",
    "../../etc/passwd",
    "Ünïcödé ✓",
]


def test_any_label_saves_zips_and_imports_back_unchanged(trained, fresh_workspace, tmp_path, monkeypatch):
    """Class names are labels: whatever the importer accepts, export writes and import reads back."""
    from safetensors.torch import load_file

    from core.jobs.store import Store
    from tests.model_helpers import seed_finished_run

    run_id = seed_finished_run(trained)
    record = fresh_workspace / "runs" / str(run_id) / "run.json"
    meta = json.loads(record.read_text(encoding="utf-8"))
    meta["vocab"] = LABELS
    record.write_text(json.dumps(meta), encoding="utf-8")
    saved = export.save_run(Store().get(run_id), "labels")
    assert saved.classes == LABELS
    data = library.zip_bytes("labels")
    config = json.loads(entries(data)["labels/config.json"].decode("utf-8"))
    assert config["classes"] == LABELS

    monkeypatch.setenv(workspace.ENV_VAR, str(tmp_path / "elsewhere"))
    back = upload.import_bundle(data, "labels.zip")
    assert back.classes == LABELS
    assert library.get(back.name).classes == LABELS
    assert [m.classes for m in library.list_models()] == [LABELS]

    # and through pack, as a fastai model converted on a trusted machine
    state = load_file(str(trained.run_dir / "model.safetensors"))
    packed = export.pack(
        state, arch="mnist_cnn", classes=LABELS, size=8, channels=1, mean=meta["mean"], std=meta["std"]
    )
    assert upload.import_bundle(packed, "packed.zip").classes == LABELS


# --- format versions ---------------------------------------------------------------------------


def _as_schema_1(cfg: dict) -> None:
    """A config as the playground wrote it before tasks: schema 1, no task field."""
    del cfg["task"]
    cfg["schema_version"] = 1


def test_a_schema_1_config_migrates_to_single_label(trained):
    v1 = json.loads(entries(trained.zip)[f"{MODEL}/config.json"])
    _as_schema_1(v1)
    migrated = fmt.migrate_config(v1)
    assert migrated["schema_version"] == fmt.SCHEMA_VERSION == 2
    assert migrated["task"] == "single_label"
    assert "task" not in v1 and v1["schema_version"] == 1  # the given config is left alone
    rest = {k: v for k, v in migrated.items() if k not in ("task", "schema_version")}
    assert rest == {k: v for k, v in v1.items() if k != "schema_version"}
    assert fmt.validate_config(v1) == migrated
    assert fmt.migrate_config(migrated) == migrated  # the current schema is kept as it is


def test_schema_1_bundles_import_and_saved_ones_still_load(trained, fresh_workspace):
    v1_zip = altered(trained.zip, config=_as_schema_1)
    info = upload.import_bundle(v1_zip, "old.zip")
    assert info.task == "single_label"
    stored = json.loads((info.path / "config.json").read_text())
    assert (stored["schema_version"], stored["task"]) == (2, "single_label")

    # a schema 1 bundle already in the library (saved before tasks) lists and predicts
    old = fresh_workspace / "models" / "saved_long_ago"
    old.mkdir()
    for name, content in entries(v1_zip).items():
        (old / Path(name).name).write_bytes(content)
    assert library.get("saved_long_ago").task == "single_label"
    image = trained.valid_files[6].read_bytes()
    probs = [
        predict.predict(predict.load(name), [predict.prepare(image, "x", 8, 1)])[0].probs
        for name in (info.name, "saved_long_ago")
    ]
    np.testing.assert_array_equal(*probs)


def test_a_bundle_with_the_old_predict_script_still_predicts(fresh_workspace, tmp_path, one_thread):
    """Bundles downloaded before the regrouping hold predict_v1.py, which imports core.models."""
    import shutil

    import torch

    from core.train.models import build_model

    torch.manual_seed(0)
    classes = ["circle", "square", "triangle"]
    model = build_model("simple_cnn", 3, 3, 32, pretrained=False).model
    data = export.pack(
        model.state_dict(),
        arch="simple_cnn",
        classes=classes,
        size=32,
        channels=3,
        mean=[0.5, 0.45, 0.4],
        std=[0.25, 0.25, 0.25],
        name="shapes_v1",
    )
    info = upload.import_bundle(data, "shapes_v1.zip")
    folder = tmp_path / "unzipped"
    for name, content in entries(library.zip_bytes(info.name)).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    bundle_dir = folder / info.name
    shutil.copyfile(ROOT / "tests" / "fixtures" / "predict_v1.py", bundle_dir / "predict.py")
    image = ROOT / "assets" / "examples" / "shape_triangle.png"
    done = subprocess.run(
        [sys.executable, "predict.py", str(image), "--json"],
        cwd=bundle_dir,
        env=subprocess_env(PLAYGROUND_ROOT=str(ROOT), OMP_NUM_THREADS="1"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    script = json.loads(done.stdout.strip().splitlines()[-1])
    ours = predict.predict(predict.load(info.name), [predict.prepare(image.read_bytes(), image.name, 32, 3)])[
        0
    ]
    assert next(iter(script)) == ours.best[0]
    np.testing.assert_allclose([script[c] for c in classes], ours.probs, atol=1e-5)


# --- imports that must be refused ------------------------------------------------------------


class _Payload:
    """A pickle whose loading creates a file: what a malicious model would do, harmlessly."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _torch_style(payload: bytes) -> bytes:
    """The layout of torch.save (and so of fastai's export()): a zip around data.pkl."""
    return make_zip({"archive/data.pkl": payload, "archive/version": b"3\n", "archive/data/0": b"\0" * 16})


def test_the_pickle_payload_really_would_run(tmp_path):
    """The control: unpickling the payload (our own, here) does create its marker."""
    marker = tmp_path / "control"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()


@pytest.mark.parametrize(
    "case",
    [
        "fastai .pkl",
        "torch .pth zip",
        "protocol 0 named .zip",
        "pickle as the weights",
        "pickle beside the bundle",
    ],
)
def test_pickled_models_are_refused_unopened(case, trained, fresh_workspace, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "marker"
    payload = pickle.dumps(_Payload(marker))
    data, filename = {
        "fastai .pkl": (payload, "export.pkl"),
        "torch .pth zip": (_torch_style(payload), "model.pth"),
        "protocol 0 named .zip": (pickle.dumps(_Payload(marker), protocol=0), "bundle.zip"),
        "pickle as the weights": (altered(trained.zip, weights=payload), "bundle.zip"),
        "pickle beside the bundle": (
            make_zip({**entries(trained.zip), "x/model.pkl": payload}),
            "bundle.zip",
        ),
    }[case]
    before = tree(tmp_path)
    with pytest.raises(fmt.PickleRefused) as refused:
        upload.import_bundle(data, filename)
    message = str(refused.value)
    assert "pickle" in message and "runs whatever code" in message
    assert "load_learner" in message and "on a machine you trust" in message  # how to convert
    assert not marker.exists()
    assert tree(tmp_path) == before
    assert tree(fresh_workspace / "models") == set()


def _truncate(weights: bytes) -> bytes:
    return weights[: len(weights) - 1000]


def _flip_a_weight(weights: bytes) -> bytes:
    (n,) = struct.unpack("<Q", weights[:8])
    i = 8 + n + 100
    return weights[:i] + bytes([weights[i] ^ 0xFF]) + weights[i + 1 :]


def _with_extra_tensor(weights: bytes) -> bytes:
    from safetensors.torch import load, save

    tensors = load(weights)
    tensors["extra.weight"] = tensors["1.3.bias"].clone()
    return save(tensors)


def _with_nan(weights: bytes) -> bytes:
    from safetensors.torch import load, save

    tensors = load(weights)
    tensors["1.3.bias"][0] = float("nan")
    return save(tensors)


def _config(**changes):
    def edit(cfg):
        for key, value in changes.items():
            target = cfg
            *path, last = key.split("__")
            for p in path:
                target = target[p]
            target[last] = value

    return edit


BAD_BUNDLES = {
    "altered weights": (
        dict(weights=_flip_a_weight, rehash=False),
        "The weights do not match their checksum",
    ),
    "architecture not allowed": (
        dict(config=_config(arch="evil_net")),
        "'evil_net' is not on this playground's allow-list",
    ),
    "class count mismatch": (
        dict(config=_config(classes=["a", "b", "c"], n_classes=3)),
        "config.json lists 3 classes but the weights' output layer has 10",
    ),
    "truncated safetensors": (dict(weights=_truncate), "model.safetensors is truncated"),
    "truncated, checksum stale": (dict(weights=_truncate, rehash=False), "model.safetensors is truncated"),
    "class name with a newline": (
        dict(config=_config(classes=["zero\nrm -rf /", *"123456789"])),
        "contains control characters",
    ),
    "empty class name": (dict(config=_config(classes=[" ", *"123456789"])), "must be a non-empty"),
    "class name too long": (
        dict(config=_config(classes=["x" * 201, *"123456789"])),
        "is longer than 200 characters",
    ),
    "unknown task": (dict(config=_config(task="tabular")), "task 'tabular' is not one"),
    "input size that does not fit": (
        dict(config=_config(input__size=16)),
        "1.0.weight has shape (128, 256), the architecture needs (128, 2304)",
    ),
    "an extra tensor": (dict(weights=_with_extra_tensor), "unexpected extra.weight"),
    "NaN weights": (dict(weights=_with_nan), "holds NaN or infinite values"),
    "newer schema": (dict(config=_config(schema_version=3)), "made by a newer playground"),
    "unknown config field": (dict(config=_config(run_this="rm -rf /")), "unknown field(s) run_this"),
}


@pytest.mark.parametrize("case", list(BAD_BUNDLES))
def test_bad_bundles_are_refused_with_a_reason_and_leave_nothing(
    case, trained, fresh_workspace, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    changes, message = BAD_BUNDLES[case]
    data = altered(trained.zip, **changes)
    before = tree(tmp_path)
    with pytest.raises(fmt.BundleError) as refused:
        upload.import_bundle(data, "bundle.zip")
    assert message in str(refused.value)
    assert tree(tmp_path) == before  # nothing written, inside the workspace or out
    assert tree(fresh_workspace / "models") == set()


UNSAFE_ZIPS = {
    "path traversal": (lambda f: {**f, "../../evil.txt": b"x"}, "points outside the bundle"),
    "absolute path": (lambda f: {**f, "/tmp/evil.txt": b"x"}, "an absolute path"),
    "unexpected entry": (
        lambda f: {**f, f"{MODEL}/notes.txt": b"hi"},
        "which a model bundle does not contain",
    ),
    "no weights": (
        lambda f: {k: v for k, v in f.items() if not k.endswith("safetensors")},
        "has no model.safetensors",
    ),
    "zip bomb": (lambda f: {**f, f"{MODEL}/model.safetensors": bytes(20 * 2**20)}, "a zip bomb"),
    "config too large": (
        lambda f: {**f, f"{MODEL}/config.json": b" " * (upload.MAX_CONFIG_BYTES + 1)},
        "more than the 1,048,576 allowed",
    ),
}


@pytest.mark.parametrize("case", list(UNSAFE_ZIPS))
def test_unsafe_zips_are_refused(case, trained, fresh_workspace, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    edit, message = UNSAFE_ZIPS[case]
    before = tree(tmp_path)
    with pytest.raises(fmt.BundleError, match=message.replace("(", r"\(")):
        upload.import_bundle(make_zip(edit(entries(trained.zip))), "bundle.zip")
    assert tree(tmp_path) == before
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"", "empty.zip", "empty.zip is empty (0 bytes)"),
        (b"just some text\n", "notes.zip", "notes.zip is not a zip file"),
    ],
)
def test_files_that_are_not_bundles(data, filename, message, fresh_workspace):
    with pytest.raises(fmt.BundleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        upload.import_bundle(data, filename)


def test_a_bare_safetensors_file_is_explained(trained, fresh_workspace):
    weights = entries(trained.zip)[f"{MODEL}/model.safetensors"]
    with pytest.raises(fmt.BundleError, match="bare safetensors weights file"):
        upload.import_bundle(weights, "model.safetensors")


def test_a_model_changed_on_disk_is_refused_at_load(trained, fresh_workspace):
    info = upload.import_bundle(trained.zip, "digits_small.zip")
    weights = info.weights.read_bytes()
    info.weights.write_bytes(_flip_a_weight(weights))
    predict.forget_cache()
    with pytest.raises(fmt.BundleError, match="have changed since it was saved"):
        predict.load(info.name)


def test_pack_makes_an_importable_bundle_from_a_state_dict(trained, fresh_workspace):
    from safetensors.torch import load_file

    state = load_file(str(trained.run_dir / "model.safetensors"))
    run = json.loads((trained.run_dir / "run.json").read_text())
    data = export.pack(
        state,
        arch="mnist_cnn",
        classes=run["vocab"],
        size=8,
        channels=1,
        mean=run["mean"],
        std=run["std"],
        name="converted",
    )
    info = upload.import_bundle(data, "converted.zip")
    assert info.name == "converted" and info.classes == run["vocab"]
    with pytest.raises(fmt.BundleError, match="output layer has 10"):
        export.pack(state, arch="mnist_cnn", classes=["a", "b"], size=8, channels=1, mean=[0.5], std=[0.5])


def test_safetensors_whose_header_length_looks_like_a_pickle_opcode_is_not_refused():
    """A header of 640 bytes starts the file with 0x80 0x02, as a protocol-2 pickle does."""
    import torch
    from safetensors.torch import save

    tensors = {"w": torch.zeros(3)}
    data = None
    for pad in range(700):
        candidate = save(tensors, metadata={"note": "x" * pad})
        if candidate[:2] == b"\x80\x02":
            data = candidate
            break
    assert data is not None and struct.unpack("<Q", data[:8])[0] == 640
    safetensors_check.refuse_pickle(data, "model.safetensors")  # no PickleRefused
    assert safetensors_check.parse_safetensors_header(data) == {
        "w": safetensors_check.TensorSpec("F32", (3,))
    }
    # named like a PyTorch file, it is judged by its content: weights without a config
    with pytest.raises(fmt.BundleError, match="model.pth is a bare safetensors weights file"):
        upload.import_bundle(data, "model.pth")


def test_a_zip_directory_is_sized_from_its_end_record_before_any_entry_is_parsed():
    """Millions of entries would cost zipfile seconds and GBs; the end record (zip64 too) tells first."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:  # over 65,535 entries: zipfile writes a zip64 end record
        for i in range(70_000):
            zf.writestr(f"m/{i}", b"")
    entries, size = safetensors_check.zip_directory(buf.getvalue())
    assert entries == 70_000 and size > safetensors_check.MAX_ZIP_DIRECTORY
    with pytest.raises(UserError, match="70,000 entries .* Refused without reading them"):
        upload.check_bundle(buf.getvalue(), "many.zip")
