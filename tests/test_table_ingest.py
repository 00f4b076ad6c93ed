"""Your own tables and ratings: what add_table imports (roles proposed, cells kept exactly) and more
than twenty bad tables, each refused with the sentence a person reads and nothing left behind."""

from __future__ import annotations

import codecs
import json

import numpy as np
import pytest

from core import workspace
from core.data import datasets, tables
from core.data.csv_reader import CsvLimits
from core.data.ingest.table import add_table
from core.data.tables import RatingRoles, Split, TableRoles
from core.errors import UserError
from core.fsutil import frame_csv_bytes
from tests.inputs import png, tree

JOBS = ["Tech-support", "Craft-repair", "=1+1", "Sales", "Exec-managerial"]


def census(n: int = 60, target=None) -> str:
    """An Adult-like table: an id, a continuous age and hours, a job, an income label."""
    rng = np.random.default_rng(0)
    rows = ["id,age,job,hours,income"]
    for i in range(n):
        income = target(i) if target else ("<=50K" if i % 3 else ">50K")
        rows.append(f"{1000 + i},{20 + i % 40},{JOBS[i % 5]},{rng.integers(10, 60)},{income}")
    return "\n".join(rows) + "\n"


def ratings(n_users: int = 12, n_items: int = 8, rating=lambda u, i: (u + i) % 5 + 1) -> str:
    rows = ["user,item,rating,timestamp"]
    rows += [
        f"u{u},film {i}: part & more,{rating(u, i)},{u * 100 + i}"
        for u in range(n_users)
        for i in range(n_items)
    ]
    return "\n".join(rows) + "\n"


@pytest.fixture
def ws(fresh_workspace):
    workspace.subdir("datasets")
    return fresh_workspace


# --- good tables -----------------------------------------------------------------------------


def test_a_utf8_bom_table_is_imported_with_roles_proposed_and_cells_kept(ws):
    data = codecs.BOM_UTF8 + census().encode()
    info = add_table(data, "My census.csv", shown_as="census.csv")
    assert info.name == "my_census" and info.task == "tabular_classification"
    folder = ws / "datasets" / "my_census"
    assert sorted(p.name for p in folder.iterdir()) == ["dataset.json", "table.csv"]
    meta = json.loads((folder / "dataset.json").read_text())
    assert meta["roles"] == {"target": "income", "cat": ["job"], "cont": ["age", "hours"]}  # id ignored
    assert meta["split"] == {"kind": "random", "valid_pct": 0.2, "seed": 0}
    assert meta["task"] == "tabular_classification" and meta["n_rows"] == 60
    assert meta["description"] == "60 rows of 5 columns from the upload census.csv."
    text = (folder / "table.csv").read_text(encoding="utf-8")
    assert text.startswith("id,age,job,hours,income\n1000,20,Tech-support,")  # no BOM, our writer
    items = tables.read_table(folder)
    assert items.vocab == ["<=50K", ">50K"] and len(items.frame) == 60
    assert sum(items.is_valid) == 12
    assert items.frame["job"].tolist()[:5] == JOBS  # =1+1 stays text, never evaluated
    assert b"'=1+1" in frame_csv_bytes(items.frame) and b"<=50K" in frame_csv_bytes(items.frame)
    assert not [p for p in (ws / "datasets").iterdir() if p.name.startswith(".")]


def test_a_number_target_makes_a_regression_table(ws):
    rows = ["rooms,area,district,price"] + [
        f"{i % 4 + 1},{50 + i * 3.5},d{i % 3},{1000 + i * 17.25}" for i in range(40)
    ]
    info = add_table("\n".join(rows).encode("utf-16"), "houses")  # UTF-16 with its BOM
    assert info.task == "tabular_regression"
    meta = datasets.metadata(info)
    assert meta["roles"] == {"target": "price", "cat": ["rooms", "district"], "cont": ["area"]}
    assert tables.read_table(info.path).frame["price"].dtype == np.float64


def test_ratings_are_imported_with_user_item_and_rating_found_by_name(ws):
    info = add_table(ratings().encode(), "films", kind="ratings")
    assert info.task == "collaborative"
    folder = ws / "datasets" / "films"
    assert (folder / "ratings.csv").is_file() and not (folder / "table.csv").exists()
    meta = datasets.metadata(info)
    assert meta["roles"] == {"user": "user", "item": "item", "rating": "rating"}
    items = tables.read_ratings(folder)
    assert items.frame["item"].iloc[0] == "film 0: part & more" and items.frame["rating"].dtype == np.float64


