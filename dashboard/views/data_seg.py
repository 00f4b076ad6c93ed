"""The Data page for a segmentation dataset: masks over their images with a legend, the share of
pixels per class, and "what is a mask?" answered on one of the dataset's own images."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis import masks as colours
from core.data import datasets, summaries
from core.data.layouts import SegItems
from dashboard.markup import md
from dashboard.text import sections
from dashboard.views import data_task_figures as figs
from dashboard.views.data_choose import stamp
from dashboard.views.data_pictures import framed

SAMPLES = 8  # images in the samples grid
SAMPLE_PX = 96  # pixels a sample is shown at
MASK_PX = 240  # pixels the opened mask is drawn at (then shown at SHOWN_PX)
SHOWN_PX = 186
WINDOW = 10  # side of the square of mask values printed as numbers
UNIQUE_ROWS = 12  # images in the np.unique table
W_OPACITY, W_DRAW, W_PICK = "seg_opacity", "seg_draw", "seg_pick"


@st.cache_data(show_spinner=False, max_entries=8)
def _shares(root: str, stamp_: str, _items: SegItems) -> summaries.PixelShares:
    # keyed by the folder and its stamp; the items themselves are not hashed on every rerun
    return summaries.pixel_shares(_items)


def legend(codes: list[str]) -> None:
    """One colour swatch per code, captioned by its name: the colours every mask is drawn in."""
    swatches = [np.full((16, 64, 3), _rgb(hex_), dtype=np.uint8) for _, hex_ in colours.legend(codes)]
    st.image([framed(s, 2) for s in swatches], caption=[md(c) for c in codes], width=84)


def _rgb(hex_: str) -> tuple[int, int, int]:
    return tuple(int(hex_[i : i + 2], 16) for i in (1, 3, 5))


def overview(info: datasets.DatasetInfo, items: SegItems) -> None:
    """Counts, the legend, the share of pixels per class, and images with their masks overlaid."""
    text = sections("data_seg")
    st.caption(text["intro"])
    n_valid = sum(items.is_valid)
    cols = st.columns(4)
    cols[0].metric("images", f"{len(items.files):,}")
    cols[1].metric("classes", len(items.codes))
    cols[2].metric("training", f"{len(items.files) - n_valid:,}")
    cols[3].metric("validation", f"{n_valid:,}")
    split = datasets.metadata(info).get("split") or "a random 20% becomes validation when training"
    st.markdown(sections("data")["split"].format(split=md(split)))
    st.markdown("**Legend**")
    st.caption(text["legend"])
    legend(items.codes)

    st.markdown("**Share of pixels per class**")
    st.caption(text["shares"])
    with st.spinner("Reading every mask…"):
        shares = _shares(str(items.root), stamp(items), items)
    hexes = [h for _, h in colours.legend(items.codes)]
    st.plotly_chart(figs.pixel_shares_figure(shares.table, hexes), key="pixel_shares")
    top = shares.table.sort_values("share", ascending=False).iloc[0]
    st.markdown(
        f"**{md(top['code'])}** covers {top['share']:.1%} of the pixels: a model that paints every "
        f"pixel {md(top['code'])} already scores {top['share']:.1%} pixel accuracy."
    )
    if shares.unknown:
        st.warning(f"{shares.unknown:,} pixel(s) hold a value codes.txt does not name.")
    samples(items, text)


def samples(items: SegItems, text: dict[str, str]) -> None:
    """A grid of images with their masks overlaid, captioned by the classes each holds."""
    st.markdown("**Images and their masks**")
    st.caption(text["samples"])
    left, right = st.columns([3, 1])
    alpha = left.slider("Mask opacity", 0.0, 1.0, 0.5, step=0.1, key=W_OPACITY, help=text["opacity"])
    if right.button("New draws", key="seg_redraw", icon=":material/casino:", help=text["redraw"]):
        st.session_state[W_DRAW] = st.session_state.get(W_DRAW, 0) + 1
    rng = random.Random(st.session_state.get(W_DRAW, 0))
    picked = sorted(rng.sample(items.files, min(SAMPLES, len(items.files))))
    pictures, captions = [], []
    for file in picked:
        image, mask = summaries.image_and_mask(items, file, SAMPLE_PX)
        pictures.append(framed(colours.overlay(image, mask, alpha)))
        present = [summaries.code_name(items.codes, int(v)) for v in np.unique(mask) if v > 0]
        captions.append(", ".join(md(c) for c in present) or "background only")
    st.image(pictures, caption=captions, width=SAMPLE_PX + 6)


def mask_view(info: datasets.DatasetInfo, items: SegItems) -> None:
    """One image, its mask in colour and over the image, the numbers the mask file stores, and
    np.unique of the masks: what a mask is, on this dataset's own data."""
    text = sections("data_seg")
    st.caption(text["what"])
    file = st.selectbox("Image", items.files, key=W_PICK, help=text["pick"])
    image, mask = summaries.image_and_mask(items, file)
    mask_file = items.masks[items.files.index(file)]
    painted = colours.colour_mask(mask, len(items.codes))
    top, left = summaries.busiest_window(mask, WINDOW)
    k = min(WINDOW, *mask.shape)
    overlaid = colours.overlay(image, mask)
    st.image(
        [_shown(p, top, left, k) for p in (image, painted, overlaid)],
        caption=[md(file), f"{md(mask_file)}, in colour", "the mask over the image"],
        width=SHOWN_PX,
    )
    legend(items.codes)

    st.markdown(f"**The numbers in {md(mask_file)}**: a {mask.shape[1]}×{mask.shape[0]} grid, one per pixel.")
    st.caption(text["raw"])
    picture, numbers = st.columns([1, 2])
    picture.image(_shown(overlaid, top, left, k), caption="outlined: the square printed")
    window = summaries.window_table(mask, top, left, k)
    numbers.dataframe(
        _coloured(window, items.codes),
        key="mask_values",
        column_config={c: st.column_config.NumberColumn(width=28) for c in window.columns},
    )
    values = np.unique(mask)
    st.code(
        f"np.unique(mask)  # → {np.array2string(values, separator=', ')}\n"
        + "\n".join(f"{int(v):>3} = {summaries.code_name(items.codes, int(v))}" for v in values),
        language="python",
    )
    st.markdown("**The values each mask holds**")
    st.caption(text["unique"])
    start = items.files.index(file)
    shown = (items.files[start:] + items.files[:start])[:UNIQUE_ROWS]
    st.dataframe(summaries.unique_values(items, shown), hide_index=True, key="mask_unique")


