"""One run on the Runs page: its curves and results, settings, data version, link, CLI command,
name and note, delete, repeat with other seeds, continue training."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import runs as run_files
from core.config import SCHEDULES
from core.errors import UserError
from core.jobs.store import CANCELLED, DONE, FAILED, Job
from dashboard import runs, state, widgets
from dashboard.markup import md
from dashboard.views.runs_table import TEXT, link, set_picked

SAME = "same as before"


def show(job: Job, row: pd.Series | None) -> None:
    """Everything about one run; row is its line of the runs table (None when not listed)."""
    title = f"Run {job.id}" + (f" · {md(job.name)}" if job.name else "")
    st.header(title, anchor=False)
    if job.note:
        st.caption(md(job.note))
    if job.parent is not None:
        if st.button(
            f"Continues run {job.parent}: open it", key=f"open_parent_{job.id}", help="Open the parent run."
        ):
            set_picked([job.parent])
            st.rerun()
    st.caption(TEXT["link"])
    st.code(link([job.id]), language=None)
    st.caption(TEXT["cli"])
    st.code(_cli(job), language="bash")

    widgets.run_monitor(job.id)  # the curve, fastai's epoch table, the final figures (live if running)
    _kept(job)
    if job.state == FAILED:
        _log_tail(job)
    if job.state == DONE and (job.result or {}).get("weights", True):
        st.page_link(
            "../pages/results.py",
            label="Results of this run",
            icon=":material/insights:",
            help=TEXT["results"],
        )

    with st.expander("Settings and data version"):
        st.dataframe(settings_table(job, row), hide_index=True)
    _name_and_note(job)
    left, right = st.columns(2)
    with left:
        _repeat(job)
    with right:
        _continue(job)
    st.divider()
    if st.button("Delete this run", icon=":material/delete:", key=f"delete_{job.id}", help=TEXT["delete"]):
        from core.analysis import history

        try:
            history.delete(runs.store(), job.id)
        except UserError as e:
            st.error(md(e))
        else:
            st.session_state[state.RUNS_UNDO] = [job.id]
            st.session_state[state.RUNS_NOTICE] = ("info", f"Run {job.id} moved to the trash.")
            set_picked([])
            st.rerun()


def _cli(job: Job) -> str:
    from core.analysis import history

    try:
        return history.cli_command(job)
    except UserError as e:
        return f"# {e}"


def settings_table(job: Job, row: pd.Series | None) -> pd.DataFrame:
    """The run's settings as (setting, value) rows, the data version and parent among them."""
    cfg = dict((job.params or {}).get("config") or {})
    flat: dict[str, object] = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            for k, v in value.items():
                flat[f"{key}.{k}"] = v
        else:
            flat[key] = value
    fingerprint = None
    if row is not None and "data_fingerprint" in row:
        fingerprint = row["data_fingerprint"]
    flat["data version"] = fingerprint if isinstance(fingerprint, str) and fingerprint else "not recorded"
    flat["parent run"] = job.parent if job.parent is not None else "none"
    flat["sweep"] = job.sweep_id if job.sweep_id is not None else "none"
    return pd.DataFrame({"setting": list(flat), "value": [str(v) for v in flat.values()]})


def _kept(job: Job) -> None:
    result = job.result or {}
    if result.get("kept") == "best" and result.get("best_epoch") is not None:
        cfg = (job.params or {}).get("config") or {}
        monitor = cfg.get("monitor", "valid_loss")
        st.info(TEXT["kept"].format(epoch=result["best_epoch"], monitor=monitor.replace("_", " ")))


def _log_tail(job: Job) -> None:
    from core.analysis import history

    st.caption(TEXT["log"])
    st.code(history.log_tail(job) or (job.error or "no log"), language=None)


