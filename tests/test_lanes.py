"""Lanes and the idle worker: a download progresses while a training run trains, one compute job
at a time, a dead worker's jobs in every lane are failed, a stopped worker stops both lanes, the
queue position counts the job's own lane, an old store gains its lanes, and an idle worker exits."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import UserError
from core.jobs import schema, snapshot, worker
from core.jobs.store import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Store
from tests import lane_fakes
from tests.conftest import kill_and_reap, subprocess_env
from tests.test_worker import wait_for, workers, ws_store  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[1]
FAKES = "tests.lane_fakes"


@pytest.fixture
def fakes(monkeypatch):
    """Train, lr_find and memory jobs block until released; downloads finish at once."""
    lane_fakes.reset()
    for kind in ("train", "lr_find", "memory", "crossval"):
        monkeypatch.setitem(worker.HANDLERS, kind, f"{FAKES}:blocking")
    monkeypatch.setitem(worker.HANDLERS, "download", f"{FAKES}:quick")
    yield
    lane_fakes.RELEASE.set()


@pytest.fixture
def ws(ws_store):  # noqa: F811 (the worker tests' fixture)
    """The store of a workspace of this test's own."""
    return ws_store


@pytest.fixture
def serving(workers):  # noqa: F811 (the worker tests' fixture)
    """Start serve() in threads of this process (no sweeps coordinator); afterwards the blocking
    jobs are released first, then the workers are stopped (by the workers fixture)."""
    yield lambda path, **kwargs: workers(path, coordinate=False, **kwargs)
    lane_fakes.RELEASE.set()


def test_a_download_finishes_while_a_training_run_is_running(ws, fakes, serving):
    train = ws.submit("train", {"config": {"epochs": 50}})
    download = ws.submit("download", {"key": "PETS"})
    w = serving(ws.path)
    wait_for(lambda: ws.get(train).state == RUNNING, 10, "the training run to start")

    wait_for(lambda: ws.get(download).state == DONE, 10, "the download, beside the training run")
    assert ws.get(train).state == RUNNING  # the training run did not have to end first
    assert ws.get(download).result == {"ok": download}

    # A second download, queued later, does not wait either; the training run still trains.
    again = ws.submit("download", {"key": "MNIST_TINY"})
    wait_for(lambda: ws.get(again).state == DONE, 10, "a second download")
    assert ws.get(train).state == RUNNING
    lane_fakes.RELEASE.set()
    wait_for(lambda: ws.get(train).state == DONE, 10, "the training run to end")
    w.stop.set()
    w.join(10)


def test_compute_jobs_run_one_at_a_time_in_queue_order(ws, fakes, serving):
    ids = [
        ws.submit("train", {"config": {}}),
        ws.submit("lr_find", {"config": {}}),
        ws.submit("memory", {"arch": "mnist_cnn"}),
        ws.submit("train", {"config": {}}),
    ]
    download = ws.submit("download", {"key": "PETS"})
    w = serving(ws.path, once=True)
    wait_for(lambda: ws.get(download).state == DONE, 10, "the download")
    time.sleep(0.3)
    assert [ws.get(i).state for i in ids] == [RUNNING, QUEUED, QUEUED, QUEUED]
    assert [ws.queue_position(i) for i in ids[1:]] == [1, 2, 3]
    lane_fakes.RELEASE.set()
    w.join(20)

    jobs = [ws.get(i) for i in ids]
    assert [j.state for j in jobs] == [DONE] * 4
    assert lane_fakes.SEEN["compute_max"] == 1  # never two compute jobs at once
    assert lane_fakes.SEEN["order"] == ids
    for before, after in zip(jobs, jobs[1:], strict=False):
        assert before.finished <= after.started


def test_stop_cancels_a_job_in_either_lane(ws, fakes, serving, monkeypatch):
    monkeypatch.setitem(worker.HANDLERS, "download", f"{FAKES}:blocking")  # a long download
    train = ws.submit("train", {"config": {}})
    download = ws.submit("download", {"key": "PETS"})
    w = serving(ws.path)
    wait_for(lambda: {ws.get(train).state, ws.get(download).state} == {RUNNING}, 10, "both lanes")

    assert ws.request_cancel(download) == RUNNING  # Stop on the download alone
    wait_for(lambda: ws.get(download).state == CANCELLED, 10, "the download to stop")
    assert ws.get(train).state == RUNNING  # the training run goes on

    w.stop.set()  # the worker shutting down (SIGTERM) stops what each lane runs
    w.join(10)
    assert ws.get(train).state == CANCELLED


