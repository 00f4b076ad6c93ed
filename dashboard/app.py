"""The dashboard's entry point: only a router over pages/ (and the shared sidebar)."""

import os
import sys
from pathlib import Path

# Pages that load torch (Model, Predict) share two cores with the worker: idle OpenMP threads
# must sleep, not spin. Read by torch when it is first imported in this server process.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # so `streamlit run dashboard/app.py` finds core/ and dashboard/
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
from streamlit import config  # noqa: E402

from dashboard import identity, learn, state, warm, widgets  # noqa: E402

st.set_page_config(page_title="fastai playground", page_icon=":material/school:", layout="wide")
identity.enter_session()  # first: who this is, in which space (a sign-in screen stops here)
if not config.get_option("global.appTest"):  # a real server: prepare what first visits would wait for
    warm.start()
state.init()
pages = [
    st.Page(
        "../pages/home.py",
        title="Home",
        icon=":material/home:",
        default=True,
        help="What the playground is for; train your first model in one click.",
    ),
    st.Page(
        "../pages/data.py",
        title="Data",
        icon=":material/dataset:",
        help="Choose or add a dataset, see what is in it and what the model will see.",
    ),
    st.Page(
        "../pages/train.py",
        title="Train",
        icon=":material/model_training:",
        help="Tune the hyper-parameters and watch the loss fall, live.",
    ),
    st.Page(
        "../pages/lr_find.py",
        title="LR finder",
        icon=":material/search_insights:",
        help="Find a good learning rate before you train.",
    ),
    st.Page(
        "../pages/runs.py",
        title="Runs",
        icon=":material/table_rows:",
        help="Every run kept: open one, continue it, or compare several side by side.",
    ),
    st.Page(
        "../pages/sweep.py",
        title="Sweep",
        icon=":material/tune:",
        help="Try many settings at once and see which ones matter.",
    ),
    st.Page(
        "../pages/model.py",
        title="Model",
        icon=":material/account_tree:",
        help="The architecture layer by layer: shapes, parameters, what is trainable.",
    ),
    st.Page(
        "../pages/library.py",
        title="Models",
        icon=":material/inventory_2:",
        help="Your saved models: download, import, rename, delete.",
    ),
    st.Page(
        "../pages/storage.py",
        title="Storage",
        icon=":material/hard_drive:",
        help="What the workspace holds, how much disk each part uses, and freeing it.",
    ),
    st.Page(
        "../pages/predict.py",
        title="Predict",
        icon=":material/image_search:",
        help="Give a saved model images and see what it predicts, and where it looked.",
    ),
    st.Page(
        "../pages/results.py",
        title="Results",
        icon=":material/insights:",
        help="Where a trained model goes wrong, and cleaning the labels it doubts.",
    ),
]
learn_pages = [
    st.Page(lab.path, title=lab.title, icon=lab.icon, help=lab.help)
    for lab in learn.LABS.values()
    if lab.exists
]
if (ROOT / "pages" / "questions.py").is_file():
    learn_pages.insert(
        0,
        st.Page(
            "../pages/questions.py",
            title="Questions",
            icon=":material/help:",
            help="The questions a learner asks on the way, each linked to what answers it.",
        ),
    )
widgets.sidebar()
st.navigation({"Playground": pages, "Learn": learn_pages} if learn_pages else pages, expanded=True).run()
