"""Learn · SGD by hand: fit a line step by step with autograd, on its loss surface."""

import numpy as np
import streamlit as st

from core.labs import sgd
from dashboard import learn
from dashboard import learn_figures_sgd as figs
from dashboard.text import sections

SLUG = "sgd"
TEXT = sections(f"learn_{SLUG}")
NAMES = {1: ("slope", "intercept"), 2: ("a", "b", "c")}
SLOPES = np.linspace(-2.0, 4.0, 61)
INTERCEPTS = np.linspace(-2.5, 3.0, 56)
PATH, LAST = "sgd_path", "sgd_last"


@st.cache_data(show_spinner=False)
def data(degree: int) -> tuple[np.ndarray, np.ndarray]:
    """The lab's points for a line or a parabola (the same every time)."""
    return sgd.points(degree)


@st.cache_data(show_spinner=False)
def landscape() -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The line's loss over the grid and its gradient there."""
    x, y = data(1)
    return sgd.surface(x, y, SLOPES, INTERCEPTS), sgd.gradient_field(x, y, SLOPES, INTERCEPTS)


@st.cache_data(show_spinner=False)
def descent(degree: int, lr: float, steps: int, batch_size: int | None = None) -> sgd.Descent:
    """A run of descent from the lab's start on the lab's points."""
    x, y = data(degree)
    return sgd.descend(sgd.START[degree], x, y, lr, steps, batch_size)


st.title(learn.LABS[SLUG].title)
st.caption(TEXT["intro"])
x, y = data(1)
best = sgd.best_fit(x, y)
limit = sgd.largest_stable_lr(x)
if PATH not in st.session_state:
    st.session_state[PATH] = [sgd.START[1]]


def take(steps: int, lr: float) -> None:
    """Take steps of full-batch descent from where the line is, keeping the last step's numbers."""
    for _ in range(steps):
        step = sgd.autograd_step(st.session_state[PATH][-1], x, y, lr)
        st.session_state[PATH] = [*st.session_state[PATH], step.after]
        st.session_state[LAST] = step


def reset() -> None:
    """Back to the start, no step taken."""
    st.session_state[PATH] = [sgd.START[1]]
    st.session_state.pop(LAST, None)


with learn.section(SLUG, "step"):
    st.markdown(TEXT["step"])
    lr = st.slider("Learning rate", 0.01, 1.2, 0.3, 0.01, key="sgd_lr", help=TEXT["lr"])
    c1, c2, c3 = st.columns(3)
    c1.button(
        "Step",
        key="sgd_step",
        help=TEXT["step_button"],
        on_click=take,
        args=(1, lr),
        icon=":material/skip_next:",
    )
    c2.button("Run 20 steps", key="sgd_run", help=TEXT["run_button"], on_click=take, args=(20, lr))
    c3.button(
        "Reset", key="sgd_reset", help=TEXT["reset_button"], on_click=reset, icon=":material/restart_alt:"
    )
    path = np.array(st.session_state[PATH])
    last = st.session_state.get(LAST)
    if last is None:
        st.caption(TEXT["no_step"])
    else:
        by_hand = sgd.gradient(last.before, x, y)
        lines = [
            TEXT["loss_line"].format(loss=last.loss, n=len(x)),
            TEXT["grad_line"].format(by_hand=", ".join(f"{g:+.4f}" for g in by_hand)),
            *(
                TEXT["update_line"].format(
                    name=name, name_grad=f"{name}.grad", before=b, lr=last.lr, grad=g, after=a
                )
                for name, b, g, a in zip(NAMES[1], last.before, last.grad, last.after, strict=True)
            ),
        ]
        st.code("\n".join(lines), language="python")
    losses = [sgd.loss(p, x, y) for p in (path[0], path[-1])]
    st.caption(
        TEXT["steps_taken"].format(
            steps=len(path) - 1, first=losses[0], last=losses[1], best=sgd.loss(best, x, y)
        )
    )
    st.plotly_chart(figs.fit_figure(x, y, {"now": path[-1], "best": best}), key="sgd_fit")

with learn.section(SLUG, "surface"):
    st.markdown(TEXT["surface"])
    arrows = st.checkbox("Show the gradient as arrows", value=True, key="sgd_arrows", help=TEXT["arrows"])
    z, field = landscape()
    st.plotly_chart(
        figs.surface_figure(
            SLOPES,
            INTERCEPTS,
            z,
            {"steps taken": np.array(st.session_state[PATH])},
            best,
            field if arrows else None,
        ),
        key="sgd_surface",
    )

with learn.section(SLUG, "rates"):
    st.markdown(TEXT["rates"].format(limit=limit))
    steps = st.slider("Steps", 5, 100, 30, 5, key="sgd_rates_steps", help=TEXT["rates_steps"])
    rates = {"too small": 0.02, "good": round(limit / 2, 2), "too large": round(limit * 1.08, 2)}
    runs = {f"{name} (lr = {lr_:g})": descent(1, lr_, steps) for name, lr_ in rates.items()}
    z, _ = landscape()
    st.plotly_chart(figs.rates_figure(SLOPES, INTERCEPTS, z, runs), key="sgd_rates_surfaces")
    st.plotly_chart(figs.loss_curves({k: r.losses for k, r in runs.items()}), key="sgd_rates_losses")

with learn.section(SLUG, "batches"):
    st.markdown(TEXT["batches"])
    c1, c2 = st.columns(2)
    bs = c1.slider(
        "Mini-batch size", 1, len(x), 5, key="sgd_batch_size", help=TEXT["batch_size"].format(n=len(x))
    )
    batch_lr = c2.slider("Learning rate", 0.01, 0.9, 0.3, 0.01, key="sgd_batch_lr", help=TEXT["batch_lr"])
    full, mini = descent(1, batch_lr, 60), descent(1, batch_lr, 60, bs)
    runs = {"full batch": full, f"mini-batches of {bs}": mini}
    z, _ = landscape()
    st.plotly_chart(
        figs.surface_figure(SLOPES, INTERCEPTS, z, {k: r.path for k, r in runs.items()}, best),
        key="sgd_batch_surface",
    )
    st.plotly_chart(figs.loss_curves({k: r.losses for k, r in runs.items()}), key="sgd_batch_losses")

with learn.section(SLUG, "quadratic"):
    x2, y2 = data(2)
    st.markdown(TEXT["quadratic"].format(limit=sgd.largest_stable_lr(x2, 2)))
    c1, c2 = st.columns(2)
    q_steps = c1.slider("Steps", 0, 500, 50, 10, key="sgd_quad_steps", help=TEXT["quad_steps"])
    q_lr = c2.slider("Learning rate", 0.05, 1.0, 0.5, 0.05, key="sgd_quad_lr", help=TEXT["quad_lr"])
    run = descent(2, q_lr, q_steps)
    st.plotly_chart(
        figs.fit_figure(x2, y2, {f"after {q_steps} steps": run.path[-1], "best": sgd.best_fit(x2, y2, 2)}),
        key="sgd_quad_fit",
    )
    st.plotly_chart(figs.loss_curves({"parabola": run.losses}), key="sgd_quad_losses")
