"""The model bundle format: file names, config.json's schema (versioned, migrated) and its checks.

A bundle is a folder holding model.safetensors (the weights), config.json (what is needed to
rebuild and feed the model) and predict.py (a stand-alone example). config.json is checked
field by field here, so export never writes what import would refuse. Class names are labels
(core.data.labels: any text without control characters); model names are folder names and
stay strict.

Beyond the fields every bundle has, each task stores its own (TASK_FIELDS), all plain JSON:
single-label its classes; multi-label its classes (tags, no spaces) and the threshold above
which a label is given; segmentation its codes (the class of each mask value, index 0 first).
Image tasks describe their input (size, channels, normalisation); table and ratings tasks store
their processing state (columns, vocabularies, fill values, users and items): bounded JSON,
checked against the network it describes (core.serving.predict_table.check_state).
"""

from __future__ import annotations

import functools
import math
import platform
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.data import labels
from core.data.layouts import MAX_CODES  # a mask value is one byte
from core.errors import UserError
from core.train.archs import ARCHS

FORMAT = "fastai-playground-model"
# 1: single-label classification only, no "task" field; 2: "task" names the task that rebuilds it
SCHEMA_VERSION = 2
DEFAULT_TASK = "single_label"  # what every schema 1 bundle is
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
SCRIPT = "predict.py"
ENTRIES = (CONFIG, WEIGHTS, SCRIPT)  # all a bundle zip may hold (predict.py is optional)

MAX_CLASSES = 1000
MAX_NAME = 64  # a model's folder name
MIN_SIZE, MAX_SIZE = 8, 512  # the image sizes training accepts

_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_SHA_OK = re.compile(r"^[0-9a-f]{64}$")
_TEXT = Path(__file__).resolve().parents[2] / "assets" / "text"

_CONFIG_KEYS = {
    "format",
    "schema_version",
    "task",
    "arch",
    "weights",
    "versions",
    "training",
    "created",
}
# What each task stores beyond _CONFIG_KEYS: (required, optional). A task's bundle_fields writes
# these; the checks below read them. Schema 2 is kept: older playgrounds refuse these bundles by
# their task, which they do not know, and single-label bundles are unchanged.
TASK_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "single_label": (frozenset({"n_classes", "classes", "input"}), frozenset()),
    "multi_label": (frozenset({"classes", "threshold", "input"}), frozenset({"n_classes"})),
    "segmentation": (frozenset({"codes", "input"}), frozenset({"n_classes", "output"})),
    "tabular_classification": (frozenset({"classes", "state"}), frozenset({"n_classes"})),
    "tabular_regression": (frozenset({"target", "state"}), frozenset()),
    "collaborative": (frozenset({"state"}), frozenset()),
}
_INPUT_KEYS = {"size", "channels", "mean", "std", "resize", "scale"}
_WEIGHT_KEYS = {"file", "sha256", "bytes"}
_TRAINING_KEYS = {"run_id", "dataset", "config", "metrics"}


class BundleError(UserError):
    """A bundle (or a file offered as one) that is refused; the message says why."""


class PickleRefused(BundleError):
    """A pickled model: refused without being opened."""


@functools.cache
def convert_hint() -> str:
    """How to turn a pickled fastai model into a bundle (assets/text/convert_hint.md)."""
    text = (_TEXT / "convert_hint.md").read_text(encoding="utf-8")
    return " ".join(text.split()).replace("{archs}", ", ".join(ARCHS))


def script_text() -> str:
    """The generated predict.py: load a bundle and predict one image in plain Python."""
    return Path(__file__).with_name("predict_script.py").read_text(encoding="utf-8")


# --- names and labels ----------------------------------------------------------------------


