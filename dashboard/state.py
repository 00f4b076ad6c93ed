"""Session-state keys, as constants, and their one initialiser."""

from __future__ import annotations

import streamlit as st

DATASET = "dataset"  # name of the dataset the pages work on
RUN = "run_id"  # the run (job id) the pages show

DEFAULTS = {DATASET: "digits", RUN: None}


def init() -> None:
    """Give every key its default once per browser session."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
