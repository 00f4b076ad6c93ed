"""The model library: saved bundles in workspace/models/<name>/ — list, get, rename, delete, zip.

Every bundle is written into a temporary folder first and published with one rename, so a
crash or a refused import never leaves half a model behind; deleting moves a model to the trash.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import fsutil, safejson, workspace
from core.errors import UserError
from core.serving.format import (
    CONFIG,
    SCRIPT,
    WEIGHTS,
    BundleError,
    is_model_name,
    model_name,
    output_names,
    script_text,
    validate_config,
)

STALE_TMP_SECONDS = 3600  # a temporary folder this old was left by a crash
# A saved model's config.json is read with the bounded JSON reader (depth, digits, NaN), with room
# for a ratings model's users and items, which may make it larger than an upload's 1 MB.
MAX_SAVED_CONFIG_BYTES = 64 * fsutil.MB


@dataclass
class ModelInfo:
    """A saved model as the library lists it."""

    name: str
    path: Path
    arch: str
    classes: list[str]  # the outputs' names in order: classes, codes, a target's name or "rating"
    size: int  # an image model's input; 0 (and no channels, mean or std) for tables and ratings
    channels: int
    mean: list[float]
    std: list[float]
    sha256: str
    created: str  # ISO 8601, UTC
    bytes: int  # the folder's size on disk
    dataset: str | None = None
    run_id: int | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    versions: dict[str, str | None] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    task: str = "single_label"
    threshold: float | None = None  # multi-label: a label is given when its probability is above it
    # tables and ratings: the processing state (columns, vocabularies, users, items); None for images
    state: dict | None = None
    published: bool = False  # a teacher published it to the class (core.publish): read-only

    @property
    def n_classes(self) -> int:
        """How many classes the model tells apart."""
        return len(self.classes)

    @property
    def codes(self) -> list[str]:
        """A segmentation model's class of each mask value (its outputs' names), index 0 first."""
        return self.classes

    @property
    def accuracy(self) -> float | None:
        """Validation accuracy at the end of training, when known."""
        return self.metrics.get("accuracy")

    @property
    def main_metric(self) -> str:
        """The name of the figure its task judges a model by (accuracy, f1_macro, mean_iou, …)."""
        from core import tasks

        return tasks.get(self.task).main_metric if self.task in tasks.TASKS else "accuracy"

    @property
    def score(self) -> float | None:
        """The main metric at the end of training, when known."""
        return self.metrics.get(self.main_metric)

    @property
    def weights(self) -> Path:
        """The safetensors file."""
        return self.path / WEIGHTS

    @property
    def is_digit_model(self) -> bool:
        """True for a grey model whose classes are the ten digits (a drawing canvas suits it)."""
        return (
            self.task == "single_label"
            and self.channels == 1
            and sorted(self.classes) == [str(d) for d in range(10)]
        )


# --- where bundles live --------------------------------------------------------------------


def models_root() -> Path:
    """workspace/models, created."""
    return workspace.subdir("models")


def folder(name: str) -> Path:
    """models/<name>, refusing anything that is not a model name (letters, digits, - and _)."""
    if not is_model_name(name):
        raise UserError(f"{name!r} is not a model name (letters, digits, - and _ only).")
    return workspace.safe_join(models_root(), name)


def find(name: str) -> tuple[Path, bool]:
    """Where the saved model called name is: (its folder, False) in the current space, else
    (the published one's folder, True) when a teacher published one of that name; UserError when
    there is neither."""
    from core import publish

    own = folder(name)
    if (own / CONFIG).is_file():
        return own, False
    shared = publish.published_path("models", name)
    if shared is not None and (shared / CONFIG).is_file():
        return shared, True
    raise UserError(f"There is no saved model called {name}.")


def _own(name: str) -> Path:
    """The current space's folder of the model called name, for a change: a published one is
    refused as read-only, a missing one as unknown."""
    from core import publish

    own = folder(name)
    if own.is_dir():
        return own
    if publish.published_path("models", name) is not None:
        raise publish.read_only(name, "models")
    raise UserError(f"There is no saved model called {name}.")


def _clean_stale_temps(root: Path) -> None:
    now = time.time()
    for p in root.glob(".tmp-*"):
        try:
            if now - p.stat().st_mtime > STALE_TMP_SECONDS:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def unique_name(base: str) -> str:
    """base, or base_2, base_3, … : the first name no saved model has."""
    root = models_root()
    if not (root / base).exists():
        return base
    for i in range(2, 1000):
        candidate = f"{base[:58]}_{i}"
        if not (root / candidate).exists():
            return candidate
    raise UserError(f"Too many models called {base}; choose another name.")


# --- the weights' hash, remembered -------------------------------------------------------------

_HASHES: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def weights_sha256(path: Path) -> str:
    """The SHA-256 of a file, remembered while its size and modification time stay the same."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        if key in _HASHES:
            return _HASHES[key]
    digest = fsutil.sha256_file(path)
    with _HASH_LOCK:
        _HASHES[key] = digest
    return digest


def forget_hashes() -> None:
    """Drop the remembered hashes (the benchmark's cold loads)."""
    with _HASH_LOCK:
        _HASHES.clear()


# --- reading -----------------------------------------------------------------------------------


def info_from(path: Path, config: dict) -> ModelInfo:
    """A ModelInfo for the bundle folder at path with its (checked) config."""
    tr = config["training"]
    inp = config.get("input") or {"size": 0, "channels": 0, "mean": [], "std": []}
    n_bytes = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return ModelInfo(
        name=path.name,
        path=path,
        arch=config["arch"],
        classes=output_names(config),
        size=inp["size"],
        channels=inp["channels"],
        mean=list(inp["mean"]),
        std=list(inp["std"]),
        sha256=config["weights"]["sha256"],
        created=config["created"],
        bytes=n_bytes,
        dataset=tr.get("dataset"),
        run_id=tr.get("run_id"),
        metrics=dict(tr.get("metrics", {})),
        versions=dict(config["versions"]),
        training=dict(tr),
        task=config["task"],
        threshold=config.get("threshold"),
        state=config.get("state"),
    )


def read_config(name: str) -> dict:
    """A saved model's config.json, checked (and migrated in memory when older)."""
    return _config_at(find(name)[0], name)


def _config_at(path: Path, name: str) -> dict:
    """read_config of the model called name whose folder is path (found already)."""
    shown = f"The model {name}'s config.json"
    config = safejson.read(path / CONFIG, shown, max_bytes=MAX_SAVED_CONFIG_BYTES, error=BundleError)
    return validate_config(config)


def get(name: str) -> ModelInfo:
    """The saved model called name (its config checked again): the current space's, else one a
    teacher published (marked published)."""
    path, published = find(name)
    info = info_from(path, _config_at(path, name))
    info.published = published
    return info


def list_models() -> list[ModelInfo]:
    """Every saved model of the current space, newest first, then those a teacher published that
    no own model's name shadows (folders whose config is damaged are left out)."""
    from core import publish

    root = models_root()
    _clean_stale_temps(root)
    own = [p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    names = own + [n for n in publish.published_names("models") if n not in own]
    out = []
    for name in names:
        if not is_model_name(name):
            continue
        try:
            out.append(get(name))
        except UserError:
            continue
    return sorted(out, key=lambda m: (not m.published, m.created, m.name), reverse=True)


# --- changing the library ----------------------------------------------------------------------


def rename(old: str, new: str) -> ModelInfo:
    """Give a saved model another name (one atomic folder rename)."""
    new_name = model_name(new)
    source = _own(old)
    if new_name == old:
        return get(old)
    target = folder(new_name)
    if target.exists():
        raise UserError(f"A model called {new_name} already exists; choose another name.")
    try:
        os.rename(source, target)
    except OSError as e:
        raise UserError(f"Could not rename {old} to {new_name}: {e.strerror}.") from e
    return get(new_name)


def delete(name: str) -> Path:
    """Move a saved model to workspace/trash/models/<time>-<name>/ (nothing is destroyed)."""
    source = _own(name)
    trash = workspace.subdir("trash") / "models"
    trash.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target = trash / f"{stamp}-{name}"
    n = 1
    while target.exists():
        n += 1
        target = trash / f"{stamp}-{name}-{n}"
    os.rename(source, target)
    return target


def zip_bytes(name: str) -> bytes:
    """The saved model as one zip: <name>/config.json, model.safetensors and predict.py."""
    info = get(name)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(info.path / CONFIG, f"{name}/{CONFIG}", compress_type=zipfile.ZIP_DEFLATED)
        # trained weights hardly compress; storing them keeps the download quick to build
        zf.write(info.path / WEIGHTS, f"{name}/{WEIGHTS}", compress_type=zipfile.ZIP_STORED)
        zf.writestr(f"{name}/{SCRIPT}", script_text(), compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _publish(tmp: Path, name: str) -> Path:
    """Move a fully written temporary folder to models/<name>, never over an existing one."""
    target = folder(name)
    if target.exists():
        raise UserError(f"A model called {name} already exists; choose another name.")
    try:
        os.rename(tmp, target)
    except OSError as e:  # another session took the name in the meantime
        raise UserError(f"A model called {name} already exists; choose another name.") from e
    fsutil.fsync_dir(target.parent)
    return target


def write_bundle(name: str, config: dict, weights: bytes) -> ModelInfo:
    """Write config, weights and script into a temporary folder, then publish it atomically."""
    root = models_root()
    folder(name)  # refuse a bad name before writing anything
    if (root / name).exists():
        raise UserError(f"A model called {name} already exists; choose another name.")
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-bundle-", dir=root))
    try:
        fsutil.atomic_write(tmp / WEIGHTS, weights)
        fsutil.atomic_write(tmp / CONFIG, json.dumps(config, indent=2, ensure_ascii=False))
        fsutil.atomic_write(tmp / SCRIPT, script_text())
        path = _publish(tmp, name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info_from(path, config)