def test_roles_and_a_split_given_are_the_ones_recorded(ws):
    roles = TableRoles("income", cat=("job", "age"), cont=("hours",))
    split = Split("group", "job", 0.2, 1)
    info = add_table(census().encode(), "chosen", roles=roles, split=split)
    meta = datasets.metadata(info)
    assert meta["roles"] == roles.to_json() and meta["split"] == split.to_json()


def test_a_csv_on_this_machine_is_read_in_place_with_the_same_rules(ws, tmp_path):
    path = tmp_path / "adult like.csv"
    path.write_text(census())
    info = add_table(path, path.name)
    assert info.name == "adult_like" and info.task == "tabular_classification"
    assert datasets.metadata(info)["source"] == f"file {path}"  # the Data selector shows "file"
    assert (info.path / "table.csv").read_text() == census()
    with pytest.raises(UserError, match="A dataset called adult_like already exists"):
        add_table(path, "adult like")


# --- bad tables ------------------------------------------------------------------------------

SMALL = CsvLimits(max_bytes=4000, max_rows=50, max_columns=10, max_cell=100)
CENSUS = census().encode()

BAD = {
    "wrong encoding": (
        census().replace("Sales", "Ventes générales").encode("cp1252"),
        {},
        "is not UTF-8 text: line 5 holds the byte 0xE9",
    ),
    "ragged rows": (CENSUS + b"1,2,3\n", {}, r"line 62, has 3 cell\(s\) but the header names 5 columns"),
    "duplicate header": (CENSUS.replace(b"hours,", b"age,", 1), {}, "names the column 'age' twice"),
    "empty header": (CENSUS.replace(b"hours,", b",", 1), {}, "column 4 has no name"),
    "100,000 columns": (
        ",".join(f"c{i}" for i in range(100_000)).encode() + b"\n" + b"1" * 10 + b"\n",
        {},
        "has 100,000 columns, more than the 500 a table may have",
    ),
    "10 MB cell": (
        b"a,b\n1," + b"x" * 10_000_000 + b"\n",
        {},
        "line 2, has a cell longer than 10,000 characters",
    ),
    "target with one class": (
        census(target=lambda i: "yes").encode(),
        {},
        "The target 'income' holds one value only \\('yes'\\)",
    ),
    "target all missing": (
        census(target=lambda i: "").encode(),
        {},
        "The target 'income' is empty in every row",
    ),
    "text in a continuous column": (
        CENSUS.replace(b"1005,25,", b"1005,twenty-five,", 1),
        {"roles": TableRoles("income", ("job",), ("age",))},
        "The continuous column 'age' holds text such as 'twenty-five' \\(row 7\\)",
    ),
    "target also an input": (
        CENSUS,
        {"roles": TableRoles("income", ("job", "income"), ("age",))},
        "The target 'income' is also chosen as an input",
    ),
    "a column both kinds": (
        CENSUS,
        {"roles": TableRoles("income", ("age",), ("age",))},
        "'age' is chosen as both categorical and continuous",
    ),
    "unknown column": (
        CENSUS,
        {"roles": TableRoles("income", ("colour",), ())},
        "The column 'colour' is not in the table",
    ),
    "a header only": (b"id,age,income\n", {}, "has a header but no rows"),
    "empty file": (b"", {}, "is empty: a table needs a header row"),
    "PNG bytes": (png(), {}, "is not a CSV table: it is a PNG image"),
    "Excel workbook": (b"PK\x03\x04" + bytes(100), {}, "it is a zip archive \\(an Excel workbook is one\\)"),
    "NUL bytes": (CENSUS.replace(b"Sales", b"Sa\x00les", 1), {}, "line 5, holds a NUL byte"),
    "too many rows": (
        census(51).encode(),
        {"limits": CsvLimits(max_rows=50)},
        "more than 50 rows, the limit",
    ),
    "too many bytes": (
        census(200).encode(),
        {"limits": SMALL},
        "bad.csv is 5 KB, more than the 4 KB limit for one table",
    ),
    "unclosed quote": (CENSUS + b'1,2,"Sales,3,x\n', {}, "line 62, opens a quoted cell that is never closed"),
    "one column": (b"income\nyes\nno\n", {}, "A table needs at least two columns"),
    "one row": (b"age,income\n30,yes\n", {}, "The validation set is empty"),
    "ratings with text ratings": (
        ratings(rating=lambda u, i: "five" if (u, i) == (1, 1) else u % 5).encode(),
        {"kind": "ratings"},
        "The rating column 'rating' holds text such as 'five' \\(row 11\\)",
    ),
    "ratings without a user column": (
        b"item,rating\na,1\nb,2\n",
        {"kind": "ratings"},
        "needs at least three columns: user, item and rating",
    ),
    "ratings roles naming a missing user": (
        ratings().replace("user,", "person,", 1).encode(),
        {"kind": "ratings", "roles": RatingRoles("user", "item", "rating")},
        "The user column 'user' is not in the table",
    ),
    "ratings of one value": (
        ratings(rating=lambda u, i: 4).encode(),
        {"kind": "ratings"},
        "holds one value or none",
    ),
    "table roles for ratings": (
        CENSUS,
        {"kind": "ratings", "roles": TableRoles("income", ("job",))},
        "Ratings need user, item and rating roles",
    ),
    "unknown kind": (CENSUS, {"kind": "images"}, "'images' is not a kind of table"),
    "a 10,000-character class": (
        census(target=lambda i: "x" * 10_000 if i == 7 else ("<=50K" if i % 3 else ">50K")).encode(),
        {},
        f"The target 'income' holds {'x' * 30 + '…'!r}, which cannot be a class: it is longer than 200",
    ),
    "a class of two lines": (
        census(target=lambda i: '"over\n50K"' if i % 3 else "<=50K").encode(),
        {},
        "holds 'over\\\\n50K', which cannot be a class: it holds a tab, a line break",
    ),
    "an input empty in every training row": (
        census().replace("\n", ",\n").replace("income,\n", "income,note\n", 1).encode(),
        {"roles": TableRoles("income", ("job", "note"), ("age",))},
        "The categorical column 'note' has no values in the training rows; ignore it",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_table_is_refused_with_a_sentence_and_nothing_is_added(ws, case):
    data, options, match = BAD[case]
    before = tree(ws)
    with pytest.raises(UserError, match=match) as e:
        add_table(data, "bad", shown_as="bad.csv", **options)
    assert "Traceback" not in str(e.value) and len(str(e.value)) < 400
    assert tree(ws) == before  # no dataset, no temporary folder
    assert "bad" not in datasets.available()


def test_what_a_person_reads_for_a_table_that_cannot_train(ws):
    with pytest.raises(UserError) as e:
        add_table(census(target=lambda i: "yes").encode(), "bad", shown_as="bad.csv")
    assert str(e.value) == (
        "bad.csv cannot be trained on as it is: The target 'income' holds one value only ('yes'); "
        "nothing to tell apart. Nothing was added."
    )


@pytest.mark.parametrize(
    "path, match",
    [
        ("", "Give the path of the CSV file"),
        ("data/table.csv", "is not a full path"),
        ("/no/such/table.csv", "There is no file /no/such/table.csv"),
        ("/tmp/a\x00b.csv", "holds a NUL byte"),
    ],
)
def test_a_bad_path_is_refused(ws, path, match):
    before = tree(ws)
    with pytest.raises(UserError, match=match):
        add_table(path, "from_path")
    assert tree(ws) == before


def test_names_follow_the_import_rules(ws, tmp_path):
    with pytest.raises(UserError, match="digits is the name of a built-in dataset"):
        add_table(CENSUS, "digits")
    with pytest.raises(UserError, match="runs is a name the workspace uses"):
        add_table(CENSUS, "runs")
    with pytest.raises(UserError, match="Give the dataset a name"):
        add_table(CENSUS, "***")
    info = add_table(CENSUS, "census")
    with pytest.raises(UserError, match="A dataset called census already exists"):
        add_table(CENSUS, "Census")
    with pytest.raises(UserError, match="already in one of the workspace's datasets"):
        add_table(info.path / "table.csv", "again")


def test_a_path_outside_the_import_root_is_refused(ws, tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    path.write_text(census())
    monkeypatch.setenv("PLAYGROUND_IMPORT_ROOT", str(tmp_path / "allowed"))
    with pytest.raises(UserError, match="Only folders inside .*allowed may be imported"):
        add_table(path, "outside")
