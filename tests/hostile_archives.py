"""The archive, folder, CSV-with-images, image and name corpus (cases named arc_*), run by
tests/hostile.py: every input is refused with the sentence a person reads, or accepted with the bad
member skipped as documented (then the act checks what was kept and raises AssertionError if not).

Inputs are made at test time (tests/hostile_builders.py does the byte surgery).
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

from tests import hostile_builders as b
from tests.hostile import Case
from tests.inputs import jpeg, pixel_bomb_png, png, tar_bytes, truncated_png, write_tree, zip_bytes

GOOD = b.GOOD
DAMAGED = r"damaged|not a readable zip|cut short"


# --- entry points --------------------------------------------------------------------------------


def upload(name: str = "upload.zip"):
    """The Data page's upload: add_archive on the uploaded bytes."""

    def act(data: bytes):
        from core.data import ingest

        return ingest.add_archive(io.BytesIO(data), "upload", shown_as=name)

    return act


def kept(name: str = "upload.zip", skipped: dict[str, str] | None = None, classes: dict | None = None, cpu: float = 0):
    """add_archive accepts: the good images are kept; each file in skipped is reported with a
    reason matching its regex; with cpu, the import took at most that many CPU seconds."""

    def act(data: bytes):
        import re

        from core.data import ingest

        t0 = time.process_time()
        report = ingest.add_archive(io.BytesIO(data), "upload", shown_as=name)
        took = time.process_time() - t0
        want = classes or {"cats": 5, "dogs": 5}
        assert report.classes == want, report.classes
        for file, reason in (skipped or {}).items():
            assert any(p.file == file and re.search(reason, p.reason) for p in report.skipped), report.skipped
        assert not cpu or took <= cpu, f"{took:.2f} s CPU"

    return act


def folder(name: str = "pics"):
    """The Data page's folder import: add_folder on a path (or text) on this machine."""

    def act(path):
        from core.data import ingest

        return ingest.add_folder(path, name)

    return act


def csv_import(task: str | None = None):
    """The Data page's CSV import: add_csv on the path of a CSV beside its images."""

    def act(path):
        from core.data import ingest

        return ingest.add_csv(path, "fromcsv", task=task)

    return act


def predict_upload(name: str = "upload.png"):
    """The Predict page's image upload: open_image on the uploaded bytes."""

    def act(data: bytes):
        from core.serving import predict

        predict.open_image(data, name)

    return act


def zipped(entries: dict[str, bytes]):
    return lambda _tmp: zip_bytes({**GOOD, **entries})


def const(value):
    return lambda _tmp: value


def tree_at(entries: dict[str, bytes], then=None):
    """make: write entries under tmp/set (then(root) may add links and the like); returns the folder."""

    def make(tmp: Path):
        root = write_tree(tmp / "set", entries)
        if then:
            return then(root) or root
        return root

    return make


def csv_beside(text: str, entries: dict[str, bytes] | None = None):
    """make: the good images with labels.csv holding text; returns the CSV's path."""

    def make(tmp: Path):
        root = write_tree(tmp / "set", entries or GOOD)
        (root / "labels.csv").write_text(text, encoding="utf-8")
        return root / "labels.csv"

    return make


def _members(n_good: int = 10, **over) -> list[b.Member]:
    return b.good_members()[:n_good]


def _lie(index: int, **fields):
    """make: the good images as a hand-built zip, member index's headers changed."""

    def make(_tmp):
        members = b.good_members()
        for k, v in fields.items():
            setattr(members[index], k, v)
        return b.raw_zip(members)

    return make


def _hand_zip(extra: list[b.Member], **kw):
    return lambda _tmp: b.raw_zip(b.good_members() + extra, **kw)


def _csv_rows(rows: list[str], header: str = "file,label") -> str:
    return header + "\n" + "\n".join(rows) + "\n"


GOOD_ROWS = [f"{p},{p.split('/')[0]}" for p in GOOD]
FORMULAS = ["=cmd|'/c calc'!A1", "+1", "-2", "@x", "=1+1"]