def model_name(text: str) -> str:
    """A safe folder name from what a person typed: letters, digits, - and _ (at most 64)."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", (text or "").strip()).strip("_-")[:MAX_NAME].strip("_-")
    if not name:
        raise UserError("Give the model a name with at least one letter or digit.")
    return name


def is_model_name(name: Any) -> bool:
    """True for a name model_name would keep as it is (a model's folder name)."""
    return isinstance(name, str) and bool(_NAME_OK.match(name))


def check_label(text: Any, what: str) -> str:
    """A class or dataset name: any label core.data.labels accepts; BundleError otherwise."""
    try:
        return labels.check_label(text, what)
    except UserError as e:
        raise BundleError(str(e)) from e


# --- config.json ---------------------------------------------------------------------------


def is_int(x: Any) -> bool:
    """A whole number that is not a bool."""
    return isinstance(x, int) and not isinstance(x, bool)


def is_num(x: Any) -> bool:
    """A finite number that is not a bool."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def versions() -> dict[str, str | None]:
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
    task: str,
    arch: str,
    fields: dict[str, Any],
    sha256: str,
    n_bytes: int,
    training: dict | None = None,
) -> dict:
    """The config.json of a bundle, validated (so export never writes what import refuses).

    fields is what the task stores beyond the weights (its bundle_fields: classes and input).
    """
    config = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "task": task,
        "arch": arch,
        **fields,
        "weights": {"file": WEIGHTS, "sha256": sha256, "bytes": n_bytes},
        "versions": versions(),
        "training": training or {"run_id": None, "dataset": None, "config": {}, "metrics": {}},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return validate_config(config)


def migrate_config(config: dict) -> dict:
    """A config of an older schema brought up to SCHEMA_VERSION (a new dict; the input is kept).

    Schema 1 had no task: every such bundle is single-label classification.
    """
    version = config.get("schema_version")
    if not is_int(version) or version >= SCHEMA_VERSION:
        return config
    out = dict(config)
    if version == 1:
        out.setdefault("task", DEFAULT_TASK)
        out["schema_version"] = 2
    return out


def validate_config(config: Any) -> dict:
    """Check a bundle's config.json field by field (older schemas migrated); returns it."""
    if not isinstance(config, dict):
        raise BundleError("config.json must hold a JSON object.")
    if config.get("format") != FORMAT:
        raise BundleError(
            f"config.json is not a playground model config (format should be "
            f"{FORMAT!r}, got {config.get('format')!r})."
        )
    version = config.get("schema_version")
    if not is_int(version):
        raise BundleError("config.json has no whole-number schema_version.")
    if version > SCHEMA_VERSION:
        raise BundleError(
            f"This bundle was made by a newer playground (schema {version}); this "
            f"one reads schema {SCHEMA_VERSION}. Update the playground."
        )
    if version < 1:
        raise BundleError(f"config.json has an invalid schema_version {version}.")
    config = migrate_config(config)
    task = _check_task(config.get("task"))
    required, optional = TASK_FIELDS[task]
    missing = sorted((_CONFIG_KEYS | required) - set(config))
    unknown = sorted(set(config) - _CONFIG_KEYS - required - optional)
    if missing:
        raise BundleError(f"config.json lacks {', '.join(missing)}{_what_lacks(task, missing)}.")
    if unknown:
        raise BundleError(
            f"config.json has unknown field(s) {', '.join(unknown)} for a {task} model; refused."
        )
    _check_arch(config["arch"], task)
    _check_outputs(config, task)
    if "input" in required:
        _check_input(config["input"])
    if "state" in required:
        _check_state(config, task)
    _check_weights(config["weights"])
    _check_versions_and_training(config)
    created = config["created"]
    try:
        datetime.fromisoformat(created)
    except (TypeError, ValueError) as e:
        raise BundleError(f"config.json's created must be an ISO date; got {created!r}.") from e
    return config


def _check_task(task: Any) -> str:
    """The bundle's task, refused unless this playground knows it and how its bundles look."""
    from core import tasks

    if not isinstance(task, str) or task not in tasks.names() or task not in TASK_FIELDS:
        known = [t for t in tasks.names() if t in TASK_FIELDS]
        raise BundleError(
            f"config.json's task {task!r} is not one this playground knows ({', '.join(known)}); refused."
        )
    return task


def _what_lacks(task: str, missing: list[str]) -> str:
    if "codes" in missing:
        return " (a segmentation model names the class of each mask value there, index 0 first)"
    if "threshold" in missing:
        return " (a multi-label model gives every label whose probability is above it)"
    if "state" in missing:
        return " (a table or ratings model's processing state: columns, vocabularies, users and items)"
    return ""


def _check_arch(arch: Any, task: str) -> None:
    """The architecture must be on the allow-list and be one the task builds."""
    from core import tasks

    if not isinstance(arch, str) or arch not in ARCHS:
        raise BundleError(
            f"The architecture {arch!r} is not on this playground's allow-list "
            f"({', '.join(ARCHS)}), so it cannot be rebuilt; refused."
        )
    archs = tuple(getattr(tasks.get(task), "archs", ()) or ())
    if archs and arch not in archs:
        raise BundleError(
            f"config.json says task {task} but architecture {arch}, which does not make {task} "
            f"models (those are: {', '.join(archs)}); refused."
        )


def output_names(config: dict) -> list[str]:
    """The names of a checked config's outputs, in order: its classes, its codes (segmentation),
    the target's name (a table's regression) or "rating" (a ratings model)."""
    for key in ("codes", "classes"):
        if key in config:
            return list(config[key])
    return [config["target"]] if "target" in config else ["rating"]


def _check_outputs(config: dict, task: str) -> None:
    if task == "segmentation":
        _check_codes(config["codes"])
        if not isinstance(config.get("output", ""), str) or len(config.get("output", "")) > 200:
            raise BundleError("config.json's output description must be short text.")
    elif task == "multi_label":
        _check_names(config["classes"], 2, "class")
        for c in config["classes"]:
            if any(ch.isspace() for ch in c):
                raise BundleError(
                    f"The multi-label class {c[:40]!r} holds a space; labels are separated by spaces."
                )
        _check_threshold(config["threshold"])
    elif task == "tabular_regression":
        check_label(config["target"], "The target's name")
    elif task != "collaborative":
        _check_names(config["classes"], 2, "class")
    n = config.get("n_classes", len(output_names(config)))
    if not is_int(n) or n != len(output_names(config)):
        raise BundleError(
            f"config.json says n_classes is {n!r} but lists {len(output_names(config))} class names."
        )


def _check_names(names: Any, least: int, what: str, most: int = MAX_CLASSES) -> None:
    if not isinstance(names, list) or not least <= len(names) <= most:
        raise BundleError(f"config.json must list between {least} and {most} {what} names.")
    for c in names:
        check_label(c, f"The {what} name")
    if len(set(names)) != len(names):
        raise BundleError(f"config.json lists the same {what} name twice.")


def _check_codes(codes: Any) -> None:
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise BundleError(
            "config.json's codes must be a list of class names (text), one per mask value, index 0 "
            f"first; got {str(codes)[:60]}."
        )
    _check_names(codes, 2, "code", MAX_CODES)


def _check_threshold(threshold: Any) -> None:
    from core.tasks.multi_label import THRESHOLD_RANGE

    low, high = THRESHOLD_RANGE
    if not is_num(threshold) or not low <= threshold <= high:
        raise BundleError(
            f"config.json's threshold must be a number from {low} to {high} (a label is given when "
            f"its probability is above it); got {str(threshold)[:40]}."
        )


def _check_input(inp: Any) -> None:
    if not isinstance(inp, dict) or set(inp) != _INPUT_KEYS:
        raise BundleError(f"config.json's input must have exactly: {', '.join(sorted(_INPUT_KEYS))}.")
    if not is_int(inp["size"]) or not MIN_SIZE <= inp["size"] <= MAX_SIZE:
        raise BundleError(
            f"config.json's input size must be {MIN_SIZE} to {MAX_SIZE} pixels; got {inp['size']!r}."
        )
    if inp["channels"] not in (1, 3) or not is_int(inp["channels"]):
        raise BundleError(f"config.json's channels must be 1 or 3; got {inp['channels']!r}.")
    for key in ("mean", "std"):
        values = inp[key]
        if (
            not isinstance(values, list)
            or len(values) != inp["channels"]
            or not all(is_num(v) for v in values)
        ):
            raise BundleError(f"config.json's {key} must be {inp['channels']} finite number(s).")
    if not all(0 < s for s in inp["std"]):
        raise BundleError("config.json's std must be greater than 0.")
    if not all(isinstance(inp[k], str) and len(inp[k]) <= 200 for k in ("resize", "scale")):
        raise BundleError("config.json's input descriptions must be short text.")


def _check_state(config: dict, task: str) -> None:
    """The state: plain JSON of bounded size and depth, consistent with itself and the outputs."""
    from core.serving.predict_table import check_state

    check_state(task, config["state"], output_names(config))


def _check_weights(w: Any) -> None:
    if not isinstance(w, dict) or set(w) != _WEIGHT_KEYS:
        raise BundleError(f"config.json's weights must have exactly: {', '.join(sorted(_WEIGHT_KEYS))}.")
    if w["file"] != WEIGHTS:
        raise BundleError(f"config.json's weights file must be {WEIGHTS}.")
    if not isinstance(w["sha256"], str) or not _SHA_OK.match(w["sha256"]):
        raise BundleError("config.json's weights sha256 must be 64 lower-case hex digits.")
    if not is_int(w["bytes"]) or w["bytes"] < 0:
        raise BundleError("config.json's weights bytes must be a whole number.")


def _check_versions_and_training(config: dict) -> None:
    found = config["versions"]
    if (
        not isinstance(found, dict)
        or len(found) > 20
        or not all(
            isinstance(k, str) and len(k) <= 40 and (v is None or (isinstance(v, str) and len(v) <= 64))
            for k, v in found.items()
        )
    ):
        raise BundleError("config.json's versions must map library names to short version text.")
    tr = config["training"]
    if not isinstance(tr, dict) or not set(tr) <= _TRAINING_KEYS:
        raise BundleError(f"config.json's training may hold only: {', '.join(sorted(_TRAINING_KEYS))}.")
    if tr.get("run_id") is not None and not is_int(tr["run_id"]):
        raise BundleError("config.json's training run_id must be a whole number.")
    if tr.get("dataset") is not None:
        check_label(tr["dataset"], "The dataset name")
    if not isinstance(tr.get("config", {}), dict):
        raise BundleError("config.json's training config must be a JSON object.")
    metrics = tr.get("metrics", {})
    if not isinstance(metrics, dict) or not all(
        isinstance(k, str) and len(k) <= 40 and (v is None or is_num(v)) for k, v in metrics.items()
    ):
        raise BundleError("config.json's metrics must map names to numbers.")
