"""Sweep: try many settings at once (Optuna picks them), follow the runs, see what mattered."""

import streamlit as st

from dashboard import state
from dashboard.views import sweep_form, sweep_results

state.init()
st.title("Sweep")
st.caption(sweep_form.TEXT["intro"])
notice = st.session_state.get(state.SWEEP_NOTICE)
if notice:
    getattr(st, notice[0])(notice[1])
    st.session_state[state.SWEEP_NOTICE] = None

with st.expander("New sweep", expanded=True):
    sweep_form.queue_section()

sweep_id = sweep_results.choose()
if sweep_id is None:
    st.info(sweep_form.TEXT["none"])
    st.stop()
sweep_results.progress(sweep_id)
sweep_results.results(sweep_id)
