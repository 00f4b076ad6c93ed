"""Likely label errors on the Results page: confident learning (cleanlab, through
core.analysis.label_issues) on the out-of-sample probabilities of the run's crossval job.

How many training labels look wrong; the "likely wrong only" filter of the top-loss grid, ordered by
a label-quality score; one action that marks them all to be relabelled to the suggested class
(multi-label: retagged with the suggested set) and shows the plan; the confident joint of given and
true labels with its off-diagonal cells clickable into their images; the noise rate per class; and
on datasets with planted flips, how the flagged set compares with the plain ranking.

Nothing here retrains: every figure comes from the stored probabilities.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import workspace
from core.analysis import marks as marks_
from core.analysis import plans
from core.errors import UserError
from core.jobs.store import DONE
from dashboard import cleaner, results_view, runs, state

TEXT = results_view.TEXT
METHOD_NAMES = {"self_confidence": "self-confidence", "normalized_margin": "normalised margin"}
PREFIX = "li"  # the joint cell's image grid (cleaner.mark_key)


def crossval_result(job) -> tuple[int, dict] | None:
    """The run's latest out-of-sample job and its stored result, when it is done (else None)."""
    cv = runs.store().latest("crossval", source_run=job.id)
    if cv is None or cv.state != DONE:
        return None
    result = results_view.crossval_result(cv.id)
    return None if result is None else (cv.id, result)


@st.cache_data(show_spinner=False, max_entries=8)
def _find(
    space: str, cv_id: int, stamp: tuple, dataset: str, method: str, renamed: tuple[tuple[str, str], ...]
):
    from core.analysis import label_issues

    return label_issues.find(results_view.crossval_result(cv_id), dataset, method, dict(renamed))


def chosen_method() -> str:
    """The label-quality score chosen (the first of label_issues.METHODS until one is chosen)."""
    from core.analysis.label_issues import METHODS

    method = st.session_state.get(state.RESULTS_LI_METHOD)
    return method if method in METHODS else next(iter(METHODS))


def current(job, dataset: str):
    """The label issues of the run's latest out-of-sample job by the chosen score (LabelIssues),
    None while there is none; a UserError says why they cannot be found."""
    from core.train.crossval import result_path

    found = crossval_result(job)
    if found is None:
        return None
    cv_id, result = found
    stamp = results_view.file_stamp(result_path(cv_id))
    if stamp is None:
        return None
    renamed = tuple(sorted(results_view.dataset_renames(dataset, result["created"]).items()))
    return _find(workspace.current_name(), cv_id, stamp, dataset, chosen_method(), renamed)


def likely_rows(rows: pd.DataFrame, issues, files: list[str] | None = None) -> pd.DataFrame:
    """The rows of `files`, in that order; by default the flagged files, least believable label
    first (LabelIssues.ranked: quality ascending)."""
    if files is None:
        files = issues.ranked(likely_only=True)["file"].tolist()
    rank = {f: i for i, f in enumerate(files)}
    part = rows[rows["file"].isin(rank)]
    return part.iloc[np.argsort(part["file"].map(rank).to_numpy(), kind="stable")]


def likely_filter(job, dataset: str):
    """The "likely wrong only" toggle of the top-loss grid, shown once there are label issues;
    returns them when it is on (else None). The reason they cannot be found shows in section()."""
    try:
        issues = current(job, dataset)
    except UserError:
        return None
    if issues is None:
        return None
    on = st.toggle(
        "Likely wrong only",
        key=state.RESULTS_LIKELY,
        persist_state="session",
        help=TEXT["likely_only"].format(k=issues.count),
    )
    return issues if on else None


def ranked_caption(n: int, issues) -> str:
    """The top-loss grid's caption when it shows the likely wrong only."""
    return TEXT["ranked_likely"].format(n=n, method=METHOD_NAMES.get(issues.method, issues.method))


def _given_tags(given) -> set[str]:
    return set(given.split() if isinstance(given, str) else given)


