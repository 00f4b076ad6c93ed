"""Reusable pieces of the frame: the sidebar and the live run monitor."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.jobs.store import CANCELLED, DONE, FAILED, QUEUED, snapshot
from dashboard import figures, runs, state

STATE_ICONS = {QUEUED: "⏳", "RUNNING": "🏃", DONE: "✅", FAILED: "❌", CANCELLED: "⏹️"}


def sidebar() -> None:
    """Current dataset, current run and the worker's state, on every page."""
    with st.sidebar:
        st.caption("**Dataset**")
        st.write(st.session_state.get(state.DATASET) or "none")
        st.caption("**Current run**")
        run_id = st.session_state.get(state.RUN)
        job = runs.store().get(run_id) if run_id is not None else runs.newest("train")
        if job is None:
            st.write("none yet")
        else:
            st.write(f"{STATE_ICONS.get(job.state, '')} run {job.id}: {job.state.lower()}")
        st.caption("**Worker**")
        st.write(runs.keep_worker_alive())


def epoch_table(epochs: pd.DataFrame) -> pd.DataFrame:
    """fastai's epoch table: epoch, train_loss, valid_loss, metrics, time (mm:ss)."""
    if epochs.empty:
        return epochs
    table = epochs.drop(columns=[c for c in ("step", "phase") if c in epochs])
    if "phase" in epochs and epochs["phase"].nunique() > 1:
        table.insert(1, "phase", epochs["phase"])
    table["time"] = [f"{int(s) // 60:02d}:{int(round(s)) % 60:02d}" for s in table.pop("seconds")]
    return table


def run_monitor(run_id: int | None) -> None:
    """The live view of a training run: curve, epoch table, progress with time left, Stop."""
    if run_id is None:
        return
    first = snapshot(runs.store(), run_id)
    if first is None:
        return
    polling = not first.finished

    @st.fragment(run_every="1s" if polling else None)
    def view() -> None:
        snap = snapshot(runs.store(), run_id)
        job = snap.job
        cfg = job.params.get("config", {})
        st.subheader(f"{STATE_ICONS.get(job.state, '')} Run {job.id}: {job.state.lower()}")
        st.caption(
            f"{cfg.get('arch')} on {cfg.get('dataset')}, {cfg.get('epochs')} epoch(s), "
            f"lr {cfg.get('lr'):.2e}, batch size {cfg.get('bs')}"
        )
        if not snap.finished:
            st.progress(min(1.0, max(0.0, job.progress)), text=snap.eta_text)
            if st.button(
                "Stop",
                key=f"stop_{job.id}",
                icon=":material/stop:",
                help="Stop after the current batch; the history so far is kept.",
            ):
                runs.store().request_cancel(job.id)
                st.toast("Stopping after this batch…")
            if job.state == QUEUED:
                st.info(
                    f"Queued: position {snap.queue_position}. It starts when the jobs ahead of it finish."
                )
            runs.keep_worker_alive()
        if len(snap.batches):
            # While training, a static chart: the browser redraws it every second, and hover
            # layers would cost CPU the training needs. Finished runs are interactive.
            live = {"staticPlot": True} if not snap.finished else {"displaylogo": False}
            st.plotly_chart(figures.loss_curve(snap.batches, snap.epochs), key=f"loss_{job.id}", config=live)
        if len(snap.epochs):
            st.table(epoch_table(snap.epochs).set_index("epoch"))  # plain HTML: cheap to redraw
        if snap.finished:
            final_summary(job, snap)
            if polling:
                st.rerun()  # once, so the page stops polling

    view()


def final_summary(job, snap) -> None:
    """Final metrics, and the learning rate and momentum the run actually ended with."""
    result = job.result or {}
    if job.state == FAILED:
        st.error(f"The run failed: {job.error}")
        return
    if job.state == CANCELLED:
        st.warning(f"Stopped on request after {result.get('epochs_done', 0)} complete epoch(s).")
    cols = st.columns(4)
    acc = result.get("accuracy")
    cols[0].metric("accuracy", f"{acc:.2%}" if acc is not None else "—")
    vl = result.get("valid_loss")
    cols[1].metric("validation loss", f"{vl:.4f}" if vl is not None else "—")
    cols[2].metric("training time", f"{result.get('seconds', 0):.1f} s")
    ips = result.get("images_per_second")
    cols[3].metric("images / second", f"{ips:,.0f}" if ips else "—")
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
