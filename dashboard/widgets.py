"""Reusable pieces of the frame: the sidebar, the one job monitor, and a training run's live view."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from core import tasks
from core.fsutil import format_duration
from core.jobs.snapshot import Snapshot, snapshot
from core.jobs.store import CANCELLED, DONE, FAILED, QUEUED
from dashboard import figures, runs, state

STATE_ICONS = {QUEUED: "⏳", "RUNNING": "🏃", DONE: "✅", FAILED: "❌", CANCELLED: "⏹️"}
STOP_HELP = "Stop after the current batch; what was done so far is kept."


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
) -> Snapshot | None:
    """Follow one job of the store, live: the widget every page with a job uses.

    While the job is queued or running, a fragment redraws every `every`: head(snap), a
    progress bar (text: progress_text(snap), or the snapshot's "message — 42% — about 12 s
    left"), a Stop button (key state.stop_key(job_id)) that asks the job to stop, the queue
    position while queued, then body(snap); it also restarts a worker that died. When the job
    ends, on_finish(snap) runs and the whole page reruns once, so it stops polling and can show
    the outcome. For a job already finished, head and body are drawn once, with no polling.

    Returns the first snapshot read (None when there is no such job), so a caller knows the state.
    """
    if job_id is None:
        return None
    first = snapshot(runs.store(), job_id)
    if first is None:
        return None
    polling = not first.finished

    @st.fragment(run_every=every if polling else None)
    def view() -> None:
        snap = snapshot(runs.store(), job_id)
        if snap is None:
            return
        if polling and snap.finished:
            if on_finish is not None:
                on_finish(snap)
            st.rerun()  # once: the page redraws with the outcome and stops polling
        if head is not None:
            head(snap)
        if not snap.finished:
            text = progress_text(snap) if progress_text else snap.eta_text
            st.progress(min(1.0, max(0.0, snap.job.progress)), text=text)
            if st.button(stop_label, key=state.stop_key(job_id), icon=":material/stop:", help=stop_help):
                runs.store().request_cancel(job_id)
                if stop_toast:
                    st.toast(stop_toast)
            if snap.job.state == QUEUED:
                st.info(
                    f"Queued: position {snap.queue_position}. It starts when the jobs ahead of it finish."
                )
            runs.keep_worker_alive()  # a worker that died is replaced (and its job marked failed)
        if body is not None:
            body(snap)

    view()
    return first


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
    if len(snap.batches):
        # While training, a static chart: the browser redraws it every second, and hover
        # layers would cost CPU the training needs. Finished runs are interactive.
        live = {"staticPlot": True} if not snap.finished else {"displaylogo": False}
        st.plotly_chart(figures.loss_curve(snap.batches, snap.epochs), key=f"loss_{job.id}", config=live)
    if len(snap.epochs):
        st.table(epoch_table(snap.epochs).set_index("epoch"))  # plain HTML: cheap to redraw
    if snap.finished:
        final_summary(job, snap)


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
