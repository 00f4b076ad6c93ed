"""Optimizers lab: SGD, momentum, RMSProp and Adam on the same surfaces at the same learning rate."""

import pandas as pd
import streamlit as st

from core.labs import optimizers as opt
from dashboard import learn, state
from dashboard import learn_figures_optimizers as fig
from dashboard.text import sections

SLUG = "optimizers"
TEXT = sections(f"learn_{SLUG}")
LRS = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]

state.init()
st.title(learn.LABS[SLUG].title)
st.caption(TEXT["intro"])


@st.cache_data(show_spinner=False, max_entries=64)
def race(surface: str, lr: float, steps: int, beta1: float, beta2: float) -> dict[str, opt.Path]:
    """Every optimiser's path, cached: a slider moved back answers at once."""
    return opt.race(surface, lr, steps, beta1, beta2)


with learn.section("optimizers", "race"):
    st.markdown(TEXT["race"])
    left, mid, right = st.columns(3)
    surface = left.selectbox(
        "Surface", list(opt.SURFACES), index=1, key=f"{SLUG}_surface", help=TEXT["surface"]
    )
    lr = mid.select_slider("Learning rate", LRS, value=0.1, key=f"{SLUG}_lr", help=TEXT["lr"])
    steps = right.slider("Steps", 10, 500, 200, step=10, key=f"{SLUG}_steps", help=TEXT["steps"])
    b1, b2 = st.columns(2)
    beta1 = b1.slider("β₁ (momentum)", 0.0, 0.99, 0.9, step=0.01, key=f"{SLUG}_beta1", help=TEXT["beta1"])
    beta2 = b2.slider(
        "β₂ (squared gradients)", 0.5, 0.999, 0.99, step=0.001, key=f"{SLUG}_beta2", help=TEXT["beta2"]
    )
    paths = race(surface, lr, steps, beta1, beta2)
    st.plotly_chart(fig.paths_figure(surface, paths), key=f"{SLUG}_paths")
    minimum = float(opt.SURFACES[surface].f(*opt.SURFACES[surface].minimum))
    st.plotly_chart(fig.losses_figure(paths, minimum), key=f"{SLUG}_losses")
    arrival = {fig.NAMES[k]: opt.steps_to_minimum(p, surface) for k, p in paths.items()}
    st.dataframe(
        pd.DataFrame(
            {
                "optimizer": list(arrival),
                "steps to the minimum": [str(v) if v is not None else "—" for v in arrival.values()],
                "final loss": [f"{p.losses[-1]:.3g}" for p in paths.values()],
                "diverged": [p.diverged for p in paths.values()],
            }
        ),
        hide_index=True,
        key=f"{SLUG}_arrival",
    )
    st.caption(TEXT["arrival"])

with learn.section("optimizers", "momentum"):
    st.markdown(TEXT["momentum"])
    left, right = st.columns(2)
    beta = left.slider("β", 0.0, 0.99, 0.9, step=0.01, key=f"{SLUG}_beta", help=TEXT["beta"])
    noise = right.slider("Noise", 0.0, 1.0, 0.5, step=0.1, key=f"{SLUG}_noise", help=TEXT["noise"])
    series = opt.noisy_series(noise=noise)
    st.plotly_chart(fig.ewma_figure(series, beta), key=f"{SLUG}_ewma")
    st.plotly_chart(fig.weights_figure(beta), key=f"{SLUG}_weights")

with learn.section("optimizers", "adam"):
    st.markdown(TEXT["adam"])
    left, mid, right = st.columns(3)
    adam_surface = left.selectbox(
        "Surface", list(opt.SURFACES), index=1, key=f"{SLUG}_adam_surface", help=TEXT["adam_surface"]
    )
    adam_b1 = mid.slider("β₁", 0.0, 0.99, 0.9, step=0.01, key=f"{SLUG}_adam_beta1", help=TEXT["beta1"])
    adam_b2 = right.slider("β₂", 0.5, 0.999, 0.99, step=0.001, key=f"{SLUG}_adam_beta2", help=TEXT["beta2"])
    both = race(adam_surface, lr, steps, adam_b1, adam_b2)
    pair = {k: both[k] for k in ("sgd", "adam")}
    st.plotly_chart(fig.paths_figure(adam_surface, pair), key=f"{SLUG}_adam_paths")
    st.plotly_chart(fig.updates_figure(pair), key=f"{SLUG}_updates")
