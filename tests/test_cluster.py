"""Jobs on a Dask cluster (core.jobs.cluster): a scheduler and two workers on 127.0.0.1 run the
jobs of several people, each exactly once; Stop reaches a run on a worker; a worker that dies
takes its job to FAILED with the reason; no job is left RUNNING."""

from __future__ import annotations

import time

import pytest

from core import workspace
from core.config import TrainConfig
from core.errors import UserError
from core.jobs import cluster
from core.jobs.store import ACTIVE, CANCELLED, DONE, FAILED, RUNNING, Job, Store
from tests.cluster_helpers import LocalCluster, ThreadDispatcher, flush_every_batch
from tests.conftest import run_worker_once
from tests.test_worker import wait_for

PEOPLE = ("ann", "ben", "cleo")
STEPS = 4


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A scheduler and two workers ("cpu", and "gpu" with the GPU resource) for the module."""
    pytest.importorskip("distributed")
    local = LocalCluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield local.start()
    finally:
        local.close()


@pytest.fixture(params=["sqlite", "postgres"])
def lab(request, dask_cluster, fresh_workspace, monkeypatch):
    """Both workers alive, a workspace and a store of this test's own (an SQLite file in the
    workspace, or a PostgreSQL database: PLAYGROUND_DB), PLAYGROUND_SCHEDULER set."""
    if request.param == "postgres":
        request.getfixturevalue("pg_database")
    dask_cluster.ensure_workers()
    monkeypatch.setenv(cluster.SCHEDULER_ENV, dask_cluster.address)
    store = Store(everyone=True)
    yield dask_cluster, store
    assert not [j.id for j in store.jobs(limit=100) if j.state in ACTIVE], "a job was left queued or running"
    store.close()


@pytest.fixture
def dispatcher(lab):
    """A dispatcher serving in a thread; stopped after the test."""
    started = []

    def start() -> ThreadDispatcher:
        started.append(ThreadDispatcher(lab[0].address))
        return started[-1]

    yield start
    for d in started:
        d.close()


def submit_as(store: Store, space: str, kind: str, params: dict) -> int:
    """Queue a job as the person whose space is `space`."""
    with workspace.use_space(space):
        return store.submit(kind, params)


def test_jobs_of_three_people_each_run_once_on_the_cluster(lab):
    local, store = lab
    jobs = {
        space: [submit_as(store, space, "wait", {"seconds": 0.4, "steps": STEPS}) for _ in range(2)]
        for space in PEOPLE
    }
    on_gpu = submit_as(store, "ann", "wait", {"seconds": 0.2, "steps": STEPS, "device": "cuda"})
    # `python -m core worker` with PLAYGROUND_SCHEDULER set is the dispatcher
    done = run_worker_once(timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert local.address in done.stdout

    every = [*(i for ids in jobs.values() for i in ids), on_gpu]
    for space, ids in [*jobs.items(), ("ann", [on_gpu])]:
        for job_id in ids:
            job = store.get(job_id)
            assert (job.state, job.owner) == (DONE, space), job.error
            assert job.attempts == 1  # started exactly once
            assert local.name_of(job.worker) in ("cpu", "gpu"), job.worker  # on a Dask worker
            assert job.result["steps"] == STEPS
            assert store.batches(job_id)["step"].tolist() == list(range(1, STEPS + 1))  # complete
    assert local.name_of(store.get(on_gpu).worker) == "gpu"  # it asked for the GPU resource
    ran_on = {local.name_of(store.get(i).worker) for i in every}
    assert ran_on == {"cpu", "gpu"}  # the scheduler spread them
    # never more jobs at once than the cluster has worker threads (two)
    spans = [(store.get(i).started, store.get(i).finished) for i in every]
    most = max(sum(s <= t < f for s, f in spans) for t, _ in spans)
    assert most <= 2


def test_stop_reaches_a_digits_run_on_a_worker_within_a_batch(lab, dispatcher):
    local, store = lab
    d = dispatcher()
    # Each worker writes every batch and looks for Stop after each (as test_worker does in-process).
    d.client.run(flush_every_batch)
    job_id = submit_as(store, "cleo", "train", {"config": TrainConfig(epochs=20).to_dict()})

    wait_for(
        lambda: len(store.epochs(job_id)) >= 1 or store.get(job_id).finished_state, 90, "the first epoch"
    )
    job = store.get(job_id)
    assert job.state == RUNNING, job.error
    assert local.name_of(job.worker) == "gpu"  # a run asks for the GPU
    wait_for(lambda: len(store.batches(job_id)) > store.epochs(job_id)["step"].max(), 30, "a second epoch")
    assert store.request_cancel(job_id) == RUNNING
    at_stop = len(store.batches(job_id))
    wait_for(lambda: store.get(job_id).state == CANCELLED, 30, "the run to stop")

    job = store.get(job_id)
    assert job.result["cancelled"] is True and job.attempts == 1
    batches = store.batches(job_id)
    assert len(batches) - at_stop <= 2, "the run went on after Stop"
    assert batches["step"].tolist() == list(range(1, len(batches) + 1))
    epochs = store.epochs(job_id)
    assert 1 <= len(epochs) < 20 and epochs["epoch"].tolist() == list(range(len(epochs)))
    assert epochs[["train_loss", "valid_loss", "accuracy"]].notna().all().all()
    # its files are in its owner's space on the shared workspace ...
    with workspace.use_space("cleo") as cleo:
        assert workspace.inside(cleo.path("runs", str(job_id)), cleo.root)
        assert (cleo.root / "runs" / str(job_id)).is_dir()
        # ... and the decoded images in the worker's own cache, not in the workspace
        assert list((local.cache_dir("gpu") / "spaces" / "cleo").glob("*.npy"))
        assert not list((cleo.root / "cache").glob("*.npy"))


def test_stop_cancels_a_job_still_waiting_inside_dask(lab, dispatcher):
    local, store = lab
    d = dispatcher()
    # someone else's task holds the only GPU: the job's task waits in Dask behind it
    blocker = d.client.submit(time.sleep, 4, resources={cluster.GPU: 1}, pure=False)
    wait_for(lambda: d.client.processing().get(_addr(d, "gpu")), 20, "the blocker to run")
    job_id = submit_as(store, "ben", "wait", {"seconds": 0.2, "steps": 2, "device": "cuda"})
    wait_for(lambda: store.get(job_id).state == RUNNING, 20, "the job to be handed to Dask")
    asked = time.monotonic()
    store.request_cancel(job_id)
    wait_for(lambda: store.get(job_id).state == CANCELLED, 10, "the waiting job to be cancelled")
    assert time.monotonic() - asked < 3
    blocker.result(timeout=20)
    time.sleep(1.0)  # had its task not been cancelled, it would start now
    job = store.get(job_id)
    assert job.state == CANCELLED and job.attempts == 0 and store.batches(job_id).empty


def _addr(d: ThreadDispatcher, name: str) -> str | None:
    """The address of the Dask worker called name."""
    info = d.client.scheduler_info(n_workers=-1)["workers"]
    return next((a for a, w in info.items() if w.get("name") == name), None)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_a_killed_worker_fails_its_job_with_the_reason_and_the_rest_run(lab, dispatcher, device):
    # cpu: the scheduler may start the task again on the other worker (which refuses to run it);
    # cuda: no other worker has a GPU, only the dispatcher can tell the job is lost
    local, store = lab
    dispatcher()
    doomed = submit_as(store, "ann", "wait", {"seconds": 60, "steps": 120, "device": device})
    wait_for(lambda: len(store.batches(doomed)) >= 2, 30, "the job to run on a worker")
    victim = local.name_of(store.get(doomed).worker)
    assert victim in (("cpu", "gpu") if device == "cpu" else ("gpu",))
    local.kill(victim)

    wait_for(lambda: store.get(doomed).state != RUNNING, 20, "the dead worker's job to end")
    job = store.get(doomed)
    assert job.state == FAILED
    assert "died" in job.error or "stopped answering" in job.error  # why
    assert "not run a second time" in job.error
    assert job.attempts <= 2 and not store.batches(doomed).empty  # what it recorded is kept
    steps = store.batches(doomed)["step"].tolist()
    assert steps == list(range(1, len(steps) + 1))  # never a second run's records on top

    after = submit_as(store, "ben", "wait", {"seconds": 0.2, "steps": 2, "device": "cpu"})
    wait_for(lambda: store.get(after).finished_state, 30, "a job on the surviving worker")
    survivor = store.get(after)
    assert survivor.state == DONE and local.name_of(survivor.worker) == ({"cpu", "gpu"} - {victim}).pop()


def test_which_jobs_ask_for_a_gpu():
    def job(kind: str, **params):
        return Job(1, kind, params, "QUEUED", 0.0, None, None, None, None, False, 0.0, None, None, None)

    train = job("train", config={"epochs": 1})
    assert cluster.wants_gpu(train, cluster_gpus=2)  # auto: where the cluster has GPUs
    assert not cluster.wants_gpu(train, cluster_gpus=0)
    assert not cluster.wants_gpu(job("train", config={"device": "cpu"}), cluster_gpus=2)
    assert cluster.wants_gpu(job("wait", device="cuda:0"), cluster_gpus=0)  # asked: it waits for one
    assert not cluster.wants_gpu(job("wait"), cluster_gpus=2)  # waiting needs no GPU
    assert not cluster.wants_gpu(job("download"), cluster_gpus=2)


def test_an_unreachable_scheduler_is_a_sentence():
    with pytest.raises(UserError, match="Cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        cluster.connect("tcp://127.0.0.1:9", timeout=1)


def test_each_machine_keeps_decoded_images_on_its_own_disk(fresh_workspace, tmp_path, monkeypatch):
    from core.data import tensor_cache

    assert tensor_cache.cache_dir() == fresh_workspace / "cache"  # unset: in the workspace, as before
    assert cluster.CACHE_ENV == tensor_cache.ENV_DIR  # what a cluster task sets
    monkeypatch.setenv(tensor_cache.ENV_DIR, str(tmp_path / "local"))
    with workspace.use_space("ann"):
        assert tensor_cache.cache_path("k") == tmp_path / "local" / "spaces" / "ann" / "k.npy"
    assert tensor_cache.cache_dir() == tmp_path / "local"
    (tmp_path / "file").write_text("")
    monkeypatch.setenv(tensor_cache.ENV_DIR, str(tmp_path / "file"))
    with pytest.raises(UserError, match="PLAYGROUND_CACHE_DIR"):
        tensor_cache.cache_dir()
