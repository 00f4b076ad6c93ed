"""One suite for the job store on both backends, SQLite (a file) and PostgreSQL (a server that
tests/pg.py starts on 127.0.0.1): the same behaviour, job by job, person by person, process by
process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import people, workspace
from core.errors import UserError
from core.jobs import worker
from core.jobs.recovery import ORPHAN_REASON
from core.jobs.store import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Store
from tests.conftest import kill_and_reap, subprocess_env
from tests.test_worker import wait_for

ROOT = Path(__file__).resolve().parents[1]
TRAIN = {"config": {"dataset": "digits", "arch": "mnist_cnn", "lr": 0.01, "bs": 32, "epochs": 2}}


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, fresh_workspace) -> str:
    """The store's backend for this test; Store() (and every child process) opens it."""
    if request.param == "postgres":
        request.getfixturevalue("pg_database")
    return request.param


@pytest.fixture
def store(backend):
    s = Store()
    assert s.shared == (backend == "postgres")
    yield s
    s.close()


@pytest.fixture
def classroom(tmp_path, monkeypatch):
    """A class file with one teacher and a fair share of 2; returns alice, bob and the teacher."""
    path = tmp_path / "class.toml"
    path.write_text('shared = true\nteachers = ["teacher@school.org"]\nmax_jobs = 2\n')
    monkeypatch.setenv(people.CONFIG_ENV, str(path))
    return (
        people.person_for("alice@school.org"),
        people.person_for("bob@school.org"),
        people.person_for("teacher@school.org"),
    )


def test_a_job_lives_its_life_and_its_records_are_complete(store):
    first, second = store.submit("train", TRAIN), store.submit("lr_find", TRAIN)
    assert [store.queue_position(j) for j in (first, second)] == [1, 2]
    job = store.claim_next("box:41", lane="compute")
    assert (job.id, job.state, job.worker, job.worker_pid, job.owner) == (first, RUNNING, "box:41", 41, "")
    assert store.start_attempt(first, "box:41") == 1
    store.heartbeat(first, "box:41")
    assert [(w["id"], w["pid"], w["job_id"]) for w in store.workers()] == [("box:41", 41, first)]
    for epoch in range(2):
        store.add_batches(first, [(epoch * 3 + s, 2.0 - s / 10, 1e-3, 0.9) for s in (1, 2, 3)])
        store.add_epoch(
            first, epoch, 1.0, 0.5 - epoch / 10, {"accuracy": 0.8 + epoch / 10}, 1.5, step=3 * epoch + 3
        )
    store.add_batches(first, [(6, 1.7, 1e-3, None)])  # a batch written again replaces the old one
    store.set_progress(first, 0.5, "epoch 2 of 2")
    assert store.request_cancel(second) == CANCELLED  # queued: cancelled at once, never claimed
    store.finish(first, DONE, result={"accuracy": 0.9, "valid_loss": 0.4, "seconds": 3.0, "epochs_done": 2})
    assert store.claim_next("box:41") is None

    done = store.get(first)
    assert (done.state, done.progress, done.result["accuracy"], done.attempts) == (DONE, 1.0, 0.9, 1)
    batches = store.batches(first)
    assert batches["step"].tolist() == [1, 2, 3, 4, 5, 6] and batches["loss"].iloc[-1] == pytest.approx(1.7)
    assert batches["mom"].isna().tolist() == [False] * 5 + [True]
    assert store.batches(first, after_step=4)["step"].tolist() == [5, 6]
    epochs = store.epochs(first)
    assert epochs["epoch"].tolist() == [0, 1] and epochs["accuracy"].tolist() == pytest.approx([0.8, 0.9])
    assert store.latest("train", config={"dataset": "digits", "arch": "mnist_cnn"}).id == first
    assert store.latest("train", config={"arch": "resnet18"}) is None
    assert store.latest("lr_find", states=(CANCELLED,), config={"task": None}).id == second

    from core.analysis import history

    (row,) = history.records(history.runs_frame(store, dataset="digits", text="MNIST"))
    assert (row["id"], row["arch"], row["bs"], row["lr"], row["metric"], row["state"]) == (
        first,
        "mnist_cnn",
        32,
        0.01,
        0.9,
        DONE,
    )
    running = store.submit("train", TRAIN)
    store.claim_next("box:41")
    store.request_cancel(running)
    assert store.cancel_requested(running) and store.get(running).state == RUNNING


