"""Regularisation lab: weight decay and dropout against overfitting on a toy fit; L1 or L2."""

import streamlit as st

from core.labs import regularisation as reg
from dashboard import learn, state
from dashboard import learn_figures_regularisation as fig
from dashboard.text import sections

SLUG = "regularisation"
TEXT = sections(f"learn_{SLUG}")
WDS = [0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]

state.init()
st.title(learn.LABS[SLUG].title)
st.caption(TEXT["intro"])


@st.cache_data(show_spinner=False, max_entries=64)
def fit(wd: float, dropout: float, kind: str = "l2") -> reg.Fit:
    """The toy network trained with these settings, cached: moving a slider back is instant."""
    return reg.fit(wd=wd, dropout=dropout, kind=kind)


@st.cache_data(show_spinner=False)
def data() -> dict:
    """The toy points every fit uses."""
    return reg.toy_data()


baseline = fit(0.0, 0.0)


@st.fragment
def overfitting_section() -> None:
    """Only this section reruns when its controls move."""
    st.markdown(TEXT["overfitting"])
    left, right = st.columns(2)
    wd = left.select_slider("Weight decay (wd)", WDS, value=0.0, key=f"{SLUG}_wd", help=TEXT["wd"])
    p = right.slider("Dropout p", 0.0, 0.7, 0.0, step=0.1, key=f"{SLUG}_dropout", help=TEXT["dropout_p"])
    current = fit(wd, p)
    shown_baseline = None if (wd, p) == (0.0, 0.0) else baseline
    st.plotly_chart(fig.fit_figure(data(), current, shown_baseline), key=f"{SLUG}_fit")
    st.plotly_chart(fig.losses_figure(current, shown_baseline), key=f"{SLUG}_losses")
    a, b, c = st.columns(3)
    a.metric("Training loss", f"{current.train_loss[-1]:.3f}")
    b.metric("Validation loss", f"{current.valid_loss[-1]:.3f}")
    c.metric(
        "Gap",
        f"{current.gap:.3f}",
        delta=f"{current.gap - baseline.gap:+.3f} vs none",
        delta_color="inverse",
        help=TEXT["gap"],
    )


with learn.section("regularisation", "overfitting"):
    overfitting_section()


@st.fragment
def weight_decay_section() -> None:
    """Only this section reruns when its controls move."""
    st.markdown(TEXT["weight_decay"])
    left, right = st.columns(2)
    w = left.slider("w", -2.0, 2.0, 1.0, step=0.1, key=f"{SLUG}_w", help=TEXT["w"])
    wd_demo = right.slider("wd", 0.0, 1.0, 0.1, step=0.05, key=f"{SLUG}_wd_demo", help=TEXT["wd_demo"])
    st.plotly_chart(fig.penalty_figure(wd_demo, w), key=f"{SLUG}_penalty")
    auto = float(reg.autograd_penalty_grad([w], wd_demo)[0])
    hand = float(reg.penalty_grad([w], wd_demo)[0])
    st.markdown(TEXT["autograd"].format(w=w, wd=wd_demo, auto=auto, hand=hand))


with learn.section("regularisation", "weight_decay"):
    weight_decay_section()


@st.fragment
def l1_l2_section() -> None:
    """Only this section reruns when its controls move."""
    st.markdown(TEXT["l1_l2"])
    l1_wd = st.select_slider("wd", WDS[1:], value=1e-3, key=f"{SLUG}_l1_wd", help=TEXT["l1_wd"])
    by_kind = {kind: fit(l1_wd, 0.0, kind).weights for kind in reg.PENALTIES}
    st.plotly_chart(fig.histogram_figure({**by_kind, "none": baseline.weights}), key=f"{SLUG}_hist")
    st.markdown(
        TEXT["sparsity"].format(
            l1=reg.near_zero(by_kind["l1"]),
            l2=reg.near_zero(by_kind["l2"]),
            none=reg.near_zero(baseline.weights),
        )
    )


with learn.section("regularisation", "l1_l2"):
    l1_l2_section()


@st.fragment
def dropout_section() -> None:
    """Only this section reruns when its controls move."""
    st.markdown(TEXT["dropout"])
    left, right = st.columns([3, 1])
    drop = left.slider("p", 0.0, 0.7, 0.5, step=0.1, key=f"{SLUG}_mask_p", help=TEXT["dropout_p"])
    seed_key = f"{SLUG}_mask_seed"
    if right.button("New mask", key=f"{SLUG}_resample", help=TEXT["resample"]):
        st.session_state[seed_key] = st.session_state.get(seed_key, 0) + 1
    seed = st.session_state.get(seed_key, 0)
    train_mask = reg.dropout_mask(32, drop, seed, training=True)
    eval_mask = reg.dropout_mask(32, drop, seed, training=False)
    st.plotly_chart(fig.mask_figure(train_mask, eval_mask), key=f"{SLUG}_mask")
    st.caption(TEXT["mask"].format(zeros=int((train_mask == 0).sum())))
    st.plotly_chart(fig.dropout_figure(data(), fit(0.0, drop)), key=f"{SLUG}_samples")


with learn.section("regularisation", "dropout"):
    dropout_section()
