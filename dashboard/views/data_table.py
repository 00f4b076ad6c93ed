"""The Data page for a table: what each column holds, which role it plays and how the rows are
split (an editor that saves into the dataset), and fastai's processing on a few real rows."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import streamlit as st

from core import tasks
from core.data import datasets, tables
from core.errors import UserError
from dashboard import model_view, state
from dashboard import table_figures as figs
from dashboard.markup import md
from dashboard.text import sections

TEXT = sections("data_table")
W_COLUMN = "tbl_column"  # the column whose distribution is drawn
W_TARGET, W_CAT, W_CONT = "tbl_target", "tbl_cat", "tbl_cont"  # the roles editor
W_AS_NUMBER = "tbl_as_number"  # a target of few whole numbers learned as a value, not as classes
W_SPLIT_KIND, W_SPLIT_COLUMN, W_VALID_PCT = "tbl_split_kind", "tbl_split_column", "tbl_valid_pct"
W_SAVE = "tbl_save"
W_ROWS, W_MISSING_FIRST = "tbl_rows", "tbl_missing_first"  # the processing view
EDITING = "tbl_editing"  # which dataset, roles and split the editor's widgets were filled from
SPLIT_KINDS = {
    "random": "random",
    "group": "group by a column",
    "ordered": "ordered by a column",
    "column": "a validation column",
}
HIGHLIGHT = "background-color: #fff3bf"
CLASSES, VALUES = "tabular_classification", "tabular_regression"


def describe_split(split: tables.Split) -> str:
    """A split in words, for the Split line (column names escaped)."""
    column = md(split.column) if split.column else ""
    if split.kind == "group":
        return f"by groups of {column}, about {split.valid_pct:.0%} validation (seed {split.seed})"
    if split.kind == "ordered":
        return f"ordered by {column}: the last {split.valid_pct:.0%} is validation"
    if split.kind == "column":
        return f"the column {column} marks the validation rows"
    return f"random, {split.valid_pct:.0%} validation, seed {split.seed}"


def counts(metrics: dict[str, object]) -> None:
    """A row of st.metric, one per (label, value)."""
    for col, (label, value) in zip(st.columns(len(metrics)), metrics.items()):
        col.metric(label, value)


def overview(info: datasets.DatasetInfo, items: tables.TableItems) -> None:
    """Counts, a summary line per column, one column's distribution, and the target per split."""
    st.caption(TEXT["intro"])
    frame, roles = items.frame, items.roles
    n_valid = int(sum(items.is_valid))
    counts(
        {
            "rows": f"{len(frame):,}",
            "columns": f"{len(frame.columns):,}",
            "training": f"{len(frame) - n_valid:,}",
            "validation": f"{n_valid:,}",
            "inputs": f"{len(roles.cat)} categorical, {len(roles.cont)} continuous",
        }
    )
    st.markdown(TEXT["split"].format(split=describe_split(items.split)))

    st.markdown("**Columns**")
    st.caption(TEXT["columns"])
    summary = figs.column_summary(frame, roles.target, roles.cat, roles.cont)
    st.dataframe(
        summary,
        hide_index=True,
        key="tbl_columns",
        column_config={
            "missing": st.column_config.NumberColumn("missing", format="percent"),
            "distribution": st.column_config.BarChartColumn("distribution", y_min=0),
        },
    )
    column = st.selectbox("Column", list(frame.columns), key=W_COLUMN, help=TEXT["column_pick"])
    st.plotly_chart(figs.column_figure(frame[column], str(column)), key="tbl_column_chart")

    st.markdown(f"**Target: {md(roles.target)}**")
    st.caption(TEXT["target"])
    classification = tasks.get(items.task).name == "tabular_classification"
    target = frame[roles.target]
    st.plotly_chart(figs.target_figure(target, items.is_valid, classification), key="tbl_target_chart")
    st.markdown(baseline_line(target, items.is_valid, classification))


def baseline_line(target: pd.Series, is_valid, classification: bool) -> str:
    """The figure a model has to beat on the validation rows: always answering the training rows'
    commonest class (its accuracy), or their mean (its RMSE)."""
    valid = np.asarray(is_valid, dtype=bool)
    if classification:
        train, held = target[~valid].dropna().astype(str), target[valid].dropna().astype(str)
        if not len(train) or not len(held):
            return ""
        shares = train.value_counts(normalize=True)
        label = shares.index[0]
        return TEXT["majority"].format(
            label=md(label), train_share=float(shares.iloc[0]), share=float((held == label).mean())
        )
    train, held = target[~valid].dropna().astype(float), target[valid].dropna().astype(float)
    if not len(train) or not len(held):
        return ""
    mean = float(train.mean())
    return TEXT["mean_baseline"].format(mean=mean, rmse=float(np.sqrt(((held - mean) ** 2).mean())))


