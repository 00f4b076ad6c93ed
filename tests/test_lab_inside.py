"""The Inside lab: dropout in training and in use, BatchNorm, activation statistics, the memory
estimate against a measured step (and the worker's "memory" job), and its page."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.jobs.store import DONE
from core.labs import inside, memory
from dashboard import state
from tests.apptest import open_page

PAGE = "../pages/learn_inside.py"


def test_dropout_half_in_training_none_in_eval():
    train = inside.dropout_demo(0.5, True, shape=(200, 200), seed=3)
    assert train["zeroed_share"] == pytest.approx(0.5, abs=0.01)
    kept = train["kept"]
    np.testing.assert_allclose(train["output"][kept], train["input"][kept] * 2, rtol=1e-6)  # 1 / (1 - p)
    used = inside.dropout_demo(0.5, False, shape=(200, 200), seed=3)
    assert used["zeroed_share"] == 0
    np.testing.assert_array_equal(used["output"], used["input"])


def test_batchnorm_centres_and_scales():
    before, after = inside.batchnorm_effect(4.0, 7.0)
    assert before.mean() == pytest.approx(4.0, abs=0.5) and before.std() == pytest.approx(7.0, rel=0.1)
    assert after.mean() == pytest.approx(0.0, abs=1e-5) and after.std() == pytest.approx(1.0, abs=1e-3)


def test_activation_stats_one_row_per_layer():
    model = memory.build("mnist_cnn", 10, 1, 16)
    rows = inside.activation_stats(model, torch.randn(2, 1, 16, 16))
    assert [r["kind"] for r in rows][:3] == ["Conv2d", "ReLU", "Conv2d"]
    relu = rows[1]
    assert relu["zeros"] > 0.2 and relu["mean"] >= 0  # ReLU zeroes the negatives
    assert rows[0]["zeros"] < 0.01
    assert model.training  # the mode is given back


@pytest.mark.parametrize("arch", ["mnist_cnn", "simple_cnn"])
@pytest.mark.parametrize("bs", [16, 128])
def test_memory_estimate_within_30_percent_of_the_measured_peak(arch, bs):
    model = memory.build(arch, 10, 1, 16)
    est = memory.estimate(model, 1, 16)
    got = memory.measure(model, 10, 1, 16, bs)
    assert got["parameters"] == est.parameters and got["gradients"] == est.gradients
    assert got["optimizer"] == est.optimizer  # Adam: two moments per parameter
    assert abs(est.total(bs) / got["total"] - 1) <= 0.30, (est.total(bs), got)


def test_activations_grow_with_the_batch_size():
    model = memory.build("mnist_cnn", 10, 1, 16)
    small, big = (memory.measure(model, 10, 1, 16, bs)["activations"] for bs in (16, 64))
    assert big / small == pytest.approx(4, rel=0.1)


def test_the_worker_runs_a_memory_job(fresh_workspace):
    from core.jobs import worker
    from core.jobs.store import Store

    store = Store()
    job_id = store.submit(
        "memory", {"arch": "mnist_cnn", "n_classes": 10, "channels": 1, "size": 16, "batch_sizes": [8, 32]}
    )
    worker.serve(store, once=True, poll=0.05, coordinate=False)
    job = store.get(job_id)
    assert job.state == DONE, job.error
    assert [r["bs"] for r in job.result["rows"]] == [8, 32]
    for r in job.result["rows"]:
        assert abs(r["estimate"] / r["measured_total"] - 1) <= 0.30


def test_page_without_a_run_says_train_first_and_dropout_reacts(fresh_workspace):
    at = open_page(PAGE, timeout=90)
    assert any("Train a model first" in str(link.proto.label) for link in at.get("page_link"))
    zeroed = next(m for m in at.metric if m.label == "Activations zeroed")
    assert zeroed.value not in ("0%",)
    at.toggle(key="inside_training").set_value(False).run()
    assert not at.exception, at.exception
    assert next(m for m in at.metric if m.label == "Activations zeroed").value == "0%"
    after = next(m for m in at.metric if m.label == "spread after")
    assert after.value == "1.00"


def test_page_with_a_run_shows_its_layers_and_queues_a_measurement(results_ws, no_worker):
    at = open_page(PAGE, timeout=120, **{state.RUN: 1})
    table = at.dataframe[0].value
    assert list(table["kind"][:2]) == ["Conv2d", "ReLU"]
    first = table["mean"].tolist()
    at.slider(key="inside_image").set_value(5).run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value["mean"].tolist() != first  # another image, other activations
    at.button(key="inside_measure").click().run()
    assert not at.exception, at.exception
    job_id = at.session_state["inside_memory_job"]
    from dashboard import runs

    job = runs.store().get(job_id)
    assert job.kind == "memory" and job.params["arch"] == "mnist_cnn" and no_worker
