"""AppTest helpers shared by the page tests: open the dashboard on a page, as a person would."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "app.py")


def open_page(page: str, timeout: float = 60, **session) -> AppTest:
    """Start the app from its entry script, seed session keys, switch to page; no exception."""
    at = AppTest.from_file(APP, default_timeout=timeout).run()
    for key, value in session.items():
        at.session_state[key] = value
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at