def test_people_see_and_change_only_their_own_jobs(store, classroom):
    alice, bob, teacher = classroom
    with people.acting_as(bob):
        bobs = store.submit("train", TRAIN)
        store.add_batches(bobs, [(1, 2.0, 1e-3, 0.9)])
    with people.acting_as(alice):
        mine = store.submit("train", TRAIN)
        assert store.get(mine).owner == alice.space
        assert store.get(bobs) is None  # a crafted id of bob's job: no such job
        assert [j.id for j in store.jobs()] == [mine] and [j.id for j in store.active()] == [mine]
        assert store.request_cancel(bobs) is None
        assert store.batches(bobs).empty and store.epochs(bobs).empty
        store.add_batches(bobs, [(2, 0.0, 0.0, None)])  # refused quietly: not her job
        from core.analysis import history

        with pytest.raises(UserError, match=f"There is no training run {bobs}"):
            history.rename(store, bobs, "mine now")
        assert history.runs_frame(store)["id"].tolist() == [mine]
        with pytest.raises(UserError, match="Only a teacher"):
            store.everyone()
    with people.acting_as(teacher):
        everyone = store.everyone()
        assert {j.id for j in everyone.jobs()} == {bobs, mine}
        assert everyone.request_cancel(bobs) == CANCELLED  # a teacher stops anyone's job
        assert set(history.runs_frame(everyone)["id"]) == {bobs, mine}
    with people.acting_as(bob):
        job = store.get(bobs)
        assert job.state == CANCELLED and job.name is None
        assert store.batches(bobs)["step"].tolist() == [1]


def test_the_fair_share_refuses_a_third_job_and_claims_favour_the_idle(store, classroom):
    alice, bob, _ = classroom
    with people.acting_as(alice):
        a1, a2 = store.submit("train", TRAIN), store.submit("train", TRAIN)
        with pytest.raises(UserError, match=r"2 jobs queued or running.*\(2\)"):
            store.submit("train", TRAIN)
        assert store.room() == 0
    with people.acting_as(bob):
        b1 = store.submit("train", TRAIN)
        assert store.room() == 1
    workers = Store(everyone=True)
    assert workers.claim_next("w:1").id == a1  # nobody runs anything: the oldest
    assert workers.claim_next("w:2").id == b1  # alice runs one, bob none: bob's, though younger
    assert workers.claim_next("w:3").id == a2
    workers.finish(a1, DONE, result={})
    with people.acting_as(alice):
        assert store.submit("train", TRAIN) > b1  # room again once one finished


CLAIMER = """
import json, sys
from core.jobs.store import Store
store = Store(everyone=True)
mine = []
while (job := store.claim_next(sys.argv[1])) is not None:
    mine.append(job.id)
print(json.dumps(mine))
"""


def test_worker_processes_racing_never_share_a_job_and_lose_none(store):
    ids = [store.submit("wait", {"seconds": 0}) for _ in range(40)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, f"racer:{n}"],
            cwd=ROOT,
            env=subprocess_env(),
            stdout=subprocess.PIPE,
        )
        for n in range(4)
    ]
    claimed = {n: json.loads(p.communicate(timeout=60)[0]) for n, p in enumerate(procs)}
    assert all(p.returncode == 0 for p in procs)
    every = sorted(j for jobs in claimed.values() for j in jobs)
    assert every == ids  # each job claimed exactly once, none lost
    for n, jobs in claimed.items():
        assert {store.get(j).worker for j in jobs} <= {f"racer:{n}"}
    assert {j.state for j in store.jobs(limit=100)} == {RUNNING}


