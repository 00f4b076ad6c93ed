"""Safe ingestion: a corpus of hostile and broken inputs, each with the sentence a person sees.

Every refused input must leave the filesystem exactly as it was: nothing outside the workspace,
nothing (no dataset, no temporary folder) inside it. Every skipped file must be reported by
name and be absent from the dataset.
"""

from __future__ import annotations

import io
import os
import time
import uuid
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from core import workspace
from core.data import access, datasets, images, ingest, journal, labels
from core.data.ingest.names import dataset_name
from core.data.ingest.place import STALE_AFTER, TMP_PREFIX, Report
from core.data.ingest.sources import IMPORT_ROOT_VAR, Limits
from core.errors import UserError
from tests.inputs import (
    class_images,
    jpeg,
    overlapping_zip,
    pixel_bomb_png,
    png,
    tar_bytes,
    tree,
    truncated_png,
    write_tree,
    zip_bytes,
)

EVIL = f"playground-evil-{uuid.uuid4().hex[:8]}.png"  # a name that must never appear anywhere
GOOD = class_images()  # cats/cat0.png … dogs/dog4.png
DEFAULT = Limits()
SMALL = Limits(max_total_bytes=2**20, max_file_bytes=600_000)


@pytest.fixture
def ws(fresh_workspace) -> Path:
    workspace.subdir("datasets")
    return fresh_workspace


@dataclass(frozen=True)
class Case:
    """A bad input: how to hand it in, and what the person must be told."""

    id: str
    make: Callable[[Path], Callable[[], Report]]  # given a folder for inputs
    message: str


def upload(data: bytes, name: str = "upload.zip", limits: Limits = DEFAULT):
    return lambda _where: lambda: ingest.add_archive(io.BytesIO(data), "upload", shown_as=name, limits=limits)


def folder(entries: dict[str, bytes], limits: Limits = DEFAULT):
    def make(where: Path):
        write_tree(where / "pics", entries)
        return lambda: ingest.add_folder(where / "pics", "pics", limits=limits)

    return make


def csv_file(text: str, entries: dict[str, bytes] | None = None, link: bool = False):
    def make(where: Path):
        root = write_tree(where / "set", entries or GOOD)
        (root / "labels.csv").write_text(text)
        if link:
            secret = write_tree(where / "secret", {"s.png": png()})
            (root / "link").symlink_to(secret, target_is_directory=True)
        return lambda: ingest.add_csv(root / "labels.csv", "set")

    return make


def _duplicate_zip() -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name: that is the point
        with zipfile.ZipFile(buf, "w") as z:
            for name, data in GOOD.items():
                z.writestr(name, data)
            z.writestr("cats/cat0.png", png((1, 2, 3)))
    return buf.getvalue()


def _zero_bytes_padding() -> bytes:
    return b"\0" * 3_000_000


