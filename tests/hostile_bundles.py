"""Model bundles for the hostile corpus (tests/hostile_inputs.py), generated at test time.

A small valid single-label bundle (mnist_cnn at 16 px, untrained weights) is built once per
process; each case alters its config.json, its safetensors bytes or its zip.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import pickle
import struct
import zipfile
from datetime import UTC, datetime

from tests.hostile import Case

CLASSES = ["cat", "dog"]
FORMULAS = ['=HYPERLINK("http://evil.example","click")', "+1", "@SUM(A1:A9)", "-2+3"]


@functools.cache
def base() -> tuple[dict, bytes]:
    """(config, weights) of a valid bundle: what every bundle case starts from."""
    from safetensors.torch import save

    from core import tasks
    from core.serving import format as fmt

    config = {
        "format": fmt.FORMAT,
        "schema_version": fmt.SCHEMA_VERSION,
        "task": "single_label",
        "arch": "mnist_cnn",
        "n_classes": len(CLASSES),
        "classes": list(CLASSES),
        "input": {"size": 16, "channels": 1, "mean": [0.1], "std": [0.3], "resize": "squish", "scale": "0-1"},
        "versions": {"python": "3.11"},
        "training": {"run_id": None, "dataset": None, "config": {}, "metrics": {}},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    model = tasks.get("single_label").build_from_bundle(config)
    weights = save({k: v.contiguous() for k, v in model.state_dict().items()})
    config["weights"] = {
        "file": fmt.WEIGHTS,
        "sha256": hashlib.sha256(weights).hexdigest(),
        "bytes": len(weights),
    }
    return config, weights


def header_of(weights: bytes) -> dict:
    """A safetensors file's header as a dict."""
    (n,) = struct.unpack("<Q", weights[:8])
    return json.loads(weights[8 : 8 + n])


def safetensors(header: dict | bytes, body: bytes, length: int | None = None) -> bytes:
    """A safetensors file from a header (a dict, or raw bytes) and a body; length may lie."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + body


def zip_of(files: dict[str, bytes]) -> bytes:
    """A deflated zip holding exactly these entries."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def bundle(
    config=None, weights=None, raw_config: bytes | None = None, rehash: bool = True, extra=None
) -> bytes:
    """The base bundle as zip bytes, config edited by a function, weights replaced (re-hashed)."""
    cfg, w = base()
    cfg = json.loads(json.dumps(cfg))
    if weights is not None:
        w = weights(w) if callable(weights) else weights
        if rehash:
            cfg["weights"].update(sha256=hashlib.sha256(w).hexdigest(), bytes=len(w))
    if config is not None:
        config(cfg)
    files = {
        "m/config.json": raw_config if raw_config is not None else json.dumps(cfg).encode(),
        "m/model.safetensors": w,
    }
    files.update(extra or {})
    return zip_of(files)


def config_text(**fields: str) -> bytes:
    """The base config.json as text with some fields' JSON replaced by raw text (NaN, huge ints)."""
    cfg = json.loads(json.dumps(base()[0]))
    marks = {}
    for i, (key, raw) in enumerate(fields.items()):
        path = key.split("__")
        target = cfg
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = f"@@{i}@@"
        marks[f'"@@{i}@@"'] = raw
    text = json.dumps(cfg)
    for mark, raw in marks.items():
        text = text.replace(mark, raw)
    return text.encode()


def lying_sizes(data: bytes, member: str, file_size: int) -> bytes:
    """A zip whose headers (local and central) claim file_size for member, the data unchanged."""
    out = bytearray(data)
    name = member.encode()
    pos = 0
    while (pos := out.find(b"PK\x03\x04", pos)) >= 0:
        n = struct.unpack("<H", out[pos + 26 : pos + 28])[0]
        if out[pos + 30 : pos + 30 + n] == name:
            out[pos + 22 : pos + 26] = struct.pack("<I", file_size)
        pos += 4
    pos = 0
    while (pos := out.find(b"PK\x01\x02", pos)) >= 0:
        n = struct.unpack("<H", out[pos + 28 : pos + 30])[0]
        if out[pos + 46 : pos + 46 + n] == name:
            out[pos + 24 : pos + 28] = struct.pack("<I", file_size)
        pos += 4
    return bytes(out)


