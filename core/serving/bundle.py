"""Model bundles: save a run as safetensors + JSON, list, rename, delete, zip, and import strictly.

A bundle is a folder workspace/models/<name>/ holding model.safetensors (the weights), config.json
(what is needed to rebuild and feed the model) and predict.py (a stand-alone example). Nothing
here ever unpickles: fastai's export() is a pickle, and loading a pickle runs whatever code is
inside it (DESIGN.md §5). Imports are checked in memory first and written atomically, so a
refused import leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import pickletools
import platform
import re
import shutil
import stat
import struct
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import workspace
from core.errors import UserError
from core.train.archs import ARCHS

FORMAT = "fastai-playground-model"
SCHEMA_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
SCRIPT = "predict.py"
ENTRIES = (CONFIG, WEIGHTS, SCRIPT)  # all a bundle zip may hold (predict.py is optional)

MB = 2**20
MAX_UPLOAD_BYTES = 512 * MB  # a ResNet-34 bundle is about 85 MB
MAX_WEIGHTS_BYTES = 512 * MB
MAX_CONFIG_BYTES = 1 * MB
MAX_SCRIPT_BYTES = 256 * 1024
MAX_ENTRIES = 8  # three files and a folder, with room for folder entries some zippers add
MAX_RATIO = 100  # trained weights hardly compress; a far better ratio is a zip bomb
MAX_HEADER_BYTES = 16 * MB  # safetensors' own parser refuses headers above 100 MB
MAX_TENSORS = 4096
MAX_CLASSES = 1000
MAX_LABEL = 64
MIN_SIZE, MAX_SIZE = 8, 512  # the image sizes training accepts
STALE_TMP_SECONDS = 3600  # a temporary folder this old was left by a crash

# safetensors dtypes and their sizes in bytes; anything else is refused
DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
FLOAT_DTYPES = {"F64", "F32", "F16", "BF16"}

_LABEL_OK = re.compile(r"^[\w][\w .,'()+&-]*$")
_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_SHA_OK = re.compile(r"^[0-9a-f]{64}$")
_MARKUP = set('<>[]{}`*|$~^#!="\\')

CONVERT_HINT = (
    "To convert it, on a machine you trust and only for a file whose origin you trust: load it "
    "with fastai (`learn = load_learner('export.pkl')`), then write a bundle from its weights "
    "with `core.serving.bundle.pack(learn.model.state_dict(), arch=…, classes=list(learn.dls.vocab), "
    "size=…, channels=…, mean=…, std=…)` from this playground's checkout, and import that zip. "
    f"The architecture must be one the playground can build: {', '.join(ARCHS)}. "
    "Or train the model here and press Save model."
)


class BundleError(UserError):
    """A bundle (or a file offered as one) that is refused; the message says why."""


class PickleRefused(BundleError):
    """A pickled model: refused without being opened."""


@dataclass
class ModelInfo:
    """A saved model as the library lists it."""

    name: str
    path: Path
    arch: str
    classes: list[str]
    size: int
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

    @property
    def n_classes(self) -> int:
        """How many classes the model tells apart."""
        return len(self.classes)

    @property
    def accuracy(self) -> float | None:
        """Validation accuracy at the end of training, when known."""
        return self.metrics.get("accuracy")

    @property
    def weights(self) -> Path:
        """The safetensors file."""
        return self.path / WEIGHTS

    @property
    def is_digit_model(self) -> bool:
        """True for a grey model whose classes are the ten digits (a drawing canvas suits it)."""
        return self.channels == 1 and sorted(self.classes) == [str(d) for d in range(10)]


# --- names and labels ----------------------------------------------------------------------


def model_name(text: str) -> str:
    """A safe folder name from what a person typed: letters, digits, - and _ (at most 64)."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", (text or "").strip()).strip("_-")[:64].strip("_-")
    if not name:
        raise UserError("Give the model a name with at least one letter or digit.")
    return name


