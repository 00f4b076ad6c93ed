"""Adding multi-label and segmentation data of one's own: bad inputs refused with a sentence, good
ones read back through core.data.layouts exactly as they were handed in."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import workspace
from core.data import datasets, ingest, layouts
from core.data.ingest.report import Report
from core.errors import UserError
from tests.inputs import jpeg, png, tar_bytes, tree, truncated_png, write_tree, zip_bytes

CODES = b"background\ncircle\nsquare\n"


@pytest.fixture
def ws(fresh_workspace) -> Path:
    workspace.subdir("datasets")
    return fresh_workspace


def mask_png(arr, mode: str = "L") -> bytes:
    """A mask PNG of the given pixel values (mode L, P, I;16 or RGB)."""
    buf = io.BytesIO()
    a = np.asarray(arr)
    if mode == "P":
        img = Image.fromarray(a.astype(np.uint8), "L").convert("P")
        img.putdata(a.astype(np.uint8).ravel().tolist())
        img.putpalette([v for i in range(256) for v in ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256)])
    elif mode == "I;16":
        img = Image.fromarray(a.astype(np.uint16))
    else:
        img = Image.fromarray(a.astype(np.uint8), mode)
    img.save(buf, "PNG")
    return buf.getvalue()


def blob(i: int, size: int = 12) -> np.ndarray:
    """Class indices: background, a circle-ish block (1) and a square (2) moving with i."""
    m = np.zeros((size, size), dtype=np.uint8)
    m[1 + i % 3 : 5 + i % 3, 1:5] = 1
    m[6:10, 5 + i % 2 : 9 + i % 2] = 2
    return m


def seg_set(n: int = 4, prefix: str = "", camvid: bool = False, **extra: bytes) -> dict[str, bytes]:
    """images/ + masks/ (or CamVid's labels/<stem>_P.png) + codes.txt, then extra entries."""
    out = {f"{prefix}codes.txt": CODES}
    for i in range(n):
        out[f"{prefix}images/s{i}.png"] = png(seed=i)
        mask = f"labels/s{i}_P.png" if camvid else f"masks/s{i}.png"
        out[f"{prefix}{mask}"] = mask_png(blob(i))
    out.update({k.replace("__", "/"): v for k, v in extra.items()})
    return out


def multi_set(rows: str | None = None, n: int = 6) -> dict[str, bytes]:
    """images/i.png and labels.csv (file,labels) with the rows given, or good ones."""
    out = {f"images/{i}.png": png(seed=i) for i in range(n)}
    if rows is None:
        tags = ["cat", "dog", "cat dog", "", "bird cat", "dog"]
        rows = "file,labels\n" + "".join(f"images/{i}.png,{tags[i % len(tags)]}\n" for i in range(n))
    out["labels.csv"] = rows.encode()
    return out


def upload(entries: dict[str, bytes], task: str | None, name: str = "mine.zip"):
    data = zip_bytes(entries)
    return lambda _where: lambda: ingest.add_archive(io.BytesIO(data), "mine", shown_as=name, task=task)


def folder(entries: dict[str, bytes], task: str | None):
    def make(where: Path):
        write_tree(where / "set", entries)
        return lambda: ingest.add_folder(where / "set", "mine", task=task)

    return make


def beside(entries: dict[str, bytes], task: str | None = "multi_label", link: bool = False):
    """A CSV next to a folder of images, added through the CSV's path."""

    def make(where: Path):
        root = write_tree(where / "set", entries)
        if link:
            secret = write_tree(where / "secret", {"s.png": png()})
            (root / "link").symlink_to(secret, target_is_directory=True)
        return lambda: ingest.add_csv(root / "labels.csv", "mine", task=task)

    return make


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[Path], Callable[[], Report]]
    message: str


M = "multi_label"
S = "segmentation"
WIDE = np.zeros((12, 10), dtype=np.uint8)

