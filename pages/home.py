"""Home: what the playground is for, one click to a first model, and the runs so far."""

import pandas as pd
import streamlit as st

from core.config import TrainConfig
from core.data import datasets
from dashboard import runs, state

state.init()
st.title("fastai playground")
st.write(
    "Train image classifiers with fastai in the browser: pick a dataset, tune the learning "
    "rate, batch size, weight decay and epochs, and watch the loss fall. Every control says "
    "what it does. Training runs in a separate worker process, so a run survives reloads and "
    "closed tabs."
)

first = TrainConfig()
st.subheader("Start here")
st.write(
    f"Train a digit classifier on {first.dataset} ({datasets.BUILTINS[first.dataset]}) "
    f"with good defaults: {first.arch}, learning rate {first.lr:g}, {first.epochs} epochs. "
    "It takes a few seconds on a laptop CPU."
)
if st.button(
    "Train your first model",
    type="primary",
    icon=":material/rocket_launch:",
    help="Queue a run with the defaults and open the Train page to watch it.",
):
    st.session_state[state.RUN] = runs.submit("train", {"config": first.to_dict()})
    st.switch_page("../pages/train.py")
st.caption(
    "Then: the LR finder suggests a learning rate, and the Model page shows the network layer by layer."
)

st.subheader("Datasets")
# Plain HTML tables: a few rows each, and much lighter for the browser than interactive grids.
st.table(pd.DataFrame([{"name": n, "what": d} for n, d in datasets.BUILTINS.items()]).set_index("name"))

st.subheader("Runs")
jobs = runs.store().jobs(limit=20)
if not jobs:
    st.info("No runs yet. Press “Train your first model”, or run `python -m core train`.")
    st.stop()
rows = []
for job in jobs:
    cfg = job.params.get("config", {})
    result = job.result or {}
    rows.append(
        {
            "run": job.id,
            "kind": job.kind,
            "state": job.state,
            "dataset": cfg.get("dataset"),
            "arch": cfg.get("arch"),
            "accuracy": result.get("accuracy"),
            "seconds": result.get("seconds"),
            "error": job.error,
        }
    )
st.table(pd.DataFrame(rows).set_index("run"))
