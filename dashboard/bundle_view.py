"""Saving a finished run as a model bundle, and the library's tables and download buttons."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from core.errors import UserError
from core.fsutil import human_size
from core.jobs.store import Job
from core.serving import export, library
from core.serving.format import script_text
from dashboard import identity, state
from dashboard.markup import md
from dashboard.text import sections

PREDICT_PAGE = "../pages/predict.py"
LIBRARY_PAGE = "../pages/library.py"


def date_text(iso: str) -> str:
    """An ISO time as local 'YYYY-MM-DD HH:MM'."""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def task_title(task: str) -> str:
    """A task's name as a person reads it (the registry's title)."""
    from core import tasks

    return tasks.get(task).title if task in tasks.TASKS else task


FIGURE_NAMES = {
    "f1_macro": "macro F1",
    "mean_iou": "mean IoU",
    "accuracy_multi": "accuracy (multi)",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
}


def score_text(info: library.ModelInfo, short: bool = False) -> str:
    """The model's main figure as its task writes it (a share for accuracy, a number for RMSE)."""
    from core import tasks

    score = info.score
    if score is None:
        return "—"
    fmt = tasks.get(info.task).metric_format if info.task in tasks.TASKS else "{:.2%}"
    return ("{:.1%}" if short and fmt == "{:.2%}" else fmt).format(score)


def figure_name(metric: str) -> str:
    """A metric's name as a person reads it (macro F1, mean IoU, accuracy)."""
    return FIGURE_NAMES.get(metric, metric.replace("_", " "))


def main_figure(info: library.ModelInfo) -> str:
    """The model's main figure in words, e.g. "macro F1 91.2%" (— when unknown)."""
    return (
        f"{figure_name(info.main_metric)} {score_text(info, short=True)}" if info.score is not None else "—"
    )


def library_table(models: list[library.ModelInfo]) -> pd.DataFrame:
    """One row per saved model: name, task, dataset, architecture, main figure, date, size, classes."""
    rows = [
        {
            "name": m.name,
            "task": m.task.replace("_", "-"),
            "dataset": m.dataset or "—",
            "architecture": m.arch,
            "main figure": main_figure(m),
            "saved": date_text(m.created),
            "size": human_size(m.bytes),
            "classes": m.n_classes if m.task not in ("tabular_regression", "collaborative") else "—",
            "input": input_text(m),
        }
        for m in models
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "name",
            "task",
            "dataset",
            "architecture",
            "main figure",
            "saved",
            "size",
            "classes",
            "input",
        ],
    )


def input_text(info: library.ModelInfo) -> str:
    """What a model takes, in a few words: an image size, table columns, or users and items."""
    state = info.state
    if state is None:
        return f"{info.size}×{info.size}, {'grey' if info.channels == 1 else 'colour'}"
    if state.get("kind") == "ratings":
        users, items = (max(len(state.get(k, [])) - 1, 0) for k in ("users", "items"))  # "#na#" first
        return f"{users} users × {items} items"
    return f"{len(input_columns(info))} columns"


def input_columns(info: library.ModelInfo) -> list[str]:
    """The columns a table model reads from a row (the `_na` columns it makes itself left out)."""
    from core.serving.predict_table import procs_of

    try:
        return procs_of(info.state or {}).input_names
    except UserError:
        return []


def download_buttons(name: str, key: str, task: str | None = None) -> None:
    """Download the bundle zip and the generated predict.py (built only when clicked)."""
    help_text = sections("models")
    left, right = st.columns(2)
    left.download_button(
        "Download bundle (.zip)",
        data=identity.bound(lambda: library.zip_bytes(name)),
        file_name=f"{name}.zip",
        mime="application/zip",
        on_click="ignore",
        key=f"{key}_zip",
        icon=":material/download:",
        help=help_text["download_bundle"],
    )
    right.download_button(
        "Download predict.py",
        data=script_text(),
        file_name="predict.py",
        mime="text/x-python",
        on_click="ignore",
        key=f"{key}_script",
        icon=":material/code:",
        help=help_text["download_script"],
    )
    tabular = task in ("tabular_classification", "tabular_regression", "collaborative")
    st.caption(help_text["run_script_csv" if tabular else "run_script"])


