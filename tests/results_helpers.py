"""Shared by the Results tests: one small run trained once per module, copied into each test."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from pathlib import Path

import pytest

from core import workspace
from core.config import TrainConfig
from core.jobs.store import DONE, Store

CFG = TrainConfig(dataset="digits_flip10", epochs=1)  # one epoch: a couple of seconds on a CPU


def train_run(cfg: TrainConfig = CFG, **params) -> int:
    """Train cfg in this process as the worker would and record it DONE; returns the job id."""
    from core.train.training import train

    store = Store()
    job_id = store.submit("train", {"config": cfg.to_dict(), **params})
    store.claim_next(pid=1)
    result = train(cfg, store, job_id)
    store.finish(job_id, DONE, result=result)
    return job_id


@pytest.fixture(scope="module")
def trained_template(tmp_path_factory):
    """A workspace with digits_flip10 and one finished run (job 1), trained once per session.

    The first module that asks trains it; later modules find it in the session's temp folder.
    """
    import json

    import torch

    root = tmp_path_factory.getbasetemp() / "results_template"
    done = root / "result.json"
    if done.exists():
        return root, json.loads(done.read_text())
    root.mkdir(exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(workspace.ENV_VAR, str(root))
            job_id = train_run()
            result = Store().get(job_id).result
    finally:
        torch.set_num_threads(threads)
    assert job_id == 1
    done.write_text(json.dumps(result))
    return root, result


@pytest.fixture
def results_ws(trained_template, tmp_path, monkeypatch) -> Path:
    """A workspace of this test's own holding the template's data and its finished run 1."""
    template, result = trained_template
    root = tmp_path / "ws"
    root.mkdir()
    for name in ("runs", "cache", f"datasets/{CFG.dataset}"):
        shutil.copytree(template / name, root / name, symlinks=True)
    (root / "datasets" / "digits").symlink_to(template / "datasets" / "digits")  # read only
    monkeypatch.setenv(workspace.ENV_VAR, str(root))
    store = Store()
    job_id = store.submit("train", {"config": CFG.to_dict()})
    store.claim_next(pid=1)
    store.finish(job_id, DONE, result=result)
    return root


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under folder, by relative path, with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def contents(*folders: Path) -> Counter:
    """The multiset of file contents (SHA-256) across folders."""
    return Counter(
        hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in folders
        if folder.exists()
        for p in folder.rglob("*")
        if p.is_file()
    )


@pytest.fixture
def template_ws(trained_template, monkeypatch) -> Path:
    """The shared template workspace itself, for tests that only read (no copy: quicker)."""
    root, _ = trained_template
    monkeypatch.setenv(workspace.ENV_VAR, str(root))
    return root
