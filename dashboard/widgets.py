"""Reusable pieces of the frame: the sidebar, the one job monitor, and a training run's live view."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from core import tasks
from core.errors import UserError
from core.fsutil import format_duration
from core.jobs.snapshot import Snapshot, snapshot
from core.jobs.store import CANCELLED, DONE, FAILED, QUEUED
from dashboard import figures, identity, live, runs, state
from dashboard.markup import md

# Streamlit's Material icons (a font Streamlit serves), not emoji: they render without an emoji font.
STATE_ICONS = {
    QUEUED: ":material/hourglass_empty:",
    "RUNNING": ":blue[:material/directions_run:]",
    DONE: ":green[:material/check_circle:]",
    FAILED: ":red[:material/cancel:]",
    CANCELLED: ":orange[:material/stop_circle:]",
}
STOP_HELP = "Stop after the current batch; what was done so far is kept."
WORKER_CHECK_S = 5.0  # a live view checks that the worker is still alive this often (not every poll)


def sidebar() -> None:
    """Current dataset, current run and the worker's state, on every page."""
    with st.sidebar:
        st.caption("**Dataset**")
        st.write(st.session_state.get(state.DATASET) or "none")
        st.caption("**Current run**")
        run_id = st.session_state.get(state.RUN)
        job = runs.store().get(run_id) if run_id is not None else runs.store().latest("train")
        if job is None:
            st.write("none yet")
        else:
            st.write(f"{STATE_ICONS.get(job.state, '')} run {job.id}: {job.state.lower()}")
        st.caption("**Worker**")
        st.write(runs.keep_worker_alive())


def job_monitor(
    job_id: int | None,
    body: Callable[[Snapshot], None] | None = None,
    *,
    head: Callable[[Snapshot], None] | None = None,
    progress_text: Callable[[Snapshot], str] | None = None,
    stop_label: str = "Stop",
    stop_help: str = STOP_HELP,
    stop_toast: str | None = None,
    on_finish: Callable[[Snapshot], None] | None = None,
    every: str = "1s",
    body_every: str = "2s",
) -> Snapshot | None:
    """Follow one job of the store, live: the widget every page with a job uses.

    While the job is queued or running, two fragments poll. The progress fragment, every `every`,
    reads the job's row alone and draws head(snap), a progress bar (text: progress_text(snap), or
    the snapshot's "message — 42% — about 12 s left"), a Stop button (key state.stop_key(job_id))
    that asks the job to stop, and the queue position while queued; it also restarts a worker
    that died. The records fragment, every `body_every`, draws body(snap) from the job's records,
    which are read again only when new ones arrived (dashboard.live.records, shared by every tab).
    When the job ends, on_finish(snap) runs and the whole page reruns once, so it stops polling
    and can show the outcome. For a job already finished, head and body are drawn once, with no
    polling.

    Returns the first snapshot read, without its records (None when there is no such job), so a
    caller knows the state.
    """
    if job_id is None:
        return None
    first = live.job_snapshot(runs.store(), job_id)
    if first is None:
        return None
    if first.finished:
        _finished_view(job_id, head, body)
        return first

    @identity.fragment(run_every=every)
    def progress() -> None:
        snap = live.job_snapshot(runs.store(), job_id)
        if snap is None:
            return
        if snap.finished:
            if on_finish is not None:
                on_finish(live.full_snapshot(runs.store(), job_id))
            st.rerun()  # once: the page redraws with the outcome and stops polling
        if head is not None:
            head(snap)
        text = progress_text(snap) if progress_text else snap.eta_text
        st.progress(min(1.0, max(0.0, snap.job.progress)), text=text)
        if st.button(stop_label, key=state.stop_key(job_id), icon=":material/stop:", help=stop_help):
            runs.store().request_cancel(job_id)
            if stop_toast:
                st.toast(stop_toast)
        if snap.job.state == QUEUED:
            st.info(f"Queued: position {snap.queue_position}. It starts when the jobs ahead of it finish.")
        if _due(f"worker_check_{job_id}", WORKER_CHECK_S):
            runs.keep_worker_alive()  # a worker that died is replaced (and its job marked failed)

    @identity.fragment(run_every=body_every)
    def records() -> None:
        snap = live.full_snapshot(runs.store(), job_id)
        if snap is not None:
            body(snap)

    progress()
    if body is not None:
        records()
    return first


def action_button(
    label: str,
    action: Callable[[], Any],
    done: Callable[[Any], None],
    *,
    key: str,
    icon: str,
    help: str,
    spinner: str | None = None,
) -> None:
    """A button that, when pressed, runs action (under a spinner saying spinner, if given): its
    UserError is shown where the button is, else done gets what it returned (to say so and rerun)."""
    if not st.button(label, key=key, icon=icon, help=help):
        return
    try:
        with st.spinner(spinner) if spinner else contextlib.nullcontext():
            result = action()
    except UserError as e:
        st.error(md(e))
    else:
        done(result)


def _due(key: str, seconds: float) -> bool:
    """True at most once every `seconds` in this session for key (and on the first call)."""
    now = time.monotonic()
    if now - st.session_state.get(key, -seconds) < seconds:
        return False
    st.session_state[key] = now
    return True


