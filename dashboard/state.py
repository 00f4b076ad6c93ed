"""Session-state keys, as constants, and their one initialiser.

Cross-page choices live here: the current dataset, the current run, the chosen learning rate.
"""

from __future__ import annotations

import streamlit as st

from core.config import TrainConfig

DATASET = "dataset"  # name of the dataset the pages work on
ARCH = "arch"  # architecture chosen on the Train page (the LR finder and Model page follow it)
RUN = "run_id"  # the training run (job id) the Train page shows
LR_RUN = "lr_find_run_id"  # the lr_find job the LR finder page shows
LR = "train_lr"  # the Train page's learning rate (the LR finder's "Use this" writes it)
LR_SUGGESTIONS = "lr_suggestions"  # {name: lr} of the lr_find run shown

_CFG = TrainConfig()
DEFAULTS = {DATASET: _CFG.dataset, ARCH: _CFG.arch, RUN: None, LR_RUN: None, LR: _CFG.lr,
            LR_SUGGESTIONS: {}}


def init() -> None:
    """Give every key its default once per browser session."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
