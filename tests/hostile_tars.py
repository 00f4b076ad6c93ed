"""Tar cases of the arc_ corpus: links, special files, lying sizes, bombs in gzip, bzip2 and xz."""

from __future__ import annotations

import os

from tests import hostile_builders as b
from tests.hostile import Case
from tests.hostile_acts import GOOD, kept, upload
from tests.inputs import png, tar_bytes


def _tar_gz(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, 1)


def tar_cases() -> list[Case]:
    t = "tar"
    head_big = b.tar_header("cats/big.png", 0, size_field=b"\x80" + b"\0" * 3 + b"\xff" * 8)
    return [
        Case(
            "arc_tar_symlink",
            lambda _t: tar_bytes(GOOD, links={"cats/l.png": "/etc/passwd"}),
            upload("s.tgz"),
            match=r"is a link",
            kind=t,
        ),
        Case(
            "arc_tar_hardlink",
            lambda _t: tar_bytes(GOOD, hardlinks={"cats/l.png": "/etc/passwd"}),
            upload("s.tgz"),
            match=r"is a link",
            kind=t,
        ),
        Case(
            "arc_tar_char_device",
            lambda _t: tar_bytes(GOOD, devices=("cats/null.png",)),
            upload("s.tgz"),
            match=r"device or special",
            kind=t,
        ),
        Case(
            "arc_tar_fifo",
            lambda _t: b.tar_with(GOOD, {"cats/p.png": b"6"}),
            upload("s.tgz"),
            match=r"device or special",
            kind=t,
        ),
        Case(
            "arc_tar_dotdot",
            lambda _t: tar_bytes({**GOOD, "../../evil.png": png()}),
            upload("s.tgz"),
            match=r"climbs out",
            kind=t,
        ),
        Case(
            "arc_tar_absolute",
            lambda _t: tar_bytes({**GOOD, "/tmp/evil.png": png()}),
            upload("s.tgz"),
            match=r"absolute path",
            kind=t,
        ),
        Case(
            "arc_tar_size_lies_huge_octal",
            lambda _t: b.good_tar() + b.tar_header("cats/big.png", 8**11 - 1) + b"\0" * 4096,
            upload("s.tar"),
            match=r"damaged|cut short|more than",
            kind=t,
        ),
        Case(
            "arc_tar_size_base256_absurd",
            lambda _t: b.good_tar() + head_big + b"\0" * 4096,
            upload("s.tar"),
            match=r"damaged|cut short|more than",
            kind=t,
        ),
        Case(
            "arc_tar_pax_record_8mb",
            lambda _t: b.good_tar() + _pax(8 * b.MB) + b.tar_header("cats/x.png", 0) + b.end_of_tar(),
            upload("p.tar"),
            match=r"an extended header claims 8.0 MB, more than the 1.0 MB",
            kind=t,
        ),
        Case(
            "arc_tar_gnu_long_name_8mb",
            lambda _t: (
                b.good_tar()
                + b.tar_header("././@LongLink", 8 * b.MB, kind=b"L")
                + b"a" * (8 * b.MB)
                + b.end_of_tar()
            ),
            upload("l.tar"),
            match=r"an extended header claims 8.0 MB",
            kind=t,
        ),
        Case(
            "arc_tar_size_negative",
            lambda _t: b.good_tar() + b.tar_header("cats/neg.png", 0, size_field=b"\xff" * 12) + b"\0" * 4096,
            upload("s.tar"),
            match=r"damaged: the entry 'cats/neg.png' has a negative size",
            kind=t,
        ),
        Case(
            "arc_tgz_size_base256_absurd",
            lambda _t: _tar_gz(b.good_tar() + head_big + b"\0" * 4096),
            upload("s.tgz"),
            match=r"damaged|cut short|more than",
            kind=t,
        ),
        Case(
            "arc_tar_size_lies_small",
            lambda _t: b.good_tar() + b.tar_header("cats/x.png", 10) + png(seed=8) + b.end_of_tar(),
            kept("s.tar", skipped={"cats/x.png": "corrupt|truncated|not a"}),
            expect="accepted",
            kind=t,
        ),
        Case(
            "arc_tgz_truncated",
            lambda _t: tar_bytes(b.class_images(per_class=20))[:2000],
            upload("cut.tgz"),
            match=r"damaged|cut short",
            kind=t,
        ),
        Case(
            "arc_tgz_garbage_after_header",
            lambda _t: b"\x1f\x8b\x08\x00" + os.urandom(300),
            upload("x.tgz"),
            match=r"damaged|cut short",
            kind=t,
        ),
        Case(
            "arc_tgz_bomb_member_skipped",
            lambda _t: b.gzip_zeros_after(b.good_tar() + b.tar_header("cats/zeros.png", 1000 * b.MB), 1000),
            upload("bomb.tgz"),
            match=r"bomb|expand|more than",
            kind=t,
        ),
        Case(
            "arc_tgz_bomb_lies_small",  # each member under the one-file limit, together a bomb
            lambda _t: b.gzip_parts(
                b.good_tar(), *[p for i in range(6) for p in (b.tar_header(f"cats/z{i}.png", 60 * b.MB), 60)]
            ),
            upload("bomb.tgz"),
            match=r"over 200 times its size \(a zip bomb\?\)",
            kind=t,
        ),
        Case(
            "arc_tgz_zeros_under_ratio_floor_kept",  # inflates 1000 times, but to 60 MB: as masks can
            lambda _t: b.gzip_zeros_after(b.good_tar() + b.tar_header("cats/zeros.png", 60 * b.MB), 1000),
            kept("bomb.tgz", skipped={"cats/zeros.png": "not a|corrupt|truncated|cannot"}),
            expect="accepted",
            kind=t,
        ),
        Case(
            "arc_tbz2_bomb",
            lambda _t: b.bz2_zeros_after(b.good_tar() + b.tar_header("cats/zeros.png", 2000 * b.MB), 2000),
            upload("bomb.tbz2"),
            match=r"bomb|expand|more than",
            kind=t,
        ),
        Case(
            "arc_txz_bomb",
            lambda _t: b.xz_zeros_after(b.good_tar() + b.tar_header("cats/zeros.png", 2000 * b.MB), 2000),
            upload("bomb.txz"),
            match=r"bomb|expand|more than",
            kind=t,
        ),
        Case(
            "arc_gzip_of_zeros",
            lambda _t: b.gzip_zeros_after(b"", 500),
            upload("zeros.tgz"),
            match=r"empty|damaged|bomb",
            kind=t,
        ),
        Case(
            "arc_tar_empty",
            lambda _t: b.tar_header("x", 0, kind=b"5")[:0] + b"\0" * 10240,
            upload("e.tar"),
            match=r"not a zip or tar|empty",
            kind=t,
        ),
        Case(
            "arc_tar_pax_header_huge",
            lambda _t: b.good_tar() + b.tar_header("././@PaxHeader", 150 * b.MB, kind=b"x") + b"\0" * 2048,
            upload("p.tar"),
            match=r"damaged|cut short|more than",
            kind=t,
        ),
        Case(
            "arc_tar_invalid_utf8_class",
            lambda _t: b.plain_tar(GOOD) + _raw_name_member(b"b\xff\xfe/x.png", png(seed=4)) + b.end_of_tar(),
            kept("u.tar", classes={"cats": 5, "dogs": 5, "b\ufffd\ufffd": 1}),
            expect="accepted",
            kind=t,
        ),
        Case(
            "arc_tar_many_directories",
            lambda _t: b.good_tar() + b.many_dirs_tar(60_000) + b.end_of_tar(),
            upload("dirs.tar"),
            match=r"too many entries: more than the 50,000 limit",
            kind=t,
        ),
    ]


def _pax(n: int) -> bytes:
    """A pax header whose one record (a path) is n bytes long."""
    record = b"path=" + b"a" * n + b"\n"
    size = len(record) + len(str(len(record))) + 1
    line = str(size + len(str(size)) - len(str(len(record)))).encode() + b" " + record
    return b.tar_header("././@PaxHeader", len(line), kind=b"x") + b.padded(line)


def _raw_name_member(name: bytes, data: bytes) -> bytes:
    head = bytearray(b.tar_header("x", len(data)))
    head[0:100] = name.ljust(100, b"\0")
    head[148:156] = b" " * 8
    head[148:156] = f"{sum(head):06o}\0 ".encode()
    return bytes(head) + b.padded(data)
