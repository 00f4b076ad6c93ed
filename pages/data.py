"""Data: choose or add a dataset, see what is in it, and what the model will see."""

import streamlit as st

from dashboard import state
from dashboard.markup import md
from dashboard.text import sections
from dashboard.views import (
    data_add,
    data_augment,
    data_checks,
    data_choose,
    data_multi,
    data_overview,
    data_pipeline,
    data_seg,
)

COMMON = {
    "Pipeline": data_pipeline.pipeline_view,
    "Augmentation": data_augment.augmentation_view,
    "Check images": data_checks.check_view,
}
VIEWS = {  # the sections each kind of dataset (its task) offers
    "single_label": {"Overview": data_overview.overview, **COMMON},
    "multi_label": {"Overview": data_multi.overview, **COMMON},
    "segmentation": {"Overview": data_seg.overview, "What is a mask?": data_seg.mask_view, **COMMON},
}
SECTION = "data_section"
TEXT = sections("data")

state.init()
st.title("Data")
st.caption(TEXT["intro"])
data_choose.show_notice()

name = data_choose.choose_dataset()
data_add.add_dataset()
info, items = data_choose.load(name)
st.caption(md(info.description))

views = VIEWS.get(info.task, VIEWS["single_label"])
if st.session_state.get(SECTION) not in views:
    st.session_state[SECTION] = "Overview"  # e.g. "What is a mask?" of the last dataset
extra = " " + sections("data_seg")["section"] if "What is a mask?" in views else ""
section = st.radio(
    "Show", list(views), horizontal=True, key=SECTION, persist_state="session", help=TEXT["sections"] + extra
)
views[section](info, items)

st.page_link("../pages/train.py", label="Train on this dataset", icon=":material/model_training:")
