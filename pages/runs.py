"""Runs: every run in one table; one run opened in full, or 2–10 compared side by side."""

import streamlit as st

from core import people
from dashboard import runs, state
from dashboard.views import queue, runs_compare, runs_detail, runs_table

state.init()
st.title("Runs")
st.caption(runs_table.TEXT["intro"])
runs_table.notice()
with st.expander("Queue", icon=":material/queue:", expanded=bool(runs.active_jobs())):
    queue.lanes_panel(every="2s")
if people.is_teacher():
    with st.expander("Everyone's jobs (teacher)", icon=":material/groups:"):
        queue.class_panel()

frame = runs_table.all_runs()
if frame.empty and not runs_table.picked():
    st.info(runs_table.TEXT["empty"])
    st.page_link("../pages/train.py", label="Train a model", icon=":material/model_training:")
    st.stop()

runs_table.table(frame)
picked = runs_table.picked()
if not picked:
    st.caption(runs_table.TEXT["picked"])
    st.stop()
runs_table.sync_query(picked)
jobs = [job for job in (runs.store().get(i) for i in picked) if job is not None and job.deleted is None]
rows = frame.set_index("id")
if len(picked) > runs_table.MAX_COMPARE:
    st.error(runs_compare.TEXT["too_many"])
elif len(jobs) == 1:
    job = jobs[0]
    runs_detail.show(job, rows.loc[job.id] if job.id in rows.index else None)
elif len(jobs) > 1:
    runs_compare.show(jobs)
