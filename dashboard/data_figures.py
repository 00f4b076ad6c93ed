"""Pure functions that turn a dataset's counts and image sizes into plotly figures."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.markup import html_text

SPLIT_COLOURS = {"train": "#1f77b4", "valid": "#ff7f0e"}


def class_counts(files_labels_valid: list[tuple[str, str, bool]]) -> pd.DataFrame:
    """Images per class and split: columns class, split (train/valid), images."""
    frame = pd.DataFrame(files_labels_valid, columns=["file", "class", "valid"])
    frame["split"] = frame["valid"].map({False: "train", True: "valid"})
    counts = frame.groupby(["class", "split"]).size().rename("images").reset_index()
    return counts.sort_values(["class", "split"], ignore_index=True)


def class_counts_figure(counts: pd.DataFrame) -> go.Figure:
    """A stacked bar per class (its label, escaped for plotly): training and validation images."""
    fig = go.Figure()
    for split in ("train", "valid"):
        part = counts[counts["split"] == split]
        fig.add_bar(
            x=[html_text(c) for c in part["class"]],  # plotly reads tags and entities in text
            y=part["images"],
            name=split,
            marker_color=SPLIT_COLOURS[split],
        )
    return fig.update_layout(
        barmode="stack",
        xaxis_title="class",
        yaxis_title="images",
        xaxis_type="category",
        height=320,
        margin=dict(l=10, r=10, t=30, b=10),
        legend=dict(orientation="h"),
    )


def size_table(sizes: list[tuple[int, int]]) -> pd.DataFrame:
    """How many images have each (width, height), most common first; unreadable ones left out."""
    frame = pd.DataFrame(sizes, columns=["width", "height"])
    frame = frame[(frame["width"] > 0) & (frame["height"] > 0)]
    table = frame.value_counts(["width", "height"]).rename("images").reset_index()
    return table.sort_values(["images", "width", "height"], ascending=[False, True, True], ignore_index=True)


def size_figure(table: pd.DataFrame) -> go.Figure:
    """Width against height, one marker per size, bigger for sizes many images share."""
    biggest = max(1, int(table["images"].max())) if len(table) else 1
    fig = go.Figure()
    fig.add_scatter(
        x=table["width"],
        y=table["height"],
        mode="markers",
        name="images",
        marker=dict(size=[8 + 30 * (n / biggest) ** 0.5 for n in table["images"]], opacity=0.6),
        text=[
            f"{w}×{h}: {n:,} image(s)" for w, h, n in zip(table["width"], table["height"], table["images"])
        ],
        hoverinfo="text",
    )
    return fig.update_layout(
        xaxis_title="width (pixels)",
        yaxis_title="height (pixels)",
        height=300,
        margin=dict(l=10, r=10, t=30, b=10),
    )
