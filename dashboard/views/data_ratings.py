"""The Data page for ratings: how the ratings spread over values, users and items (the long
tail), a sample of the items, and which columns are the user, the item and the rating."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.data import datasets, tables
from dashboard import table_figures as figs
from dashboard.markup import md
from dashboard.views.data_table import TEXT, check_and_save, counts, describe_split, fill_editor, split_editor

W_USER, W_ITEM, W_RATING = "rat_user", "rat_item", "rat_rating"  # the roles editor
W_ORDER = "rat_items_order"  # which items the sample lists
ORDERS = ("most rated", "fewest ratings", "highest mean rating", "lowest mean rating")
SAMPLE = 15  # items listed


def item_table(items: tables.RatingItems, order: str, n: int = SAMPLE) -> pd.DataFrame:
    """Items with their number of ratings and mean rating (and title and genre when known), n of them."""
    r = items.roles
    frame = items.frame
    stats = frame.groupby(r.item)[r.rating].agg(ratings="count", mean_rating="mean").reset_index()
    stats = stats.rename(columns={r.item: "item", "mean_rating": "mean rating"})
    stats["item"] = stats["item"].astype(str)
    if items.items is not None and len(items.items):
        info = items.items.copy()
        info["item"] = info["item"].astype(str)
        stats = info.merge(stats, on="item", how="right")
    by, ascending = {
        "most rated": ("ratings", False),
        "fewest ratings": ("ratings", True),
        "highest mean rating": ("mean rating", False),
        "lowest mean rating": ("mean rating", True),
    }[order]
    return stats.sort_values([by, "item"], ascending=[ascending, True], kind="stable").head(n)


def overview(info: datasets.DatasetInfo, items: tables.RatingItems) -> None:
    """Counts, the spread of ratings, ratings per user and per item, and a sample of the items."""
    st.caption(TEXT["ratings_intro"])
    r, frame = items.roles, items.frame
    n_valid = int(sum(items.is_valid))
    per_user = frame[r.user].value_counts()
    per_item = frame[r.item].value_counts()
    counts(
        {
            "ratings": f"{len(frame):,}",
            "users": f"{len(per_user):,}",
            "items": f"{len(per_item):,}",
            "training": f"{len(frame) - n_valid:,}",
            "validation": f"{n_valid:,}",
        }
    )
    st.markdown(TEXT["split"].format(split=describe_split(items.split)).replace("rows", "ratings"))
    if items.noise_sd:
        st.info(TEXT["noise"].format(noise=float(items.noise_sd)), icon=":material/blur_on:")

    st.markdown("**Ratings**")
    st.caption(TEXT["ratings_dist"])
    st.plotly_chart(figs.ratings_figure(frame[r.rating]), key="rat_values")
    st.caption(f"Mean rating {frame[r.rating].mean():.3g}, median {frame[r.rating].median():.3g}.")

    left, right = st.columns(2)
    with left:
        st.markdown("**Ratings per user**")
        st.caption(TEXT["per_user"])
        st.plotly_chart(figs.long_tail_figure(per_user, "user"), key="rat_per_user")
    with right:
        st.markdown("**Ratings per item**")
        st.caption(TEXT["per_item"])
        st.plotly_chart(figs.long_tail_figure(per_item, "item"), key="rat_per_item")
    st.markdown(TEXT["tail"].format(users=float(per_user.median()), items=float(per_item.median())))

    st.markdown("**Items**")
    st.caption(TEXT["items"])
    order = st.radio("List", ORDERS, horizontal=True, key=W_ORDER, help=TEXT["items_order"])
    st.dataframe(
        item_table(items, order),
        hide_index=True,
        key="rat_items",
        column_config={"mean rating": st.column_config.NumberColumn(format="%.2f")},
    )


def roles_view(info: datasets.DatasetInfo, items: tables.RatingItems) -> None:
    """Which columns are the user, the item and the rating; which ratings are kept for validation."""
    st.caption(TEXT["ratings_roles"])
    columns = [str(c) for c in items.frame.columns]
    saved = items.roles
    fill_editor(
        info.name, saved, items.split, {W_USER: saved.user, W_ITEM: saved.item, W_RATING: saved.rating}
    )
    cols = st.columns(3)
    user = cols[0].selectbox("User column", columns, key=W_USER, help=TEXT["user"])
    item = cols[1].selectbox("Item column", columns, key=W_ITEM, help=TEXT["item"])
    rating = cols[2].selectbox("Rating column", columns, key=W_RATING, help=TEXT["rating"])
    others = [c for c in columns if c not in (user, item, rating)]
    if others:
        st.caption(f"**Not used by the model:** {', '.join(md(c) for c in others)}.")
    split = split_editor(columns, items.split)
    check_and_save(info, items, tables.RatingRoles(user=user, item=item, rating=rating), split)