REFUSED = [
    # multi-label: the CSV
    Case(
        "multi-wrong-header",
        upload(multi_set("picture,category\nimages/0.png,cat\n"), M),
        "labels.csv starts with 'picture,category', not a header naming a file and a labels column",
    ),
    Case(
        "multi-header-only",
        upload(multi_set("file,labels\n"), M),
        "labels.csv has a header but no rows",
    ),
    Case(
        "multi-tags-split-by-commas",
        upload(multi_set("file,labels\nimages/0.png,cat\nimages/1.png,cat,dog\n"), M),
        "labels.csv, line 3 has 3 cells where the header has 2: 'images/1.png,cat,dog'. "
        "Separate an image's labels with spaces inside one cell, not with commas.",
    ),
    Case(
        "multi-label-list-as-python",
        upload(multi_set("file,labels\nimages/0.png,\"['cat', 'dog']\"\n"), M),
        "labels.csv, line 2: the labels \"['cat', 'dog']\" hold ',' '[' ']'; write an image's labels "
        "separated by single spaces",
    ),
    Case(
        "multi-label-with-a-tab",
        upload(multi_set('file,labels\nimages/0.png,"cat\tdog"\n'), M),
        "contains control characters",
    ),
    Case(
        "multi-label-too-long",
        upload(multi_set(f"file,labels\nimages/0.png,{'x' * 201}\n"), M),
        "is longer than 200 characters",
    ),
    Case(
        "multi-every-label-list-empty",
        upload(multi_set("file,labels\nimages/0.png,\nimages/1.png,  \n"), M),
        "None of the images in labels.csv has a label (every labels cell is empty)",
    ),
    Case(
        "multi-duplicate-rows",
        upload(multi_set("file,labels\nimages/0.png,cat\nimages/1.png,dog\nimages/0.png,dog\n"), M),
        "labels.csv lists 'images/0.png' twice (lines 2 and 4); give each image one line holding all "
        "its labels",
    ),
    Case(
        "multi-row-climbs-out",
        upload(multi_set("file,labels\nimages/0.png,cat\n../../evil.png,dog\n"), M),
        "labels.csv, line 3, names '../../evil.png', which climbs out of its folder with '..'",
    ),
    Case(
        "multi-row-absolute",
        beside(multi_set("file,labels\n/etc/passwd,cat\nimages/0.png,dog\n")),
        "labels.csv, line 2, names the absolute path '/etc/passwd'",
    ),
    Case(
        "multi-row-through-a-link",
        beside(multi_set("file,labels\nimages/0.png,cat\nlink/s.png,dog\n"), link=True),
        "labels.csv, line 3, names 'link/s.png', which leads outside the CSV's folder",
    ),
    Case(
        "multi-every-image-missing",
        upload(multi_set("file,labels\nnope/a.png,cat\nnope/b.png,dog\n"), M),
        "None of the 2 files named in labels.csv exist next to it (the first is 'nope/a.png')",
    ),
    Case(
        "multi-no-csv",
        upload({f"images/{i}.png": png(seed=i) for i in range(3)}, M),
        "There is no labels.csv beside the images",
    ),
    Case(
        "multi-bad-is-valid",
        upload(multi_set("file,labels,is_valid\nimages/0.png,cat,maybe\n"), M),
        "labels.csv, line 2: is_valid must be true or false, not 'maybe'",
    ),
    Case(
        "multi-every-image-valid",
        upload(multi_set("file,labels,is_valid\nimages/0.png,cat,true\nimages/1.png,dog,true\n"), M),
        "The is_valid column of labels.csv marks every image as validation",
    ),
    Case(
        "multi-one-label-only",
        upload(multi_set("file,labels\nimages/0.png,cat\nimages/1.png,cat\nimages/2.png,\n"), M),
        "Every label in labels.csv is 'cat'; a multi-label model needs at least two different labels",
    ),
    # segmentation
    Case(
        "seg-mask-of-another-size",
        upload(seg_set(**{"masks__s1.png": mask_png(WIDE)}), None),
        "masks/s1.png is 10×12 pixels but images/s1.png is 12×12; a mask must match its image pixel "
        "for pixel",
    ),
    Case(
        "seg-index-past-the-codes",
        upload(seg_set(**{"masks__s2.png": mask_png(blob(2) * 3)}), None),
        "masks/s2.png has 32 pixel(s) with values past the codes (up to 6), but codes.txt names 3 "
        "classes, so a mask's values run from 0 to 2",
    ),
    Case(
        "seg-ignore-value-255",
        upload(seg_set(**{"masks__s0.png": mask_png(np.full((12, 12), 255))}), None),
        "255 often marks pixels to ignore; give them a class of codes.txt",
    ),
    Case(
        "seg-image-without-mask",
        upload(seg_set(**{"images__extra.png": png(seed=9)}), None),
        "1 image(s) have no mask; the first is images/extra.png, whose mask would be masks/extra.png",
    ),
    Case(
        "seg-mask-without-image",
        upload(seg_set(**{"masks__ghost.png": mask_png(blob(0))}), None),
        "1 mask(s) have no image; the first is masks/ghost.png",
    ),
    Case(
        "seg-camvid-mask-without-image",
        upload(seg_set(camvid=True, **{"labels__ghost_P.png": mask_png(blob(0))}), None),
        "the first is labels/ghost_P.png, and there is no images/ghost.* beside it "
        "(CamVid's masks are named <image>_P.png)",
    ),
    Case(
        "seg-16-bit-mask-past-the-codes",
        upload(seg_set(**{"masks__s1.png": mask_png(np.full((12, 12), 300), "I;16")}), None),
        "masks/s1.png is a 16-bit mask holding the value 300; codes.txt names 3 classes",
    ),
    Case(
        "seg-colour-mask-without-palette",
        upload(seg_set(**{"masks__s1.png": png(seed=3)}), None),
        "masks/s1.png is a colour (RGB) image; a mask holds a class index per pixel",
    ),
    Case(
        "seg-jpeg-mask",
        upload(seg_set(**{"masks__s1.png": jpeg((1, 1, 1), size=12)}), None),
        "masks/s1.png is a JPEG; masks must be PNG files",
    ),
    Case(
        "seg-no-codes",
        upload({k: v for k, v in seg_set().items() if k != "codes.txt"}, S),
        "There is no codes.txt naming the classes",
    ),
    Case(
        "seg-codes-one-class",
        upload(seg_set(**{"codes.txt": b"background\n"}), S),
        "codes.txt must name at least two classes",
    ),
    Case(
        "seg-codes-twice",
        upload(seg_set(**{"codes.txt": b"background\ncat\ncat\n"}), S),
        "codes.txt names a class twice",
    ),
    Case(
        "seg-palette-colour-not-listed",
        upload(
            {
                **{k: v for k, v in seg_set().items() if k != "codes.txt"},
                "palette.csv": b"r,g,b,class\n0,0,0,background\n255,0,0,circle\n",
                "masks/s0.png": mask_png(np.full((12, 12, 3), 7), "RGB"),
            },
            None,
        ),
        "masks/s0.png holds the colour (7, 7, 7) on 144 pixel(s), which palette.csv does not list",
    ),
    Case(
        "seg-palette-wrong-header",
        upload(
            {**{k: v for k, v in seg_set().items() if k != "codes.txt"}, "palette.csv": b"colour,name\n"},
            None,
        ),
        "palette.csv must start with the header r,g,b,class",
    ),
    Case(
        "seg-codes-and-palette",
        upload(seg_set(**{"palette.csv": b"r,g,b,class\n0,0,0,a\n1,1,1,b\n"}), None),
        "There is both codes.txt (for masks of class indices) and palette.csv (for colour masks)",
    ),
    Case(
        "seg-two-images-one-name",
        upload(seg_set(**{"images__s0.jpg": jpeg(size=12)}), None),
        "are two images with the same name; a mask is found by its image's name",
    ),
    Case(
        "seg-everything-valid",
        upload(seg_set(**{"valid.txt": b"s0.png\ns1.png\ns2.png\ns3.png\n"}), None),
        "valid.txt puts every image in the validation set",
    ),
    Case(
        "seg-as-a-csv",
        beside(multi_set(), task=S),
        "A segmentation set is a folder of images/ with masks/ and codes.txt, not a CSV",
    ),
    Case(
        "seg-zip-climbs-out",
        upload(seg_set(**{"images/../../evil.png": png()}), None),
        "climbs out of its folder with '..'",
    ),
    Case(
        "seg-folder-image-without-mask",
        folder(seg_set(**{"images__lonely.png": png()}), S),
        "whose mask would be masks/lonely.png",
    ),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c.id for c in REFUSED])
