"""Import: an uploaded bundle zip checked strictly in memory, then added to the library.

Order: size, pickles (by content), zip safety (entries, paths, links, sizes, zip bombs), config
schema (older schemas migrated), architecture allow-list, class names, safetensors structure,
SHA-256, then the strict rebuild. Nothing is written until every check has passed.
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
from pathlib import Path

from core import fsutil, safejson
from core.errors import UserError
from core.fsutil import MB
from core.serving.format import (
    CONFIG,
    ENTRIES,
    SCRIPT,
    WEIGHTS,
    BundleError,
    PickleRefused,
    convert_hint,
    model_name,
    validate_config,
)
from core.serving.library import ModelInfo, unique_name, write_bundle
from core.serving.rebuild import build_checked
from core.serving.safetensors_check import (
    MAX_ZIP_DIRECTORY,
    parse_safetensors_header,
    pickle_names,
    refuse_pickle,
    zip_directory,
)

MAX_UPLOAD_BYTES = 512 * MB  # a ResNet-34 bundle is about 85 MB
MAX_WEIGHTS_BYTES = 512 * MB
MAX_CONFIG_BYTES = 1 * MB
MAX_SCRIPT_BYTES = 256 * 1024
MAX_ENTRIES = 8  # three files and a folder, with room for folder entries some zippers add
MAX_RATIO = 100  # trained weights hardly compress; a far better ratio is a zip bomb


def _entries(zf: zipfile.ZipFile, shown: str) -> tuple[str | None, dict[str, zipfile.ZipInfo]]:
    """The bundle files in a zip, by base name, after every safety check on its entries."""
    infos = zf.infolist()
    pickles = pickle_names([i.filename for i in infos])
    if pickles:
        raise PickleRefused(
            f"{shown} holds {pickles[0]}, a pickle (this is how torch.save and fastai's export() "
            "store a model). Loading a pickle runs whatever code was put inside it, so the "
            f"playground never opens one that was uploaded. {convert_hint()}"
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
    entries, directory = zip_directory(data)
    if data[:4] == b"PK\x03\x04" and (entries > MAX_ENTRIES or directory > MAX_ZIP_DIRECTORY):
        raise BundleError(
            f"{shown} lists {entries:,} entries in {directory:,} bytes of zip directory; a model "
            f"bundle holds only {', '.join(ENTRIES)}. Refused without reading them."
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
            "with Save model, or pack one with core.serving.export.pack."
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
    config = safejson.loads(raw_config, f"{CONFIG} in {shown}", max_bytes=MAX_CONFIG_BYTES, error=BundleError)
    config = validate_config(config)
    refuse_pickle(weights, WEIGHTS)
    parse_safetensors_header(weights)
    actual = fsutil.sha256_bytes(weights)
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
            final = unique_name(model_name(top or stem))
        except UserError:
            final = unique_name("imported_model")
    return write_bundle(final, config, weights)
