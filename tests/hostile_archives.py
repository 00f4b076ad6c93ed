"""The archive, folder, CSV-with-images, image and name corpus (cases named arc_*), run by
tests/hostile.py: every input is refused with the sentence a person reads, or accepted with the bad
member skipped as documented (then the act checks what was kept and raises AssertionError if not).

Inputs are made at test time (tests/hostile_builders.py does the byte surgery).
"""

from __future__ import annotations

import io
import time

from tests import hostile_builders as b
from tests.hostile import Case
from tests.hostile_acts import DAMAGED, GOOD, _hand_zip, _lie, const, kept, upload, zipped
from tests.inputs import png, zip_bytes


def _catalogue_left_out(data: bytes):
    """A catalogue download's archive whose layout leaves annotations/ out: those entries (here a
    bomb) are never inflated, and the images are kept."""
    from core.data import ingest

    t0 = time.process_time()
    relabel = lambda parts: None if parts[0] == "annotations" else parts  # noqa: E731
    report = ingest.add_archive(io.BytesIO(data), "cat", shown_as="pets.zip", relabel=relabel)
    assert report.classes == {"cats": 5, "dogs": 5}, report.classes
    assert time.process_time() - t0 < 1.0


def cases() -> list[Case]:
    """Every arc_ case: archives, folders and CSVs, images, names."""
    from tests.hostile_folders import folder_csv_cases
    from tests.hostile_images import image_cases
    from tests.hostile_tars import tar_cases

    return _zip_cases() + tar_cases() + folder_csv_cases() + image_cases()


