"""A run's checkpoint: its last completed epoch, to continue it or resume it after a crash.

After each epoch the run writes its weights and the optimizer's state: every tensor (weights,
buffers, AdamW's moments and step counts) into checkpoint-<epoch>.safetensors, everything else
(epoch and step numbers, freezing, the optimizer's parameter groups, the config) into
runs/<id>/checkpoint.json, which names that tensors file. Each is written atomically and the
JSON last, so a crash at any moment leaves the previous checkpoint or the new one, whole; the
older tensors file is removed only after the JSON points past it. Nothing is ever pickled.

Light at import (no torch, no fastai): the dashboard reads checkpoint.json through read_meta.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from core import fsutil, runs
from core.errors import UserError

FORMAT = 1
_MODEL, _OPT = "model.", "opt."  # key prefixes in the tensors file


def read_meta(run_id: int) -> dict[str, Any] | None:
    """checkpoint.json of a run, or None when it has none (no epoch ended); UserError if unreadable."""
    path = runs.checkpoint_path(run_id)
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:
        raise UserError(f"Run {run_id}'s checkpoint cannot be read: {e}") from e
    if not isinstance(meta, dict) or not isinstance(meta.get("tensors"), str):
        raise UserError(f"Run {run_id}'s checkpoint.json is not a checkpoint.")
    if int(meta.get("format", 0)) > FORMAT:
        raise UserError(
            f"Run {run_id}'s checkpoint was written by a newer version of the playground; update to use it."
        )
    return meta


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    return value


def save(run_id: int, learn, *, epoch: int, step: int, run_epochs: int, phase: str, config: dict) -> Path:
    """Write the learner's weights and optimizer state as the run's checkpoint after `epoch` epochs.

    epoch and step are the totals since the first run of a chain of continuations (the numbers
    the next epoch and batch of a continuation take); run_epochs counts this run's own epochs.
    """
    import torch

    tensors = {_MODEL + k: v.detach() for k, v in learn.model.state_dict().items()}
    groups, scalars = [], {}
    frozen_idx = 0
    if learn.opt is not None:
        frozen_idx = int(getattr(learn.opt, "frozen_idx", 0))
        state = learn.opt.opt.state_dict()
        for idx, entries in state["state"].items():
            for name, value in entries.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"{_OPT}{idx}.{name}"] = value.detach()
                else:
                    scalars[f"{idx}.{name}"] = _jsonable(value)
        groups = [{k: _jsonable(v) for k, v in g.items()} for g in state["param_groups"]]
    folder = runs.run_dir(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"checkpoint-{int(epoch)}.safetensors"
    runs.write_tensors(tensors, folder / name)
    meta = {
        "format": FORMAT,
        "run_id": int(run_id),
        "epoch": int(epoch),
        "step": int(step),
        "run_epochs": int(run_epochs),
        "phase": phase,
        "frozen_idx": frozen_idx,
        "tensors": name,
        "param_groups": groups,
        "opt_scalars": scalars,
        "config": config,
        "saved": time.time(),
    }
    path = fsutil.atomic_write(runs.checkpoint_path(run_id), json.dumps(meta, indent=1))
    for old in folder.glob("checkpoint-*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)
    return path


def load_tensors(run_id: int, meta: dict[str, Any]) -> tuple[dict, dict]:
    """The checkpoint's (model state_dict, optimizer state by parameter index), on the CPU."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = runs.run_dir(run_id) / Path(meta["tensors"]).name
    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as e:
        raise UserError(f"Run {run_id}'s checkpoint tensors cannot be read ({path.name}): {e}") from e
    model = {k[len(_MODEL) :]: v for k, v in tensors.items() if k.startswith(_MODEL)}
    opt: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith(_OPT):
            idx, _, name = key[len(_OPT) :].partition(".")
            opt.setdefault(int(idx), {})[name] = value
    for key, value in (meta.get("opt_scalars") or {}).items():
        idx, _, name = key.partition(".")
        opt.setdefault(int(idx), {})[name] = value
    return model, opt


def restore(learn, run_id: int, *, unfreeze: bool = False) -> dict[str, Any]:
    """Load a run's checkpoint into a freshly built learner: weights, freezing, optimizer state.

    The learner must be built for the same architecture and classes. It keeps the parent's
    freezing unless `unfreeze`. fastai clears the optimizer state whenever it (un)freezes, so
    the state is loaded after that; the moments and step counts then equal the parent's, and
    the next fit continues them (fastai's fit keeps an existing optimizer). Returns the meta.
    """
    meta = read_meta(run_id)
    if meta is None:
        raise UserError(f"Run {run_id} has no checkpoint (it never finished an epoch).")
    model_state, opt_state = load_tensors(run_id, meta)
    try:
        learn.model.load_state_dict(model_state, strict=True)
    except RuntimeError as e:
        raise UserError(
            f"Run {run_id}'s weights do not fit the model built now (did the dataset's classes change?): {e}"
        ) from e
    learn.model.to(learn.dls.device)  # the optimizer's state follows its parameters' device
    if learn.opt is None:
        learn.create_opt()
    frozen_idx = int(meta.get("frozen_idx") or 0)
    if frozen_idx and not unfreeze:
        learn.freeze_to(frozen_idx)
    if meta.get("param_groups"):
        try:
            learn.opt.opt.load_state_dict({"state": opt_state, "param_groups": meta["param_groups"]})
        except (ValueError, KeyError, RuntimeError) as e:
            raise UserError(f"Run {run_id}'s optimizer state does not fit the model built now: {e}") from e
    return meta
