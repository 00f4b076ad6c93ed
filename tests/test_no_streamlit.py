"""The engine (core/) never imports Streamlit, so the worker and the CLI run without it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import subprocess_env

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"


def _streamlit_imports(source: str, filename: str) -> list[int]:
    """Line numbers where source imports streamlit (or a submodule of it)."""
    lines = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if called in ("import_module", "__import__") and isinstance(first, ast.Constant):
                names = [str(first.value)]
        if any(n == "streamlit" or n.startswith("streamlit.") for n in names):
            lines.append(node.lineno)
    return lines


def test_the_scanner_finds_every_form_of_import():
    source = (
        "import os, streamlit as st\n"
        "from streamlit.testing.v1 import AppTest\n"
        "import importlib\n"
        "importlib.import_module('streamlit')\n"
        "def f():\n"
        "    import streamlit\n"
        "from . import streamlit_helpers\n"
        "import streamlit_extras_lookalike\n"
    )
    assert _streamlit_imports(source, "example.py") == [1, 2, 4, 6]


def test_no_module_under_core_imports_streamlit():
    files = sorted(CORE.rglob("*.py"))
    assert CORE / "train" / "training.py" in files
    offenders = {
        str(path.relative_to(ROOT)): lines
        for path in files
        if (lines := _streamlit_imports(path.read_text(encoding="utf-8"), str(path)))
    }
    assert offenders == {}


def test_importing_the_engine_does_not_load_streamlit():
    code = (
        "import core.cli, core.jobs.store, core.jobs.worker, core.train.training, core.train.lr_find; "
        "import core.data.loaders; "
        "import sys; print('streamlit' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"