def check_label(text: Any, what: str) -> str:
    """Refuse a class (or dataset) name that holds a path, markup or control characters."""
    if not isinstance(text, str) or not text.strip():
        raise BundleError(f"{what} must be a non-empty piece of text; got {text!r}.")
    if len(text) > MAX_LABEL:
        raise BundleError(f"{what} {text[:20]!r}… is longer than {MAX_LABEL} characters.")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise BundleError(f"{what} {text!r} contains control characters; refused.")
    if "/" in text or "\\" in text or ":" in text or ".." in text or text.startswith("."):
        raise BundleError(
            f"{what} {text!r} looks like a file path; refused. Names may hold "
            "letters, digits, spaces and - _ . , ' ( ) + & only."
        )
    bad = sorted(set(text) & _MARKUP)
    if bad:
        raise BundleError(
            f"{what} {text!r} contains {''.join(bad)!r}, which could be read as "
            "markup (HTML or Markdown); refused. Names may hold letters, digits, "
            "spaces and - _ . , ' ( ) + & only."
        )
    if not _LABEL_OK.match(text):
        raise BundleError(
            f"{what} {text!r} may hold only letters, digits, spaces and "
            "- _ . , ' ( ) + & (starting with a letter or digit)."
        )
    return text


# --- where bundles live --------------------------------------------------------------------


def models_root() -> Path:
    """workspace/models, created."""
    return workspace.subdir("models")


def _folder(name: str) -> Path:
    if not isinstance(name, str) or not _NAME_OK.match(name):
        raise UserError(f"{name!r} is not a model name (letters, digits, - and _ only).")
    return workspace.safe_join(models_root(), name)


def _clean_stale_temps(root: Path) -> None:
    now = time.time()
    for p in root.glob(".tmp-*"):
        try:
            if now - p.stat().st_mtime > STALE_TMP_SECONDS:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _publish(tmp: Path, name: str) -> Path:
    """Move a fully written temporary folder to models/<name>, never over an existing one."""
    target = _folder(name)
    if target.exists():
        raise UserError(f"A model called {name} already exists; choose another name.")
    try:
        os.rename(tmp, target)
    except OSError as e:  # another session took the name in the meantime
        raise UserError(f"A model called {name} already exists; choose another name.") from e
    return target


def _unique_name(base: str) -> str:
    root = models_root()
    if not (root / base).exists():
        return base
    for i in range(2, 1000):
        candidate = f"{base[:58]}_{i}"
        if not (root / candidate).exists():
            return candidate
    raise UserError(f"Too many models called {base}; choose another name.")


# --- hashing -------------------------------------------------------------------------------

