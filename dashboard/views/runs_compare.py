"""Compare on the Runs page: overlaid curves, only the settings that differ, the final figures,
the sentence on the largest difference, and seed groups judged against chance."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import tasks, workspace
from core.errors import UserError
from core.jobs.store import Job
from dashboard import compare_figures, identity, runs, state
from dashboard.markup import md
from dashboard.text import sections
from dashboard.views.runs_table import link

TEXT = sections("compare")
X_CHOICES = {"epoch": "epoch", "batch": "batch", "images": "images seen"}


def labels(jobs: list[Job]) -> dict[int, str]:
    """What each run is called in legends: its number, and its name when it has one."""
    return {j.id: f"run {j.id}" + (f" · {j.name}" if j.name else "") for j in jobs}


@st.cache_data(show_spinner=False, max_entries=32)
def _curves(db: str, space: str, ids: tuple[int, ...], x: str, version: tuple) -> pd.DataFrame:
    """compare.curves, cached while the runs' records do not change (version: states, progress)."""
    from core.analysis import compare

    store = runs.store()
    return compare.curves(store, [store.get(i) for i in ids], x=x)


def curves(jobs: list[Job], x: str) -> pd.DataFrame:
    """The runs' curves on a common x (cached for finished runs; always fresh for live ones)."""
    version = tuple((j.id, j.state, round(j.progress, 4), j.finished) for j in jobs)
    return _curves(str(runs.store().path), workspace.current_name(), tuple(j.id for j in jobs), x, version)


def show(jobs: list[Job]) -> None:
    """The comparison of 2–10 runs (the engine refuses other counts and mixed tasks)."""
    from core.analysis import compare

    st.header(f"Compare {len(jobs)} runs", anchor=False)
    st.caption(TEXT["intro"])
    try:
        result = compare.compare(jobs)
    except UserError as e:
        st.error(md(e))
        return
    st.info(md(result.sentence), icon=":material/lightbulb:")
    st.code(link([j.id for j in jobs]), language=None)

    curves_section(jobs)

    st.subheader("Settings that differ", anchor=False)
    st.caption(TEXT["differing"])
    differing = result.differing
    if differing is None or differing.empty:
        st.write("None: these runs used the same settings and data (a rerun shows chance alone).")
    else:
        st.table(_readable(differing))  # plain HTML: a handful of rows, readable and selectable
    with st.expander(f"Settings that are the same ({len(result.same)})"):
        st.caption(TEXT["same"])
        st.dataframe(
            pd.DataFrame({"setting": list(result.same), "value": [str(v) for v in result.same.values()]}),
            hide_index=True,
        )
    st.subheader("Final figures", anchor=False)
    st.caption(TEXT["finals"])
    st.dataframe(result.finals, key="compare_finals")
    seed_section(jobs)


def _readable(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells as text, so a column mixing numbers and words shows both."""
    return frame.astype(object).map(
        lambda v: "—" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)
    )


def _group_label(group, i: int) -> str:
    return f"group {i + 1}: {group.label}"


@identity.fragment
def curves_section(jobs: list[Job]) -> None:
    """The x-axis choice and the overlaid curves: a fragment, so changing the axis redraws only this."""
    x = st.segmented_control(  # persisted: the axis stays chosen across page switches
        "x-axis",
        list(X_CHOICES),
        default="epoch",
        key=state.COMPARE_X,
        persist_state="session",
        format_func=X_CHOICES.get,
        help=TEXT["x"],
    )
    x = x or "epoch"
    st.plotly_chart(
        compare_figures.curves_figure(curves(jobs, x), x=x, labels=labels(jobs)),
        key="compare_curves",
        config={"displaylogo": False},
    )


def seed_section(jobs: list[Job]) -> None:
    """Groups of seeds as a mean line and band, and the verdict on two groups' difference."""
    from core.analysis import compare

    st.subheader("Is it real?", anchor=False)
    groups = compare.seed_groups(jobs)
    if not any(len(g.runs) > 1 for g in groups):
        st.caption(TEXT["seeds_none"])
        return
    st.caption(TEXT["seeds_intro"])
    names = {_group_label(g, i): g.ids for i, g in enumerate(groups)}
    task = tasks.get(jobs[0].task or tasks.DEFAULT)
    frame = curves(jobs, "epoch")  # seeds line up by epoch
    series = task.main_metric if (frame["series"] == task.main_metric).any() else "valid_loss"
    st.plotly_chart(compare_figures.band_figure(frame, names, series=series), key="compare_bands")
    if len(groups) < 2:
        return
    options = list(range(len(groups)))
    c = st.columns(2)
    a = c[0].selectbox(
        "Group",
        options,
        index=0,
        format_func=lambda i: _group_label(groups[i], i),
        key=f"{state.COMPARE_GROUPS}_a",
        help=TEXT["group_a"],
    )
    b = c[1].selectbox(
        "against",
        options,
        index=1,
        format_func=lambda i: _group_label(groups[i], i),
        key=f"{state.COMPARE_GROUPS}_b",
        help=TEXT["group_b"],
    )
    if a == b:
        st.caption("Choose two different groups.")
        return
    try:
        verdict = compare.verdict(groups[a], groups[b])
    except UserError as e:
        st.warning(md(e))
        return
    show_verdict = st.success if not verdict.within_noise else st.warning
    show_verdict(md(verdict.text))
    st.caption(TEXT["verdict_caption"])
