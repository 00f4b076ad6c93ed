"""AppTest: the Train page's form, its refusals, the schedule preview, and a run's live view."""

from __future__ import annotations

import math

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.config import TrainConfig
from core.jobs.store import CANCELLED, DONE, QUEUED, RUNNING, Store
from core.train.schedule import preview
from dashboard import runs, state
from tests.apptest import chart_spec, open_app, open_page, values

PAGE = "../pages/train.py"
N_TRAIN = 1438  # Digits' training split


def open_train() -> AppTest:
    return open_page(PAGE)


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def start_button(at: AppTest):
    return next(b for b in at.button if "Start training" in b.label)


def seed_run(
    state_: str = DONE, epochs: int = 3, batches_per_epoch: int = 22, seconds: list[float] | None = None
) -> int:
    """A training run in the store with records, as the worker writes them (no training).

    seconds: each epoch's duration (1.1 s each by default).
    """
    seconds = seconds or [1.1] * epochs
    store = Store()
    cfg = TrainConfig(epochs=epochs)
    job_id = store.submit("train", {"config": cfg.to_dict()})
    store.claim_next(pid=1)
    steps = epochs * batches_per_epoch
    store.add_batches(job_id, [(s, 2.3 * math.exp(-s / 20) + 0.05, 1e-3, 0.9) for s in range(1, steps + 1)])
    for e in range(epochs):
        store.add_epoch(
            job_id,
            e,
            0.5 / (e + 1),
            0.3 / (e + 1),
            {"accuracy": 0.9 + 0.02 * e},
            seconds[e],
            (e + 1) * batches_per_epoch,
            "train",
        )
    if state_ in (DONE, CANCELLED):
        result = {
            "run_id": job_id,
            "accuracy": 0.94,
            "valid_loss": 0.1,
            "seconds": 3.3,
            "images_per_second": 2000.0,
            "epochs_done": epochs,
            "cancelled": state_ == CANCELLED,
        }
        store.finish(job_id, state_, result=result)
    else:
        store.set_progress(job_id, 0.5, "training")
    return job_id


def test_defaults_render_with_a_preview_and_an_enabled_start(fresh_workspace):
    at = open_train()
    assert errors(at) == []
    assert at.number_input(key=state.LR_NUMBER).value == pytest.approx(TrainConfig().lr)
    assert at.select_slider(key=state.LR_SLIDER).value == pytest.approx(TrainConfig().lr)
    assert at.number_input(key=state.BS).value == TrainConfig().bs
    assert at.number_input(key=state.EPOCHS).value == TrainConfig().epochs
    assert not start_button(at).disabled
    # every control explains itself in a sentence
    for widget in [*at.number_input, *at.selectbox, *at.toggle, *at.radio, *at.select_slider]:
        assert widget.help and len(widget.help) > 20, widget.label


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (state.LR_NUMBER, 0.0, "The learning rate must be greater than 0"),
        (state.LR_NUMBER, 12.0, "A learning rate of 10 or more"),
        (state.BS, 0, "The batch size must be at least 1"),
        (state.BS, 2000, f"larger than the training set ({N_TRAIN} images)"),
        (state.EPOCHS, 0, "Train for at least 1 epoch"),
        (state.WD, 2.0, "Weight decay must be between 0 and 1"),
    ],
)
def test_out_of_range_values_are_refused_with_a_reason(fresh_workspace, key, value, message):
    at = open_train()
    at.number_input(key=key).set_value(value).run()
    assert any(message in e for e in errors(at)), errors(at)
    assert start_button(at).disabled


def test_discriminative_low_end_above_the_high_end_is_refused(fresh_workspace):
    at = open_train()
    at.toggle(key=state.DISCRIMINATIVE).set_value(True).run()
    at.number_input(key=state.LR_LOW).set_value(0.5).run()
    assert any("must not exceed the high end" in e for e in errors(at))


def test_slider_and_exact_number_stay_in_step(fresh_workspace):
    at = open_train()
    at.number_input(key=state.LR_NUMBER).set_value(0.0123).run()
    assert at.session_state[state.LR] == pytest.approx(0.0123)
    assert at.select_slider(key=state.LR_SLIDER).value == pytest.approx(0.01)
    at.select_slider(key=state.LR_SLIDER).set_value(1e-4).run()
    assert at.session_state[state.LR] == pytest.approx(1e-4)
    assert at.number_input(key=state.LR_NUMBER).value == pytest.approx(1e-4)