_HASHES: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def sha256_bytes(data: bytes) -> str:
    """The SHA-256 of some bytes, as 64 hex digits."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, remembered while its size and modification time stay the same."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        if key in _HASHES:
            return _HASHES[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MB), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with _HASH_LOCK:
        _HASHES[key] = digest
    return digest


# --- recognising pickles -------------------------------------------------------------------


def _looks_like_safetensors(data: bytes) -> bool:
    """An 8-byte header length that fits the file, followed by a JSON object."""
    if len(data) < 10 or data[8:9] != b"{":
        return False
    (n,) = struct.unpack("<Q", data[:8])
    return 8 + n <= len(data)


def _looks_like_raw_pickle(data: bytes) -> bool:
    """A pickle stream, recognised from its opcodes without running any of them."""
    if _looks_like_safetensors(data):
        return False  # a header length such as 640 starts with the bytes 0x80 0x02 too
    if len(data) >= 2 and data[0] == 0x80 and 1 <= data[1] <= 5:
        return True  # PROTO opcode: protocols 2-5 (torch.save's legacy format starts so)
    if len(data) > MB or not data.rstrip().endswith(b"."):
        return False
    # Protocols 0 and 1: a well-formed stream of opcodes ending exactly at STOP. genops only
    # parses the opcodes; nothing is executed or imported.
    try:
        end = None
        for op, _arg, pos in pickletools.genops(data.rstrip()):
            end = pos
            if op.name == "STOP":
                break
        return end is not None and end == len(data.rstrip()) - 1
    except Exception:  # noqa: BLE001 - any parse failure means "not a pickle"
        return False


def _pickle_names(names: list[str]) -> list[str]:
    return [n for n in names if n.lower().endswith((".pkl", ".pickle")) or n.endswith("data.pkl")]


def refuse_pickle(data: bytes, filename: str) -> None:
    """Raise PickleRefused when the bytes are a pickled model (by content, then by name)."""
    shown = filename or "The file"
    if _looks_like_raw_pickle(data):
        raise PickleRefused(
            f"{shown} is a pickle (a torch.save or fastai export file). "
            "Loading a pickle runs whatever code was put inside it, so the "
            f"playground never opens one that was uploaded. {CONVERT_HINT}"
        )
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                inside = _pickle_names(zf.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            inside = []
        if inside:
            raise PickleRefused(
                f"{shown} holds {inside[0]}, a pickle (this is how torch.save and fastai's "
                "export() store a model). Loading a pickle runs whatever code was put inside "
                f"it, so the playground never opens one that was uploaded. {CONVERT_HINT}"
            )
    if filename.lower().endswith(
        (".pkl", ".pickle", ".pth", ".pt", ".ckpt", ".bin")
    ) and not _looks_like_safetensors(data):
        raise PickleRefused(
            f"{shown} is not a model bundle: its name says it is a pickled "
            "PyTorch or fastai model, and a pickle is never opened here, since "
            f"loading one runs whatever code was put inside it. {CONVERT_HINT}"
        )


# --- safetensors, parsed before anything trusts it -----------------------------------------


@dataclass(frozen=True)
class TensorSpec:
    """One tensor as a safetensors header describes it."""

    dtype: str
    shape: tuple[int, ...]


def parse_safetensors_header(data: bytes, shown: str = WEIGHTS) -> dict[str, TensorSpec]:
    """Check a safetensors file's structure (header, offsets, length) and list its tensors.

    Raises BundleError for a file that is truncated, has trailing bytes, overlapping or
    mis-sized tensors, unknown dtypes or an unreadable header.
    """
    if len(data) < 8:
        raise BundleError(
            f"{shown} is truncated: {len(data)} bytes, too short even for the "
            "8-byte length that starts a safetensors file."
        )
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES:
        raise BundleError(
            f"{shown} is not a safetensors file we accept: its header claims "
            f"{n:,} bytes (limit {MAX_HEADER_BYTES:,})."
        )
    if 8 + n > len(data):
        raise BundleError(
            f"{shown} is truncated: its header should be {n:,} bytes but the "
            f"file ends after {len(data) - 8:,}. Export the model again."
        )
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{shown} is not a safetensors file: its header is not JSON ({e}).") from e
    if not isinstance(header, dict):
        raise BundleError(f"{shown} is not a safetensors file: its header is not a table.")
    header.pop("__metadata__", None)
    if len(header) > MAX_TENSORS:
        raise BundleError(f"{shown} lists {len(header)} tensors; at most {MAX_TENSORS} accepted.")
    specs: dict[str, TensorSpec] = {}
    spans = []
    for key, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise BundleError(f"{shown}: the entry for tensor {key!r} is malformed.")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPES:
            raise BundleError(f"{shown}: tensor {key!r} has type {dtype!r}, which is not accepted.")
        if (
            not isinstance(shape, list)
            or len(shape) > 8
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ):
            raise BundleError(f"{shown}: tensor {key!r} has an invalid shape {shape!r}.")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]
        ):
            raise BundleError(f"{shown}: tensor {key!r} has invalid data offsets {offsets!r}.")
        if math.prod(shape) * DTYPES[dtype] != offsets[1] - offsets[0]:
            raise BundleError(
                f"{shown}: tensor {key!r} should take "
                f"{math.prod(shape) * DTYPES[dtype]:,} bytes but is given "
                f"{offsets[1] - offsets[0]:,}."
            )
        specs[key] = TensorSpec(dtype, tuple(shape))
        spans.append((offsets[0], offsets[1], key))
    spans.sort()
    expected = 0
    for begin, end, key in spans:
        if begin != expected:
            raise BundleError(
                f"{shown}: tensor {key!r} overlaps another or leaves a gap; the file is damaged."
            )
        expected = end
    have = len(data) - 8 - n
    if have < expected:
        raise BundleError(
            f"{shown} is truncated: its header describes {expected:,} bytes of "
            f"weights but the file holds only {have:,}. Export the model again."
        )
    if have > expected:
        raise BundleError(
            f"{shown} has {have - expected:,} unexpected bytes after its tensors; "
            "the file is damaged or was altered."
        )
    return specs


# --- the config ----------------------------------------------------------------------------

_CONFIG_KEYS = {
    "format",
    "schema_version",
    "arch",
    "n_classes",
    "classes",
    "input",
    "weights",
    "versions",
    "training",
    "created",
}
_INPUT_KEYS = {"size", "channels", "mean", "std", "resize", "scale"}
_WEIGHT_KEYS = {"file", "sha256", "bytes"}
_TRAINING_KEYS = {"run_id", "dataset", "config", "metrics"}


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _versions() -> dict[str, str | None]:
    """The library versions on this machine (read from package metadata: no import of torch)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("torch", "torchvision", "fastai", "safetensors", "pillow", "fastai-playground"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


def make_config(
    *,
    arch: str,
    classes: list[str],
    size: int,
    channels: int,
    mean: list[float],
    std: list[float],
    sha256: str,
    n_bytes: int,
    training: dict | None = None,
) -> dict:
    """The config.json of a bundle, validated (so export never writes what import refuses)."""
    config = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "arch": arch,
        "n_classes": len(classes),
        "classes": list(classes),
        "input": {
            "size": size,
            "channels": channels,
            "mean": [float(m) for m in mean],
            "std": [float(s) for s in std],
            "resize": "centre crop to a square, then bilinear resize to size×size",
            "scale": "pixels / 255, then (x - mean) / std per channel; channels=1 uses luminance",
        },
        "weights": {"file": WEIGHTS, "sha256": sha256, "bytes": n_bytes},
        "versions": _versions(),
        "training": training or {"run_id": None, "dataset": None, "config": {}, "metrics": {}},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return validate_config(config)


def validate_config(config: Any) -> dict:
    """Check a bundle's config.json field by field; returns it, or raises BundleError."""
    if not isinstance(config, dict):
        raise BundleError("config.json must hold a JSON object.")
    if config.get("format") != FORMAT:
        raise BundleError(
            f"config.json is not a playground model config (format should be "
            f"{FORMAT!r}, got {config.get('format')!r})."
        )
    version = config.get("schema_version")
    if not _is_int(version):
        raise BundleError("config.json has no whole-number schema_version.")
    if version > SCHEMA_VERSION:
        raise BundleError(
            f"This bundle was made by a newer playground (schema {version}); this "
            f"one reads schema {SCHEMA_VERSION}. Update the playground."
        )
    if version < 1:
        raise BundleError(f"config.json has an invalid schema_version {version}.")
    missing = sorted(_CONFIG_KEYS - set(config))
    unknown = sorted(set(config) - _CONFIG_KEYS)
    if missing:
        raise BundleError(f"config.json lacks {', '.join(missing)}.")
    if unknown:
        raise BundleError(f"config.json has unknown field(s) {', '.join(unknown)}; refused.")
    arch = config["arch"]
    if not isinstance(arch, str) or arch not in ARCHS:
        raise BundleError(
            f"The architecture {arch!r} is not on this playground's allow-list "
            f"({', '.join(ARCHS)}), so it cannot be rebuilt; refused."
        )
    classes = config["classes"]
    if not isinstance(classes, list) or not 2 <= len(classes) <= MAX_CLASSES:
        raise BundleError(f"config.json must list between 2 and {MAX_CLASSES} class names.")
    for c in classes:
        check_label(c, "The class name")
    if len(set(classes)) != len(classes):
        raise BundleError("config.json lists the same class name twice.")
    if config["n_classes"] != len(classes):
        raise BundleError(
            f"config.json says n_classes is {config['n_classes']!r} but lists {len(classes)} class names."
        )
    inp = config["input"]
    if not isinstance(inp, dict) or set(inp) != _INPUT_KEYS:
        raise BundleError(f"config.json's input must have exactly: {', '.join(sorted(_INPUT_KEYS))}.")
    if not _is_int(inp["size"]) or not MIN_SIZE <= inp["size"] <= MAX_SIZE:
        raise BundleError(
            f"config.json's input size must be {MIN_SIZE} to {MAX_SIZE} pixels; got {inp['size']!r}."
        )
    if inp["channels"] not in (1, 3) or not _is_int(inp["channels"]):
        raise BundleError(f"config.json's channels must be 1 or 3; got {inp['channels']!r}.")
    for key in ("mean", "std"):
        values = inp[key]
        if (
            not isinstance(values, list)
            or len(values) != inp["channels"]
            or not all(_is_num(v) for v in values)
        ):
            raise BundleError(f"config.json's {key} must be {inp['channels']} finite number(s).")
    if not all(0 < s for s in inp["std"]):
        raise BundleError("config.json's std must be greater than 0.")
    if not all(isinstance(inp[k], str) and len(inp[k]) <= 200 for k in ("resize", "scale")):
        raise BundleError("config.json's input descriptions must be short text.")
    w = config["weights"]
    if not isinstance(w, dict) or set(w) != _WEIGHT_KEYS:
        raise BundleError(f"config.json's weights must have exactly: {', '.join(sorted(_WEIGHT_KEYS))}.")
    if w["file"] != WEIGHTS:
        raise BundleError(f"config.json's weights file must be {WEIGHTS}.")
    if not isinstance(w["sha256"], str) or not _SHA_OK.match(w["sha256"]):
        raise BundleError("config.json's weights sha256 must be 64 lower-case hex digits.")
    if not _is_int(w["bytes"]) or w["bytes"] < 0:
        raise BundleError("config.json's weights bytes must be a whole number.")
    versions = config["versions"]
    if (
        not isinstance(versions, dict)
        or len(versions) > 20
        or not all(
            isinstance(k, str) and len(k) <= 40 and (v is None or (isinstance(v, str) and len(v) <= 64))
            for k, v in versions.items()
        )
    ):
        raise BundleError("config.json's versions must map library names to short version text.")
    tr = config["training"]
    if not isinstance(tr, dict) or not set(tr) <= _TRAINING_KEYS:
        raise BundleError(f"config.json's training may hold only: {', '.join(sorted(_TRAINING_KEYS))}.")
    if tr.get("run_id") is not None and not _is_int(tr["run_id"]):
        raise BundleError("config.json's training run_id must be a whole number.")
    if tr.get("dataset") is not None:
        check_label(tr["dataset"], "The dataset name")
    if not isinstance(tr.get("config", {}), dict):
        raise BundleError("config.json's training config must be a JSON object.")
    metrics = tr.get("metrics", {})
    if not isinstance(metrics, dict) or not all(
        isinstance(k, str) and len(k) <= 40 and (v is None or _is_num(v)) for k, v in metrics.items()
    ):
        raise BundleError("config.json's metrics must map names to numbers.")
    created = config["created"]
    try:
        datetime.fromisoformat(created)
    except (TypeError, ValueError) as e:
        raise BundleError(f"config.json's created must be an ISO date; got {created!r}.") from e
    return config


def _info(folder: Path, config: dict) -> ModelInfo:
    inp, tr = config["input"], config["training"]
    n_bytes = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    return ModelInfo(
        name=folder.name,
        path=folder,
        arch=config["arch"],
        classes=list(config["classes"]),
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
    )


# --- the library ---------------------------------------------------------------------------


def get(name: str) -> ModelInfo:
    """The saved model called name (its config checked again)."""
    folder = _folder(name)
    path = folder / CONFIG
    if not path.is_file():
        raise UserError(f"There is no saved model called {name}.")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"The model {name} has an unreadable config.json ({e}).") from e
    return _info(folder, validate_config(config))


