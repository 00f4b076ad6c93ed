"""The Results page for a multi-label run: the threshold and its effect, per-label scores, top losses
with their label sets, and marks that retag an image (core.analysis.multilabel does the sums).

The threshold is the page's one control over every figure: a label counts as predicted when its
probability is above it. It starts at the run's own threshold and moves without predicting again.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.analysis import multilabel
from core.analysis.marks import load_marks
from core.data.label_rows import current_tags
from core.tasks.multi_label import THRESHOLD_RANGE
from dashboard import cleaner, results_view, state
from dashboard.cleaner import UNMARKED, tag_text
from dashboard.markup import md
from dashboard.views import results_retrain

TEXT = results_view.TEXT
THRESHOLD = "results_threshold"  # + the run id: the threshold slider of that run
LABEL = "results_multi_label"  # the top-loss filter: images that have or are given this label
PAGES = "results_multi_pages"  # the top-loss grid's pager
CHOICES = (UNMARKED, "keep", "delete", "retag")
PREFIX = "multi"  # the grid's widget keys (cleaner.mark_key)
LOW = 0.01  # the diary's "what if the threshold is 1 %?"


def threshold_key(interp) -> str:
    """The session key of a run's threshold slider (keyed by the run's files, not its id alone)."""
    from core.runs import stamp

    return f"{THRESHOLD}_{hashlib.sha1(stamp(interp.run_id).encode()).hexdigest()[:16]}"


def current_threshold(interp) -> float:
    """The threshold the page shows now: the slider's, or the run's own before it is moved."""
    key = threshold_key(interp)
    if key not in st.session_state:
        st.session_state[key] = float(np.clip(round(interp.threshold, 2), 0.01, 0.99))
    return float(st.session_state[key])


def summary_metrics(interp, threshold: float) -> None:
    """accuracy_multi and macro F1 on the validation images at the threshold, and the image counts."""
    probs, targets = interp.part("valid")
    values = multilabel.scores(probs, targets, threshold) if len(probs) else {}
    splits = pd.Series(interp.splits).value_counts()
    c1, c2, c3, c4 = st.columns(4)
    acc, f1 = values.get("accuracy_multi"), values.get("f1_macro")
    c1.metric(
        "Validation accuracy_multi",
        f"{acc:.2%}" if acc is not None else "—",
        help=TEXT["accuracy_multi"],
    )
    c2.metric("Validation F1 (macro)", f"{f1:.2%}" if f1 is not None else "—", help=TEXT["f1_macro"])
    c3.metric("Validation images", int(splits.get("valid", 0)))
    c4.metric("Training images", int(splits.get("train", 0)))


def scores(interp) -> results_retrain.Scores:
    """Macro F1 at the run's own threshold and per-label F1, for the retrain comparison."""
    table = multilabel.per_label(interp, interp.threshold).rename(columns={"label": "class"})
    probs, targets = interp.part("valid")
    value = multilabel.scores(probs, targets, interp.threshold)["f1_macro"] if len(probs) else 0.0
    return results_retrain.Scores("Validation F1 (macro)", value, table, "f1")


def threshold_figure(curve: pd.DataFrame, best: float, chosen: float) -> go.Figure:
    """accuracy_multi and macro F1 against the threshold, the best F1 marked, the chosen one a line."""
    fig = go.Figure()
    fig.add_scatter(x=curve["threshold"], y=curve["accuracy_multi"], mode="lines", name="accuracy_multi")
    fig.add_scatter(x=curve["threshold"], y=curve["f1_macro"], mode="lines", name="F1 (macro)")
    peak = curve.iloc[int((curve["threshold"] - best).abs().idxmin())]
    fig.add_scatter(
        x=[best],
        y=[float(peak["f1_macro"])],
        mode="markers+text",
        name=f"best F1 at {best:.2f}",
        text=[f"best {best:.2f}"],
        textposition="top center",
        marker=dict(size=12, symbol="star"),
    )
    fig.add_vline(x=chosen, line_dash="dash", annotation_text=f"threshold {chosen:.2f}")
    return fig.update_layout(
        xaxis=dict(title="threshold", range=[0, 1]),
        yaxis=dict(title="on the validation images", range=[0, 1.05]),
        height=340,
        margin=dict(l=10, r=10, t=30, b=10),
        legend=dict(orientation="h"),
    )


