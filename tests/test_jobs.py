"""The SQLite job store: queue order, job states, cancelling, records and recovery."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from core.jobs.store import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Store

TRAIN = {"config": {"epochs": 1}}


def test_jobs_are_claimed_oldest_first(store):
    ids = [store.submit("train", {"config": {"epochs": n}}) for n in (1, 2, 3)]
    claimed = [store.claim_next(pid=111) for _ in ids]
    assert [j.id for j in claimed] == ids
    assert [j.params["config"]["epochs"] for j in claimed] == [1, 2, 3]
    assert all(j.state == RUNNING and j.worker_pid == 111 for j in claimed)
    assert store.claim_next(pid=111) is None  # nothing left to run


def test_an_unknown_job_kind_is_refused(store):
    with pytest.raises(ValueError, match="unknown job kind 'bake'"):
        store.submit("bake", {})
    assert store.jobs() == []


def test_a_job_moves_queued_running_done(store):
    before = time.time()
    job_id = store.submit("train", TRAIN)
    job = store.get(job_id)
    assert job.state == QUEUED
    assert not job.finished_state
    assert job.created >= before and job.started is None and job.finished is None

    job = store.claim_next(pid=42)
    assert job.id == job_id and job.state == RUNNING
    assert job.started >= job.created and job.heartbeat == job.started

    store.set_progress(job_id, 0.5, "training")
    job = store.get(job_id)
    assert (job.progress, job.message) == (0.5, "training")
    store.set_progress(job_id, 0.75)
    assert store.get(job_id).message == "training"  # a progress-only update keeps the message

    store.finish(job_id, DONE, result={"accuracy": 0.97})
    job = store.get(job_id)
    assert job.state == DONE and job.finished_state
    assert job.finished >= job.started
    assert job.result == {"accuracy": 0.97}
    assert job.progress == 1.0  # a finished run shows a full progress bar
    assert job.error is None


def test_failed_and_cancelled_keep_their_progress_and_say_why(store):
    a, b = store.submit("train", TRAIN), store.submit("lr_find", TRAIN)
    store.claim_next(1)
    store.claim_next(1)
    store.set_progress(a, 0.3)
    store.set_progress(b, 0.6)
    store.finish(a, FAILED, error="ValueError: boom", traceback="Traceback …")
    store.finish(b, CANCELLED, result={"cancelled": True})
    ja, jb = store.get(a), store.get(b)
    assert (ja.state, ja.error, ja.progress, ja.result) == (FAILED, "ValueError: boom", 0.3, None)
    assert (jb.state, jb.progress, jb.result) == (CANCELLED, 0.6, {"cancelled": True})
    assert ja.finished_state and jb.finished_state


def test_store_uses_wal_and_a_busy_timeout(store):
    con = store._con()
    assert con.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    assert con.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    # WAL is a property of the file: any other connection sees it too.
    other = sqlite3.connect(store.path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    finally:
        other.close()

    # A connection made for another thread gets the same busy timeout.
    seen = []
    thread = threading.Thread(
        target=lambda: seen.append(store._con().execute("PRAGMA busy_timeout").fetchone()[0])
    )
    thread.start()
    thread.join(10)
    assert seen and seen[0] >= 5000


def test_cancelling_a_queued_job_cancels_it_at_once(store):
    first, second = store.submit("train", TRAIN), store.submit("train", TRAIN)
    assert store.request_cancel(first) == CANCELLED
    job = store.get(first)
    assert job.state == CANCELLED and job.finished is not None
    assert "before it started" in job.message
    # The worker never runs it: the next claim skips straight to the second job.
    assert store.claim_next(1).id == second
    assert store.claim_next(1) is None


def test_cancelling_a_running_job_raises_the_flag_only(store):
    job_id = store.submit("train", TRAIN)
    store.claim_next(7)
    assert not store.cancel_requested(job_id)
    assert store.request_cancel(job_id) == RUNNING  # it stops at the next batch, not now
    job = store.get(job_id)
    assert job.state == RUNNING and job.cancel_requested and job.finished is None
    assert store.cancel_requested(job_id)


def test_cancelling_a_finished_or_missing_job_changes_nothing(store):
    job_id = store.submit("train", TRAIN)
    store.claim_next(7)
    store.finish(job_id, DONE, result={})
    assert store.request_cancel(job_id) == DONE
    assert not store.get(job_id).cancel_requested
    assert store.request_cancel(9999) is None


def test_queue_position_counts_only_queued_jobs_ahead(store):
    a, b, c = (store.submit("train", TRAIN) for _ in range(3))
    assert [store.queue_position(j) for j in (a, b, c)] == [1, 2, 3]
    store.claim_next(1)  # a starts running
    assert store.queue_position(a) is None
    assert [store.queue_position(j) for j in (b, c)] == [1, 2]
    store.request_cancel(b)
    assert store.queue_position(b) is None
    assert store.queue_position(c) == 1
    assert store.queue_position(12345) is None


def test_jobs_lists_newest_first_and_filters(store):
    a = store.submit("train", TRAIN)
    b = store.submit("lr_find", TRAIN)
    c = store.submit("train", TRAIN)
    store.claim_next(1)
    assert [j.id for j in store.jobs()] == [c, b, a]
    assert [j.id for j in store.jobs(kind="train")] == [c, a]
    assert [j.id for j in store.jobs(state=QUEUED)] == [c, b]
    assert [j.id for j in store.jobs(limit=1)] == [c]


def test_batch_records_come_back_as_a_frame(store):
    job_id = store.submit("train", TRAIN)
    other = store.submit("train", TRAIN)
    empty = store.batches(job_id)
    assert list(empty.columns) == ["step", "loss", "lr", "mom"] and empty.empty

    store.add_batches(job_id, [(1, 2.3, 1e-4, 0.95), (2, 2.1, 2e-4, 0.94)])
    store.add_batches(job_id, [(3, 1.9, 3e-4, None)])
    store.add_batches(job_id, [])
    store.add_batches(other, [(1, 9.9, 1.0, 0.9)])

    frame = store.batches(job_id)
    assert frame["step"].tolist() == [1, 2, 3]
    assert frame["loss"].tolist() == pytest.approx([2.3, 2.1, 1.9])
    assert frame["lr"].tolist() == pytest.approx([1e-4, 2e-4, 3e-4])
    assert frame["mom"].iloc[:2].tolist() == pytest.approx([0.95, 0.94])
    assert frame["mom"].isna().iloc[2]  # no momentum (e.g. plain SGD) stays missing
    assert store.batches(job_id, after_step=2)["step"].tolist() == [3]  # live charts poll this
    assert store.batches(other)["loss"].tolist() == [9.9]


def test_epoch_records_come_back_with_one_column_per_metric(store):
    job_id = store.submit("train", TRAIN)
    empty = store.epochs(job_id)
    assert empty.empty
    assert {"epoch", "train_loss", "valid_loss", "seconds"} <= set(empty.columns)

    store.add_epoch(job_id, 0, 1.5, 1.2, {"accuracy": 0.6}, 2.0, step=22, phase="frozen")
    store.add_epoch(job_id, 1, 0.7, 0.5, {"accuracy": 0.9}, 1.8, step=44, phase="unfrozen")
    frame = store.epochs(job_id)
    assert frame["epoch"].tolist() == [0, 1]
    assert frame["step"].tolist() == [22, 44]
    assert frame["phase"].tolist() == ["frozen", "unfrozen"]
    assert frame["accuracy"].tolist() == pytest.approx([0.6, 0.9])
    assert frame["valid_loss"].tolist() == pytest.approx([1.2, 0.5])
    assert frame["seconds"].tolist() == pytest.approx([2.0, 1.8])


def test_heartbeat_marks_worker_and_job_alive(store):
    job_id = store.submit("train", TRAIN)
    claimed = store.claim_next(55)
    time.sleep(0.01)
    store.heartbeat(job_id, 55)
    assert store.get(job_id).heartbeat > claimed.heartbeat
    (w,) = store.workers()
    assert (w["pid"], w["job_id"]) == (55, job_id)
    store.heartbeat(None, 55)  # idle again
    assert store.workers()[0]["job_id"] is None
    store.worker_gone(55)
    assert store.workers() == []


def test_fail_orphans_fails_running_jobs_and_says_the_worker_stopped(store):
    done = store.submit("train", TRAIN)
    running = store.submit("train", TRAIN)
    waiting = store.submit("train", TRAIN)
    store.claim_next(1)
    store.finish(done, DONE, result={})
    store.claim_next(4242)  # `running`, whose worker is then killed
    store.heartbeat(running, 4242)

    failed = store.fail_orphans("The worker running this job stopped before it finished")
    assert failed == [running]
    job = store.get(running)
    assert job.state == FAILED and job.finished is not None
    assert "worker running this job stopped" in job.error
    assert "4242" in job.error and "heartbeat" in job.error
    assert store.get(done).state == DONE
    assert store.get(waiting).state == QUEUED  # waiting jobs are left to run
    assert store.workers() == []  # the dead worker is forgotten
    assert store.fail_orphans("again") == []


def test_two_stores_on_one_file_in_two_threads_see_each_others_writes(tmp_path):
    path = tmp_path / "shared.sqlite"
    ui = Store(path)
    job_id = ui.submit("train", TRAIN)
    seen: dict = {}
    ready, go_on = threading.Event(), threading.Event()

    def worker_side():
        store = Store(path)
        job = store.claim_next(9)
        seen["claimed"] = job.id
        store.add_batches(job.id, [(1, 2.0, 1e-3, 0.9)])
        ready.set()
        go_on.wait(10)
        seen["cancel_seen"] = store.cancel_requested(job.id)
        store.finish(job.id, CANCELLED, result={"cancelled": True})
        store.close()

    thread = threading.Thread(target=worker_side)
    thread.start()
    try:
        assert ready.wait(10)
        assert seen["claimed"] == job_id
        assert ui.get(job_id).state == RUNNING  # the UI sees the worker's claim…
        assert ui.batches(job_id)["loss"].tolist() == [2.0]  # …and its records
        assert ui.request_cancel(job_id) == RUNNING
        go_on.set()
        thread.join(10)
        assert seen["cancel_seen"] is True  # the worker sees the UI's cancel
        assert ui.get(job_id).state == CANCELLED
    finally:
        go_on.set()
        thread.join(10)
        ui.close()


def test_concurrent_claims_never_hand_one_job_to_two_workers(tmp_path):
    path = tmp_path / "race.sqlite"
    Store(path).close()
    ids = [Store(path).submit("train", TRAIN) for _ in range(40)]
    claimed: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def claim_all(pid: int):
        store = Store(path)
        mine = claimed.setdefault(pid, [])
        try:
            while (job := store.claim_next(pid)) is not None:
                mine.append(job.id)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            store.close()

    threads = [threading.Thread(target=claim_all, args=(pid,)) for pid in (1, 2, 3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    every = [j for jobs in claimed.values() for j in jobs]
    assert sorted(every) == ids  # each job claimed exactly once
    check = Store(path)
    assert {j.worker_pid for j in check.jobs(limit=100)} <= {1, 2, 3, 4}
    assert all(j.state == RUNNING for j in check.jobs(limit=100))


def test_latest_is_the_newest_job_of_a_kind_whose_params_match(store):
    from core.jobs.store import ACTIVE

    old = store.submit("lr_find", {"config": {"dataset": "digits", "arch": "mnist_cnn"}})
    other = store.submit("lr_find", {"config": {"dataset": "digits", "arch": "simple_cnn"}})
    new = store.submit("lr_find", {"config": {"dataset": "digits", "arch": "mnist_cnn"}})
    cv = store.submit("crossval", {"config": {}, "k": 5, "source_run": 7})
    for _ in range(300):  # far more jobs than any page looked through before (50 to 200)
        store.submit("crossval", {"config": {}, "k": 5, "source_run": 8})
    assert store.latest("lr_find").id == new
    assert store.latest("lr_find", config={"arch": "mnist_cnn"}).id == new
    assert store.latest("lr_find", config={"dataset": "digits", "arch": "simple_cnn"}).id == other
    assert store.latest("lr_find", config={"arch": "resnet18"}) is None
    assert store.latest("crossval", source_run=7).id == cv
    assert store.latest("train") is None
    store.request_cancel(new)  # queued: cancelled at once
    assert store.latest("lr_find", states=ACTIVE, config={"arch": "mnist_cnn"}).id == old
    assert store.latest("lr_find", states=(CANCELLED,)).id == new
    with pytest.raises(ValueError, match="not a parameter name"):
        store.latest("train", config={"a') OR 1=1 --": 1})