def list_models() -> list[ModelInfo]:
    """Every saved model, newest first (folders whose config is damaged are left out)."""
    root = models_root()
    _clean_stale_temps(root)
    out = []
    for folder in root.iterdir():
        if not folder.is_dir() or folder.name.startswith(".") or not _NAME_OK.match(folder.name):
            continue
        try:
            out.append(get(folder.name))
        except UserError:
            continue
    return sorted(out, key=lambda m: (m.created, m.name), reverse=True)


def rename(old: str, new: str) -> ModelInfo:
    """Give a saved model another name (one atomic folder rename)."""
    new_name = model_name(new)
    source = _folder(old)
    if not source.is_dir():
        raise UserError(f"There is no saved model called {old}.")
    if new_name == old:
        return get(old)
    target = _folder(new_name)
    if target.exists():
        raise UserError(f"A model called {new_name} already exists; choose another name.")
    try:
        os.rename(source, target)
    except OSError as e:
        raise UserError(f"Could not rename {old} to {new_name}: {e.strerror}.") from e
    return get(new_name)


def delete(name: str) -> Path:
    """Move a saved model to workspace/trash/models/<time>-<name>/ (nothing is destroyed)."""
    source = _folder(name)
    if not source.is_dir():
        raise UserError(f"There is no saved model called {name}.")
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


