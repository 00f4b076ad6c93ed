"""The Learn section: its labs, the sections each lab opens at, and how a link opens one.

A lab page is pages/learn_<slug>.py. Each of its sections is drawn inside `section(slug, key)`,
an expander that opens by itself when the page is reached through a link naming that section
(`?section=<key>`, as the Questions page's links do). The Questions page links only to labs
and sections listed here, and a test checks that every listed section is drawn by its page.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

PAGES = Path(__file__).resolve().parents[1] / "pages"
SECTION_PARAM = "section"


@dataclass(frozen=True)
class Lab:
    """One lab page: where it is, what it is called, and the sections a link may open."""

    slug: str
    title: str
    icon: str
    help: str
    sections: dict[str, str]  # key -> the section's title

    @property
    def path(self) -> str:
        """The page path as st.Page and st.page_link take it (relative to dashboard/app.py)."""
        return f"../pages/learn_{self.slug}.py"

    @property
    def exists(self) -> bool:
        """True when the lab's page file is there."""
        return (PAGES / f"learn_{self.slug}.py").is_file()


LABS = {
    lab.slug: lab
    for lab in (
        Lab(
            "sgd",
            "SGD by hand",
            ":material/trending_down:",
            "Fit a line step by step: the gradient, the update rule, learning rates that fail.",
            {
                "step": "One step at a time",
                "surface": "The loss surface and the path taken",
                "rates": "Too small, good, too large",
                "batches": "Mini-batch or full batch",
                "quadratic": "A quadratic",
            },
        ),
        Lab(
            "losses",
            "Loss functions",
            ":material/functions:",
            "MSE, MAE and Huber with an outlier you move; cross-entropy and softmax.",
            {
                "regression": "MSE, MAE and Huber",
                "rmse": "RMSE or MSE",
                "cross_entropy": "Cross-entropy and accuracy",
                "softmax": "Softmax and temperature",
            },
        ),
        Lab(
            "optimizers",
            "Optimizers",
            ":material/route:",
            "SGD, momentum, RMSProp and Adam racing on the same surfaces.",
            {
                "race": "The race on a surface",
                "momentum": "Momentum and the weighted average",
                "adam": "Adam",
            },
        ),
        Lab(
            "regularisation",
            "Regularisation",
            ":material/compress:",
            "Weight decay and dropout against overfitting; L1 or L2.",
            {
                "overfitting": "Overfitting and its cure",
                "weight_decay": "Weight decay (wd)",
                "l1_l2": "L1 or L2",
                "dropout": "Dropout",
            },
        ),
        Lab(
            "convolution",
            "Convolution",
            ":material/grid_on:",
            "A 3×3 kernel you edit, stride, padding, pooling, and your model's filters.",
            {
                "kernel": "The kernel",
                "stride": "Stride, padding and the output shape",
                "pooling": "Max-pooling",
                "filters": "Your model's filters and feature maps",
            },
        ),
        Lab(
            "activations",
            "Activations and layers",
            ":material/show_chart:",
            "ReLU and friends, a network fitting a curve, and a 2-D classifier that trains live.",
            {
                "functions": "ReLU, sigmoid, tanh, GELU",
                "approximation": "Fitting a curve as units grow",
                "no_activation": "Without an activation",
                "playground": "A 2-D classifier",
            },
        ),
        Lab(
            "inside",
            "Inside your model",
            ":material/memory:",
            "Activation statistics layer by layer, dropout's mask, memory per batch size.",
            {
                "activations": "Activations layer by layer (BatchNorm)",
                "dropout": "Dropout in training and in use",
                "memory": "Memory per batch size",
            },
        ),
        Lab(
            "embeddings",
            "Embeddings and PCA",
            ":material/scatter_plot:",
            "One-hot times a matrix is a lookup; PCA of what your model learned.",
            {
                "lookup": "One-hot times a matrix",
                "pca": "PCA of learned features",
            },
        ),
    )
}


def opened_section() -> str | None:
    """The section the page was linked to (?section=key), if any."""
    value = st.query_params.get(SECTION_PARAM)
    return str(value) if value else None


@contextlib.contextmanager
def section(slug: str, key: str) -> Iterator[None]:
    """Draw one section of a lab inside an expander; it opens when a link named it."""
    title = LABS[slug].sections[key]
    opened = opened_section()
    with st.expander(
        title, expanded=opened == key or (opened is None and key == next(iter(LABS[slug].sections)))
    ):
        yield


def link(slug: str, key: str | None = None, label: str | None = None) -> None:
    """A page link to a lab, opening at a section when key is given."""
    lab = LABS[slug]
    if key is not None and key not in lab.sections:
        raise KeyError(f"{slug} has no section {key!r}")
    params = {SECTION_PARAM: key} if key else None
    st.page_link(lab.path, label=label or lab.title, icon=lab.icon, query_params=params)
