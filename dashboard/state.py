"""Session-state keys, as constants, and their one initialiser.

Cross-page choices live here: the current dataset, the current run, the chosen learning rate.
So do the widget keys another module or a test reads (a widget's key is its state key); keys
used only inside one widget may stay local to it.
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


def stop_key(job_id: int) -> str:
    """The key of the job monitor's Stop button for one job (dashboard.widgets.job_monitor)."""
    return f"stop_{job_id}"


# Train page form (widget keys; "persist_state" keeps them across page switches)
LR_SLIDER, LR_NUMBER = "w_lr_slider", "w_lr_number"  # the learning rate's two controls
DISCRIMINATIVE, LR_LOW = "cfg_discriminative", "cfg_lr_low"  # slice(low, high) on, and its low end
BS, WD, EPOCHS = "cfg_bs", "cfg_wd", "cfg_epochs"
SCHEDULE, FREEZE, SEED = "cfg_schedule", "cfg_freeze", "cfg_seed"
TRAIN_AUGMENT = "cfg_augment"  # the Train page's Augmentation toggle (the Data page switches it on)


# LR finder page
LR_CHOSEN = "lr_find_chosen"  # (what was chosen, its value): the confirmation after "Use this"
LR_PICK = "lr_find_pick"  # the number input for a learning rate of one's own
USE_PICKED = "use_picked"  # the button that uses it


def use_key(suggestion: str) -> str:
    """The key of the "Use this learning rate" button of one suggestion (valley, slide…)."""
    return f"use_{suggestion}"


# Model page
MODEL_FROZEN = "model_frozen_groups"  # the freeze control: how many layer groups are frozen


# Results page
RESULTS_RUN = "results_run_id"  # the finished training run the Results page interprets
RESULTS_PLAN = "results_plan"  # the plan awaiting confirmation after "Apply…" (a dict), or None
RESULTS_NOTICE = "results_notice"  # (kind, text, details) of the last apply or undo, shown once
RESULTS_CM_SPLIT, RESULTS_CM_NORM = "results_cm_split", "results_cm_norm"  # the matrix's images, shares
RESULTS_CELL = "results_cell"  # the confusion-matrix cell whose images are shown, (actual, predicted)
RESULTS_CELL_CLICK = "results_cell_click"  # the last click on the matrix already handled
RESULTS_RANK = "results_rank"  # rank top losses by the model's loss or out-of-sample loss
RESULTS_K = "results_k"  # folds of the out-of-sample cross-validation
RESULTS_ACTUAL, RESULTS_PREDICTED = "results_f_actual", "results_f_predicted"  # top-loss filters
RESULTS_SPLIT, RESULTS_SHOW = "results_f_split", "results_f_show"
RESULTS_TOP_PAGES, RESULTS_CELL_PAGES = "results_top_pages", "results_cell_pages"  # pager prefixes
DEFAULTS.update({RESULTS_RUN: None, RESULTS_PLAN: None, RESULTS_NOTICE: None})
# Likely label errors (dashboard/views/results_issues.py: confident learning on the out-of-sample job)
RESULTS_LIKELY = "results_f_likely"  # the top-loss grid shows only the likely wrong labels
RESULTS_LI_METHOD = "results_li_method"  # the label-quality score that orders them
RESULTS_LI_CELL = "results_li_cell"  # the confident joint's cell whose images are shown, (given, true)
RESULTS_LI_CELL_CLICK = "results_li_cell_click"  # the last click on the joint already handled
RESULTS_LI_PAGES = "results_li_pages"  # the pager prefix of that cell's images


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


# Train page: early stopping and keep-best (TrainConfig.early_stop, patience, monitor, keep_best)
EARLY_STOP, PATIENCE, MONITOR, KEEP_BEST = "cfg_early_stop", "cfg_patience", "cfg_monitor", "cfg_keep_best"


# Runs page (the table, one run, a comparison)
RUNS_PICKED = "runs_picked"  # ids of the runs opened: one shows it, 2–10 compare them
RUNS_TABLE = "runs_table"  # the table's row selection (feeds RUNS_PICKED)
RUNS_F_DATASET, RUNS_F_ARCH = "runs_f_dataset", "runs_f_arch"  # filters
RUNS_F_STATE, RUNS_F_TEXT = "runs_f_state", "runs_f_text"
RUNS_SORT, RUNS_DESC = "runs_sort", "runs_desc"  # the column the table is sorted by, and the order
RUNS_NOTICE = "runs_notice"  # (kind, text) of the last rename, delete or queue, shown once
RUNS_UNDO = "runs_undo"  # ids of the runs last deleted, which "Undo" restores
RUNS_NAME, RUNS_NOTE = "runs_name", "runs_note"  # the open run's name and note inputs
RUNS_SEEDS = "runs_seeds"  # how many more seeds "Repeat with other seeds" queues
CONT_EPOCHS, CONT_LR, CONT_NEW_LR = "cont_epochs", "cont_lr", "cont_new_lr"  # Continue training
CONT_SCHEDULE, CONT_UNFREEZE = "cont_schedule", "cont_unfreeze"
COMPARE_X = "compare_x"  # the comparison's x-axis: epoch, batch or images seen
COMPARE_GROUPS = "compare_groups"  # the two seed groups whose difference is judged
DEFAULTS.update({RUNS_PICKED: [], RUNS_NOTICE: None, RUNS_UNDO: []})


# Sweep page
SWEEP = "sweep_id"  # the sweep the page follows
SWEEP_ARCHS, SWEEP_LR_ON, SWEEP_LR_LOW, SWEEP_LR_HIGH = "sw_archs", "sw_lr_on", "sw_lr_low", "sw_lr_high"
SWEEP_BS, SWEEP_WD, SWEEP_EPOCHS = "sw_bs", "sw_wd", "sw_epochs"
SWEEP_SAMPLER, SWEEP_BUDGET, SWEEP_NAME = "sw_sampler", "sw_budget", "sw_name"
SWEEP_NOTICE = "sweep_notice"  # (kind, text) after queuing or stopping, shown once
DEFAULTS.update({SWEEP: None, SWEEP_NOTICE: None})
TRAIN_NOTICE = "train_notice"  # where the form's settings just came from ("use these settings"), once
DEFAULTS.update({TRAIN_NOTICE: None})
