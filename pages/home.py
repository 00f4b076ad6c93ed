"""Home: what the playground is for, one click to a first model, and the runs so far."""

import pandas as pd
import streamlit as st

from core import tasks
from core.config import TrainConfig
from core.data import datasets
from dashboard import runs, state
from dashboard.text import sections

state.init()
TEXT = sections("home")
st.title("fastai playground")
st.write(TEXT["intro"])

first = TrainConfig()
st.subheader("Start here")
st.write(
    TEXT["start_here"].format(
        dataset=first.dataset,
        what=datasets.BUILTINS[first.dataset],
        arch=first.arch,
        lr=f"{first.lr:g}",
        epochs=first.epochs,
    )
)
if st.button(
    "Train your first model",
    type="primary",
    icon=":material/rocket_launch:",
    help=TEXT["first_model_help"],
):
    if (job_id := runs.submit("train", {"config": first.to_dict()})) is not None:
        st.session_state[state.RUN] = job_id
        st.switch_page("../pages/train.py")
st.caption(TEXT["next"])

st.subheader("Datasets")
# Plain HTML tables: a few rows each, and much lighter for the browser than interactive grids.
st.table(pd.DataFrame([{"name": n, "what": d} for n, d in datasets.BUILTINS.items()]).set_index("name"))

st.subheader("Runs")
jobs = runs.store().jobs(limit=20)
if not jobs:
    st.info(TEXT["no_runs"])
    st.stop()


def _main_metric(task: str | None, result: dict) -> tuple[str, float | None]:
    """The run's main figure, as its task names it (accuracy, f1_macro, mean_iou…), and its value."""
    name = tasks.get(task or tasks.DEFAULT).main_metric
    return name, result.get(name)


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
            "task": job.task or tasks.DEFAULT,
            "metric": _main_metric(job.task, result)[0],
            "value": _main_metric(job.task, result)[1],
            "seconds": result.get("seconds"),
            "error": job.error,
        }
    )
st.table(pd.DataFrame(rows).set_index("run"))