def low_threshold_text(interp, threshold: float) -> str:
    """The answer to "what if the threshold is 1 %?", in figures from the validation images."""
    probs, targets = interp.part("valid")
    if not len(probs):
        return ""
    low, now = multilabel.scores(probs, targets, LOW), multilabel.scores(probs, targets, threshold)
    table = multilabel.per_label(interp, LOW)
    return TEXT["one_percent"].format(
        recall=float(np.nanmean(table["recall"])) if table["recall"].notna().any() else 0.0,
        precision=float(np.nanmean(table["precision"])) if table["precision"].notna().any() else 0.0,
        freq=float(np.asarray(targets, dtype=float).mean()),
        called=float((probs > LOW).mean()),
        acc=low["accuracy_multi"],
        f1=low["f1_macro"],
        compare=""
        if abs(threshold - LOW) < 1e-9
        else (
            f", against {now['accuracy_multi']:.1%} and {now['f1_macro']:.1%} at the slider's {threshold:.2f}"
        ),
    )


def threshold_section(interp) -> None:
    """The slider, the metrics against the threshold (best marked), and the 1 % answer."""
    key = threshold_key(interp)
    current_threshold(interp)
    curve = multilabel.threshold_curve(interp)
    best = multilabel.best_threshold(curve) if len(interp.part("valid")[0]) else interp.threshold
    left, right = st.columns([3, 1])
    threshold = left.slider(
        "Threshold",
        min_value=THRESHOLD_RANGE[0],
        max_value=THRESHOLD_RANGE[1],
        step=0.01,
        key=key,
        help=TEXT["threshold"],
    )

    def use_best() -> None:
        st.session_state[key] = best

    right.button(
        f"Use the best ({best:.2f})",
        on_click=use_best,
        icon=":material/target:",
        help=TEXT["best_threshold"],
    )
    st.plotly_chart(threshold_figure(curve, best, threshold), key="results_threshold_curve")
    st.caption(
        f"The run was trained with threshold {interp.threshold:.2f}; macro F1 peaks at {best:.2f} "
        "on these validation images (choosing it on them flatters it a little)."
    )
    st.markdown(low_threshold_text(interp, threshold))


def per_label_section(interp, threshold: float) -> None:
    """Precision, recall, F1 and support of every label on the validation images at the threshold."""
    st.dataframe(
        multilabel.per_label(interp, threshold),
        hide_index=True,
        column_config={
            c: st.column_config.NumberColumn(format="%.3f") for c in ("precision", "recall", "f1")
        },
    )


def _on_retag(dataset: str, file: str, key: str) -> None:
    from core.analysis import marks
    from core.errors import UserError

    try:
        marks.set_mark(dataset, file, "retag", list(st.session_state[key]))
    except UserError as e:
        st.toast(str(e), icon=":material/error:")