# `python -m core worker --slot 1`, without the fastai warm-up (a "wait" job needs none of it).
SLOT_WORKER = """
from core import cli
from core.jobs import worker
worker.warm_up = lambda: None
raise SystemExit(cli.main(["worker", "--slot", "1"]))
"""


def test_a_killed_workers_job_is_failed_by_stale_detection(store, tmp_path, monkeypatch):
    job_id = store.submit("wait", {"seconds": 120, "steps": 240})
    with open(tmp_path / "worker.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", SLOT_WORKER],
            cwd=ROOT,
            env=subprocess_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: len(store.batches(job_id)) >= 2, 30, "the slot-1 worker to run the job")
        running = store.get(job_id)
        assert running.worker.endswith(f":{proc.pid}") and worker.worker_alive(slot=1)
        assert worker.lock_holder(slot=1) == proc.pid and not worker.worker_alive(slot=0)
        time.sleep(1.5)  # longer than `after_s` below, yet the job is alive and beating
        assert store.fail_stale(ORPHAN_REASON, after_s=1.0) == []
        kill_and_reap(proc)
    finally:
        kill_and_reap(proc)
    assert store.get(job_id).state == RUNNING  # nobody has noticed yet
    wait_for(lambda: time.time() - store.get(job_id).heartbeat > 1.0, 10, "the heartbeat to age")
    assert store.fail_stale(ORPHAN_REASON, after_s=1.0) == [job_id]
    failed = store.get(job_id)
    assert failed.state == FAILED and failed.finished is not None
    assert "stopped before it finished" in failed.error and running.worker in failed.error
    assert len(store.batches(job_id)) >= 2  # what it recorded before dying is kept
    assert store.fail_stale(ORPHAN_REASON, after_s=1.0) == []


HOLDER = """
import sys, time
from core import workspace
from core.jobs.store import Store
Store()  # a shared store makes every space lock an advisory lock
with workspace.space().lock("digits"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_space_lock_held_by_another_process_is_busy(store):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER], cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        assert bool(workspace.LOCK_BACKEND) == store.shared  # advisory locks exactly when shared
        with pytest.raises(workspace.Busy, match="someone is cleaning it"):
            with workspace.space().lock("digits", wait=0.3, busy_message="someone is cleaning it"):
                pass
        with workspace.space().lock("other"):  # another name is free
            pass
    finally:
        proc.kill()
        proc.wait(10)
    with workspace.space().lock("digits", wait=10):  # the holder died: the lock is free again
        pass


def test_a_sweep_keeps_its_study_in_the_store_and_waits_for_the_fair_share(store, classroom):
    from core.config import TrainConfig
    from core.jobs import sweeps

    alice, _, _ = classroom
    with people.acting_as(alice):
        blockers = [store.submit("train", TRAIN) for _ in range(2)]
        spec = sweeps.SweepSpec(TrainConfig(epochs=1), lr=(1e-3, 1e-2), sampler="random", budget=2)
        sweep_id = sweeps.create(store, spec, name="lr")
        assert sweeps.status(store, sweep_id).members == []  # at her limit: the sweep waits
        store.request_cancel(blockers[0])
        sweeps.tick(store)
        (member,) = sweeps.status(store, sweep_id).members
        assert (member.owner, member.sweep_id, member.state) == (alice.space, sweep_id, QUEUED)
    workers = Store(everyone=True)
    assert workers.claim_next("w:1").id == blockers[1]
    assert workers.claim_next("w:1").id == member.id
    workers.finish(member.id, DONE, result={"accuracy": 0.75})
    workers.finish(blockers[1], DONE, result={})
    sweeps.tick(workers)  # the worker's coordinator: tells Optuna, queues the next for alice
    with people.acting_as(alice):
        st = sweeps.status(store, sweep_id)
        assert st.best_run == member.id and len(st.members) == 2 and st.members[1].owner == alice.space
        study = sweeps._study(store, store.read("SELECT study FROM sweeps")[0]["study"])
    assert [t.value for t in study.trials if t.value is not None] == [0.75]  # the study lives in the store
