"""Models: the saved model library (being written)."""

import streamlit as st

st.title("Models")
st.info("Saving and importing models is being built.")
