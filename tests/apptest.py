"""AppTest helpers shared by the page tests: open the dashboard on a page, as a person would,
and read its charts. ROOT and APP are the one definition of where the app lives."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "app.py")


def open_app(timeout: float = 60) -> AppTest:
    """Start the app from its entry script on its default page (Home); no exception."""
    at = AppTest.from_file(APP, default_timeout=timeout).run()
    assert not at.exception, at.exception
    return at


def open_page(page: str, timeout: float = 60, **session) -> AppTest:
    """Start the app from its entry script, seed session keys, switch to page; no exception."""
    at = open_app(timeout)
    for key, value in session.items():
        at.session_state[key] = value
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def chart_spec(at: AppTest, containing: str) -> dict:
    """The plotly spec of the first chart whose JSON mentions `containing`."""
    chart = next(c for c in at.get("plotly_chart") if containing in c.proto.spec)
    return json.loads(chart.proto.spec)


def values(array) -> list[float]:
    """A trace's numbers, whether plain JSON or plotly's base64 typed array."""
    import numpy as np

    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return [float(v) for v in array]