def _formula_set(tmp: Path) -> Path:
    entries, rows = {}, []
    for i, label in enumerate(FORMULAS):
        for j in range(2):
            entries[f"{i}{j}.png"] = png(seed=10 * i + j)
            rows.append(f"{i}{j}.png,\"{label.replace(chr(34), chr(34) * 2)}\"")
    root = write_tree(tmp / "set", entries)
    (root / "labels.csv").write_text(_csv_rows(rows), encoding="utf-8")
    return root / "labels.csv"


def _formula_labels_agree(path: Path):
    """A single-label CSV with formula-looking labels: imported as they are, and every part that
    reads or checks a label (the dataset reader, the bundle format, the relabel check) agrees."""
    from core.analysis import marks
    from core.data import datasets, ingest
    from core.serving import format as bundle_format

    report = ingest.add_csv(path, "formulas")
    assert sorted(report.classes) == sorted(FORMULAS), report.classes
    items = datasets.read_image_folder(report.path)
    assert sorted(items.vocab) == sorted(FORMULAS), items.vocab
    for label in FORMULAS:
        bundle_format.check_label(label, "The class name")
        marks.check_tags([t for t in label.split() if t])


def _formula_tags(tmp: Path) -> Path:
    tags = ["+1 -2", "@x =1+1", "+1 @x", "-2 =SUM(A1)", "=1+1", "+1"]
    entries = {f"{i}.png": png(seed=i) for i in range(len(tags))}
    root = write_tree(tmp / "set", entries)
    rows = [f"{i}.png,{t}" for i, t in enumerate(tags)]
    (root / "labels.csv").write_text(_csv_rows(rows, "file,labels"), encoding="utf-8")
    return root / "labels.csv"


def _formula_tags_agree(path: Path):
    """A multi-label CSV whose tags look like formulas: imported, and read back the same."""
    from core.data import ingest, layouts

    report = ingest.add_csv(path, "tags", task="multi_label")
    assert sorted(report.classes) == sorted(["+1", "-2", "@x", "=1+1", "=SUM(A1)"]), report.classes
    rows = layouts.read_labels_csv(report.path / layouts.MULTI_CSV)
    assert {t for _, tags, _ in rows for t in tags} == set(report.classes)


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


def _tar_gz(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, 1)


def cases() -> list[Case]:
    """Every arc_ case."""
    from tests.hostile_images import image_cases

    return _zip_cases() + _tar_cases() + _folder_csv_cases() + image_cases()


