"""AppTest: the LR finder page queues a job, shows a finished one's suggestions, and sets the lr."""

from __future__ import annotations

import math

import pytest
from streamlit.testing.v1 import AppTest

from core.config import TrainConfig
from core.jobs.store import CANCELLED, DONE, FAILED, QUEUED, Store
from core.train.lr_text import SUGGESTIONS as NAMES
from dashboard import lr_view, state
from dashboard.text import sections
from tests.apptest import open_page

PAGE = "../pages/lr_find.py"
SUGGESTIONS = {"valley": 1.2345678e-3, "slide": 2.5e-3, "minimum": 6.1e-2, "steep": 4.75e-4}
DEFAULT_LR = state.DEFAULTS[state.LR]


def _curve() -> tuple[list[float], list[float]]:
    lrs = [1e-7 * 1e8 ** (i / 99) for i in range(100)]
    losses = [2.3 - 1.5 / (1 + math.exp(-2 * (math.log10(lr) + 3))) + max(0.0, lr - 0.1) * 20 for lr in lrs]
    return lrs, losses


def seed_lr_find(
    state_: str = DONE, arch: str = "mnist_cnn", suggestions: dict | None = None, error: str | None = None
) -> int:
    """A finished lr_find job in the store, as the worker would leave it (no training)."""
    store = Store()
    job_id = store.submit("lr_find", lr_view.job_params(TrainConfig(dataset="digits", arch=arch)))
    store.claim_next(pid=1)
    result = None
    if state_ == DONE:
        lrs, losses = _curve()
        result = {
            "lrs": lrs,
            "losses": losses,
            "suggestions": suggestions or SUGGESTIONS,
            "run_id": job_id,
            "notice": None,
            "cancelled": False,
        }
    store.finish(job_id, state_, result=result, error=error)
    return job_id


def open_lr_page() -> AppTest:
    return open_page(PAGE)


