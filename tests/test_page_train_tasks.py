"""AppTest: the Train page picks the task from the dataset and shows only the controls that apply
(U-Nets for shapes_seg, the threshold for shapes_multi, label smoothing for single labels), and
the live monitor shows each task's metrics by their names."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import tasks
from core.config import TrainConfig
from core.jobs.store import DONE, Store
from core.train.archs import ARCHS
from dashboard import state
from dashboard.train_form import FORM_TASK, LABEL_SMOOTHING, THRESHOLD
from tests.apptest import open_page

PAGE = "../pages/train.py"


def open_train(dataset: str) -> AppTest:
    return open_page(PAGE, **{state.DATASET: dataset})


def start(at: AppTest) -> dict:
    """Press Start training; the queued job's config."""
    next(b for b in at.button if "Start training" in b.label).click().run()
    assert not at.exception, at.exception
    return Store().get(at.session_state[state.RUN]).params["config"]


def titles(archs) -> list[str]:
    """The architectures as the selector shows them."""
    return [ARCHS[a].title for a in archs]


def sliders(at: AppTest) -> set[str]:
    return {s.label for s in at.slider}


def task_line(at: AppTest) -> str:
    """The task the page names, and its sentence."""
    title = next(m.value for m in at.markdown if m.value.startswith("**Task:**"))
    return title + " " + next(c.value for c in at.caption if "dataset decides the task" in c.value)


def test_segmentation_offers_only_unets_and_no_label_settings(fresh_workspace, no_worker):
    at = open_train("shapes_seg")
    assert [e.value for e in at.error] == []
    seg = tasks.get("segmentation")
    assert "a label for every pixel" in task_line(at).lower()
    arch = at.selectbox(key=state.ARCH)
    assert arch.options == titles(seg.archs) and arch.value == seg.default_arch == "tiny_unet"
    assert "Label smoothing" not in sliders(at) and "Threshold" not in sliders(at)
    fresh = tasks.default_config("segmentation")
    assert at.number_input(key=state.EPOCHS).value == fresh.epochs
    assert at.number_input(key=state.BS).value == fresh.bs
    assert at.session_state[state.LR] == pytest.approx(fresh.lr)
    for widget in [*at.number_input, *at.selectbox, *at.toggle, *at.radio, *at.select_slider, *at.slider]:
        assert widget.help and len(widget.help) > 20, widget.label
    config = start(at)
    assert config["task"] == "segmentation" and config["arch"] == "tiny_unet"
    assert config["dataset"] == "shapes_seg" and config["options"] == {}


def test_multi_label_shows_the_threshold_and_what_it_changes(fresh_workspace, no_worker):
    at = open_train("shapes_multi")
    assert [e.value for e in at.error] == []
    multi = tasks.get("multi_label")
    assert "any number of labels" in task_line(at).lower()
    assert at.selectbox(key=state.ARCH).options == titles(multi.archs)
    assert at.selectbox(key=state.ARCH).value == multi.default_arch
    assert "Label smoothing" not in sliders(at)
    threshold = at.slider(key=THRESHOLD)
    assert threshold.value == pytest.approx(0.5) and "probability" in threshold.help
    threshold.set_value(0.3).run()
    effect = next(c.value for c in at.caption if "called present" in c.value)
    assert "0.30" in effect and "F1" in effect and "Predict" in effect
    config = start(at)
    assert config["task"] == "multi_label" and config["dataset"] == "shapes_multi"
    assert config["options"] == {"threshold": pytest.approx(0.3)}
    assert config["arch"] == multi.default_arch


def test_single_label_keeps_label_smoothing_and_its_archs(fresh_workspace, no_worker):
    at = open_train("digits")
    assert "one label per image" in task_line(at).lower()
    assert at.selectbox(key=state.ARCH).options == titles(tasks.get("single_label").archs)
    assert "Threshold" not in sliders(at)
    at.slider(key=LABEL_SMOOTHING).set_value(0.1).run()
    config = start(at)
    assert config["task"] == "single_label" and config["options"] == {"label_smoothing": pytest.approx(0.1)}


def test_a_dataset_of_another_task_starts_from_that_tasks_defaults(fresh_workspace, no_worker):
    at = open_train("digits")
    at.number_input(key=state.EPOCHS).set_value(7).run()
    at.selectbox(key=state.DATASET).select("coloured_shapes").run()  # the same task: kept
    assert at.number_input(key=state.EPOCHS).value == 7
    at.selectbox(key=state.DATASET).select("shapes_seg").run()  # another task: its defaults
    assert not at.exception, at.exception
    seg = tasks.default_config("segmentation")
    assert at.number_input(key=state.EPOCHS).value == seg.epochs
    assert at.selectbox(key=state.ARCH).value == "tiny_unet"
    at.selectbox(key=state.DATASET).select("digits").run()
    assert at.number_input(key=state.EPOCHS).value == TrainConfig().epochs
    assert at.selectbox(key=state.ARCH).value == "mnist_cnn"
    assert at.session_state[FORM_TASK] == "single_label"


def test_an_arch_chosen_for_another_task_falls_back_to_the_tasks_default(fresh_workspace, no_worker):
    at = open_page(PAGE, **{state.DATASET: "shapes_seg", state.ARCH: "resnet34", FORM_TASK: "segmentation"})
    assert at.selectbox(key=state.ARCH).value == "tiny_unet"
    assert [e.value for e in at.error] == []


