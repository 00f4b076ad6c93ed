"""AppTest: the Data page for tables and ratings — columns and the target, the roles editor that
saves into the dataset (and so changes the task), fastai's processing step by step, the ratings
overview, and adding a table from a CSV (and refusing a bad one)."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.data import access, datasets
from dashboard import state
from dashboard.views import data_ratings, data_table
from tests.apptest import chart_spec, open_page, values

PAGE = "../pages/data.py"
TABLE_SECTIONS = ["Overview", "Roles and split", "Processing step by step"]
IMAGE_SECTIONS = {"Pipeline", "Augmentation", "Check images"}


def open_data(name: str) -> AppTest:
    return open_page(PAGE, **{state.DATASET: name})


def show(at: AppTest, section: str) -> AppTest:
    at.radio(key="data_section").set_value(section).run()
    assert not at.exception, at.exception
    return at


def table(at: AppTest, column: str):
    """The first DataFrame shown with this column."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def steps(at: AppTest) -> list:
    """The rows after each processing step (what each step learned is listed with a "column" column)."""
    return [d.value for d in at.dataframe if "column" not in d.value.columns]


def helps_everywhere(at: AppTest) -> None:
    widgets = [*at.selectbox, *at.radio, *at.toggle, *at.slider, *at.button, *at.multiselect, *at.text_input]
    for w in widgets:
        assert w.help and len(w.help) > 20, w.label


def test_a_table_shows_its_columns_and_target_and_no_image_sections(fresh_workspace):
    at = open_data("breast_cancer")
    assert at.radio(key="data_section").options == TABLE_SECTIONS
    assert not IMAGE_SECTIONS & set(at.radio(key="data_section").options)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["rows"] == "569" and metrics["columns"] == "31"
    assert metrics["training"] == "455" and metrics["validation"] == "114"
    summary = table(at, "role")
    assert len(summary) == 31
    row = summary.set_index("column").loc["diagnosis"]
    assert row["role"] == "target" and row["type"] == "text" and row["unique"] == 2
    assert set(summary["role"]) == {"target", "continuous"}
    assert (summary["missing"] == 0).all()
    # the target per split: the two classes, train + valid = every row
    bars = {t["name"]: t for t in chart_spec(at, "the target diagnosis")["data"]}
    assert sum(values(bars["train"]["y"])) == 455 and sum(values(bars["valid"]["y"])) == 114
    assert any("a model that always answers it already scores" in m.value for m in at.markdown)
    # one column's histogram on request
    at.selectbox(key=data_table.W_COLUMN).select("mean_radius").run()
    assert "rows per value of mean_radius" in at.get("plotly_chart")[0].proto.spec
    assert any("**Split:** random, 20% validation, seed 0" in m.value for m in at.markdown)
    helps_everywhere(at)


def test_changing_the_target_to_a_number_and_saving_makes_it_a_regression(fresh_workspace):
    at = show(open_data("breast_cancer"), "Roles and split")
    assert at.selectbox(key=data_table.W_TARGET).value == "diagnosis"
    save = at.button(key=data_table.W_SAVE)
    assert save.disabled  # nothing changed yet
    # a column in both lists is a problem shown at once, and nothing can be saved
    at.multiselect(key=data_table.W_CAT).select("mean_texture").run()
    assert any("both categorical and continuous" in e.value for e in at.error)
    assert at.button(key=data_table.W_SAVE).disabled
    at.multiselect(key=data_table.W_CAT).unselect("mean_texture").run()
    assert not at.error
    # the target becomes a measurement: it leaves the inputs, and the check says regression
    at.selectbox(key=data_table.W_TARGET).select("mean_area").run()
    assert "mean_area" not in at.multiselect(key=data_table.W_CONT).value
    assert any("diagnosis" in c.value for c in at.caption if c.value.startswith("**Ignored:**"))
    assert any("tabular regression" in s.value for s in at.success)
    at.radio(key=data_table.W_SPLIT_KIND).set_value("ordered").run()
    at.selectbox(key=data_table.W_SPLIT_COLUMN).select("mean_radius").run()
    assert any("peek" in c.value for c in at.caption)  # why a cut by date
    at.button(key=data_table.W_SAVE).click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success][0].startswith("Saved the roles and split of breast")
    info = datasets.resolve("breast_cancer")
    assert info.task == "tabular_regression"
    items = access.items("breast_cancer")
    assert items.roles.target == "mean_area" and items.split.kind == "ordered"
    assert items.split.column == "mean_radius"
    # the page now shows the new task's data: the validation rows are the largest radii
    radius = items.frame["mean_radius"].to_numpy()
    valid = np.asarray(items.is_valid)
    assert radius[valid].min() >= radius[~valid].max()
    assert at.selectbox(key=data_table.W_TARGET).value == "mean_area"


