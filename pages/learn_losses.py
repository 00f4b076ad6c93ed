"""Learn · Loss functions: MSE, MAE and Huber with a movable outlier; RMSE; cross-entropy; softmax."""

import numpy as np
import pandas as pd
import streamlit as st

from core.labs import losses
from dashboard import learn
from dashboard import learn_figures_losses as figs
from dashboard.text import sections

SLUG = "losses"
TEXT = sections(f"learn_{SLUG}")
OTHER_LOGITS = (1.0, -0.5, -1.5)  # classes 1 to 3 of the softmax section


@st.cache_data(show_spinner=False)
def base_points() -> tuple[np.ndarray, np.ndarray]:
    """The ordinary points (the same every time)."""
    return losses.points()


@st.cache_data(show_spinner=False)
def sweep() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cross-entropy and accuracy of the handful of predictions over a range of margins."""
    margins = np.linspace(-3.0, 3.0, 121)
    return (margins, *losses.margin_sweep(losses.LOGITS, losses.TARGETS, margins))


st.title(learn.LABS[SLUG].title)
st.caption(TEXT["intro"])
x0, y0 = base_points()

with learn.section(SLUG, "regression"):
    st.markdown(TEXT["regression"])
    c1, c2, c3 = st.columns(3)
    ox = c1.slider("Outlier x", 0.0, 1.0, 0.9, 0.05, key="losses_outlier_x", help=TEXT["outlier_x"])
    oy = c2.slider("Outlier y", -3.0, 6.0, 3.0, 0.1, key="losses_outlier_y", help=TEXT["outlier_y"])
    delta = c3.slider("Huber δ", 0.1, 2.0, 0.5, 0.05, key="losses_delta", help=TEXT["delta"])
    x, y = losses.with_outlier(x0, y0, (ox, oy))
    fitted = losses.fits(x, y, delta)
    st.plotly_chart(figs.fits_figure(x, y, fitted), key="losses_fits")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "loss": figs.NAMES[k],
                    "slope": p[0],
                    "intercept": p[1],
                    "its loss": losses.mean_loss(p, x, y, k, delta),
                }
                for k, p in fitted.items()
            ]
        ),
        hide_index=True,
        key="losses_fit_table",
    )
    st.caption(TEXT["pointwise"])
    st.plotly_chart(figs.pointwise_figure(delta), key="losses_pointwise")

with learn.section(SLUG, "rmse"):
    st.markdown(TEXT["rmse"])
    scale = st.select_slider(
        "Units (targets ×)", [1, 10, 100], value=1, key="losses_scale", help=TEXT["scale"]
    )
    slopes = np.linspace(-0.5, 2.5, 121)
    intercept = float(losses.fit(x0, y0, "mse")[1])
    mse, rmse = losses.rmse_and_mse(x0, y0, slopes, intercept, scale)
    k = int(np.argmin(mse))
    st.caption(TEXT["rmse_values"].format(mse=mse[k], rmse=rmse[k]))
    st.plotly_chart(figs.rmse_figure(slopes, mse, rmse), key="losses_rmse")

with learn.section(SLUG, "cross_entropy"):
    st.markdown(TEXT["cross_entropy"])
    margin = st.slider("Margin", -3.0, 3.0, 0.0, 0.1, key="losses_margin", help=TEXT["margin"])
    s = losses.scored(losses.LOGITS, losses.TARGETS, margin)
    c1, c2 = st.columns(2)
    c1.metric("Cross-entropy", f"{s['cross_entropy']:.3f}")
    c2.metric("Accuracy", f"{s['accuracy']:.0%}")
    st.dataframe(
        pd.DataFrame(
            {
                "true class": losses.TARGETS,
                "p(true class)": s["p_true"],
                "cross-entropy": s["loss"],
                "right": s["correct"],
            }
        ),
        key="losses_predictions",
    )
    st.plotly_chart(figs.cross_entropy_figure(*sweep(), margin), key="losses_ce")

with learn.section(SLUG, "softmax"):
    st.markdown(TEXT["softmax"])
    c1, c2 = st.columns(2)
    temperature = c1.slider(
        "Temperature", 0.1, 5.0, 1.0, 0.1, key="losses_temperature", help=TEXT["temperature"]
    )
    top = c2.slider("Logit of class 0", -3.0, 5.0, 2.0, 0.1, key="losses_top_logit", help=TEXT["top_logit"])
    logits = np.array([top, *OTHER_LOGITS])
    plain = losses.softmax(logits, temperature).max()
    relu = losses.softmax(losses.relu(logits), temperature).max()
    st.caption(TEXT["softmax_values"].format(plain=plain, relu=relu))
    st.plotly_chart(figs.softmax_figure(logits, temperature), key="losses_softmax")
