"""Renaming or deleting the chosen dataset on the Data page (core.data.manage does the work).

Built-ins are left out: they cannot be renamed or deleted. Deleting asks for a confirmation and
moves the dataset to the trash (the Storage page empties it), or removes it for good when asked.
"""

from __future__ import annotations

import streamlit as st

from core.data import datasets, manage
from core.errors import UserError
from dashboard import state
from dashboard.markup import md

NEW_NAME = "data_manage_name"
SURE = "data_manage_sure"
FOR_GOOD = "data_manage_for_good"


def _done(text: str, now: str) -> None:
    """Say what happened (shown once by data_choose.show_notice), follow the dataset, rerun."""
    st.session_state[state.DATA_NOTICE] = {"text": text}
    st.session_state[state.DATASET] = now
    for key in (NEW_NAME, SURE, FOR_GOOD):
        st.session_state.pop(key, None)
    st.rerun()


def _runs_line(name: str) -> str:
    used = manage.jobs_using(name)
    if not used:
        return "No run was trained on it."
    return (
        f"{len(used)} run(s) were trained on it: their Results need its images, and will say it is gone; "
        "their saved weights, exports and predictions keep working."
    )


def manage_dataset(name: str) -> None:
    """The "Rename or delete" expander of a dataset of the workspace (nothing for a built-in or a
    dataset the teacher published)."""
    if name in datasets.BUILTINS or datasets.is_published(name):
        return  # built-ins and published datasets are read-only
    with st.expander("Rename or delete this dataset", icon=":material/edit:"):
        left, right = st.columns(2)
        new = left.text_input(
            "New name",
            value=name,
            key=NEW_NAME,
            max_chars=60,
            help="Letters, digits and _ (other characters become _). Refused for a dataset runs were "
            "trained on or with a cleaning history: both name its files by the old name.",
        )
        if left.button(
            "Rename",
            icon=":material/drive_file_rename_outline:",
            disabled=new.strip() == name,
            help="Give the dataset the new name; its marks follow it.",
        ):
            try:
                now = manage.rename_dataset(name, new)
            except UserError as e:
                left.error(md(e))
            else:
                _done(f"Renamed {name} to {now}.", now)
        right.caption(_runs_line(name))
        for_good = right.toggle(
            "Delete for good (skip the trash)",
            key=FOR_GOOD,
            help="Off: the dataset, its cleaning history and its trash go to the trash, where the "
            "Storage page can empty them. On: they are removed now and cannot come back.",
        )
        sure = right.checkbox(
            f"Yes, delete {name}",
            key=SURE,
            help="Tick to confirm; nothing is deleted until you press Delete.",
        )
        if right.button(
            "Delete",
            icon=":material/delete:",
            type="primary",
            disabled=not sure,
            help="Delete the dataset as the switch above says: to the trash, or for good.",
        ):
            try:
                where = manage.delete_dataset(name, permanent=for_good)
            except UserError as e:
                right.error(md(e))
            else:
                gone = "removed for good" if where is None else "moved to the trash (see Storage)"
                _done(f"{name} was {gone}.", datasets.available()[0])