def many_entries(n: int) -> bytes:
    """A zip whose central directory lists n empty entries (the end record says 65,535 at most),
    built directly: only the directory is there, as a parser reads it first."""
    head = struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0)
    directory = b"".join(head + b"m/%07d" % i for i in range(n))
    local = b"PK\x03\x04" + b"\0" * 26
    end = struct.pack(
        "<4s4H2IH", b"PK\x05\x06", 0, 0, min(n, 0xFFFF), min(n, 0xFFFF), len(directory), len(local), 0
    )
    return local + directory + end


def zip_entries(data: bytes) -> dict[str, bytes]:
    """A zip's files by name."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}


def _tensors(edit) -> bytes:
    """The base weights with each tensor replaced by edit(name, tensor), saved again."""
    from safetensors.torch import load, save

    return save({k: edit(k, v).contiguous() for k, v in load(base()[1]).items()})


def reshaped_weights() -> bytes:
    """The right tensor names, the first convolution's weight a different shape (one more filter)."""
    import torch

    return _tensors(lambda k, v: torch.zeros((v.shape[0] + 1, *v.shape[1:])) if k == "0.0.weight" else v)


def nan_weights() -> bytes:
    """The right names and shapes, one tensor full of NaN."""
    return _tensors(lambda k, v: v * float("nan") if k.endswith("bias") else v)


def weights_for(n_classes: int) -> bytes:
    """Untrained weights of the base architecture with n_classes outputs."""
    from safetensors.torch import save

    from core import tasks

    cfg = dict(base()[0], classes=[f"c{i}" for i in range(n_classes)], n_classes=n_classes)
    model = tasks.get("single_label").build_from_bundle(cfg)
    return save({k: v.contiguous() for k, v in model.state_dict().items()})


def _tensor(dtype="F32", shape=(1,), offsets=(0, 4)) -> dict:
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


def _import(data: bytes):
    from core.serving import upload

    return upload.import_bundle(data, "m.zip")


def _import_as(name: str | None, filename: str = "m.zip"):
    def act(data: bytes):
        from core.serving import upload

        return upload.import_bundle(data, filename, name=name)

    return act


def _rename(names: tuple[str, str]):
    from core.serving import library

    return library.rename(*names)


def _case(name, make, match, kind="bundle") -> Case:
    return Case(f"in_bundle_{name}", make, _import, match=match, kind=kind)


def _raw(text: bytes):
    return lambda t: bundle(raw_config=text)


def _weights(w):
    return lambda t: bundle(weights=w() if callable(w) else w)