REFUSED = [
    Case(
        "zip-dotdot", upload(zip_bytes({**GOOD, f"../{EVIL}": png()})), "climbs out of its folder with '..'"
    ),
    Case(
        "zip-deep-dotdot",
        upload(zip_bytes({**GOOD, f"cats/../../../{EVIL}": png()})),
        "climbs out of its folder with '..'",
    ),
    Case(
        "zip-backslash-dotdot",
        upload(zip_bytes({**GOOD, f"..\\{EVIL}": png()})),
        "climbs out of its folder with '..'",
    ),
    Case("zip-absolute", upload(zip_bytes({**GOOD, f"/tmp/{EVIL}": png()})), "names the absolute path"),
    Case(
        "zip-windows-absolute", upload(zip_bytes({**GOOD, f"C:\\{EVIL}": png()})), "names the absolute path"
    ),
    Case(
        "zip-symlink",
        upload(zip_bytes(GOOD, symlinks={"cats/passwd.png": "/etc/passwd"})),
        "is a symbolic link; links could point outside the dataset",
    ),
    Case(
        "zip-bomb",
        upload(zip_bytes({**GOOD, "cats/huge.png": _zero_bytes_padding()}), limits=SMALL),
        "would expand to 2.9 MB, more than the 1.0 MB limit (a zip bomb?)",
    ),
    Case(
        "zip-overlapping-entries",
        upload(overlapping_zip()),
        "has overlapping entries ('cats/a.png' and 'dogs/b.png' share bytes)",
    ),
    Case("zip-duplicate-entry", upload(_duplicate_zip()), "holds the entry 'cats/cat0.png' more than once"),
    Case(
        "zip-encrypted",
        upload(zip_bytes(GOOD, encrypted=("cats/cat0.png",))),
        "is encrypted (cats/cat0.png needs a password)",
    ),
    Case(
        "zip-empty", upload(zip_bytes({}), name="empty.zip"), "empty.zip is empty: there are no files in it"
    ),
    Case(
        "zip-one-class",
        upload(zip_bytes(class_images(("cats",))), name="cats.zip"),
        "cats.zip has images of one class only (cats); a classifier needs at least two classes",
    ),
    Case(
        "zip-no-images",
        upload(zip_bytes({"a/notes.txt": b"hello", "b/x.csv": b"1,2"}), name="docs.zip"),
        "No usable images in docs.zip",
    ),
    Case(
        "zip-cut-in-half",
        upload(zip_bytes(GOOD)[:400], name="half.zip"),
        "half.zip is not a readable zip file",
    ),
    Case(
        "text-named-zip",
        upload(b"just some words, not an archive", name="notes.zip"),
        "notes.zip is not a zip or tar archive: its content is text",
    ),
    Case(
        "upload-over-size-limit",
        upload(zip_bytes(GOOD), name="big.zip", limits=Limits(max_archive_bytes=1000)),
        "limit for one upload",
    ),
    Case(
        "zip-too-many-files",
        upload(zip_bytes(class_images(per_class=4)), limits=Limits(max_files=5)),
        "more than the 5 limit",
    ),
    Case(
        "tar-symlink",
        upload(tar_bytes(GOOD, links={"cats/evil.png": "/etc/passwd"}), name="set.tgz"),
        "'cats/evil.png' in set.tgz is a link",
    ),
    Case(
        "tar-hardlink",
        upload(tar_bytes(GOOD, hardlinks={"cats/evil.png": "/etc/passwd"}), name="set.tgz"),
        "'cats/evil.png' in set.tgz is a link",
    ),
    Case(
        "tar-device",
        upload(tar_bytes(GOOD, devices=("cats/null.png",)), name="set.tgz"),
        "is a device or special file",
    ),
    Case(
        "tar-dotdot",
        upload(tar_bytes({**GOOD, f"../../{EVIL}": png()}), name="set.tgz"),
        "climbs out of its folder with '..'",
    ),
    Case(
        "tgz-bomb-counted-while-extracting",
        upload(
            tar_bytes(
                {
                    **GOOD,
                    "cats/a.bin": b"\0" * 500_000,
                    "cats/b.bin": b"\0" * 500_000,
                    "cats/c.bin": b"\0" * 500_000,
                }
            ),
            name="bomb.tgz",
            limits=SMALL,
        ),
        "bomb.tgz expands to more than 1.0 MB, the limit for one dataset (a zip bomb?). Extraction stopped",
    ),
    Case(
        "tgz-cut-short",
        upload(tar_bytes(class_images(per_class=20))[:1500], name="cut.tgz"),
        "cut.tgz is damaged or cut short",
    ),
    Case("folder-only-junk", folder({"a/readme.txt": b"text", "b/empty.png": b""}), "No usable images in"),
    Case(
        "csv-missing-files",
        csv_file("file,label\nnope/a.png,cats\nnope/b.png,dogs\n"),
        "None of the 2 files named in labels.csv exist next to it (the first is 'nope/a.png')",
    ),
    Case(
        "csv-traversal",
        csv_file(f"file,label\ncats/cat0.png,cats\n../../{EVIL},dogs\n"),
        f"labels.csv, line 3, names '../../{EVIL}', which climbs out of its folder with '..'",
    ),
    Case(
        "csv-absolute",
        csv_file("file,label\n/etc/passwd,cats\ncats/cat0.png,cats\n"),
        "labels.csv, line 2, names the absolute path '/etc/passwd'",
    ),
    Case(
        "csv-link-escape",
        csv_file("file,label\ncats/cat0.png,cats\nlink/s.png,dogs\n", link=True),
        "labels.csv, line 3, names 'link/s.png', which leads outside the CSV's folder",
    ),
    Case("csv-empty", csv_file("file,label\n"), "labels.csv has a header but no rows"),
    Case(
        "csv-one-column",
        csv_file("cats/cat0.png\n"),
        "labels.csv, line 1: expected a file and a label separated by a comma",
    ),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c.id for c in REFUSED])