def _name_and_note(job: Job) -> None:
    with st.form(f"name_note_{job.id}", border=False):
        c = st.columns([1, 2])
        name = c[0].text_input(
            "Name", value=job.name or "", max_chars=100, key=f"{state.RUNS_NAME}_{job.id}", help=TEXT["name"]
        )
        note = c[1].text_input(
            "Note", value=job.note or "", max_chars=1000, key=f"{state.RUNS_NOTE}_{job.id}", help=TEXT["note"]
        )
        if st.form_submit_button("Save name and note", icon=":material/save:", help=TEXT["save"]):
            from core.analysis import history

            try:
                if name != (job.name or ""):
                    history.rename(runs.store(), job.id, name)
                if note != (job.note or ""):
                    history.set_note(runs.store(), job.id, note)
            except UserError as e:
                st.error(md(e))
            else:
                st.session_state[state.RUNS_NOTICE] = ("success", f"Run {job.id} saved.")
                st.rerun()


def _repeat(job: Job) -> None:
    st.subheader("Is it real?", anchor=False)
    n = st.number_input(
        "More seeds",
        min_value=1,
        max_value=9,
        value=2,
        key=f"{state.RUNS_SEEDS}_{job.id}",
        help=TEXT["seeds"],
    )
    if st.button(
        "Repeat with other seeds", icon=":material/casino:", key=f"repeat_{job.id}", help=TEXT["repeat"]
    ):
        from core.analysis import history

        try:
            ids = history.repeat_with_seeds(runs.store(), job.id, n=int(n))
        except UserError as e:
            st.error(md(e))
            return
        runs.ensure_running()
        st.session_state[state.RUNS_NOTICE] = (
            "success",
            f"Queued run {', '.join(map(str, ids))} with the same settings and other seeds; "
            "they are compared here.",
        )
        set_picked([job.id, *ids])
        st.rerun()


def _continue(job: Job) -> None:
    st.subheader("Continue training", anchor=False)
    st.caption(TEXT["cont_intro"])
    if job.state not in (DONE, CANCELLED, FAILED):
        st.caption("Available once the run has ended.")
        return
    if not run_files.has_checkpoint(job.id):
        st.caption(TEXT["cont_none"])
        return
    cfg = (job.params or {}).get("config") or {}
    with st.form(f"continue_{job.id}", border=False):
        epochs = st.number_input(
            "More epochs",
            min_value=1,
            max_value=1000,
            value=2,
            key=f"{state.CONT_EPOCHS}_{job.id}",
            help=TEXT["cont_epochs"],
        )
        new_lr = st.toggle("New learning rate", key=f"{state.CONT_NEW_LR}_{job.id}", help=TEXT["cont_new_lr"])
        lr = st.number_input(
            "Learning rate for the extra epochs",
            min_value=0.0,
            max_value=10.0,
            value=float(cfg.get("lr", 1e-3)),
            format="%.2e",
            step=1e-4,
            key=f"{state.CONT_LR}_{job.id}",
            help=TEXT["cont_lr"],
        )
        schedule = st.selectbox(
            "Schedule",
            [SAME, *SCHEDULES],
            key=f"{state.CONT_SCHEDULE}_{job.id}",
            format_func=lambda s: s.replace("_", " "),
            help=TEXT["cont_schedule"],
        )
        unfreeze = st.toggle(
            "Unfreeze every layer", key=f"{state.CONT_UNFREEZE}_{job.id}", help=TEXT["cont_unfreeze"]
        )
        if st.form_submit_button("Continue training", icon=":material/fast_forward:", help=TEXT["continue"]):
            try:
                child = submit_continue(
                    job.id,
                    epochs=int(epochs),
                    lr=float(lr) if new_lr else None,
                    schedule=None if schedule == SAME else schedule,
                    unfreeze=bool(unfreeze),
                )
            except UserError as e:
                st.error(md(e))
                return
            runs.ensure_running()
            st.session_state[state.RUNS_NOTICE] = (
                "success",
                f"Queued run {child}: {int(epochs)} more epoch(s) of run {job.id}. "
                "Its curve continues the parent's below.",
            )
            set_picked([job.id, child])
            st.rerun()


def submit_continue(parent: int, **kwargs) -> int:
    """Queue a continuation through the engine (core.train.continuing.submit_continue)."""
    from core.train import continuing

    return continuing.submit_continue(runs.store(), parent, **kwargs)
