"""Publishing on the Models page (core.publish does the work).

A model the teacher published is read-only for everyone: it can be looked at, downloaded and
predicted with, and copied into one's own library; a teacher publishes their own model to the
class, or withdraws it.
"""

from __future__ import annotations

import streamlit as st

from core import people, publish
from core.serving.library import ModelInfo
from dashboard import state
from dashboard.widgets import action_button

READ_ONLY = "Published by the teacher — read-only. Predict with it as it is, or make your own copy."


def _done(kind: str, text: str, pick: str | None, pending: str) -> None:
    st.session_state[state.MODELS_NOTICE] = (kind, text)
    if pick:
        st.session_state[pending] = pick
    st.rerun()


def publish_panel(info: ModelInfo, pending: str) -> None:
    """Read-only notice and Make my own copy for a published model; Publish or Withdraw for a
    teacher. pending: the page's session key of the model to pick on the next run."""
    name = info.name
    if info.published:
        st.info(READ_ONLY, icon=":material/lock:")
        action_button(
            "Make my own copy",
            lambda: publish.copy_model(name),
            lambda mine: _done("success", f"{name} was copied to {mine}, your own.", mine, pending),
            key="models_copy_published",
            icon=":material/content_copy:",
            help="Copy this model into your own library under a free name.",
        )
    if not people.is_teacher():
        return
    if info.published or publish.published_path("models", name) is not None:
        action_button(
            "Withdraw from the class",
            lambda: publish.withdraw_model(name),
            lambda _: _done("info", f"{name} is no longer published.", None, pending),
            key="models_withdraw",
            icon=":material/unpublished:",
            help="Take the published copy away from everyone's library (your own model stays).",
        )
        return
    action_button(
        "Publish to the class",
        lambda: publish.publish_model(name),
        lambda _: _done("success", f"{name} is published: everyone sees it, read-only.", name, pending),
        key="models_publish",
        icon=":material/share:",
        help="Copy this model to every person's library, read-only: they can predict with it or copy it.",
    )
