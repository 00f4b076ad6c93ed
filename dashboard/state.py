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
DEFAULTS = {DATASET: _CFG.dataset, ARCH: _CFG.arch, RUN: None, LR_RUN: None, LR: _CFG.lr, LR_SUGGESTIONS: {}}


def init() -> None:
    """Give every key its default once per browser session."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)


# Results page
RESULTS_RUN = "results_run_id"  # the finished training run the Results page interprets
RESULTS_PLAN = "results_plan"  # the plan awaiting confirmation after "Apply…" (a dict), or None
RESULTS_NOTICE = "results_notice"  # (kind, text, details) of the last apply or undo, shown once
DEFAULTS.update({RESULTS_RUN: None, RESULTS_PLAN: None, RESULTS_NOTICE: None})


# Data page
AUGMENT = "data_augment"  # the augmentation chosen on the Data page (Augment's fields); Train uses it
DATA_NOTICE = "data_notice"  # {"text", "skipped"} of the dataset just added, shown once
DOWNLOAD_JOB = "download_job_id"  # the catalogue download the Data page follows
DEFAULTS.update({AUGMENT: _CFG.aug.__dict__.copy(), DATA_NOTICE: None, DOWNLOAD_JOB: None})


# Models and Predict pages
PREDICT_MODEL = "predict_model"  # name of the saved model the Predict page uses (Models sets it)
PREDICT_THRESHOLD = "predict_threshold"  # below this probability the answer is "not sure"
MODELS_NOTICE = "models_notice"  # (kind, text) of the last import, rename or delete, shown once
DEFAULTS.update({PREDICT_MODEL: None, PREDICT_THRESHOLD: 0.5, MODELS_NOTICE: None})
