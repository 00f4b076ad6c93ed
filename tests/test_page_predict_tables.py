"""AppTest: the Predict page for a table model (a form with one control per input column, a CSV batch
with a download, a CSV missing a column refused) and a ratings model (recommendations for a user,
similar items, an unknown user refused); no image input for either."""

from __future__ import annotations

import pandas as pd
import pytest

from core.serving import predict, predict_collab, predict_table
from dashboard import state
from dashboard.views import predict_collab as collab_view
from dashboard.views import predict_table as table_view
from tests.apptest import chart_spec, open_page
from tests.test_page_results_tables import CLASSES, RATINGS, VALUES, copy_workspace, trained_tables

PAGE = "../pages/predict.py"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_tables(tmp_path_factory)


@pytest.fixture
def ws(trained, fresh_workspace):
    copy_workspace(trained, fresh_workspace)
    predict.forget_cache()
    return trained


def predict_page(name: str):
    return open_page(PAGE, timeout=120, **{state.PREDICT_MODEL: name})


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_the_form_predicts_the_row_it_shows(ws):
    name = ws.bundles[CLASSES]
    at = predict_page(name)
    loaded = predict.load(name)
    fields = predict_table.form_fields(loaded.info)
    assert [f.name for f in fields] == ["colour", "size", "x", "z"]
    assert not [r for r in at.radio if r.label == "Images from"]  # no image source
    assert not [t for t in at.toggle if "Grad-CAM" in t.label]
    # one control per column: the categories from the vocabulary, the numbers from the training median
    colour = at.selectbox(key=table_view.field_key(loaded.info, 0))
    assert sorted(colour.options) == sorted(["blue", "green", "red", "=SUM(A1)"])
    assert at.number_input(key=table_view.field_key(loaded.info, 2)).value == pytest.approx(fields[2].default)
    colour.set_value("red")
    at.number_input(key=table_view.field_key(loaded.info, 2)).set_value(1.5)
    at.run()
    assert not at.exception, at.exception
    row = {"colour": "red", "size": fields[1].default, "x": 1.5, "z": fields[3].default}
    expected = predict_table.predict_rows(loaded, pd.DataFrame([row])).iloc[0]
    assert metric(at, "Prediction") == expected["predicted"]
    bars = chart_spec(at, '"probability"')["data"][0]
    shown = dict(zip(bars["y"], bars["x"]))
    for c in loaded.info.classes:
        assert shown[c.replace("<", "&lt;").replace(">", "&gt;")] == pytest.approx(expected[f"p({c})"])


def test_a_regression_form_gives_the_value(ws):
    name = ws.bundles[VALUES]
    at = predict_page(name)
    loaded = predict.load(name)
    fields = predict_table.form_fields(loaded.info)
    row = {f.name: f.default for f in fields}
    expected = predict_table.predict_rows(loaded, pd.DataFrame([row])).iloc[0]["predicted"]
    assert metric(at, "Predicted y") == f"{expected:.4g}"


def test_a_csv_batch_is_predicted_and_offered_for_download(ws):
    name = ws.bundles[CLASSES]
    at = predict_page(name)
    loaded = predict.load(name)
    data = b"colour,size,x,z,extra\nred,S,0.5,3,=HYPERLINK(1)\ngreen,L,-1,7,b\npurple,M,,2,c\n"
    at.file_uploader(key=table_view.CSV).set_value(("rows.csv", data, "text/csv")).run()
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "predicted" in d.value.columns)
    expected = predict_table.predict_csv(loaded, data)
    assert list(table["predicted"]) == list(expected["predicted"]) and len(table) == 3
    assert "purple" in table["notes"].iloc[2]  # an unknown category is read as #na#, and said so
    assert [b.label for b in at.get("download_button")] == ["Download results (CSV)"]
    assert any("3 rows" in m.value for m in at.markdown)