def test_a_bad_input_is_refused_with_a_sentence_and_leaves_nothing(ws, tmp_path, case):
    where = tmp_path / "inputs"
    where.mkdir()
    run = case.make(where)
    before = tree(tmp_path)
    with pytest.raises(UserError) as refused:
        run()
    assert case.message in str(refused.value)
    assert "Traceback" not in str(refused.value)
    assert tree(tmp_path) == before  # nothing written outside the workspace (nor into the source)
    assert list((ws / "datasets").iterdir()) == []  # no dataset, no temporary folder


def meta(report: Report) -> dict:
    return json.loads((report.path / datasets.META_FILE).read_text())


# --- multi-label, good ------------------------------------------------------------------------


def test_a_zip_with_a_labels_csv_reads_back_as_its_label_sets(ws):
    rows = "file,labels,is_valid\n" + "".join(
        f"images/{i}.png,{['cat', 'dog', 'cat dog', '', 'bird cat', 'dog'][i]},{i >= 4}\n" for i in range(6)
    )
    report = ingest.add_archive(io.BytesIO(zip_bytes(multi_set(rows))), "pets", task=M)
    assert report.summary() == "Added pets: 6 images with 3 labels (bird 1, cat 3, dog 3)."
    items = layouts.read_multi(report.path)
    assert items.files == [f"images/{i}.png" for i in range(6)]
    assert items.labels == [("cat",), ("dog",), ("cat", "dog"), (), ("bird", "cat"), ("dog",)]
    assert items.is_valid == [False] * 4 + [True] * 2
    assert items.vocab == ["bird", "cat", "dog"]
    info = meta(report)
    assert info["task"] == M and info["n_images"] == 6 and info["unlabelled"] == 1
    assert info["split"] == "the is_valid column of labels.csv"
    assert (report.path / "labels.csv").read_text().splitlines()[0] == "file,labels,is_valid"


