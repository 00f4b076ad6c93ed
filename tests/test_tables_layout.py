"""The table and ratings layout: roles proposed from the cells, the four splits, problems in
sentences, saving roles (the task follows the target), the data version, labels kept exactly."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.data import csv_reader, datasets, layouts, tables
from core.data.ingest import layout as image_csv
from core.data.ingest import multi
from core.data.ingest.sources import Limits
from core.data.labels import valid_flag
from core.data.tables import Split, TableRoles
from core.errors import UserError

MIXED = (
    "id,age,job,grade,height,notes,income\n"
    + "".join(
        f"{i},{20 + i % 47},{['dev', 'ops', 'qa'][i % 3]},{i % 4},{150 + (i * 7) % 41}.5,"
        f"free text number {i} here,{'<=50K' if i % 3 else '>50K'}\n"
        for i in range(1, 121)
    )
).encode()


def _frame(data: bytes = MIXED) -> pd.DataFrame:
    return csv_reader.read_csv(data, shown="test.csv")


def _table(ws, name: str, data: bytes, meta: dict | None = None):
    folder = ws / "datasets" / name
    folder.mkdir(parents=True)
    (folder / tables.TABLE_CSV).write_bytes(data)
    if meta is not None:
        (folder / "dataset.json").write_text(json.dumps(meta))
    return folder


def test_roles_proposed_from_type_and_cardinality():
    roles = tables.propose_roles(_frame())
    assert roles.target == "income"  # by its name, though another column could be last
    assert set(roles.cat) == {"job", "grade"}  # text, and four distinct whole numbers
    assert set(roles.cont) == {"age", "height"}  # many distinct numbers
    # a row id and free text (a different value on nearly every row) are left out
    assert "id" not in roles.cat + roles.cont and "notes" not in roles.cat + roles.cont


def test_without_a_known_name_the_last_column_is_the_target_and_sets_the_task():
    frame = _frame(b"a,b,score_x\n1,x,0.5\n2,y,1.25\n3,x,7.75\n")
    roles = tables.propose_roles(frame)
    assert roles.target == "score_x"
    assert tables.task_for(frame, roles) == "tabular_regression"
    assert tables.task_for(frame, TableRoles("b", ("a",))) == "tabular_classification"
    assert tables.task_for(frame, TableRoles("a", ("b",))) == "tabular_classification"  # 3 whole numbers


def test_random_split_is_seeded_with_the_share_asked():
    frame = pd.DataFrame({"x": range(200)})
    a = tables.split_mask(frame, Split("random", valid_pct=0.25, seed=3))
    assert a.sum() == 50
    assert (a == tables.split_mask(frame, Split("random", valid_pct=0.25, seed=3))).all()
    assert (a != tables.split_mask(frame, Split("random", valid_pct=0.25, seed=4))).any()


def test_group_split_keeps_each_value_on_one_side():
    shop = [f"shop{i % 13}" for i in range(260)]
    mask = tables.split_mask(pd.DataFrame({"shop": shop}), Split("group", "shop", 0.2, seed=1))
    sides = pd.DataFrame({"shop": shop, "valid": mask}).groupby("shop")["valid"].nunique()
    assert (sides == 1).all()
    assert 0.1 <= mask.mean() <= 0.3 and 0 < mask.sum() < len(mask)


def test_ordered_split_takes_the_last_share_by_number_or_iso_date():
    days = pd.date_range("2020-01-01", periods=50).strftime("%Y-%m-%d").tolist()
    rng = np.random.default_rng(0)
    order = rng.permutation(50)
    frame = pd.DataFrame({"date": [days[i] for i in order], "n": [str(i * 10) for i in order]})
    by_date = tables.split_mask(frame, Split("ordered", "date", 0.2))
    assert sorted(frame["date"][by_date]) == days[-10:]
    by_number = tables.split_mask(frame, Split("ordered", "n", 0.2))  # 90 after 100 as text, not as numbers
    assert sorted(int(v) for v in frame["n"][by_number]) == list(range(400, 500, 10))


def test_column_split_reads_true_and_false_words_and_names_a_bad_row():
    frame = pd.DataFrame({"v": ["true", "False", "1", "0", "yes", "no", "valid", "train"]})
    assert tables.split_mask(frame, Split("column", "v")).tolist() == [True, False] * 4
    with pytest.raises(UserError, match="row 3 holds 'maybe'"):
        tables.split_mask(pd.DataFrame({"v": ["true", "maybe"]}), Split("column", "v"))


def test_problems_are_sentences_naming_the_column():
    frame = _frame()
    split = Split()
    assert tables.problems(frame, tables.propose_roles(frame), split) == []
    said = " ".join(tables.problems(frame, TableRoles("income", ("job", "income"), ("job", "nope")), split))
    assert "'nope' is not in the table" in said
    assert "'job' is chosen as both categorical and continuous" in said
    assert "target 'income' is also chosen as an input" in said
    said = " ".join(tables.problems(frame, TableRoles("income", (), ("notes",)), split))
    assert "continuous column 'notes' holds text such as 'free text number 1 here' (row 2)" in said
    one = frame.assign(income="<=50K")
    assert "holds one value only ('<=50K')" in " ".join(
        tables.problems(one, TableRoles("income", ("job",)), split)
    )
    empty = frame.assign(income=np.nan)
    assert "empty in every row" in " ".join(tables.problems(empty, TableRoles("income", ("job",)), split))
    assert "The target column 'gone'" in tables.problems(frame, TableRoles("gone", ("job",)), split)[0]
    flags = frame.assign(v="false")
    assert "validation set is empty" in " ".join(
        tables.problems(flags, TableRoles("income", ("job",)), Split("column", "v"))
    )
    flags = frame.assign(v="true")
    assert "Every row is in the validation set" in " ".join(
        tables.problems(flags, TableRoles("income", ("job",)), Split("column", "v"))
    )


def test_labels_and_integer_categories_are_kept_exactly(fresh_workspace):
    data = (
        b"code,title,label\n03,=SUM(A1),<=50K\n3,Star Wars: Episode IV & more,>50K\n"
        b"7,Space & Time: Part 2,<=50K\n3,  padded  ,>50K\n"
    )
    meta = {"roles": {"target": "label", "cat": ["code", "title"], "cont": []}, "split": {"kind": "random"}}
    items = tables.read_table(_table(fresh_workspace, "t", data, meta))
    assert items.vocab == ["<=50K", ">50K"] and items.task == "tabular_classification"
    assert items.frame["code"].tolist() == ["03", "3", "7", "3"]  # text as written, not 3.0
    assert items.frame["title"].tolist()[:3] == [
        "=SUM(A1)",
        "Star Wars: Episode IV & more",
        "Space & Time: Part 2",
    ]


def test_save_roles_switches_the_task_and_leaves_no_temp_file(fresh_workspace):
    data = b"size,colour,price,kind\n" + b"".join(
        f"{i * 1.5},{['red', 'blue'][i % 2]},{100 + i * 3.25},{['a', 'b', 'c'][i % 3]}\n".encode()
        for i in range(40)
    )
    folder = _table(fresh_workspace, "shop", data, {"title": "Shop"})
    assert datasets.resolve("shop").task == "tabular_regression"  # 'price' is a known target name
    info = tables.save_roles(
        "shop", TableRoles("kind", ("colour",), ("size", "price")), Split(valid_pct=0.25)
    )
    assert info.task == "tabular_classification" and info.title == "Shop"
    meta = json.loads((folder / "dataset.json").read_text())
    assert meta["roles"]["target"] == "kind" and meta["split"] == {
        "kind": "random",
        "valid_pct": 0.25,
        "seed": 0,
    }
    info = tables.save_roles("shop", TableRoles("price", ("colour", "kind"), ("size",)), Split())
    assert info.task == "tabular_regression"
    items = layouts.read_items(folder, info.task)
    assert items.vocab == ["price"] and items.frame["price"].dtype == np.float64
    assert sorted(p.name for p in folder.iterdir()) == ["dataset.json", "table.csv"]
    before = (folder / "dataset.json").read_text()
    with pytest.raises(UserError, match="also chosen as an input"):
        tables.save_roles("shop", TableRoles("price", ("price",), ()), Split())
    assert (folder / "dataset.json").read_text() == before
    # few whole numbers read as classes unless asked to be a value
    folder2 = _table(fresh_workspace, "stars", b"x,stars\n1.5,1\n2.5,2\n3.5,3\n4.5,2\n")
    assert datasets.resolve("stars").task == "tabular_classification"
    roles = TableRoles("stars", (), ("x",))
    assert tables.save_roles("stars", roles, Split(), task="tabular_regression").task == "tabular_regression"
    assert tables.read_table(folder2).vocab == ["stars"]


def test_fingerprint_follows_the_csv_and_the_roles_only(fresh_workspace):
    folder = _table(fresh_workspace, "fp", MIXED)
    first = layouts.fingerprint(tables.read_table(folder))
    (folder / tables.TABLE_CSV).touch()
    assert layouts.fingerprint(tables.read_table(folder)) == first  # same bytes, same data
    tables.save_roles("fp", TableRoles("income", ("job",), ("age",)), Split())
    second = layouts.fingerprint(tables.read_table(folder))
    assert second != first
    (folder / tables.TABLE_CSV).write_bytes(MIXED.replace(b"dev", b"devops"))
    assert layouts.fingerprint(tables.read_table(folder)) != second
    assert layouts.all_files(tables.read_table(folder)) == ["table.csv"]


def test_ratings_layout_reads_users_items_and_titles(fresh_workspace):
    folder = fresh_workspace / "datasets" / "films"
    folder.mkdir(parents=True)
    rows = "".join(f"{u},{m},{(u + m) % 5 + 0.5}\n" for u in range(1, 11) for m in range(1, 8))
    (folder / tables.RATINGS_CSV).write_text("userId,movieId,rating\n" + rows)
    (folder / tables.ITEMS_CSV).write_text('item,title,genre\n1,"Space & Time: Part 2",Sci-Fi\n2,<3,\n')
    assert layouts.detect(folder) == "collaborative" and datasets.resolve("films").task == "collaborative"
    items = layouts.read_items(folder, "collaborative")
    assert items.roles == tables.RatingRoles("userId", "movieId", "rating")
    assert items.frame["userId"].iloc[0] == "1" and items.frame["rating"].dtype == np.float64
    assert items.items["title"].tolist() == ["Space & Time: Part 2", "<3"]
    assert items.vocab == ["rating"] and sum(items.is_valid) == 14
    assert tables.recognises(folder, "collaborative") and not tables.recognises(folder, "tabular_regression")
    with pytest.raises(UserError, match="three different columns"):
        tables.save_roles("films", tables.RatingRoles("userId", "userId", "rating"), Split())


def test_roles_and_split_json_round_trip_and_refuse_nonsense():
    roles = TableRoles("y", ("a",), ("b", "c"))
    assert TableRoles.from_json(json.loads(json.dumps(roles.to_json()))) == roles
    for split in (Split(), Split("group", "g", 0.3, 2), Split("ordered", "d", 0.1), Split("column", "v")):
        assert Split.from_json(split.to_json()).to_json() == split.to_json()
    with pytest.raises(UserError):
        Split.from_json({"kind": "ordered"})
    with pytest.raises(UserError):
        Split.from_json({"kind": "random", "valid_pct": 2})
    with pytest.raises(UserError):
        TableRoles.from_json({"target": "y", "cat": "a"})


# --- review fixes: group split balance, class labels, empty inputs, one flag reader, task choice --


def test_group_split_skips_a_group_that_would_overshoot_and_says_when_far_off():
    groups = ["big"] * 90 + ["small"] * 10
    frame = pd.DataFrame({"g": groups, "x": range(100), "y": ["a", "b"] * 50})
    for seed in range(10):  # whichever group comes first, the big one is never validation
        mask = tables.split_mask(frame, Split("group", "g", 0.2, seed))
        assert mask.sum() == 10 and set(frame["g"][mask]) == {"small"}
    roles = TableRoles("y", (), ("x",))
    assert tables.problems(frame, roles, Split("group", "g", 0.2, 0)) == []
    lopsided = frame.assign(g=["big"] * 95 + ["small"] * 5)
    assert tables.problems(lopsided, roles, Split("group", "g", 0.2, 0)) == [
        "Grouping by 'g' puts 5 % of the rows in validation (20 % asked): the groups are too few or "
        "one is too large; choose another column or another share."
    ]
    one = frame.assign(g="only")
    assert "Grouping by 'g' puts 0 % of the rows" in " ".join(
        tables.problems(one, roles, Split("group", "g"))
    )


def test_a_class_breaking_the_label_rule_is_refused_naming_it_shortly():
    frame = pd.DataFrame({"x": [1.5, 2.5, 3.5, 4.5], "y": ["a", "b", "a", "b"]})
    roles = TableRoles("y", (), ("x",))
    long = frame.assign(y=["a", "b", "z" * 10_000, "b"])
    said = " ".join(tables.problems(long, roles, Split()))
    assert f"The target 'y' holds {'z' * 30 + '…'!r}, which cannot be a class: it is longer than 200" in said
    assert len(said) < 200
    lines = frame.assign(y=["a", "b", "two\nlines", "b"])
    assert "holds 'two\\nlines', which cannot be a class: it holds a tab, a line break" in " ".join(
        tables.problems(lines, roles, Split())
    )


def test_an_input_with_no_value_in_the_training_rows_is_refused():
    n = 40
    frame = pd.DataFrame(
        {
            "x": [float(i) for i in range(n)],
            "late": [np.nan] * 30 + ["seen"] * 10,  # only in the validation rows
            "blank": [np.nan] * n,
            "v": ["false"] * 30 + ["true"] * 10,
            "y": ["a", "b"] * (n // 2),
        }
    )
    said = tables.problems(frame, TableRoles("y", ("late",), ("x", "blank")), Split("column", "v"))
    assert said == [
        "The categorical column 'late' has no values in the training rows; ignore it.",
        "The continuous column 'blank' has no values in the training rows; ignore it.",
    ]
    assert tables.problems(frame, TableRoles("y", (), ("x",)), Split("column", "v")) == []


FLAG_CELLS = {
    True: ["true", "TRUE", " True ", "1", "yes", "Y", "valid", "validation", "VALID"],
    False: ["false", "0", "no", "n", "train", "Training", " FALSE ", ""],
}


def test_one_reading_of_a_validation_flag_in_all_four_readers(tmp_path):
    cells = [(c, want) for want, words in FLAG_CELLS.items() for c in words]
    for cell, want in cells:
        assert valid_flag(cell) is want, cell
    assert [valid_flag(v) for v in (None, np.nan, 1, 0.0, np.int64(1), np.True_)] == [
        False, False, True, False, True, True
    ]  # fmt: skip
    assert valid_flag("maybe") is None and valid_flag(2) is None
    body = "".join(f"img/{i}.png,cat,{c}\n" for i, (c, _) in enumerate(cells))
    want = [w for _, w in cells]
    # a table's split column (an empty cell is training, as everywhere)
    frame = pd.DataFrame({"v": [c if c else np.nan for c, _ in cells]})
    assert tables.split_mask(frame, Split("column", "v")).tolist() == want
    # the labels.csv of a multi-label dataset
    (tmp_path / "labels.csv").write_text("file,labels,is_valid\n" + body)
    assert [r[2] for r in layouts.read_labels_csv(tmp_path / "labels.csv")] == want
    # a multi-label CSV being imported, and an image CSV being imported
    data = ("file,labels,is_valid\n" + body).encode()
    assert [r.valid for r in multi.read_rows(data, "tags.csv", Limits())] == want
    data = ("file,label,is_valid\n" + body).encode()
    assert [r[3] for r in image_csv.read_csv(data, "labels.csv", Limits())] == want
    bad = "file,labels,is_valid\nimg/0.png,cat,maybe\n"
    (tmp_path / "labels.csv").write_text(bad)
    for read in (
        lambda: tables.split_mask(pd.DataFrame({"v": ["maybe"]}), Split("column", "v")),
        lambda: layouts.read_labels_csv(tmp_path / "labels.csv"),
        lambda: multi.read_rows(bad.encode(), "tags.csv", Limits()),
        lambda: image_csv.read_csv(bad.replace("labels", "label").encode(), "labels.csv", Limits()),
    ):
        with pytest.raises(UserError, match="true or false.*'maybe'|'maybe'.*true/false"):
            read()


def test_a_whole_number_target_may_be_either_task_and_the_choice_is_checked(fresh_workspace):
    assert tables.TABULAR_TASKS == ("tabular_classification", "tabular_regression")
    assert "collaborative" in layouts.TABLE_TASKS and not hasattr(tables, "TABLE_TASKS")
    frame = pd.DataFrame({"x": [1.5, 2.5, 3.5, 4.5], "stars": ["1", "2", "3", "2"], "word": list("abab")})
    stars, word = TableRoles("stars", (), ("x",)), TableRoles("word", (), ("x",))
    assert tables.target_kinds(frame, stars) == ("tabular_classification", "tabular_regression")
    assert tables.target_kinds(frame, word) == ("tabular_classification",)
    assert tables.target_kinds(frame, TableRoles("x", ("word",))) == ("tabular_regression",)
    assert tables.task_for(frame, stars, "tabular_regression") == "tabular_regression"
    with pytest.raises(UserError, match="'word' holds text, so it can only be classes"):
        tables.task_for(frame, word, "tabular_regression")
    assert tables.problems(frame, stars, Split("random", valid_pct=0.25), "tabular_regression") == []
    said = tables.problems(frame, word, Split("random", valid_pct=0.25), "tabular_regression")
    assert said == ["The target 'word' holds text, so it can only be classes, not a value to predict."]
    folder = _table(fresh_workspace, "mixed", b"x,stars,word\n1.5,1,a\n2.5,2,b\n3.5,3,a\n4.5,2,b\n")
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(UserError, match="can only be classes"):
        tables.save_roles("mixed", word, Split(valid_pct=0.25), task="tabular_regression")
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written
    info = tables.save_roles("mixed", stars, Split(valid_pct=0.25), task="tabular_regression")
    assert info.task == "tabular_regression" and tables.read_table(folder).vocab == ["stars"]
    info = tables.save_roles("mixed", stars, Split(valid_pct=0.25))  # no choice: the target's own
    assert info.task == "tabular_classification"
