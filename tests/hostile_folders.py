"""Folder, CSV-with-images and name cases of the arc_ corpus (formula-looking labels and tags)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.hostile import Case
from tests.hostile_acts import (
    GOOD,
    GOOD_ROWS,
    _bytes_csv,
    _csv_rows,
    const,
    csv_beside,
    csv_import,
    folder,
    kept_csv,
    kept_folder,
    tree_at,
)
from tests.inputs import png, write_tree

FORMULAS = ["=cmd|'/c calc'!A1", "+1", "-2", "@x", "=1+1"]


def _formula_set(tmp: Path) -> Path:
    entries, rows = {}, []
    for i, label in enumerate(FORMULAS):
        for j in range(2):
            entries[f"{i}{j}.png"] = png(seed=10 * i + j)
            rows.append(f'{i}{j}.png,"{label.replace(chr(34), chr(34) * 2)}"')
    root = write_tree(tmp / "set", entries)
    (root / "labels.csv").write_text(_csv_rows(rows), encoding="utf-8")
    return root / "labels.csv"


def _formula_labels_agree(path: Path):
    """A single-label CSV with formula-looking labels: imported as they are, and every part that
    reads or checks a label (the dataset reader, the bundle format, the relabel check) agrees."""
    from core.data import datasets, ingest, labels
    from core.serving import format as bundle_format

    report = ingest.add_csv(path, "formulas")
    assert sorted(report.classes) == sorted(FORMULAS), report.classes
    items = datasets.read_image_folder(report.path)
    assert sorted(items.vocab) == sorted(FORMULAS), items.vocab
    for label in FORMULAS:
        bundle_format.check_label(label, "The class name")
        labels.check_label(label, "A relabel target")
    assert set(labels.folder_names(FORMULAS)) == set(FORMULAS)


def _formula_tags(tmp: Path) -> Path:
    tags = ["+1 -2", "@x =1+1", "+1 @x", "-2 =SUM(A1)", "=1+1", "+1"]
    entries = {f"{i}.png": png(seed=i) for i in range(len(tags))}
    root = write_tree(tmp / "set", entries)
    rows = [f"{i}.png,{t}" for i, t in enumerate(tags)]
    (root / "labels.csv").write_text(_csv_rows(rows, "file,labels"), encoding="utf-8")
    return root / "labels.csv"


def _formula_tags_agree(path: Path):
    """A multi-label CSV whose tags look like formulas: imported, and read back the same."""
    from core.analysis import marks
    from core.data import ingest, layouts

    report = ingest.add_csv(path, "tags", task="multi_label")
    assert sorted(report.classes) == sorted(["+1", "-2", "@x", "=1+1", "=SUM(A1)"]), report.classes
    rows = layouts.read_labels_csv(report.path / layouts.MULTI_CSV)
    assert {t for _, tags, _ in rows for t in tags} == set(report.classes)
    for tag in report.classes:  # a retag on the Results page takes the same tags as new ones
        assert marks.check_tags([tag]) == tag


def _loop(root: Path) -> Path:
    (root / "loop").symlink_to(root / "loop")
    return root / "loop"


def _self_loop_inside(root: Path) -> None:
    (root / "cats" / "again").symlink_to(root)
    (root / "dogs" / "z.png").symlink_to(root / "dogs" / "z.png")


def _fifo(root: Path) -> None:
    os.mkfifo(root / "cats" / "pipe.png")


def _formula_folder(tmp: Path) -> Path:
    entries = {f"=cmd|'x'!A1/{i}.png": png(seed=i) for i in range(3)}
    entries.update({f"@SUM(1)/{i}.png": png((0, 0, 200), seed=i) for i in range(3)})
    return write_tree(tmp / "=HYPERLINK(1)", entries)


def _formula_folder_kept(path: Path):
    from core.data import datasets, ingest

    report = ingest.add_folder(path, "formula")
    assert report.classes == {"=cmd|'x'!A1": 3, "@SUM(1)": 3}, report.classes
    assert sorted(datasets.read_image_folder(report.path).vocab) == ["=cmd|'x'!A1", "@SUM(1)"]


def _big_sparse_csv(tmp: Path) -> Path:
    root = write_tree(tmp / "set", GOOD)
    with open(root / "labels.csv", "wb") as f:
        f.write(b"file,label\n")
        f.truncate(25 * 2**20)
    return root / "labels.csv"


def _many_rows_csv(tmp: Path) -> Path:
    root = write_tree(tmp / "set", GOOD)
    (root / "labels.csv").write_bytes(b"file,label\n" + b"a,b\n" * 4_000_000)
    return root / "labels.csv"


def folder_csv_cases() -> list[Case]:
    f, c = "folder", "csv_images"
    return [
        Case("arc_folder_nul_in_path", const("/tmp/a\0b"), folder(), match=r"NUL", kind=f),
        Case(
            "arc_folder_is_a_file",
            lambda t: write_tree(t / "x", {"f.png": png()}) / "f.png",
            folder(),
            match=r"no folder",
            kind=f,
        ),
        Case("arc_folder_symlink_loop", tree_at(GOOD, _loop), folder(), match=r"link|loop|no folder", kind=f),
        Case(
            "arc_folder_links_inside",
            tree_at(GOOD, _self_loop_inside),
            kept_folder(skipped={"cats/again/": "link", "dogs/z.png": "link"}),
            expect="accepted",
            kind=f,
        ),
        Case(
            "arc_folder_fifo_inside",
            tree_at(GOOD, _fifo),
            kept_folder(skipped={"cats/pipe.png": "not a regular file"}),
            expect="accepted",
            kind=f,
        ),
        Case("arc_folder_relative_path", const("relative/pics"), folder(), match=r"not a full path", kind=f),
        Case("arc_folder_empty_text", const("   "), folder(), match=r"Give the path", kind=f),
        Case(
            "arc_folder_named_like_formula",
            _formula_folder,
            _formula_folder_kept,
            expect="accepted",
            kind="names",
        ),
        Case(
            "arc_folder_only_junk",
            tree_at({"a/x.txt": b"t", "b/y.png": b""}),
            folder(),
            match=r"No usable images",
            kind=f,
        ),
        Case("arc_csv_nul_in_path", const("/tmp/x\0.csv"), csv_import(), match=r"NUL", kind=c),
        Case(
            "arc_csv_row_nul",
            csv_beside(_csv_rows([*GOOD_ROWS, "cats/a\0b.png,cats"])),
            csv_import(),
            match=r"NUL|readable CSV",
            kind=c,
        ),
        Case(
            "arc_csv_row_dotdot",
            csv_beside(_csv_rows([*GOOD_ROWS, "../../etc/passwd,cats"])),
            csv_import(),
            match=r"climbs out",
            kind=c,
        ),
        Case(
            "arc_csv_row_absolute",
            csv_beside(_csv_rows([*GOOD_ROWS, "/etc/passwd,cats"])),
            csv_import(),
            match=r"absolute path",
            kind=c,
        ),
        Case(
            "arc_csv_not_utf8",
            _bytes_csv(b"file,label\n\xff\xfe,\xff\n"),
            csv_import(),
            match=r"not UTF-8|not a text",
            kind=c,
        ),
        Case("arc_csv_over_size", _big_sparse_csv, csv_import(), match=r"larger than", kind=c),
        Case(
            "arc_csv_millions_of_rows",
            _many_rows_csv,
            csv_import(),
            match=r"more than|rows|larger than",
            kind=c,
        ),
        Case(
            "arc_csv_huge_field",
            _bytes_csv(b"file,label\n" + b"x" * 5_000_000 + b",cats\n"),
            csv_import(),
            match=r"readable CSV|field",
            kind=c,
        ),
        Case(
            "arc_csv_row_is_a_folder",
            csv_beside(_csv_rows([*GOOD_ROWS, "cats,cats"])),
            kept_csv(),
            expect="accepted",
            kind=c,
        ),
        Case(
            "arc_csv_multi_list_marks",
            csv_beside(_csv_rows([f"{p},{p.split('/')[0]}|x" for p in GOOD], "file,labels")),
            csv_import("multi_label"),
            match=r"hold '\|'",
            kind=c,
        ),
        Case(
            "arc_names_formula_tag_with_bar",
            csv_beside(_csv_rows([f"{p},{p.split('/')[0]} =cmd|'/c" for p in GOOD], "file,labels")),
            csv_import("multi_label"),
            match=r"the labels \"cats =cmd\|'/c\" hold '\|'; write an image's labels separated",
            kind="names",
        ),
        Case(
            "arc_csv_missing_all",
            csv_beside(_csv_rows(["nope/a.png,cats", "nope/b.png,dogs"])),
            csv_import(),
            match=r"None of the 2 files",
            kind=c,
        ),
        Case(
            "arc_names_formula_labels_agree",
            _formula_set,
            _formula_labels_agree,
            expect="accepted",
            kind="names",
        ),
        Case(
            "arc_names_formula_tags_agree",
            _formula_tags,
            _formula_tags_agree,
            expect="accepted",
            kind="names",
        ),
    ]
