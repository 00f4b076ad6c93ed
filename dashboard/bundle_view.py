"""Saving a finished run as a model bundle, and the library's tables and download buttons."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from core.errors import UserError
from core.jobs.store import Job
from core.serving import bundle
from dashboard import state

PREDICT_PAGE = "../pages/predict.py"
LIBRARY_PAGE = "../pages/library.py"


def size_text(n: int) -> str:
    """Bytes in words: 1.2 MB, 310 KB."""
    if n >= 2**20:
        return f"{n / 2**20:.1f} MB"
    return f"{max(1, round(n / 1024))} KB"


def date_text(iso: str) -> str:
    """An ISO time as local 'YYYY-MM-DD HH:MM'."""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def library_table(models: list[bundle.ModelInfo]) -> pd.DataFrame:
    """One row per saved model: name, dataset, architecture, accuracy, date, size, classes."""
    rows = [
        {
            "name": m.name,
            "dataset": m.dataset or "—",
            "architecture": m.arch,
            "accuracy": m.accuracy,
            "saved": date_text(m.created),
            "size": size_text(m.bytes),
            "classes": m.n_classes,
            "input": f"{m.size}×{m.size}, {'grey' if m.channels == 1 else 'colour'}",
        }
        for m in models
    ]
    return pd.DataFrame(
        rows, columns=["name", "dataset", "architecture", "accuracy", "saved", "size", "classes", "input"]
    )


def download_buttons(name: str, key: str) -> None:
    """Download the bundle zip and the generated predict.py (built only when clicked)."""
    left, right = st.columns(2)
    left.download_button(
        "Download bundle (.zip)",
        data=lambda: bundle.zip_bytes(name),
        file_name=f"{name}.zip",
        mime="application/zip",
        on_click="ignore",
        key=f"{key}_zip",
        icon=":material/download:",
        help="The weights (safetensors), config.json and predict.py in one zip: import it on "
        "another playground, or use it from your own Python code.",
    )
    right.download_button(
        "Download predict.py",
        data=bundle.script_text(),
        file_name="predict.py",
        mime="text/x-python",
        on_click="ignore",
        key=f"{key}_script",
        icon=":material/code:",
        help="A short script that loads a bundle and predicts one image with torch, "
        "safetensors and Pillow: the way to embed the model in an application.",
    )
    st.caption(
        "Unzip the bundle and run `python predict.py photo.png` inside its folder "
        "(torch, safetensors and Pillow needed; mnist_cnn runs anywhere, the other "
        "architectures import `core.train.models` from this playground's checkout)."
    )


def model_details(info: bundle.ModelInfo) -> None:
    """What a saved model is: classes, input, training figures, versions and weights hash."""
    cols = st.columns(4)
    acc = info.accuracy
    cols[0].metric(
        "accuracy",
        f"{acc:.2%}" if acc is not None else "—",
        help="Share of the validation images it classified correctly after training.",
    )
    cols[1].metric("classes", info.n_classes, help="How many classes it tells apart.")
    cols[2].metric(
        "input",
        f"{info.size}×{info.size}",
        help="Every image is centre-cropped and resized to this many pixels.",
    )
    cols[3].metric("size", size_text(info.bytes), help="Weights, config and script on disk.")
    st.caption(
        f"Architecture **{info.arch}**, trained on **{info.dataset or 'unknown data'}**"
        f"{f' (run {info.run_id})' if info.run_id is not None else ''}; "
        f"{'grey' if info.channels == 1 else 'colour'} input; saved {date_text(info.created)}."
    )
    st.text("Classes: " + ", ".join(info.classes))
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


def save_model_controls(job: Job) -> None:
    """ "Save model" under a finished run, then the bundle and predict.py downloads."""
    st.markdown("**Keep this model**")
    saved = bundle.saved_from(job)
    if not saved:
        form = st.empty()
        with form.container():
            name = st.text_input(
                "Model name",
                value=bundle.default_name(job),
                key=f"save_name_{job.id}",
                max_chars=64,
                help="The name it gets in the model library: letters, digits, - and _.",
            )
            clicked = st.button(
                "Save model",
                key=f"save_model_{job.id}",
                icon=":material/save:",
                help="Write the weights (safetensors) and a config into the model library, so "
                "you can download it and use it on the Predict page.",
            )
        if not clicked:
            return
        try:
            saved = [bundle.save_run(job, name)]
        except UserError as e:
            st.error(str(e))
            return
        form.empty()
        st.session_state[state.PREDICT_MODEL] = saved[0].name
    info = saved[0]
    st.success(f"Saved as {info.name} in the model library.", icon=":material/inventory_2:")
    download_buttons(info.name, key=f"run{job.id}")
    left, right = st.columns(2)
    left.page_link(PREDICT_PAGE, label="Try it on the Predict page", icon=":material/image_search:")
    right.page_link(LIBRARY_PAGE, label="See the model library", icon=":material/inventory_2:")