def test_processing_steps_add_na_columns_code_categories_and_normalise(fresh_workspace):
    at = show(open_data("census_synth"), "Processing step by step")
    names = [m.value for m in at.markdown if m.value[:1] == "*" and ". " in m.value]
    assert names == ["**1. raw**", "**2. FillMissing**", "**3. Categorify**", "**4. Normalize**"]
    raw, filled, coded, normed = steps(at)
    items = access.items("census_synth")
    cont = list(items.roles.cont)
    assert len(raw) == 5 and raw[cont].isna().any(axis=1).all()  # rows with an empty number first
    na_columns = [c for c in filled.columns if c.endswith("_na")]
    assert na_columns and all(c[:-3] in cont for c in na_columns)
    assert not filled[cont].isna().any().any()
    for column in na_columns:  # True exactly where the raw cell was empty
        assert filled[column].astype(str).tolist() == raw[column[:-3]].isna().astype(str).tolist()
    assert all(np.issubdtype(coded[c].dtype, np.integer) for c in items.roles.cat)
    assert any("#na#" in c.value for c in at.caption)  # what Categorify's index 0 means
    assert any("_na" in c.value and "median" in c.value for c in at.caption)  # why FillMissing adds it
    assert np.abs(normed[cont].to_numpy(dtype=float)).max() < 10
    at.slider(key=data_table.W_ROWS).set_value(3).run()
    assert len(steps(at)[0]) == 3
    helps_everywhere(at)


