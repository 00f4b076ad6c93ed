"""The Results page for a segmentation run: per-class IoU and Dice, the pixel confusion matrix, the
worst images as image | truth | prediction | difference, and moving an image with its mask to the
trash (core.analysis.segmentation does the sums; core.analysis.masks gives the colours).

Masks are not edited here: a wrong mask is deleted (image and mask together, one journalled
change that "Undo the last change" reverses) and the model retrained.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.analysis import masks, segmentation
from core.errors import UserError
from dashboard import cleaner, results_view
from dashboard.markup import html_text, md
from dashboard.views import results_retrain

TEXT = results_view.TEXT
SPLIT = "results_seg_split"  # the pixel confusion matrix's split
BY = "results_seg_by"  # rank the worst images by loss or IoU
WORST_SPLIT = "results_seg_worst_split"
PAGES = "results_seg_pages"  # the worst images' pager
SHOWN = 160  # pixels a side each picture is shown at (masks enlarged without blurring)
PANELS = ("image", "truth", "prediction", "difference")


def summary_metrics(interp) -> None:
    """Mean IoU, pixel accuracy and Dice over the validation pixels, and the image counts."""
    values = segmentation.split_scores(interp, "valid")
    counts = interp.frame["split"].value_counts()
    c1, c2, c3, c4, c5 = st.columns(5)

    def pct(name: str) -> str:
        v = values.get(name)
        return "—" if v is None or np.isnan(v) else f"{v:.2%}"

    c1.metric("Validation mean IoU", pct("mean_iou"), help=TEXT["mean_iou"])
    c2.metric("Validation pixel accuracy", pct("pixel_accuracy"), help=TEXT["pixel_accuracy"])
    c3.metric("Validation Dice", pct("dice"), help=TEXT["dice"])
    c4.metric("Validation images", int(counts.get("valid", 0)))
    c5.metric("Training images", int(counts.get("train", 0)))


def scores(interp) -> results_retrain.Scores:
    """Mean IoU and per-class IoU on the validation images, for the retrain comparison."""
    value = segmentation.split_scores(interp, "valid")["mean_iou"]
    table = segmentation.per_class(interp, "valid").rename(columns={"code": "class"}).fillna(0.0)
    return results_retrain.Scores("Validation mean IoU", 0.0 if np.isnan(value) else value, table, "iou")


def legend_html(codes: list[str]) -> str:
    """The codes with their overlay colours, as HTML (names escaped)."""
    swatches = [
        f'<span style="color:{colour}">&#9632;</span> {html_text(code)}'
        for code, colour in masks.legend(codes)
    ]
    return " &nbsp; ".join(swatches)


def scores_section(interp) -> None:
    """Per-class IoU, Dice and pixel count on the validation images, and the colour legend."""
    st.markdown(legend_html(interp.codes), unsafe_allow_html=True)
    st.dataframe(
        segmentation.per_class(interp, "valid"),
        hide_index=True,
        column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("iou", "dice")},
    )


def confusion_figure(cm: np.ndarray, codes: list[str]) -> go.Figure:
    """The pixel confusion matrix as a heatmap, each row divided by its total (true pixels of a class)."""
    counts = np.asarray(cm, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    labels = [html_text(c) for c in codes]
    text = [[f"{shares[i, j]:.0%}" for j in range(len(codes))] for i in range(len(codes))]
    fig = go.Figure()
    fig.add_heatmap(
        z=shares.tolist(),
        x=labels,
        y=labels,
        text=text,
        texttemplate="%{text}",
        customdata=counts.astype(np.int64).tolist(),
        hovertemplate="truth %{y}, predicted %{x}: %{customdata} pixels (%{text})<extra></extra>",
        colorscale="Blues",
        zmin=0,
        zmax=1,
        showscale=False,
    )
    return fig.update_layout(
        xaxis=dict(title="predicted", type="category"),
        yaxis=dict(title="truth", type="category", autorange="reversed"),
        height=max(320, min(640, 60 + 40 * len(codes))),
        margin=dict(l=10, r=10, t=30, b=10),
    )


def confusion_section(interp) -> None:
    """The split to count, and the heatmap of its pixels."""
    split = st.radio(
        "Pixels of",
        list(results_view.SPLIT_NAMES),
        format_func=results_view.SPLIT_NAMES.get,
        horizontal=True,
        key=SPLIT,
        help=TEXT["cm_split"],
    )
    st.plotly_chart(confusion_figure(interp.confusion[split], interp.codes), key="results_pixel_confusion")


def _png(picture: np.ndarray) -> bytes:
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(picture.astype(np.uint8)))
    scale = SHOWN / max(img.size)
    if scale > 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.NEAREST)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def panels(image: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> list[np.ndarray]:
    """image | truth overlaid | prediction overlaid | the pixels that differ (red on the dimmed image)."""
    wrong = segmentation.difference(truth, pred)
    diff = (np.asarray(image, dtype=np.float32)[..., :3] * 0.35).astype(np.uint8)
    diff[wrong] = (230, 40, 40)
    return [image, masks.overlay(image, truth, alpha=0.6), masks.overlay(image, pred, alpha=0.6), diff]


@st.cache_data(show_spinner=False, max_entries=256)
def _pictures(run_id: int, where: str, file: str, fingerprint: str) -> list[bytes]:
    loaded = results_view.loaded_run(run_id)
    image, truth, pred = segmentation.predicted_mask(loaded, file)
    return [_png(p) for p in panels(image, truth, pred)]


def _trash(dataset: str, files: list[str]) -> None:
    from core.data import access

    try:
        access.move_to_trash(dataset, files)
    except UserError as e:
        cleaner.notice("error", str(e))
    else:
        cleaner.notice("success", TEXT["seg_trashed"].format(files=" and ".join(files)))


def worst_section(interp, dataset: str) -> None:
    """The worst images by loss or IoU, each as four pictures with its scores and a trash button."""
    by_col, split_col = st.columns(2)
    by = by_col.radio(
        "Worst by",
        ["loss", "iou"],
        horizontal=True,
        key=BY,
        format_func={"loss": "largest loss", "iou": "lowest IoU"}.get,
        help=TEXT["worst_by"],
    )
    split = split_col.selectbox(
        "Split",
        [None, "train", "valid"],
        key=WORST_SPLIT,
        format_func=lambda v: "both" if v is None else results_view.SPLIT_NAMES[v],
        help="Training images, validation images, or both.",
    )
    rows = segmentation.worst(interp, by=by, split=split, k=None)
    st.caption(TEXT["worst"].format(n=len(rows)))
    mask_of = dict(zip(interp.files, interp.masks))
    for row in cleaner.paged(rows, PAGES).itertuples(index=False):
        cols = st.columns([*[1] * len(PANELS), 1], vertical_alignment="center")
        try:
            where = results_view.run_stamp(interp.run_id)
            pictures = _pictures(interp.run_id, where, row.file, interp.fingerprint)
        except (UserError, OSError) as e:
            cols[0].caption(f"{md(row.file)}: {md(e)}")
            continue
        for col, picture, name in zip(cols, pictures, PANELS):
            col.image(picture, caption=name, width=SHOWN)
        iou = "—" if np.isnan(row.iou) else f"{row.iou:.0%}"
        with cols[-1]:
            st.markdown(
                f"**{md(row.file)}**  \nloss {row.loss:.2f} · IoU {iou} · "
                f"pixels right {row.pixel_accuracy:.0%} · {row.split}"
            )
            files = [row.file, mask_of[row.file]]
            st.button(
                "Move to the trash",
                key=f"seg_trash_{hashlib.sha1(row.file.encode()).hexdigest()[:12]}",
                icon=":material/delete:",
                on_click=_trash,
                args=(dataset, files),
                help=f"Move {files[0]} and its mask {files[1]} to the workspace trash, as one change "
                "you can undo below.",
            )


def trash_section(dataset: str) -> None:
    """What the last move did, and the history with undo (cleaner.history_section)."""
    cleaner.show_notice()
    cleaner.history_section(dataset)
