"""The Predict page for a ratings model (collaborative filtering): pick a user to get the items with
the highest predicted rating, or an item to get the items whose factors are nearest.

core.serving.predict_collab does the sums; a user or item the model never saw is refused with its
message. Each picker's key carries the model's weights hash, so another model starts afresh. What
each user already rated is read from the dataset's ratings.csv once per version of its files
(their stamp), not on every change of a widget.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import UserError
from core.serving import predict
from core.serving.library import ModelInfo
from dashboard.markup import md
from dashboard.views.predict_table import TEXT

USER = "predict_collab_user"  # + weights hash: the user to recommend for
ITEM = "predict_collab_item"  # + weights hash: the item whose similar items are listed
TOP_N = "predict_collab_n"  # how many items to list
EXCLUDE = "predict_collab_exclude"  # leave out the items the user rated in training


def _key(prefix: str, info: ModelInfo) -> str:
    return f"{prefix}_{info.sha256[:16]}"


def titles(info: ModelInfo) -> dict[str, str]:
    """{item: title} from the model's state (empty when the data had no titles)."""
    return {str(k): str(v) for k, v in ((info.state or {}).get("titles") or {}).items()}


def item_label(item: str, names: dict[str, str]) -> str:
    """An item as the pickers show it: its title, and its id when that differs."""
    title = names.get(item)
    return f"{title} ({item})" if title and title != item else str(item)


@st.cache_resource(show_spinner=False, max_entries=4)
def _ratings_by_user(dataset: str, root: str, stamp: tuple, meta: str) -> dict[str, dict[str, float]] | None:
    # keyed by the folder, its files' (name, mtime_ns, size) and dataset.json (the roles); read-only
    from core.data import ratings_loaders
    from core.data.datasets import resolve

    try:
        ratings, _ = ratings_loaders.read(resolve(dataset))
    except UserError:
        return None
    roles = ratings_loaders.roles_of(ratings)
    frame = ratings.frame
    out: dict[str, dict[str, float]] = {}
    for user, item, rating in zip(frame[roles["user"]], frame[roles["item"]], frame[roles["rating"]]):
        out.setdefault(str(user), {})[str(item)] = float(rating)
    return out


def seen_ratings(info: ModelInfo, user: str) -> dict[str, float] | None:
    """The items user rated in the model's dataset as it is now ({item: rating}), as
    core.serving.predict_collab.seen_ratings reads them but cached by the files' stamp; None when
    that dataset is not in this workspace or is no longer a ratings dataset."""
    from core.data import datasets
    from dashboard import model_view

    name = getattr(info, "dataset", None)
    if not name:
        return None
    try:
        root = str(datasets.resolve(name).path)
    except UserError:
        return None
    by_user = _ratings_by_user(name, root, model_view.files_stamp(root), model_view.dataset_meta(root))
    return None if by_user is None else dict(by_user.get(str(user), {}))


def recommend(loaded: predict.LoadedModel, user: str, n: int, exclude_seen: bool) -> pd.DataFrame:
    """predict_collab.recommend, leaving out what the user rated through the cached seen_ratings:
    attrs["seen"] is how many known items were left out, None when that cannot be known."""
    from core.serving import predict_collab

    rated = seen_ratings(loaded.info, user) if exclude_seen else None
    if rated is None:
        found = predict_collab.recommend(loaded, user, n=n, exclude_seen=False)
        found.attrs["seen"] = None
        return found
    known = set(predict_collab.items(loaded.info))
    seen = set(rated) & known
    wanted = n + len(seen)
    if wanted > predict_collab.MAX_N:  # a user who rated nearly everything: the engine reads the file
        return predict_collab.recommend(loaded, user, n=n, exclude_seen=True)
    found = predict_collab.recommend(loaded, user, n=wanted, exclude_seen=False)
    found = found[~found["item"].isin(seen)].head(n).reset_index(drop=True)
    found.attrs["seen"] = len(seen)
    return found


def _as_list(values) -> list[str]:
    if isinstance(values, pd.DataFrame):
        values = values.iloc[:, 0]
    return [str(v) for v in values if str(v) != "#na#"]


def _table(frame: pd.DataFrame) -> None:
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "predicted": st.column_config.NumberColumn("predicted rating", format="%.2f"),
            "similarity": st.column_config.NumberColumn(format="%.3f"),
        },
    )


def recommend_section(loaded: predict.LoadedModel, users: list[str], n: int) -> None:
    """A user picker (type to search; an unknown user is refused) and their top-n items."""
    info = loaded.info
    key = _key(USER, info)
    if st.session_state.get(key) is None and users:
        st.session_state[key] = users[0]
    left, right = st.columns([3, 2])
    user = left.selectbox("User", users, key=key, accept_new_options=True, help=TEXT["user"])
    exclude = right.toggle(
        "Only items they have not rated", value=True, key=EXCLUDE, help=TEXT["exclude_seen"]
    )
    if user is None:
        return
    try:
        found = recommend(loaded, str(user), n, bool(exclude))
    except UserError as e:
        st.error(str(e))
        return
    st.markdown(f"The {len(found)} items with the highest predicted rating for user **{md(user)}**:")
    _table(found)
    seen = found.attrs.get("seen")
    if exclude and seen is not None:
        st.caption(f"{seen} items they already rated were left out.")
    elif exclude:
        st.caption("Their past ratings are not in this workspace, so none could be left out.")


def similar_section(loaded: predict.LoadedModel, items: list[str], n: int) -> None:
    """An item picker and the items nearest to it."""
    from core.serving import predict_collab

    info = loaded.info
    names = titles(info)
    key = _key(ITEM, info)
    if st.session_state.get(key) is None and items:
        st.session_state[key] = items[0]
    item = st.selectbox(
        "Item",
        items,
        key=key,
        accept_new_options=True,
        format_func=lambda i: item_label(str(i), names),
        help=TEXT["item"],
    )
    if item is None:
        return
    try:
        found = predict_collab.similar(loaded, str(item), n=n)
    except UserError as e:
        st.error(str(e))
        return
    st.markdown(f"The {len(found)} items nearest to **{md(item_label(str(item), names))}**:")
    _table(found)


def show(loaded: predict.LoadedModel) -> None:
    """The whole view: what the model knows, recommendations for a user, items like an item."""
    from core.serving import predict_collab

    info = loaded.info
    users, items = _as_list(predict_collab.users(info)), _as_list(predict_collab.items(info))
    st.caption(TEXT["ratings_intro"])
    span = (info.state or {}).get("y_range")
    scale = f"; its predictions are kept between {span[0]:g} and {span[1]:g} (y_range)" if span else ""
    st.caption(f"The model knows {len(users):,} users and {len(items):,} items{scale}.")
    n = int(
        st.number_input("How many items", min_value=1, max_value=100, value=10, key=TOP_N, help=TEXT["top_n"])
    )
    st.subheader("Recommendations for a user")
    st.caption(TEXT["recommend"])
    recommend_section(loaded, users, n)
    st.subheader("Items like an item")
    st.caption(TEXT["similar"])
    similar_section(loaded, items, n)
