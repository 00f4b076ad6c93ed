"""Comparing runs: only what differs, one sentence, seed groups and the noise verdict, curves."""

from __future__ import annotations

import json
import math
import statistics
import time

import pytest

from core.analysis import compare, noise
from core.errors import UserError
from core.jobs.store import FAILED
from tests.test_history import finished_run


def jobs_of(store, ids):
    return [store.get(i) for i in ids]


# --- what differs ----------------------------------------------------------------------------


def test_two_runs_differing_only_in_lr_show_exactly_one_differing_setting(store):
    a = finished_run(store, lr=3e-4, acc=0.95, valid_loss=0.16, seconds=10.0)
    b = finished_run(store, lr=3e-3, acc=0.97, valid_loss=0.13, seconds=10.4)
    c = compare.compare([a, b], store=store)
    assert list(c.differing.index) == ["lr"]
    assert list(c.differing.columns) == [a, b]
    assert c.differing.loc["lr", a] == 3e-4 and c.differing.loc["lr", b] == 3e-3
    assert c.same["data"] == "fp-1" and c.same["bs"] == 64 and "lr" not in c.same
    assert (c.metric, c.higher_is_better, c.task) == ("accuracy", True, "single_label")
    assert list(c.finals.index) == [a, b] and c.finals.columns[0] == "accuracy"
    assert c.finals.loc[b, "accuracy"] == 0.97 and c.finals.loc[a, "valid_loss"] == 0.16
    assert c.sentence == (
        f"Run {b} used a learning rate 10× higher than run {a}; its accuracy ended 2.0 points higher, "
        "its validation loss 0.03 lower and it finished in the same time."
    )


def test_the_data_version_counts_as_a_setting(store):
    before = finished_run(store, fingerprint="before-cleaning")
    after = finished_run(
        store, fingerprint="after-cleaning", acc=0.98, parent=before, params={"retrain_of": before}
    )
    c = compare.compare(jobs_of(store, [before, after]))
    assert list(c.differing.index) == ["data"]  # its source is its lineage, not a setting
    assert c.sentence.startswith(f"Run {after} saw another version of the data than run {before};")
    failed = finished_run(store, state=FAILED)  # saved nothing: its data version is unknown
    c = compare.compare(jobs_of(store, [before, failed]))
    assert list(c.differing.index) == []  # unknown is not a difference
    assert "used the same settings" in c.sentence


def test_the_sentence_names_the_largest_difference_between_best_and_worst(store):
    a = finished_run(store, lr=1e-3, bs=64, acc=0.90, seconds=10.0)
    b = finished_run(store, lr=1e-3, bs=128, acc=0.93, seconds=5.0)
    c = finished_run(store, lr=1e-1, bs=64, acc=0.50, seconds=10.0)
    sentence = compare.compare(jobs_of(store, [a, b, c])).sentence
    # best is b, worst is c: lr differs 100×, bs 2×; the lr is named, the batch size counted
    assert sentence.startswith(f"Run {b} used a learning rate 100× lower than run {c} (and 1 other setting")
    assert "43.0 points higher" in sentence and "2× faster" in sentence


def test_a_continued_run_differs_by_where_it_started(store):
    parent = finished_run(store, epochs=3)
    child = finished_run(store, epochs=2, parent=parent, params={"continue": {"parent": parent}}, acc=0.98)
    c = compare.compare(jobs_of(store, [parent, child]))
    assert c.differing.loc["continues"].tolist() == [None, parent]
    assert c.differing.loc["epochs"].tolist() == [3, 2]


def test_only_seed_differs(store):
    a, b = finished_run(store, seed=0), finished_run(store, seed=1, acc=0.971)
    c = compare.compare(jobs_of(store, [a, b]))
    assert list(c.differing.index) == ["seed"]
    assert "only in its seed" in c.sentence


def test_bad_comparisons_are_refused_with_a_sentence(store):
    a, b = finished_run(store), finished_run(store)
    with pytest.raises(UserError, match="at least 2 different runs"):
        compare.compare([a], store=store)
    with pytest.raises(UserError, match="at least 2 different runs"):
        compare.compare([a, a], store=store)
    with pytest.raises(UserError, match="no run 404"):
        compare.compare([a, 404], store=store)
    many = [finished_run(store, seed=i) for i in range(11)]
    with pytest.raises(UserError, match="at most 10 runs"):
        compare.compare(many, store=store)
    lr_find = store.submit("lr_find", {"config": {}})
    with pytest.raises(UserError, match="not a training run"):
        compare.compare([a, lr_find], store=store)
    other = store.submit("train", {"config": {"task": "multi_label"}})
    with pytest.raises(UserError, match="different tasks are not compared"):
        compare.compare([a, b, other], store=store)


