"""LR finder: run fastai's lr_find as a job, read its four suggestions, and pick a learning rate."""

import streamlit as st

from core.jobs.store import CANCELLED, FAILED
from core.train.archs import ARCHS
from core.train.lr_text import SUGGESTIONS
from dashboard import figures, live, lr_view, runs, state, train_form, widgets
from dashboard.lr_view import TEXT

state.init()
st.title("Learning-rate finder")
st.write(lr_view.INTRO)
cfg = train_form.current_config()  # the Train page's run: the dataset's task, its architecture
dataset, arch = cfg.dataset, cfg.arch
params = lr_view.job_params(cfg)
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
    help=TEXT["run"],
):
    if (job_id := runs.submit("lr_find", params)) is not None:
        st.session_state[state.LR_RUN] = job_id
        st.rerun()

if job is None:
    st.info(TEXT["none_yet"])
    st.stop()
st.session_state[state.LR_RUN] = job.id


def live_curve(snap) -> None:
    """The curve so far, under the monitor's progress bar (built once per new record, for every tab)."""
    rec = live.records(runs.store(), snap.job.id)
    if len(rec.batches):
        fig = live.drawn(
            rec, "lr", lambda r: figures.lr_find_figure(list(r.batches["lr"]), list(r.batches["loss"]), {})
        )
        st.plotly_chart(fig, key=f"lr_live_{snap.job.id}")


if active:
    widgets.job_monitor(
        job.id, live_curve, stop_help=TEXT["stop"], stop_toast="Stopping after this mini-batch…"
    )
    st.stop()
if job.state == FAILED:
    st.error(f"The LR finder failed: {job.error}")
    st.stop()
if job.state == CANCELLED:
    st.warning(TEXT["stopped"])
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
st.markdown(TEXT["too_high_or_low"])


def use(label: str, value: float) -> None:
    """Make value the Train page's learning rate and remember it for the confirmation."""
    st.session_state[state.LR] = value
    st.session_state[state.LR_CHOSEN] = (label, value)


st.subheader("Four suggestions")
for name in SUGGESTIONS:
    value = suggestions.get(name)
    words, button = st.columns([3, 1], vertical_alignment="center")
    shown = f"`{lr_view.fmt_lr(value)}`" if value is not None else "not available (curve too short)"
    words.markdown(f"**{name}** — {shown}: {TEXT[name]}.")
    if button.button(
        lr_view.use_label(value),
        key=state.use_key(name),
        disabled=value is None,
        help=f"Use this learning rate: set the Train page's learning rate to the {name} suggestion.",
    ):
        use(name, value)

picked = st.number_input(
    "Or pick your own learning rate",
    value=float(st.session_state[state.LR]),
    step=1e-4,
    format="%.2e",
    key=state.LR_PICK,
    help=TEXT["pick"],
)
if st.button(
    "Use this learning rate",
    key=state.USE_PICKED,
    help="Set the Train page's learning rate to the value you typed.",
):
    problem = lr_view.lr_problem(picked)
    if problem:
        st.error(problem)
    else:
        use("your own", float(picked))

chosen = st.session_state.get(state.LR_CHOSEN)
if chosen and chosen[1] == st.session_state[state.LR]:
    st.success(f"The Train page's learning rate is now {lr_view.fmt_lr(chosen[1])} ({chosen[0]}).")
    st.page_link("../pages/train.py", label="Train with it", icon=":material/model_training:")
