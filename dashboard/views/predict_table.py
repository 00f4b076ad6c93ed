"""The Predict page for a table model: a form with one control per input column and the answer (a class
with its probabilities, or a value), and a CSV batch with a results download.

core.serving.predict_table does the processing and the prediction, exactly as training did; this
module only draws the inputs and the answers. Each control's key carries the model's weights hash,
so another model starts from its own defaults.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from core.errors import UserError
from core.fsutil import frame_csv_bytes
from core.serving import predict
from core.serving.library import ModelInfo
from dashboard import figures
from dashboard.markup import html_text, md
from dashboard.text import sections

TEXT = sections("predict_table")  # assets/text/predict_table.md (tables and ratings)
FIELD = "predict_table_field"  # + weights hash + column index: the form's control of that column
CSV = "predict_table_csv"  # the batch CSV uploader
_BATCH = "_predict_table_batch"  # (key, result frame or the refusal's text) of the last CSV batch
TOP_K = 10  # classes shown in the probability bars at most
FORM_COLUMNS = 3  # controls side by side
ANSWERS = ("predicted", "probability", "notes")  # the columns the model adds, besides each p(class)


def field_key(info: ModelInfo, index: int) -> str:
    """The session key of the form's control for input column number index."""
    return f"{FIELD}_{info.sha256[:16]}_{index}"


def is_classifier(info: ModelInfo) -> bool:
    """True when the model answers with a class (else with a number)."""
    return info.task == "tabular_classification"


def target_name(info: ModelInfo) -> str:
    """The column the model predicts."""
    return str((info.state or {}).get("target") or (info.classes[0] if info.classes else "target"))


def caption(info: ModelInfo, fields) -> str:
    """What the model takes and gives, in a sentence."""
    n_cat = sum(f.kind == "cat" for f in fields)
    inputs = f"{len(fields)} input columns ({n_cat} categorical, {len(fields) - n_cat} continuous)"
    if is_classifier(info):
        shown = ", ".join(md(c) for c in info.classes[:12]) + (" …" if len(info.classes) > 12 else "")
        return (
            f"{inputs} in; one of {len(info.classes)} classes of **{md(target_name(info))}** out ({shown})."
        )
    return f"{inputs} in; a value of **{md(target_name(info))}** out."


def counted_columns(info: ModelInfo) -> set[str]:
    """The categorical columns whose training counts the model kept (its form starts at the commonest)."""
    return {
        str(c.get("name"))
        for c in (info.state or {}).get("cat", [])
        if isinstance(c, dict) and isinstance(c.get("counts"), list)
    }


def category_help(counted: bool) -> str:
    """The help of a category's control: where the form starts it (predict_table.form_fields' default)."""
    if counted:
        return "A category seen in training; the form starts at the most frequent one in the training rows."
    return (
        "A category seen in training; the form starts at the first one known, as this model did not keep "
        "how often each appeared."
    )


def form(info: ModelInfo, fields) -> dict:
    """One control per input column (its vocabulary or a number), starting where
    predict_table.form_fields says: the training's most frequent category (when the model kept the
    counts) or median; the row they make, by column name."""
    row = {}
    counted = counted_columns(info)
    cols = st.columns(FORM_COLUMNS)
    for i, field in enumerate(fields):
        where = cols[i % FORM_COLUMNS]
        key = field_key(info, i)
        if field.kind == "cat":
            choices = [str(c) for c in (field.choices or [])]
            if st.session_state.get(key) not in choices:
                st.session_state[key] = str(field.default) if str(field.default) in choices else choices[0]
            row[field.name] = where.selectbox(
                field.name, choices, key=key, help=category_help(field.name in counted)
            )
        else:
            if key not in st.session_state:
                st.session_state[key] = float(field.default)
            row[field.name] = where.number_input(
                field.name, key=key, format="%g", help="A number; training's median is the default."
            )
    return row


def probability_columns(result: pd.DataFrame, classes: list[str]) -> dict[str, str]:
    """{class: the result's column holding its probability} (predict_table names them p(class))."""
    return {c: f"p({c})" for c in classes if f"p({c})" in result.columns}


