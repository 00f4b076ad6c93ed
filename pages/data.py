"""Data: choose or add a dataset and see what the model will see (being written)."""

import streamlit as st

st.title("Data")
st.info("Built-in datasets (Digits and its flipped-label variants) can be chosen on the Train page.")