def test_a_bad_input_is_refused_and_leaves_nothing(ws, tmp_path, case):
    where = tmp_path / "inputs"
    where.mkdir()
    run = case.make(where)
    before = tree(tmp_path)
    with pytest.raises(UserError) as refused:
        run()
    assert case.message in str(refused.value)
    # Nothing written outside the workspace, and nothing left inside it.
    assert tree(tmp_path) == before
    assert not Path("/tmp", EVIL).exists()
    assert datasets.available() == [*datasets.builtin_names(), *datasets.SYNTHETIC]


SKIPPED = [
    ("truncated-png", {"cats/broken.png": truncated_png()}, "cats/broken.png", "it is corrupt or truncated"),
    ("zero-bytes", {"dogs/nothing.png": b""}, "dogs/nothing.png", "it is empty (0 bytes)"),
    (
        "text-named-png",
        {"cats/notes.png": b"my shopping list\neggs\n"},
        "cats/notes.png",
        "it is not a PNG, JPEG, GIF, BMP, WebP or TIFF image: its content is text",
    ),
    (
        "pdf-named-jpg",
        {"cats/scan.jpg": b"%PDF-1.4\n%\xe2\xe3\n1 0 obj"},
        "cats/scan.jpg",
        "it is a PDF document",
    ),
    (
        "html-named-png",
        {"dogs/page.png": b"<!DOCTYPE html><html></html>"},
        "dogs/page.png",
        "it is a web page (HTML)",
    ),
    (
        "pixel-bomb",
        {"dogs/bomb.png": pixel_bomb_png()},
        "dogs/bomb.png",
        "Pillow refused it as a decompression bomb",
    ),
    ("not-in-a-class-folder", {"readme.png": png()}, "readme.png", "not inside a class folder"),
    ("plain-text-file", {"cats/info.txt": b"about the cats"}, "cats/info.txt", "its content is text"),
    (
        "test-folder",
        {
            "train/cats/a.png": png(),
            "train/dogs/b.png": png((0, 0, 200)),
            "valid/cats/c.png": png(seed=3),
            "valid/dogs/d.png": png((0, 0, 200), seed=4),
            "test/e.png": png(seed=5),
        },
        "test/",
        "1 file(s) left out: a test/ folder has no labels",
    ),
]


@pytest.mark.parametrize(("case_id", "extra", "bad", "message"), SKIPPED, ids=[c[0] for c in SKIPPED])
def test_a_bad_file_is_skipped_reported_and_left_out(ws, tmp_path, case_id, extra, bad, message):
    entries = extra if case_id == "test-folder" else {**GOOD, **extra}
    before = tree(tmp_path)
    report = ingest.add_archive(io.BytesIO(zip_bytes(entries)), "mixed", shown_as="mixed.zip")
    assert len([p for p in report.skipped if p.file == bad]) == 1
    assert any(p.file == bad and message in p.reason for p in report.skipped), report.skipped
    assert "skipped" in report.summary()
    added = set(tree(tmp_path)) - set(before)
    assert all(a.startswith("ws/datasets/mixed") for a in added), added  # nothing else written
    assert not any(Path(bad).stem in a for a in added)  # the bad file is not in the dataset
    meta = datasets.metadata(report.path)
    assert any(s["file"] == bad for s in meta["skipped"])  # the Data page lists it later too


