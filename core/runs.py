"""A run's files: where they are, run.json (versioned), the strict rebuild of its model.

Training writes a run's weights (safetensors) and run.json here; interpretation, export to a
bundle, cross-validation and prediction read them back through this module only. run.json says
which task and settings trained the model, what it needs as input (labels, size, channels,
normalisation) and which version of its data it saw (the dataset's fingerprint).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import fsutil, workspace
from core.config import TrainConfig
from core.errors import UserError

RUN_FORMAT = 2  # 1: before tasks and fingerprints (no "format" key); 2: task, data fingerprint
WEIGHTS = "model.safetensors"
RECORD = "run.json"


def run_dir(run_id: int) -> Path:
    """Where a training run's weights and run.json are."""
    return workspace.subdir("runs") / str(int(run_id))


def weights_path(run_id: int) -> Path:
    """The run's weights file (safetensors)."""
    return run_dir(run_id) / WEIGHTS


def has_weights(run_id: int) -> bool:
    """True when a run saved weights and run.json (it trained at least one epoch)."""
    folder = run_dir(run_id)
    return (folder / WEIGHTS).is_file() and (folder / RECORD).is_file()


# The last completed epoch, to continue or resume from (core/train/checkpoint.py writes it):
# checkpoint.json names its tensors file (weights and optimizer moments, safetensors), so the
# JSON's atomic rename is the one moment a new checkpoint takes over. model.safetensors holds
# the kept weights (the best epoch's with keep-best), the checkpoint always the last epoch's.
CHECKPOINT = "checkpoint.json"


def checkpoint_path(run_id: int) -> Path:
    """The run's checkpoint.json (absent until its first epoch ended)."""
    return run_dir(run_id) / CHECKPOINT


def has_checkpoint(run_id: int) -> bool:
    """True when the run finished at least one epoch since checkpoints were kept."""
    return checkpoint_path(run_id).is_file()