def test_a_batch_shows_the_answers_first_keeps_the_uploaded_columns_and_downloads_safely(ws, monkeypatch):
    from core.fsutil import frame_csv_bytes

    made = []

    def recorded(frame):
        made.append(frame)
        return frame_csv_bytes(frame)

    monkeypatch.setattr(table_view, "frame_csv_bytes", recorded)
    name = ws.bundles[CLASSES]
    at = predict_page(name)
    loaded = predict.load(name)
    data = b"id,colour,size,x,z,y\n7,red,S,0.5,3,>50K\n8,green,L,-1,7,<=50K\n9,blue,M,1,2,<=50K\n"
    at.file_uploader(key=table_view.CSV).set_value(("rows.csv", data, "text/csv")).run()
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "predicted" in d.value.columns)
    expected = predict_table.predict_csv(loaded, data)
    assert list(table.columns[:3]) == ["predicted", "probability", "notes"]  # the answers first
    classes = [f"p({c})" for c in loaded.info.classes]
    assert list(table.columns[-len(classes) :]) == classes  # each class's probability last
    assert set(table.columns) == set(expected.columns)
    assert list(table["predicted"]) == list(expected["predicted"])
    agree = float((expected["predicted"] == expected["y"]).mean()) if "y" in expected else None
    if agree is not None:  # the uploaded rows hold the target: how far the answers agree with it
        assert any(f"agrees with it on {agree:.1%} of the 3 rows" in c.value for c in at.caption)
    assert made and list(made[-1].columns) == list(table.columns)  # the one spreadsheet-safe writer


def test_the_forms_categories_start_where_form_fields_says_and_the_help_says_where(ws):
    name = ws.bundles[CLASSES]
    at = predict_page(name)
    loaded = predict.load(name)
    fields = predict_table.form_fields(loaded.info)
    counted = table_view.counted_columns(loaded.info)
    for i, field in enumerate(fields):
        if field.kind != "cat":
            continue
        box = at.selectbox(key=table_view.field_key(loaded.info, i))
        assert box.value == field.default
        where = "the most frequent one in the training rows" if field.name in counted else "the first one"
        assert where in box.help, box.help


def test_what_a_user_rated_is_read_once_not_on_every_change(ws, monkeypatch):
    from core.data import ratings_loaders

    name = ws.bundles[RATINGS]
    reads = []
    real = ratings_loaders.read

    def counted(*args, **kwargs):
        reads.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(ratings_loaders, "read", counted)
    at = predict_page(name)
    loaded = predict.load(name)
    users = predict_collab.users(loaded.info)
    first = len(reads)
    assert first <= 1
    for n in (5, 8, 12):
        at.number_input(key=collab_view.TOP_N).set_value(n).run()
    at.selectbox(key=collab_view._key(collab_view.USER, loaded.info)).set_value(users[2]).run()
    assert not at.exception, at.exception
    assert len(reads) == first  # cached by the ratings file's stamp
    recs = next(d.value for d in at.dataframe if "predicted" in d.value.columns)
    monkeypatch.setattr(ratings_loaders, "read", real)
    expected = predict_collab.recommend(loaded, users[2], n=12)
    assert list(recs["item"]) == list(expected["item"])  # the same items the engine leaves
    seen = expected.attrs["seen"]
    assert seen and any(f"{seen} items they already rated were left out" in c.value for c in at.caption)


def test_a_csv_missing_a_column_is_refused_with_its_name(ws):
    at = predict_page(ws.bundles[CLASSES])
    at.file_uploader(key=table_view.CSV).set_value(("rows.csv", b"colour,x,z\nred,1,2\n", "text/csv")).run()
    assert not at.exception, at.exception
    assert any("'size'" in e.value for e in at.error)
    assert not at.get("download_button")


def test_ratings_recommend_for_a_user_and_list_similar_items(ws):
    name = ws.bundles[RATINGS]
    at = predict_page(name)
    loaded = predict.load(name)
    users = predict_collab.users(loaded.info)
    assert not at.get("file_uploader")  # no images, no CSV
    user_box = at.selectbox(key=collab_view._key(collab_view.USER, loaded.info))
    assert user_box.value == users[0]
    user_box.set_value(users[3])
    at.number_input(key=collab_view.TOP_N).set_value(7)
    at.run()
    assert not at.exception, at.exception
    tables = [d.value for d in at.dataframe]
    recs = next(t for t in tables if "predicted" in t.columns)
    expected = predict_collab.recommend(loaded, users[3], n=7)
    assert len(recs) == 7 and list(recs["item"]) == list(expected["item"])
    assert list(recs["predicted"]) == sorted(recs["predicted"], reverse=True)
    similar = next(t for t in tables if "similarity" in t.columns)
    item = predict_collab.items(loaded.info)[0]
    assert list(similar["item"]) == list(predict_collab.similar(loaded, item, n=7)["item"])


def test_an_unknown_user_is_refused_with_the_engines_message(ws):
    name = ws.bundles[RATINGS]
    loaded = predict.load(name)
    typed = {collab_view._key(collab_view.USER, loaded.info): "nobody"}  # typed into the picker
    at = open_page(PAGE, timeout=120, **{state.PREDICT_MODEL: name, **typed})
    assert any("'nobody' was not in the training data" in e.value for e in at.error)
    assert not [d for d in at.dataframe if "predicted" in d.value.columns]