# ---- roles and split ---------------------------------------------------------------------------


def _editing_key(name: str, roles, split: tables.Split) -> str:
    return json.dumps(
        [name, dataclasses.asdict(roles), dataclasses.asdict(split)], sort_keys=True, default=str
    )


def fill_editor(
    name: str, roles, split: tables.Split, values: dict[str, object], drawn_sometimes: tuple[str, ...] = ()
) -> None:
    """Give the editor's widgets the dataset's saved roles and split, when the dataset, its saved
    choice, or the widgets (dropped while another section was shown) changed. drawn_sometimes:
    widgets not always drawn (so not looked for), cleared to start from their default."""
    key = _editing_key(name, roles, split)
    keys = [*values, W_SPLIT_KIND, W_SPLIT_COLUMN, W_VALID_PCT]
    if st.session_state.get(EDITING) == key and all(k in st.session_state for k in keys):
        return
    st.session_state[EDITING] = key
    st.session_state.update(values)
    for k in drawn_sometimes:
        st.session_state.pop(k, None)
    st.session_state[W_SPLIT_KIND] = split.kind if split.kind in SPLIT_KINDS else "random"
    st.session_state[W_SPLIT_COLUMN] = split.column
    st.session_state[W_VALID_PCT] = float(min(0.5, max(0.05, split.valid_pct)))


def _target_changed() -> None:
    """The new target leaves the input lists (a target that is also an input would leak the answer),
    and the number-or-classes toggle starts again from what the dataset has saved."""
    target = st.session_state[W_TARGET]
    for key in (W_CAT, W_CONT):
        st.session_state[key] = [c for c in st.session_state.get(key, []) if c != target]
    st.session_state.pop(W_AS_NUMBER, None)


def task_choice(items: tables.TableItems, roles) -> str | None:
    """For a target of few whole numbers (classes by default, tables.target_kinds), a toggle to learn
    it as a number instead; the task asked for (tabular_regression), or None for the target's own."""
    try:
        kinds = tables.target_kinds(items.frame, roles)
    except UserError:
        return None
    if tuple(kinds) != (CLASSES, VALUES):
        return None
    if W_AS_NUMBER not in st.session_state:  # the saved choice for the saved target, else classes
        st.session_state[W_AS_NUMBER] = items.task == VALUES and roles.target == items.roles.target
    as_number = st.toggle(
        "Treat the target as a number (regression)", key=W_AS_NUMBER, help=TEXT["as_number"]
    )
    return VALUES if as_number else None


def split_editor(columns: list[str], saved: tables.Split) -> tables.Split:
    """The split's kind, its column and the validation share; the Split they make."""
    kind = st.radio(
        "Validation set",
        list(SPLIT_KINDS),
        format_func=SPLIT_KINDS.get,
        horizontal=True,
        key=W_SPLIT_KIND,
        help=TEXT["split_kind"],
    )
    st.caption(TEXT["split_" + kind])
    column = None
    if kind != "random":
        if st.session_state.get(W_SPLIT_COLUMN) not in columns:
            st.session_state[W_SPLIT_COLUMN] = columns[-1]
        column = st.selectbox("Split column", columns, key=W_SPLIT_COLUMN, help=TEXT["split_by"])
    pct = saved.valid_pct
    if kind != "column":
        pct = st.slider(
            "Validation share", 0.05, 0.5, step=0.05, format="%.2f", key=W_VALID_PCT, help=TEXT["valid_pct"]
        )
    return tables.Split(kind=kind, column=column, valid_pct=round(float(pct), 2), seed=saved.seed)


def check_and_save(
    info: datasets.DatasetInfo, items, roles, split: tables.Split, task: str | None = None
) -> None:
    """The live check (tables.problems) of roles and split, what they make, and the Save button.

    task: for a table, the task asked for (a target of few whole numbers learned as a value), or
    None for the one the target makes."""
    frame = items.frame
    table = hasattr(roles, "target")
    try:
        problems = tables.problems(frame, roles, split, task)
        made = tables.task_for(frame, roles, task) if table and not problems else items.task
    except UserError as e:
        problems, made = [str(e)], items.task
    for problem in problems:
        st.error(md(problem), icon=":material/error:")
    if not problems:
        try:
            valid = int(np.asarray(tables.split_mask(frame, split)).sum())
        except (UserError, ValueError) as e:
            st.error(md(e))
            return
        title = tasks.get(made).title
        st.success(TEXT["ready"].format(task=title.lower(), train=len(frame) - valid, valid=valid))
    unchanged = roles == items.roles and split == items.split and made == items.task
    if unchanged:
        st.caption(TEXT["unchanged"])
    if st.button(
        "Save roles and split",
        key=W_SAVE,
        type="primary",
        disabled=bool(problems) or unchanged or info.published,  # published: read-only
        icon=":material/save:",
        help=TEXT["save"],
    ):
        try:
            saved = tables.save_roles(info.name, roles, split, task=task)
        except UserError as e:
            st.error(md(e))
            return
        text = TEXT["saved"].format(name=md(info.name), task=tasks.get(saved.task).title.lower())
        st.session_state[state.DATA_NOTICE] = {"text": text, "skipped": []}
        st.rerun()