def texts(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_without_a_run_it_offers_to_start_one(fresh_workspace):
    at = open_lr_page()
    assert at.title[0].value == "Learning-rate finder"
    assert any("No LR finder run yet" in i.value for i in at.info)
    assert at.button[0].label == "Run the LR finder"
    assert "raises the learning rate" in texts(at)


def test_run_queues_a_job_for_the_current_dataset_and_arch(fresh_workspace, no_worker):
    at = open_lr_page()
    at.button[0].click().run()
    assert not at.exception
    (job,) = Store().jobs(kind="lr_find")
    assert job.state == QUEUED
    assert job.params["config"]["dataset"] == "digits"
    assert job.params["config"]["arch"] == "mnist_cnn"
    assert job.params["num_it"] == 100
    assert at.session_state[state.LR_RUN] == job.id
    assert no_worker, "the worker was not asked to start"
    assert at.button[0].disabled  # no second run while this one is active
    assert any("queued" in p.proto.text for p in at.get("progress"))
    # Stop cancels it (a queued job at once) and the page says so
    at.button(key=state.stop_key(job.id)).click().run()
    assert Store().get(job.id).state == CANCELLED
    at.run()
    assert any("stopped before the end" in w.value for w in at.warning)


def test_a_finished_run_shows_the_four_suggestions_with_their_values(fresh_workspace):
    seed_lr_find()
    at = open_lr_page()
    shown = texts(at)
    explanations = sections("lr_find")  # assets/text/lr_find.md
    assert set(SUGGESTIONS) == set(NAMES)
    for name, value in SUGGESTIONS.items():
        assert f"**{name}** — `{value:.2e}`" in shown
        assert explanations[name] in shown
    assert at.session_state[state.LR_SUGGESTIONS] == SUGGESTIONS
    assert "shoots up" in shown and "barely" in shown  # what too high and too low look like
    (chart,) = at.get("plotly_chart")
    assert "log" in chart.proto.spec


def test_use_this_learning_rate_sets_the_train_page_value(fresh_workspace):
    seed_lr_find()
    at = open_lr_page()
    at.button(key=state.use_key("valley")).click().run()
    assert at.session_state[state.LR] == SUGGESTIONS["valley"]  # exactly, not a rounded copy
    assert "1.23e-03" in at.success[0].value
    assert at.get("page_link")[0].proto.page.endswith("train")
    at.switch_page("../pages/train.py").run()
    assert not at.exception
    assert any(n.value == SUGGESTIONS["valley"] for n in at.number_input)


def test_a_picked_value_is_used_exactly(fresh_workspace):
    seed_lr_find()
    at = open_lr_page()
    at.number_input(key=state.LR_PICK).set_value(0.0123).run()
    at.button(key=state.USE_PICKED).click().run()
    assert not at.error
    assert at.session_state[state.LR] == 0.0123
    assert "1.23e-02" in at.success[0].value


@pytest.mark.parametrize(
    ("value", "message"), [(0.0, "greater than 0"), (-1e-3, "greater than 0"), (10.0, "10 or more")]
)
def test_a_bad_picked_value_is_refused(fresh_workspace, value, message):
    seed_lr_find()
    at = open_lr_page()
    at.number_input(key=state.LR_PICK).set_value(value).run()
    at.button(key=state.USE_PICKED).click().run()
    assert any(message in e.value for e in at.error)
    assert at.session_state[state.LR] == DEFAULT_LR
    assert not at.success


def test_a_failed_run_shows_its_error(fresh_workspace):
    seed_lr_find(FAILED, error="The batch size (64) is larger than the training set (20 images).")
    at = open_lr_page()
    assert "larger than the training set" in at.error[0].value
    assert not [b for b in at.button if (b.key or "").startswith("use_")]
    assert at.button[0].label == "Run it again"


def test_a_missing_suggestion_cannot_be_used(fresh_workspace):
    seed_lr_find(suggestions={**SUGGESTIONS, "slide": None})
    at = open_lr_page()
    assert at.button(key=state.use_key("slide")).disabled
    assert "slide" not in at.session_state[state.LR_SUGGESTIONS]


def test_a_new_session_shows_the_newest_run_for_its_dataset_and_arch(fresh_workspace):
    seed_lr_find(suggestions={**SUGGESTIONS, "valley": 1e-4})
    seed_lr_find(suggestions={**SUGGESTIONS, "valley": 2e-4})
    seed_lr_find(arch="simple_cnn", suggestions={**SUGGESTIONS, "valley": 3e-4})
    at = open_lr_page()  # state.LR_RUN is None: as after a reload
    assert at.session_state[state.LR_SUGGESTIONS]["valley"] == 2e-4
    at.session_state[state.ARCH] = "simple_cnn"
    at.run()
    assert at.session_state[state.LR_SUGGESTIONS]["valley"] == 3e-4


def test_the_loss_axis_leaves_the_divergence_off_the_top(fresh_workspace):
    """As fastai's plot_lr_find: the axis fits the curve, not its last spike; the spike is still drawn."""
    from tests.apptest import chart_spec, values

    seed_lr_find()
    _, losses = _curve()
    spec = chart_spec(at=open_lr_page(), containing="off the chart")
    low, high = spec["layout"]["yaxis"]["range"]
    assert low < min(losses) and losses[0] <= high < max(losses) / 10  # the start and the valley fit
    curve = next(t for t in spec["data"] if t["name"] == "loss")
    assert max(values(curve["y"])) == pytest.approx(max(losses))  # the spike is drawn, going off the top
    (marker,) = [t for t in spec["data"] if "off the chart" in t["name"]]
    assert f"{max(losses):.3g}" in marker["name"]  # and the legend says how high it goes


def test_the_suggestion_buttons_are_short_and_say_what_they_do(fresh_workspace):
    seed_lr_find()
    at = open_lr_page()
    for name, value in SUGGESTIONS.items():
        button = at.button(key=state.use_key(name))
        assert button.label == f"Use {value:.2e}" and len(button.label) <= 12  # fits its column
        assert button.help.startswith("Use this learning rate") and name in button.help


def test_a_curve_that_never_diverges_keeps_its_whole_axis():
    from dashboard.figures import lr_find_figure, lr_loss_range

    calm = [2.3 - 0.01 * i for i in range(100)]
    assert lr_loss_range(calm) is None
    fig = lr_find_figure([1e-7 * 1.2**i for i in range(100)], calm, {})
    assert fig.layout.yaxis.range is None and [t.name for t in fig.data] == ["loss"]
