"""The table processing against its oracle, fastai's TabularPandas(procs=[Categorify, FillMissing,
Normalize]) on the same frame and split: the same vocabularies and codes, fill values and `_na`
columns, means and stds, and the same processed inputs; plus what fastai leaves out (JSON, unseen
values at prediction time, the step-by-step view, embedding sizes)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.data import table_procs
from core.data.table_procs import NA, Procs, emb_sizes, fit
from core.data.tables import TableRoles
from core.errors import UserError

N_TRAIN, N = 60, 80


def frame(seed: int = 0) -> pd.DataFrame:
    """A small table with gaps in both kinds of column, odd labels, and a class target."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "work": rng.choice(["Private", "State-gov", "<=50K", "Star Wars: IV & more", "éclair"], N),
            "edu": rng.choice(["HS", "Bachelors", "Masters"], N),
            "age": rng.normal(40, 12, N).round(),
            "hours": rng.normal(40, 8, N),
            "gain": rng.exponential(1000, N),
            "y": rng.choice(["<=50K", ">50K"], N),
        }
    )
    df["work"] = df["work"].astype(object)
    df["edu"] = df["edu"].astype(object)
    df["y"] = df["y"].astype(object)
    df.loc[[1, 4, 9, 70], "work"] = np.nan  # gaps in a categorical column, train and valid
    df.loc[[2, 5, 71], "age"] = np.nan  # gaps in train (→ age_na) and valid
    df.loc[[3], "hours"] = np.nan  # a gap in train only (→ hours_na)
    df.loc[[75], "edu"] = "PhD"  # seen only in validation: fastai (unshrunk) and we say #na#
    return df


ROLES = TableRoles("y", ("work", "edu"), ("age", "hours", "gain"))
VALID = np.arange(N) >= N_TRAIN


def oracle(df: pd.DataFrame, reduce_memory: bool = False):
    from fastai.tabular.core import Categorify, FillMissing, Normalize, TabularPandas

    splits = (list(range(N_TRAIN)), list(range(N_TRAIN, N)))
    return TabularPandas(
        df,
        procs=[Categorify, FillMissing, Normalize],
        cat_names=list(ROLES.cat),
        cont_names=list(ROLES.cont),
        y_names="y",
        splits=splits,
        reduce_memory=reduce_memory,
    )


def test_vocabularies_fills_and_normalisation_are_fastais():
    df = frame()
    to = oracle(df)
    procs = fit(df, ROLES, VALID, classes=["<=50K", ">50K"])

    assert procs.cat_names == list(to.cat_names)  # work, edu, then age_na, hours_na as fastai adds them
    assert procs.na == ["age", "hours"]
    for c in procs.cats:
        assert c.vocab == [str(v) for v in to.classes[c.name]], c.name
    assert procs.cats[1].vocab == [NA, "Bachelors", "HS", "Masters"]  # PhD (valid only) is not in it
    fills = to.procs.fill_missing.na_dict
    assert set(fills) == {"age", "hours"}
    by_name = {c.name: c for c in procs.conts}
    for name, value in fills.items():
        assert by_name[name].fill == pytest.approx(float(value))
    norm = to.procs.normalize
    for name in ROLES.cont:
        assert by_name[name].mean == pytest.approx(float(norm.means[name]), rel=1e-6)
        assert by_name[name].std == pytest.approx(float(norm.stds[name]), rel=1e-6)


def test_the_processed_rows_equal_fastais_xs_train_and_valid():
    df = frame()
    to = oracle(df)
    procs = fit(df, ROLES, VALID, classes=["<=50K", ">50K"])
    cats, conts = procs.transform(df)
    expected = to.xs  # train rows then valid rows: here the frame's own order
    assert cats.dtype.is_floating_point is False and cats.shape == (N, 4)
    np.testing.assert_array_equal(cats.numpy(), expected[procs.cat_names].to_numpy().astype(np.int64))
    np.testing.assert_allclose(conts.numpy(), expected[procs.cont_names].to_numpy(), rtol=1e-5, atol=1e-5)
    assert cats[75, 1] == 0  # the unseen "PhD" is #na#
    assert cats[70, 0] == 0 and cats[71, 2] == 2  # a missing category is 0; age_na is True (2)
    np.testing.assert_array_equal(procs.target(df).numpy(), to.ys["y"].to_numpy())


def test_fastais_default_shrink_agrees_when_every_value_is_seen_in_training():
    """fastai's reduce_memory turns low-cardinality text into pandas categories over every row, so
    a value seen only in validation would join its vocabulary; ours keeps to the training rows
    (as fastai does unshrunk). Without such a value the two agree exactly."""
    df = frame()
    df.loc[75, "edu"] = "HS"
    to = oracle(df, reduce_memory=True)
    procs = fit(df, ROLES, VALID, classes=["<=50K", ">50K"])
    cats, conts = procs.transform(df)
    for c in procs.cats:
        assert c.vocab == [str(v) for v in to.classes[c.name]]
    np.testing.assert_array_equal(cats.numpy(), to.xs[procs.cat_names].to_numpy().astype(np.int64))
    np.testing.assert_allclose(conts.numpy(), to.xs[procs.cont_names].to_numpy(), rtol=1e-4, atol=1e-4)