def model_details(info: library.ModelInfo) -> None:
    """What a saved model is: task, classes (threshold or codes), input, figures, versions, hash."""
    cols = st.columns(4)
    cols[0].metric(
        figure_name(info.main_metric),
        score_text(info),
        help=_FIGURE_HELP.get(info.main_metric, "Its main figure on the validation data after training."),
    )
    cols[3].metric("size", human_size(info.bytes), help="Weights, config and script on disk.")
    trained = (
        f"Architecture **{info.arch}**, trained on **{md(info.dataset or 'unknown data')}**"
        f"{f' (run {info.run_id})' if info.run_id is not None else ''}"
    )
    if info.state is not None:  # a table or ratings model: its inputs are columns, users and items
        _table_details(info, cols, trained)
        return
    label, help_text = _OUTPUTS.get(info.task, _OUTPUTS["single_label"])
    cols[1].metric(label, info.n_classes, help=help_text)
    cols[2].metric(
        "input",
        f"{info.size}×{info.size}",
        help="Every image is centre-cropped and resized to this many pixels.",
    )
    st.caption(
        f"{trained}; {'grey' if info.channels == 1 else 'colour'} input; saved {date_text(info.created)}."
    )
    st.caption(f"Task: **{md(task_title(info.task))}**.")
    if info.task == "segmentation":
        st.text("Codes (mask value: class): " + ", ".join(f"{i} {c}" for i, c in enumerate(info.codes)))
    else:
        st.text(("Labels: " if info.task == "multi_label" else "Classes: ") + ", ".join(info.classes))
    if info.threshold is not None:
        st.text(
            f"Threshold: {info.threshold:.2f} (a label is given when its probability is above it; "
            "the Predict page can move it)"
        )
    with st.expander("Config details: normalisation, versions, weights hash"):
        st.json(
            {
                "mean": info.mean,
                "std": info.std,
                "sha256": info.sha256,
                "versions": info.versions,
                "training": info.training,
            },
            expanded=False,
        )


def _table_details(info: library.ModelInfo, cols, trained: str) -> None:
    """model_details for a table or ratings model: its input columns (or users and items)."""
    state = info.state or {}
    if state.get("kind") == "ratings":
        cols[1].metric(
            "users", max(len(state.get("users", [])) - 1, 0), help="Users it learned a vector for."
        )
        cols[2].metric(
            "items", max(len(state.get("items", [])) - 1, 0), help="Items it learned a vector for."
        )
    else:
        names = input_columns(info)
        cols[1].metric("input columns", len(names), help="Columns a row must give it.")
        outputs = len(info.classes) if info.task == "tabular_classification" else 1
        cols[2].metric("outputs", outputs, help="Classes it tells apart, or 1 for a value.")
    st.caption(f"{trained}; saved {date_text(info.created)}.")
    st.caption(f"Task: **{md(task_title(info.task))}**.")
    if state.get("kind") == "table":
        st.text(f"Target: {state.get('target')}; inputs: " + ", ".join(names))
        if info.task == "tabular_classification":
            st.text("Classes: " + ", ".join(info.classes))
    with st.expander("Config details: the processing state, versions, weights hash"):
        st.json({"sha256": info.sha256, "versions": info.versions, "training": info.training}, expanded=False)


_FIGURE_HELP = {
    "accuracy": "Share of the validation images it classified correctly after training.",
    "f1_macro": "The mean over the labels of F1 (the balance of precision and recall) on the validation "
    "images, at its threshold, after training.",
    "mean_iou": "The mean over the classes of the overlap between predicted and true masks "
    "(intersection over union) on the validation images, after training.",
}


_OUTPUTS = {  # the "classes" metric of each task: its label and help
    "single_label": ("classes", "How many classes it tells apart."),
    "multi_label": ("labels", "How many labels it answers, each on its own."),
    "segmentation": ("classes", "How many classes it gives pixels (its codes)."),
}


def save_model_controls(job: Job) -> None:
    """ "Save model" under a finished run, then the bundle and predict.py downloads."""
    st.markdown("**Keep this model**")
    saved = export.saved_from(job)
    if not saved:
        form = st.empty()
        with form.container():
            name = st.text_input(
                "Model name",
                value=export.default_name(job),
                key=f"save_name_{job.id}",
                max_chars=64,
                help="The name it gets in the model library: letters, digits, - and _.",
            )
            clicked = st.button(
                "Save model",
                key=f"save_model_{job.id}",
                icon=":material/save:",
                help=sections("models")["save_model"],
            )
        if not clicked:
            return
        try:
            saved = [export.save_run(job, name)]
        except UserError as e:
            st.error(str(e))
            return
        form.empty()
        st.session_state[state.PREDICT_MODEL] = saved[0].name
    info = saved[0]
    st.success(f"Saved as {info.name} in the model library.", icon=":material/inventory_2:")
    download_buttons(info.name, key=f"run{job.id}", task=info.task)
    left, right = st.columns(2)
    left.page_link(PREDICT_PAGE, label="Try it on the Predict page", icon=":material/image_search:")
    right.page_link(LIBRARY_PAGE, label="See the model library", icon=":material/inventory_2:")