def mark_all(issues, dataset: str) -> tuple[list[str], int]:
    """Mark every flagged image without a mark relabel to its suggested class (multi-label: retag
    with its suggested set); a suggestion equal to the label is left out. Returns the files marked
    and how many flagged images kept the mark a person had given them."""
    from core.data import labels
    from core.data.places import check_file, dataset_root

    root = dataset_root(dataset)
    multi = issues.task == "multi_label"
    known = marks_.dataset_tags(root) if multi else set()
    existing = marks_.load_marks(dataset)
    new, kept = {}, 0
    for f, given, to, flag in zip(issues.files, issues.given, issues.suggested, issues.flagged):
        if not flag or to is None:
            continue
        if f in existing:
            kept += 1
            continue
        if multi:
            to = marks_.check_tags(str(to).split(), known)
            if set(to.split()) == _given_tags(given):
                continue
        elif to == given:
            continue
        else:
            labels.check_label(to, "A relabel target")
        if check_file(root, f).is_file():
            new[f] = {"action": "retag" if multi else "relabel", "to": to}

    def change(marks: dict) -> None:
        marks.update({f: m for f, m in new.items() if f not in marks})

    marks_.edit_marks(dataset, change)
    return list(new), kept


def show_plan(dataset: str) -> None:
    """Open the plan of the stored marks for confirmation, as "Apply…" does (cleaner.plan_section)."""
    plan = plans.make_plan(dataset)
    st.session_state[state.RESULTS_PLAN] = {"plan": plan.to_dict(), "marks": marks_.load_marks(dataset)}