def test_the_state_is_plain_json_and_comes_back_the_same():
    df = frame()
    procs = fit(df, ROLES, VALID, classes=["<=50K", ">50K"])
    text = json.dumps(procs.to_json(), allow_nan=False)
    again = Procs.from_json(json.loads(text))
    assert again == procs
    a, b = procs.transform(df), again.transform(df)
    assert all(bool((x == y).all()) for x, y in zip(a, b))
    damaged = json.loads(text)
    damaged["cat"][0]["vocab"] = ["Private"]  # #na# must come first
    with pytest.raises(UserError, match="damaged"):
        Procs.from_json(damaged)


def test_the_state_keeps_each_categorys_training_count_beside_its_vocabulary():
    df = frame()
    procs = fit(df, ROLES, VALID, classes=["<=50K", ">50K"])
    train = df.iloc[:N_TRAIN]
    for c in procs.cats[:2]:
        seen = train[c.name].value_counts()
        assert c.counts == [int(train[c.name].isna().sum()), *(int(seen[v]) for v in c.vocab[1:])]
    assert procs.cats[2].name == "age_na" and procs.cats[2].counts == [0, N_TRAIN - 2, 2]  # False, True
    state = json.loads(json.dumps(procs.to_json()))
    assert state["cat"][0]["counts"] == procs.cats[0].counts
    older = json.loads(json.dumps(state))
    for c in older["cat"]:
        del c["counts"]  # a state written before the counts were kept still loads
    assert [c.counts for c in Procs.from_json(older).cats] == [None] * 4
    older["cat"][0]["counts"] = [1, 2]
    with pytest.raises(UserError, match="counts of 'work'"):
        Procs.from_json(older)


def test_rows_at_prediction_time_unknown_categories_new_gaps_and_bad_cells():
    df = frame()
    procs = fit(df, ROLES, VALID, classes=["<=50K", ">50K"])
    rows = pd.DataFrame(
        {"work": ["Never seen"], "edu": ["HS"], "age": [np.nan], "hours": [40.0], "gain": [np.nan]}
    )
    cats, conts = procs.transform(rows)
    assert cats[0, 0] == 0 and cats[0, 1] == procs.cats[1].vocab.index("HS")
    gain = procs.conts[2]  # no gaps in training: filled with its median, no gain_na column
    assert conts[0, 2] == pytest.approx((gain.fill - gain.mean) / gain.std, abs=1e-5)
    with pytest.raises(UserError, match="'age'.*'forty'"):
        procs.transform(rows.assign(age=["forty"]))
    with pytest.raises(UserError, match="no column 'edu'"):
        procs.transform(rows.drop(columns="edu"))


def test_a_regression_target_keeps_its_training_statistics():
    df = frame().assign(price=np.linspace(10, 89, N))
    procs = fit(df, TableRoles("price", ("edu",), ("hours",)), VALID)
    assert procs.classes is None
    assert procs.target_stats["min"] == 10 and procs.target_stats["max"] == pytest.approx(10 + 59)
    assert procs.target(df).dtype.is_floating_point


def test_steps_show_each_stage_on_the_rows():
    df = frame()
    procs = fit(df, ROLES, VALID, classes=["<=50K", ">50K"])
    steps = procs.steps(df.iloc[:6])
    assert [s.name for s in steps] == ["raw", "FillMissing", "Categorify", "Normalize"]
    raw, filled, coded, normed = (s.frame for s in steps)
    assert raw["age"].isna().sum() == 2 and filled["age"].isna().sum() == 0
    assert list(filled["age_na"]) == ["False", "False", "True", "False", "False", "True"]
    assert coded["work"].iloc[1] == 0 and coded["age_na"].iloc[2] == 2
    assert normed["hours"].abs().max() < 5 and "age_na" in normed
    assert all(s.note.endswith(".") for s in steps)
    assert set(steps[2].learned["column"]) == set(procs.cat_names)


def test_embedding_sizes_follow_fastais_rule():
    from fastai.tabular.model import get_emb_sz

    df = frame()
    procs = fit(df, ROLES, VALID, classes=["<=50K", ">50K"])
    sizes = emb_sizes(procs)
    assert [name for name, _, _ in sizes] == procs.cat_names
    assert [(n, s) for _, n, s in sizes] == list(get_emb_sz(oracle(df)))


def test_tables_that_cannot_be_processed_are_refused_in_sentences():
    df = frame()
    with pytest.raises(UserError, match="no input columns"):
        fit(df, TableRoles("y"), VALID, classes=["<=50K", ">50K"])
    with pytest.raises(UserError, match="no values in the training rows"):
        fit(df.assign(age=np.nan), ROLES, VALID, classes=["<=50K", ">50K"])
    with pytest.raises(UserError, match="age_na"):
        fit(df.assign(age_na="x"), TableRoles("y", ("age_na",), ("age",)), VALID, classes=["<=50K", ">50K"])
    assert table_procs.as_text(pd.Series([3.0, np.nan, 2.5])).tolist()[::2] == ["3", "2.5"]
