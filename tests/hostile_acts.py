"""Entry points and input makers shared by the arc_ corpus (tests/hostile_archives.py and its parts)."""

from __future__ import annotations

import io
import time
from pathlib import Path

from tests import hostile_builders as b
from tests.inputs import write_tree, zip_bytes

GOOD = b.GOOD
DAMAGED = r"damaged|not a readable zip|cut short"


# --- entry points --------------------------------------------------------------------------------


def upload(name: str = "upload.zip"):
    """The Data page's upload: add_archive on the uploaded bytes."""

    def act(data: bytes):
        from core.data import ingest

        return ingest.add_archive(io.BytesIO(data), "upload", shown_as=name)

    return act


def kept(
    name: str = "upload.zip",
    skipped: dict[str, str] | None = None,
    classes: dict | None = None,
    cpu: float = 0,
):
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


def _bytes_csv(data: bytes):
    def make(tmp: Path):
        root = write_tree(tmp / "set", GOOD)
        (root / "labels.csv").write_bytes(data)
        return root / "labels.csv"

    return make


def kept_folder(skipped: dict[str, str]):
    def act(path: Path):
        import re

        from core.data import ingest

        report = ingest.add_folder(path, "pics")
        assert report.classes == {"cats": 5, "dogs": 5}, report.classes
        for file, reason in skipped.items():
            assert any(p.file == file and re.search(reason, p.reason) for p in report.skipped), report.skipped

    return act


def kept_csv():
    def act(path: Path):
        from core.data import ingest

        report = ingest.add_csv(path, "fromcsv")
        assert report.classes == {"cats": 5, "dogs": 5}, report.classes

    return act
