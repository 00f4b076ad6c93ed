"""AppTest: the Runs page — the table, one run, a comparison — on runs seeded in the store."""

from __future__ import annotations

import math

import pytest
from streamlit.testing.v1 import AppTest

from core.config import TrainConfig
from core.jobs.store import DONE, FAILED, QUEUED, Store
from dashboard import state
from dashboard.views import runs_table
from tests.apptest import APP, chart_spec, values

PAGE = "../pages/runs.py"


def seed_run(
    store: Store | None = None,
    *,
    lr: float = 3e-3,
    seed: int = 0,
    epochs: int = 2,
    accuracy: float = 0.94,
    state_: str = DONE,
    batches_per_epoch: int = 20,
    parent: int | None = None,
    first_epoch: int = 0,
    **config,
) -> int:
    """A finished training run with per-batch and per-epoch records, as the worker writes them."""
    store = store or Store()
    cfg = TrainConfig(lr=lr, seed=seed, epochs=epochs, **config)
    job_id = store.submit("train", {"config": cfg.to_dict()}, parent=parent)
    claimed = store.claim_next(pid=1)
    assert claimed.id == job_id
    start = first_epoch * batches_per_epoch
    steps = range(start + 1, start + epochs * batches_per_epoch + 1)
    scale = 1 + math.log10(3e-3 / lr) / 4
    store.add_batches(job_id, [(s, scale * 2.3 * math.exp(-s / 25) + 0.05, lr, 0.9) for s in steps])
    for e in range(first_epoch, first_epoch + epochs):
        step = (e + 1) * batches_per_epoch
        store.add_epoch(
            job_id, e, 0.5 / (e + 1), scale * 0.3 / (e + 1), {"accuracy": accuracy}, 1.0, step, "train"
        )
    if state_ == FAILED:
        store.finish(job_id, FAILED, error="CUDA out of memory", traceback="Traceback…\nRuntimeError: boom")
    else:
        result = {
            "run_id": job_id,
            "accuracy": accuracy,
            "valid_loss": scale * 0.3 / epochs,
            "train_loss": 0.2,
            "seconds": 2.0,
            "images_per_second": 1500.0,
            "epochs_done": epochs,
            "n_valid": 359,
        }
        store.finish(job_id, state_, result=result)
    return job_id


def open_runs(query: str | None = None, **session) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if query is not None:
        at.query_params[runs_table.QUERY] = query
    at.run()
    for key, value in session.items():
        at.session_state[key] = value
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def pick(at: AppTest, ids: list[int]) -> AppTest:
    at.multiselect(key=state.RUNS_PICKED).set_value(ids).run()
    assert not at.exception, at.exception
    return at


def test_an_empty_store_says_how_to_make_a_run(fresh_workspace):
    at = open_runs()
    assert any("No runs yet" in i.value for i in at.info)


def test_the_table_lists_filters_and_sorts_runs_and_offers_a_csv(fresh_workspace):
    a = seed_run(lr=1e-3, accuracy=0.91)
    b = seed_run(lr=3e-3, accuracy=0.95, arch="simple_cnn")
    c = seed_run(lr=1e-2, accuracy=0.93)
    at = open_runs()
    table = at.dataframe[0].value
    assert list(table["run"]) == [c, b, a]  # newest first
    assert {"lr", "batch size", "final metric", "valid loss", "state", "parent"} <= set(table.columns)
    at.selectbox(key=state.RUNS_SORT).set_value("metric").run()
    assert list(at.dataframe[0].value["run"]) == [b, c, a]
    at.multiselect(key=state.RUNS_F_ARCH).set_value(["simple_cnn"]).run()
    assert list(at.dataframe[0].value["run"]) == [b]
    at.multiselect(key=state.RUNS_F_ARCH).set_value([]).run()
    at.text_input(key=state.RUNS_F_TEXT).input(str(a)).run()
    assert list(at.dataframe[0].value["run"]) == [a]
    assert any(d.label == "Download CSV" for d in at.get("download_button"))
    for widget in [*at.multiselect, *at.selectbox, *at.text_input, *at.toggle]:
        assert widget.help and len(widget.help) > 20, widget.label


def test_a_link_opens_one_run_with_its_curve_settings_and_command(fresh_workspace):
    run_id = seed_run(lr=1e-3, epochs=3)
    at = open_runs(query=str(run_id))
    assert at.session_state[state.RUNS_PICKED] == [run_id]
    assert any(f"Run {run_id}" in h.value for h in at.header)
    codes = [c.value for c in at.code]
    assert any(f"?run={run_id}" in c for c in codes)
    assert any(c.startswith("python -m core train") and "--lr 0.001" in c for c in codes)
    traces = chart_spec(at, "train (smoothed)")["data"]
    assert len(values(traces[0]["y"])) == 3 * 20
    settings = at.dataframe[-1].value
    assert "data version" in list(settings["setting"])


def test_a_failed_run_shows_its_reason_and_log_tail(fresh_workspace):
    run_id = seed_run(state_=FAILED)
    at = open_runs(query=str(run_id))
    assert any("CUDA out of memory" in e.value for e in at.error)
    assert any("RuntimeError: boom" in c.value for c in at.code)


