"""The dataset registry: Digits on disk, its flipped-label variants, and user image folders."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import workspace
from core.data import datasets
from core.errors import UserError

N_DIGITS = 1797


def _class_files(root: Path, split: str) -> dict[str, str]:
    """{file name: class folder} for every PNG of one split."""
    return {p.name: p.parent.name for p in (root / split).glob("*/*.png")}


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


@pytest.fixture(scope="module")
def digits() -> datasets.DatasetInfo:
    return datasets.resolve("digits")


def test_digits_has_all_images_in_train_and_valid_class_folders(digits):
    train = _class_files(digits.path, "train")
    valid = _class_files(digits.path, "valid")
    assert len(train) + len(valid) == N_DIGITS
    assert not set(train) & set(valid)
    classes = [str(c) for c in range(10)]
    assert sorted(p.name for p in (digits.path / "train").iterdir()) == classes
    assert sorted(p.name for p in (digits.path / "valid").iterdir()) == classes
    assert digits.title == "Digits"
    assert digits.default_size == 16
    assert digits.path.parent == workspace.root() / "datasets"


def test_digits_pixels_and_labels_are_scikit_learns(digits):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    found = {**_class_files(digits.path, "train"), **_class_files(digits.path, "valid")}
    labels = [int(found[f"{i:04d}.png"]) for i in range(N_DIGITS)]
    assert labels == bunch.target.tolist()
    for i in (0, 1, 500, 1796):
        name = f"{i:04d}.png"
        (path,) = digits.path.glob(f"*/{labels[i]}/{name}")
        img = _pixels(path)
        assert img.shape == (8, 8)
        expected = np.round(bunch.images[i] * 255 / 16).astype(np.uint8)
        assert np.array_equal(img, expected)


def test_digits_validation_is_a_stratified_fifth(digits):
    train = Counter(_class_files(digits.path, "train").values())
    valid = Counter(_class_files(digits.path, "valid").values())
    n_valid = sum(valid.values())
    assert 0.19 < n_valid / N_DIGITS < 0.21
    for c in train:
        total = train[c] + valid[c]
        assert valid[c] == round(total * 0.2), c
    meta = json.loads((digits.path / "dataset.json").read_text())
    assert meta["n_valid"] == n_valid
    assert meta["n_train"] == N_DIGITS - n_valid


def test_digits_split_is_the_same_on_a_second_call(digits):
    before = _class_files(digits.path, "valid")
    again = datasets.resolve("digits")
    assert again.path == digits.path
    assert _class_files(again.path, "valid") == before


def test_digits_split_is_the_same_in_a_fresh_workspace(digits, fresh_workspace):
    fresh = datasets.resolve("digits")
    assert fresh.path == fresh_workspace.resolve() / "datasets" / "digits"
    assert fresh.path != digits.path
    assert _class_files(fresh.path, "train") == _class_files(digits.path, "train")
    assert _class_files(fresh.path, "valid") == _class_files(digits.path, "valid")
    assert not list((fresh_workspace / "datasets").glob(".tmp-*"))  # no half-written folders


@pytest.mark.parametrize(("name", "fraction"), sorted(datasets.FLIP_VARIANTS.items()))
def test_flipped_variant_moves_the_recorded_share_of_training_files(digits, name, fraction):
    info = datasets.resolve(name)
    original = _class_files(digits.path, "train")
    now = _class_files(info.path, "train")
    assert set(now) == set(original)  # same files, only folders differ
    moved = {f for f in now if now[f] != original[f]}
    assert len(moved) == round(len(original) * fraction)
    assert f"{round(fraction * 100)}%" in info.title
    # Validation is left alone: the cleaner is measured on training labels.
    assert _class_files(info.path, "valid") == _class_files(digits.path, "valid")

    flipped = datasets.flipped_files(info)
    assert {Path(e["file"]).name for e in flipped} == moved
    meta = json.loads((info.path / "dataset.json").read_text())
    assert meta["flipped"] == len(flipped)


def test_flipped_json_describes_each_moved_file(digits):
    info = datasets.resolve("digits_flip10")
    flipped = json.loads((info.path / "flipped.json").read_text())
    assert flipped == datasets.flipped_files(info)
    assert len(flipped) == round(sum(1 for _ in (digits.path / "train").glob("*/*.png")) * 0.1)
    for entry in flipped:
        split, given, name = entry["file"].split("/")
        assert split == "train"
        assert given == entry["given"]
        assert entry["true"] != entry["given"]
        assert (info.path / entry["file"]).is_file()
        assert not (info.path / "train" / entry["true"] / name).exists()
        original = digits.path / "train" / entry["true"] / name
        assert np.array_equal(_pixels(info.path / entry["file"]), _pixels(original))


@pytest.fixture(scope="module")
def flip5_in_session() -> list[dict]:
    return datasets.flipped_files(datasets.resolve("digits_flip5"))


def test_flipped_variant_is_the_same_in_a_fresh_workspace(flip5_in_session, fresh_workspace):
    info = datasets.resolve("digits_flip5")
    assert info.path.is_relative_to(fresh_workspace.resolve())
    assert datasets.flipped_files(info) == flip5_in_session


def test_flipped_files_is_empty_for_plain_digits(digits):
    assert datasets.flipped_files(digits) == []


def _make_folder(root: Path, counts: dict[str, int], size: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"img{i:02d}.png")
    return root


def test_read_image_folder_without_split_uses_a_seeded_share(tmp_path):
    root = _make_folder(tmp_path / "pets", {"cat": 12, "dog": 10, "emu": 8})
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    items = datasets.read_image_folder(root, valid_pct=0.2, seed=3)
    assert items.vocab == ["cat", "dog", "emu"]
    assert len(items.files) == 30
    assert Counter(items.labels) == {"cat": 12, "dog": 10, "emu": 8}
    for rel, label in zip(items.files, items.labels, strict=True):
        assert rel.split("/")[0] == label
        assert (root / rel).is_file()
    assert sum(items.is_valid) == 6

    again = datasets.read_image_folder(root, valid_pct=0.2, seed=3)
    assert again.files == items.files
    assert again.is_valid == items.is_valid
    others = [datasets.read_image_folder(root, valid_pct=0.2, seed=s).is_valid for s in (4, 5)]
    assert any(o != items.is_valid for o in others)

    files, labels = items.split(valid=True)
    assert len(files) == 6
    assert [items.vocab[i] for i in labels] == [f.split("/")[0] for f in files]


def test_read_image_folder_keeps_a_given_train_valid_split(tmp_path):
    root = tmp_path / "split"
    _make_folder(root / "train", {"a": 3, "b": 3})
    _make_folder(root / "valid", {"a": 1, "b": 2})
    items = datasets.read_image_folder(root, valid_pct=0.5, seed=0)
    assert sum(items.is_valid) == 3
    assert all(f.startswith("valid/") == v for f, v in zip(items.files, items.is_valid, strict=True))
    assert items.vocab == ["a", "b"]


def test_read_image_folder_refuses_an_empty_folder(tmp_path):
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(UserError, match="No images found"):
        datasets.read_image_folder(tmp_path / "empty")


def test_read_image_folder_refuses_a_single_class(tmp_path):
    root = _make_folder(tmp_path / "one", {"cat": 5})
    with pytest.raises(UserError, match=r"only one class \(cat\).*at least two"):
        datasets.read_image_folder(root)


def test_read_image_folder_refuses_a_missing_folder(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        datasets.read_image_folder(tmp_path / "nowhere")


def test_resolve_finds_a_folder_in_the_workspace(fresh_workspace):
    _make_folder(fresh_workspace / "datasets" / "pets", {"cat": 2, "dog": 2})
    (fresh_workspace / "datasets" / "pets" / "dataset.json").write_text(
        json.dumps({"title": "My pets", "default_size": 24})
    )
    info = datasets.resolve("pets")
    assert (info.title, info.default_size) == ("My pets", 24)
    assert "pets" in datasets.available()


@pytest.mark.parametrize("name", ["no_such_set", "../x", "..", "", ".", "digits/train", "/etc", "a\x00b"])
def test_resolve_refuses_unknown_and_escaping_names(name):
    with pytest.raises(UserError) as err:
        datasets.resolve(name)
    message = str(err.value)
    assert "Unknown dataset" in message
    assert "digits" in message  # the choices are listed


def test_resolve_refuses_a_symlink_out_of_the_workspace(fresh_workspace, tmp_path):
    outside = _make_folder(tmp_path / "outside", {"a": 2, "b": 2})
    (fresh_workspace / "datasets").mkdir()
    (fresh_workspace / "datasets" / "sneaky").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UserError, match="Unknown dataset"):
        datasets.resolve("sneaky")


def test_builtins_are_listed_first():
    names = datasets.available()
    first = ["digits", *datasets.FLIP_VARIANTS, "breast_cancer", "wine", "diabetes"]
    assert names[: len(datasets.builtin_names())] == first


def test_a_damaged_labels_json_is_reported_not_read_as_folder_names(fresh_workspace):
    root = fresh_workspace / "datasets" / "people"
    for cls in ("lt-50k", "gt-50k"):
        (root / cls).mkdir(parents=True)
    (root / "labels.json").write_text('{"format": 1, "folders": {"lt-50k": "<=50K"')
    with pytest.raises(UserError, match="labels.json is damaged"):
        datasets.read_image_folder(root)
    (root / "labels.json").write_text('{"format": 1, "folders": {"lt-50k": 7}}')
    with pytest.raises(UserError, match="does not map folder names to labels"):
        datasets.read_image_folder(root)


def test_digits_are_read_as_scikit_learn_gives_them_without_importing_it():
    import subprocess
    import sys

    code = (
        "import sys; from core.data.datasets import digits_arrays; im, lab = digits_arrays(); "
        "print(im.shape, lab.shape, int(im.max()), 'sklearn' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        check=True,
    )
    assert out.stdout.split() == ["(1797,", "8,", "8)", "(1797,)", "16", "False"]
    from sklearn.datasets import load_digits

    from core.data.datasets import digits_arrays

    images, labels = digits_arrays()
    bunch = load_digits()
    assert (images == bunch.images).all() and (labels == bunch.target).all()
