"""Results: where a trained model goes wrong (being written)."""

import streamlit as st

st.title("Results")
st.info("Train a model first; its confusion matrix and top losses will appear here.")
