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
    data_manage,
    data_multi,
    data_overview,
    data_pipeline,
    data_publish,
    data_ratings,
    data_seg,
    data_table,
)

COMMON = {
    "Pipeline": data_pipeline.pipeline_view,
    "Augmentation": data_augment.augmentation_view,
    "Check images": data_checks.check_view,
}
TABLE = {  # a table has no images: its own sections instead of the pictures' pipeline
    "Overview": data_table.overview,
    "Roles and split": data_table.roles_view,
    "Processing step by step": data_table.processing_view,
}
VIEWS = {  # the sections each kind of dataset (its task) offers
    "single_label": {"Overview": data_overview.overview, **COMMON},
    "multi_label": {"Overview": data_multi.overview, **COMMON},
    "segmentation": {"Overview": data_seg.overview, "What is a mask?": data_seg.mask_view, **COMMON},
    "tabular_classification": TABLE,
    "tabular_regression": TABLE,
    "collaborative": {"Overview": data_ratings.overview, "Roles and split": data_ratings.roles_view},
}
SECTIONS_HELP = {  # the section choice's help for tables and ratings (assets/text/data_table.md)
    "tabular_classification": "sections",
    "tabular_regression": "sections",
    "collaborative": "ratings_sections",
}
SECTION = "data_section"
TEXT = sections("data")

state.init()
st.title("Data")
st.caption(TEXT["intro"])
data_choose.show_notice()

name = data_choose.choose_dataset()
data_publish.publish_panel(name)
data_manage.manage_dataset(name)
data_add.add_dataset()
info, items = data_choose.load(name)
st.caption(md(info.description))

views = VIEWS.get(info.task, VIEWS["single_label"])
if st.session_state.get(SECTION) not in views:
    st.session_state[SECTION] = "Overview"  # e.g. "What is a mask?" of the last dataset
extra = " " + sections("data_seg")["section"] if "What is a mask?" in views else ""
helps = TEXT["sections"] + extra
if info.task in SECTIONS_HELP:
    helps = sections("data_table")[SECTIONS_HELP[info.task]]
section = st.radio("Show", list(views), horizontal=True, key=SECTION, persist_state="session", help=helps)
views[section](info, items)

st.page_link("../pages/train.py", label="Train on this dataset", icon=":material/model_training:")
