"""The Predict page for a segmentation model: the predicted mask over the image with a legend, and
each class's share of the pixels."""

from __future__ import annotations

import streamlit as st

from core.serving import predict, predict_seg
from dashboard import identity, predict_view
from dashboard.markup import md
from dashboard.text import sections

SQUARE_SIDE = predict_seg.DISPLAY_SIDE  # keep each image's centre square for the overlay
OPACITY = "predict_seg_opacity"
SHOWN_PX = 256  # the pictures' width on the page


def controls(loaded: predict.LoadedModel) -> tuple[float, bool]:
    """The mask's opacity over the image (no threshold, no Grad-CAM: the mask is the answer)."""
    text = sections("predict_tasks")
    st.caption(text["seg_intro"])
    st.session_state.setdefault(OPACITY, 0.5)
    opacity = st.slider(
        "Mask opacity", min_value=0.0, max_value=1.0, step=0.05, key=OPACITY, help=text["seg_opacity"]
    )
    return opacity, False


def legend_and_shares(pred: predict_seg.SegPrediction) -> None:
    """The legend and each class's share of the pixels in one table: colour, class, share."""
    table = predict_seg.shares_table(pred)[["colour", "class", "share"]]

    def swatch(colour: str) -> str:  # the cell painted in its colour, the hex code hidden in it
        return f"background-color: {colour}; color: {colour}"

    st.dataframe(
        table.style.map(swatch, subset=["colour"]),
        hide_index=True,
        width="stretch",
        column_config={
            "colour": st.column_config.TextColumn(
                "colour", width="small", help="The colour of the class on the overlay and the mask."
            ),
            "share": st.column_config.ProgressColumn(
                min_value=0.0, max_value=1.0, format="percent", help=sections("predict_tasks")["seg_shares"]
            ),
        },
    )


def show_one(
    loaded: predict.LoadedModel,
    image: predict.PreparedImage,
    pred: predict_seg.SegPrediction,
    opacity: float,
    heat_map: bool = False,
) -> None:
    """One image: the mask over it with a legend, the mask alone, and the share of each class."""
    text = sections("predict_tasks")
    code, share = pred.present()[0]  # the shares add up to 1: some class is present
    left, right = st.columns([1, 2])
    left.metric("Largest class", md(code), help="The class the model gave the most pixels to.")
    left.caption(
        f"{md(image.name)}: {md(code)} covers {share:.0%} of the pixels; mean confidence "
        f"{pred.confidence:.0%} (the winning class's probability, averaged over the pixels)."
    )
    with right:
        st.markdown("**Legend and share of the pixels per class**")
        legend_and_shares(pred)
    side = min(image.width, image.height)
    square = image.square if image.square is not None else image.pixels
    cols = st.columns(3)
    # a small picture is enlarged with hard pixel edges, so the mask's pixels can be seen
    cols[0].image(
        predict.enlarged(square, SHOWN_PX),
        caption=f"your image's centre square ({side}×{side} of {image.width}×{image.height})",
    )
    cols[1].image(
        predict.enlarged(predict_seg.overlay(pred, image, opacity), SHOWN_PX),
        caption=f"the predicted mask over it ({pred.mask.shape[0]}×{pred.mask.shape[1]} as the model "
        "answered, resized by the nearest pixel)",
    )
    cols[2].image(
        predict.enlarged(predict_seg.coloured(pred, square.shape[0]), SHOWN_PX), caption="the mask alone"
    )
    st.download_button(
        "Download the mask (PNG)",
        data=identity.bound(
            lambda: predict_seg.mask_png(predict_seg.full_mask(pred, image), len(pred.codes))
        ),
        file_name=f"{image.name.rsplit('.', 1)[0]}_mask.png",
        mime="image/png",
        on_click="ignore",
        key=f"mask_{image.name}",
        icon=":material/download:",
        help=text["seg_download"],
    )
    if image.notes:
        st.caption("Converted: " + "; ".join(image.notes) + ".")


def show_many(
    loaded: predict.LoadedModel,
    prepared: list[predict.PreparedImage],
    preds: list[predict_seg.SegPrediction],
    opacity: float,
    heat_map: bool = False,
) -> None:
    """Many images: the classes each holds in a table with a CSV download, then a closer look at one."""
    table = predict_seg.results_table(preds, prepared)
    st.write(f"**{len(table)} images**: the classes present in each, with their share of the pixels.")
    st.dataframe(table, hide_index=True, width="stretch")
    pick = predict_view.results_and_pick(
        table,
        loaded,
        prepared,
        "The table above as a CSV file: one row per image, a share column per class.",
        "Show one image's predicted mask over it, the legend and the share of each class.",
    )
    show_one(loaded, prepared[pick], preds[pick], opacity)
