"""LR finder: run fastai's lr_find as a job, read its four suggestions, and pick a learning rate."""

import streamlit as st

from core.jobs.store import CANCELLED, FAILED, snapshot
from core.train.archs import ARCHS
from core.train.lr_text import SUGGESTIONS
from dashboard import figures, lr_view, runs, state

CHOSEN = "lr_find_chosen"  # (what was chosen, its value): the confirmation shown after "Use this"
PICK = "lr_find_pick"  # the number input for a learning rate of one's own

state.init()
st.title("Learning-rate finder")
st.write(lr_view.INTRO)
dataset, arch = st.session_state[state.DATASET], st.session_state[state.ARCH]
params = lr_view.job_params(dataset, arch)
st.caption(
    f"For **{dataset}** with **{ARCHS[arch].title}** (batch size {params['config']['bs']}); "
    "change either on the Train page."
)

job = lr_view.pick_job(runs.store(), st.session_state[state.LR_RUN], dataset, arch)
active = job is not None and not job.finished_state
if st.button(
    "Run the LR finder" if job is None else "Run it again",
    type="primary",
    icon=":material/search_insights:",
    disabled=active,
    help="Queue an LR finder job for this dataset and architecture; the worker runs it.",
):
    st.session_state[state.LR_RUN] = runs.submit("lr_find", params)
    st.rerun()

if job is None:
    st.info(
        "No LR finder run yet for this dataset and architecture: press the button above. "
        "It takes a few seconds on Digits."
    )
    st.stop()
st.session_state[state.LR_RUN] = job.id


@st.fragment(run_every="1s")
def progress(job_id: int) -> None:
    """Progress and the curve so far; called only while the job is queued or running."""
    snap = snapshot(runs.store(), job_id)
    if snap.finished:
        st.rerun()  # once: the whole page then shows the result and stops polling
    st.progress(min(1.0, max(0.0, snap.job.progress)), text=snap.eta_text)
    if len(snap.batches):
        st.plotly_chart(
            figures.lr_find_figure(list(snap.batches["lr"]), list(snap.batches["loss"]), {}),
            key=f"lr_live_{job_id}",
        )
    if st.button(
        "Stop",
        icon=":material/stop:",
        key=f"stop_lr_{job_id}",
        help="Stop the finder after the current mini-batch; the model is left untouched.",
    ):
        runs.store().request_cancel(job_id)
        st.toast("Stopping after this mini-batch…")
    runs.keep_worker_alive()  # a worker that died is replaced (and its job marked failed)


if active:
    progress(job.id)
    st.stop()
if job.state == FAILED:
    st.error(f"The LR finder failed: {job.error}")
    st.stop()
if job.state == CANCELLED:
    st.warning(
        "This LR finder run was stopped before the end, so it has no suggestions. Run it again to get them."
    )
    st.stop()

result = job.result or {}
suggestions = lr_view.usable_suggestions(result.get("suggestions", {}))
st.session_state[state.LR_SUGGESTIONS] = suggestions
if result.get("notice"):
    st.info(result["notice"])
st.plotly_chart(
    figures.lr_find_figure(result.get("lrs", []), result.get("losses", []), result.get("suggestions", {})),
    key=f"lr_curve_{job.id}",
)
st.markdown(lr_view.TOO_HIGH_OR_LOW)


def use(label: str, value: float) -> None:
    """Make value the Train page's learning rate and remember it for the confirmation."""
    st.session_state[state.LR] = value
    st.session_state[CHOSEN] = (label, value)


st.subheader("Four suggestions")
for name, explanation in SUGGESTIONS.items():
    value = suggestions.get(name)
    text, button = st.columns([5, 1], vertical_alignment="center")
    shown = f"`{lr_view.fmt_lr(value)}`" if value is not None else "not available (curve too short)"
    text.markdown(f"**{name}** — {shown}: {explanation}.")
    if button.button(
        "Use this learning rate",
        key=f"use_{name}",
        disabled=value is None,
        help=f"Set the Train page's learning rate to the {name} suggestion.",
    ):
        use(name, value)

picked = st.number_input(
    "Or pick your own learning rate",
    value=float(st.session_state[state.LR]),
    step=1e-4,
    format="%.2e",
    key=PICK,
    help="Any value between 0 and 10, e.g. read off the curve where the loss falls steeply.",
)
if st.button(
    "Use this learning rate",
    key="use_picked",
    help="Set the Train page's learning rate to the value you typed.",
):
    problem = lr_view.lr_problem(picked)
    if problem:
        st.error(problem)
    else:
        use("your own", float(picked))

chosen = st.session_state.get(CHOSEN)
if chosen and chosen[1] == st.session_state[state.LR]:
    st.success(f"The Train page's learning rate is now {lr_view.fmt_lr(chosen[1])} ({chosen[0]}).")
    st.page_link("../pages/train.py", label="Train with it", icon=":material/model_training:")