@pytest.mark.parametrize("header", ["file,labels", "image_name,tags"])
def test_left_to_find_out_a_labels_or_tags_csv_is_read_as_several_labels(ws, tmp_path, header):
    rows = (
        header + "\n" + "".join(f"images/{i}.png,{['cat', 'cat dog', '', 'dog'][i % 4]}\n" for i in range(6))
    )
    report = ingest.add_archive(io.BytesIO(zip_bytes(multi_set(rows))), "auto", task=None)
    assert meta(report)["task"] == M
    assert layouts.read_multi(report.path).labels[1] == ("cat", "dog")  # a set, not a class "cat dog"
    write_tree(tmp_path / "beside", multi_set(rows))
    report = ingest.add_csv(tmp_path / "beside" / "labels.csv", "auto_csv")
    assert meta(report)["task"] == M


def test_planet_labels_without_extensions_are_found_in_train(ws):
    entries = {f"planet/train/train_{i}.jpg": jpeg((10 * i, 90, 30), size=16) for i in range(4)}
    entries["planet/labels.csv"] = (
        b"image_name,tags\ntrain_0,haze primary\ntrain_1,clear\ntrain_2,clear water\n"
    )
    report = ingest.add_archive(io.BytesIO(tar_bytes(entries)), "planet")  # found from the tags header
    assert report.task == M
    items = layouts.read_multi(report.path)
    assert items.files == ["images/train_0.jpg", "images/train_1.jpg", "images/train_2.jpg"]
    assert items.labels == [("haze", "primary"), ("clear",), ("clear", "water")]
    assert [(p.file, p.reason) for p in report.skipped] == [("train/train_3.jpg", "not named in labels.csv")]
    assert (report.path / "labels.csv").read_text().splitlines()[0] == "file,labels"