def _zip_cases() -> list[Case]:
    z = "zip"
    bomb_mb = 300
    return [
        Case("arc_zip_cd_offset_too_large", lambda _t: b.raw_zip(b.good_members(), cd_offset_delta=4000), upload(), match=DAMAGED, kind=z),
        Case("arc_zip_cd_offset_too_small", lambda _t: b.raw_zip(b.good_members(), cd_offset_delta=-77), upload(), match=DAMAGED, kind=z),
        Case("arc_zip_member_offset_past_end", _lie(3, offset=0x7FFFFF00), upload(), match=DAMAGED, kind=z),
        Case("arc_zip_member_offset_mid_data", _lie(3, offset=7), upload(), match=DAMAGED, kind=z),
        Case("arc_zip_member_offset_same_as_other", _lie(3, offset=0), upload(), match=r"overlapping entries|damaged", kind=z),
        Case("arc_zip_csize_larger_than_data", _lie(9, csize=10_000), upload(), match=DAMAGED, kind=z),
        Case("arc_zip_csize_smaller_than_data", _lie(2, csize=20), upload(), match=DAMAGED, kind=z),
        Case("arc_zip_usize_smaller_stored", _lie(2, usize=20), upload(), match=DAMAGED, kind=z),
        Case("arc_zip_crc_wrong", _lie(4, crc=12345), upload(), match=DAMAGED, kind=z),
        Case("arc_zip_method_unsupported", _lie(1, method=99), upload(), match=r"compression", kind=z),
        Case("arc_zip_method_deflate_garbage", _lie(1, method=8), upload(), match=DAMAGED, kind=z),
        Case("arc_zip_version_needed_too_new", _lie(1, version=99), upload(), match=r"version|damaged", kind=z),
        Case("arc_zip_encrypted_flag", _lie(5, flags=1), upload(), match=r"encrypted", kind=z),
        Case("arc_zip_local_name_differs", _lie(5, local_name=b"cats/other.png"), upload(), match=DAMAGED, kind=z),
        Case(
            "arc_zip_inflates_past_declared_size",
            _hand_zip([b.Member("cats/big.png", b.deflated_zeros(bomb_mb), method=8, usize=1000, crc=1)]),
            upload(), match=DAMAGED, kind=z,
        ),
        Case(
            "arc_zip_inflates_past_declared_size_crc_right",
            _hand_zip([b.Member("cats/big.png", b.deflated_zeros(bomb_mb), method=8, usize=1000, crc=b.zlib.crc32(b"\0" * 1000))]),
            kept(skipped={"cats/big.png": "not a PNG"}, cpu=2), expect="accepted", kind=z,
        ),
        Case(
            "arc_zip_bomb_declared_honestly",
            _hand_zip([b.Member(f"cats/z{i}.bin", b.deflated_zeros(bomb_mb), method=8, usize=bomb_mb * b.MB, crc=0) for i in range(8)]),
            upload(), match=r"zip bomb|expand", kind=z,
        ),
        Case(
            "arc_zip_skipped_member_not_inflated",
            _hand_zip([b.Member("cats/huge.png", b.deflated_zeros(bomb_mb), method=8, usize=bomb_mb * b.MB, crc=0)]),
            upload(), match=r"expand|bomb", kind=z,
        ),
        Case(
            "arc_zip_over_file_limit_skipped_unread",
            _hand_zip([b.Member("cats/huge.png", b"\0" * 100, method=8, usize=100 * b.MB, crc=0)]),
            kept(skipped={"cats/huge.png": "larger than"}, cpu=1), expect="accepted", kind=z,
        ),
        Case(
            "arc_zip64_extra_absurd_size",
            _hand_zip([b.Member("cats/x.png", b"abc", usize=0xFFFFFFFF, csize=0xFFFFFFFF, extra=b.zip64_extra(2**62, 3))]),
            upload(), match=r"expand|bomb|damaged", kind=z,
        ),
        Case(
            "arc_zip64_extra_truncated",
            _hand_zip([b.Member("cats/x.png", b"abc", usize=0xFFFFFFFF, extra=b"\x01\x00\x10\x00\x01")]),
            upload(), match=DAMAGED, kind=z,
        ),
        Case("arc_zip64_locator_points_nowhere", lambda _t: b.raw_zip(b.good_members(), zip64_locator=2**40), upload(), match=DAMAGED, kind=z),
        Case("arc_zip64_locator_points_inside", lambda _t: b.raw_zip(b.good_members(), zip64_locator=40), upload(), match=DAMAGED, kind=z),
        Case("arc_zip_split_across_disks", lambda _t: b.raw_zip(b.good_members(), disk=3), upload(), match=r"damaged|disk|not a readable", kind=z),
        Case("arc_zip_count_lies", lambda _t: b.raw_zip(b.good_members(), count=65535), kept(), expect="accepted", kind=z),
        Case("arc_zip_100k_members", lambda _t: b.many_members_zip(100_000), upload(), match=r"100,000 entries|more than the 50,000", kind=z),
        Case(
            "arc_zip_duplicate_names",
            _hand_zip([b.stored("cats/cat0.png", png(seed=9))]), upload(), match=r"more than once", kind=z,
        ),
        Case("arc_zip_name_with_nul", _hand_zip([b.stored("cats/a.png\0../../evil", png(seed=7))]), upload(), match=r"NUL|damaged|differ", kind=z),
        Case("arc_zip_absolute_path", zipped({"/etc/evil.png": png()}), upload(), match=r"absolute path", kind=z),
        Case("arc_zip_dotdot", zipped({"cats/../../evil.png": png()}), upload(), match=r"climbs out", kind=z),
        Case("arc_zip_backslash_dotdot", zipped({"..\\..\\evil.png": png()}), upload(), match=r"climbs out", kind=z),
        Case("arc_zip_drive_letter", zipped({"C:\\evil.png": png()}), upload(), match=r"absolute path", kind=z),
        Case(
            "arc_zip_very_long_name",
            zipped({"cats/" + "a" * 60_000 + ".png": png(seed=3)}),
            kept(), expect="accepted", kind=z,
        ),
        Case("arc_zip_long_class_name", zipped({"b" * 300 + "/x.png": png(seed=3)}), kept(skipped={"b" * 300 + "/x.png": "longer than"}), expect="accepted", kind=z),
        Case("arc_zip_nested_zip", zipped({"cats/inner.png": zip_bytes(GOOD)}), kept(skipped={"cats/inner.png": "zip archive"}), expect="accepted", kind=z),
        Case("arc_zip_empty", const(zip_bytes({})), upload("empty.zip"), match=r"empty\.zip is empty", kind=z),
        Case("arc_zip_end_record_only", const(b"PK\x05\x06" + b"\0" * 18), upload("end.zip"), match=r"is empty", kind=z),
        Case("arc_zip_not_an_archive", const(b"hello, I am text\n" * 10), upload("notes.zip"), match=r"not a zip or tar archive: its content is text", kind=z),
        Case("arc_zip_zero_bytes", const(b""), upload("nothing.zip"), match=r"not a zip or tar archive: it is empty", kind=z),
        Case("arc_zip_cut_in_half", lambda _t: zip_bytes(GOOD)[:700], upload(), match=DAMAGED, kind=z),
        Case("arc_zip_symlink", lambda _t: zip_bytes(GOOD, symlinks={"cats/l.png": "/etc/passwd"}), upload(), match=r"symbolic link", kind=z),
        Case("arc_zip_junk_before", lambda _t: b"MZ" + b"\0" * 600 + zip_bytes(GOOD), upload(), match=r"not a zip or tar", kind=z),
        Case("arc_zip_huge_comment", lambda _t: b.raw_zip(b.good_members(), comment=b"c" * 65535), kept(), expect="accepted", kind=z),
        Case("arc_zip_hidden_encrypted_member", _hand_zip([b.Member("__MACOSX/._x", b"x", flags=1)]), kept(), expect="accepted", kind=z),
    ]


