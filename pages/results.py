"""Results: where a trained model goes wrong, cleaning the labels it doubts, and retraining."""

import streamlit as st

from core.analysis import clean
from core.data import datasets
from core.errors import UserError
from dashboard import cleaner, results_view, runs, state

state.init()
st.title("Results")
st.write(results_view.INTRO)

job = results_view.choose_run(runs.store())
if job is None:
    st.info("Train a model first: its confusion matrix and top losses will appear here.")
    st.page_link("../pages/train.py", label="Train a model", icon=":material/model_training:")
    st.stop()

dataset = job.params["config"]["dataset"]
try:
    root = datasets.resolve(dataset).path
    for message in clean.recover(dataset):  # a crash while applying left a journal open
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

st.subheader("Confusion matrix")
st.caption(
    "Rows are the actual classes, columns the predictions: the diagonal is right, "
    "everything else is a mistake. Click a cell to see its images."
)
results_view.confusion_section(interp, dataset, root)

results_view.confusion_tables(interp)

st.subheader("Top losses")
st.caption(
    "The images the model is most wrong, or most surprised, about. Mark each: keep "
    "(the label is right), delete (to the trash), or relabel. Marks are saved at once and "
    "stay until you apply or clear them."
)
results_view.ranking_section(job, interp, dataset, root)

st.subheader("Apply the changes")
cleaner.plan_section(dataset)

st.subheader("History")
st.caption(
    "Every applied plan is journalled before a file moves; undo puts the files back "
    "byte for byte, most recent change first."
)
cleaner.history_section(dataset)

st.subheader("Retrain and compare")
st.caption(f"Train again with run {job.id}'s settings on {dataset} as it is now, and compare.")
results_view.retrain_section(job, interp)