def test_an_image_over_the_pixel_limit_is_skipped_with_its_size(ws):
    limits = Limits(max_pixels=300)
    report = ingest.add_archive(
        io.BytesIO(zip_bytes({**GOOD, "cats/wide.png": png(size=20)})), "wide", limits=limits
    )
    (problem,) = [p for p in report.skipped if p.file == "cats/wide.png"]
    assert problem.reason == ("it is 20×20 pixels, more than the limit of 300 pixels (a decompression bomb?)")


def test_a_file_over_the_per_file_limit_is_skipped_unread(ws):
    limits = Limits(max_file_bytes=2_000)
    big = png(size=64, seed=9)
    assert len(big) > 2_000
    report = ingest.add_archive(
        io.BytesIO(zip_bytes({**GOOD, "dogs/big.png": big})), "limited", limits=limits
    )
    assert [p.reason for p in report.skipped if p.file == "dogs/big.png"] == [
        "it is larger than the 2 KB limit for one file"
    ]


def test_hidden_and_mac_files_are_ignored_quietly(ws):
    entries = {**GOOD, "__MACOSX/cats/._cat0.png": b"\0\5\26\7", "cats/.DS_Store": b"x"}
    report = ingest.add_archive(io.BytesIO(zip_bytes(entries)), "mac")
    assert report.ignored_hidden == 2
    assert report.skipped == []
    assert report.classes == {"cats": 5, "dogs": 5}


def test_a_good_zip_becomes_a_dataset_that_training_reads(ws):
    data = zip_bytes(class_images(("cats", "dogs", "birds"), per_class=4, prefix="my pets/"))
    report = ingest.add_archive(io.BytesIO(data), "My Pets!", shown_as="my pets.zip")
    assert report.name == "my_pets"
    assert report.summary() == "Added my_pets: 12 images in 3 classes (birds 4, cats 4, dogs 4)."
    assert "my_pets" in datasets.available()
    info = datasets.resolve("my_pets")
    items = datasets.read_image_folder(info.path)
    assert items.vocab == ["birds", "cats", "dogs"]
    assert len(items.files) == 12
    assert info.default_size == 16  # small images train at 16 pixels, never below
    assert datasets.metadata(info)["split"].startswith("none in the data: a random 20%")
    assert not [p for p in (ws / "datasets").iterdir() if p.name.startswith(".")]


def test_train_and_valid_folders_are_kept_as_the_split(ws):
    entries = {**class_images(prefix="train/"), **class_images(per_class=2, prefix="valid/")}
    report = ingest.add_archive(io.BytesIO(zip_bytes(entries)), "split")
    items = datasets.read_image_folder(report.path)
    assert sum(items.is_valid) == 4 and len(items.files) == 14
    assert all(f.startswith("valid/") for f, v in zip(items.files, items.is_valid) if v)
    assert report.split == "the train/ and valid/ folders of split"


def test_class_names_are_kept_as_labels_in_safe_distinct_folders(ws):
    entries = {}
    for i, cls in enumerate(["Grumpy Cat!", "a?b", "a*b", "café", "train", "..hidden"]):
        entries[f"{cls}/x{i}.png"] = png(seed=i)
    report = ingest.add_archive(io.BytesIO(zip_bytes(entries)), "names")
    given = ["Grumpy Cat!", "a?b", "a*b", "café", "train"]
    # "..hidden" is a dot-folder (left out quietly); the rest keep their names as labels.
    assert report.classes == {label: 1 for label in given}
    folders = sorted(p.name for p in report.path.iterdir() if p.is_dir())
    assert folders == sorted(labels.folder_names(given).values())
    assert all(f == labels.safe_folder_name(f) for f in folders)  # each folder name is harmless
    assert "café" in folders and not {"Grumpy Cat!", "a?b", "a*b", "train"} & set(folders)
    assert report.renamed == {lab: f for lab, f in labels.folder_names(given).items() if lab != f}
    assert labels.load_mapping(report.path) == {f: lab for lab, f in report.renamed.items()}
    items = datasets.read_image_folder(report.path)
    assert items.vocab == sorted(given)
    assert {items.folder_of(lab) for lab in given} == set(folders)
    assert report.ignored_hidden == 1


