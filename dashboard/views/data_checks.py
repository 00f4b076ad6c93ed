"""The Data page's image check: decode every image, list failures, move them to the trash."""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from core.data import access, datasets, journal
from core.errors import UserError
from dashboard import state
from dashboard.markup import md
from dashboard.text import sections
from dashboard.views.data_choose import stamp

W_CHECK = "data_check_result"  # the last "Check images" result: dataset, stamp, problems


def check_view(info: datasets.DatasetInfo, items: datasets.Items) -> None:
    """Decode every image as training will; list the ones that fail; move them to the trash."""
    text = sections("data")
    st.caption(text["check"])
    fingerprint = stamp(items)
    if st.button(
        "Check every image",
        key="check_go",
        icon=":material/fact_check:",
        help=text["check_go"].format(n=f"{len(items.files):,}"),
    ):
        bar = st.progress(0.0)
        try:
            problems = access.check_images(info, progress=lambda f, t: bar.progress(f, text=t))
        except UserError as e:  # another change to the dataset holds its lock
            bar.empty()
            st.error(md(e))
            return
        bar.empty()
        st.session_state[W_CHECK] = {
            "dataset": info.name,
            "stamp": fingerprint,
            "problems": [dataclasses.asdict(p) for p in problems],
        }
    undo_view(info)
    result = st.session_state.get(W_CHECK)
    if not result or result["dataset"] != info.name:
        return
    if result["stamp"] != fingerprint:
        st.caption("The files changed since the last check; check again.")
        return
    problems = result["problems"]
    if not problems:
        st.success(f"All {len(items.files):,} images decode.")
        return
    st.warning(f"{len(problems)} image(s) cannot be read; training would stop at them.")
    st.dataframe(pd.DataFrame(problems), hide_index=True, key="check_problems")
    if st.button(
        f"Move {len(problems)} file(s) to the trash",
        key="check_trash",
        icon=":material/delete:",
        help=text["check_trash"],
    ):
        try:
            folder = access.move_to_trash(info, [p["file"] for p in problems])
        except UserError as e:
            st.error(md(e))
            return
        st.session_state[W_CHECK] = None
        st.session_state[state.DATA_NOTICE] = {
            "text": f"Moved {len(problems)} file(s) to the trash: {md(folder)}. "
            "Undo the last change puts them back.",
            "skipped": [],
        }
        st.rerun()


def undo_view(info: datasets.DatasetInfo) -> None:
    """Undo the dataset's last change (a move to the trash here, or a cleaning) when there is one."""
    last = next(iter(journal.history(info.name)), None)
    if last is None or last.state != "applied":
        return
    if st.button(
        "Undo the last change",
        key="check_undo",
        icon=":material/undo:",
        help=sections("data")["check_undo"],
    ):
        try:
            report = access.undo_last(info.name)
        except UserError as e:
            st.error(md(e))
            return
        st.session_state[W_CHECK] = None
        st.session_state[state.DATA_NOTICE] = {"text": md(report.summary()), "skipped": []}
        st.rerun()