def script_text() -> str:
    """The generated predict.py: load a bundle and predict one image in plain Python."""
    return (Path(__file__).with_name("predict_script.py")).read_text(encoding="utf-8")


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


def _write_bundle(name: str, config: dict, weights: bytes) -> ModelInfo:
    """Write config, weights and script into a temporary folder, then publish it atomically."""
    root = models_root()
    _folder(name)  # refuse a bad name before writing anything
    if (root / name).exists():
        raise UserError(f"A model called {name} already exists; choose another name.")
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-bundle-", dir=root))
    try:
        _fsync_write(tmp / WEIGHTS, weights)
        _fsync_write(tmp / CONFIG, json.dumps(config, indent=2).encode("utf-8"))
        _fsync_write(tmp / SCRIPT, script_text().encode("utf-8"))
        folder = _publish(tmp, name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _info(folder, config)


# --- export --------------------------------------------------------------------------------


def default_name(job) -> str:
    """A suggested name for a run's model: dataset, architecture and run number."""
    cfg = job.params.get("config", {})
    return model_name(f"{cfg.get('dataset', 'model')}_{cfg.get('arch', '')}_run{job.id}")


def run_files(job) -> tuple[Path, Path]:
    """The weights and run.json of a finished run, checked to lie inside the workspace."""
    weights = (job.result or {}).get("weights")
    if not weights:
        raise UserError(f"Run {job.id} has no saved weights (it finished before one epoch).")
    path = Path(weights)
    if not workspace.inside(path) or not path.is_file():
        raise UserError(f"The weights of run {job.id} are not in this workspace any more.")
    meta = path.with_name("run.json")
    if not meta.is_file():
        raise UserError(f"Run {job.id} has weights but no run.json beside them; train it again.")
    return path, meta


def saved_from(job) -> list[ModelInfo]:
    """The saved models whose weights are exactly this run's."""
    try:
        weights, _ = run_files(job)
    except UserError:
        return []
    sha = file_sha256(weights)
    return [m for m in list_models() if m.sha256 == sha]


def save_run(job, name: str) -> ModelInfo:
    """Export a finished training run into workspace/models/<name>/ (weights copied, checked)."""
    name = model_name(name)
    weights_path, meta_path = run_files(job)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        vocab, size, channels = meta["vocab"], meta["size"], meta["channels"]
        mean, std, cfg = meta["mean"], meta["std"], meta.get("config", {})
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise UserError(f"Run {job.id}'s run.json is damaged ({e}); train it again.") from e
    weights = weights_path.read_bytes()
    parse_safetensors_header(weights)
    result = job.result or {}
    metric_names = ("accuracy", "valid_loss", "train_loss", "epochs_done", "n_train", "n_valid", "seconds")
    training = {
        "run_id": job.id,
        "dataset": cfg.get("dataset"),
        "config": cfg,
        "metrics": {k: result.get(k) for k in metric_names if _is_num(result.get(k))},
    }
    config = make_config(
        arch=cfg.get("arch"),
        classes=vocab,
        size=size,
        channels=channels,
        mean=mean,
        std=std,
        sha256=sha256_bytes(weights),
        n_bytes=len(weights),
        training=training,
    )
    return _write_bundle(name, config, weights)


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
) -> bytes:
    """A bundle zip from weights you already have (e.g. a fastai model on a trusted machine).

    The weights are checked against the architecture (strict keys and shapes) before packing.
    """
    from safetensors.torch import save as save_tensors

    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    weights = save_tensors(tensors)
    training = {"run_id": None, "dataset": dataset, "config": {}, "metrics": dict(metrics or {})}
    config = make_config(
        arch=arch,
        classes=classes,
        size=size,
        channels=channels,
        mean=mean,
        std=std,
        sha256=sha256_bytes(weights),
        n_bytes=len(weights),
        training=training,
    )
    build_checked(config, weights)
    name = model_name(name)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{name}/{CONFIG}", json.dumps(config, indent=2), zipfile.ZIP_DEFLATED)
        zf.writestr(f"{name}/{WEIGHTS}", weights, zipfile.ZIP_STORED)
        zf.writestr(f"{name}/{SCRIPT}", script_text(), zipfile.ZIP_DEFLATED)
    return buf.getvalue()