def test_csv_labels_that_clean_to_the_same_folder_stay_two_classes(ws, tmp_path):
    entries = {f"people/{i}.png": png(seed=i) for i in range(8)}
    root = write_tree(tmp_path / "census", entries)
    rows = [f"people/{i}.png,{'<=50K' if i % 2 else '>50K'}" for i in range(8)]
    (root / "labels.csv").write_text("file,label\n" + "\n".join(rows) + "\n")
    report = ingest.add_csv(root / "labels.csv", "census")
    assert report.classes == {"<=50K": 4, ">50K": 4}
    assert report.summary() == "Added census: 8 images in 2 classes (<=50K 4, >50K 4)."
    folders = sorted(p.name for p in report.path.iterdir() if p.is_dir())
    assert len(folders) == 2 and folders[0] != folders[1]  # never one "50K" folder for both
    items = datasets.read_image_folder(report.path)  # what training reads
    assert items.vocab == ["<=50K", ">50K"]
    assert sorted(set(items.labels)) == ["<=50K", ">50K"]
    assert sorted(items.folders.values()) == folders
    for f, lab in zip(items.files, items.labels):
        assert f.split("/")[0] == items.folder_of(lab)
    index = {lab: i for i, lab in enumerate(items.vocab)}
    train_files, train_ys = items.split(False)
    assert all(index[items.labels[items.files.index(f)]] == y for f, y in zip(train_files, train_ys))


def test_archive_class_folders_that_look_like_options_or_formulas_are_labels(ws):
    entries = {**class_images(("-rf", "+SUM(1)"), per_class=3)}
    report = ingest.add_archive(io.BytesIO(zip_bytes(entries)), "odd")
    assert report.classes == {"+SUM(1)": 3, "-rf": 3}
    items = datasets.read_image_folder(report.path)
    assert items.vocab == ["+SUM(1)", "-rf"]
    assert all((report.path / items.folder_of(lab)).is_dir() for lab in items.vocab)


def test_a_label_with_control_characters_is_skipped_and_reported(ws, tmp_path):
    root = write_tree(tmp_path / "tabs", {f"{i}.png": png(seed=i) for i in range(6)})
    rows = ["0.png,a", "1.png,a", "2.png,b", "3.png,b", '4.png,"bad\tlabel"', "5.png,b"]
    (root / "labels.csv").write_text("file,label\n" + "\n".join(rows) + "\n")
    report = ingest.add_csv(root / "labels.csv", "tabs")
    assert report.classes == {"a": 2, "b": 3}
    assert [p.file for p in report.skipped] == ["4.png"]
    assert "control characters" in report.skipped[0].reason


def test_datasets_without_labels_json_read_folder_names_as_labels(ws):
    report = ingest.add_archive(io.BytesIO(zip_bytes(GOOD)), "plain")
    (report.path / labels.MAPPING_FILE).unlink()
    items = datasets.read_image_folder(report.path)
    assert items.vocab == ["cats", "dogs"] and items.folder_of("cats") == "cats"


def test_files_are_named_by_their_content_not_their_extension(ws):
    entries = {**GOOD, "cats/photo.png": jpeg(), "dogs/drawing.jpg": png((1, 1, 1))}
    report = ingest.add_archive(io.BytesIO(zip_bytes(entries)), "content")
    assert (report.path / "cats" / "photo.jpg").is_file()
    assert (report.path / "dogs" / "drawing.png").is_file()


