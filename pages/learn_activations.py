"""Learn · Activations and layers: the functions, a curve fitted as units grow, a 2-D classifier."""

import numpy as np
import streamlit as st

from core.labs import activations as lab
from dashboard import learn, state
from dashboard import learn_figures_activations as figs
from dashboard.text import sections

SLUG = "activations"
TEXT = sections(f"learn_{SLUG}")
PICK, DERIVATIVE = "activations_pick", "activations_derivative"
TARGET, UNITS, ACT = "activations_target", "activations_units", "activations_act"
UNITS_NONE = "activations_units_none"
TRAINED = "activations_trained"  # the settings of the training shown, to reset the step shown
POINTS, NOISE, LAYERS, WIDTH = (
    "activations_points",
    "activations_noise",
    "activations_layers",
    "activations_width",
)
PLAY_ACT, LR, STEPS, SHOWN = (
    "activations_play_act",
    "activations_lr",
    "activations_steps",
    "activations_shown",
)
UNIT_CHOICES = [1, 2, 3, 4, 6, 8, 16, 32, 64]


@st.cache_data(show_spinner=False, max_entries=64)
def fitted(kind: str, units: int, act: str) -> lab.CurveFit:
    """A one-hidden-layer fit of the curve (cached: moving back to a setting is instant)."""
    return lab.fit_curve(kind, units, act)


@st.cache_data(show_spinner=False, max_entries=32)
def classified(kind: str, noise: float, widths: tuple[int, ...], act: str, lr: float, steps: int):
    """The toy points and a classifier trained on them, with its boundary's snapshots."""
    xy, y = lab.points(kind, noise=noise)
    return xy, y, lab.train_classifier(xy, y, list(widths), act, lr=lr, steps=steps)


state.init()
st.title("Activations and layers")
st.write(TEXT["intro"])

with learn.section(SLUG, "functions"):
    st.write(TEXT["functions_text"])
    left, right = st.columns([1, 3])
    names = left.multiselect(
        "Functions", lab.FUNCTIONS, default=["relu", "sigmoid"], key=PICK, help=TEXT["pick"]
    )
    slope = left.toggle("Show the slope", value=False, key=DERIVATIVE, help=TEXT["derivative"])
    x = np.linspace(-4, 4, 161, dtype=np.float32)
    curves = {name: lab.activation(name, x) for name in names}
    right.plotly_chart(figs.functions_figure(x, curves, slope), key="activations_functions")

with learn.section(SLUG, "approximation"):
    st.write(TEXT["approximation_text"])
    left, right = st.columns([1, 3])
    target = left.selectbox("Target curve", lab.CURVES, key=TARGET, help=TEXT["target"])
    units = left.select_slider("Hidden units", UNIT_CHOICES, value=2, key=UNITS, help=TEXT["units"])
    act = left.selectbox("Activation", lab.FUNCTIONS, key=ACT, help=TEXT["act"])
    fit = fitted(target, units, act)
    left.metric("Loss (MSE)", f"{fit.loss:.4f}")
    right.plotly_chart(
        figs.fit_figure(fit.x, fit.target, {f"{units} {act} units": fit.fit}), key="activations_fit"
    )

with learn.section(SLUG, "no_activation"):
    st.write(TEXT["no_activation_text"])
    left, right = st.columns([1, 3])
    units_none = left.select_slider(
        "Hidden units ", UNIT_CHOICES, value=16, key=UNITS_NONE, help=TEXT["units_none"]
    )
    line = fitted("wave", units_none, "none")
    bent = fitted("wave", units_none, "relu")
    left.metric("Loss without activation", f"{line.loss:.4f}")
    left.metric("Loss with ReLU", f"{bent.loss:.4f}")
    left.markdown(f"without: y = **{line.slope:.3f}**·x + **{line.intercept:.3f}**")
    right.plotly_chart(
        figs.fit_figure(line.x, line.target, {"no activation": line.fit, "ReLU": bent.fit}),
        key="activations_none",
    )

with learn.section(SLUG, "playground"):
    st.write(TEXT["playground_text"])
    left, right = st.columns([1, 3])
    kind = left.selectbox("Points", lab.POINTS, key=POINTS, help=TEXT["points"])
    noise = left.slider("Noise", 0.0, 0.3, 0.05, 0.01, key=NOISE, help=TEXT["noise"])
    layers = left.slider("Hidden layers", 1, 3, 2, key=LAYERS, help=TEXT["layers"])
    width = left.select_slider("Units per layer", [2, 4, 8, 16, 32], value=8, key=WIDTH, help=TEXT["width"])
    play_act = left.selectbox("Activation ", (*lab.FUNCTIONS, "none"), key=PLAY_ACT, help=TEXT["play_act"])
    lr = left.select_slider(
        "Learning rate", [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0], value=0.03, key=LR, help=TEXT["lr"]
    )
    steps = left.select_slider("Steps", [50, 100, 200, 300, 400], value=300, key=STEPS, help=TEXT["steps"])
    settings = (kind, noise, (width,) * layers, play_act, lr, steps)
    xy, y, result = classified(*settings)
    if st.session_state.get(TRAINED) != settings:
        st.session_state[TRAINED] = settings
        st.session_state.pop(SHOWN, None)  # a new training: show its last step
    shown = right.select_slider(
        "Step shown", result.steps, value=result.steps[-1], key=SHOWN, help=TEXT["shown"]
    )
    grid = result.grids[result.steps.index(shown)]
    title = f"step {shown}: loss {result.losses[shown - 1]:.3f}" if shown else "step 0 (untrained)"
    right.plotly_chart(figs.boundary_figure(result.axis, grid, xy, y, title), key="activations_boundary")
    left.metric("Accuracy after training", f"{result.accuracy:.0%}")
    right.plotly_chart(figs.loss_figure(result.losses, shown), key="activations_loss")
