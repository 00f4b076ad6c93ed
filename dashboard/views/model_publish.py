"""Publishing on the Models page (core.publish does the work).

A model the teacher published is read-only for everyone: it can be looked at, downloaded and
predicted with, and copied into one's own library; a teacher publishes their own model to the
class, or withdraws it.
"""

from __future__ import annotations

import streamlit as st

from core import people, publish
from core.errors import UserError
from core.serving.library import ModelInfo
from dashboard import state
from dashboard.markup import md

READ_ONLY = "Published by the teacher — read-only. Predict with it as it is, or make your own copy."


def _done(kind: str, text: str, pick: str | None, pending: str) -> None:
    st.session_state[state.MODELS_NOTICE] = (kind, text)
    if pick:
        st.session_state[pending] = pick
    st.rerun()


def publish_panel(info: ModelInfo, pending: str) -> None:
    """Read-only notice and Make my own copy for a published model; Publish or Withdraw for a
    teacher. pending: the page's session key of the model to pick on the next run."""
    if info.published:
        st.info(READ_ONLY, icon=":material/lock:")
        if st.button(
            "Make my own copy",
            key="models_copy_published",
            icon=":material/content_copy:",
            help="Copy this model into your own library under a free name.",
        ):
            try:
                mine = publish.copy_model(info.name)
            except UserError as e:
                st.error(md(e))
            else:
                _done("success", f"{info.name} was copied to {mine}, your own.", mine, pending)
    if not people.is_teacher():
        return
    if info.published or publish.published_path("models", info.name) is not None:
        if st.button(
            "Withdraw from the class",
            key="models_withdraw",
            icon=":material/unpublished:",
            help="Take the published copy away from everyone's library (your own model stays).",
        ):
            try:
                publish.withdraw_model(info.name)
            except UserError as e:
                st.error(md(e))
            else:
                _done("info", f"{info.name} is no longer published.", None, pending)
        return
    if st.button(
        "Publish to the class",
        key="models_publish",
        icon=":material/share:",
        help="Copy this model to every person's library, read-only: they can predict with it or copy it.",
    ):
        try:
            publish.publish_model(info.name)
        except UserError as e:
            st.error(md(e))
        else:
            _done("success", f"{info.name} is published: everyone sees it, read-only.", info.name, pending)
