"""Model: the architecture layer by layer (being written)."""

import streamlit as st

st.title("Model")
