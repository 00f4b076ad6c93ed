"""Data: choose or add a dataset, see what is in it, and what the model will see."""

import streamlit as st

from dashboard import state
from dashboard.markup import md
from dashboard.text import sections
from dashboard.views import data_add, data_augment, data_checks, data_choose, data_overview, data_pipeline

VIEWS = {
    "Overview": data_overview.overview,
    "Pipeline": data_pipeline.pipeline_view,
    "Augmentation": data_augment.augmentation_view,
    "Check images": data_checks.check_view,
}
TEXT = sections("data")

state.init()
st.title("Data")
st.caption(TEXT["intro"])
data_choose.show_notice()

name = data_choose.choose_dataset()
data_add.add_dataset()
info, items = data_choose.load(name)
st.caption(md(info.description))

section = st.radio(
    "Show", list(VIEWS), horizontal=True, key="data_section", persist_state="session", help=TEXT["sections"]
)
VIEWS[section](info, items)

st.page_link("../pages/train.py", label="Train on this dataset", icon=":material/model_training:")
