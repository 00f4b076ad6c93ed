"""Continue training: weights and optimizer state restored, epochs and steps counting on, resume
after a dead worker, per-epoch checkpoints (never a pickle), and bad input refused."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import runs, workspace
from core.config import TrainConfig
from core.errors import UserError
from core.jobs.store import DONE, FAILED, RUNNING, Store
from tests.conftest import subprocess_env

ROOT = Path(__file__).resolve().parents[1]
# 20 % flipped labels keep the training loss on a plateau (~1.0) well above 0, so "within 20 %
# of the parent's" separates a continued run from one that started again (~1.9 in its first epoch).
PARENT = TrainConfig(dataset="digits_flip20", size=8, bs=16, epochs=4)


def run_queued(store: Store) -> int:
    """Run the oldest queued job in this process as the worker would; returns its id."""
    from core.jobs.worker import run_job

    job = store.claim_next(pid=1)
    assert run_job(store, job) == DONE, store.get(job.id).error
    return job.id


def train_parent(store: Store, cfg: TrainConfig = PARENT) -> int:
    store.submit("train", {"config": cfg.to_dict()})
    return run_queued(store)


@pytest.fixture(scope="module")
def parent_ws(tmp_path_factory, one_thread):
    """A workspace with one finished run (PARENT), trained once for the module."""
    root = tmp_path_factory.mktemp("continue")
    mp = pytest.MonkeyPatch()
    mp.setenv(workspace.ENV_VAR, str(root))
    store = Store()
    parent = train_parent(store)
    yield root, store, parent
    store.close()
    mp.undo()


def test_a_continued_run_starts_from_its_parents_weights_and_optimizer_state(parent_ws, monkeypatch):
    from safetensors.torch import load_file

    from core.train import checkpoint, continuing, training

    _root, store, parent = parent_ws
    captured = {}
    real_fit = training.fit

    def fit_capturing(learn, cfg, *args, **kwargs):  # the optimizer state as the child's fit begins
        opt = learn.opt.opt
        captured["state"] = {
            i: {k: v.clone() for k, v in opt.state[p].items()}
            for i, p in enumerate(p for g in opt.param_groups for p in g["params"])
        }
        return real_fit(learn, cfg, *args, **kwargs)

    monkeypatch.setattr(training, "fit", fit_capturing)
    child = continuing.submit_continue(store, parent, epochs=2, lr=1e-3)
    assert store.get(child).parent == parent
    assert run_queued(store) == child

    before, after = store.epochs(parent), store.epochs(child)
    # Not back at the untrained level: the first epoch goes on from the parent's last.
    last, first = before["train_loss"].iloc[-1], after["train_loss"].iloc[0]
    assert before["train_loss"].iloc[0] > 1.2 * last  # a fresh start would fail the next line
    assert abs(first - last) <= 0.2 * last, (first, last)

    # Epochs and batch steps count on from the parent's.
    assert before["epoch"].tolist() == [0, 1, 2, 3]
    assert after["epoch"].tolist() == [4, 5]
    steps = store.batches(child)["step"]
    assert steps.iloc[0] == before["step"].iloc[-1] + 1
    assert after["step"].iloc[-1] == steps.iloc[-1] == before["step"].iloc[-1] + len(steps)
    result = store.get(child).result
    assert result["parent"] == parent and result["first_epoch"] == 4 and result["epochs_done"] == 2

    # The optimizer state: its moments and step counts equal the parent's saved ones.
    meta = checkpoint.read_meta(parent)
    saved = load_file(str(runs.run_dir(parent) / meta["tensors"]))
    moments = [k for k in saved if k.startswith("opt.")]
    assert moments and len(captured["state"]) * 3 == len(moments)
    for key in moments:
        _, idx, name = key.split(".")
        restored = captured["state"][int(idx)][name]
        assert restored.equal(saved[key]), key
    assert float(captured["state"][0]["step"]) == before["step"].iloc[-1]
    assert any(captured["state"][i]["exp_avg"].abs().sum() > 0 for i in captured["state"])

    # The child's own checkpoint counts on too.
    child_meta = checkpoint.read_meta(child)
    assert child_meta["epoch"] == 6 and child_meta["step"] == after["step"].iloc[-1]
    assert child_meta["run_epochs"] == 2


def test_each_run_keeps_one_checkpoint_as_safetensors_and_json_never_a_pickle(parent_ws):
    from safetensors.torch import load_file

    from core.train import checkpoint

    root, _store, parent = parent_ws
    folder = runs.run_dir(parent)
    meta = json.loads((folder / runs.CHECKPOINT).read_text())
    assert meta["epoch"] == 4 and meta["run_epochs"] == 4 and meta["phase"] == "train"
    assert (
        sorted(p.name for p in folder.glob("checkpoint-*"))
        == [meta["tensors"]]
        == ["checkpoint-4.safetensors"]
    )
    saved = load_file(str(folder / meta["tensors"]))
    weights = load_file(str(runs.weights_path(parent)))  # without keep-best: the last epoch's
    assert set(weights) == {k[len("model.") :] for k in saved if k.startswith("model.")}
    assert all(saved["model." + k].equal(v) for k, v in weights.items())
    assert not [p for p in root.rglob("*") if p.suffix in (".pth", ".pkl", ".pt")]
    assert checkpoint.read_meta(12345) is None


def test_a_run_whose_worker_died_resumes_from_its_last_checkpoint(fresh_workspace, one_thread, monkeypatch):
    from core.train import continuing
    from core.train.callbacks import StreamToStore
    from core.train.training import train

    cfg = TrainConfig(dataset="digits", size=8, epochs=3)
    store = Store()
    died = store.submit("train", {"config": cfg.to_dict()})
    store.claim_next(pid=1)
    real = StreamToStore.before_epoch

    def killed_in_epoch_2(self):
        if self.epochs_done == 2:
            raise SystemExit("the worker was killed")  # nothing after this runs, as with SIGKILL
        real(self)

    monkeypatch.setattr(StreamToStore, "before_epoch", killed_in_epoch_2)
    with pytest.raises(SystemExit):
        train(cfg, store, died)
    monkeypatch.setattr(StreamToStore, "before_epoch", real)
    assert store.get(died).state == RUNNING and not runs.has_weights(died)

    child = continuing.submit_continue(store, died)  # no worker alive: the run is an orphan
    assert store.get(died).state == FAILED
    job = store.get(child)
    assert job.params["config"]["epochs"] == 1 and job.params["continue"]["epoch"] == 2
    run_queued(store)
    assert store.epochs(child)["epoch"].tolist() == [2]
    assert store.epochs(died)["epoch"].tolist() == [0, 1]
    assert runs.has_weights(child)


def test_bad_continuations_are_refused_with_a_sentence_and_queue_nothing(parent_ws):
    from core.jobs import worker
    from core.train import continuing

    _root, store, parent = parent_ws
    never = store.submit("train", {"config": PARENT.to_dict()})
    store.claim_next(pid=1)
    store.finish(never, FAILED, error="broke before its first epoch")
    finder = store.submit("lr_find", {"config": PARENT.to_dict()})
    store.claim_next(pid=1)
    store.finish(finder, DONE, result={})
    gone = store.submit("train", {"config": PARENT.to_dict()})
    store.claim_next(pid=1)
    store.finish(gone, DONE, result={})
    with store.transaction() as con:
        con.execute("UPDATE jobs SET deleted = ? WHERE id = ?", (time.time(), gone))
    running = store.submit("train", {"config": PARENT.to_dict()})
    store.claim_next(pid=1)
    queued = store.submit("train", {"config": PARENT.to_dict()})
    count = len(store.jobs(limit=1000))
    cases = [
        (999, {}, "There is no run 999"),
        ("abc", {}, "not a run id"),
        (gone, {}, "in the trash"),
        (never, {}, "never finished an epoch"),
        (finder, {}, "only training runs can be continued"),
        (queued, {}, "still queued"),
        (parent, {}, "finished all its epochs"),
        (parent, {"epochs": 0}, "at least 1 epoch"),
        (parent, {"epochs": 2, "lr": -1.0}, "learning rate must be greater than 0"),
        (parent, {"epochs": 2, "schedule": "zigzag"}, "Unknown schedule"),
    ]
    handle = worker.acquire_lock()  # a live worker: the running job really is running
    try:
        cases.append((running, {}, "still running"))
        for run_id, kwargs, words in cases:
            with pytest.raises(UserError, match=words):
                continuing.submit_continue(store, run_id, **kwargs)
    finally:
        worker.release_lock(handle)
    assert len(store.jobs(limit=1000)) == count
    assert store.get(queued).state == "QUEUED" and store.get(running).state == RUNNING
    store.finish(running, FAILED, error="test")
    store.request_cancel(queued)


def test_the_cli_continues_a_run_and_refuses_an_unknown_one(parent_ws, capsys):
    from core import cli

    _root, store, parent = parent_ws
    count = len(store.jobs(limit=1000))
    assert cli.main(["train", "--continue", "999", "--epochs", "1"]) == 2
    assert "There is no run 999" in capsys.readouterr().err
    assert len(store.jobs(limit=1000)) == count

    out = subprocess.run(
        [sys.executable, "-m", "core", "train", "--continue", str(parent), "--epochs", "1", "--lr", "1e-3"],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[1].split()[0] == "4"  # the epoch after the parent's last
    summary = json.loads(lines[-1])
    assert summary["state"] == DONE and summary["parent"] == parent and summary["epochs_done"] == 1
    assert store.get(summary["run_id"]).parent == parent
