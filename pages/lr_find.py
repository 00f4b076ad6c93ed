"""LR finder: run fastai's lr_find and pick a learning rate (being written)."""

import streamlit as st

st.title("Learning-rate finder")
