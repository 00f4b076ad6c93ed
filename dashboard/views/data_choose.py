"""Choosing a dataset on the Data page: the selector, the last addition's notice, loading its items."""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from core import publish, workspace
from core.data import access, datasets
from core.errors import UserError
from dashboard import state, warm
from dashboard.markup import md
from dashboard.text import sections

W_DATASET = "data_dataset"  # the Data page's own selector; state.DATASET is the shared choice


def show_notice() -> None:
    """The result of the last addition, once: what was added and every file left out."""
    notice = st.session_state.get(state.DATA_NOTICE)
    if not notice:
        return
    st.session_state[state.DATA_NOTICE] = None
    st.success(notice["text"], icon=":material/check_circle:")
    if notice.get("skipped"):
        with st.expander(f"{len(notice['skipped'])} file(s) left out, and why"):
            st.dataframe(pd.DataFrame(notice["skipped"]), hide_index=True)


def _kind(name: str, published: set[str]) -> str:
    """built-in, published, upload, folder, CSV or download: where a dataset came from. published:
    the names a teacher published (listed once per selector, not once per name); an own dataset of
    the same name shadows one (as datasets.is_published says)."""
    if name in datasets.BUILTINS:
        return "built-in"
    own = workspace.subdir("datasets") / name
    if name in published and not own.is_dir():
        return "published · read-only"
    source = str(datasets.metadata(own).get("source", ""))
    return source.split(" ", 1)[0].replace("archive", "upload") or "folder"


def _chosen() -> None:
    st.session_state[state.DATASET] = st.session_state[W_DATASET]


def choose_dataset() -> str:
    """The dataset selector; the choice goes to state.DATASET, which the Train page follows."""
    names = datasets.available()
    current = st.session_state.get(state.DATASET)
    if current not in names:
        current = st.session_state[state.DATASET] = names[0]
    st.session_state[W_DATASET] = current
    published = set(publish.published_names("datasets"))
    return st.selectbox(
        "Dataset",
        names,
        key=W_DATASET,
        on_change=_chosen,
        format_func=lambda n: f"{n} · {_kind(n, published)}",
        help=sections("data")["dataset"],
    )


def load(name: str) -> tuple[datasets.DatasetInfo, datasets.Items]:
    """The dataset and its items (train/valid as training splits them by default), or stop."""
    try:
        with st.spinner(f"Preparing {name}…"):
            warm.wait_for_dataset()  # the server may be writing the default dataset right now
            info = datasets.resolve(name)
            items = access.items(info)
    except UserError as e:
        st.error(md(e))
        st.stop()
    return info, items


def stamp(items: datasets.Items) -> str:
    """A short fingerprint of the dataset's files (names, sizes, times, labels.csv or masks) and
    codes, so cached views notice added, removed, rewritten or relabelled files."""
    from core.data import layouts

    h = hashlib.sha1(layouts.fingerprint(items).encode())
    for code in getattr(items, "codes", []):
        h.update(code.encode() + b"\0")
    return h.hexdigest()[:16]
