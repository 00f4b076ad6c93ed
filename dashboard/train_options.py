"""The Train form's controls for a task's own settings (its Options fields), and the embedding
size each categorical column of a table gets.

Each control is keyed OPTION_PREFIX + the option's name; a control that does not apply now
(Huber's delta under another loss, layers for the dot-product model) is not drawn, and its
option keeps its default.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from core.errors import UserError
from core.tasks.multi_label import THRESHOLD_RANGE
from core.tasks.tabular import LOSSES
from dashboard.markup import md
from dashboard.text import sections

TEXT = sections("train")  # every control's sentence, from assets/text/train.md
OPTION_PREFIX = "cfg_opt_"  # + a task option's name: that option's control (e.g. cfg_opt_threshold)
LABEL_SMOOTHING, THRESHOLD = OPTION_PREFIX + "label_smoothing", OPTION_PREFIX + "threshold"
LAYERS, PS, EMBED_P = OPTION_PREFIX + "layers", OPTION_PREFIX + "ps", OPTION_PREFIX + "embed_p"
LOSS, HUBER_DELTA, Y_RANGE = OPTION_PREFIX + "loss", OPTION_PREFIX + "huber_delta", OPTION_PREFIX + "y_range"
N_FACTORS = OPTION_PREFIX + "n_factors"
LOSS_NAMES = {"mse": "MSE", "mae": "MAE (L1)", "huber": "Huber"}


def persisted(key: str) -> dict:
    """Widget options that keep a value across page switches under a state key."""
    return {"key": key, "persist_state": "session"}


def _label_smoothing(task, arch: str) -> float:
    return st.slider(
        "Label smoothing", 0.0, 0.5, step=0.05, **persisted(LABEL_SMOOTHING), help=TEXT["label_smoothing"]
    )


def _threshold(task, arch: str) -> float:
    value = st.slider(
        "Threshold",
        *THRESHOLD_RANGE,
        step=0.01,
        format="%.2f",
        **persisted(THRESHOLD),
        help=TEXT["threshold"],
    )
    st.caption(TEXT["threshold_effect"].format(threshold=value))
    return value


def _layers(task, arch: str) -> str | None:
    if task.name == "collaborative" and arch != "neural_collab":
        return None  # the dot product has no hidden layers
    return st.text_input("Layers", **persisted(LAYERS), help=TEXT["layers"])


def _ps(task, arch: str) -> float:
    return st.slider("Dropout", 0.0, 0.9, step=0.05, **persisted(PS), help=TEXT["ps"])


def _embed_p(task, arch: str) -> float:
    return st.slider("Embedding dropout", 0.0, 0.9, step=0.05, **persisted(EMBED_P), help=TEXT["embed_p"])


def _loss(task, arch: str) -> str:
    return st.radio(
        "Loss",
        list(LOSSES),
        horizontal=True,
        format_func=LOSS_NAMES.get,
        captions=list(LOSSES.values()),
        **persisted(LOSS),
        help=TEXT["loss"],
    )


def _huber_delta(task, arch: str) -> float | None:
    if st.session_state.get(LOSS) != "huber":
        return None
    return st.number_input(
        "Huber delta (standard deviations of the target)",
        min_value=0.01,
        max_value=100.0,
        step=0.1,
        format="%.2f",
        **persisted(HUBER_DELTA),
        help=TEXT["huber_delta"],
    )


def _y_range(task, arch: str) -> bool:
    words = "ratings'" if task.name == "collaborative" else "target's"
    return st.toggle(
        f"Keep predictions within the {words} range (y_range)",
        **persisted(Y_RANGE),
        help=TEXT["y_range_collab" if task.name == "collaborative" else "y_range"],
    )


def _n_factors(task, arch: str) -> int:
    return int(
        st.number_input(
            "Factors", min_value=1, max_value=1024, step=10, **persisted(N_FACTORS), help=TEXT["n_factors"]
        )
    )


OPTION_CONTROLS = {  # option → its control: (task, arch) → a value, or None when it does not apply now
    "label_smoothing": _label_smoothing,
    "threshold": _threshold,
    "n_factors": _n_factors,
    "layers": _layers,
    "ps": _ps,
    "embed_p": _embed_p,
    "loss": _loss,
    "huber_delta": _huber_delta,
    "y_range": _y_range,
}


def option_controls(task, arch: str = "") -> dict:
    """A control for each of the task's own settings (its Options fields); {name: value}.

    A field without a control here, or whose control does not apply now, keeps its default (it is
    left out of the returned dict).
    """
    out = {}
    for f in dataclasses.fields(task.Options):
        control = OPTION_CONTROLS.get(f.name)
        value = control(task, arch) if control else None
        if value is not None:
            out[f.name] = value
    return out


def embedding_table(dataset: str) -> tuple[pd.DataFrame, int]:
    """(column, categories, embedding size) per categorical column, and the number of continuous
    columns, from the dataset's processing (fitted once per data version: model_view.processing)."""
    from core.data import table_procs
    from dashboard import model_view

    procs = model_view.processing(dataset).procs
    rows = [{"column": c, "categories": n, "embedding size": s} for c, n, s in table_procs.emb_sizes(procs)]
    return pd.DataFrame(rows, columns=["column", "categories", "embedding size"]), len(procs.conts)


def embedding_sizes(dataset: str) -> None:
    """The embedding each categorical column gets (fastai's rule) and what the first layer takes in."""
    st.markdown("**Embedding sizes**")
    try:
        table, n_cont = embedding_table(dataset)
    except UserError as e:
        st.error(md(e))
        return
    if not len(table):
        st.caption(TEXT["no_embeddings"].format(n_cont=n_cont))
        return
    st.caption(TEXT["emb_sizes"])
    st.dataframe(table, hide_index=True, key="train_emb_sizes")
    width = int(table["embedding size"].sum()) + n_cont
    st.caption(TEXT["first_layer"].format(emb=int(table["embedding size"].sum()), n_cont=n_cont, width=width))
