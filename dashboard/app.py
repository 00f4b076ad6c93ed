"""The dashboard's entry point: only a router over pages/."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # so `streamlit run dashboard/app.py` finds core/ and dashboard/
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import state  # noqa: E402

st.set_page_config(page_title="fastai playground", page_icon=":material/school:", layout="wide")
state.init()
pages = [
    st.Page("../pages/home.py", title="Home", icon=":material/home:", default=True,
            help="What the playground is for, its datasets and the runs so far."),
]
st.navigation(pages).run()