# --- rebuilding a model, strictly ----------------------------------------------------------


def _output_key(model) -> str | None:
    """The weight of the last linear or convolution layer: its first dimension is the classes."""
    from torch import nn

    last = None
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            last = name
    return f"{last}.weight" if last is not None else None


def build_checked(config: dict, weights: bytes, shown: str = WEIGHTS):
    """Rebuild config's architecture and load the weights with strict key, shape and value checks.

    Returns the model in eval mode. The weights are parsed by safetensors (never unpickled).
    """
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load as load_tensors

    from core.train.models import build_model

    specs = parse_safetensors_header(weights, shown)
    try:
        tensors = load_tensors(weights)
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise BundleError(f"{shown} could not be read as safetensors: {e}") from e
    inp = config["input"]
    n_classes = len(config["classes"])
    model = build_model(config["arch"], n_classes, inp["channels"], inp["size"], pretrained=False).model
    expected = model.state_dict()
    out_key = _output_key(model)
    if out_key in tensors and out_key in expected and tensors[out_key].ndim >= 1:
        n_out = tensors[out_key].shape[0]
        if n_out != n_classes:
            raise BundleError(
                f"The class count does not match the weights: config.json lists "
                f"{n_classes} classes but the weights' output layer has {n_out}."
            )
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}{' …' if len(unexpected) > 3 else ''}")
        raise BundleError(f"The weights do not fit {config['arch']}: {'; '.join(parts)}.")
    for key, want in expected.items():
        got = tensors[key]
        if tuple(got.shape) != tuple(want.shape):
            raise BundleError(
                f"The weights do not fit {config['arch']} at {inp['size']} px with "
                f"{inp['channels']} channel(s): {key} has shape {tuple(got.shape)}, the "
                f"architecture needs {tuple(want.shape)}."
            )
        if want.is_floating_point() != (specs[key].dtype in FLOAT_DTYPES):
            raise BundleError(
                f"The weights' {key} has type {specs[key].dtype}, which does not "
                f"fit the layer ({want.dtype})."
            )
        if got.is_floating_point():
            if not bool(torch.isfinite(got).all()):
                raise BundleError(f"The weights' {key} holds NaN or infinite values; refused.")
            tensors[key] = got.to(want.dtype)
    model.load_state_dict(tensors, strict=True)
    return model.eval()


