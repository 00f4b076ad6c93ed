"""The Results figures for tables and ratings: what each draws (points, labels, axes), thinned and escaped."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard import table_result_figures as tfig


def test_predicted_against_actual_draws_every_row_and_the_diagonal():
    actual, predicted = np.array([1.0, 2.0, 3.0, 10.0]), np.array([1.5, 2.0, 2.0, 8.0])
    fig = tfig.predicted_vs_actual(actual, predicted, "price <b>")
    rows, diagonal = fig.data
    assert list(rows.x) == list(actual) and list(rows.y) == list(predicted)
    assert list(diagonal.x) == list(diagonal.y) == [1.0, 10.0]  # spans both clouds
    assert fig.layout.xaxis.title.text == "actual price &lt;b&gt;"  # a column name shown as typed
    assert fig.layout.yaxis.title.text == "predicted price &lt;b&gt;"


def test_residuals_are_actual_minus_predicted_around_zero():
    fig = tfig.residuals([1.0, 2.0, 3.0], [1.5, 2.0, 2.0], "y")
    assert list(fig.data[0].x) == [1.5, 2.0, 2.0]
    assert list(fig.data[0].y) == [-0.5, 0.0, 1.0]
    assert fig.layout.yaxis.title.text == "residual (actual − predicted)"
    assert fig.layout.shapes[0].y0 == 0  # the zero line


def test_big_clouds_are_thinned_to_a_seeded_sample():
    n = tfig.MAX_POINTS * 3
    a = tfig.predicted_vs_actual(np.arange(n, dtype=float), np.arange(n, dtype=float), "y")
    b = tfig.predicted_vs_actual(np.arange(n, dtype=float), np.arange(n, dtype=float), "y")
    assert len(a.data[0].x) == tfig.MAX_POINTS and list(a.data[0].x) == list(b.data[0].x)
    assert list(a.data[0].x) == sorted(a.data[0].x)  # the original order kept


def test_importance_ranks_columns_with_the_largest_drop_on_top():
    table = pd.DataFrame(
        {"column": ["age", "job", "zip"], "drop": [0.1, 0.3, -0.01], "std": [0.01, 0.02, 0.0]}
    )
    fig = tfig.importance(table, "accuracy")
    assert list(fig.data[0].y) == ["zip", "age", "job"]  # bottom first: the largest is drawn on top
    assert list(fig.data[0].error_x.array) == [0.0, 0.01, 0.02]
    assert fig.layout.xaxis.title.text == "drop in accuracy when the column is shuffled"


def test_embedding_map_labels_one_point_per_value_sized_by_count():
    points = pd.DataFrame(
        {
            "value": ["#na#", "a", "<i>b</i>"],
            "x": [0.0, 1.0, -1.0],
            "y": [0.0, 0.5, 0.2],
            "count": [0, 10, 90],
        }
    )
    fig = tfig.embedding_map(points, "job")
    (trace,) = fig.data
    assert list(trace.text) == ["#na#", "a", "&lt;i&gt;b&lt;/i&gt;"]
    assert len(trace.x) == 3 and trace.marker.size[2] > trace.marker.size[1] > trace.marker.size[0]
    assert fig.layout.xaxis.title.text == "first principal component"
    assert fig.layout.yaxis.title.text == "second principal component"


def test_rmse_bars_put_the_model_between_the_mean_and_the_noise_floor():
    fig = tfig.rmse_bars(0.6, 1.1, 0.5)
    assert list(fig.data[0].y) == ["always the mean rating", "this model", "noise floor (best possible)"]
    assert list(fig.data[0].x) == [1.1, 0.6, 0.5]
    assert list(tfig.rmse_bars(0.6, 1.1, None).data[0].y) == ["always the mean rating", "this model"]
    assert fig.layout.xaxis.title.text.startswith("RMSE on the validation ratings")


def test_item_map_has_a_trace_per_genre_and_labels_only_the_most_rated():
    points = pd.DataFrame(
        {
            "item": [f"i{k}" for k in range(6)],
            "title": ["A", "B", "C", "D", "E", "F & G"],
            "genre": ["Drama", "Comedy", "Drama", "Comedy", "Drama", None],
            "x": np.arange(6.0),
            "y": np.zeros(6),
            "count": [60, 50, 40, 30, 20, 10],
        }
    )
    fig = tfig.item_map(points, labelled=2)
    assert [t.name for t in fig.data] == ["items", "Comedy", "Drama"]  # no genre: "items"
    assert sum(len(t.x) for t in fig.data) == 6
    drama = fig.data[2]
    assert list(drama.hovertext) == ["A", "C", "E"] and list(drama.text) == ["A", "", ""]
    assert list(fig.data[0].hovertext) == ["F &amp; G"]
    assert fig.layout.showlegend


def test_bias_bars_show_both_ends_highest_first():
    table = pd.DataFrame(
        {"item": list("abcdefgh"), "title": list("ABCDEFGH"), "bias": np.linspace(1, -1, 8), "count": 1}
    )
    fig = tfig.bias_bars(table, n=2)
    assert list(fig.data[0].y) == ["A", "B", "G", "H"]
    assert fig.data[0].x[0] == 1.0 and fig.data[0].x[-1] == -1.0
    assert fig.layout.xaxis.title.text.startswith("learned bias")
