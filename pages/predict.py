"""Predict: give a saved model images (or a table's rows, or a user) and see what it predicts."""

import streamlit as st

from core.errors import UserError
from core.serving import library, predict
from dashboard import predict_view, state
from dashboard.text import sections

TEXT = sections("predict")

state.init()
st.title("Predict")
st.write(TEXT["intro"])

models = library.list_models()
if not models:
    st.info(TEXT["empty"])
    st.page_link("../pages/train.py", label="Train a model", icon=":material/model_training:")
    st.page_link("../pages/library.py", label="Import a bundle", icon=":material/inventory_2:")
    st.stop()

by_name = {m.name: m for m in models}
if st.session_state.get(state.PREDICT_MODEL) not in by_name:
    st.session_state[state.PREDICT_MODEL] = models[0].name
name = st.selectbox(
    "Model",
    list(by_name),
    key=state.PREDICT_MODEL,
    persist_state="session",
    format_func=lambda n: predict_view.model_label(by_name[n]),
    help="A model from your library; the newest is first.",
)
try:
    with st.spinner("Loading the model (the first time, PyTorch is imported too)…"):
        loaded = predict.load(name)
except UserError as e:
    st.error(str(e))
    st.stop()
view = predict_view.view_for(loaded.info)  # single-label here, or the task's own view
if not predict_view.takes_images(loaded.info):
    view.show(loaded)  # a table's form and CSV batch, or a ratings model's users and items
    st.stop()
st.caption(predict_view.model_caption(loaded.info))
threshold, heat_map = view.controls(loaded)

files = predict_view.image_inputs(loaded.info)
if not files:
    st.info(f"Give the model an image: {predict.FORMAT_NAMES}, one or many — or try an example.")
    st.stop()
try:
    prepared, problems = predict_view.prepare_all(files, loaded.info, view.SQUARE_SIDE)
except UserError as e:
    st.error(str(e))
    st.stop()
for _, why in problems:
    st.error(why)
if not prepared:
    st.stop()

preds = predict_view.predictions(loaded, prepared)
if len(prepared) == 1:
    view.show_one(loaded, prepared[0], preds[0], threshold, heat_map)
else:
    view.show_many(loaded, prepared, preds, threshold, heat_map)