def _zip_cases() -> list[Case]:
    z = "zip"
    bomb_mb = 300
    return [
        Case(
            "arc_zip_cd_offset_too_large",
            lambda _t: b.raw_zip(b.good_members(), cd_offset_delta=4000),
            upload(),
            match=DAMAGED,
            kind=z,
        ),
        Case(
            "arc_zip_cd_offset_too_small",
            lambda _t: b.raw_zip(b.good_members(), cd_offset_delta=-77),
            upload(),
            match=DAMAGED,
            kind=z,
        ),
        Case("arc_zip_member_offset_past_end", _lie(3, offset=0x7FFFFF00), upload(), match=DAMAGED, kind=z),
        Case("arc_zip_member_offset_mid_data", _lie(3, offset=7), upload(), match=DAMAGED, kind=z),
        Case(
            "arc_zip_member_offset_same_as_other",
            _lie(3, offset=0),
            upload(),
            match=r"overlapping entries|damaged",
            kind=z,
        ),
        Case("arc_zip_csize_larger_than_data", _lie(9, csize=10_000), upload(), match=DAMAGED, kind=z),
        Case("arc_zip_csize_smaller_than_data", _lie(2, csize=20), upload(), match=DAMAGED, kind=z),
        Case("arc_zip_usize_smaller_stored", _lie(2, usize=20), upload(), match=DAMAGED, kind=z),
        Case("arc_zip_crc_wrong", _lie(4, crc=12345), upload(), match=DAMAGED, kind=z),
        Case("arc_zip_method_unsupported", _lie(1, method=99), upload(), match=r"compression", kind=z),
        Case("arc_zip_method_deflate_garbage", _lie(1, method=8), upload(), match=DAMAGED, kind=z),
        Case(
            "arc_zip_version_needed_too_new", _lie(1, version=99), upload(), match=r"version|damaged", kind=z
        ),
        Case("arc_zip_encrypted_flag", _lie(5, flags=1), upload(), match=r"encrypted", kind=z),
        Case(
            "arc_zip_local_name_differs",
            _lie(5, local_name=b"cats/other.png"),
            upload(),
            match=DAMAGED,
            kind=z,
        ),
        Case(
            "arc_zip_inflates_past_declared_size",
            _hand_zip([b.Member("cats/big.png", b.deflated_zeros(bomb_mb), method=8, usize=1000, crc=1)]),
            upload(),
            match=DAMAGED,
            kind=z,
        ),
        Case(
            "arc_zip_inflates_past_declared_size_crc_right",
            _hand_zip(
                [
                    b.Member(
                        "cats/big.png",
                        b.deflated_zeros(bomb_mb),
                        method=8,
                        usize=1000,
                        crc=b.zlib.crc32(b"\0" * 1000),
                    )
                ]
            ),
            kept(skipped={"cats/big.png": "not a PNG"}, cpu=2),
            expect="accepted",
            kind=z,
        ),
        Case(
            "arc_zip_bomb_declared_honestly",
            _hand_zip(
                [
                    b.Member(f"cats/z{i}.bin", b.deflated_zeros(60), method=8, usize=60 * b.MB, crc=0)
                    for i in range(40)
                ]
            ),
            upload(),
            match=r"would expand to 2.3 GB, more than the 2.0 GB limit",
            kind=z,
        ),
        Case(
            "arc_zip_ratio_bomb",
            _hand_zip(
                [
                    b.Member(f"cats/z{i}.bin", b.deflated_zeros(60), method=8, usize=60 * b.MB, crc=0)
                    for i in range(5)
                ]
            ),
            upload(),
            match=r"over 200 times its size \(a zip bomb\?\)",
            kind=z,
        ),
        Case(
            "arc_zip_big_members_skipped_unread",
            _hand_zip(
                [
                    b.Member(
                        f"cats/z{i}.bin", b.deflated_zeros(bomb_mb), method=8, usize=bomb_mb * b.MB, crc=0
                    )
                    for i in range(5)
                ]
            ),
            kept(skipped={"cats/z4.bin": "larger than"}, cpu=1),
            expect="accepted",
            kind=z,
        ),
        Case(
            "arc_zip_skipped_member_not_inflated",
            _hand_zip(
                [b.Member("cats/huge.png", b.deflated_zeros(bomb_mb), method=8, usize=bomb_mb * b.MB, crc=0)]
            ),
            kept(skipped={"cats/huge.png": "larger than"}, cpu=1),
            expect="accepted",
            kind=z,
        ),
        Case(
            "arc_zip_over_file_limit_skipped_unread",
            _hand_zip([b.Member("cats/huge.png", b"\0" * 100, method=8, usize=100 * b.MB, crc=0)]),
            kept(skipped={"cats/huge.png": "larger than"}, cpu=1),
            expect="accepted",
            kind=z,
        ),
        Case(
            "arc_zip64_extra_absurd_size",
            _hand_zip(
                [
                    b.Member(
                        "cats/x.png",
                        b"abc",
                        usize=0xFFFFFFFF,
                        csize=0xFFFFFFFF,
                        extra=b.zip64_extra(2**62, 3),
                    )
                ]
            ),
            upload(),
            match=r"would expand to 4294967296.0 GB, more than the 2.0 GB limit \(a zip bomb\?\)",
            kind=z,
        ),
        Case(
            "arc_zip64_extra_truncated",
            _hand_zip([b.Member("cats/x.png", b"abc", usize=0xFFFFFFFF, extra=b"\x01\x00\x10\x00\x01")]),
            upload(),
            match=DAMAGED,
            kind=z,
        ),
        Case(
            "arc_zip64_locator_points_nowhere",
            lambda _t: b.raw_zip(b.good_members(), zip64_locator=2**40),
            upload(),
            match=DAMAGED,
            kind=z,
        ),
        Case(
            "arc_zip64_locator_points_inside",
            lambda _t: b.raw_zip(b.good_members(), zip64_locator=40),
            upload(),
            match=DAMAGED,
            kind=z,
        ),
        Case(
            "arc_zip_split_across_disks",
            lambda _t: b.raw_zip(b.good_members(), disk=3),
            kept(),
            expect="accepted",
            kind=z,
        ),
        Case(
            "arc_zip_count_lies",
            lambda _t: b.raw_zip(b.good_members(), count=65535),
            kept(),
            expect="accepted",
            kind=z,
        ),
        Case(
            "arc_zip_100k_members",
            lambda _t: b.many_members_zip(100_000),
            upload(),
            match=r"too many entries: more than the 50,000 limit",
            kind=z,
        ),
        Case(
            "arc_zip_directory_of_long_names",
            lambda _t: b.many_members_zip(600, 60_000),
            upload(),
            match=r"has a directory of 34.4 MB, more than the 32.0 MB limit",
            kind=z,
        ),
        Case(
            "arc_zip_catalogue_left_out_unread",
            _hand_zip(
                [
                    b.Member(f"annotations/z{i}.bin", b.deflated_zeros(60), method=8, usize=60 * b.MB, crc=0)
                    for i in range(5)
                ]
            ),
            _catalogue_left_out,
            expect="accepted",
            kind=z,
        ),
        Case(
            "arc_zip_duplicate_names",
            _hand_zip([b.stored("cats/cat0.png", png(seed=9))]),
            upload(),
            match=r"more than once",
            kind=z,
        ),
        Case(
            "arc_zip_name_with_nul",
            _hand_zip([b.stored("cats/a.png\0../../evil", png(seed=7))]),
            upload(),
            match=r"NUL byte",
            kind=z,
        ),
        Case(
            "arc_zip_absolute_path",
            zipped({"/etc/evil.png": png()}),
            upload(),
            match=r"absolute path",
            kind=z,
        ),
        Case("arc_zip_dotdot", zipped({"cats/../../evil.png": png()}), upload(), match=r"climbs out", kind=z),
        Case(
            "arc_zip_backslash_dotdot",
            zipped({"..\\..\\evil.png": png()}),
            upload(),
            match=r"climbs out",
            kind=z,
        ),
        Case(
            "arc_zip_drive_letter", zipped({"C:\\evil.png": png()}), upload(), match=r"absolute path", kind=z
        ),
        Case(
            "arc_zip_very_long_name",
            zipped({"cats/" + "a" * 60_000 + ".png": png(seed=3)}),
            kept(classes={"cats": 6, "dogs": 5}),
            expect="accepted",
            kind=z,
        ),
        Case(
            "arc_zip_long_class_name",
            zipped({"b" * 300 + "/x.png": png(seed=3)}),
            kept(skipped={"b" * 300 + "/x.png": "longer than"}),
            expect="accepted",
            kind=z,
        ),
        Case(
            "arc_zip_nested_zip",
            zipped({"cats/inner.png": zip_bytes(GOOD)}),
            kept(skipped={"cats/inner.png": "zip archive"}),
            expect="accepted",
            kind=z,
        ),
        Case(
            "arc_zip_empty", const(zip_bytes({})), upload("empty.zip"), match=r"empty\.zip is empty", kind=z
        ),
        Case(
            "arc_zip_end_record_only",
            const(b"PK\x05\x06" + b"\0" * 18),
            upload("end.zip"),
            match=r"is empty",
            kind=z,
        ),
        Case(
            "arc_zip_not_an_archive",
            const(b"hello, I am text\n" * 10),
            upload("notes.zip"),
            match=r"not a zip or tar archive: its content is text",
            kind=z,
        ),
        Case(
            "arc_zip_zero_bytes",
            const(b""),
            upload("nothing.zip"),
            match=r"not a zip or tar archive: it is empty",
            kind=z,
        ),
        Case("arc_zip_cut_in_half", lambda _t: zip_bytes(GOOD)[:700], upload(), match=DAMAGED, kind=z),
        Case(
            "arc_zip_symlink",
            lambda _t: zip_bytes(GOOD, symlinks={"cats/l.png": "/etc/passwd"}),
            upload(),
            match=r"symbolic link",
            kind=z,
        ),
        Case(
            "arc_zip_junk_before",
            lambda _t: b"MZ" + b"\0" * 600 + zip_bytes(GOOD),
            upload(),
            match=r"not a zip or tar",
            kind=z,
        ),
        Case(
            "arc_zip_huge_comment",
            lambda _t: b.raw_zip(b.good_members(), comment=b"c" * 65535),
            kept(),
            expect="accepted",
            kind=z,
        ),
        Case(
            "arc_zip_hidden_encrypted_member",
            _hand_zip([b.Member("__MACOSX/._x", b"x", flags=1)]),
            kept(),
            expect="accepted",
            kind=z,
        ),
    ]