def cases(import_formulas) -> list[Case]:
    """Bundles whose zip, config.json or weights lie (import_formulas: the accepted formula case)."""
    four = b"\0" * 4
    json_cases = [
        ("config_nested_100k", b"[" * 100_000 + b"]" * 100_000, "nests .* deep"),
        ("config_int_5000_digits", config_text(schema_version="1" + "0" * 5000), "5,001 digits"),
        ("config_nan", config_text(input__mean="[NaN]"), "NaN"),
        ("config_infinity", config_text(input__std="[Infinity]"), "Infinity"),
        ("config_float_overflow", config_text(input__std="[1e999]"), "too large"),
        ("config_duplicate_keys", config_text(arch='"mnist_cnn", "arch": "resnet34"'), "key 'arch' twice"),
        ("config_not_utf8", b'{"format": "\xff\xfe"}', "not UTF-8"),
        ("config_lone_surrogate", b'{"a": "\xed\xa0\x80"}', "not UTF-8"),
        ("config_a_list", b"[1, 2]", "JSON object"),
        ("config_truncated_json", b'{"format": ', "not valid JSON"),
        ("config_unclosed_escaped_quotes", b'"' + b'\\"' * 400_000, "not valid JSON|JSON object"),
    ]
    out = [
        Case(f"in_bundle_{n}", lambda t, text=text: bundle(raw_config=text), _import, match=m, kind="json")
        for n, text, m in json_cases
    ]
    out += [
        _case(
            "config_declares_200mb",
            lambda t: lying_sizes(bundle(), "m/config.json", 200 * 2**20),
            "expands to 209,715,200",
        ),
        _case(
            "config_inflates_past_its_header",
            lambda t: lying_sizes(bundle(raw_config=b" " * (30 * 2**20)), "m/config.json", 900),
            "damaged|expands past",
        ),
        _case("size_as_text", lambda t: bundle(lambda c: c["input"].update(size="16")), "input size"),
        _case("size_huge", lambda t: bundle(lambda c: c["input"].update(size=2**70)), "input size"),
        _case(
            "nul_in_class_name", lambda t: bundle(lambda c: c.update(classes=["a\x00b", "c"])), "control char"
        ),
        _case(
            "ten_thousand_classes",
            lambda t: bundle(lambda c: c.update(classes=[f"c{i}" for i in range(10_000)], n_classes=10_000)),
            "between 2 and 1000",
        ),
        _case("directory_of_200k_entries", lambda t: many_entries(200_000), "refused without reading"),
        _case(
            "weights_a_zip_of_200k_entries",
            _weights(lambda: many_entries(200_000)),
            "not valid JSON|safetensors",
        ),
        _case("truncated_zip", lambda t: bundle()[:-300], "zip"),
        _case("pth_pickle", lambda t: pickle.dumps({"w": [1.0]}, protocol=2), "pickle"),
        _case("pickle_inside_zip", lambda t: bundle(extra={"m/model.pkl": b"\x80\x04N."}), "pickle"),
        _case(
            "entry_with_nul",
            lambda t: bundle(extra={"m/pre\x00dict.py": b"x"}),
            "strange name|NUL|does not contain",
        ),
        _case(
            "header_past_the_end",
            _weights(lambda: (len(base()[1]) + 100).to_bytes(8, "little") + base()[1][8:]),
            "truncated",
        ),
        _case(
            "header_length_2_63",
            _weights(lambda: (2**63).to_bytes(8, "little") + base()[1][8:]),
            "header claims",
        ),
        _case(
            "header_nested_deep",
            _weights(safetensors(b'{"a":' + b"[" * 50_000 + b"]" * 50_000 + b"}", b"")),
            "nests .* deep",
        ),
        _case(
            "header_int_5000_digits",
            _weights(
                safetensors(
                    b'{"a":{"dtype":"F32","shape":[1' + b"0" * 5000 + b'],"data_offsets":[0,4]}}', four
                )
            ),
            "digits",
        ),
        _case("header_not_json", _weights(safetensors(b"{not json}", four)), "not valid JSON|not JSON"),
        _case(
            "offsets_past_the_data",
            _weights(safetensors({"a": _tensor(offsets=(2**40, 2**40 + 4))}, four)),
            "gap|truncated",
        ),
        _case("shape_lies", _weights(safetensors({"a": _tensor(shape=(3,))}, four)), "should take"),
        _case(
            "shape_product_overflows",
            _weights(safetensors({"a": _tensor(shape=(2**62,) * 3)}, four)),
            "should take",
        ),
        _case("shape_negative", _weights(safetensors({"a": _tensor(shape=(-1,))}, four)), "invalid shape"),
        _case("dtype_unknown", _weights(safetensors({"a": _tensor(dtype="OBJECT")}, four)), "not accepted"),
        _case(
            "tensors_overlap",
            _weights(
                safetensors(
                    {"a": _tensor(shape=(2,), offsets=(0, 8)), "b": _tensor(shape=(2,), offsets=(4, 12))},
                    b"\0" * 12,
                )
            ),
            "overlaps",
        ),
        _case("names_do_not_fit", _weights(safetensors({"encoder.w": _tensor()}, four)), "do not fit"),
        _case("right_names_wrong_shapes", _weights(reshaped_weights), "shape"),
        _case("weights_nan", _weights(nan_weights), "NaN or infinite"),
        _case("checksum_lies", lambda t: bundle(weights=nan_weights(), rehash=False), "checksum"),
        Case(
            "in_bundle_rename_climbs_out",
            lambda t: ("../../etc", "x"),
            _rename,
            match="not a model name",
            kind="bundle",
        ),
        Case(
            "in_bundle_rename_to_nul",
            lambda t: ("m", "\x00\x00"),
            _rename,
            match="give the model a name",
            kind="bundle",
        ),
        Case(
            "in_bundle_import_as_nul_name",
            lambda t: bundle(),
            _import_as("\x00/.."),
            match="give the model a name",
            kind="bundle",
        ),
        Case(
            "in_bundle_import_formula_file_name",
            lambda t: bundle(),
            _import_as(None, "=cmd|' /C calc'!A0.zip"),
            "accepted",
            kind="bundle",
        ),
        Case(
            "in_bundle_formula_class_names",
            lambda t: bundle(
                lambda c: c.update(classes=list(FORMULAS), n_classes=len(FORMULAS)),
                weights=weights_for(len(FORMULAS)),
            ),
            import_formulas,
            expect="accepted",
            kind="bundle",
        ),
    ]
    return out
