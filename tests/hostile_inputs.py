"""Hostile inputs other than archives: model bundles, JSON, CSV tables and ratings, training form
values and CLI arguments (case names start with `in_`; run by tests/test_hostile.py).

Class names that a spreadsheet would run as a formula (`=HYPERLINK(…)`, `+1`, `@SUM`) follow one
rule everywhere: a label is text and is kept exactly as written (import, training, config.json,
predictions), and only a CSV made for a person to download frames such a cell with a leading '
(core.fsutil.csv_bytes). The formula cases below check all three places.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from tests import hostile_bundles as hb
from tests.hostile import Case

FORMULAS = hb.FORMULAS


# --- entry points ---------------------------------------------------------------------------


def _import(data: bytes, filename: str = "m.zip"):
    from core.serving import upload

    return upload.import_bundle(data, filename)


def _import_formulas(data: bytes) -> None:
    """Import accepts formula class names as text, export keeps them, a CSV download frames them."""
    import pandas as pd

    from core import fsutil
    from core.serving import library

    info = _import(data)
    assert info.classes == FORMULAS, info.classes
    exported = json.loads(hb.zip_entries(library.zip_bytes(info.name))[f"{info.name}/config.json"])
    assert exported["classes"] == FORMULAS
    lines = fsutil.frame_csv_bytes(pd.DataFrame({"class": info.classes})).decode().splitlines()[1:]
    assert all(line.lstrip('"').startswith("'") for line in lines), lines


def _table(kind: str = "table"):
    def act(data):
        from core.data.ingest.table import add_table

        return add_table(data, "hostile", kind)

    return act


def _table_roles(*cont: str):
    """add_table with the columns in cont made continuous (as a person sets roles on the page)."""

    def act(data):
        from core.data.ingest.table import add_table
        from core.data.tables import TableRoles

        return add_table(data, "hostile", roles=TableRoles(target="target", cat=("b",), cont=cont))

    return act


def _table_formulas(data: bytes) -> None:
    """Formula cells are kept as written in the dataset, and framed in a CSV made for download."""
    from core import fsutil
    from core.data import tables
    from core.data.ingest.table import add_table

    info = add_table(data, "hostile")
    frame = tables.read_table(info.path).frame
    assert CMD in set(frame["city"]) and "+yes" in set(frame["target"]), set(frame["city"])
    assert b"\n'=cmd" in fsutil.frame_csv_bytes(frame).replace(b'"', b"")


def _workspace(tmp: Path) -> Path:
    """The case's fresh workspace (tests/hostile.py makes it beside tmp), stamped as current, so
    that a case may place files in it as a person editing the workspace would."""
    from core import workspace

    ws = tmp.parent / "ws"
    ws.mkdir(exist_ok=True)
    (ws / workspace.STAMP).write_text(json.dumps({"format": workspace.WORKSPACE_FORMAT}) + "\n")
    return ws


def _saved_model(text: bytes, act: str = "get"):
    """A saved model whose config.json on disk was replaced (a person edited the workspace)."""

    def make(tmp: Path) -> str:
        folder = _workspace(tmp) / "models" / "edited"
        folder.mkdir(parents=True)
        (folder / "config.json").write_bytes(text)
        (folder / "model.safetensors").write_bytes(hb.base()[1])
        return "edited"

    def run(name: str):
        from core.serving import library

        if act == "list":
            assert library.list_models() == []
            return None
        return library.get(name)

    return make, run


def table_meta(text: bytes):
    """A table dataset whose dataset.json was replaced: read as absent (roles proposed again)."""

    def make(tmp: Path) -> Path:
        folder = _workspace(tmp) / "datasets" / "edited"
        folder.mkdir(parents=True)
        rows = "".join(f"{i},{i % 3},{'yes' if i % 2 else 'no'}\n" for i in range(40))
        (folder / "table.csv").write_text("a,b,target\n" + rows)
        (folder / "dataset.json").write_bytes(text)
        return folder

    def run(folder: Path):
        from core.data import tables

        return tables.read_table(folder)

    return make, run


# --- the cases ------------------------------------------------------------------------------


def _archive_with_dataset_json(data: bytes) -> None:
    """An imported archive's own dataset.json is never read: ours replaces it."""
    from core.data import datasets
    from core.data.ingest import add_archive

    add_archive(io.BytesIO(data), "with_meta")
    meta = datasets.metadata(datasets.resolve("with_meta"))
    assert "planted" not in json.dumps(meta), meta


