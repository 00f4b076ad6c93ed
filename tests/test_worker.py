"""The worker: runs queued jobs in order, stops a run within a batch, survives failures and
recovers the job of a worker that was killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.config import TrainConfig
from core.jobs import worker
from core.jobs.store import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Store
from core.train import callbacks
from tests.conftest import kill_and_reap, run_worker_once, subprocess_env

ROOT = Path(__file__).resolve().parents[1]


def train_params(**changes) -> dict:
    """A train job's params, as the dashboard and the CLI submit them."""
    return {"config": TrainConfig(**changes).to_dict()}


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval=0.05):
    """Poll condition until it returns something truthy; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class InProcessWorker:
    """core.jobs.worker.serve in a thread of this process, with its own Store."""

    def __init__(self, path: Path, **kwargs):
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, args=(path, kwargs), daemon=True)
        self.thread.start()

    def _run(self, path: Path, kwargs: dict) -> None:
        store = Store(path)
        try:
            worker.serve(store, stop=self.stop, poll=0.05, **kwargs)
        except BaseException as e:  # noqa: BLE001 - surfaced by join()
            self.errors.append(e)
        finally:
            store.close()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the worker did not return within {timeout} s"
        assert not self.errors, f"the worker loop itself crashed: {self.errors!r}"


@pytest.fixture
def ws_store(fresh_workspace):
    """The job store of a workspace of this test's own."""
    store = Store()
    assert store.path.parent == fresh_workspace
    yield store
    store.close()


@pytest.fixture
def workers():
    """Start in-process workers; whatever a test leaves running is stopped afterwards."""
    started: list[InProcessWorker] = []

    def start(path: Path, **kwargs) -> InProcessWorker:
        w = InProcessWorker(path, **kwargs)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop.set()  # the heartbeat thread asks a running job to stop
    for w in started:
        w.thread.join(60)


def test_cancel_stops_a_run_within_a_batch(ws_store, workers, monkeypatch):
    # Write every batch at once, so the store shows exactly how far the run has got.
    monkeypatch.setattr(callbacks, "FLUSH_EVERY", 0.0)
    job_id = ws_store.submit("train", train_params(epochs=20))
    w = workers(ws_store.path, until_job=job_id)

    wait_for(lambda: len(ws_store.epochs(job_id)) >= 1, 120, "the first epoch record")
    # While it trains, the worker says it is alive (what tells a live run from a dead one).
    wait_for(
        lambda: ws_store.get(job_id).heartbeat > ws_store.get(job_id).started,
        30,
        "a heartbeat during the run",
    )
    assert [(w["pid"], w["job_id"]) for w in ws_store.workers()] == [(os.getpid(), job_id)]
    wait_for(
        lambda: len(ws_store.batches(job_id)) > ws_store.epochs(job_id)["step"].max(),
        60,
        "a batch of the second epoch",
    )
    assert ws_store.request_cancel(job_id) == RUNNING
    steps_at_cancel = len(ws_store.batches(job_id))
    w.join(60)

    job = ws_store.get(job_id)
    assert job.state == CANCELLED
    assert job.result["cancelled"] is True
    batches = ws_store.batches(job_id)
    assert len(batches) - steps_at_cancel <= 2, "the run went on after being asked to stop"
    assert batches["step"].tolist() == list(range(1, len(batches) + 1))

    epochs = ws_store.epochs(job_id)
    per_epoch = int(epochs["step"].iloc[0])
    assert len(epochs) < 20
    assert epochs["epoch"].tolist() == list(range(len(epochs)))  # complete, consecutive
    assert epochs["step"].tolist() == [per_epoch * (i + 1) for i in range(len(epochs))]
    assert epochs[["train_loss", "valid_loss", "accuracy"]].notna().all().all()
    assert job.result["epochs_done"] == len(epochs)  # the interrupted epoch is not reported
    assert len(batches) < per_epoch * 20


def test_a_failing_job_is_failed_with_a_message_and_the_next_job_runs(ws_store, workers):
    bad = ws_store.submit("train", train_params(arch="nope", epochs=1))
    good = ws_store.submit("train", train_params(epochs=1))
    workers(ws_store.path, once=True).join(180)

    failed = ws_store.get(bad)
    assert failed.state == FAILED
    assert "Unknown architecture 'nope'" in failed.error
    assert "mnist_cnn" in failed.error  # it says what to choose instead
    assert "Traceback" not in failed.error and failed.result is None

    done = ws_store.get(good)
    assert done.state == DONE
    assert done.result["accuracy"] > 0.5
    assert done.result["epochs_done"] == 1


