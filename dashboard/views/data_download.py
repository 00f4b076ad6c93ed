"""fastai's downloadable datasets on the Data page: the catalogue and the download being followed."""

from __future__ import annotations

import streamlit as st

from core.data import catalogue, download
from core.data.ingest.place import summary_text
from core.fsutil import human_size
from core.jobs.store import ACTIVE, DONE, FAILED, QUEUED
from dashboard import runs, state, widgets
from dashboard.markup import md
from dashboard.text import sections


def catalogue_tab() -> None:
    """fastai's datasets: size, state, a Download button (disabled offline, with the reason)."""
    online, reason = download.availability()
    if not online:
        st.warning(
            f"Offline: {reason}. Downloads are off; everything else works.", icon=":material/cloud_off:"
        )
    active = _active_download()
    for entry in catalogue.CATALOGUE.values():
        cols = st.columns([4, 1, 2])
        cols[0].markdown(f"**{entry.title}** · `{entry.key}`  \n{entry.description}")
        cols[1].write(human_size(entry.size))
        if download.installed(entry):
            cols[2].write(f":green[:material/check_circle:] added as {entry.name}")
            continue
        cached = download.cached_archive(entry) is not None
        why = (
            "Extract the archive already in the download cache."
            if cached
            else f"Download {human_size(entry.size)} from fastai's server."
        )
        if not online and not cached:
            why = f"Unavailable offline: {reason}."
        if cols[2].button(
            "Add from cache" if cached else "Download",
            key=f"dl_{entry.key}",
            icon=":material/download:",
            disabled=(not online and not cached) or active is not None,
            help=why,
        ):
            if (job_id := runs.submit("download", {"key": entry.key})) is not None:
                st.session_state[state.DOWNLOAD_JOB] = job_id
                st.rerun()
    download_monitor()


def _active_download():
    return runs.store().latest("download", states=ACTIVE)


def _finished(title: str, result: dict) -> str:
    """What a finished download added, its labels escaped for markdown."""
    if isinstance(result.get("classes"), dict) and result.get("dataset"):
        return summary_text(
            result["dataset"],
            result["classes"],
            int(result.get("skipped") or 0),
            show=md,
            task=result.get("task", "single_label"),
            n_images=result.get("images"),
        )
    return result.get("summary") or f"{title} is ready as {result.get('dataset')}."


def download_monitor() -> None:
    """The download being followed: the job monitor while it runs, its outcome when it ends."""
    job_id = st.session_state.get(state.DOWNLOAD_JOB)
    if job_id is None:
        active = _active_download()
        job_id = active.id if active else None
    widgets.job_monitor(
        job_id,
        _outcome,
        progress_text=_progress,
        stop_label="Stop the download",
        stop_help=sections("data")["download_stop"],
        on_finish=_downloaded,
    )


def _title(job) -> str:
    key = job.params.get("key", "")
    return catalogue.CATALOGUE[key].title if key in catalogue.CATALOGUE else key


def _progress(snap) -> str:
    job = snap.job
    return f"{_title(job)}: {job.message or ('queued' if job.state == QUEUED else 'starting')}"


def _outcome(snap) -> None:
    """A finished download's outcome (nothing while it runs: the monitor shows its progress)."""
    job, title = snap.job, _title(snap.job)
    result = job.result or {}
    if job.state == FAILED:
        st.error(f"{title}: {md(job.error)}")
    elif result.get("cancelled"):
        st.info(f"{title}: stopped; nothing was kept.")
    elif job.state == DONE:
        st.success(_finished(title, result))


def _downloaded(snap) -> None:
    """When the download ends: keep showing its outcome, and make a new dataset the current one."""
    st.session_state[state.DOWNLOAD_JOB] = snap.job.id
    result = snap.job.result or {}
    if snap.job.state == DONE and result.get("dataset") and not result.get("cancelled"):
        st.session_state[state.DATASET] = result["dataset"]
