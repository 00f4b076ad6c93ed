"""The Sweep page's form: ranges, a search and a budget, with the total time before queuing."""

from __future__ import annotations

import streamlit as st

from core import tasks
from core.config import TrainConfig
from core.fsutil import format_duration
from core.train.archs import ARCHS
from dashboard import runs, state
from dashboard.markup import md
from dashboard.text import sections

TEXT = sections("sweep")
BS_CHOICES = [16, 32, 64, 128, 256]
WD_CHOICES = [0.0, 1e-4, 1e-3, 1e-2, 0.1]
EPOCH_CHOICES = [1, 2, 3, 5, 10, 20]
SAMPLERS = {"grid": "grid", "random": "random", "tpe": "Bayesian (TPE)"}


def base_config() -> TrainConfig:
    """What the sweep does not vary: the Train page's current run (its dataset's task and settings)."""
    from dashboard import train_form

    return train_form.current_config()


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return format_duration(seconds)


def form():
    """The controls; returns (spec, name, problems). Nothing is queued here."""
    from core.jobs import sweeps

    base = base_config()
    st.caption(TEXT["dataset"] + f" Now: **{md(base.dataset)}**.")
    c = st.columns(2)
    with c[0]:
        st.session_state.setdefault(state.SWEEP_ARCHS, [base.arch])
        archs = st.multiselect(
            "Architectures",
            list(tasks.get(base.task).archs),  # only the architectures that fit the dataset's task
            key=state.SWEEP_ARCHS,
            format_func=lambda a: ARCHS[a].title,
            help=TEXT["archs"],
        )
        lr_on = st.toggle("Search the learning rate", value=True, key=state.SWEEP_LR_ON, help=TEXT["lr_on"])
        lr = None
        if lr_on:
            lc = st.columns(2)
            low = lc[0].number_input(
                "Lowest",
                0.0,
                10.0,
                1e-4,
                format="%.1e",
                step=1e-4,
                key=state.SWEEP_LR_LOW,
                help=TEXT["lr_low"],
            )
            high = lc[1].number_input(
                "Highest",
                0.0,
                10.0,
                1e-2,
                format="%.1e",
                step=1e-3,
                key=state.SWEEP_LR_HIGH,
                help=TEXT["lr_high"],
            )
            lr = (float(low), float(high))
        bs = st.multiselect("Batch sizes", BS_CHOICES, default=[base.bs], key=state.SWEEP_BS, help=TEXT["bs"])
    with c[1]:
        wd = st.multiselect(
            "Weight decays",
            WD_CHOICES,
            default=[base.wd],
            key=state.SWEEP_WD,
            format_func=lambda v: f"{v:g}",
            help=TEXT["wd"],
        )
        epochs = st.multiselect(
            "Epochs", EPOCH_CHOICES, default=[1], key=state.SWEEP_EPOCHS, help=TEXT["epochs"]
        )
        sampler = st.radio(
            "Search",
            list(SAMPLERS),
            horizontal=True,
            key=state.SWEEP_SAMPLER,
            format_func=SAMPLERS.get,
            help=TEXT["sampler"],
        )
        budget = st.number_input(
            "Budget (runs)", min_value=0, max_value=1000, value=8, key=state.SWEEP_BUDGET, help=TEXT["budget"]
        )
        name = st.text_input("Name (optional)", max_chars=100, key=state.SWEEP_NAME, help=TEXT["name"])
    spec = sweeps.SweepSpec(
        base=base,
        lr=lr,
        bs=[int(v) for v in bs],
        wd=[float(v) for v in wd],
        epochs=[int(v) for v in epochs],
        archs=list(archs),
        sampler=sampler,
        budget=int(budget),
    )
    return spec, name.strip() or None, sweeps.problems(spec)


def queue_section() -> int | None:
    """The form, its problems, the time estimate and Queue sweep; returns the new sweep's id."""
    from core.errors import UserError
    from core.jobs import sweeps

    spec, name, problems = form()
    for problem in problems:
        st.error(md(problem))
    if not problems:
        total = sweeps.estimate_seconds(runs.store(), spec)
        n = spec.budget
        st.info(
            TEXT["estimate"].format(total=_duration(total), runs=n, each=_duration(total / max(1, n))),
            icon=":material/schedule:",
        )
    if st.button(
        "Queue sweep",
        type="primary",
        icon=":material/play_arrow:",
        disabled=bool(problems),
        help=TEXT["start"],
    ):
        try:
            sweep_id = sweeps.create(runs.store(), spec, name=name)
        except UserError as e:
            st.error(md(e))
            return None
        runs.ensure_running()
        st.session_state[state.SWEEP] = sweep_id
        st.session_state[state.SWEEP_NOTICE] = (
            "success",
            f"Sweep {sweep_id} queued: {spec.budget} runs at most.",
        )
        st.rerun()
    return None
