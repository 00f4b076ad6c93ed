"""The Runs page's table: filters, sort, CSV, the runs picked (by row, by list or by link)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.fsutil import frame_csv_bytes
from dashboard import runs, state
from dashboard.text import sections

TEXT = sections("runs")
MAX_COMPARE = 10
QUERY = "run"  # ?run=7 opens run 7; ?run=5,7 compares runs 5 and 7
PENDING = "_runs_pending"  # runs a button chose after the list was drawn: applied on the next run
STATES = ["DONE", "FAILED", "CANCELLED", "RUNNING", "QUEUED"]
# What the table shows, in order, and how each column is headed.
COLUMNS = {
    "id": "run",
    "label": "name or note",
    "dataset": "dataset",
    "task": "task",
    "arch": "architecture",
    "lr": "lr",
    "bs": "batch size",
    "wd": "wd",
    "epochs": "epochs",
    "schedule": "schedule",
    "freeze_epochs": "freeze",
    "seed": "seed",
    "augment": "augment",
    "metric": "final metric",
    "valid_loss": "valid loss",
    "seconds": "time (s)",
    "images_per_second": "images/s",
    "state": "state",
    "created": "date",
    "parent": "parent",
}
SORTS = ["created", "metric", "valid_loss", "lr", "bs", "wd", "epochs", "seconds", "images_per_second", "id"]


def all_runs(include_deleted: bool = False) -> pd.DataFrame:
    """Every train run of the store (history.runs_frame: one query, no file reads)."""
    from core.analysis import history

    return history.runs_frame(runs.store(), include_deleted=include_deleted)


def picked() -> list[int]:
    """The runs opened: from the link on first load, else what the table, the list or a button chose."""
    ss = st.session_state
    if "_runs_query_read" not in ss:
        ss["_runs_query_read"] = True
        raw = st.query_params.get(QUERY)
        if raw:
            try:
                ss[PENDING] = [int(v) for v in str(raw).split(",") if v.strip()]
            except ValueError:
                ss[state.RUNS_NOTICE] = ("error", f"{raw!r} is not a run number.")
    if PENDING in ss:
        ss[state.RUNS_PICKED] = ss.pop(PENDING)
    return list(ss.get(state.RUNS_PICKED) or [])


def set_picked(ids: list[int]) -> None:
    """Open these runs (one: its page; several: the comparison) on the next run of the page."""
    st.session_state[PENDING] = [int(i) for i in ids]
    st.session_state["_runs_query_read"] = True
    sync_query(ids)


def sync_query(ids: list[int]) -> None:
    """Keep ?run=… in the address bar in step with the runs opened, so it can be shared."""
    value = ",".join(str(i) for i in ids)
    if value:
        if st.query_params.get(QUERY) != value:
            st.query_params[QUERY] = value
    elif QUERY in st.query_params:
        del st.query_params[QUERY]


def link(ids: list[int]) -> str:
    """The address that opens these runs directly."""
    base = "/runs"
    try:
        url = st.context.url or ""
        if url:
            base = url.split("?")[0]
    except Exception:  # noqa: BLE001 - no browser context (AppTest): a relative link will do
        pass
    return f"{base}?{QUERY}={','.join(str(i) for i in ids)}"


def filters(frame: pd.DataFrame) -> pd.DataFrame:
    """Dataset, architecture, state and text filters, and the sort; returns the rows kept."""
    c = st.columns([2, 2, 2, 3, 2, 2])
    ds = c[0].multiselect(
        "Dataset",
        sorted(frame["dataset"].dropna().unique()),
        key=state.RUNS_F_DATASET,
        persist_state="session",
        help=TEXT["f_dataset"],
    )
    archs = c[1].multiselect(
        "Architecture",
        sorted(frame["arch"].dropna().unique()),
        key=state.RUNS_F_ARCH,
        persist_state="session",
        help=TEXT["f_arch"],
    )
    states = c[2].multiselect(
        "State",
        STATES,
        key=state.RUNS_F_STATE,
        persist_state="session",
        format_func=str.lower,
        help=TEXT["f_state"],
    )
    text = c[3].text_input(
        "Search",
        key=state.RUNS_F_TEXT,
        persist_state="session",
        placeholder="id, name, note…",
        help=TEXT["f_text"],
    )
    sort = c[4].selectbox(
        "Sort by",
        SORTS,
        key=state.RUNS_SORT,
        persist_state="session",
        format_func=lambda s: COLUMNS.get(s, s),
        help=TEXT["sort"],
    )
    st.session_state.setdefault(state.RUNS_DESC, True)
    desc = c[5].toggle("Descending", key=state.RUNS_DESC, persist_state="session", help=TEXT["desc"])
    keep = pd.Series(True, index=frame.index)
    if ds:
        keep &= frame["dataset"].isin(ds)
    if archs:
        keep &= frame["arch"].isin(archs)
    if states:
        keep &= frame["state"].isin(states)
    if text.strip():
        needle = text.strip().lower()
        hay = (
            frame["id"].astype(str)
            + " "
            + frame["name"].fillna("")
            + " "
            + frame["note"].fillna("")
            + " "
            + frame["dataset"].fillna("")
            + " "
            + frame["arch"].fillna("")
        ).str.lower()
        keep &= hay.str.contains(needle, regex=False)
    out = frame[keep]
    return out.sort_values([sort, "id"], ascending=[not desc, not desc], na_position="last", kind="stable")


def shown(frame: pd.DataFrame) -> pd.DataFrame:
    """The table as displayed and downloaded: readable columns, dates as dates."""
    out = frame.copy()
    out["label"] = out["name"].fillna("").where(out["name"].fillna("") != "", out["note"].fillna(""))
    out["created"] = pd.to_datetime(out["created"], unit="s").dt.strftime("%Y-%m-%d %H:%M")
    out["state"] = out["state"].str.lower()
    return out[[c for c in COLUMNS if c in out]].rename(columns=COLUMNS)


def _from_table() -> None:
    rows = st.session_state[state.RUNS_TABLE]["selection"]["rows"]
    ids = st.session_state.get("_runs_shown_ids", [])
    set_picked([ids[r] for r in rows if r < len(ids)][: MAX_COMPARE + 5])


def _from_list() -> None:
    sync_query(st.session_state[state.RUNS_PICKED])


def table(frame: pd.DataFrame) -> pd.DataFrame:
    """Filters, the table (rows selectable), a CSV download and the runs-picked list."""
    kept = filters(frame)
    view = shown(kept)
    st.session_state["_runs_shown_ids"] = [int(i) for i in kept["id"]]
    st.dataframe(
        view,
        hide_index=True,
        key=state.RUNS_TABLE,
        on_select=_from_table,
        selection_mode="multi-row",
        height=min(420, 38 + 35 * max(1, len(view))),
        column_config={
            "lr": st.column_config.NumberColumn(format="%.1e"),
            "wd": st.column_config.NumberColumn(format="%.0e"),
            "final metric": st.column_config.NumberColumn(format="%.4f"),
            "valid loss": st.column_config.NumberColumn(format="%.4f"),
            "time (s)": st.column_config.NumberColumn(format="%.1f"),
            "images/s": st.column_config.NumberColumn(format="%.0f"),
        },
    )
    left, right = st.columns([3, 1])
    left.caption(f"{len(kept)} of {len(frame)} runs shown.")
    right.download_button(
        "Download CSV",
        frame_csv_bytes(view),
        file_name="runs.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        help=TEXT["csv"],
    )
    options = [int(i) for i in frame["id"]]
    current = [i for i in picked() if i in options]
    unknown = [i for i in picked() if i not in options]
    for i in unknown:
        st.error(f"There is no run {i} (it may have been deleted).")
    st.session_state[state.RUNS_PICKED] = current
    names = dict(zip(frame["id"].astype(int), frame["name"].fillna("")))
    st.multiselect(
        "Runs to open or compare",
        options,
        key=state.RUNS_PICKED,
        persist_state="session",
        on_change=_from_list,
        format_func=lambda i: f"run {i}" + (f" · {names[i]}" if names.get(i) else ""),
        help=TEXT["picked"],
    )
    return kept


def notice() -> None:
    """The outcome of the last rename, delete, undo or queue, once; Undo after a delete."""
    note = st.session_state.get(state.RUNS_NOTICE)
    if note:
        kind, text = note
        getattr(st, kind)(text)
        st.session_state[state.RUNS_NOTICE] = None
    undo = st.session_state.get(state.RUNS_UNDO) or []
    if undo and st.button(
        f"Undo: restore run {', '.join(map(str, undo))}", icon=":material/undo:", help=TEXT["undo"]
    ):
        from core.analysis import history

        for run_id in undo:
            history.restore(runs.store(), run_id)
        st.session_state[state.RUNS_UNDO] = []
        set_picked(undo)
        st.session_state[state.RUNS_NOTICE] = ("success", f"Run {', '.join(map(str, undo))} restored.")
        st.rerun()