def _rows(n: int, row) -> bytes:
    return "".join(row(i) for i in range(n)).encode()


TABLE = b"a,b,target\n" + _rows(40, lambda i: f"{i},{i % 3},{'yes' if i % 2 else 'no'}\n")
RATINGS_HEAD = b"user,item,rating\n"
HUGE_NUMBERS = b"a,b,target\n" + _rows(40, lambda i: f"{i}{'9' * 5000},{i % 4},{i % 2}\n")
INFINITE_NUMBERS = b"a,b,target\n" + _rows(40, lambda i: f"{'1e999' if i % 5 else i},{i % 4},{i % 2}\n")
CMD = "=cmd|' /C calc'!A0"
FORMULA_TABLE = b"city,n,target\n" + _rows(
    40, lambda i: f"{CMD if i % 3 else '@SUM(1+1)'},{i % 7},{'+yes' if i % 2 else '-no'}\n"
)


def _csv(name, data, match=None, kind="table", expect="refused", act=None) -> Case:
    return Case(
        f"in_csv_{name}",
        lambda t: data() if callable(data) else data,
        act or _table(kind),
        expect,
        match,
        "csv",
    )


def csv_cases() -> list[Case]:
    """Tables and ratings a person uploads (bytes) or names by path."""
    big = 45 * 2**20
    return [
        _csv("nul_byte", b"a,b,target\n1,\x002,yes\n", "NUL byte"),
        _csv("lone_surrogate", b"a,b,target\n\xed\xa0\x80,1,yes\n", "not UTF-8"),
        _csv("utf16_without_bom", TABLE.decode().encode("utf-16-le"), "NUL byte.*UTF-16"),
        _csv(
            "utf16_bom_cut_short", b"\xff\xfe" + "a,b\n1,2\n".encode("utf-16-le")[:-1] + b"\x00\xd8", "UTF-16"
        ),
        _csv("utf32", b"\xff\xfe\x00\x00" + "a,b\n".encode("utf-32-le"), "UTF-32"),
        _csv("million_column_header", lambda: b"a," * 1_000_000 + b"a\n1\n", "columns|characters"),
        _csv(
            "million_long_column_names",
            lambda: b",".join(b"c%d" % i for i in range(1_000_000)) + b"\n",
            "characters",
        ),
        _csv("45mb_single_cell", lambda: b"a,b,target\n" + b"x" * big + b",1,yes\n", "longer than 10,000"),
        _csv("45mb_quoted_cell", lambda: b'a,b,target\n"' + b"x" * big + b'",1,yes\n', "longer than 10,000"),
        _csv("over_the_size_limit", lambda: b"a,b\n" + b"1,2\n" * (13 * 2**20), "limit for one table"),
        _csv("quote_never_closed", b'a,b,target\n"1,2,yes\n3,4,no\n', "never closed"),
        _csv("rows_of_other_lengths", b"a,b,target\n1,2,yes\n3,no\n", "cell\\(s\\) but the header"),
        _csv("empty", b"", "empty"),
        _csv("blank_lines_only", b"\n\n  \n", "no header"),
        _csv("header_only", b"a,b,target\n", "no rows"),
        _csv("duplicate_columns", b"a,a,target\n1,2,yes\n", "twice"),
        _csv("control_char_in_header", b"a\x07,b,target\n1,2,yes\n", "control char"),
        _csv("a_png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "PNG image"),
        _csv("one_class_target", b"a,b,target\n" + _rows(40, lambda i: f"{i},{i},yes\n"), "one|single|class"),
        _csv(
            "numbers_5000_digits_continuous",
            HUGE_NUMBERS,
            "continuous column 'a' holds",
            act=_table_roles("a"),
        ),
        _csv(
            "infinite_numbers_continuous",
            INFINITE_NUMBERS,
            "continuous column 'a' holds",
            act=_table_roles("a"),
        ),
        _csv("roles_name_missing_column", TABLE, "nope", act=_table_roles("nope")),
        _csv("numbers_5000_digits", HUGE_NUMBERS, None, expect="accepted"),
        _csv("infinite_numbers", INFINITE_NUMBERS, None, expect="accepted"),
        _csv("excel_formulas", FORMULA_TABLE, None, "table", "accepted", _table_formulas),
        _csv(
            "ratings_not_numbers",
            RATINGS_HEAD + _rows(60, lambda i: f"u{i % 7},m{i % 5},five\n"),
            "rating",
            "ratings",
        ),
        _csv(
            "ratings_infinite",
            RATINGS_HEAD + _rows(60, lambda i: f"u{i % 7},m{i % 5},{'inf' if i == 3 else 4}\n"),
            "rating",
            "ratings",
        ),
        _csv(
            "ratings_million_users",
            lambda: RATINGS_HEAD + _rows(1_000_000, lambda i: f"{i},1,3\n"),
            "rows",
            "ratings",
        ),
        _csv(
            "ratings_huge_ids",
            RATINGS_HEAD + _rows(60, lambda i: f"{i % 7}{'0' * 5000},m{i % 5},{i % 5 + 1}\n"),
            None,
            "ratings",
            "accepted",
        ),
        _csv("path_with_nul", "/tmp/a\x00b.csv", "NUL"),
        _csv("path_relative", "table.csv", "full path"),
        _csv("path_a_directory", lambda: "/", "no file|not a regular|import"),
        _csv("path_missing", "/nonexistent/table.csv", "no file|import"),
    ]


def json_cases() -> list[Case]:
    """JSON from files a person may have edited or handed in, outside a bundle upload."""
    deep = b"[" * 100_000 + b"]" * 100_000
    huge_int = b'{"roles": ' + b"1" * 5000 + b"}"
    out = []
    for name, text, act, expect, match in [
        ("saved_config_nested", deep, "get", "refused", "nests .* deep"),
        ("saved_config_huge_int", huge_int, "get", "refused", "digits"),
        ("saved_config_nested_listed", deep, "list", "accepted", None),
    ]:
        make, run = _saved_model(text, act)
        out.append(Case(f"in_json_{name}", make, run, expect, match, "json"))
    for name, text, match in [
        (
            "table_meta_roles_not_names",
            b'{"roles": {"target": "target", "cat": [["a"]], "cont": []}}',
            "lists of column",
        ),
        ("table_meta_seed_huge", b'{"split": {"kind": "random", "seed": 100000000000000000000000}}', "seed"),
    ]:
        make, run = table_meta(text)
        out.append(Case(f"in_json_{name}", make, run, "refused", match, "json"))
    for name, text in [
        ("table_meta_nested", deep),
        ("table_meta_huge_int", huge_int),
        ("table_meta_nan", b'{"split": NaN}'),
    ]:
        make, run = table_meta(text)
        out.append(Case(f"in_json_{name}", make, run, "accepted", None, "json"))
    from tests.inputs import class_images

    files = {k: v for k, v in class_images().items()}
    files["dataset.json"] = b'{"planted": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    out.append(
        Case(
            "in_json_archive_dataset_json",
            lambda t: hb.zip_of(files),
            _archive_with_dataset_json,
            "accepted",
            None,
            "json",
        )
    )
    return out


def cases() -> list[Case]:
    """Every input case of this corpus."""
    from tests import hostile_cli

    return hb.cases(_import_formulas) + csv_cases() + hostile_cli.cases() + json_cases()
