"""Lab: embeddings — a one-hot row times a matrix is a lookup; PCA of the features a model learned."""

import numpy as np
import pandas as pd
import streamlit as st

from core import workspace
from core.labs import embeddings
from dashboard import learn, learn_run, state
from dashboard import learn_figures_embeddings as figures
from dashboard.text import sections

SLUG = "embeddings"
TEXT = sections("learn_embeddings")
N_ITEMS, DIM, INDEX = "embeddings_n_items", "embeddings_dim", "embeddings_index"
N_IMAGES, COLOUR = "embeddings_n_images", "embeddings_colour"
COLOURS = {"true": "true class", "predicted": "predicted class"}

state.init()
st.title(learn.LABS[SLUG].title)
st.write(TEXT["intro"])


@st.cache_data(show_spinner=False, max_entries=16)
def features(space: str, run_id: int, n: int) -> tuple[np.ndarray, list[str], list[str]]:
    """The last learned layer's inputs for n validation images, their labels and the predictions
    (space, the current one, keys the cache: run ids of two people's spaces are not the same run)."""
    import torch

    run = learn_run.loaded(run_id)
    _, labels, x = learn_run.images(run_id, n)
    with torch.no_grad():
        predicted = run.model.eval()(x).argmax(dim=1).tolist()
    return embeddings.last_features(run.model, x), labels, [run.vocab[i] for i in predicted]


@st.cache_data(show_spinner=False, max_entries=16)
def components(space: str, run_id: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The features' projection on their first two principal components, and every component's share."""
    feats = features(space, run_id, n)[0]
    coords, ratio = embeddings.pca(feats, min(10, feats.shape[1]))
    return coords[:, :2], ratio


with learn.section(SLUG, "lookup"):
    st.markdown(TEXT["lookup"])
    left, middle, right = st.columns(3)
    n_items = left.slider("Items", 2, 12, 6, key=N_ITEMS, help=TEXT["n_items"])
    dim = middle.slider("Embedding size", 1, 8, 4, key=DIM, help=TEXT["dim"])
    index = right.slider("Item", 0, n_items - 1, min(2, n_items - 1), key=INDEX, help=TEXT["index"])
    demo = embeddings.one_hot_lookup(n_items, dim, index)
    columns = [f"d{j}" for j in range(dim)]
    st.markdown("**one-hot** · **matrix**")
    left, right = st.columns([1, 3])
    left.dataframe(pd.DataFrame({"one-hot": demo["one_hot"].astype(int)}), width="stretch")
    matrix = pd.DataFrame(demo["matrix"], columns=columns)
    right.dataframe(
        matrix.style.format("{:.2f}").apply(
            lambda row: ["background-color: #ffe08a" if row.name == index else "" for _ in row], axis=1
        ),
        width="stretch",
    )
    result = pd.DataFrame(
        [demo["product"], demo["lookup"]], columns=columns, index=["one-hot @ matrix", f"row {index}"]
    )
    st.dataframe(result.style.format("{:.2f}"), width="stretch")
    same = bool(np.array_equal(demo["product"], demo["lookup"]))
    st.metric("Product equals lookup", "yes" if same else "no")

with learn.section(SLUG, "pca"):
    st.markdown(TEXT["pca"])
    run = learn_run.current()
    if run is None:
        learn_run.no_run(TEXT["no_run"])
    else:
        left, right = st.columns(2)
        n = left.slider("Images", 50, 500, 200, 50, key=N_IMAGES, help=TEXT["n_images"])
        colour = right.radio(
            "Colour by",
            list(COLOURS),
            format_func=COLOURS.get,
            key=COLOUR,
            horizontal=True,
            help=TEXT["colour"],
        )
        space = workspace.current_name()
        feats, labels, predicted = features(space, run.run_id, n)
        coords, ratio = components(space, run.run_id, n)
        st.caption(
            f"Run {run.run_id}: {run.config.arch} on {run.config.dataset} · {len(feats)} images × "
            f"{feats.shape[1]} features"
        )
        st.metric("Variance kept by two components", f"{ratio[:2].sum():.0%}")
        st.plotly_chart(
            figures.pca_scatter(coords, labels if colour == "true" else predicted, ratio),
            key="embeddings_pca_chart",
        )
        st.plotly_chart(figures.explained_variance(ratio), key="embeddings_variance_chart")
