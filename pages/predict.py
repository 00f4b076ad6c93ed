"""Predict: predictions from uploaded images (being written)."""

import streamlit as st

st.title("Predict")
st.info("Predictions from saved models are being built.")
