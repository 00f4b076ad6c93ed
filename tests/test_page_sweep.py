"""AppTest: the Sweep page (form, estimate, refusals, queue, Stop, results, "use these settings")
and the Train page's early-stopping and keep-best controls."""

from __future__ import annotations

import math

import pytest
from streamlit.testing.v1 import AppTest

from core.config import TrainConfig
from core.jobs import sweeps
from core.jobs.store import CANCELLED, DONE, Store
from dashboard import state
from tests.apptest import chart_spec, open_page

PAGE = "../pages/sweep.py"


def open_sweep() -> AppTest:
    return open_page(PAGE)


def queue_button(at: AppTest):
    return next(b for b in at.button if b.label == "Queue sweep")


def finished_sweep(store: Store, budget: int = 4) -> int:
    """A sweep over lr whose members the test 'trains' itself: accuracy peaks at lr 3e-3."""
    spec = sweeps.SweepSpec(
        base=TrainConfig(epochs=1), lr=(1e-4, 1e-1), bs=(32, 64), sampler="random", budget=budget
    )
    sweep_id = sweeps.create(store, spec, name="lr search")
    for _ in range(3 * budget):
        job = store.claim_next(pid=1)
        if job is None:
            break
        lr = job.params["config"]["lr"]
        accuracy = 0.95 - 0.1 * abs(math.log10(lr / 3e-3))
        store.finish(job.id, DONE, result={"accuracy": accuracy, "valid_loss": 1 - accuracy, "seconds": 1.0})
        sweeps.tick(store, wait=5)
    assert sweeps.finished(store, sweep_id)
    return sweep_id


def test_the_form_estimates_the_time_and_explains_every_control(fresh_workspace):
    at = open_sweep()
    assert not at.error, [e.value for e in at.error]
    assert any("for 8 runs" in i.value for i in at.info)
    assert not queue_button(at).disabled
    for widget in [*at.number_input, *at.multiselect, *at.toggle, *at.radio, *at.text_input]:
        assert widget.help and len(widget.help) > 20, widget.label


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (state.SWEEP_LR_LOW, 0.05, "is inverted"),
        (state.SWEEP_LR_LOW, 0.01, "is empty"),
        (state.SWEEP_BUDGET, 0, "at least 1 run"),
        (state.SWEEP_BUDGET, 500, "over the limit"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_queued(fresh_workspace, key, value, message):
    at = open_sweep()
    at.number_input(key=key).set_value(value).run()
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert queue_button(at).disabled
    assert Store().jobs() == []


def test_queue_then_stop_the_whole_sweep(fresh_workspace, no_worker):
    at = open_sweep()
    at.number_input(key=state.SWEEP_BUDGET).set_value(4).run()
    queue_button(at).click().run()
    assert not at.exception, at.exception
    sweep_id = at.session_state[state.SWEEP]
    assert no_worker
    members = sweeps.status(Store(), sweep_id).members
    assert members and members[0].state == "QUEUED"
    assert any("0 of 4 runs finished" in p.proto.text for p in at.get("progress"))
    next(b for b in at.button if b.label == "Stop the sweep").click().run()
    status = sweeps.status(Store(), sweep_id)
    assert status.state == CANCELLED and all(m.state == CANCELLED for m in status.members)


def test_results_show_each_setting_the_best_run_and_fill_the_train_form(fresh_workspace):
    store = Store()
    sweep_id = finished_sweep(store)
    best = sweeps.status(store, sweep_id).best_run
    at = open_sweep()
    assert any(f"Best run: {best}" in s.value for s in at.success)
    lr_chart = chart_spec(at, '"title":{"text":"lr"}')
    assert lr_chart["layout"]["xaxis"]["type"] == "log"
    star = next(t for t in lr_chart["data"] if t["name"] == "best run")
    assert star["text"] == [f"run {best}"]
    assert any("parcoords" in c.proto.spec for c in at.get("plotly_chart"))
    next(b for b in at.button if b.label == "Use these settings").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Train"
    cfg = store.get(best).params["config"]
    assert at.session_state[state.LR] == pytest.approx(cfg["lr"])
    assert at.number_input(key=state.BS).value == cfg["bs"]
    assert at.number_input(key=state.LR_NUMBER).value == pytest.approx(cfg["lr"])
    assert [i.value for i in at.info] == [
        f"The form holds run {best}'s settings, the best of sweep {sweep_id}."
    ]
    at.run()  # shown once
    assert not [i for i in at.info if "The form holds" in i.value]


def test_train_form_offers_early_stopping_and_keep_best(fresh_workspace, no_worker):
    at = open_page("../pages/train.py")
    at.toggle(key=state.EARLY_STOP).set_value(True).run()
    at.toggle(key=state.KEEP_BEST).set_value(True).run()
    at.number_input(key=state.PATIENCE).set_value(2).run()
    at.selectbox(key=state.MONITOR).select("accuracy").run()
    for key in (state.EARLY_STOP, state.KEEP_BEST):
        assert len(at.toggle(key=key).help) > 20
    assert (
        len(at.number_input(key=state.PATIENCE).help) > 20 and len(at.selectbox(key=state.MONITOR).help) > 20
    )
    next(b for b in at.button if "Start training" in b.label).click().run()
    cfg = Store().get(at.session_state[state.RUN]).params["config"]
    assert (cfg["early_stop"], cfg["patience"], cfg["monitor"], cfg["keep_best"]) == (
        True,
        2,
        "accuracy",
        True,
    )
