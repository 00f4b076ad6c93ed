"""The bounded JSON reader: what Python's json accepts or crashes on is refused in a sentence."""

from __future__ import annotations

import pytest

from core import safejson
from core.errors import UserError
from core.serving.format import BundleError


def test_plain_json_reads_as_json_does():
    text = b'{"a": [1, -2.5, "x[{", {"b": null}], "c": true, "big": 18446744073709551616}'
    assert safejson.loads(text) == {"a": [1, -2.5, "x[{", {"b": None}], "c": True, "big": 2**64}


@pytest.mark.parametrize(
    "text, says",
    [
        (b"[" * 100_000 + b"]" * 100_000, "nests lists or objects 100,000 deep"),
        (b'{"n": ' + b"7" * 5000 + b"}", "5,000 digits"),
        (b'{"n": NaN}', "NaN"),
        (b'{"n": -Infinity}', "-Infinity"),
        (b'{"n": 1e400}', "too large"),
        (b'{"k": 1, "k": 2}', "key 'k' twice"),
        (b'{"k": "\xff"}', "not UTF-8"),
        (b'{"k": ', "not valid JSON"),
    ],
)
def test_what_json_would_crash_on_or_take_silently_is_refused(text, says):
    with pytest.raises(UserError, match=says):
        safejson.loads(text, "config.json")


def test_brackets_inside_strings_do_not_count_as_depth():
    text = '{"s": "' + "[" * 1000 + '\\"' + "{" * 1000 + '"}'
    assert safejson.loads(text)["s"].startswith("[[[")


def test_the_size_limit_and_the_callers_error_type():
    with pytest.raises(BundleError, match="more than the 10 bytes allowed"):
        safejson.loads(b'{"a": "long enough"}', "config.json", max_bytes=10, error=BundleError)


def test_read_refuses_a_missing_or_oversized_file_in_a_sentence(tmp_path):
    with pytest.raises(UserError, match="cannot be read"):
        safejson.read(tmp_path / "absent.json")
    big = tmp_path / "big.json"
    big.write_bytes(b"[" + b"0," * 1000 + b"0]")
    with pytest.raises(UserError, match="more than"):
        safejson.read(big, max_bytes=100)
    assert safejson.read(big)[:2] == [0, 0]


def test_an_unclosed_string_of_escaped_quotes_is_measured_in_one_pass():
    import time

    text = '"' + '\\"' * 400_000  # 800 KB: each \" used to start a scan to the end of the text
    start = time.process_time()
    with pytest.raises(UserError):
        safejson.loads(text)
    assert time.process_time() - start < 1.0
    assert safejson.depth(b'["x", "[", "a\\"[b"]') == 1