def test_ratings_show_their_spread_the_long_tail_and_the_items(fresh_workspace):
    at = open_data("ratings_synth")
    assert at.radio(key="data_section").options == ["Overview", "Roles and split"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["users"] == "300" and metrics["items"] == "200"
    items = access.items("ratings_synth")
    spread = chart_spec(at, "how often each rating is given")["data"][0]
    assert sum(values(spread["y"])) == len(items.frame)
    per_user = chart_spec(at, "ratings per user")["data"][0]
    counts = values(per_user["y"])
    assert counts == sorted(counts, reverse=True) and sum(counts) == len(items.frame)
    assert any("noise of standard deviation" in i.value for i in at.info)
    listed = table(at, "title")
    assert {"title", "genre", "ratings", "mean rating"} <= set(listed.columns)
    assert listed["ratings"].tolist() == sorted(listed["ratings"], reverse=True)
    at.radio(key=data_ratings.W_ORDER).set_value("fewest ratings").run()
    assert table(at, "title")["ratings"].tolist() == sorted(table(at, "title")["ratings"])
    helps_everywhere(at)
    at = show(at, "Roles and split")
    assert at.selectbox(key=data_ratings.W_USER).value == "user"
    assert at.selectbox(key=data_ratings.W_RATING).value == "rating"
    at.selectbox(key=data_ratings.W_RATING).select("item").run()
    assert at.error and at.button(key=data_table.W_SAVE).disabled  # item twice, and not a number


def upload_table(at: AppTest, name: str, data: bytes, kind: str = "A table (CSV)") -> AppTest:
    at.radio(key="add_table_kind").set_value(kind).run()
    at.file_uploader(key="add_table_file").set_value((name, data, "text/csv")).run()
    at.button(key="add_table_go").click().run()
    assert not at.exception, at.exception
    return at


PEOPLE = "age,job,city,score,label\n" + "".join(
    f"{20 + i % 40},{['cook', 'nurse', 'pilot'][i % 3]},{['Oslo', 'Lima'][i % 2]},{i * 1.5},"
    f"{'<=50K' if i % 4 else '>50K'}\n"
    for i in range(60)
)


def test_a_csv_upload_adds_a_table_and_a_bad_one_is_refused(fresh_workspace):
    at = upload_table(open_data("breast_cancer"), "people.csv", PEOPLE.encode())
    assert [s.value for s in at.success] == [
        "Added people: 60 rows as tabular classification. Check the proposed roles under Roles and split."
    ]
    assert at.session_state[state.DATASET] == "people"
    assert {m.label: m.value for m in at.metric}["rows"] == "60"
    assert at.radio(key="data_section").options == TABLE_SECTIONS
    summary = table(at, "role").set_index("column")
    assert summary.loc["label", "role"] == "target"
    spec = chart_spec(at, "the target label")
    assert "&lt;=50K" in spec["data"][0]["x"]

    bad = b"a,b,a\n1,2,3\n"
    at = upload_table(at, "twice.csv", bad)
    assert [e.value for e in at.error] == [
        "twice.csv, line 1, names the column 'a' twice (columns 1 and 3); each column needs its own name."
    ]
    assert "twice" not in datasets.available()
    assert at.session_state[state.DATASET] == "people"


def test_a_ratings_csv_upload_becomes_a_collaborative_dataset(fresh_workspace):
    rows = "".join(f"u{i % 7},film {i % 11},{1 + i % 5}\n" for i in range(80))
    at = upload_table(
        open_data("breast_cancer"), "films.csv", ("user,item,rating\n" + rows).encode(), "Ratings (CSV)"
    )
    assert any("as collaborative filtering" in s.value for s in at.success)
    assert datasets.resolve("films").task == "collaborative"
    assert at.radio(key="data_section").options == ["Overview", "Roles and split"]


@pytest.mark.parametrize("name", ["wine", "diabetes"])
def test_other_builtin_tables_open_on_every_section(fresh_workspace, name):
    at = open_data(name)
    for section in TABLE_SECTIONS[1:]:
        show(at, section)
        assert not at.error


def test_the_commonest_class_baseline_is_learned_from_the_training_rows(fresh_workspace):
    """The class to always answer is the training rows' commonest, scored on the validation rows
    (which here mostly hold another class, so their own majority would flatter the baseline)."""
    from core.data.ingest.table import add_table
    from core.data.tables import Split, TableRoles

    rows = [(t, "late" if (t >= 80 and t % 10 < 7) or t in (5, 15) else "early", t % 3) for t in range(100)]
    csv = "t,label,x\n" + "".join(f"{t},{label},{x}\n" for t, label, x in rows)
    add_table(csv.encode(), "drift", roles=TableRoles("label", (), ("x",)), split=Split("ordered", "t", 0.2))
    at = open_data("drift")
    [line] = [m.value for m in at.markdown if "always answers it" in m.value]
    # training rows: 78 "early", 2 "late"; validation rows: 14 "late", 6 "early" → the baseline scores 30%
    assert line.startswith("**early** is the commonest class of the training rows (97.5% of them)")
    assert "scores 30.0% accuracy on the validation rows" in line


def test_a_target_of_few_whole_numbers_can_be_saved_as_a_number(fresh_workspace):
    """Stars 1–5 are classes by default; the toggle saves them as a value to predict (regression)."""
    from core.data.ingest.table import add_table

    csv = "a,b,stars\n" + "".join(f"{i % 7},{i * 0.5},{1 + i % 5}\n" for i in range(60))
    add_table(csv.encode(), "stars", roles=tables_roles("stars", cont=("a", "b")))
    assert datasets.resolve("stars").task == "tabular_classification"
    at = show(open_data("stars"), "Roles and split")
    toggle = at.toggle(key=data_table.W_AS_NUMBER)
    assert toggle.value is False and "loss" in toggle.help and "RMSE" in toggle.help
    assert any("tabular classification" in s.value for s in at.success)
    toggle.set_value(True).run()
    assert any("tabular regression" in s.value for s in at.success)
    assert not at.button(key=data_table.W_SAVE).disabled  # the task is a change worth saving
    at.button(key=data_table.W_SAVE).click().run()
    assert not at.exception, at.exception
    assert datasets.resolve("stars").task == "tabular_regression"
    assert access.items("stars").task == "tabular_regression"
    assert at.toggle(key=data_table.W_AS_NUMBER).value is True  # the saved choice, shown again
    assert at.button(key=data_table.W_SAVE).disabled
    # a target of fractions is a value only: no toggle
    at.selectbox(key=data_table.W_TARGET).select("b").run()
    assert not [t for t in at.toggle if t.key == data_table.W_AS_NUMBER]


def tables_roles(target: str, cat: tuple = (), cont: tuple = ()):
    from core.data.tables import TableRoles

    return TableRoles(target, cat, cont)
