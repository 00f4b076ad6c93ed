"""Confident learning on out-of-sample probabilities: cleanlab is the oracle (options pinned here)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from cleanlab import count, filter, rank
from cleanlab.multilabel_classification import filter as ml_filter
from cleanlab.multilabel_classification import rank as ml_rank

from core import cli
from core.analysis import label_issues
from core.analysis.label_issues_cli import crossval_result
from core.analysis.marks import set_mark
from core.analysis.plans import apply_plan, make_plan
from core.data import access, layouts
from core.data.datasets import flipped_files, resolve
from core.errors import UserError
from core.train import crossval
from tests.results_helpers import CFG

# the call the page's "cleanlab" rule must equal, options spelled out
CLEANLAB = {"filter_by": "prune_by_noise_rate", "frac_noise": 1.0, "min_examples_per_class": 1, "n_jobs": 1}


def _arrays(result: dict) -> tuple[np.ndarray, np.ndarray]:
    vocab = result["vocab"]
    return np.array([vocab.index(g) for g in result["labels"]]), np.asarray(result["probs"], dtype=np.float64)


def test_cli_runs_the_out_of_sample_job_first_and_flags_as_cleanlab_does(results_ws, one_thread, capsys):
    assert cli.main(["label-issues", "--run", "1", "--k", "2"]) == 0  # no crossval job yet: runs one
    lines = capsys.readouterr().out.strip().splitlines()
    out = json.loads(lines[-1])
    assert lines[0].startswith(f"About {out['count']} of {out['n']} training labels look wrong")
    assert out["n"] == 1438 and out["count"] == len(out["flagged"]) > 0
    assert "precision" in " ".join(lines) and 0 <= out["against_flips"]["f1"] <= 1
    result = crossval.load_result(out["crossval_job"])
    labels, probs = _arrays(result)

    issues = label_issues.find(result, CFG.dataset, rule="cleanlab")
    assert (issues.flagged == filter.find_label_issues(labels, probs, **CLEANLAB)).all()
    assert not issues.stale and issues.files == result["files"]
    assert (label_issues.find(result, CFG.dataset).cleanlab_flagged == issues.flagged).all()

    default = label_issues.find(result, CFG.dataset)  # cleanlab's count, cleanlab's ranking
    k = count.num_label_issues(labels, probs, estimation_method="off_diagonal_calibrated")
    scores = rank.get_label_quality_scores(labels, probs, method="self_confidence")
    assert default.count == k and set(np.flatnonzero(default.flagged)) == set(
        np.argsort(scores, kind="stable")[:k]
    )
    assert np.allclose(default.joint, count.estimate_joint(labels, probs)) and np.isclose(
        default.joint.sum(), 1
    )
    assert out["count"] == default.count
    margin = label_issues.find(result, CFG.dataset, method="normalized_margin")
    assert np.allclose(
        margin.quality, rank.get_label_quality_scores(labels, probs, method="normalized_margin")
    )
    assert (margin.flagged == default.flagged).all()  # the score orders the view, not the flags

    frame = default.ranked(likely_only=True)
    assert list(frame.columns) == ["file", "given", "suggested", "quality", "flagged"]
    assert len(frame) == default.count and frame["quality"].is_monotonic_increasing
    row = frame.iloc[0]
    assert row["file"] in default.cell(row["given"], row["suggested"])

    # the CLI found the job this time instead of running another
    assert cli.main(["label-issues", "--run", "1"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["crossval_job"] == out["crossval_job"]


def test_a_relabel_since_the_job_is_judged_by_its_new_label(results_ws, one_thread):
    from core.jobs.store import Store

    store = Store()
    cfg = CFG.replace(size=8)
    job = store.submit("crossval", {"config": cfg.to_dict(), "k": 2, "source_run": 1})
    crossval.crossval(cfg, 2, store, job)
    result = crossval.load_result(job)
    before = label_issues.find(result, CFG.dataset)
    worst = before.ranked(likely_only=True).iloc[0]
    set_mark(CFG.dataset, worst["file"], "relabel", worst["suggested"])
    apply_plan(make_plan(CFG.dataset))
    moved = f"train/{worst['suggested']}/{worst['file'].split('/')[-1]}"

    after = label_issues.find(result, CFG.dataset)  # the journal's renames applied
    i = after.files.index(moved)
    assert after.given[i] == worst["suggested"] and not after.flagged[i]
    assert worst["file"] not in after.files and after.stale
    assert any("relabelled since" in note for note in after.notes)
    # without the renames the moved image cannot be found: it is left out, and said so
    blind = label_issues.find(result, CFG.dataset, renamed={})
    assert blind.n == before.n - 1 and any("gone since" in note for note in blind.notes)


def test_one_class_always_labelled_as_another_puts_the_joint_mass_in_that_cell():
    rng = np.random.default_rng(0)
    true = np.repeat([0, 1, 2], 100)
    given = true.copy()
    given[:30] = 1  # 30 images of class 0 labelled as class 1, the model sure they are 0s
    probs = np.full((300, 3), 0.05)
    probs[np.arange(300), true] = 0.9
    probs[:, :] += rng.uniform(0, 0.01, probs.shape)
    probs[:30] = [0.96, 0.02, 0.02]
    probs /= probs.sum(axis=1, keepdims=True)
    out = label_issues.single_label(given, probs)
    joint = out["joint"]  # rows given, columns true
    off = joint - np.diag(np.diag(joint))
    assert np.unravel_index(off.argmax(), off.shape) == (1, 0)
    assert joint[1, 0] == pytest.approx(30 / 300, abs=1e-6) and off.sum() == pytest.approx(joint[1, 0])
    assert set(np.flatnonzero(out["flagged"])) == set(range(30))
    assert out["wrong"][1] == pytest.approx(30) and out["wrong"][0] == pytest.approx(0)
    table = label_issues.noise_table(["a", "b", "c"], np.bincount(given), out["wrong"])
    assert table.set_index("class").at["b", "rate"] == pytest.approx(30 / 130)


def _result(dataset: str, probs_of) -> dict:
    items = access.items(dataset)
    train = [i for i, v in enumerate(items.is_valid) if not v]
    return {
        "job_id": 9,
        "task": "multi_label" if isinstance(items, layouts.MultiItems) else "single_label",
        "vocab": list(items.vocab),
        "files": [items.files[i] for i in train],
        "labels": [items.labels[i] for i in train],
        "probs": probs_of(items, train).tolist(),
        "created": time.time(),
        "config": {"valid_pct": 0.2, "seed": 0},
        "fingerprint": layouts.fingerprint(items),
        "threshold": 0.5,
    }


def _confident(items, train) -> np.ndarray:
    probs = np.full((len(train), len(items.vocab)), 0.02)
    probs[np.arange(len(train)), [items.vocab.index(items.labels[i]) for i in train]] = 0.82
    return probs


def test_bad_input_is_a_sentence(template_ws):
    good = _result(CFG.dataset, _confident)
    assert label_issues.find(good, CFG.dataset).count == 0  # every label agrees with the model
    halves = dict(good, probs=(np.asarray(good["probs"]) * 0.5).tolist())
    with pytest.raises(UserError, match="do not sum to one"):
        label_issues.find(halves, CFG.dataset)
    with pytest.raises(UserError, match="fewer than two classes"):
        label_issues.single_label(np.zeros(20, dtype=int), np.tile([0.9, 0.1], (20, 1)))
    with pytest.raises(UserError, match="fewer than two"):
        label_issues.find(dict(good, vocab=["0"], probs=[[1.0]] * len(good["files"])), CFG.dataset)
    with pytest.raises(UserError, match="one row per image"):
        label_issues.find(dict(good, probs=[[1.0]] * len(good["files"])), CFG.dataset)
    with pytest.raises(UserError, match="Unknown label-quality score"):
        label_issues.find(good, CFG.dataset, method="entropy")
    with pytest.raises(UserError, match="no training run 99"):
        crossval_result(99, None, quiet=True)


def test_against_flips_scores_the_flagged_set_beside_the_plain_ranking(template_ws):
    flips = flipped_files(resolve(CFG.dataset))

    def planted_low(items, train):
        probs = _confident(items, train)
        flipped = {f["file"]: f["true"] for f in flips}
        for r, i in enumerate(train):
            if items.files[i] in flipped:
                probs[r] = 0.02
                probs[r, items.vocab.index(flipped[items.files[i]])] = 0.82
        return probs

    issues = label_issues.find(_result(CFG.dataset, planted_low), CFG.dataset)
    scores = label_issues.against_flips(issues, flips)
    train_flips = sum(f["file"] in issues.files for f in flips)
    assert scores["flips"] == train_flips == 144
    assert scores["f1"] == pytest.approx(1.0) and scores["ranking_oracle"]["f1"] == pytest.approx(1.0)
    assert scores["ranking"]["n"] == issues.count and scores["cleanlab"]["f1"] == pytest.approx(1.0)
    joint = issues.joint
    assert joint.shape == (10, 10) and np.isclose(joint.sum(), 1)
    assert issues.noise_rate["estimated_wrong"].sum() == pytest.approx(144, abs=2)


def test_multi_label_flags_as_cleanlabs_multi_label_filter(template_ws):
    def noisy(items, train):
        rng = np.random.default_rng(1)
        targets = items.targets()[train]
        probs = np.where(targets > 0.5, 0.9, 0.1) + rng.uniform(-0.05, 0.05, targets.shape)
        probs[:12] = 1 - probs[:12]  # a dozen images whose tags all look wrong
        return probs

    result = _result("shapes_multi", noisy)
    issues = label_issues.find(result, "shapes_multi")
    vocab = result["vocab"]
    lists = [[vocab.index(t) for t in tags] for tags in result["labels"]]
    probs = np.asarray(result["probs"])
    assert issues.task == "multi_label" and issues.joint is None
    assert (issues.flagged == ml_filter.find_label_issues(lists, probs, **CLEANLAB)).all()
    assert np.allclose(issues.quality, ml_rank.get_label_quality_scores(lists, probs))
    assert set(range(12)) <= set(np.flatnonzero(issues.flagged))
    assert list(issues.noise_rate.columns) == ["class", "given", "estimated_wrong", "rate"]
    assert issues.ranked(likely_only=True)["given"].map(type).eq(str).all()