def test_queue_position_counts_only_jobs_of_the_same_lane(ws):
    a = ws.submit("train", {"config": {"arch": "mnist_cnn", "dataset": "digits"}})
    b = ws.submit("train", {"config": {"arch": "resnet18", "dataset": "pets"}})
    c = ws.submit("download", {"key": "PETS"})
    d = ws.submit("lr_find", {"config": {"arch": "mnist_cnn", "dataset": "digits"}})
    e = ws.submit("download", {"key": "IMAGENETTE_160"})
    assert [ws.queue_position(j) for j in (a, b, c, d, e)] == [1, 2, 1, 3, 2]
    assert snapshot.snapshot(ws, e).eta_text == "queued (position 2)"  # not 5: no training ahead

    assert ws.claim_next(1, lane="io").id == c  # the io lane takes the oldest download…
    assert ws.claim_next(1, lane="compute").id == a  # …the compute lane the oldest of the rest
    assert [ws.queue_position(j) for j in (b, d, e)] == [1, 2, 1]

    compute, io = snapshot.lanes(ws)
    assert [j.id for j in compute.running] == [a] and [j.id for j in compute.queued] == [b, d]
    assert [j.id for j in io.running] == [c] and [j.id for j in io.queued] == [e]
    assert snapshot.job_title(ws.get(b)) == f"run {b}: training resnet18 on pets"
    assert snapshot.job_title(ws.get(e)) == f"job {e}: download of IMAGENETTE_160"


def test_the_queue_panel_shows_each_lane_with_positions(fresh_workspace):
    from streamlit.testing.v1 import AppTest

    store = Store()
    first = store.submit("train", {"config": {"arch": "mnist_cnn", "dataset": "digits"}})
    second = store.submit("train", {"config": {"arch": "resnet18", "dataset": "pets"}})
    dl = store.submit("download", {"key": "PETS"})
    store.claim_next(1, lane="compute")
    store.set_progress(first, 0.42)

    def panel():
        from dashboard.views.queue import lanes_panel

        lanes_panel()

    at = AppTest.from_function(panel).run()
    assert not at.exception, at.exception
    text = [m.value.replace("\\", "") for m in at.markdown]  # as shown, without md()'s escapes
    assert [c.value for c in at.caption] == ["**Training and other compute**", "**Downloads**"]
    compute, io = text
    assert f"run {first}: training mnist_cnn on digits (42%)" in compute
    assert f"1. run {second}: training resnet18 on pets" in compute
    assert f"1. job {dl}: download of PETS" in io  # first in its lane, not third


def old_store(path: Path) -> None:
    """A store as version 3 of the program left it: no lanes; a queued download, a running run."""
    con = sqlite3.connect(path, isolation_level=None)
    con.row_factory = sqlite3.Row
    con.executescript(schema.SCHEMA)
    schema._add_task_column(con)
    schema._add_run_history(con)
    con.execute("PRAGMA user_version = 3")
    for kind, state in (("train", RUNNING), ("train", QUEUED), ("download", QUEUED), ("lr_find", QUEUED)):
        con.execute(
            "INSERT INTO jobs(kind, params, state, created) VALUES (?, ?, ?, ?)",
            (kind, '{"config": {}}', state, time.time()),
        )
    assert "lane" not in {r["name"] for r in con.execute("PRAGMA table_info(jobs)")}
    con.close()


def test_an_old_store_gains_lanes_and_keeps_its_jobs(tmp_path):
    path = tmp_path / "runs.sqlite"
    old_store(path)
    store = Store(path)
    (version,) = store.read("PRAGMA user_version")[0]
    assert version == schema.STORE_VERSION
    assert [(j.kind, j.lane) for j in store.active()] == [
        ("train", "compute"),
        ("train", "compute"),
        ("download", "io"),
        ("lr_find", "compute"),
    ]
    assert [store.queue_position(i) for i in (2, 3, 4)] == [1, 1, 2]
    assert store.claim_next(5, lane="io").kind == "download"
    store.close()
    Store(path).close()  # opening it again migrates nothing twice


def test_a_dead_workers_jobs_in_both_lanes_are_failed(ws, restore_signals, monkeypatch):
    # A real `python -m core worker` whose train and download jobs block until stopped.
    ws.submit("train", {"config": {}})
    ws.submit("download", {"key": "PETS"})
    proc = subprocess.Popen(
        [sys.executable, "-c", FAKE_HANDLERS_WORKER],
        cwd=ROOT,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
    )
    try:

        def running():
            jobs = [j for j in ws.active() if j.state == RUNNING and j.worker_pid == proc.pid]
            return jobs if len(jobs) == 2 else None

        jobs = wait_for(running, 60, "the worker to run a job in each lane")
        started = {j.id: j.heartbeat for j in jobs}
        # Each running job, not only the compute one, is said to be alive.
        wait_for(
            lambda: all(ws.get(i).heartbeat > beat for i, beat in started.items()),
            10,
            "heartbeats of both jobs",
        )
        kill_and_reap(proc)
    finally:
        kill_and_reap(proc)
    assert not worker.worker_alive()
    assert {ws.get(i).state for i in started} == {RUNNING}  # nobody is left to end them

    monkeypatch.setattr(worker, "warm_up", lambda: None)
    assert worker.main(once=True, quiet=True) == 0  # the next worker recovers them
    for i in started:
        job = ws.get(i)
        assert job.state == FAILED, job
        assert "stopped before it finished" in job.error and str(proc.pid) in job.error


