"""JSON a person handed in, parsed without trusting it: the one bounded JSON reader.

Python's json module parses whatever it is given: a file nested 100,000 deep raises
RecursionError, an integer 5,000 digits long raises ValueError (the interpreter's int-str
limit), NaN and Infinity are accepted although JSON has neither, and a key given twice silently
keeps the last value (other readers keep the first). `loads` refuses each of these, and a text
larger than its limit, with a UserError (or the caller's subclass of it) whose sentence names the
file, before anything else reads the value. The depth is measured before parsing, so no hostile
text ever reaches a recursive parser.

Use it for every JSON that came from outside the program: a bundle's config.json, a safetensors
header, a workspace file that a person may have edited (dataset.json, a saved model's config).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.fsutil import MB, human_size

MAX_BYTES = 1 * MB
MAX_DEPTH = 64  # objects and lists inside each other; our own files nest fewer than 10 deep
MAX_DIGITS = 40  # an integer's digits; 2**64 has 20, a safetensors offset fits easily

# A string, escapes included; possessive, so an unclosed string costs one pass, not one per quote
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class _Refused(Exception):
    """Raised inside a parse hook; turned into the caller's error with its sentence."""


def depth(data: bytes) -> int:
    """How deeply objects and lists nest in a JSON text (its strings skipped), without parsing it."""
    brackets = _STRING.sub(b'""', data).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(_STEP[b] for b in brackets), default=0)


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise _Refused(f"holds a whole number {len(text):,} digits long (at most {MAX_DIGITS} are read)")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"holds the number {text[:20]}{'…' if len(text) > 20 else ''}, too large to use")
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"holds {name}, which is not a JSON number")


def _object(pairs: list[tuple[str, Any]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _Refused(f"gives the key {twice[:40]!r} twice, so which value holds is unclear")
    return out


def loads(
    data: bytes | str,
    shown: str = "The JSON file",
    *,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    error: type[UserError] = UserError,
) -> Any:
    """Parse JSON from outside the program within limits; `error` (a UserError) says why not.

    Refused: more than max_bytes, not UTF-8, not JSON, nested more than max_depth deep, integers
    longer than MAX_DIGITS digits, NaN, Infinity or a float too large, a key given twice.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise error(f"{shown} is {human_size(len(raw))}, more than the {human_size(max_bytes)} allowed.")
    found = depth(raw)
    if found > max_depth:
        raise error(f"{shown} nests lists or objects {found:,} deep; at most {max_depth} are read.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{shown} is not UTF-8 text (byte {e.start + 1:,} is 0x{raw[e.start]:02X}).") from e
    try:
        return json.loads(
            text,
            parse_int=_int,
            parse_float=_float,
            parse_constant=_constant,
            object_pairs_hook=_object,
        )
    except _Refused as e:
        raise error(f"{shown} {e}; refused.") from None
    except (ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError
        raise error(f"{shown} is not valid JSON ({str(e)[:200]}).") from None


def read(path: Path, shown: str | None = None, **limits: Any) -> Any:
    """`loads` of a file on disk, its size checked before it is read (a missing file: the error)."""
    path, error = Path(path), limits.get("error", UserError)
    shown = shown or path.name
    max_bytes = limits.get("max_bytes", MAX_BYTES)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{shown} is {human_size(size)}, more than the {human_size(max_bytes)} allowed.")
        data = path.read_bytes()
    except OSError as e:
        raise error(f"{shown} cannot be read: {e.strerror or e}.") from e
    return loads(data, shown, **limits)
