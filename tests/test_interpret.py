"""Interpretation of a finished run: the same figures fastai reported, and views that follow cleaning."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core import runs
from core.analysis import interpret
from core.analysis.marks import set_mark
from core.analysis.plans import apply_plan, make_plan
from core.errors import UserError
from tests import results_helpers
from tests.results_helpers import CFG

trained_template = results_helpers.trained_template  # the fixtures, shared
results_ws = results_helpers.results_ws
template_ws = results_helpers.template_ws


def test_the_rebuilt_model_gives_the_accuracy_and_loss_fastai_reported(template_ws, trained_template):
    _, result = trained_template
    interp = interpret.interpret(1)
    frame = interp.frame
    assert len(frame) == 1797 and set(frame["split"]) == {"train", "valid"}
    assert interpret.accuracy(frame, "valid") == pytest.approx(result["accuracy"], abs=1e-6)
    assert frame.loc[frame["split"] == "valid", "loss"].mean() == pytest.approx(
        result["valid_loss"], rel=1e-4
    )
    assert np.allclose(interp.probs.sum(axis=1), 1.0, atol=1e-5)
    row = frame.iloc[0]
    assert row["probability"] == pytest.approx(interp.probs[0].max())
    assert row["loss"] == pytest.approx(-math.log(row["p_actual"]), rel=1e-6)


def test_confusion_matrix_pairs_and_per_class_scores_agree(template_ws):
    interp = interpret.interpret(1)
    frame, vocab = interp.frame, interp.vocab
    cm = interpret.confusion_matrix(frame, vocab)
    valid = frame[frame["split"] == "valid"]
    assert cm.sum() == len(valid) and np.trace(cm) == valid["correct"].sum()
    pairs = interpret.most_confused(frame, vocab)
    assert pairs["count"].sum() == len(valid) - np.trace(cm)
    assert list(pairs["count"]) == sorted(pairs["count"], reverse=True)
    top = pairs.iloc[0]
    assert cm[vocab.index(top["actual"]), vocab.index(top["predicted"])] == top["count"]
    table = interpret.per_class(frame, vocab)
    assert table["support"].tolist() == cm.sum(axis=1).tolist()
    assert np.allclose(interpret.normalise_rows(cm).sum(axis=1), 1.0)


def test_per_class_scores_on_a_hand_made_frame():
    frame = pd.DataFrame(
        {"split": ["valid"] * 5, "actual": ["a", "a", "a", "b", "b"], "predicted": ["a", "a", "b", "b", "a"]}
    )
    frame["correct"] = frame["actual"] == frame["predicted"]
    table = interpret.per_class(frame, ["a", "b"]).set_index("class")
    assert table.loc["a", "precision"] == pytest.approx(2 / 3)  # 2 of the 3 predicted a
    assert table.loc["a", "recall"] == pytest.approx(2 / 3)  # 2 of the 3 actual a
    assert table.loc["b", "precision"] == pytest.approx(1 / 2)
    assert table.loc["b", "recall"] == pytest.approx(1 / 2)
    assert table.loc["b", "f1"] == pytest.approx(1 / 2)
    assert table["support"].tolist() == [3, 2]


def test_top_losses_are_largest_first_and_filter_by_class_prediction_and_split(template_ws):
    frame = interpret.interpret(1).frame
    ranked = interpret.top_losses(frame)
    assert ranked["loss"].is_monotonic_decreasing
    assert ranked["loss"].iloc[0] == frame["loss"].max()
    some = interpret.top_losses(frame, actual="8", predicted="1", split="train")
    assert len(some) and set(some["actual"]) == {"8"} and set(some["predicted"]) == {"1"}
    assert set(some["split"]) == {"train"}
    assert some["loss"].is_monotonic_decreasing
    assert len(interpret.top_losses(frame, k=5)) == 5


def test_the_views_follow_a_relabel_and_a_delete(results_ws):
    before = interpret.interpret(1)
    frame = before.frame
    worst = interpret.top_losses(frame, split="train").iloc[0]
    deleted = interpret.top_losses(frame, split="train").iloc[1]["file"]
    set_mark(CFG.dataset, worst["file"], "relabel", worst["predicted"])
    set_mark(CFG.dataset, deleted, "delete")
    apply_plan(make_plan(CFG.dataset))
    after = interpret.interpret(1)
    moved = "/".join(["train", worst["predicted"], worst["file"].split("/")[-1]])
    row = after.frame.set_index("file").loc[moved]
    assert row["actual"] == worst["predicted"] and row["correct"]
    assert row["loss"] < worst["loss"]
    assert deleted not in set(after.frame["file"]) and len(after.frame) == 1796
    assert after.fingerprint != before.fingerprint


def test_a_run_without_weights_or_with_wrong_weights_is_refused_with_a_reason(results_ws):
    with pytest.raises(UserError, match="Run 7 has no saved weights"):
        runs.load(7)
    import torch
    from safetensors.torch import save_file

    save_file({"nothing": torch.zeros(1)}, str(results_ws / "runs" / "1" / "model.safetensors"))
    with pytest.raises(UserError, match="do not fit its architecture"):
        runs.load(1)