def test_an_unexpected_exception_fails_only_its_job(ws_store, workers, monkeypatch):
    import core.train.lr_find
    import core.train.training

    def broken(job, store):
        raise ValueError("the loss went sideways")

    monkeypatch.setattr(core.train.training, "run_train_job", broken)
    monkeypatch.setattr(core.train.lr_find, "run_lr_find_job", lambda job, store: {"ok": job.id})
    bad = ws_store.submit("train", train_params())
    after = ws_store.submit("lr_find", train_params())
    workers(ws_store.path, once=True).join(60)

    failed = ws_store.get(bad)
    assert failed.state == FAILED
    assert failed.error == "ValueError: the loss went sideways"
    (tb,) = ws_store._con().execute("SELECT traceback FROM jobs WHERE id = ?", (bad,)).fetchone()
    assert "Traceback" in tb and "broken" in tb  # kept for whoever debugs it
    assert ws_store.get(after).state == DONE
    assert ws_store.get(after).result == {"ok": after}


def test_queued_jobs_run_one_at_a_time_in_order(ws_store, workers):
    first = ws_store.submit("train", train_params(epochs=1, seed=1))
    second = ws_store.submit("train", train_params(epochs=1, seed=2))
    assert (ws_store.queue_position(first), ws_store.queue_position(second)) == (1, 2)
    seen_when_first_ended = []

    def on_state(job, state):
        if job.id == first:
            seen_when_first_ended.append(Store(ws_store.path).get(second).state)

    workers(ws_store.path, once=True, on_state=on_state).join(180)

    a, b = ws_store.get(first), ws_store.get(second)
    assert (a.state, b.state) == (DONE, DONE)
    assert seen_when_first_ended == [QUEUED]  # the second waited for the first
    assert a.started <= a.finished <= b.started <= b.finished
    assert (a.result["run_id"], b.result["run_id"]) == (first, second)
    for job in (a, b):
        assert Path(job.result["weights"]).is_file()
        assert Path(job.result["weights"]).parent.name == str(job.id)


def test_lr_find_job_gives_four_suggestions_and_streams_its_curve(ws_store, workers):
    job_id = ws_store.submit("lr_find", {"config": TrainConfig().to_dict(), "num_it": 60})
    workers(ws_store.path, once=True).join(180)

    job = ws_store.get(job_id)
    assert job.state == DONE, job.error
    suggestions = job.result["suggestions"]
    assert set(suggestions) == {"valley", "slide", "minimum", "steep"}
    for name, lr in suggestions.items():
        assert isinstance(lr, float) and 1e-7 <= lr <= 10, (name, lr)
    batches = ws_store.batches(job_id)
    assert len(batches) >= 10
    # What the live chart showed is the curve the result reports.
    assert len(batches) == len(job.result["lrs"])
    assert batches["lr"].tolist() == pytest.approx(job.result["lrs"])
    assert batches["loss"].tolist() == pytest.approx(job.result["losses"])
    assert batches["lr"].is_monotonic_increasing
    assert ws_store.epochs(job_id).empty  # lr_find has no epochs


def test_the_worker_lock_keeps_a_second_worker_out(fresh_workspace):
    assert not worker.worker_alive()
    handle = worker.acquire_lock()
    assert handle is not None
    try:
        assert worker.worker_alive()
        assert worker.lock_holder() == os.getpid()
        t = time.monotonic()
        second = run_worker_once(timeout=60)
        assert time.monotonic() - t < 15  # it refuses at once instead of loading fastai first
        assert second.returncode != 0
        assert "already running" in second.stdout + second.stderr
        assert str(os.getpid()) in second.stdout + second.stderr
        assert "Traceback" not in second.stderr
    finally:
        worker.release_lock(handle)
    assert not worker.worker_alive()
    assert worker.lock_holder() is None


@pytest.fixture
def restore_signals():
    """worker.main installs SIGINT/SIGTERM handlers; give pytest its own back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def test_a_killed_workers_job_is_failed_by_the_next_worker(ws_store, tmp_path, restore_signals):
    long_job = ws_store.submit("train", train_params(epochs=200))
    log = open(tmp_path / "worker.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "worker"],
        cwd=ROOT,
        env=subprocess_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: ws_store.get(long_job).state == RUNNING and len(ws_store.batches(long_job)) > 0,
            150,
            "the worker to start training",
        )
        assert ws_store.get(long_job).worker_pid == proc.pid
        assert worker.worker_alive() and worker.lock_holder() == proc.pid
        kill_and_reap(proc, 30)
    finally:
        kill_and_reap(proc, 30)
        log.close()
    assert proc.returncode == -signal.SIGKILL

    # Nobody is left to finish it: the job still says RUNNING, but the lock is free.
    assert ws_store.get(long_job).state == RUNNING
    assert not worker.worker_alive()
    next_job = ws_store.submit("train", train_params(epochs=1))

    assert worker.main(once=True, quiet=True) == 0

    orphan = ws_store.get(long_job)
    assert orphan.state == FAILED
    assert "worker" in orphan.error and "stopped" in orphan.error
    assert str(proc.pid) in orphan.error
    assert orphan.finished is not None
    assert len(ws_store.batches(long_job)) > 0  # what it recorded before dying is kept
    done = ws_store.get(next_job)
    assert done.state == DONE and done.result["epochs_done"] == 1
    assert not worker.worker_alive()  # the second worker let go of the lock
