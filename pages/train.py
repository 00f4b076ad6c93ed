"""Train: tune the hyper-parameters, preview the schedule, and watch the loss fall live."""

import streamlit as st

from core.data import datasets
from core.train.schedule import GROUPS, preview
from dashboard import figures, runs, state, widgets
from dashboard.train_form import group_table, train_form

state.init()
st.title("Train")
st.caption(
    "Pick the data and the knobs, press Start, and watch the model learn. The run "
    "belongs to the server: reload or close the tab and it keeps going."
)


@st.cache_data(show_spinner=False, ttl=30)
def n_train_of(name: str) -> int:
    """How many training images a dataset has (listing files only, no decoding)."""
    info = datasets.resolve(name)
    items = datasets.read_image_folder(info.path)
    return sum(not v for v in items.is_valid)


form = train_form(datasets.available(), n_train_of)
cfg = form.config
for problem in form.problems:
    st.error(problem)

with st.expander(
    "Schedule preview: the learning rate and momentum this run will follow", expanded=not form.problems
):
    if not form.problems:
        plan = preview(cfg, form.batches_per_epoch)
        st.plotly_chart(figures.schedule_figure(plan), key="schedule_preview")
        st.caption(
            f"{len(plan)} batches: {form.batches_per_epoch} per epoch. Momentum falls "
            "while the learning rate rises (one-cycle), so big steps stay stable."
        )
        st.dataframe(group_table(cfg, GROUPS.get(cfg.arch, 2)), hide_index=True)

if st.button(
    "Start training",
    type="primary",
    icon=":material/play_arrow:",
    disabled=bool(form.problems),
    help="Queue this run; the worker starts it.",
):
    st.session_state[state.RUN] = runs.submit("train", {"config": cfg.to_dict()})

queued = [j for j in runs.active_jobs() if j.state == "QUEUED" and j.kind == "train"]
if queued:
    st.caption("Waiting: " + ", ".join(f"run {j.id} (position {i + 1})" for i, j in enumerate(queued)))

widgets.run_monitor(runs.resolve_run(state.RUN, "train"))
