"""Weights files judged before anything trusts them: pickles refused unopened, safetensors parsed.

Loading a pickle runs whatever code was put inside it (fastai's export() and torch.save both
write one), so a pickle is recognised from its bytes (opcodes parsed, never executed) or its name
and refused. A safetensors file's header is checked by hand (offsets, sizes, dtypes, length)
before safetensors itself reads the tensors.
"""

from __future__ import annotations

import io
import math
import pickletools
import struct
import zipfile
from dataclasses import dataclass

from core import safejson
from core.fsutil import MB, zip_end
from core.serving.format import WEIGHTS, BundleError, PickleRefused, convert_hint

MAX_HEADER_BYTES = 16 * MB  # safetensors' own parser refuses headers above 100 MB
MAX_TENSORS = 4096
MAX_ZIP_DIRECTORY = 64 * 1024  # bytes of a zip's central directory: a bundle's few entries take < 4 KB
# safetensors dtypes and their sizes in bytes; anything else is refused
DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
FLOAT_DTYPES = {"F64", "F32", "F16", "BF16"}


# --- recognising pickles -------------------------------------------------------------------


def looks_like_safetensors(data: bytes) -> bool:
    """An 8-byte header length that fits the file, followed by a JSON object."""
    if len(data) < 10 or data[8:9] != b"{":
        return False
    (n,) = struct.unpack("<Q", data[:8])
    return 8 + n <= len(data)


def _looks_like_raw_pickle(data: bytes) -> bool:
    """A pickle stream, recognised from its opcodes without running any of them."""
    if looks_like_safetensors(data):
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


def zip_directory(data: bytes) -> tuple[int, int]:
    """(entries, bytes of the central directory) as a zip's end record states them (zip64 too),
    read by fsutil.zip_end without parsing the directory. (0, 0) when no end record is found."""
    end = zip_end(io.BytesIO(data))
    return (end.entries, end.size) if end else (0, 0)


def pickle_names(names: list[str]) -> list[str]:
    """The names that are pickles (by extension, or torch.save's data.pkl)."""
    return [n for n in names if n.lower().endswith((".pkl", ".pickle")) or n.endswith("data.pkl")]


def refuse_pickle(data: bytes, filename: str) -> None:
    """Raise PickleRefused when the bytes are a pickled model (by content, then by name)."""
    shown = filename or "The file"
    if _looks_like_raw_pickle(data):
        raise PickleRefused(
            f"{shown} is a pickle (a torch.save or fastai export file). "
            "Loading a pickle runs whatever code was put inside it, so the "
            f"playground never opens one that was uploaded. {convert_hint()}"
        )
    if data[:4] == b"PK\x03\x04" and zip_directory(data)[1] <= MAX_ZIP_DIRECTORY:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                inside = pickle_names(zf.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            inside = []
        if inside:
            raise PickleRefused(
                f"{shown} holds {inside[0]}, a pickle (this is how torch.save and fastai's "
                "export() store a model). Loading a pickle runs whatever code was put inside "
                f"it, so the playground never opens one that was uploaded. {convert_hint()}"
            )
    if filename.lower().endswith(
        (".pkl", ".pickle", ".pth", ".pt", ".ckpt", ".bin")
    ) and not looks_like_safetensors(data):
        raise PickleRefused(
            f"{shown} is not a model bundle: its name says it is a pickled "
            "PyTorch or fastai model, and a pickle is never opened here, since "
            f"loading one runs whatever code was put inside it. {convert_hint()}"
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
    header = safejson.loads(
        data[8 : 8 + n], f"{shown}'s header", max_bytes=MAX_HEADER_BYTES, max_depth=4, error=BundleError
    )
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