def test_a_comparison_is_plain_json(store):
    ids = [finished_run(store, lr=lr, seed=s, acc=acc) for lr, s, acc in [(1e-3, 0, 0.9), (1e-3, 1, 0.91)]]
    ids.append(finished_run(store, lr=1e-3, seed=2, state=FAILED))
    out = compare.to_dict(compare.compare(ids, store=store))
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text)["finals"][2]["accuracy"] is None
    assert [g["runs"] for g in out["groups"]] == [ids]  # its data version unknown, it joins the group


# --- is it real? -----------------------------------------------------------------------------


def groups_of(store, runs: list[tuple[float, int, float]], n_valid: int = 359):
    ids = [finished_run(store, lr=lr, seed=seed, acc=acc, n_valid=n_valid) for lr, seed, acc in runs]
    return compare.seed_groups(jobs_of(store, ids))


def test_seed_groups_gather_runs_that_differ_only_in_their_seed(store):
    groups = groups_of(store, [(3e-3, 0, 0.97), (1e-5, 0, 0.3), (3e-3, 1, 0.968), (1e-5, 1, 0.31)])
    assert len(groups) == 2
    assert [g.seeds for g in groups] == [[0, 1], [0, 1]]
    assert groups[0].settings["lr"] == 3e-3 and "seed" not in groups[0].settings
    assert groups[0].mean == pytest.approx(0.969) and groups[1].sd == pytest.approx(
        statistics.stdev([0.3, 0.31])
    )


def test_the_same_setting_twice_is_within_noise(store):
    accs = [0.965, 0.972, 0.968, 0.970, 0.966, 0.971]
    (g,) = groups_of(store, [(3e-3, seed, acc) for seed, acc in enumerate(accs)])
    first, second = noise.Group(g.runs[:3], g.settings, g.task), noise.Group(g.runs[3:], g.settings, g.task)
    v = compare.verdict(second, first)
    assert v.within_noise and v.low < 0 < v.high
    assert v.difference == pytest.approx(statistics.fmean(accs[3:]) - statistics.fmean(accs[:3]))
    assert "within noise" in v.text and "larger than noise" not in v.text


def test_a_learning_rate_of_1e_5_against_3e_3_is_larger_than_noise(store):
    good, bad = groups_of(store, [(3e-3, 0, 0.970), (3e-3, 1, 0.966), (1e-5, 0, 0.31), (1e-5, 1, 0.35)])
    v = compare.verdict(bad, good)
    assert not v.within_noise and v.high < 0
    assert "larger than noise" in v.text and f"runs {', '.join(map(str, good.ids))} are better" in v.text
    assert "lr 1e-05 against 0.003" in v.text


def test_the_interval_is_welch_plus_the_binomial_error_of_the_validation_set(store):
    xa, xb = [0.970, 0.971, 0.972], [0.973, 0.974, 0.975]
    (a,) = groups_of(store, [(1e-3, i, x) for i, x in enumerate(xa)])
    (b,) = groups_of(store, [(2e-3, i, x) for i, x in enumerate(xb)])
    v = compare.verdict(b, a)
    from scipy.stats import t

    seed_var = statistics.variance(xa) / 3 + statistics.variance(xb) / 3

    def binom(p, n=359):
        q = (p * n + 1) / (n + 2)
        return q * (1 - q) / n

    total = seed_var + binom(statistics.fmean(xa)) + binom(statistics.fmean(xb))
    df = total**2 / ((statistics.variance(xa) / 3) ** 2 / 2 + (statistics.variance(xb) / 3) ** 2 / 2)
    half = t.ppf(0.975, df) * math.sqrt(total)
    assert v.difference == pytest.approx(0.003)
    assert (v.low, v.high) == (pytest.approx(0.003 - half), pytest.approx(0.003 + half))
    # a 0.3-point gain on 359 validation images is noise, though the seeds alone agree closely…
    assert v.within_noise and "359 validation images" in v.text
    # …and the same seeds on ten million images would not be
    big_a = groups_of(store, [(4e-3, i, x) for i, x in enumerate(xa)], n_valid=10_000_000)[0]
    big_b = groups_of(store, [(5e-3, i, x) for i, x in enumerate(xb)], n_valid=10_000_000)[0]
    assert not compare.verdict(big_b, big_a).within_noise