def roles_view(info: datasets.DatasetInfo, items: tables.TableItems) -> None:
    """The roles editor: target, categorical and continuous columns (the rest ignored), the split."""
    st.caption(TEXT["roles"])
    columns = [str(c) for c in items.frame.columns]
    saved = items.roles
    fill_editor(
        info.name,
        saved,
        items.split,
        {W_TARGET: saved.target, W_CAT: list(saved.cat), W_CONT: list(saved.cont)},
        drawn_sometimes=(W_AS_NUMBER,),
    )
    target = st.selectbox(
        "Target", columns, key=W_TARGET, on_change=_target_changed, help=TEXT["target_pick"]
    )
    cat = st.multiselect("Categorical columns", columns, key=W_CAT, help=TEXT["cat"])
    cont = st.multiselect("Continuous columns", columns, key=W_CONT, help=TEXT["cont"])
    roles = tables.TableRoles(target=target, cat=tuple(cat), cont=tuple(cont))
    task = task_choice(items, roles)
    ignored = [c for c in columns if c != target and c not in cat and c not in cont]
    st.caption(
        TEXT["ignored"].format(columns=", ".join(md(c) for c in ignored))
        if ignored
        else TEXT["nothing_ignored"]
    )
    split = split_editor(columns, items.split)
    check_and_save(info, items, roles, split, task)


# ---- processing step by step -------------------------------------------------------------------


def pick_rows(frame: pd.DataFrame, roles, is_valid, n: int, missing_first: bool) -> pd.DataFrame:
    """n training rows to follow through the steps: those with empty input cells first, if asked."""
    train = frame[~np.asarray(is_valid, dtype=bool)]
    if missing_first:
        inputs = [c for c in (*roles.cont, *roles.cat) if c in train.columns]
        empty = train[inputs].isna()
        # rows missing a continuous value first (they get an _na column), then a category
        score = empty[[c for c in roles.cont if c in empty]].any(axis=1) * 2 + empty.any(axis=1)
        order = np.argsort(-score.to_numpy(), kind="stable")
        train = train.iloc[order]
    return train.head(n)


def _styled(frame: pd.DataFrame, previous: pd.DataFrame | None):
    """The step's table with its new or changed columns highlighted."""
    if previous is None:
        return frame
    changed = [
        c
        for c in frame.columns
        if c not in previous.columns
        or not frame[c].reset_index(drop=True).equals(previous[c].reset_index(drop=True))
    ]
    return frame.style.map(lambda _: HIGHLIGHT, subset=changed) if changed else frame


def _teaching(name: str) -> str:
    """Our sentence on a step, found by its name."""
    low = name.lower()
    for word, key in (("fill", "step_fill"), ("categor", "step_categorify"), ("normal", "step_normalize")):
        if word in low:
            return TEXT[key]
    return TEXT["step_raw"]


def processing_view(info: datasets.DatasetInfo, items: tables.TableItems) -> None:
    """A few training rows through raw → FillMissing → Categorify → Normalize, fitted on the training rows."""
    st.caption(TEXT["processing"])
    left, right = st.columns([2, 1])
    n = left.slider("Rows", 2, 10, 5, key=W_ROWS, help=TEXT["rows"])
    missing_first = right.toggle(
        "Rows with empty cells first", True, key=W_MISSING_FIRST, help=TEXT["missing_first"]
    )
    try:
        with st.spinner("Fitting the steps on the training rows…"):
            procs = model_view.processing(info.name, items).procs
        rows = pick_rows(items.frame, items.roles, items.is_valid, int(n), bool(missing_first))
        steps = procs.steps(rows)
    except UserError as e:
        st.error(md(e))
        return
    previous = None
    for i, step in enumerate(steps):
        st.markdown(f"**{i + 1}. {md(step.name)}**")
        st.caption(" ".join(s for s in (_teaching(step.name), md(step.note or "")) if s))
        st.dataframe(_styled(step.frame, previous), key=f"tbl_step_{i}")
        if step.learned is not None and len(step.learned):
            with st.expander(f"What {step.name} learned from the training rows"):
                st.dataframe(step.learned, hide_index=True, key=f"tbl_learned_{i}")
        previous = step.frame
