"""Helpers for the multi-label and segmentation bundle and Predict tests: one tiny run of each per session.

Each is trained for two epochs on a small generated dataset in a workspace of its own (a few
seconds on one core), saved as a model bundle and zipped, as Save model and Download bundle do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from core import workspace
from core.jobs.store import DONE, Job, Store

SIZE = 24
MULTI, SEG = "shapes_multi_small", "shapes_seg_small"  # the models' names (and their datasets')
THRESHOLD = 0.4  # the multi-label run's own threshold, so a test sees it is the run's, not 0.5


@dataclass
class TaskRun:
    """A finished training run of a task in a workspace of its own, and its exported bundle."""

    task: str
    root: Path
    job: Job
    name: str
    zip: bytes
    images: list[Path]  # a few images of its dataset

    @property
    def run_dir(self) -> Path:
        """workspace/runs/<job id>/ with model.safetensors and run.json."""
        return Path(self.job.result["weights"]).parent

    def rel(self, image: Path) -> str:
        """An image's path relative to its dataset (as runs and interpretations name it)."""
        return image.relative_to(self.root / "datasets" / self.name).as_posix()


_RUNS: dict[str, TaskRun] = {}


def trained_task(tmp_path_factory, task: str) -> TaskRun:
    """Train task (multi_label or segmentation) on a small generated dataset once per session."""
    if task in _RUNS:
        return _RUNS[task]
    import torch

    from core import tasks
    from core.data.shapes_multi import generate_shapes_multi
    from core.data.shapes_seg import generate_shapes_seg
    from core.serving import export, library
    from core.train.training import train

    name = MULTI if task == "multi_label" else SEG
    root = tmp_path_factory.mktemp(f"trained_{task}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(workspace.ENV_VAR, str(root))
            if task == "multi_label":
                generate_shapes_multi(name, n=80, size=SIZE)
                # mnist_cnn: a plain linear output, and a bundle predict.py rebuilds without the project
                cfg = tasks.default_config(
                    task, dataset=name, arch="mnist_cnn", epochs=3, size=SIZE, bs=16, lr=3e-3
                )
                cfg = cfg.replace(options={"threshold": THRESHOLD})
            else:
                generate_shapes_seg(name, n=40, size=SIZE)
                cfg = tasks.default_config(task, dataset=name, epochs=2, size=SIZE, bs=8)
            store = Store(root / "runs.sqlite")
            job_id = store.submit("train", {"config": cfg.to_dict()})
            store.claim_next(pid=os.getpid())
            result = train(cfg, store, job_id)
            store.finish(job_id, DONE, result=result)
            job = store.get(job_id)
            store.close()
            export.save_run(job, name)
            data = library.zip_bytes(name)
    finally:
        torch.set_num_threads(threads)
    images = sorted((root / "datasets" / name / "images").iterdir())[:6]
    _RUNS[task] = TaskRun(task, root, job, name, data, images)
    return _RUNS[task]
