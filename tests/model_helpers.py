"""Helpers for the model bundle and Predict tests: one tiny trained model per test session."""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from core import workspace
from core.config import TrainConfig
from core.jobs.store import DONE, Job, Store

CFG = TrainConfig(epochs=5, size=8)  # ~1 s on one core; about 96% on Digits' validation set
MODEL = "digits_small"


@dataclass
class Trained:
    """A finished training run in a workspace of its own, and its exported bundle."""

    root: Path  # the workspace it was trained and saved in
    job: Job
    zip: bytes  # the bundle as Download bundle gives it
    valid_files: list[Path]  # a few validation images of Digits, with their labels below
    valid_labels: list[str]

    @property
    def run_dir(self) -> Path:
        """workspace/runs/<job id>/ with model.safetensors and run.json."""
        return Path(self.job.result["weights"]).parent


_TRAINED: Trained | None = None


def trained_model(tmp_path_factory) -> Trained:
    """Train mnist_cnn on Digits at 8 px once per test session, save it and zip it."""
    global _TRAINED
    if _TRAINED is not None:
        return _TRAINED
    import torch

    from core.serving import export, library
    from core.train.training import train

    root = tmp_path_factory.mktemp("trained")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(workspace.ENV_VAR, str(root))
            store = Store(root / "runs.sqlite")
            job_id = store.submit("train", {"config": CFG.to_dict()})
            store.claim_next(pid=os.getpid())
            result = train(CFG, store, job_id)
            store.finish(job_id, DONE, result=result)
            job = store.get(job_id)
            store.close()
            export.save_run(job, MODEL)
            data = library.zip_bytes(MODEL)
    finally:
        torch.set_num_threads(threads)
    valid = root / "datasets" / "digits" / "valid"
    files, labels = [], []
    for digit in "0123456789":
        first = sorted((valid / digit).iterdir())[:2]
        files += first
        labels += [digit] * len(first)
    _TRAINED = Trained(root, job, data, files, labels)
    return _TRAINED


def seed_finished_run(trained: Trained) -> int:
    """Copy the trained run into the current workspace as a finished job; returns its id."""
    store = Store()
    job_id = store.submit("train", {"config": CFG.to_dict()})
    store.claim_next(pid=os.getpid())
    target = workspace.subdir("runs") / str(job_id)
    shutil.copytree(trained.run_dir, target)
    result = dict(trained.job.result, run_id=job_id, weights=str(target / "model.safetensors"))
    store.finish(job_id, DONE, result=result)
    store.close()
    return job_id


def entries(data: bytes) -> dict[str, bytes]:
    """A zip's files by name."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}


def make_zip(files: dict[str, bytes]) -> bytes:
    """A zip holding exactly these entries (deflated, as common zip tools write them)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def altered(data: bytes, config=None, weights=None, rehash: bool = True) -> bytes:
    """The bundle with its config edited (a function of the dict) and/or its weights replaced.

    With rehash, config.json's SHA-256 and size follow the new weights, so that the check under
    test is the one that fires rather than the checksum.
    """
    import hashlib

    files = entries(data)
    cfg_name = next(n for n in files if n.endswith("config.json"))
    w_name = next(n for n in files if n.endswith("model.safetensors"))
    cfg = json.loads(files[cfg_name])
    if weights is not None:
        files[w_name] = weights(files[w_name]) if callable(weights) else weights
        if rehash:
            cfg["weights"]["sha256"] = hashlib.sha256(files[w_name]).hexdigest()
            cfg["weights"]["bytes"] = len(files[w_name])
    if config is not None:
        config(cfg)
    files[cfg_name] = json.dumps(cfg).encode()
    return make_zip(files)


def tree(folder: Path) -> set[str]:
    """Every path under folder, relative (to compare before and after)."""
    if not folder.exists():
        return set()
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}