def image_grid(rows: pd.DataFrame, dataset: str, root, vocab: list[str], columns: int = 6) -> None:
    """Images with their actual → predicted label sets, loss and split, each with its mark controls."""
    marks = load_marks(dataset)
    now = current_tags(root)  # the tags in labels.csv (those the run never saw included)
    for n, row in enumerate(rows.itertuples(index=False)):
        if n % columns == 0:
            grid = st.columns(columns)  # one row at a time: reading order is ranking order
        path = root / row.file
        with grid[n % columns].container(border=True):
            try:
                st.image(cleaner.thumbnail(str(path), path.stat().st_mtime_ns), width=cleaner.THUMB)
            except OSError:
                st.caption("(the file is gone)")
            verdict = ":green[:material/check:]" if row.correct else ":red[:material/close:]"
            st.markdown(
                f"{verdict} **{md(tag_text(row.actual))}** → {md(tag_text(row.predicted))}  \n"
                f"loss {row.loss:.2f} · {row.split}"
            )
            st.caption(path.name, help=row.file)
            mark = marks.get(row.file, {})
            key = cleaner.mark_key(PREFIX, row.file)
            st.session_state[key] = mark.get("action", UNMARKED)  # the stored mark is the truth
            tags = now.get(row.file, row.actual).split()
            st.radio(
                f"Mark {row.file}",
                CHOICES,
                key=key,
                label_visibility="collapsed",
                on_change=cleaner.on_mark,
                args=(dataset, row.file, key, tags),
                help="keep: the tags are right; delete: move the image to the trash; "
                "retag: choose the tags it really has. Nothing changes until you apply.",
            )
            if mark.get("action") == "retag":
                chosen = (mark.get("to") or "").split()
                tkey = cleaner.relabel_key(PREFIX, row.file)
                st.session_state[tkey] = chosen
                st.multiselect(
                    "Tags",
                    sorted({*vocab, *tags, *chosen}),
                    key=tkey,
                    accept_new_options=True,
                    on_change=_on_retag,
                    args=(dataset, row.file, tkey),
                    help="Every label this image really has (none is allowed); type to add a new one.",
                )


def ranking_section(job, interp, dataset: str, root, threshold: float) -> None:
    """Top losses at the threshold, by the run's loss or out of sample, filtered and paged."""
    from core.errors import UserError

    source = st.radio(
        "Rank by",
        [results_view.RANK_MODEL, results_view.RANK_OOS],
        horizontal=True,
        key=state.RESULTS_RANK,
        persist_state="session",
        format_func={
            results_view.RANK_MODEL: "this model's loss",
            results_view.RANK_OOS: "out-of-sample loss (k-fold)",
        }.get,
        help=TEXT["rank"],
    )
    if source == results_view.RANK_MODEL:
        frame = multilabel.frame(interp, threshold)
    else:
        try:
            frame = results_view.out_of_sample(
                job,
                interp,
                dataset,
                lambda result: multilabel.frame(multilabel.out_of_sample(interp, result), threshold),
            )
        except UserError as e:
            st.error(str(e))
            return
    if frame is None:
        return
    a, s, m = st.columns(3)
    label = a.selectbox(
        "Label",
        [None, *interp.vocab],
        key=LABEL,
        format_func=lambda c: "any" if c is None else c,
        help="Only images that have this label or were given it by the model.",
    )
    split = s.selectbox(
        "Split",
        [None, "train", "valid"],
        key=state.RESULTS_SPLIT,
        persist_state="session",
        format_func=lambda v: "both" if v is None else results_view.SPLIT_NAMES[v],
        help="Training images, validation images, or both.",
    )
    show = m.selectbox(
        "Show",
        ["all", "unmarked", "marked"],
        key=state.RESULTS_SHOW,
        persist_state="session",
        help="Hide the images you have already marked, or see only those.",
    )
    rows = multilabel.top_losses(frame, split)
    if label is not None:
        has = rows["actual"].str.split().apply(lambda t: label in t)
        given = rows["predicted"].str.split().apply(lambda t: label in t)
        rows = rows[has | given]
    if show != "all":
        rows = rows[rows["file"].isin(set(load_marks(dataset))) == (show == "marked")]
    from dashboard.views import results_issues

    issues = results_issues.likely_filter(job, dataset) if source == results_view.RANK_OOS else None
    if issues is None:
        st.caption(TEXT["ranked_multi"].format(n=len(rows), threshold=threshold))
    else:  # "likely wrong only": the flagged images, ordered by their label quality
        rows = results_issues.likely_rows(rows, issues)
        st.caption(results_issues.ranked_caption(len(rows), issues))
    image_grid(cleaner.paged(rows, PAGES), dataset, root, interp.vocab)
