"""Data: choose or add a dataset, see what is in it, and what the model will see."""

import streamlit as st

from dashboard import data_view, state

state.init()
st.title("Data")
st.caption(
    "Pick a dataset, or add your own: a zip of class folders, a folder or a CSV on this "
    "machine, fastai's downloadable sets, or shapes drawn from a seed. Then look at it "
    "the way the model will."
)
data_view.show_notice()

name = data_view.choose_dataset()
data_view.add_dataset()
info, items = data_view.load(name)
st.caption(info.description)

section = st.radio(
    "Show",
    data_view.SECTIONS,
    horizontal=True,
    key=data_view.W_SECTION,
    persist_state="session",
    help="Overview: what is in the set. Pipeline: one image step by step. Augmentation: the "
    "random changes training adds. Check images: find files that cannot be read.",
)
if section == "Overview":
    data_view.overview(info, items)
elif section == "Pipeline":
    data_view.pipeline_view(info, items)
elif section == "Augmentation":
    data_view.augmentation_view(info, items)
else:
    data_view.check_view(info, items)

st.page_link("../pages/train.py", label="Train on this dataset", icon=":material/model_training:")
