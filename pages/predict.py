"""Predict: give a saved model images and see what it predicts, and where it looked."""

import streamlit as st

from core.errors import UserError
from core.serving import bundle, gradcam, predict
from dashboard import predict_view, state

state.init()
st.title("Predict")
st.write(
    "Give a saved model a picture and see what it thinks: the class it picks, how sure it is "
    "of every class, the picture as the model really sees it (small, maybe grey), and a heat "
    "map of the regions that drove the answer. This is inference: the model no longer learns."
)

models = bundle.list_models()
if not models:
    st.info(
        "No saved models yet. Train one and press **Save model** under the finished run, "
        "or import a bundle on the Models page."
    )
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
st.caption(predict_view.model_caption(loaded.info))

left, right = st.columns([3, 2])
threshold = left.slider(
    "Not-sure threshold",
    min_value=0.0,
    max_value=1.0,
    step=0.05,
    format="%.2f",
    key=state.PREDICT_THRESHOLD,
    persist_state="session",
    help="Below this probability the answer is “not sure” instead of a guess.",
)
left.caption(
    "A classifier always spreads 100% over the classes it knows, even for a picture of "
    "something else entirely, so its top answer is never “none of these”. Refusing to answer "
    "when the top probability is low is the simplest guard. Higher means fewer but safer "
    "answers; 0 always answers."
)
can_explain = gradcam.supports(loaded.model)
heat_map = right.toggle(
    "Show where it looked (Grad-CAM)",
    value=can_explain,
    key=predict_view.GRADCAM,
    disabled=not can_explain,
    help="Colours the regions whose features raised the predicted class's score the most.",
)

files = predict_view.image_inputs(loaded.info)
if not files:
    st.info(f"Give the model an image: {predict.FORMAT_NAMES}, one or many.")
    st.stop()
try:
    prepared, problems = predict_view.prepare_all(files, loaded.info)
except UserError as e:
    st.error(str(e))
    st.stop()
for _, why in problems:
    st.error(why)
if not prepared:
    st.stop()

preds = predict_view.predictions(loaded, prepared)
if len(prepared) == 1:
    predict_view.show_one(loaded, prepared[0], preds[0], threshold, heat_map)
else:
    predict_view.show_many(loaded, prepared, preds, threshold, heat_map)