def test_sigterm_stops_the_job_in_each_lane_and_the_worker(ws):
    train = ws.submit("train", {"config": {}})
    download = ws.submit("download", {"key": "PETS"})
    proc = subprocess.Popen(
        [sys.executable, "-c", FAKE_HANDLERS_WORKER],
        cwd=ROOT,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: {ws.get(train).state, ws.get(download).state} == {RUNNING}, 60, "both lanes")
        lock = ws.path.parent / "worker.lock"
        assert lock.read_text() == str(proc.pid)  # what the README says to look at
        proc.send_signal(signal.SIGTERM)  # `kill PID`
        assert proc.wait(20) == 0
    finally:
        kill_and_reap(proc)
    assert (ws.get(train).state, ws.get(download).state) == (CANCELLED, CANCELLED)
    assert not worker.worker_alive() and ws.workers() == []
    assert lock.read_text() == ""  # no stale pid left to kill by mistake


# `python -m core worker` with the blocking handler for train and download, and no fastai warm-up.
FAKE_HANDLERS_WORKER = f"""
from core.jobs import worker
worker.HANDLERS.update(train="{FAKES}:blocking", download="{FAKES}:blocking")
worker.warm_up = lambda: None
raise SystemExit(worker.main(quiet=True))
"""


@pytest.fixture
def restore_signals():
    """worker.main installs SIGINT/SIGTERM handlers; give pytest its own back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def test_an_idle_worker_exits_after_the_idle_time(fresh_workspace):
    env = subprocess_env(PLAYGROUND_WORKER_IDLE_S="1")
    t = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from core.jobs import worker; worker.warm_up = lambda: None; raise SystemExit(worker.main())",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "exiting: idle" in done.stdout
    assert time.monotonic() - t < 60
    assert not worker.worker_alive()  # the lock is free: the next queued job starts a new one


def test_idle_time_counts_only_while_nothing_runs(ws, fakes, serving):
    train = ws.submit("train", {"config": {}})
    w = serving(ws.path, idle_exit=0.2)
    wait_for(lambda: ws.get(train).state == RUNNING, 10, "the run to start")
    time.sleep(1.0)  # far longer than the idle time, but a job runs
    assert w.thread.is_alive()
    lane_fakes.RELEASE.set()
    w.join(10)  # then, idle, it returns by itself
    assert ws.get(train).state == DONE


def test_the_idle_time_setting(monkeypatch):
    monkeypatch.delenv(worker.IDLE_ENV, raising=False)
    assert worker.idle_exit_seconds() == 600
    assert worker.idle_exit_seconds(5) == 5  # --idle-exit wins
    monkeypatch.setenv(worker.IDLE_ENV, "90")
    assert worker.idle_exit_seconds() == 90
    monkeypatch.setenv(worker.IDLE_ENV, "0")
    assert worker.idle_exit_seconds() is None  # never exits
    monkeypatch.setenv(worker.IDLE_ENV, "ten minutes")
    with pytest.raises(UserError, match="PLAYGROUND_WORKER_IDLE_S is 'ten minutes'; set it to a number"):
        worker.idle_exit_seconds()


def test_a_bad_idle_setting_is_shown_instead_of_starting_a_worker(fresh_workspace, monkeypatch):
    from dashboard import runs

    monkeypatch.setenv("PLAYGROUND_WORKER_IDLE_S", "soon")
    spawned = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: spawned.append(a))
    runs.submit("train", {"config": {}})  # queued; the sentence is shown where the worker is
    assert "PLAYGROUND_WORKER_IDLE_S is 'soon'; set it to a number of seconds" in runs.keep_worker_alive()
    assert spawned == []


def test_a_job_queued_as_an_idle_worker_exits_is_still_run(ws, fakes, monkeypatch, restore_signals):
    real, calls, queued = worker.serve, [], []

    def serve(store, **kwargs):
        calls.append(kwargs["idle_exit"])
        if len(calls) == 1:  # idle: about to exit, the dashboard queues a job and sees it alive
            queued.append(ws.submit("download", {"key": "PETS"}))
            return
        real(store, **{**kwargs, "idle_exit": 0.2})

    monkeypatch.setattr(worker, "serve", serve)
    monkeypatch.setattr(worker, "warm_up", lambda: None)
    monkeypatch.setenv("PLAYGROUND_WORKER_IDLE_S", "45")
    assert worker.main(quiet=True) == 0
    assert calls == [45, 45]  # it took the lock again and served once more
    assert ws.get(queued[0]).state == DONE
    assert not worker.worker_alive()


def test_a_command_returns_when_its_job_ends_not_after_a_download_queued_meanwhile(ws, monkeypatch):
    import threading

    from core import cli

    lane_fakes.reset()
    monkeypatch.setitem(worker.HANDLERS, "train", f"{FAKES}:quick")
    monkeypatch.setitem(worker.HANDLERS, "download", f"{FAKES}:blocking")  # a long download
    download = ws.submit("download", {"key": "PETS"})
    done: list = []
    t = threading.Thread(target=lambda: done.append(cli.run_and_follow("train", {}, quiet=True)), daemon=True)
    t.start()
    try:
        t.join(20)
        assert done and done[0].state == DONE  # the command's own run, and it came back
        assert ws.get(download).state == QUEUED  # left for a worker: the command never took it
    finally:
        lane_fakes.RELEASE.set()
        t.join(20)
