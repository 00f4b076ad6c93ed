"""Sweeps: Optuna chooses the settings, each run is a normal train job, Stop ends the rest, the
best run is the one with the best metric, bad input queues nothing, the study survives restarts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core.config import TrainConfig
from core.errors import UserError
from core.jobs import sweeps
from core.jobs.store import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Store
from core.jobs.sweeps import SweepSpec
from tests.conftest import subprocess_env
from tests.test_worker import ROOT, InProcessWorker, wait_for

TINY = TrainConfig(dataset="digits", size=8, epochs=1)


@pytest.fixture
def ws_store(fresh_workspace):
    store = Store()
    yield store
    store.close()


@pytest.fixture
def start_worker():
    """An in-process worker (with its sweep coordinator); stopped after the test."""
    started: list[InProcessWorker] = []

    def start(path, **kwargs) -> InProcessWorker:
        started.append(InProcessWorker(path, **kwargs))
        return started[-1]

    yield start
    for w in started:
        w.stop.set()
    for w in started:
        w.thread.join(60)


@pytest.fixture
def fake_training(monkeypatch):
    """Train jobs that finish at once with accuracy = lr × 10 (so the best run is known)."""
    import core.train.training

    def fake(job, store):
        lr = job.params["config"]["lr"]
        return {"run_id": job.id, "accuracy": lr * 10, "valid_loss": 1 - lr, "seconds": 0.01}

    monkeypatch.setattr(core.train.training, "run_train_job", fake)


def _study_trials(store: Store, sweep_id: int):
    name = store.read("SELECT study FROM sweeps WHERE id = ?", (sweep_id,))[0]["study"]
    return sweeps._study(store, name).get_trials(deepcopy=False)


def test_four_runs_queue_run_and_finish(ws_store, start_worker):
    spec = SweepSpec(TINY, lr=(1e-3, 1e-2), bs=(32, 64), sampler="random", budget=4)
    sweep_id = sweeps.create(ws_store, spec, name="tiny")
    first = sweeps.status(ws_store, sweep_id)
    assert [m.state for m in first.members] == [QUEUED]  # queued before any worker runs
    start_worker(ws_store.path)

    wait_for(lambda: sweeps.finished(ws_store, sweep_id), 300, "the sweep to end")
    st = sweeps.status(ws_store, sweep_id)
    assert st.state == DONE and st.done == 4 and len(st.members) == 4
    for m in st.members:
        assert m.kind == "train" and m.sweep_id == sweep_id and m.state == DONE, m.error
        cfg = m.params["config"]
        assert 1e-3 <= cfg["lr"] <= 1e-2 and cfg["bs"] in (32, 64)
        assert (cfg["size"], cfg["epochs"], cfg["dataset"]) == (8, 1, "digits")
    assert st.members[0].name == "tiny #1"
    # Optuna was told each run's accuracy.
    trials = _study_trials(ws_store, sweep_id)
    told = {t.user_attrs["run"]: t.value for t in trials}
    assert told == {m.id: pytest.approx(m.result["accuracy"]) for m in st.members}
    best = max(st.members, key=lambda m: m.result["accuracy"])
    assert st.best_run == best.id
    frame = sweeps.trials_frame(ws_store, sweep_id)
    assert frame["run"].tolist() == [m.id for m in st.members]
    assert frame.attrs["params"] == ["lr", "bs"] and frame.attrs["best_run"] == best.id
    # A finished sweep stays finished.
    sweeps.tick(ws_store)
    assert len(sweeps.status(ws_store, sweep_id).members) == 4


def test_stop_one_member_then_the_whole_sweep(ws_store, start_worker):
    spec = SweepSpec(TINY.replace(epochs=200), lr=(1e-3, 1e-2), sampler="random", budget=5)
    sweep_id = sweeps.create(ws_store, spec)
    start_worker(ws_store.path)

    def running_with_next_queued():
        members = sweeps.status(ws_store, sweep_id).members
        return len(members) >= 2 and [m.state for m in members[-2:]] == [RUNNING, QUEUED] and members

    first, second = wait_for(running_with_next_queued, 120, "a running member with the next queued")
    assert ws_store.request_cancel(first.id) == RUNNING  # Stop one member: the sweep goes on
    wait_for(lambda: ws_store.get(second.id).state == RUNNING, 120, "the next member to start")
    assert ws_store.get(first.id).state == CANCELLED

    wait_for(lambda: len(sweeps.status(ws_store, sweep_id).members) >= 3, 60, "a third member queued")
    sweeps.cancel(ws_store, sweep_id)
    wait_for(lambda: sweeps.finished(ws_store, sweep_id), 120, "the sweep to end")
    st = sweeps.status(ws_store, sweep_id)
    assert st.state == CANCELLED and st.cancel_requested
    assert len(st.members) == 3 < spec.budget
    assert [m.state for m in st.members] == [CANCELLED] * 3
    assert st.best_run is None
    # Optuna was told every member failed, and no later tick queues another.
    assert [t.state.name for t in _study_trials(ws_store, sweep_id)] == ["FAIL"] * 3
    sweeps.tick(ws_store)
    assert len(sweeps.status(ws_store, sweep_id).members) == 3


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_the_best_run_is_the_one_with_the_best_metric(
    ws_store, start_worker, fake_training, monkeypatch, higher_is_better
):
    from core import tasks

    monkeypatch.setattr(type(tasks.get("single_label")), "higher_is_better", higher_is_better)
    spec = SweepSpec(TINY, lr=(1e-4, 1e-2), bs=(32, 64), sampler="grid", budget=6)
    sweep_id = sweeps.create(ws_store, spec)
    start_worker(ws_store.path, once=True).join(120)  # `once` waits for the sweep, not an empty queue

    st = sweeps.status(ws_store, sweep_id)
    assert st.state == DONE and len(st.members) == 6
    scores = {m.id: m.result["accuracy"] for m in st.members}
    pick = max if higher_is_better else min
    assert st.best_run == pick(scores, key=scores.get)
    # The grid: 3 log-spaced lrs × 2 batch sizes, each cell once.
    cells = {(m.params["config"]["lr"], m.params["config"]["bs"]) for m in st.members}
    assert cells == {(lr, bs) for lr in (1e-4, 1e-3, 1e-2) for bs in (32, 64)}
    study = sweeps._study(ws_store, ws_store.read("SELECT study FROM sweeps")[0]["study"])
    assert study.direction.name == ("MAXIMIZE" if higher_is_better else "MINIMIZE")


def test_a_sweep_survives_a_restart_and_fails_when_no_run_succeeds(ws_store, monkeypatch):
    import core.train.training

    spec = SweepSpec(TINY, lr=(1e-4, 1e-2), sampler="tpe", budget=3)
    sweep_id = sweeps.create(ws_store, spec)
    sweeps._storages.clear()  # as a new process: nothing of the study is held in memory
    sweeps._told.clear()
    again = Store(ws_store.path)
    sweeps.tick(again)
    assert len(sweeps.status(again, sweep_id).members) == 1  # the queued one is not asked twice

    def broken(job, store):
        raise ValueError("out of memory")

    monkeypatch.setattr(core.train.training, "run_train_job", broken)
    from core.jobs import worker

    worker.serve(again, once=True, poll=0.05)
    st = sweeps.status(again, sweep_id)
    assert st.state == FAILED and len(st.members) == 3
    assert "No run of the sweep finished" in st.error and "out of memory" in st.error
    assert [t.number for t in _study_trials(again, sweep_id)] == [0, 1, 2]
    again.close()


BAD = [
    (dict(lr=(1e-2, 1e-2)), "is empty"),
    (dict(lr=(1e-2, 1e-4)), "is inverted"),
    (dict(lr=(0, 1e-2)), "two numbers above 0"),
    (dict(lr=(1e-4, 1e-2), budget=0), "at least 1 run"),
    (dict(lr=(1e-4, 1e-2), budget=101), "over the limit of 100"),
    (dict(archs=("mnist_cnn", "nope")), "Unknown architecture 'nope'"),
    (dict(bs=(32, 0)), "batch size must be at least 1"),
    (dict(), "Nothing varies"),
    (dict(bs=(32, 64), sampler="grid", budget=3), "only 2 combinations"),
    (dict(lr=(1e-4, 1e-2), sampler="bayes"), "Unknown search 'bayes'"),
]


@pytest.mark.parametrize("changes,sentence", BAD)
def test_bad_input_is_a_sentence_and_queues_nothing(ws_store, changes, sentence):
    spec = SweepSpec(TINY, **changes)
    assert any(sentence in p for p in sweeps.problems(spec)), sweeps.problems(spec)
    with pytest.raises(UserError, match=sentence):
        sweeps.create(ws_store, spec)
    assert ws_store.jobs() == [] and ws_store.read("SELECT * FROM sweeps") == []
    with pytest.raises(UserError, match="no sweep 7"):
        sweeps.cancel(ws_store, 7)


def test_estimate_uses_earlier_runs_of_the_dataset(ws_store):
    spec = SweepSpec(TINY.replace(epochs=2), lr=(1e-4, 1e-2), budget=4)
    guess = sweeps.estimate_seconds(ws_store, spec)
    assert guess == pytest.approx(4 * (2 * sweeps.DEFAULT_EPOCH_SECONDS + sweeps.DEFAULT_START_SECONDS))
    job = ws_store.submit("train", {"config": TINY.to_dict()})
    ws_store.claim_next(1)
    ws_store.finish(job, DONE, result={"seconds": 3.0, "total_seconds": 4.0, "epochs_done": 1})
    assert sweeps.estimate_seconds(ws_store, spec) == pytest.approx(4 * (2 * 3.0 + 1.0))
    assert sweeps.estimate_seconds(ws_store, SweepSpec(TINY, archs=("mnist_cnn", "simple_cnn"))) > 0


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", "sweep", *args],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_sweep_queues_follows_and_names_the_best_run(fresh_workspace):
    done = _cli("--lr", "1e-4:1e-2", "--bs", "32,64", "--budget", "2", "--epochs", "1", "--size", "8")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["state"] == DONE and summary["runs"] == 2
    store = Store()
    st = sweeps.status(store, summary["sweep_id"])
    assert summary["best_run"] == st.best_run
    assert summary["accuracy"] == max(m.result["accuracy"] for m in st.members)
    assert set(summary["best"]) == {"lr", "bs"}


def test_cli_bad_input_is_one_line_and_queues_nothing(fresh_workspace):
    done = _cli("--lr", "1e-2:1e-4", "--budget", "4", timeout=60)
    assert done.returncode == 2
    assert "inverted" in done.stderr and "Traceback" not in done.stderr
    done = _cli("--bs", "32,big", timeout=60)
    assert done.returncode == 2 and "--bs" in done.stderr
    store = Store()
    assert store.jobs() == [] and store.read("SELECT * FROM sweeps") == []