def test_a_csv_next_to_a_folder_copies_only_the_images_it_names(ws, tmp_path):
    source = write_tree(tmp_path / "sat", {f"train/t{i}.jpg": jpeg((20 * i, 50, 50)) for i in range(5)})
    (source / "notes.txt").write_text("not an image")
    (source / "labels.csv").write_text("image_name,tags\nt0,road\nt1,road water\nt2,water\nt9,road\n")
    before = tree(source)
    report = ingest.add_csv(source / "labels.csv", "sat")
    items = layouts.read_multi(report.path)
    assert items.labels == [("road",), ("road", "water"), ("water",)]
    assert [(p.file, p.reason) for p in report.skipped] == [("t9", "named in labels.csv but not found")]
    assert tree(source) == before
    assert not (report.path / "notes.txt").exists()


def test_a_folder_with_a_labels_csv_and_a_broken_image(ws, tmp_path):
    entries = {**multi_set(), "images/2.png": truncated_png()}
    source = write_tree(tmp_path / "mine", entries)
    report = ingest.add_folder(source, "mine", task=M)
    items = layouts.read_multi(report.path)
    assert "images/2.png" not in items.files and len(items.files) == 5
    assert [p.file for p in report.skipped] == ["images/2.png"]
    assert "corrupt or truncated" in report.skipped[0].reason


def test_labels_that_look_like_paths_or_markup_stay_text(ws, tmp_path):
    rows = "file,labels\nimages/0.png,../../etc/passwd\nimages/1.png,<b>bold</b> =SUM(A1)\nimages/2.png,ok\n"
    before = tree(tmp_path)
    report = ingest.add_archive(io.BytesIO(zip_bytes(multi_set(rows, n=3))), "odd", task=M)
    items = layouts.read_multi(report.path)
    assert items.vocab == ["../../etc/passwd", "<b>bold</b>", "=SUM(A1)", "ok"]
    assert set(tree(tmp_path)) - set(before) <= {p for p in tree(tmp_path) if p.startswith("ws/datasets/odd")}
    assert sorted(p.name for p in report.path.iterdir()) == ["dataset.json", "images", "labels.csv"]
    assert "&lt;b&gt;" in report.summary(show=lambda t: t.replace("<", "&lt;").replace(">", "&gt;"))


# --- segmentation, good -----------------------------------------------------------------------


def masks_of(report: Report) -> list[np.ndarray]:
    items = layouts.read_seg(report.path)
    out = []
    for rel in items.masks:
        with Image.open(report.path / rel) as m:
            assert m.mode == "L"
            out.append(np.asarray(m))
    return out


def test_index_masks_in_a_wrapping_folder_read_back_unchanged(ws):
    report = ingest.add_archive(io.BytesIO(zip_bytes(seg_set(prefix="scenes/"))), "scenes")
    assert report.task == S
    assert report.summary() == "Added scenes: 4 images with masks of 3 classes (background, circle, square)."
    items = layouts.read_seg(report.path)
    assert items.codes == ["background", "circle", "square"]
    assert items.files == [f"images/s{i}.png" for i in range(4)]
    assert items.masks == [f"masks/s{i}.png" for i in range(4)]
    assert all((m == blob(i)).all() for i, m in enumerate(masks_of(report)))
    info = meta(report)
    assert info["task"] == S and info["codes"] == items.codes and info["converted_masks"] == 0


def test_palette_16_bit_and_grey_rgb_masks_become_the_same_indices(ws):
    entries = seg_set(
        **{
            "masks__s0.png": mask_png(blob(0), "P"),
            "masks__s1.png": mask_png(blob(1), "I;16"),
            "masks__s2.png": mask_png(np.repeat(blob(2)[..., None], 3, axis=2), "RGB"),
        }
    )
    report = ingest.add_archive(io.BytesIO(zip_bytes(entries)), "modes", task=S)
    assert all((m == blob(i)).all() for i, m in enumerate(masks_of(report)))
    assert meta(report)["converted_masks"] == 3


def test_colour_masks_with_a_palette_become_class_indices(ws):
    colours = {0: (0, 0, 0), 1: (255, 0, 0), 2: (0, 0, 255)}
    entries = {f"images/s{i}.png": png(seed=i) for i in range(3)}
    for i in range(3):
        rgb = np.array([colours[v] for v in blob(i).ravel()], dtype=np.uint8).reshape(12, 12, 3)
        entries[f"masks/s{i}.png"] = mask_png(rgb, "RGB")
    entries["palette.csv"] = b"r,g,b,class\n0,0,0,background\n255,0,0,circle\n0,0,255,square\n9,9,9,circle\n"
    report = ingest.add_archive(io.BytesIO(zip_bytes(entries)), "coloured")
    assert layouts.read_seg(report.path).codes == ["background", "circle", "square"]
    assert (report.path / "codes.txt").read_text() == "background\ncircle\nsquare\n"
    assert all((m == blob(i)).all() for i, m in enumerate(masks_of(report)))


