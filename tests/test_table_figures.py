"""The Data page's table figures and summaries are pure: data in, a DataFrame or a figure out."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard import table_figures as figs
from dashboard.views.data_ratings import item_table
from dashboard.views.data_table import pick_rows
from tests.apptest import values

FRAME = pd.DataFrame(
    {
        "age": [20.0, 30.0, np.nan, 40.0, 50.0, 60.0],
        "job": ["cook", "nurse", "cook", None, "cook", "pilot"],
        "id": ["a", "b", "c", "d", "e", "f"],
        "income": ["<=50K", ">50K", "<=50K", "<=50K", ">50K", "<=50K"],
    }
)


def test_the_column_summary_gives_role_type_missing_unique_and_a_sketch():
    table = figs.column_summary(FRAME, "income", ["job"], ["age"]).set_index("column")
    assert table["role"].to_dict() == {
        "age": "continuous",
        "job": "categorical",
        "id": "ignored",
        "income": "target",
    }
    assert table["type"].to_dict() == {"age": "number", "job": "text", "id": "text", "income": "text"}
    assert table.loc["age", "missing"] == 1 / 6 and table.loc["job", "missing"] == 1 / 6
    assert table.loc["job", "unique"] == 3 and table.loc["id", "unique"] == 6
    assert table.loc["job", "distribution"] == [3, 1, 1]  # most frequent first
    assert sum(table.loc["age", "distribution"]) == 5 and len(table.loc["age", "distribution"]) == figs.BINS


def test_a_text_columns_chart_keeps_the_most_frequent_values_and_sums_the_rest():
    many = pd.Series([f"v{i}" for i in range(40) for _ in range(40 - i)])
    counts = figs.top_counts(many, k=5)
    assert counts.index.tolist()[:5] == ["v0", "v1", "v2", "v3", "v4"]
    assert counts.index[-1] == "others (35 values)" and counts.sum() == len(many)
    fig = figs.column_figure(pd.Series(["<=50K", ">50K", None, "<=50K"], name="income"), "income")
    bar = fig.data[0]
    assert list(bar.x) == ["&lt;=50K", "&gt;50K"] and list(bar.y) == [2, 1]  # labels shown as written
    assert "1 missing" in fig.layout.title.text
    hist = figs.column_figure(FRAME["age"], "age").data[0]
    assert hist.type == "histogram" and len(hist.x) == 5


def test_the_target_figure_splits_classes_or_values_by_train_and_valid():
    valid = [False, False, False, False, True, True]
    fig = figs.target_figure(FRAME["income"], valid, classification=True)
    bars = {t.name: t for t in fig.data}
    assert list(bars["train"].x) == ["&lt;=50K", "&gt;50K"]
    assert list(bars["train"].y) == [3, 1] and list(bars["valid"].y) == [1, 1]
    fig = figs.target_figure(FRAME["age"], valid, classification=False)
    assert [t.type for t in fig.data] == ["histogram", "histogram"]
    assert sorted(fig.data[0].x) == [20.0, 30.0, 40.0] and sorted(fig.data[1].x) == [50.0, 60.0]


def test_ratings_figures_count_each_value_and_rank_the_long_tail():
    ratings = pd.Series([1, 2, 2, 3, 3, 3, 4.5], dtype=float)
    bar = figs.ratings_figure(ratings).data[0]
    assert list(bar.x) == ["1", "2", "3", "4.5"] and values(bar.y) == [1, 2, 3, 1]
    counts = pd.Series([3, 50, 1, 7])
    tail = figs.long_tail(counts)
    assert tail["rank"].tolist() == [1, 2, 3, 4] and tail["ratings"].tolist() == [50, 7, 3, 1]
    big = figs.long_tail(pd.Series(np.arange(10_000)), max_points=100)
    assert len(big) <= 100 and big["ratings"].iloc[0] == 9999 and big["ratings"].iloc[-1] == 0
    line = figs.long_tail_figure(counts, "user").data[0]
    assert values(line.y) == [50, 7, 3, 1]


def test_rows_with_empty_cells_are_picked_first_from_the_training_rows():
    from core.data.tables import TableRoles

    roles = TableRoles(target="income", cat=("job",), cont=("age",))
    rows = pick_rows(FRAME, roles, [False] * 5 + [True], 3, missing_first=True)
    assert rows.index.tolist() == [2, 3, 0]  # empty number first, then empty category, then in order
    assert pick_rows(FRAME, roles, [False] * 6, 2, missing_first=False).index.tolist() == [0, 1]


def test_the_items_table_joins_titles_and_orders_by_ratings():
    from core.data.tables import RatingItems, RatingRoles, Split

    frame = pd.DataFrame(
        {"user": ["u1", "u2", "u1", "u3"], "item": ["1", "1", "2", "1"], "rating": [4, 5, 2, 3.0]}
    )
    titles = pd.DataFrame({"item": ["1", "2"], "title": ["A & B: Part 2", "C"], "genre": ["Drama", "Comedy"]})
    items = RatingItems(".", frame, RatingRoles("user", "item", "rating"), Split(), [False] * 4, titles)
    table = item_table(items, "most rated")
    assert table["title"].tolist() == ["A & B: Part 2", "C"] and table["ratings"].tolist() == [3, 1]
    assert table["mean rating"].tolist() == [4.0, 2.0]
    assert item_table(items, "lowest mean rating")["item"].tolist() == ["2", "1"]