def load_module(info: ModelInfo):
    """A saved model's network, rebuilt and loaded strictly (its weights' hash checked first)."""
    data = info.weights.read_bytes()
    sha = sha256_bytes(data)
    if sha != info.sha256:
        raise BundleError(
            f"The weights of {info.name} have changed since it was saved (their "
            "SHA-256 no longer matches config.json); delete it and save it again."
        )
    config = json.loads((info.path / CONFIG).read_text(encoding="utf-8"))
    return build_checked(validate_config(config), data)


# --- import --------------------------------------------------------------------------------


def _entries(zf: zipfile.ZipFile, shown: str) -> tuple[str | None, dict[str, zipfile.ZipInfo]]:
    """The bundle files in a zip, by base name, after every safety check on its entries."""
    infos = zf.infolist()
    pickles = _pickle_names([i.filename for i in infos])
    if pickles:
        raise PickleRefused(
            f"{shown} holds {pickles[0]}, a pickle (this is how torch.save and fastai's export() "
            "store a model). Loading a pickle runs whatever code was put inside it, so the "
            f"playground never opens one that was uploaded. {CONVERT_HINT}"
        )
    if len(infos) > MAX_ENTRIES:
        raise BundleError(
            f"{shown} holds {len(infos)} entries; a model bundle holds only {', '.join(ENTRIES)}."
        )
    files: list[tuple[list[str], zipfile.ZipInfo]] = []
    dirs: list[list[str]] = []
    for info in infos:
        raw = info.filename
        if "\x00" in raw or "\\" in raw:
            raise BundleError(f"{shown} holds an entry with a strange name ({raw!r}); refused.")
        if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
            raise BundleError(f"{shown} holds {raw!r}, an absolute path; refused.")
        parts = [p for p in raw.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise BundleError(f"{shown} holds {raw!r}, which points outside the bundle; refused.")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise BundleError(f"{shown} holds {raw!r}, a symbolic link; refused.")
        if info.flag_bits & 0x1:
            raise BundleError(f"{shown} holds {raw!r}, which is encrypted; refused.")
        if info.is_dir():
            dirs.append(parts)
        else:
            files.append((parts, info))
    tops = {parts[0] for parts, _ in files if len(parts) == 2}
    if all(len(parts) == 1 for parts, _ in files) and not dirs:
        top = None
    elif (
        len(tops) == 1
        and all(len(parts) == 2 for parts, _ in files)
        and all(d == [next(iter(tops))] for d in dirs)
    ):
        top = next(iter(tops))
    else:
        raise BundleError(
            f"{shown} is not laid out as a model bundle: its files must sit at the "
            "top or in one folder, and be only " + ", ".join(ENTRIES) + "."
        )
    found: dict[str, zipfile.ZipInfo] = {}
    for parts, info in files:
        base = parts[-1]
        if base not in ENTRIES:
            raise BundleError(
                f"{shown} holds {'/'.join(parts)!r}, which a model bundle does not "
                f"contain (only {', '.join(ENTRIES)}); refused."
            )
        if base in found:
            raise BundleError(f"{shown} holds {base} twice; refused.")
        found[base] = info
    for need in (CONFIG, WEIGHTS):
        if need not in found:
            raise BundleError(f"{shown} has no {need}; a model bundle needs {CONFIG} and {WEIGHTS}.")
    return top, found


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, shown: str) -> bytes:
    """An entry's bytes, refusing more than limit even when the zip's header lies."""
    name = info.filename
    if info.file_size > limit:
        raise BundleError(
            f"{name} in {shown} expands to {info.file_size:,} bytes, more than the "
            f"{limit:,} allowed; refused."
        )
    if info.file_size > 8 * MB and info.file_size > MAX_RATIO * max(1, info.compress_size):
        raise BundleError(
            f"{name} in {shown} expands {info.file_size // max(1, info.compress_size):,}"
            " times (a zip bomb, or not trained weights); refused."
        )
    try:
        with zf.open(info) as f:
            data = f.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as e:
        raise BundleError(f"{name} in {shown} cannot be read: the zip is damaged ({e}).") from e
    if len(data) > limit:
        raise BundleError(f"{name} in {shown} expands past the {limit:,} bytes allowed; refused.")
    return data