def show_answer(info: ModelInfo, result: pd.DataFrame) -> None:
    """The model's answer for one row: the class and its probabilities, or the value."""
    row = result.iloc[0]
    if is_classifier(info):
        probs = {c: float(row[col]) for c, col in probability_columns(result, info.classes).items()}
        left, right = st.columns([1, 2])
        best = str(row["predicted"])
        left.metric("Prediction", best, help=f"The most likely class of {target_name(info)}.")
        if best in probs:
            left.caption(f"at {probs[best]:.1%}")
        top = sorted(probs.items(), key=lambda kv: -kv[1])[:TOP_K]
        right.plotly_chart(
            figures.probability_bars([(html_text(c), p) for c, p in top]),
            key="predict_table_probs",
            config={"displaylogo": False},
        )
        right.caption(TEXT["probabilities"])
    else:
        st.metric(
            f"Predicted {target_name(info)}",
            f"{float(row['predicted']):.4g}",
            help="In the target's own units.",
        )
    note = row.get("notes") if "notes" in result.columns else None
    if isinstance(note, str) and note:
        st.caption(md(note))


def answers_first(info: ModelInfo, result: pd.DataFrame) -> pd.DataFrame:
    """The batch's results with the model's answers first (the prediction, its probability, the notes),
    then the uploaded columns as they came, then each class's probability."""
    added = [c for c in ANSWERS if c in result.columns]
    per_class = list(probability_columns(result, info.classes).values()) if is_classifier(info) else []
    rest = [c for c in result.columns if c not in added and c not in per_class]
    return result[added + rest + per_class]


def agreement(info: ModelInfo, result: pd.DataFrame) -> str:
    """When the uploaded rows hold the target too, how far the answers agree with it (a sentence)."""
    target = target_name(info)
    if target not in result.columns or target == "predicted":
        return ""
    known = result[result[target].notna()]
    if not len(known):
        return ""
    if is_classifier(info):
        share = float((known[target].astype(str) == known["predicted"].astype(str)).mean())
        return (
            f"The rows hold **{md(target)}** too: the model agrees with it on {share:.1%} of the "
            f"{len(known):,} rows that have it."
        )
    actual = pd.to_numeric(known[target], errors="coerce")
    ok = actual.notna() & known["predicted"].notna()
    if not ok.any():
        return ""
    rmse = float(np.sqrt(((actual[ok] - known["predicted"][ok]) ** 2).mean()))
    return (
        f"The rows hold **{md(target)}** too: the predictions' RMSE against it is {rmse:.4g} over "
        f"{int(ok.sum()):,} rows."
    )


def batch(loaded: predict.LoadedModel) -> None:
    """A CSV of rows in; the results table (answers first, every uploaded column kept) with a
    download (fsutil.frame_csv_bytes: formula-looking cells neutralised)."""
    from core.serving import predict_table

    upload = st.file_uploader("Rows (CSV)", type=["csv", "txt"], key=CSV, help=TEXT["batch_file"])
    if upload is None:
        return
    data = upload.getvalue()
    key = hashlib.sha256(loaded.info.sha256.encode() + data).hexdigest()
    cached = st.session_state.get(_BATCH)
    if cached is None or cached[0] != key:
        try:
            with st.spinner("Reading the file and predicting every row…"):
                cached = (key, predict_table.predict_csv(loaded, data))
        except UserError as e:
            cached = (key, str(e))
        st.session_state[_BATCH] = cached
    result = cached[1]
    if isinstance(result, str):
        st.error(result)
        return
    st.write(f"**{len(result)} rows** predicted.")
    shown = answers_first(loaded.info, result)
    percent = st.column_config.NumberColumn(format="percent")
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_config={
            "predicted": st.column_config.Column(f"predicted {target_name(loaded.info)}", pinned=True),
            "probability": percent,
            **dict.fromkeys(probability_columns(result, loaded.info.classes).values(), percent),
        },
    )
    said = agreement(loaded.info, result)
    if said:
        st.caption(said)
    st.download_button(
        "Download results (CSV)",
        data=frame_csv_bytes(shown),
        file_name=f"predictions_{loaded.info.name}.csv",
        mime="text/csv",
        on_click="ignore",
        key="predict_table_download",
        icon=":material/table_view:",
        help=TEXT["download"],
    )


def show(loaded: predict.LoadedModel) -> None:
    """The whole view: what the model takes, the one-row form and its answer, the CSV batch."""
    from core.serving import predict_table

    info = loaded.info
    st.caption(TEXT["table_intro"])
    try:
        fields = predict_table.form_fields(info)
    except UserError as e:
        st.error(str(e))
        return
    st.caption(caption(info, fields))
    st.subheader("One row")
    st.caption(TEXT["form"])
    row = form(info, fields)
    try:
        result = predict_table.predict_rows(loaded, pd.DataFrame([row]))
    except UserError as e:
        st.error(str(e))
    else:
        show_answer(info, result)
    st.subheader("Many rows")
    st.caption(TEXT["batch"])
    batch(loaded)
