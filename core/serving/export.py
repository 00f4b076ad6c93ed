"""Export: a finished run, or weights you already have, written as a model bundle.

A run is read through core.runs only (its run.json and weights); what config.json stores
beyond the weights comes from the run's task (its bundle_fields), so export and rebuild agree.
"""

from __future__ import annotations

import io
import json
import zipfile

from core import fsutil, runs
from core.config import TrainConfig
from core.errors import UserError
from core.serving.format import CONFIG, SCRIPT, WEIGHTS, is_num, make_config, model_name, script_text
from core.serving.library import ModelInfo, list_models, weights_sha256, write_bundle
from core.serving.rebuild import build_checked
from core.serving.safetensors_check import parse_safetensors_header

METRICS = ("accuracy", "valid_loss", "train_loss", "epochs_done", "n_train", "n_valid", "seconds")
# Each task's own figures, kept beside METRICS when the run reports them (its summary's names).
TASK_METRICS = ("accuracy_multi", "f1_macro", "pixel_accuracy", "dice", "mean_iou", "f1", "rmse", "mae", "r2")


def metric_names(task_name: str) -> tuple[str, ...]:
    """The figures of a run a bundle keeps: the common ones, every task's, and the task's main one."""
    from core import tasks

    main = tasks.get(task_name).main_metric if task_name in tasks.TASKS else "accuracy"
    return tuple(dict.fromkeys((*METRICS, *TASK_METRICS, main)))


def default_name(job) -> str:
    """A suggested name for a run's model: dataset, architecture and run number."""
    cfg = job.params.get("config", {})
    return model_name(f"{cfg.get('dataset', 'model')}_{cfg.get('arch', '')}_run{job.id}")


def saved_from(job) -> list[ModelInfo]:
    """The saved models whose weights are exactly this run's."""
    if not runs.has_weights(job.id):
        return []
    sha = weights_sha256(runs.weights_path(job.id))
    return [m for m in list_models() if m.sha256 == sha]


def bundle_config(record: runs.RunRecord, weights: bytes, training: dict) -> dict:
    """config.json for weights trained as record says (the task gives classes and input)."""
    from core import tasks

    task = tasks.get(record.task)
    return make_config(
        task=task.name,
        arch=record.config.arch,
        fields=task.bundle_fields(record),
        sha256=fsutil.sha256_bytes(weights),
        n_bytes=len(weights),
        training=training,
    )


def save_run(job, name: str) -> ModelInfo:
    """Export a finished training run into workspace/models/<name>/ (weights copied, checked)."""
    name = model_name(name)
    record = runs.read_record(job.id)
    try:
        weights = runs.weights_path(job.id).read_bytes()
    except OSError as e:
        raise UserError(f"Run {job.id}'s weights cannot be read ({e}); train it again.") from e
    parse_safetensors_header(weights)
    result = job.result or {}
    training = {
        "run_id": job.id,
        "dataset": record.config.dataset,
        "config": record.config.to_dict(),
        "metrics": {k: result.get(k) for k in metric_names(record.task) if is_num(result.get(k))},
    }
    return write_bundle(name, bundle_config(record, weights, training), weights)


def pack(
    state_dict: dict,
    *,
    arch: str,
    classes: list[str],
    size: int,
    channels: int,
    mean: list[float],
    std: list[float],
    name: str = "model",
    metrics: dict[str, float] | None = None,
    dataset: str | None = None,
    task: str = "single_label",
    options: dict | None = None,
) -> bytes:
    """A bundle zip from weights you already have (e.g. a fastai model on a trusted machine).

    classes are the outputs' names in order (a segmentation model's codes); options are the
    task's own settings (e.g. {"threshold": 0.4} for multi-label). The weights are checked
    against the architecture (strict keys and shapes) before packing.
    """
    from safetensors.torch import save as save_tensors

    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    weights = save_tensors(tensors)
    record = runs.RunRecord(
        config=TrainConfig(task=task, arch=arch, size=size, options=dict(options or {})),
        vocab=list(classes),
        size=size,
        channels=channels,
        mean=list(mean),
        std=list(std),
    )
    training = {"run_id": None, "dataset": dataset, "config": {}, "metrics": dict(metrics or {})}
    config = bundle_config(record, weights, training)
    build_checked(config, weights)
    name = model_name(name)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        text = json.dumps(config, indent=2, ensure_ascii=False)
        zf.writestr(f"{name}/{CONFIG}", text.encode("utf-8"), zipfile.ZIP_DEFLATED)
        zf.writestr(f"{name}/{WEIGHTS}", weights, zipfile.ZIP_STORED)
        zf.writestr(f"{name}/{SCRIPT}", script_text(), zipfile.ZIP_DEFLATED)
    return buf.getvalue()
