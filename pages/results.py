"""Results: where a trained model goes wrong, cleaning the labels it doubts, and retraining."""

import streamlit as st

from core import tasks
from core.data import access, datasets
from core.errors import UserError
from dashboard import cleaner, results_view, runs, state

state.init()
st.title("Results")
TEXT = results_view.TEXT
st.write(TEXT["intro"])

job = results_view.choose_run(runs.store())
if job is None:
    st.info(TEXT["no_run"])
    st.page_link("../pages/train.py", label="Train a model", icon=":material/model_training:")
    st.stop()

dataset = job.params["config"]["dataset"]
try:
    root = datasets.resolve(dataset).path
    for message in access.recover(dataset):  # a crash while applying left a journal open
        st.warning(message)
    with st.spinner(f"Predicting every image of {dataset} with run {job.id}'s model…"):
        interp = results_view.interpretation(job)
except UserError as e:
    st.error(str(e))
    st.stop()
except OSError as e:  # files moved by a clean-up in another tab while this page read them
    st.warning(f"The dataset changed while it was being read ({e.strerror}); reload the page.")
    st.stop()

results_view.summary_metrics(interp)
views = tasks.get(job.task or tasks.DEFAULT).result_views  # the sections that make sense for this task

if "confusion" in views:
    st.subheader("Confusion matrix")
    st.caption(TEXT["confusion"])
    results_view.confusion_section(interp, dataset, root)
    results_view.confusion_tables(interp)

if "top_losses" in views:
    st.subheader("Top losses")
    st.caption(TEXT["top_losses"])
    results_view.ranking_section(job, interp, dataset, root)

if "cleaner" in views:
    st.subheader("Apply the changes")
    cleaner.plan_section(dataset)
    st.subheader("History")
    st.caption(TEXT["history"])
    cleaner.history_section(dataset)

st.subheader("Retrain and compare")
st.caption(TEXT["retrain"].format(run=job.id, dataset=dataset))
results_view.retrain_section(job, interp)
