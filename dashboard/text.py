"""Teaching text the pages show, read from assets/text/*.md so it can be edited without code."""

from __future__ import annotations

import functools
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets"
TEXT = ASSETS / "text"


@functools.cache
def text(name: str) -> str:
    """The markdown of assets/text/<name>.md, without its trailing newline.

    A missing file is a bug in the program, not something a user did, so it raises.
    """
    return (TEXT / f"{name}.md").read_text(encoding="utf-8").rstrip("\n")


@functools.cache
def sections(name: str) -> dict[str, str]:
    """The `## key` sections of assets/text/<name>.md as {key: markdown} (for control help).

    One file per page keeps a page's sentences together; each control's help is one section.
    """
    out: dict[str, list[str]] = {}
    key = None
    for line in text(name).splitlines():
        if line.startswith("## "):
            key = line[3:].strip()
            out[key] = []
        elif key is not None:
            out[key].append(line)
    return {k: "\n".join(v).strip() for k, v in out.items()}