def _tar_cases() -> list[Case]:
    t = "tar"
    head_big = b.tar_header("cats/big.png", 0, size_field=b"\x80" + b"\0" * 3 + b"\xff" * 8)
    return [
        Case("arc_tar_symlink", lambda _t: tar_bytes(GOOD, links={"cats/l.png": "/etc/passwd"}), upload("s.tgz"), match=r"is a link", kind=t),
        Case("arc_tar_hardlink", lambda _t: tar_bytes(GOOD, hardlinks={"cats/l.png": "/etc/passwd"}), upload("s.tgz"), match=r"is a link", kind=t),
        Case("arc_tar_char_device", lambda _t: tar_bytes(GOOD, devices=("cats/null.png",)), upload("s.tgz"), match=r"device or special", kind=t),
        Case("arc_tar_fifo", lambda _t: b.tar_with(GOOD, {"cats/p.png": b"6"}), upload("s.tgz"), match=r"device or special", kind=t),
        Case("arc_tar_dotdot", lambda _t: tar_bytes({**GOOD, "../../evil.png": png()}), upload("s.tgz"), match=r"climbs out", kind=t),
        Case("arc_tar_absolute", lambda _t: tar_bytes({**GOOD, "/tmp/evil.png": png()}), upload("s.tgz"), match=r"absolute path", kind=t),
        Case(
            "arc_tar_size_lies_huge_octal",
            lambda _t: b.good_tar() + b.tar_header("cats/big.png", 8**11 - 1) + b"\0" * 4096,
            upload("s.tar"), match=r"damaged|cut short|more than", kind=t,
        ),
        Case("arc_tar_size_base256_absurd", lambda _t: b.good_tar() + head_big + b"\0" * 4096, upload("s.tar"), match=r"damaged|cut short|more than", kind=t),
        Case(
            "arc_tgz_size_base256_absurd",
            lambda _t: _tar_gz(b.good_tar() + head_big + b"\0" * 4096), upload("s.tgz"), match=r"damaged|cut short|more than", kind=t,
        ),
        Case(
            "arc_tar_size_lies_small",
            lambda _t: b.good_tar() + b.tar_header("cats/x.png", 10) + png(seed=8) + b.end_of_tar(),
            kept("s.tar", skipped={"cats/x.png": "corrupt|truncated|not a"}), expect="accepted", kind=t,
        ),
        Case("arc_tgz_truncated", lambda _t: tar_bytes(b.class_images(per_class=20))[:2000], upload("cut.tgz"), match=r"damaged|cut short", kind=t),
        Case("arc_tgz_garbage_after_header", lambda _t: b"\x1f\x8b\x08\x00" + os.urandom(300), upload("x.tgz"), match=r"damaged|cut short", kind=t),
        Case(
            "arc_tgz_bomb_member_skipped",
            lambda _t: b.gzip_zeros_after(b.good_tar() + b.tar_header("cats/zeros.png", 1000 * b.MB), 1000),
            upload("bomb.tgz"), match=r"bomb|expand|more than", kind=t,
        ),
        Case(
            "arc_tgz_bomb_lies_small",
            lambda _t: b.gzip_zeros_after(b.good_tar() + b.tar_header("cats/zeros.png", 60 * b.MB), 1000),
            upload("bomb.tgz"), match=r"bomb|expand|more than|damaged|cut short", kind=t,
        ),
        Case(
            "arc_tbz2_bomb",
            lambda _t: b.bz2_zeros_after(b.good_tar() + b.tar_header("cats/zeros.png", 2000 * b.MB), 2000),
            upload("bomb.tbz2"), match=r"bomb|expand|more than", kind=t,
        ),
        Case(
            "arc_txz_bomb",
            lambda _t: b.xz_zeros_after(b.good_tar() + b.tar_header("cats/zeros.png", 2000 * b.MB), 2000),
            upload("bomb.txz"), match=r"bomb|expand|more than", kind=t,
        ),
        Case("arc_gzip_of_zeros", lambda _t: b.gzip_zeros_after(b"", 500), upload("zeros.tgz"), match=r"empty|damaged|bomb", kind=t),
        Case("arc_tar_empty", lambda _t: b.tar_header("x", 0, kind=b"5")[:0] + b"\0" * 10240, upload("e.tar"), match=r"not a zip or tar|empty", kind=t),
        Case("arc_tar_pax_header_huge", lambda _t: b.good_tar() + b.tar_header("././@PaxHeader", 150 * b.MB, kind=b"x") + b"\0" * 2048, upload("p.tar"), match=r"damaged|cut short|more than", kind=t),
        Case(
            "arc_tar_invalid_utf8_class",
            lambda _t: b.plain_tar(GOOD) + _raw_name_member(b"b\xff\xfe/x.png", png(seed=4)) + b.end_of_tar(),
            kept("u.tar", classes={"cats": 5, "dogs": 5, "b\ufffd\ufffd": 1}), expect="accepted", kind=t,
        ),
        Case("arc_tar_many_directories", lambda _t: b.good_tar() + b.many_dirs_tar(60_000) + b.end_of_tar(), upload("dirs.tar"), match=r"entries|more than", kind=t),
    ]