def _finished_view(job_id: int, head, body) -> None:
    """A finished job's head and body, drawn once (a fragment: their buttons rerun only it)."""

    @identity.fragment
    def view() -> None:
        snap = snapshot(runs.store(), job_id)
        if snap is None:
            return
        if head is not None:
            head(snap)
        if body is not None:
            body(snap)

    view()


def epoch_table(epochs: pd.DataFrame) -> pd.DataFrame:
    """fastai's epoch table: epoch, train_loss, valid_loss, metrics, time (mm:ss, as fastai)."""
    if epochs.empty:
        return epochs
    table = epochs.drop(columns=[c for c in ("step", "phase") if c in epochs])
    if "phase" in epochs and epochs["phase"].nunique() > 1:
        table.insert(1, "phase", epochs["phase"])
    table["time"] = [format_duration(s) for s in table.pop("seconds")]
    return table


def run_monitor(run_id: int | None) -> None:
    """The live view of a training run: curve, epoch table, progress with time left, Stop."""
    job_monitor(
        run_id,
        _run_records,
        head=_run_heading,
        stop_help="Stop after the current batch; the history so far is kept.",
        stop_toast="Stopping after this batch…",
    )


def _run_heading(snap: Snapshot) -> None:
    job = snap.job
    cfg = job.params.get("config", {})
    st.subheader(f"{STATE_ICONS.get(job.state, '')} Run {job.id}: {job.state.lower()}")
    task = cfg.get("task") or tasks.DEFAULT
    kind = f"{tasks.get(task).title}: " if task != tasks.DEFAULT and task in tasks.TASKS else ""
    st.caption(
        f"{kind}{cfg.get('arch')} on {cfg.get('dataset')}, {cfg.get('epochs')} epoch(s), "
        f"lr {cfg.get('lr'):.2e}, batch size {cfg.get('bs')}"
    )


def _run_records(snap: Snapshot) -> None:
    job = snap.job
    if snap.finished:
        if len(snap.batches):
            curve = figures.loss_curve(snap.batches, snap.epochs)
            st.plotly_chart(curve, key=f"loss_{job.id}", config={"displaylogo": False})
        if len(snap.epochs):
            st.table(epoch_table(snap.epochs).set_index("epoch"))
        final_summary(job, snap)
        return
    # While training: a static chart (hover layers would cost CPU the training needs) of at most
    # LIVE_POINTS points, built once per new version of the records and shared by every tab; an
    # unchanged chart is re-sent as a reference to the copy the browser already holds.
    rec = live.records(runs.store(), job.id)
    if len(rec.batches):
        spec = live.drawn(rec, "loss", lambda r: figures.live_loss_spec(r.batches, r.epochs))
        st.plotly_chart(spec, key=f"loss_{job.id}", config={"staticPlot": True})
    if len(rec.epochs):
        table = live.drawn(
            rec, "epochs", lambda r: epoch_table(r.epochs).set_index("epoch"), epochs_only=True
        )
        st.table(table)  # plain HTML: cheap to redraw


EPOCH_COLUMNS = {"epoch", "phase", "step", "train_loss", "valid_loss", "seconds"}


def other_metrics(task, epochs: pd.DataFrame) -> dict[str, str]:
    """The task's metrics besides its main one, as the last epoch recorded them (written the task's way)."""
    if epochs.empty:
        return {}
    last = epochs.iloc[-1]
    names = [c for c in epochs.columns if c not in EPOCH_COLUMNS and c != task.main_metric]
    return {n: task.metric_format.format(last[n]) for n in names if pd.notna(last[n])}


def final_summary(job, snap) -> None:
    """Final metrics, and the learning rate and momentum the run actually ended with."""
    result = job.result or {}
    if job.state == FAILED:
        st.error(f"The run failed: {job.error}")
        return
    if job.state == CANCELLED:
        st.warning(f"Stopped on request after {result.get('epochs_done', 0)} complete epoch(s).")
    cols = st.columns(4)
    task = tasks.get(job.task or tasks.DEFAULT)  # the task says which figure matters and how to write it
    value = result.get(task.main_metric)
    cols[0].metric(task.main_metric, task.metric_format.format(value) if value is not None else "—")
    vl = result.get("valid_loss")
    cols[1].metric("validation loss", f"{vl:.4f}" if vl is not None else "—")
    cols[2].metric("training time", f"{result.get('seconds', 0):.1f} s")
    ips = result.get("images_per_second")  # items per second: images, rows or ratings
    unit = {"table": "rows", "ratings": "ratings"}.get(task.inputs, "images")
    cols[3].metric(f"{unit} / second", f"{ips:,.0f}" if ips else "—")
    others = other_metrics(task, snap.epochs)
    if others:
        st.caption("Also after the last epoch: " + ", ".join(f"{k} {v}" for k, v in others.items()) + ".")
    if len(snap.batches):
        last = snap.batches.iloc[-1]
        peak = snap.batches["lr"].max()
        mom = "" if pd.isna(last["mom"]) else f", momentum {last['mom']:.3f}"
        st.caption(f"Learning rate used: peak {peak:.2e}, final {last['lr']:.2e}{mom}.")
    if result.get("notice"):
        st.info(result["notice"])
    if job.state == DONE and result.get("weights"):
        from dashboard.bundle_view import save_model_controls

        save_model_controls(job)