def _preview_trace(at: AppTest) -> list[float]:
    trace = next(t for t in chart_spec(at, "momentum")["data"] if t["name"] == "learning rate")
    return values(trace["y"])


def test_schedule_preview_matches_the_engines_schedule(fresh_workspace, tmp_path):
    from core.train.training import train

    at = open_train()
    at.number_input(key=state.EPOCHS).set_value(2).run()
    at.toggle(key=state.DISCRIMINATIVE).set_value(True).run()
    at.number_input(key=state.LR_LOW).set_value(1e-4).run()
    shown = _preview_trace(at)
    cfg = TrainConfig(epochs=2, lr_low=1e-4)
    # what the engine really does, batch by batch, for the same config
    store = Store(tmp_path / "engine.sqlite")
    job_id = store.submit("train", {"config": cfg.to_dict()})
    train(cfg, store, job_id)
    used = store.batches(job_id)
    assert len(shown) == len(used) == len(preview(cfg, N_TRAIN // cfg.bs))
    for a, b in zip(shown, used["lr"]):
        assert a == pytest.approx(b, rel=1e-5)
    # the per-group table shows slice(1e-4, 3e-3) spread over the body and the head
    groups = at.dataframe[0].value
    assert list(groups["peak learning rate"]) == ["1.00e-04", "3.00e-03"]


def test_start_queues_a_job_and_shows_its_place(fresh_workspace, no_worker):
    blocker = Store().submit("train", {"config": TrainConfig().to_dict()})
    at = open_train()
    start_button(at).click().run()
    run_id = at.session_state[state.RUN]
    assert run_id == blocker + 1
    job = Store().get(run_id)
    assert job.state == QUEUED and job.params["config"]["lr"] == pytest.approx(TrainConfig().lr)
    assert no_worker, "the page must make sure a worker will run the job"
    assert any("position 2" in i.value for i in at.info)
    waiting = [c.value for c in at.caption if "waiting" in c.value.lower()]
    assert waiting == [f"Also waiting: run {blocker} (see the Queue on Runs)."]  # not the run followed


def test_a_finished_run_renders_its_curve_table_and_metrics(fresh_workspace):
    run_id = seed_run(DONE, epochs=3)
    at = open_train()  # a fresh session finds the newest run by itself (as after a reload)
    assert at.session_state[state.RUN] == run_id
    assert any(f"Run {run_id}: done" in s.value for s in at.subheader)
    table = at.table[-1].value
    assert list(table.index) == [0, 1, 2]
    assert list(table["time"]) == ["00:01"] * 3
    assert table["accuracy"].iloc[-1] == pytest.approx(0.94)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["accuracy"] == "94.00%"
    traces = chart_spec(at, "train (smoothed)")["data"]
    assert [t["name"] for t in traces] == ["train (smoothed)", "validation"]
    assert len(values(traces[0]["y"])) == 3 * 22
    assert values(traces[1]["y"]) == pytest.approx([0.3, 0.15, 0.1])


def test_stop_asks_a_running_job_to_cancel(fresh_workspace, no_worker, monkeypatch):
    monkeypatch.setattr(runs, "worker_alive", lambda: True)
    run_id = seed_run(RUNNING, epochs=2)
    at = open_train()
    assert any("training — 50%" in p.proto.text for p in at.get("progress"))
    next(b for b in at.button if b.label == "Stop").click().run()
    assert Store().get(run_id).cancel_requested


def test_home_trains_a_first_model_in_one_click(fresh_workspace, no_worker):
    at = open_app()
    next(b for b in at.button if b.label == "Train your first model").click().run()
    assert not at.exception
    job = Store().get(at.session_state[state.RUN])
    assert job.kind == "train" and job.params["config"] == TrainConfig().to_dict()
    assert no_worker
    assert at.title[0].value == "Train"  # switched to the Train page


def test_the_epoch_table_writes_durations_as_fastai_does(fresh_workspace):
    """fastai truncates to whole seconds (core.fsutil.format_duration): 59.6 s is 00:59."""
    seed_run(DONE, epochs=4, seconds=[59.6, 60.0, 3599.0, 3600.0])
    at = open_train()
    assert list(at.table[-1].value["time"]) == ["00:59", "01:00", "59:59", "1:00:00"]


def test_the_preview_has_each_architectures_real_layer_groups(fresh_workspace):
    """The preview's groups (schedule.GROUPS, declared so the page needs no torch) are the groups
    fastai's splitter really gives each model: a new or changed architecture cannot drift."""
    from core import tasks
    from core.train import models
    from core.train.archs import ARCHS
    from core.train.schedule import GROUPS

    # Tables and ratings train their network as one group (no body to freeze): no preview table.
    image_archs = [a for a in ARCHS if any(a in tasks.get(t).archs for t in tasks.image_tasks())]
    assert set(GROUPS) == set(image_archs)
    dataset_of = {"single_label": "digits", "multi_label": "shapes_multi", "segmentation": "shapes_seg"}
    at = open_train()
    for arch in image_archs:
        task = next(t for t in tasks.TASKS.values() if arch in t.archs)  # a task that offers it
        built = models.build_model(arch, 10, 1, 32, pretrained=False)
        n_groups = len(built.splitter(built.model))
        assert GROUPS[arch] == n_groups, arch
        at.selectbox(key=state.DATASET).select(dataset_of[task.name]).run()
        at.selectbox(key=state.ARCH).select(arch).run()
        assert not at.exception, at.exception
        cfg = TrainConfig(task=task.name, arch=arch, epochs=1)
        assert len(at.dataframe[0].value) == n_groups, arch
        assert {f"lr_{g}" for g in range(n_groups)} <= set(preview(cfg, 2).columns), arch


def _running_with_worker(monkeypatch, **kw) -> int:
    monkeypatch.setattr(runs, "worker_alive", lambda: True)
    return seed_run(RUNNING, **kw)


def test_the_live_chart_is_rebuilt_only_when_new_records_arrive(fresh_workspace, no_worker, monkeypatch):
    from dashboard import figures

    built = []
    real = figures.live_loss_spec
    monkeypatch.setattr(figures, "live_loss_spec", lambda b, e: built.append(len(b)) or real(b, e))
    run_id = _running_with_worker(monkeypatch, epochs=2)
    at = open_train()
    assert built == [44]
    for _ in range(2):  # the monitor polls again: nothing new, the same chart, not rebuilt
        at.run()
        assert values(chart_spec(at, "train (smoothed)")["data"][0]["x"])[-1] == 44
    assert built == [44]
    Store().add_batches(run_id, [(45, 0.1, 1e-3, 0.9), (46, 0.09, 1e-3, 0.9)])
    at.run()
    assert built == [44, 46]
    assert values(chart_spec(at, "train (smoothed)")["data"][0]["x"])[-1] == 46


def test_the_live_chart_is_light_and_polls_slower_than_the_progress_line(
    fresh_workspace, no_worker, monkeypatch
):
    from dashboard import figures

    polls = []
    real = st.fragment

    def recording(func=None, *, run_every=None):
        polls.append(run_every)
        return real(func, run_every=run_every) if func is not None else real(run_every=run_every)

    monkeypatch.setattr(st, "fragment", recording)
    _running_with_worker(monkeypatch, epochs=100, batches_per_epoch=30)
    at = open_train()
    assert {"1s", "2s"} <= set(polls)  # progress every second, the chart every two at most
    spec = chart_spec(at, "train (smoothed)")
    x = values(spec["data"][0]["x"])
    assert len(x) <= figures.LIVE_POINTS and x[-1] == 3000  # thinned, and up to the newest batch
    assert any("training — 50%" in p.proto.text for p in at.get("progress"))


def test_the_page_says_whether_the_pixels_are_held_in_memory_or_streamed(fresh_workspace, monkeypatch):
    at = open_train()
    assert any("Pixels: in memory" in c.value for c in at.caption)
    monkeypatch.setenv("PLAYGROUND_CACHE_BUDGET", "1024")  # far less than Digits' pixels
    st.cache_data.clear()
    at = open_train()
    assert any("Pixels: streamed from disk" in c.value and "cache budget" in c.value for c in at.caption)