def check_bundle(data: bytes, filename: str = "bundle.zip") -> tuple[str | None, dict, bytes]:
    """Every check an import makes, in memory: returns (folder name in the zip, config, weights).

    Order: size, pickles (by content), zip safety, config schema, architecture allow-list,
    class names, safetensors structure, SHA-256, then the strict rebuild (keys, shapes, classes).
    """
    shown = filename or "The upload"
    if not data:
        raise BundleError(f"{shown} is empty (0 bytes).")
    if len(data) > MAX_UPLOAD_BYTES:
        raise BundleError(
            f"{shown} is {len(data) / MB:.0f} MB; bundles up to {MAX_UPLOAD_BYTES // MB} MB are accepted."
        )
    refuse_pickle(data, filename)
    if data[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):
        if len(data) >= 8 and data[8:9] == b"{":
            raise BundleError(
                f"{shown} is a bare safetensors weights file. Import needs the "
                f"bundle zip ({CONFIG} with the class names and input size, plus "
                f"{WEIGHTS}), as Save model makes it."
            )
        raise BundleError(
            f"{shown} is not a zip file, so not a model bundle. Download a bundle "
            "with Save model, or pack one with core.serving.bundle.pack."
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise BundleError(f"{shown} is not a readable zip file ({e}).") from e
    with zf:
        top, found = _entries(zf, shown)
        raw_config = _read(zf, found[CONFIG], MAX_CONFIG_BYTES, shown)
        weights = _read(zf, found[WEIGHTS], MAX_WEIGHTS_BYTES, shown)
        if SCRIPT in found:
            _read(zf, found[SCRIPT], MAX_SCRIPT_BYTES, shown)  # size-checked, never run, replaced
    try:
        config = json.loads(raw_config.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{CONFIG} in {shown} is not valid JSON ({e}).") from e
    config = validate_config(config)
    refuse_pickle(weights, WEIGHTS)
    parse_safetensors_header(weights)
    actual = sha256_bytes(weights)
    expected = config["weights"]["sha256"]
    if actual != expected:
        raise BundleError(
            f"The weights do not match their checksum: config.json says SHA-256 "
            f"{expected[:12]}…, the file has {actual[:12]}…. The bundle was changed "
            "or damaged after it was exported; refused."
        )
    if config["weights"]["bytes"] != len(weights):
        raise BundleError(
            f"config.json says the weights are {config['weights']['bytes']:,} "
            f"bytes; the file has {len(weights):,}."
        )
    build_checked(config, weights)
    return top, config, weights


def import_bundle(data: bytes, filename: str = "bundle.zip", name: str | None = None) -> ModelInfo:
    """Check an uploaded bundle strictly and add it to the library; nothing is written if refused.

    Without a name, the zip's folder name (or the file's) is used, made unique with a suffix.
    """
    top, config, weights = check_bundle(data, filename)
    if name:
        final = model_name(name)
    else:
        stem = re.sub(r"\.zip$", "", Path(filename or "model").name, flags=re.IGNORECASE)
        try:
            final = _unique_name(model_name(top or stem))
        except UserError:
            final = _unique_name("imported_model")
    return _write_bundle(final, config, weights)
