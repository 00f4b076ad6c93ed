"""Hostile inputs other than archives: model bundles, JSON, CSV tables and ratings, training form
values and CLI arguments (case names start with `in_`; run by tests/test_hostile.py).

Class names that a spreadsheet would run as a formula (`=HYPERLINK(…)`, `+1`, `@SUM`) follow one
rule everywhere: a label is text and is kept exactly as written (import, training, config.json,
predictions), and only a CSV made for a person to download frames such a cell with a leading '
(core.fsutil.csv_bytes). The formula cases below check all three places.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
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


def _table_formulas(data: bytes) -> None:
    """Formula cells are kept as written in the dataset, and framed in a CSV made for download."""
    from core import fsutil
    from core.data import tables
    from core.data.ingest.table import add_table

    info = add_table(data, "hostile")
    frame = tables.read_table(info.path).frame
    assert "=cmd|' /C calc'!A0" in set(frame["city"]), set(frame["city"])
    assert b"\n'=cmd" in fsutil.frame_csv_bytes(frame).replace(b'"', b"")


def _config(fields: dict):
    from core.config import TrainConfig

    return TrainConfig.from_dict(fields).validate()


def _cli(argv: list[str]) -> int:
    """core.cli.main in-process: a non-zero exit with one line on stderr is a refusal (UserError);
    anything else that is not a clean exit fails the case."""
    from core import cli
    from core.errors import UserError

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli.main(argv)
        except SystemExit as e:
            code = e.code
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    if code in (0, None):
        return 0
    if len(lines) != 1 or not lines[0].startswith("error: "):
        raise AssertionError(f"exit {code} with stderr {err.getvalue()[-2000:]!r}")
    raise UserError(lines[0])


def _workspace(tmp: Path) -> Path:
    """The case's fresh workspace (tests/hostile.py makes it beside tmp), stamped as current, so
    that a case may place files in it as a person editing the workspace would."""
    from core import workspace

    ws = tmp.parent / "ws"
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


def _table_meta(text: bytes):
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


def _csv(name, data, match=None, kind="table", expect="refused", act=None) -> Case:
    return Case(f"in_csv_{name}", lambda t: data() if callable(data) else data, act or _table(kind), expect, match, "csv")


def csv_cases() -> list[Case]:
    """Tables and ratings a person uploads (bytes) or names by path."""
    big = 45 * 2**20
    return [
        _csv("nul_byte", b"a,b,target\n1,\x002,yes\n", "NUL byte"),
        _csv("lone_surrogate", b"a,b,target\n\xed\xa0\x80,1,yes\n", "not UTF-8"),
        _csv("utf16_without_bom", TABLE.decode().encode("utf-16-le"), "NUL byte.*UTF-16"),
        _csv("utf16_bom_cut_short", b"\xff\xfe" + "a,b\n1,2\n".encode("utf-16-le")[:-1] + b"\x00\xd8", "UTF-16"),
        _csv("utf32", b"\xff\xfe\x00\x00" + "a,b\n".encode("utf-32-le"), "UTF-32"),
        _csv("million_column_header", lambda: b"a," * 1_000_000 + b"a\n1\n", "columns|characters"),
        _csv("million_long_column_names", lambda: b",".join(b"c%d" % i for i in range(1_000_000)) + b"\n", "characters"),
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
        _csv("numbers_5000_digits", b"a,b,target\n" + _rows(40, lambda i: f"{i}{'9' * 5000},{i},{i % 2}\n"), None, expect="accepted"),
        _csv("infinite_numbers", b"a,b,target\n" + _rows(40, lambda i: f"{'1e999' if i % 5 else i},{i},{i % 2}\n"), None, expect="accepted"),
        _csv("excel_formulas", b"city,n,target\n" + _rows(40, lambda i: f"=cmd|' /C calc'!A0,{i},{i % 2}\n"), None, "table", "accepted", _table_formulas),
        _csv("ratings_not_numbers", RATINGS_HEAD + _rows(60, lambda i: f"u{i % 7},m{i % 5},five\n"), "rating", "ratings"),
        _csv("ratings_infinite", RATINGS_HEAD + _rows(60, lambda i: f"u{i % 7},m{i % 5},{'inf' if i == 3 else 4}\n"), "rating", "ratings"),
        _csv("ratings_million_users", lambda: RATINGS_HEAD + _rows(1_000_000, lambda i: f"{i},1,3\n"), "rows", "ratings"),
        _csv("ratings_huge_ids", RATINGS_HEAD + _rows(60, lambda i: f"{i % 7}{'0' * 5000},m{i % 5},{i % 5 + 1}\n"), None, "ratings", "accepted"),
        _csv("path_with_nul", "/tmp/a\x00b.csv", "NUL"),
        _csv("path_relative", "table.csv", "full path"),
        _csv("path_a_directory", lambda: "/", "no file|not a regular|import"),
        _csv("path_missing", "/nonexistent/table.csv", "no file|import"),
    ]


def _form(name, fields, match) -> Case:
    return Case(f"in_form_{name}", _const(fields), _config, match=match, kind="form")


def _const(value):
    return lambda tmp: value


def form_cases() -> list[Case]:
    """Training settings as the form (or a stored run) hands them to TrainConfig."""
    return [
        _form("lr_nan", {"lr": math.nan}, "learning rate"),
        _form("lr_infinite", {"lr": math.inf}, "learning rate"),
        _form("lr_negative", {"lr": -0.1}, "learning rate"),
        _form("lr_absurd", {"lr": 1e6}, "learning rate"),
        _form("lr_as_text", {"lr": "0.01"}, "learning rate"),
        _form("lr_5000_digit_int", {"lr": 10**4000}, "learning rate"),
        _form("lr_low_above_lr", {"lr": 1e-3, "lr_low": 1e-2}, "low end"),
        _form("bs_negative", {"bs": -64}, "batch size"),
        _form("bs_huge", {"bs": 10**30}, "batch size"),
        _form("bs_fraction", {"bs": 2.5}, "batch size"),
        _form("bs_as_text", {"bs": "64"}, "batch size"),
        _form("epochs_zero", {"epochs": 0}, "epoch"),
        _form("epochs_billion", {"epochs": 10**9}, "1000 epochs"),
        _form("epochs_nan", {"epochs": math.nan}, "epoch"),
        _form("wd_nan", {"wd": math.nan}, "weight decay"),
        _form("wd_5000_digit_int", {"wd": 10**4000}, "weight decay"),
        _form("valid_pct_none", {"valid_pct": None}, "validation share"),
        _form("seed_huge", {"seed": 2**64}, "seed"),
        _form("size_huge", {"size": 10**9}, "image size"),
        _form("aug_rotate_text", {"aug": {"max_rotate": "ninety"}}, "rotation"),
        _form("aug_zoom_nan", {"aug": {"max_zoom": math.nan}}, "zoom"),
        _form("aug_not_a_table", {"aug": "strong"}, "augmentation"),
        _form("aug_unknown", {"aug": {"max_spin": 3}}, "augmentation setting"),
        _form("unknown_key", {"learning_rate": 0.1}, "unknown training setting"),
        _form("key_not_text", {1: 2}, "unknown training setting"),
        _form("task_unknown", {"task": "../../etc"}, "unknown task"),
        _form("arch_unknown", {"arch": "resnet9000"}, "architecture"),
        _form("options_unknown", {"options": {"bogus": 1}}, "setting"),
        _form("options_text_for_number", {"options": {"label_smoothing": "0.1"}}, "label smoothing"),
        _form("options_not_a_table", {"options": [1, 2]}, "options"),
        _form("patience_bool", {"patience": True}, "patience"),
    ]


def _cli_case(name, argv, match, expect="refused") -> Case:
    return Case(f"in_cli_{name}", _const(argv), _cli, expect, match, "cli")


def cli_cases() -> list[Case]:
    """`python -m core …` arguments, run in-process through core.cli.main."""
    huge = "9" * 5000
    return [
        _cli_case("no_command", [], "required"),
        _cli_case("unknown_command", ["fly"], "invalid choice"),
        _cli_case("unknown_dataset", ["train", "--dataset", "no_such_data"], "unknown dataset"),
        _cli_case("dataset_with_nul", ["train", "--dataset", "dig\x00its"], "unknown dataset"),
        _cli_case("dataset_climbs_out", ["train", "--dataset", "../../etc"], "unknown dataset"),
        _cli_case("dataset_not_utf8", ["train", "--dataset", "caf\udce9"], "unknown dataset"),
        _cli_case("bs_text", ["train", "--bs", "abc"], "invalid int"),
        _cli_case("bs_5000_digits", ["train", "--bs", huge], "invalid int|batch size"),
        _cli_case("lr_nan", ["train", "--lr", "nan"], "learning rate"),
        _cli_case("lr_infinite", ["train", "--lr", "1e999"], "learning rate"),
        _cli_case("epochs_negative", ["train", "--epochs", "-3"], "epoch"),
        _cli_case("epochs_huge", ["train", "--epochs", "100000000000"], "1000 epochs"),
        _cli_case("size_huge", ["train", "--size", "100000"], "image size"),
        _cli_case("opt_not_a_number", ["train", "--opt", "label_smoothing=abc"], "needs a float"),
        _cli_case("opt_unknown", ["train", "--opt", "nosuch=1"], "--opt takes"),
        _cli_case("opt_nan", ["train", "--opt", "label_smoothing=nan"], "label smoothing"),
        _cli_case("continue_huge_run", ["train", "--continue", huge], "invalid int|no run|run"),
        _cli_case("lr_find_few_iterations", ["lr-find", "--num-it", "3"], "at least 6"),
        _cli_case("label_issues_huge_run", ["label-issues", "--run", "1" + "0" * 30], "no training run"),
        _cli_case("label_issues_missing_run", ["label-issues", "--run", "424242"], "no training run"),
        _cli_case("compare_huge_run", ["compare", "1" + "0" * 30, "2"], "run"),
        _cli_case("compare_missing_runs", ["compare", "424242", "424243"], "run"),
        _cli_case("sweep_lr_text", ["sweep", "--lr", "1e-4:abc"], "--lr takes"),
        _cli_case("sweep_budget_huge", ["sweep", "--lr", "1e-4:1e-2", "--budget", huge], "invalid int|budget"),
        _cli_case("sweep_bs_negative", ["sweep", "--bs", "-1,64"], "batch size"),
        _cli_case("sweep_lr_infinite", ["sweep", "--lr", "1e-4:1e999"], "learning-rate range"),
        _cli_case("runs_text_with_nul", ["runs", "--text", "a\x00b"], None, "accepted"),
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
    for name, text in [("table_meta_nested", deep), ("table_meta_huge_int", huge_int), ("table_meta_nan", b'{"split": NaN}')]:
        make, run = _table_meta(text)
        out.append(Case(f"in_json_{name}", make, run, "accepted", None, "json"))
    from tests.inputs import class_images

    files = {k: v for k, v in class_images().items()}
    files["dataset.json"] = b'{"planted": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    out.append(Case("in_json_archive_dataset_json", lambda t: hb.zip_of(files), _archive_with_dataset_json, "accepted", None, "json"))
    return out


def cases() -> list[Case]:
    """Every input case of this corpus."""
    return hb.cases(_import_formulas) + csv_cases() + form_cases() + cli_cases() + json_cases()
