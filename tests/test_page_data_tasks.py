"""AppTest: the Data page for a multi-label dataset (label frequencies, co-occurrence, examples
with their label sets) and for a segmentation dataset (overlays with a legend, pixel shares,
and "what is a mask": the raw values next to the overlay, np.unique per image)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import workspace
from core.data import access, datasets, summaries
from dashboard import state
from tests.apptest import chart_spec, open_page, values

PAGE = "../pages/data.py"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """shapes_multi and shapes_seg drawn once for this module (each test's workspace links them)."""
    root = tmp_path_factory.mktemp("task_sets")
    old = os.environ[workspace.ENV_VAR]
    os.environ[workspace.ENV_VAR] = str(root)
    try:
        return {name: datasets.resolve(name).path for name in ("shapes_multi", "shapes_seg")}
    finally:
        os.environ[workspace.ENV_VAR] = old


@pytest.fixture
def ws(fresh_workspace, built) -> Path:
    for name, path in built.items():  # copied: a link out of the workspace would be refused
        shutil.copytree(path, workspace.subdir("datasets") / name)
    return fresh_workspace


def open_data(name: str) -> AppTest:
    return open_page(PAGE, **{state.DATASET: name})


def show(at: AppTest, section: str) -> AppTest:
    at.radio(key="data_section").set_value(section).run()
    assert not at.exception, at.exception
    return at


def heatmap(at: AppTest) -> dict | None:
    """The first heatmap trace on the page (None when there is none)."""
    traces = [t for c in at.get("plotly_chart") for t in json.loads(c.proto.spec)["data"]]
    return next((t for t in traces if t.get("type") == "heatmap"), None)


def helps_everywhere(at: AppTest) -> None:
    for w in [*at.selectbox, *at.radio, *at.toggle, *at.slider, *at.button, *at.number_input]:
        assert w.help and len(w.help) > 20, w.label


def test_multi_label_shows_frequencies_cooccurrence_and_label_sets(ws):
    items = access.items("shapes_multi")
    at = open_data("shapes_multi")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["images"] == f"{len(items.files):,}" and metrics["labels"] == "4"
    none = sum(1 for t in items.labels if not t)
    assert metrics["with no label"] == f"{none:,}"
    # label frequencies: one stacked bar per label, train + valid = images holding it
    bars = {t["name"]: t for t in chart_spec(at, "images holding it")["data"]}
    assert bars["train"]["x"] == items.vocab
    holding = [sum(lab in t for t in items.labels) for lab in items.vocab]
    assert [a + b for a, b in zip(values(bars["train"]["y"]), values(bars["valid"]["y"]))] == holding
    # co-occurrence: a label×label heatmap whose diagonal is each label's count
    heat = heatmap(at)
    z = np.array(heat["z"] if isinstance(heat["z"], list) else values(heat["z"]))
    z = z.reshape(len(items.vocab), len(items.vocab))
    assert np.diag(z).tolist() == holding
    circle, square = items.vocab.index("circle"), items.vocab.index("square")
    both = sum(1 for t in items.labels if "circle" in t and "square" in t)
    assert z[circle, square] == z[square, circle] == both
    # examples captioned by their label sets, filtered to one label on request
    grid = at.image[-1]
    assert len(grid.value) == 16 and all(c for c in grid.captions)
    at.selectbox(key="multi_holding").select("star").run()
    assert all("star" in c.split(" ") for c in at.image[-1].captions)
    at.selectbox(key="multi_holding").select(summaries.NO_LABEL).run()
    assert set(at.image[-1].captions) == {summaries.NO_LABEL}
    helps_everywhere(at)


def test_multi_label_pipeline_and_augmentation_pick_images_by_label(ws):
    at = show(open_data("shapes_multi"), "Augmentation")
    assert len(at.image) == 4  # four labels, each row an original and its draws
    at = show(at, "Pipeline")
    assert at.selectbox(key="pipe_class").options[:4] == ["circle", "square", "star", "triangle"]


def test_segmentation_overview_shows_legend_pixel_shares_and_overlays(ws):
    items = access.items("shapes_seg")
    at = open_data("shapes_seg")
    assert "What is a mask?" in at.radio(key="data_section").options
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["classes"] == "4" and metrics["images"] == f"{len(items.files):,}"
    legend = next(i for i in at.image if list(i.captions) == items.codes)
    assert len(legend.value) == 4
    shares = chart_spec(at, "share of pixels")["data"][0]
    assert shares["x"] == items.codes
    truth = summaries.pixel_shares(items).table["share"].tolist()
    assert values(shares["y"]) == pytest.approx(truth)
    assert sum(values(shares["y"])) == pytest.approx(1.0)
    assert any("background** covers" in m.value and "pixel accuracy" in m.value for m in at.markdown)
    overlays = at.image[-1]
    assert len(overlays.value) == 8
    assert all(set(c.split(", ")) <= set(items.codes[1:]) | {"background only"} for c in overlays.captions)
    helps_everywhere(at)


def test_what_is_a_mask_shows_the_raw_values_beside_the_overlay_and_unique_values(ws):
    items = access.items("shapes_seg")
    at = show(open_data("shapes_seg"), "What is a mask?")
    file = items.files[3]
    at.selectbox(key="seg_pick").select(file).run()
    assert not at.exception
    mask = summaries.mask_of(items, file)
    captions = at.image[0].captions
    assert captions[0] == file and "in colour" in captions[1] and "over the image" in captions[2]
    # the printed square is the file's own integers at the coordinates shown
    table = at.dataframe[0].value
    top, left = int(table.index[0]), int(table.columns[0])
    k = len(table)
    assert table.to_numpy().tolist() == mask[top : top + k, left : left + k].tolist()
    assert len(np.unique(table.to_numpy())) >= 2  # a square where classes meet, not all background
    code = at.code[0].value
    assert "np.unique(mask)" in code
    for v in np.unique(mask):
        assert f"{int(v):>3} = {items.codes[v]}" in code
    unique = at.dataframe[1].value
    assert unique["file"].iloc[0] == file and len(unique) == 12
    for row in unique.itertuples():
        found = np.unique(summaries.mask_of(items, row.file))
        assert row.values == " ".join(map(str, found))
        assert row.codes == ", ".join(items.codes[v] for v in found)
    helps_everywhere(at)


def test_segmentation_augmentation_pipeline_and_check_sections_work(ws):
    # The preview's layout only: that each mask stays on its shape is asserted on the same function
    # (core.data.augment.augment_pair) in tests/test_segmentation.py.
    at = show(open_data("shapes_seg"), "Augmentation")
    rows = [i for i in at.image if i.captions and i.captions[0].endswith(": original")]
    assert len(rows) == 4 and all(len(r.value) == 7 for r in rows)
    at = show(at, "Pipeline")  # one image from the file to the model's input, as for labels
    assert at.selectbox(key="pipe_class").options == ["every image"]
    assert len(at.dataframe[0].value) >= 4  # the numbers of each step
    at = show(at, "Check images")
    next(b for b in at.button if b.label == "Check every image").click().run()
    assert not at.exception and any("images decode" in s.value for s in at.success)


def test_switching_from_a_mask_section_to_a_multi_label_dataset_keeps_the_page_working(ws):
    at = show(open_data("shapes_seg"), "What is a mask?")
    at.selectbox(key="data_dataset").select("shapes_multi").run()
    assert not at.exception, at.exception
    assert at.radio(key="data_section").value == "Overview"
    assert heatmap(at) is not None