@dataclass(frozen=True)
class RunRecord:
    """What run.json holds: how the model was trained and what it needs as input."""

    config: TrainConfig
    vocab: list[str]  # labels in the order of the model's outputs
    size: int
    channels: int
    mean: list[float]
    std: list[float]
    data_fingerprint: str | None = None  # None for runs saved before fingerprints existed
    format: int = RUN_FORMAT
    # What a table or ratings task learned from the data besides the weights (column roles,
    # category vocabularies, fill values, means and stds, user and item vocabularies), as plain
    # JSON; None for image tasks, whose input is described by size, channels, mean and std.
    state: dict | None = None
    # Where it trained ("cpu", "cuda:0") and in which mixed precision ("bf16", "fp16"; None is
    # float32); None for runs saved before devices were recorded.
    device: str | None = None
    precision: str | None = None

    @property
    def task(self) -> str:
        """The task type that trained the model (from its config)."""
        return self.config.task

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to run.json."""
        data = dataclasses.asdict(self)
        data["config"] = self.config.to_dict()
        return data


def state_record(cfg: TrainConfig, bundle: Any) -> RunRecord:
    """The RunRecord of a table or ratings run: its outputs' names, the processing state its loaders
    learned and the data version (no image size, channels or normalisation)."""
    return RunRecord(
        config=cfg,
        vocab=list(bundle.vocab),
        size=0,
        channels=0,
        mean=[],
        std=[],
        data_fingerprint=bundle.data_fingerprint,
        state=bundle.state,
    )


def bundle_input(record: RunRecord) -> dict[str, Any]:
    """How an image becomes the model's input, as a bundle's config.json says it (every image task)."""
    return {
        "size": record.size,
        "channels": record.channels,
        "mean": [float(m) for m in record.mean],
        "std": [float(s) for s in record.std],
        "resize": "centre crop to a square, then bilinear resize to size×size",
        "scale": "pixels / 255, then (x - mean) / std per channel; channels=1 uses luminance",
    }


def migrate(meta: dict[str, Any]) -> dict[str, Any]:
    """Bring an older run.json up to RUN_FORMAT (format 1 had no format, task or fingerprint)."""
    meta = dict(meta)
    version = int(meta.get("format", 1))
    if version > RUN_FORMAT:
        raise UserError(
            f"This run was saved by a newer version of the playground (format {version}); update to read it."
        )
    if version < 2:
        meta.setdefault("data_fingerprint", None)
    meta["format"] = RUN_FORMAT
    return meta


def parse_record(meta: dict[str, Any]) -> RunRecord:
    """A RunRecord from run.json's content (older formats migrated); UserError when malformed."""
    try:
        meta = migrate(meta)
        return RunRecord(
            config=TrainConfig.from_dict(meta["config"]),
            vocab=[str(v) for v in meta["vocab"]],
            size=int(meta["size"]),
            channels=int(meta["channels"]),
            mean=[float(v) for v in meta["mean"]],
            std=[float(v) for v in meta["std"]],
            data_fingerprint=meta.get("data_fingerprint"),
            state=_state(meta.get("state")),
            device=_text(meta.get("device")),
            precision=_text(meta.get("precision")),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise UserError(f"run.json cannot be read: {e}") from e


def _text(value: Any) -> str | None:
    """An optional text field of run.json (anything but a string or null is malformed)."""
    if value is not None and not isinstance(value, str):
        raise ValueError("a device or precision is not text")
    return value


def _state(value: Any) -> dict | None:
    """run.json's state: None or a JSON object (anything else is a malformed run.json)."""
    if value is not None and not isinstance(value, dict):
        raise ValueError("its state is not an object")
    return value


def read_record(run_id: int) -> RunRecord:
    """The run's run.json, checked and migrated; UserError when it has no saved model."""
    if not has_weights(run_id):
        raise UserError(
            f"Run {run_id} has no saved weights (it stopped before its first epoch "
            "ended, or it is not a training run)."
        )
    try:
        meta = json.loads((run_dir(run_id) / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"Run {run_id}'s run.json cannot be read: {e}") from e
    if not isinstance(meta, dict):
        raise UserError(f"Run {run_id}'s run.json is not an object.")
    return parse_record(meta)


def write_tensors(tensors: dict, target: Path) -> Path:
    """Write tensors as safetensors at target atomically (on the CPU; temp file, fsync, rename)."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    tmp = fsutil.temp_path(target)
    try:
        save_file(state, str(tmp))
        fsutil.publish(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def save(run_id: int, state_dict: dict, record: RunRecord) -> Path:
    """Write the run's weights then run.json, each atomically (temp file, fsync, rename)."""
    folder = run_dir(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    target = write_tensors(state_dict, folder / WEIGHTS)
    fsutil.atomic_write(folder / RECORD, json.dumps(record.to_dict(), indent=2, ensure_ascii=False))
    return target


def stamp(run_id: int) -> str:
    """Which model a run id names, for cache keys: its run.json's path and time (an id in another
    workspace, or of a run deleted and trained again, names another model)."""
    path = run_dir(run_id) / RECORD
    try:
        return f"{path}:{path.stat().st_mtime_ns}"
    except OSError:
        return str(path)


@dataclass
class LoadedRun:
    """A run's model, rebuilt strictly from its weights, with its record."""

    run_id: int
    record: RunRecord
    model: Any  # torch.nn.Module, in eval mode

    @property
    def config(self) -> TrainConfig:
        """The settings that trained the model."""
        return self.record.config

    @property
    def vocab(self) -> list[str]:
        """Labels in the order of the model's outputs."""
        return self.record.vocab


def rebuild(record: RunRecord, state_dict: dict, shown: str = "the run"):
    """The network for record, its weights loaded strictly (every key and shape must match)."""
    from core import tasks

    model = tasks.get(record.task).build_model(record)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        raise UserError(f"The weights of {shown} do not fit its architecture: {e}") from e
    return model.eval()


def load(run_id: int) -> LoadedRun:
    """Rebuild a finished run's model from model.safetensors and run.json (never a pickle)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    record = read_record(run_id)
    try:
        state = load_file(str(weights_path(run_id)))
    except (OSError, SafetensorError) as e:
        raise UserError(f"Run {run_id}'s weights cannot be read: {e}") from e
    return LoadedRun(int(run_id), record, rebuild(record, state, f"run {run_id}"))


def normalise(x, mean: list[float], std: list[float]):
    """uint8 images N×C×H×W to the floats the model was trained on: /255, minus mean, over std.

    Images with another channel count than the model's (a grey set that gained colour images, or
    the reverse) are converted first: averaged to grey, or grey repeated.
    """
    import torch

    x = torch.as_tensor(x)
    c = len(mean)
    if x.shape[1] != c:
        x = x.float().mean(dim=1, keepdim=True).round().to(torch.uint8) if c == 1 else x.expand(-1, c, -1, -1)
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(1, c, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(1, c, 1, 1)
    return (x.float().div_(255) - m) / s


def data_fingerprint(root: Path, files: list[str], is_valid: list[bool]) -> str:
    """A short hash of a dataset's files, splits, sizes and times: it changes when the data change."""
    root = Path(root)
    return fsutil.files_digest(root, files, str(root), tags=[int(v) for v in is_valid])[:16]


def trash_dir(run_id: int) -> Path:
    """Where a deleted run's folder waits: trash/runs/<id> (moved back on restore)."""
    return workspace.subdir("trash") / "runs" / str(int(run_id))


def _move(src: Path, dst: Path, shown: str) -> bool:
    """Rename a run folder (one atomic rename on the same disk); False when src is missing."""
    if not src.is_dir():
        return False
    if dst.exists():
        raise UserError(f"Cannot move {shown}: {dst} is already there; move it away first.")
    dst.parent.mkdir(parents=True, exist_ok=True)
    src.rename(dst)
    fsutil.fsync_dir(dst.parent)
    fsutil.fsync_dir(src.parent)
    return True


def move_to_trash(run_id: int) -> bool:
    """Move runs/<id> to trash/runs/<id>; False when the run has no folder (it saved nothing)."""
    return _move(run_dir(run_id), trash_dir(run_id), f"run {run_id} to the trash")


def restore_from_trash(run_id: int) -> bool:
    """Move trash/runs/<id> back to runs/<id>; False when the trash holds no folder for it."""
    return _move(trash_dir(run_id), run_dir(run_id), f"run {run_id} back from the trash")