def joint_figure(joint: np.ndarray, vocab: list[str], n: int) -> go.Figure:
    """The confident joint as a heatmap: given labels down, true labels across, about how many
    images each cell holds. The colour scale tops at the largest off-diagonal cell (the diagonal,
    far larger, saturates); a transparent marker on each cell makes it clickable."""
    joint = np.asarray(joint, dtype=float)
    labels = [str(v) for v in vocab]
    counts = np.rint(joint * n).astype(int)
    off = joint[~np.eye(len(joint), dtype=bool)]
    top = float(off.max()) if off.size and off.max() > 0 else float(joint.max() or 1.0)
    fig = go.Figure()
    fig.add_heatmap(
        z=joint.tolist(),
        x=labels,
        y=labels,
        text=[[str(c) for c in row] for row in counts],
        texttemplate="%{text}",
        hoverinfo="skip",
        colorscale="Reds",
        zmin=0,
        zmax=top,
        showscale=False,
    )
    cells = [
        f"given {labels[i]}, truly {labels[j]}: about {counts[i, j]} image(s) ({joint[i, j]:.1%})"
        for i in range(len(labels))
        for j in range(len(labels))
    ]
    side = max(6, min(40, 360 // max(1, len(labels))))
    fig.add_scatter(
        x=[c for _ in labels for c in labels],
        y=[r for r in labels for _ in labels],
        mode="markers",
        name="cells",
        showlegend=False,
        text=cells,
        hovertemplate="%{text}<br>click to see them<extra></extra>",
        marker=dict(symbol="square", size=side, color="rgba(0,0,0,0)"),
    )
    return fig.update_layout(
        xaxis=dict(title="true label (estimated)", type="category", side="bottom"),
        yaxis=dict(title="given label", type="category", autorange="reversed"),
        height=max(320, min(720, 60 + 36 * len(labels))),
        margin=dict(l=10, r=10, t=30, b=10),
        clickmode="event+select",
        dragmode=False,
    )


def joint_section(issues, rows: pd.DataFrame, dataset: str, root, vocab: list[str]) -> None:
    """The confident joint (single-label), and the images behind a chosen off-diagonal cell."""
    event = st.plotly_chart(
        joint_figure(issues.joint, issues.vocab, issues.n),
        key="results_li_joint",
        on_select="rerun",
        selection_mode="points",
    )
    behind = {(g, t): issues.cell(g, t) for g in issues.vocab for t in issues.vocab if g != t}
    cells = sorted((c for c, files in behind.items() if files), key=lambda c: (-len(behind[c]), c))
    points = list(getattr(getattr(event, "selection", None), "points", None) or [])
    click = (str(points[0].get("y")), str(points[0].get("x"))) if points else None
    if click != st.session_state.get(state.RESULTS_LI_CELL_CLICK):  # a new click (None: undone)
        st.session_state[state.RESULTS_LI_CELL_CLICK] = click
        if click is not None:
            st.session_state[state.RESULTS_LI_CELL] = click if click in cells else None
    if st.session_state.get(state.RESULTS_LI_CELL) not in [None, *cells]:
        st.session_state[state.RESULTS_LI_CELL] = None
    chosen = st.selectbox(
        "Images behind a cell",
        [None, *cells],
        key=state.RESULTS_LI_CELL,
        format_func=lambda c: (
            "— click a cell off the diagonal, or choose one here —"
            if c is None
            else f"given {c[0]}, truly {c[1]} ({len(behind[c])} image(s))"
        ),
        help=TEXT["li_cell"],
    )
    if chosen is not None:
        part = likely_rows(rows, issues, behind[chosen])
        cleaner.image_grid(cleaner.paged(part, state.RESULTS_LI_PAGES), dataset, root, vocab, PREFIX)


FLIP_ROWS = {  # against_flips' keys, as the table names them
    "flagged": "flagged here: confident learning's estimated count, least self-confident first",
    "cleanlab": "cleanlab's default filter (find_label_issues)",
    "ranking_oracle": "the first {n} by out-of-sample loss (as many as the flips: N known)",
}


def flips_table(scores: dict) -> pd.DataFrame:
    """label_issues.against_flips as rows: the flagged set, then the plain ranking cut at two places."""
    rows = [
        {"images called wrong": name.format(n=scores[key]["n"]), **scores[key]}
        for key, name in FLIP_ROWS.items()
        if key in scores
    ]
    return pd.DataFrame(rows, columns=["images called wrong", "n", "found", "precision", "recall", "f1"])


def flips_section(issues, dataset: str) -> None:
    """Precision, recall and F1 of the flagged set against the planted flips, next to the plain
    ranking's (only for datasets with a flipped.json)."""
    from core.analysis import label_issues
    from core.data import datasets

    flipped = datasets.flipped_files(datasets.resolve(dataset))
    if not flipped:
        return
    scores = label_issues.against_flips(issues, flipped)
    st.markdown(f"**Against the {scores['flips']} planted flips among these training images**")
    st.caption(TEXT["li_flips"])
    st.dataframe(
        flips_table(scores),
        hide_index=True,
        column_config={
            c: st.column_config.NumberColumn(format="%.2f") for c in ("precision", "recall", "f1")
        },
    )


def section(job, interp, dataset: str, root) -> None:
    """How many labels look wrong, the score that orders them, marking them all, where the noise
    is (joint and noise rates) and, with planted flips, how the flagged set scores."""
    from core.analysis.label_issues import METHODS

    try:
        issues = current(job, dataset)
    except UserError as e:
        st.warning(str(e))
        return
    if issues is None:
        st.caption(TEXT["li_none"])
        return
    multi = issues.task == "multi_label"
    st.markdown(
        TEXT["li_count"].format(
            k=issues.count, n=issues.n, share=issues.count / max(1, issues.n), job=issues.crossval_job
        )
    )
    for note in [*([TEXT["li_stale"]] if issues.stale else []), *issues.notes]:
        st.caption(note)
    method = st.radio(
        "Order the likely wrong by",
        list(METHODS),
        horizontal=True,
        key=state.RESULTS_LI_METHOD,
        persist_state="session",
        format_func=lambda m: METHOD_NAMES.get(m, m),
        help=" ".join(f"{METHOD_NAMES.get(m, m)}: {s}" for m, s in METHODS.items()),
    )
    st.caption(METHODS[method])
    label = (
        "Mark all likely wrong to be retagged with the suggested labels"
        if multi
        else "Mark all likely wrong as relabel to the suggested class"
    )
    if st.button(
        label,
        icon=":material/auto_fix_high:",
        disabled=not issues.count,
        help=TEXT["li_mark_all_multi" if multi else "li_mark_all"],
    ):
        try:
            marked, kept = mark_all(issues, dataset)
            show_plan(dataset)
        except UserError as e:
            st.error(str(e))
        else:
            left = f"; {kept} already had a mark of yours and kept it" if kept else ""
            cleaner.notice("success", TEXT["li_marked"].format(n=len(marked), left=left))
            st.rerun()
    if multi:
        st.markdown("**Estimated noise per label**")
    else:
        st.markdown("**Where the noise is: the confident joint**")
        st.caption(TEXT["li_joint"])
        found = crossval_result(job)
        rows = None if found is None else results_view.oos_frame(found[0], interp, dataset)
        if rows is not None and issues.joint is not None:
            joint_section(issues, rows, dataset, root, interp.vocab)
        st.markdown("**Estimated noise per class**")
    st.caption(TEXT["li_noise"])
    st.dataframe(
        issues.noise_rate,
        hide_index=True,
        column_config={"rate": st.column_config.NumberColumn(format="%.3f")},
    )
    flips_section(issues, dataset)
