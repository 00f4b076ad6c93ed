"""Results: where a trained model goes wrong, cleaning the labels it doubts, and retraining.

The sections shown are the task's result_views; single-label's live in dashboard/results_view.py,
multi-label's and segmentation's in dashboard/views/results_multi.py and results_seg.py, tables' and
ratings' in results_table.py and results_collab.py.
"""

import streamlit as st

from core import tasks
from core.data import access, datasets
from core.errors import UserError
from dashboard import cleaner, results_view, runs, state
from dashboard.views import (
    results_collab,
    results_issues,
    results_multi,
    results_retrain,
    results_seg,
    results_table,
)

state.init()
st.title("Results")
TEXT = results_view.TEXT

job = results_view.choose_run(runs.store())
if job is None:
    st.write(TEXT["intro"])
    st.info(TEXT["no_run"])
    st.page_link("../pages/train.py", label="Train a model", icon=":material/model_training:")
    st.stop()

task = tasks.get(job.task or tasks.DEFAULT)
views = task.result_views  # the sections that make sense for this task
images = task.inputs == "images"  # tables and ratings: no images to clean, nothing cross-validated
st.write(TEXT.get(f"intro_{task.name}") or (TEXT["intro"] if images else results_table.intro(task.name)))
dataset = job.params["config"]["dataset"]
try:
    root = datasets.resolve(dataset).path
    for message in access.recover(dataset):  # a crash while applying left a journal open
        st.warning(message)
    what = "image" if images else "row"
    with st.spinner(f"Predicting every {what} of {dataset} with run {job.id}'s model…"):
        interp = results_view.interpretation(job)
except UserError as e:
    st.error(str(e))
    st.stop()
except OSError as e:  # files moved by a clean-up in another tab while this page read them
    st.warning(f"The dataset changed while it was being read ({e.strerror}); reload the page.")
    st.stop()

scores = results_retrain.single_scores
if "threshold" in views:  # multi-label: one threshold decides every figure below
    threshold = results_multi.current_threshold(interp)
    results_multi.summary_metrics(interp, threshold)
    scores = results_multi.scores
elif "seg_scores" in views:
    results_seg.summary_metrics(interp)
    scores = results_seg.scores
elif "table_scores" in views:
    results_table.summary_metrics(interp)
    scores = results_table.scores
elif "collab_scores" in views:
    results_collab.summary_metrics(interp)
    scores = results_collab.scores
else:
    results_view.summary_metrics(interp)

if "confusion" in views:
    st.subheader("Confusion matrix")
    st.caption(TEXT["confusion"])
    results_view.confusion_section(interp, dataset, root)
    results_view.confusion_tables(interp)

if "table_scores" in views:
    results_table.sections(job, interp, views)

if "collab_scores" in views:
    results_collab.sections(job, interp, views)

if "threshold" in views:
    st.subheader("Threshold")
    st.caption(TEXT["threshold_intro"])
    results_multi.threshold_section(interp)
    threshold = results_multi.current_threshold(interp)

if "per_label" in views:
    st.subheader("Per label")
    st.caption(TEXT["per_label"])
    results_multi.per_label_section(interp, threshold)

if "seg_scores" in views:
    st.subheader("Per class")
    st.caption(TEXT["seg_scores"])
    results_seg.scores_section(interp)

if "pixel_confusion" in views:
    st.subheader("Pixel confusion matrix")
    st.caption(TEXT["pixel_confusion"])
    results_seg.confusion_section(interp)

if "top_losses" in views or "top_losses_multi" in views:
    st.subheader("Likely label errors")
    st.caption(TEXT["likely"])
    results_issues.section(job, interp, dataset, root)

if "top_losses" in views:
    st.subheader("Top losses")
    st.caption(TEXT["top_losses"])
    results_view.ranking_section(job, interp, dataset, root)

if "top_losses_multi" in views:
    st.subheader("Top losses")
    st.caption(TEXT["top_losses_multi"])
    results_multi.ranking_section(job, interp, dataset, root, threshold)

if "worst_masks" in views:
    st.subheader("Worst images")
    st.caption(TEXT["worst_masks"])
    results_seg.worst_section(interp, dataset)

if "cleaner" in views:
    st.subheader("Apply the changes")
    cleaner.plan_section(dataset)
    st.subheader("History")
    st.caption(TEXT["history"])
    cleaner.history_section(dataset)

if "trash" in views:
    st.subheader("History")
    st.caption(TEXT["seg_history"])
    results_seg.trash_section(dataset)

st.subheader("Retrain and compare")
retrain_text = TEXT["retrain"] if images else results_table.TEXT["retrain_table"]
st.caption(retrain_text.format(run=job.id, dataset=dataset))
results_retrain.retrain_section(job, interp, scores, change=not images)