def test_a_zip_with_a_labels_csv_uses_it(ws):
    entries = {f"images/{i}.png": png(seed=i) for i in range(6)}
    csv = "image,label,is_valid\n" + "".join(
        f"images/{i}.png,{'odd' if i % 2 else 'even'},{i >= 4}\n" for i in range(6)
    )
    entries["labels.csv"] = csv.encode()
    report = ingest.add_archive(io.BytesIO(zip_bytes(entries)), "csvzip")
    assert report.classes == {"even": 3, "odd": 3}
    assert report.split == "the is_valid column of labels.csv"
    assert sorted(p.name for p in (report.path / "valid").iterdir()) == ["even", "odd"]


def test_a_folder_is_copied_and_links_in_it_are_not_followed(ws, tmp_path):
    source = write_tree(tmp_path / "photos", GOOD)
    secret = write_tree(tmp_path / "private", {"secret.png": png((9, 9, 9))})
    (source / "cats" / "link.png").symlink_to(secret / "secret.png")
    (source / "elsewhere").symlink_to(secret, target_is_directory=True)
    source_before = tree(source)
    report = ingest.add_folder(source, "photos")
    reasons = {p.file: p.reason for p in report.skipped}
    assert reasons == {
        "cats/link.png": "a link, not followed",
        "elsewhere/": "a link to a folder, not followed",
    }
    assert report.classes == {"cats": 5, "dogs": 5}
    assert tree(source) == source_before  # the source is untouched
    assert not any("secret" in f for f in tree(report.path))
    assert (source / "cats" / "cat0.png").read_bytes() == GOOD["cats/cat0.png"]


def test_folder_paths_that_cannot_be_used_are_refused(ws, tmp_path, monkeypatch):
    with pytest.raises(UserError, match="is not a full path"):
        ingest.add_folder("relative/path", "x")
    with pytest.raises(UserError, match="There is no folder /no/such/folder"):
        ingest.add_folder("/no/such/folder", "x")
    with pytest.raises(UserError, match="already one of the workspace's datasets"):
        ingest.add_folder(ws / "datasets", "x")
    write_tree(tmp_path / "ok", GOOD)
    monkeypatch.setenv(IMPORT_ROOT_VAR, str(tmp_path / "only-here"))
    with pytest.raises(UserError, match="Only folders inside .*only-here may be imported"):
        ingest.add_folder(tmp_path / "ok", "x")


def test_a_csv_next_to_its_images_with_missing_rows_reported(ws, tmp_path):
    root = write_tree(tmp_path / "set", GOOD)
    rows = [f"{name},{name.split('/')[0]}" for name in GOOD] + ["cats/gone.png,cats"]
    (root / "labels.csv").write_text("file,label\n" + "\n".join(rows) + "\n")
    report = ingest.add_csv(root / "labels.csv", "fromcsv")
    assert report.classes == {"cats": 5, "dogs": 5}
    assert [(p.file, p.reason) for p in report.skipped] == [
        ("cats/gone.png", "named in labels.csv but not found")
    ]


def test_names_that_are_taken_or_empty_are_refused(ws):
    with pytest.raises(UserError, match="digits is the name of a built-in dataset"):
        ingest.add_archive(io.BytesIO(zip_bytes(GOOD)), "digits")
    for reserved in ("runs", "Models"):  # their trash would share trash/<name>/ with the workspace's own
        with pytest.raises(UserError, match="the workspace uses for its own folders"):
            ingest.add_archive(io.BytesIO(zip_bytes(GOOD)), reserved)
    assert not (ws / "datasets" / "runs").exists()
    ingest.add_archive(io.BytesIO(zip_bytes(GOOD)), "pets")
    with pytest.raises(UserError, match="A dataset called pets already exists"):
        ingest.add_archive(io.BytesIO(zip_bytes(GOOD)), "Pets")
    with pytest.raises(UserError, match="at least one letter or digit"):
        ingest.add_archive(io.BytesIO(zip_bytes(GOOD)), "!!!")
    assert dataset_name("2024 Holiday photos.zip") == "data_2024_holiday_photos"