def test_one_seed_each_counts_only_the_validation_set_and_says_so(store):
    a = groups_of(store, [(1e-3, 0, 0.95)])[0]
    b = groups_of(store, [(2e-3, 0, 0.96)])[0]
    v = compare.verdict(b, a)
    assert math.isinf(v.df) and "one seed" in v.text and v.within_noise
    failed = finished_run(store, lr=9e-3, state=FAILED)
    with pytest.raises(UserError, match="no finished figure"):
        compare.verdict(compare.seed_groups(jobs_of(store, [failed]))[0], a)


@pytest.mark.parametrize("df", [1, 2, 3, 5, 10, 30, 200])
def test_the_t_quantile_without_scipy_is_close(df):
    from scipy.stats import t

    exact = t.ppf(0.975, df)
    assert noise._t_quantile_approx(0.975, df) == pytest.approx(exact, rel=0.005)
    assert noise.t_quantile(0.975, math.inf) == pytest.approx(1.959964, rel=1e-6)


# --- curves ----------------------------------------------------------------------------------


def test_curves_of_two_runs_on_each_axis(store):
    a = finished_run(store, lr=1e-3, bs=32, n_epochs=3, batches=300)
    b = finished_run(store, lr=1e-2, bs=64, n_epochs=3, batches=150)
    jobs = jobs_of(store, [a, b])
    frame = compare.curves(store, jobs, x="batch")
    assert set(frame["run"]) == {a, b}
    assert set(frame["series"]) == {"train_loss", "valid_loss", "accuracy"}
    train_a = frame[(frame.run == a) & (frame.series == "train_loss")]
    assert len(train_a) == 300 and train_a["x"].max() == 300
    images = compare.curves(store, jobs, x="images")
    assert images[(images.run == b) & (images.series == "train_loss")]["x"].max() == 150 * 64
    by_epoch = compare.curves(store, jobs, x="epoch")
    valid = by_epoch[(by_epoch.run == b) & (by_epoch.series == "valid_loss")]
    assert list(valid["x"]) == [1.0, 2.0, 3.0]
    train_b = by_epoch[(by_epoch.run == b) & (by_epoch.series == "train_loss")]
    assert train_b["x"].iloc[0] == pytest.approx(1 / 50) and train_b["x"].iloc[-1] == pytest.approx(3.0)
    with pytest.raises(UserError, match="epoch, batch, images"):
        compare.curves(store, jobs, x="time")


def test_a_continued_run_curve_continues_on_its_parents_axes(store):
    parent = finished_run(store, n_epochs=3, batches=300)
    child = finished_run(store, parent=parent, n_epochs=2, batches=200, first_epoch=3, first_step=300)
    frame = compare.curves(store, jobs_of(store, [parent, child]), x="epoch")
    p = frame[frame.run == parent]
    c = frame[frame.run == child]
    assert p["x"].max() == pytest.approx(3.0)
    assert c[c.series == "train_loss"]["x"].min() == pytest.approx(3 + 1 / 100)
    assert list(c[c.series == "valid_loss"]["x"]) == [4.0, 5.0]


def test_ten_runs_of_5000_batches_are_thinned_and_quick(store):
    ids = [finished_run(store, seed=i, n_epochs=10, batches=5000) for i in range(10)]
    jobs = jobs_of(store, ids)
    t = time.perf_counter()
    frame = compare.curves(store, jobs, x="epoch")
    seconds = time.perf_counter() - t
    sizes = frame.groupby("run").size()
    assert (sizes <= compare.MAX_POINTS).all() and (sizes > 1500).all()
    last = frame[(frame.run == ids[0]) & (frame.series == "train_loss")]
    assert last["x"].max() == pytest.approx(10.0)  # the last batch is kept
    assert seconds < 1.0, f"curves of 10 × 5000 batches took {seconds:.2f} s"