def _raw_name_member(name: bytes, data: bytes) -> bytes:
    head = bytearray(b.tar_header("x", len(data)))
    head[0:100] = name.ljust(100, b"\0")
    head[148:156] = b" " * 8
    head[148:156] = f"{sum(head):06o}\0 ".encode()
    return bytes(head) + b.padded(data)


def _folder_csv_cases() -> list[Case]:
    f, c = "folder", "csv_images"
    return [
        Case("arc_folder_nul_in_path", const("/tmp/a\0b"), folder(), match=r"NUL", kind=f),
        Case("arc_folder_is_a_file", lambda t: write_tree(t / "x", {"f.png": png()}) / "f.png", folder(), match=r"no folder", kind=f),
        Case("arc_folder_symlink_loop", tree_at(GOOD, _loop), folder(), match=r"link|loop|no folder", kind=f),
        Case("arc_folder_links_inside", tree_at(GOOD, _self_loop_inside), kept_folder(skipped={"cats/again/": "link", "dogs/z.png": "link"}, dogs=4), expect="accepted", kind=f),
        Case("arc_folder_fifo_inside", tree_at(GOOD, _fifo), kept_folder(skipped={"cats/pipe.png": "not a regular file"}), expect="accepted", kind=f),
        Case("arc_folder_relative_path", const("relative/pics"), folder(), match=r"not a full path", kind=f),
        Case("arc_folder_empty_text", const("   "), folder(), match=r"Give the path", kind=f),
        Case("arc_folder_named_like_formula", _formula_folder, _formula_folder_kept, expect="accepted", kind="names"),
        Case("arc_folder_only_junk", tree_at({"a/x.txt": b"t", "b/y.png": b""}), folder(), match=r"No usable images", kind=f),
        Case("arc_csv_nul_in_path", const("/tmp/x\0.csv"), csv_import(), match=r"NUL", kind=c),
        Case("arc_csv_row_nul", csv_beside(_csv_rows([*GOOD_ROWS, "cats/a\0b.png,cats"])), csv_import(), match=r"NUL|readable CSV", kind=c),
        Case("arc_csv_row_dotdot", csv_beside(_csv_rows([*GOOD_ROWS, "../../etc/passwd,cats"])), csv_import(), match=r"climbs out", kind=c),
        Case("arc_csv_row_absolute", csv_beside(_csv_rows([*GOOD_ROWS, "/etc/passwd,cats"])), csv_import(), match=r"absolute path", kind=c),
        Case("arc_csv_not_utf8", _bytes_csv(b"file,label\n\xff\xfe,\xff\n"), csv_import(), match=r"not UTF-8|not a text", kind=c),
        Case("arc_csv_over_size", _big_sparse_csv, csv_import(), match=r"larger than", kind=c),
        Case("arc_csv_millions_of_rows", _many_rows_csv, csv_import(), match=r"more than|rows|larger than", kind=c),
        Case("arc_csv_huge_field", _bytes_csv(b"file,label\n" + b"x" * 5_000_000 + b",cats\n"), csv_import(), match=r"readable CSV|field", kind=c),
        Case("arc_csv_row_is_a_folder", csv_beside(_csv_rows([*GOOD_ROWS, "cats,cats"])), kept_csv(), expect="accepted", kind=c),
        Case("arc_csv_multi_list_marks", csv_beside(_csv_rows([f"{p},{p.split('/')[0]}|x" for p in GOOD], "file,labels")), csv_import("multi_label"), match=r"hold '\|'", kind=c),
        Case("arc_csv_missing_all", csv_beside(_csv_rows(["nope/a.png,cats", "nope/b.png,dogs"])), csv_import(), match=r"None of the 2 files", kind=c),
        Case("arc_names_formula_labels_agree", _formula_set, _formula_labels_agree, expect="accepted", kind="names"),
        Case("arc_names_formula_tags_agree", _formula_tags, _formula_tags_agree, expect="accepted", kind="names"),
    ]


def _bytes_csv(data: bytes):
    def make(tmp: Path):
        root = write_tree(tmp / "set", GOOD)
        (root / "labels.csv").write_bytes(data)
        return root / "labels.csv"

    return make


def kept_folder(skipped: dict[str, str], dogs: int = 5):
    def act(path: Path):
        import re

        from core.data import ingest

        report = ingest.add_folder(path, "pics")
        assert report.classes == {"cats": 5, "dogs": dogs}, report.classes
        for file, reason in skipped.items():
            assert any(p.file == file and re.search(reason, p.reason) for p in report.skipped), report.skipped

    return act


def kept_csv():
    def act(path: Path):
        from core.data import ingest

        report = ingest.add_csv(path, "fromcsv")
        assert report.classes == {"cats": 5, "dogs": 5}, report.classes

    return act


__all__ = ["cases", "jpeg", "pixel_bomb_png", "predict_upload", "truncated_png"]