def test_the_camvid_layout_keeps_its_validation_list(ws, tmp_path):
    entries = seg_set(n=5, camvid=True, **{"valid.txt": b"s1.png\ns3.png\nnot_there.png\n", "README": b"hi"})
    source = write_tree(tmp_path / "camvid", entries)
    report = ingest.add_folder(source, "camvid")
    items = layouts.read_seg(report.path)
    assert items.masks == [f"masks/s{i}.png" for i in range(5)]
    assert items.is_valid == [False, True, False, True, False]
    assert (report.path / "valid.txt").read_text() == "s1.png\ns3.png\n"
    reasons = {p.file: p.reason for p in report.skipped}
    assert reasons["valid.txt"] == "1 line(s) name no image, e.g. 'not_there.png'"
    assert "not part of a segmentation set" in reasons["README"]


def test_a_broken_image_or_mask_is_skipped_with_its_partner(ws):
    entries = seg_set(n=5, **{"images__s1.png": truncated_png(), "masks__s3.png": b""})
    report = ingest.add_archive(io.BytesIO(zip_bytes(entries)), "broken", task=S)
    items = layouts.read_seg(report.path)
    assert items.files == ["images/s0.png", "images/s2.png", "images/s4.png"]
    reasons = {p.file: p.reason for p in report.skipped}
    assert reasons["images/s1.png"].endswith("its mask masks/s1.png is left out too")
    assert reasons["masks/s3.png"] == "it is empty (0 bytes); its image images/s3.png is left out too"
    assert not list((report.path / "masks").glob("s1*")) and not list((report.path / "images").glob("s3*"))


# --- the Data page's "Add a dataset" ----------------------------------------------------------


@pytest.fixture(scope="module")
def digits_once(tmp_path_factory) -> Path:
    """Digits written once for this module's page tests (each workspace links to it)."""
    root = tmp_path_factory.mktemp("digits_once")
    old = os.environ[workspace.ENV_VAR]
    os.environ[workspace.ENV_VAR] = str(root)
    try:
        return datasets.ensure_digits()
    finally:
        os.environ[workspace.ENV_VAR] = old


def test_the_add_view_offers_each_kind_and_shows_refusals(ws, tmp_path, digits_once, monkeypatch):
    from core.data import download
    from tests.apptest import open_page

    monkeypatch.setattr(download, "availability", lambda *a, **k: (False, "offline for the test"))
    (ws / "datasets" / "digits").symlink_to(digits_once, target_is_directory=True)
    good = write_tree(tmp_path / "streets", seg_set())
    bad = write_tree(tmp_path / "broken", seg_set(**{"masks__s1.png": mask_png(WIDE)}))
    at = open_page("../pages/data.py")
    kinds = at.radio(key="add_folder_kind")
    assert kinds.options == [
        "Find out from the layout",
        "One label per image",
        "Several labels per image",
        "A mask per image",
    ]
    assert at.radio(key="add_csv_kind").options == kinds.options[:3]
    kinds.set_value("A mask per image")
    at.text_input(key="add_folder_path").set_value(str(bad)).run()
    next(b for b in at.button if b.label == "Add the folder").click().run()
    assert [e.value for e in at.error] == [
        "masks/s1.png is 10×12 pixels but images/s1.png is 12×12; a mask must match its image pixel "
        "for pixel. Nothing was added."
    ]
    at.text_input(key="add_folder_path").set_value(str(good)).run()
    next(b for b in at.button if b.label == "Add the folder").click().run()
    assert not at.exception, at.exception
    assert "Added streets: 4 images with masks of 3 classes (background, circle, square)." in [
        s.value.replace("\\", "") for s in at.success
    ]
    assert layouts.read_seg(ws / "datasets" / "streets").codes == ["background", "circle", "square"]
