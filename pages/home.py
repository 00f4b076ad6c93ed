"""Home: what the playground is for, the datasets it has, and the runs so far."""

import streamlit as st

from core import datasets
from core.jobs import Store

st.title("fastai playground")
st.write(
    "Train image classifiers with fastai in the browser: pick a dataset, tune the learning "
    "rate, batch size, weight decay and epochs, and watch the loss fall. "
    "The engine runs in a separate worker process, so a run survives reloads and closed tabs."
)
st.caption("Training from the browser arrives with the Train page; for now, use the command "
           "line: `python -m core train --dataset digits` — its runs appear below.")

st.subheader("Datasets")
st.dataframe(
    [{"name": n, "what": d} for n, d in datasets.BUILTINS.items()],
    hide_index=True,
)

st.subheader("Runs")
jobs = Store().jobs(limit=20)
if not jobs:
    st.info("No runs yet. Train one with `python -m core train` to see it here.")
    st.stop()
rows = []
for job in jobs:
    result = job.result or {}
    rows.append({
        "run": job.id,
        "kind": job.kind,
        "state": job.state,
        "dataset": job.params.get("config", {}).get("dataset"),
        "arch": job.params.get("config", {}).get("arch"),
        "accuracy": result.get("accuracy"),
        "seconds": result.get("seconds"),
        "error": job.error,
    })
st.dataframe(rows, hide_index=True)
