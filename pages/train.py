"""Train: tune the hyper-parameters, preview the schedule, and watch the loss fall live."""

import streamlit as st

from core import tasks, workspace
from core.data import access, datasets
from core.errors import UserError
from core.train.schedule import GROUPS, preview
from dashboard import figures, runs, state, widgets
from dashboard.markup import md
from dashboard.train_form import TEXT, group_table, train_form

state.init()
st.title("Train")
st.caption(TEXT["intro"])
if notice := st.session_state.get(state.TRAIN_NOTICE):
    st.info(notice, icon=":material/input:")
    st.session_state[state.TRAIN_NOTICE] = None


@st.cache_data(show_spinner=False, ttl=30)
def _n_train_of(space: str, name: str) -> int:
    """How many training examples (images, rows or ratings) a dataset of space has, without decoding any."""
    items = access.items(name)
    return sum(not v for v in items.is_valid)


def n_train_of(name: str) -> int:
    """How many training examples the current person's dataset called name has (cached per space)."""
    return _n_train_of(workspace.current_name(), name)


try:
    form = train_form(datasets.available(), n_train_of)
except UserError as e:  # the dataset cannot be read now (busy with a cleaning, no images, …)
    st.error(md(e))
    st.stop()
cfg = form.config
for problem in form.problems:
    st.error(problem)


@st.cache_data(show_spinner=False, ttl=30)
def pixels_note(space: str, name: str, size: int | None) -> str:
    """Whether an image dataset's pixels are held in memory or streamed from disk, at size."""
    from core.data import loaders

    return loaders.dataset_path_note(name, size)


if tasks.get(cfg.task).inputs == "images" and not form.problems:
    try:
        st.caption(
            f"Pixels: {pixels_note(workspace.current_name(), cfg.dataset, cfg.size)}.", help=TEXT["pixels"]
        )
    except UserError as e:
        st.caption(md(e))

with st.expander(
    "Schedule preview: the learning rate and momentum this run will follow", expanded=not form.problems
):
    if not form.problems:
        plan = preview(cfg, form.batches_per_epoch)
        st.plotly_chart(figures.schedule_figure(plan), key="schedule_preview")
        st.caption(TEXT["preview"].format(batches=len(plan), per_epoch=form.batches_per_epoch))
        if tasks.get(cfg.task).inputs == "images":  # layer groups: discriminative rates, freezing
            st.dataframe(group_table(cfg, GROUPS.get(cfg.arch, 2)), hide_index=True)

if st.button(
    "Start training",
    type="primary",
    icon=":material/play_arrow:",
    disabled=bool(form.problems),
    help=TEXT["start"],
):
    if (job_id := runs.submit("train", {"config": cfg.to_dict()})) is not None:
        st.session_state[state.RUN] = job_id

current = runs.resolve_run(state.RUN, "train")
# other runs waiting (the one followed below says its own place in the queue, live)
others = [j for j in runs.active_jobs() if j.state == "QUEUED" and j.kind == "train" and j.id != current]
if others:
    st.caption("Also waiting: " + ", ".join(f"run {j.id}" for j in others) + " (see the Queue on Runs).")

widgets.run_monitor(current)