def test_an_unknown_run_in_the_link_is_said_plainly(fresh_workspace):
    seed_run()
    at = open_runs(query="999")
    assert any("There is no run 999" in e.value for e in at.error)


def test_rename_note_delete_and_undo(fresh_workspace):
    run_id = seed_run()
    at = pick(open_runs(), [run_id])
    at.text_input(key=f"{state.RUNS_NAME}_{run_id}").input("baseline *bold*")  # a form: sent on Save
    at.text_input(key=f"{state.RUNS_NOTE}_{run_id}").input("the first try")
    next(b for b in at.button if b.label == "Save name and note").click().run()
    job = Store().get(run_id)
    assert (job.name, job.note) == ("baseline *bold*", "the first try")
    assert at.dataframe[0].value["name or note"].iloc[0] == "baseline *bold*"
    next(b for b in at.button if b.label == "Delete this run").click().run()
    assert Store().get(run_id).deleted is not None
    assert any("No runs yet" in i.value for i in at.info) or run_id not in list(at.dataframe[0].value["run"])
    next(b for b in at.button if b.label.startswith("Undo")).click().run()
    assert not at.exception, at.exception
    assert Store().get(run_id).deleted is None
    assert list(at.dataframe[0].value["run"]) == [run_id]


def test_repeat_with_other_seeds_queues_runs_and_compares_them(fresh_workspace, no_worker):
    run_id = seed_run()
    at = pick(open_runs(), [run_id])
    at.number_input(key=f"{state.RUNS_SEEDS}_{run_id}").set_value(2).run()
    next(b for b in at.button if b.label == "Repeat with other seeds").click().run()
    assert not at.exception, at.exception
    queued = [j for j in Store().jobs() if j.state == QUEUED]
    assert len(queued) == 2 and {j.params["config"]["seed"] for j in queued} == {1, 2}
    assert no_worker
    assert sorted(at.session_state[state.RUNS_PICKED]) == sorted([run_id, *(j.id for j in queued)])


def test_compare_two_runs_differing_only_in_lr(fresh_workspace):
    a = seed_run(lr=1e-3, accuracy=0.90)
    b = seed_run(lr=1e-2, accuracy=0.95)
    at = pick(open_runs(), [a, b])
    assert any("Compare 2 runs" in h.value for h in at.header)
    differing = next(t.value for t in at.table if t.value.index.name == "setting")
    assert list(differing.index) == ["lr"]
    spec = chart_spec(at, "training loss")
    runs_drawn = {t["meta"][0] for t in spec["data"]}
    assert runs_drawn == {a, b}
    assert any("10×" in i.value for i in at.info)  # the sentence on the largest difference
    # x by batch or images seen
    at.segmented_control(key=state.COMPARE_X).set_value("images").run()
    assert not at.exception, at.exception
    spec = chart_spec(at, "images seen")
    xs = values(next(t for t in spec["data"] if t["meta"] == [a, "train_loss"])["x"])
    assert max(xs) == pytest.approx(2 * 20 * TrainConfig().bs)


def test_compare_refuses_runs_of_different_tasks_and_too_many(fresh_workspace):
    ids = [seed_run(seed=s) for s in range(11)]
    at = pick(open_runs(), ids)
    assert any("at most 10" in e.value for e in at.error)


def test_seed_groups_draw_bands_and_a_verdict(fresh_workspace):
    low = [seed_run(lr=1e-5, seed=s, accuracy=0.40 + 0.01 * s) for s in range(3)]
    high = [seed_run(lr=3e-3, seed=s, accuracy=0.95 + 0.002 * s) for s in range(3)]
    at = pick(open_runs(), [*low, *high])
    assert not at.exception, at.exception
    spec = chart_spec(at, "toself")
    assert sum(t.get("fill") == "toself" for t in spec["data"]) == 2
    verdicts = [s.value for s in at.success] + [w.value for w in at.warning]
    assert any("larger than noise" in v for v in verdicts), verdicts


def test_continue_training_queues_a_child_of_the_run(fresh_workspace, no_worker, monkeypatch):
    from core import runs
    from dashboard.views import runs_detail

    run_id = seed_run()
    at = pick(open_runs(), [run_id])  # no checkpoint: nothing to continue from, and it says so
    assert any("kept no checkpoint" in c.value for c in at.caption)
    assert not [b for b in at.button if b.label == "Continue training"]
    runs.checkpoint_path(run_id).parent.mkdir(parents=True, exist_ok=True)
    runs.checkpoint_path(run_id).write_text("{}")  # the form only looks for one
    calls = []
    monkeypatch.setattr(runs_detail, "submit_continue", lambda parent, **kw: calls.append((parent, kw)) or 99)
    at = pick(open_runs(), [run_id])
    at.number_input(key=f"{state.CONT_EPOCHS}_{run_id}").set_value(3)  # a form: sent on submit
    next(b for b in at.button if b.label == "Continue training").click().run()
    assert calls == [(run_id, {"epochs": 3, "lr": None, "schedule": None, "unfreeze": False})]
    assert no_worker
