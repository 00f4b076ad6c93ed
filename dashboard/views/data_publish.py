"""Publishing on the Data page (core.publish does the work).

A learner looking at a dataset the teacher published sees that it is read-only and can make their
own copy to clean; a teacher can publish their own dataset to the class, or withdraw it.
"""

from __future__ import annotations

import streamlit as st

from core import people, publish
from core.data import datasets
from dashboard import state
from dashboard.markup import md
from dashboard.widgets import action_button

READ_ONLY = "Published by the teacher — read-only. Train on it as it is, or make your own copy to clean it."


def _done(text: str, now: str) -> None:
    """Say what happened (shown once by data_choose.show_notice), follow the dataset, rerun."""
    st.session_state[state.DATA_NOTICE] = {"text": text}
    st.session_state[state.DATASET] = now
    st.rerun()


def publish_panel(name: str) -> None:
    """Read-only notice and Make my own copy for a published dataset; Publish or Withdraw for a
    teacher. Nothing alone on a laptop with nothing published."""
    if datasets.is_published(name):
        st.info(READ_ONLY, icon=":material/lock:")
        action_button(
            "Make my own copy",
            lambda: publish.copy_dataset(name),
            lambda mine: _done(f"{name} was copied to {mine}, your own: clean it as you like.", mine),
            key="data_copy_published",
            icon=":material/content_copy:",
            help="Copy this dataset into your own space under a free name; the copy is yours to clean.",
            spinner=f"Copying {name}…",
        )
        if people.is_teacher():
            _withdraw(name)
        return
    if not people.is_teacher() or name in datasets.BUILTINS:
        return
    if publish.published_path("datasets", name) is not None:
        st.caption(f"{md(name)} is published to the class (your copy stays yours).")
        _withdraw(name)
        return
    action_button(
        "Publish to the class",
        lambda: publish.publish_dataset(name),
        lambda _: _done(f"{name} is published: everyone sees it, read-only.", name),
        key="data_publish",
        icon=":material/share:",
        help="Copy this dataset to every person's list, read-only: they can train on it or copy it.",
        spinner=f"Publishing {name}…",
    )


def _withdraw(name: str) -> None:
    def withdrawn(_) -> None:
        now = name if name in datasets.available() else datasets.available()[0]
        _done(f"{name} is no longer published.", now)

    action_button(
        "Withdraw from the class",
        lambda: publish.withdraw_dataset(name),
        withdrawn,
        key="data_withdraw",
        icon=":material/unpublished:",
        help="Take the published copy away from everyone's list (your own dataset stays).",
    )