def _shown(picture: np.ndarray, top: int, left: int, k: int) -> np.ndarray:
    """A picture enlarged (or shrunk) to about MASK_PX, with the k×k window at (top, left) outlined."""
    from PIL import Image

    h, w = picture.shape[:2]
    scale = MASK_PX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    big = np.asarray(Image.fromarray(picture).resize(size, Image.Resampling.NEAREST)).copy()
    y0, x0 = round(top * scale), round(left * scale)
    y1, x1 = min(size[1], round((top + k) * scale)) - 1, min(size[0], round((left + k) * scale)) - 1
    for pad, colour in ((1, (0, 0, 0)), (0, (255, 255, 255))):  # white inside black: seen on any image
        ya, xa = max(0, y0 - pad), max(0, x0 - pad)
        yb, xb = min(size[1] - 1, y1 + pad), min(size[0] - 1, x1 + pad)
        rows, cols = slice(ya, yb + 1), slice(xa, xb + 1)
        for y, x in ((rows, xa), (rows, xb), (ya, cols), (yb, cols)):
            big[y, x] = colour
    return framed(big)


def _coloured(table: pd.DataFrame, codes: list[str]):
    """The table of mask values, each cell in its class's legend colour (white text on dark)."""
    hexes = [h for _, h in colours.legend(codes)]

    def style(value: int) -> str:
        if not 0 <= value < len(hexes):
            return "background-color: #ffffff; color: #d62728"
        return f"background-color: {hexes[value]}; color: #ffffff"

    return table.style.map(style)


def augment_rows(items: SegItems, files: list[str], size: int, spec, n_draws: int, seed: int) -> None:
    """The Augmentation view for masks: each image and its draws, the mask moved with the image."""
    st.caption(sections("data_seg")["augment"])
    for file, row in zip(files, summaries.augmented_pairs(items, files, size, spec, n_draws, seed)):
        shown = [framed(colours.overlay(img, mask)) for img, mask in row]
        caps = [f"{md(file)}: original"] + [f"draw {k}" for k in range(1, len(row))]
        st.image([_enlarged(p) for p in shown], width=SAMPLE_PX + 6, caption=caps)


def _enlarged(picture: np.ndarray) -> np.ndarray:
    k = max(1, SAMPLE_PX // max(picture.shape[:2]))
    return np.repeat(np.repeat(picture, k, axis=0), k, axis=1)