def _finished_run(task: str, dataset: str, arch: str, metrics: dict[str, list[float]]) -> int:
    store = Store()
    cfg = tasks.default_config(task, dataset=dataset, arch=arch, epochs=2)
    job_id = store.submit("train", {"config": cfg.to_dict()})
    store.claim_next(pid=1)
    store.add_batches(job_id, [(s, 1.0 / s, 1e-3, 0.9) for s in range(1, 11)])
    for e in range(2):
        store.add_epoch(job_id, e, 0.5, 0.4, {k: v[e] for k, v in metrics.items()}, 1.0, (e + 1) * 5, "train")
    result = {k: v[-1] for k, v in metrics.items()}
    store.finish(job_id, DONE, result={"run_id": job_id, "valid_loss": 0.4, "seconds": 2.0, **result})
    return job_id


def test_the_monitor_shows_multi_label_metrics_by_their_names(fresh_workspace):
    run = _finished_run(
        "multi_label", "shapes_multi", "simple_cnn", {"accuracy_multi": [0.9, 0.96], "f1_macro": [0.7, 0.91]}
    )
    at = open_page(PAGE, **{state.DATASET: "shapes_multi", state.RUN: run})
    table = at.table[-1].value
    assert {"accuracy_multi", "f1_macro"} <= set(table.columns)
    assert table["f1_macro"].iloc[-1] == pytest.approx(0.91)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["f1_macro"] == "91.00%"
    assert any("accuracy_multi 96.00%" in c.value for c in at.caption)
    assert any("Multi-label image classification: simple_cnn on shapes_multi" in c.value for c in at.caption)


def test_the_monitor_shows_segmentation_metrics_by_their_names(fresh_workspace):
    scores = {"pixel_accuracy": [0.8, 0.95], "dice": [0.5, 0.88], "mean_iou": [0.4, 0.86]}
    run = _finished_run("segmentation", "shapes_seg", "tiny_unet", scores)
    at = open_page(PAGE, **{state.DATASET: "shapes_seg", state.RUN: run})
    assert {"pixel_accuracy", "dice", "mean_iou"} <= set(at.table[-1].value.columns)
    assert {m.label: m.value for m in at.metric}["mean_iou"] == "86.00%"
    also = next(c.value for c in at.caption if c.value.startswith("Also after the last epoch"))
    assert "pixel_accuracy 95.00%" in also and "dice 88.00%" in also


MODEL = "../pages/model.py"


def test_the_model_page_shows_a_unet_for_segmentation(fresh_workspace):
    at = open_page(MODEL, timeout=90, **{state.DATASET: "shapes_seg", state.ARCH: "resnet18"})
    assert at.selectbox(key=state.ARCH).value == "tiny_unet"  # resnet18 is not a segmentation model
    assert at.selectbox(key=state.ARCH).options == titles(tasks.get("segmentation").archs)
    table = at.dataframe[0].value
    assert table.iloc[-1]["output shape"] == "4×48×48"  # a score per class for every pixel
    assert any("U-Net" in i.value and "every pixel" in i.value for i in at.info)
    at.selectbox(key=state.ARCH).select("unet_resnet18").run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value.iloc[-1]["output shape"] == "4×48×48"
    assert "- **PixelShuffle** " in "\n".join(m.value for m in at.markdown)


def test_the_model_page_says_multi_label_outputs_are_sigmoids(fresh_workspace):
    at = open_page(MODEL, timeout=90, **{state.DATASET: "shapes_multi"})
    assert at.selectbox(key=state.ARCH).value == tasks.get("multi_label").default_arch
    assert at.dataframe[0].value.iloc[-1]["output shape"] == "4"  # one score per label
    assert any("sigmoid" in i.value for i in at.info)


def test_other_pages_read_the_forms_config_for_the_datasets_task(fresh_workspace):
    """current_config: what the LR finder and the Sweep page start from (the form's run)."""

    def script():
        import streamlit as st

        from dashboard import state
        from dashboard.train_form import current_config

        state.init()
        st.session_state[state.DATASET] = st.session_state.get("pick", "digits")
        st.session_state["config"] = current_config().to_dict()

    at = AppTest.from_function(script).run()
    assert at.session_state["config"]["task"] == "single_label"
    assert at.session_state["config"] == TrainConfig().to_dict()
    at.session_state["pick"] = "shapes_multi"
    at.run()
    config = at.session_state["config"]
    fresh = tasks.default_config("multi_label", dataset="shapes_multi").to_dict()
    assert config == fresh and config["options"] == {"threshold": 0.5}
    at.session_state[THRESHOLD] = 0.2
    at.session_state[state.EPOCHS] = 3
    at.run()
    assert at.session_state["config"]["options"] == {"threshold": 0.2}
    assert at.session_state["config"]["epochs"] == 3


def test_use_these_settings_of_a_multi_label_run_fill_the_form_with_its_threshold(fresh_workspace):
    def script():
        import streamlit as st

        from dashboard import state
        from dashboard.train_form import fill_from_config, train_form

        state.init()
        if "filled" not in st.session_state:  # as a sweep's "Use these settings" does, once
            st.session_state["filled"] = True
            stored = {"task": "multi_label", "dataset": "shapes_multi", "arch": "mnist_cnn", "epochs": 3}
            fill_from_config({**stored, "options": {"threshold": 0.35}}, "from a test")
        st.session_state["config"] = train_form(["digits", "shapes_multi"], lambda name: 900).config.to_dict()

    at = AppTest.from_function(script).run()
    assert not at.exception, at.exception
    config = at.session_state["config"]
    assert (config["task"], config["dataset"], config["arch"], config["epochs"]) == (
        "multi_label",
        "shapes_multi",
        "mnist_cnn",
        3,
    )
    assert config["options"] == {"threshold": 0.35}
    assert config["lr"] == tasks.default_config("multi_label").lr  # not stored: the task's default
    assert at.slider(key=THRESHOLD).value == pytest.approx(0.35)