def test_a_failure_half_way_leaves_nothing_behind(ws, tmp_path, monkeypatch):
    calls = []
    real = images.inspect

    def flaky(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 4:
            raise OSError(28, "No space left on device")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(images, "inspect", flaky)
    before = tree(tmp_path)
    with pytest.raises(
        UserError,
        match="Could not write the dataset into the workspace "
        r"\(No space left on device\). Nothing was added.",
    ):
        ingest.add_archive(io.BytesIO(zip_bytes(GOOD)), "flaky")
    assert tree(tmp_path) == before


def test_temporary_folders_left_by_a_crash_are_cleaned_later(ws):
    stale = ws / "datasets" / f"{TMP_PREFIX}crashed"
    (stale / "raw").mkdir(parents=True)
    old = time.time() - STALE_AFTER - 60
    os.utime(stale, (old, old))
    fresh = ws / "datasets" / f"{TMP_PREFIX}running"
    fresh.mkdir()
    ingest.add_archive(io.BytesIO(zip_bytes(GOOD)), "after")
    assert not stale.exists()
    assert fresh.exists()  # another ingestion may be using it right now


def test_check_files_lists_unreadable_images_and_trash_keeps_them(ws):
    report = ingest.add_archive(io.BytesIO(zip_bytes(GOOD)), "tocheck")
    (report.path / "cats" / "cat1.png").write_bytes(truncated_png())
    (report.path / "dogs" / "dog2.png").write_bytes(b"")
    items = datasets.read_image_folder(report.path)
    problems = images.check_files(report.path, items.files)
    assert [(p.file, p.reason.split(" (")[0]) for p in problems] == [
        ("cats/cat1.png", "it is corrupt or truncated"),
        ("dogs/dog2.png", "it is empty"),
    ]
    folder = access.move_to_trash("tocheck", [p.file for p in problems])
    assert folder.parent == ws / "trash" / "tocheck"
    assert (folder / "cats" / "cat1.png").read_bytes() == truncated_png()
    assert not (report.path / "cats" / "cat1.png").exists()
    assert len(datasets.read_image_folder(report.path).files) == 8
    assert images.check_files(report.path, datasets.read_image_folder(report.path).files) == []
    assert [(e.deletes, e.state) for e in journal.history("tocheck")] == [(2, "applied")]
    with pytest.raises(UserError, match="would leave|not of the form"):
        access.move_to_trash("tocheck", ["../digits/dataset.json"])
    access.undo_last("tocheck")  # a move to the trash is a change like a cleaning: undoable
    assert (report.path / "cats" / "cat1.png").read_bytes() == truncated_png()
    assert len(datasets.read_image_folder(report.path).files) == 10


# --- decoding within bounded memory (the hostile corpus pins the refusals: tests/hostile_images.py)


def _whole_over_white(img) -> np.ndarray:
    from PIL import Image

    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_alpha_laid_over_white_a_strip_at_a_time_gives_the_pixels_of_one_composite(mode):
    from PIL import Image

    rng = np.random.default_rng(0)
    rows = images.STRIP_ROWS * 2 + 37  # three strips, the last one short
    img = Image.fromarray(rng.integers(0, 256, (rows, 23, 4), dtype=np.uint8), "RGBA")
    if mode == "P":
        img = img.convert("RGB").convert("P")
        for x in range(0, 23, 2):
            img.putpixel((x, rows - 1 - x), 3)
        img.info["transparency"] = 3
    else:
        img = img.convert(mode)
    rgb, notes = images.to_rgb(img)
    assert np.array_equal(np.asarray(rgb), _whole_over_white(img))
    assert "transparent areas shown on white" in notes


def test_sixteen_bit_images_scale_to_eight_bits_as_rounding_v_over_257():
    from PIL import Image

    values = np.arange(0, 65536, dtype=np.uint16).reshape(256, 256)
    rgb, notes = images.to_rgb(Image.frombytes("I;16", (256, 256), values.astype("<u2").tobytes()))
    expected = np.clip(np.round(values / 257.0), 0, 255).astype(np.uint8)
    assert np.array_equal(np.asarray(rgb)[..., 0], expected)
    assert notes == ["16-bit image scaled to 8 bits"]
