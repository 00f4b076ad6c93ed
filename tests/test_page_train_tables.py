"""AppTest: the Train page for tables and ratings shows the task's own settings (layers, dropout,
the regression loss with its sentence, Huber's delta only for Huber, y_range, factors), the
embedding size of each categorical column, and none of the image-only controls; the LR finder
works for a table."""

from __future__ import annotations

import dataclasses

import pytest
from fastai.tabular.model import emb_sz_rule
from streamlit.testing.v1 import AppTest

from core import tasks
from core.data import access
from core.jobs.store import Store
from core.tasks.tabular import LOSSES
from dashboard import state
from dashboard.train_options import EMBED_P, HUBER_DELTA, LAYERS, LOSS, N_FACTORS, PS, Y_RANGE
from tests.apptest import open_page

PAGE = "../pages/train.py"
IMAGE_ONLY = {"Freeze epochs", "Augmentation", "Discriminative learning rates", "Image size", "Pretrained"}


def open_train(dataset: str) -> AppTest:
    return open_page(PAGE, **{state.DATASET: dataset})


def labels(at: AppTest) -> set[str]:
    return {
        w.label
        for w in [
            *at.number_input,
            *at.selectbox,
            *at.toggle,
            *at.radio,
            *at.slider,
            *at.text_input,
            *at.checkbox,
        ]
    }


def start(at: AppTest) -> dict:
    """Press Start training; the queued job's config."""
    next(b for b in at.button if "Start training" in b.label).click().run()
    assert not at.exception, at.exception
    return Store().get(at.session_state[state.RUN]).params["config"]


def test_a_table_shows_its_options_and_no_image_controls(fresh_workspace, no_worker):
    at = open_train("breast_cancer")
    assert [e.value for e in at.error] == []
    assert any(m.value == "**Task:** Tabular classification" for m in at.markdown)
    assert not IMAGE_ONLY & labels(at)
    assert at.text_input(key=LAYERS).value == "200,100"
    assert at.slider(key=PS).value == 0.0 and at.slider(key=EMBED_P).value == 0.0
    assert "Loss" not in labels(at)  # a class target: cross-entropy, no choice
    assert any("no embeddings" in c.value and "30 continuous" in c.value for c in at.caption)
    assert not any("layer group" in str(d.value.columns.tolist()) for d in at.dataframe)
    for widget in [*at.number_input, *at.selectbox, *at.toggle, *at.radio, *at.slider, *at.text_input]:
        assert widget.help and len(widget.help) > 20, widget.label
    assert "rows" in at.number_input(key=state.BS).help.lower()
    at.text_input(key=LAYERS).input("50,25").run()
    at.slider(key=PS).set_value(0.1).run()
    config = start(at)
    assert config["task"] == "tabular_classification" and config["arch"] == "tabular_mlp"
    assert config["options"] == {"layers": "50,25", "ps": 0.1, "embed_p": 0.0}
    assert config["freeze_epochs"] == 0 and config["augment"] is False and config["lr_low"] is None


def test_bad_layer_sizes_are_refused_before_training(fresh_workspace, no_worker):
    at = open_train("breast_cancer")
    at.text_input(key=LAYERS).input("200,lots").run()
    assert any("whole numbers separated by commas" in e.value for e in at.error)
    assert next(b for b in at.button if "Start training" in b.label).disabled


def test_regression_offers_the_losses_with_their_sentences_and_huber_delta_only_for_huber(
    fresh_workspace, no_worker
):
    at = open_train("diabetes")
    assert any(m.value == "**Task:** Tabular regression" for m in at.markdown)
    loss = at.radio(key=LOSS)
    assert loss.options == ["MSE", "MAE (L1)", "Huber"] and loss.value == "mse"
    assert list(loss.proto.captions) == list(LOSSES.values())
    assert "outlier" in LOSSES["mae"]
    assert at.toggle(key=Y_RANGE).value is True
    assert HUBER_DELTA not in [n.key for n in at.number_input]
    loss.set_value("huber").run()
    delta = at.number_input(key=HUBER_DELTA)
    assert delta.value == pytest.approx(1.0) and "standard deviations" in delta.help
    delta.set_value(0.5).run()
    at.toggle(key=Y_RANGE).set_value(False).run()
    config = start(at)
    assert config["task"] == "tabular_regression"
    assert config["options"]["loss"] == "huber" and config["options"]["huber_delta"] == 0.5
    assert config["options"]["y_range"] is False
    at.radio(key=LOSS).set_value("mae").run()
    assert HUBER_DELTA not in [n.key for n in at.number_input]


def test_each_categorical_column_shows_its_embedding_size_by_fastais_rule(fresh_workspace, no_worker):
    at = open_train("census_synth")
    table = next(d.value for d in at.dataframe if "embedding size" in d.value.columns)
    items = access.items("census_synth")
    cats = list(items.roles.cat)
    assert table["column"].tolist()[: len(cats)] == cats
    extra = table["column"].tolist()[len(cats) :]
    assert extra and all(c.endswith("_na") and c[:-3] in items.roles.cont for c in extra)
    assert table["embedding size"].tolist() == [emb_sz_rule(n) for n in table["categories"]]
    training = items.frame.loc[[not v for v in items.is_valid], "workclass"]
    assert table.set_index("column").loc["workclass", "categories"] == training.dropna().nunique() + 1  # #na#
    total = int(table["embedding size"].sum())
    assert any(f"takes {total} numbers from the embeddings plus 4" in c.value for c in at.caption)


def test_ratings_offer_factors_and_layers_only_for_the_neural_model(fresh_workspace, no_worker):
    at = open_train("ratings_synth")
    assert any(m.value == "**Task:** Collaborative filtering" for m in at.markdown)
    assert not IMAGE_ONLY & labels(at)
    assert at.number_input(key=N_FACTORS).value == tasks.default_options("collaborative").n_factors
    assert "Layers" not in labels(at)
    assert "ratings' range" in next(t.label for t in at.toggle if t.key == Y_RANGE)
    at.selectbox(key=state.ARCH).select("neural_collab").run()
    assert at.text_input(key=LAYERS).value == "100"
    at.number_input(key=N_FACTORS).set_value(20).run()
    config = start(at)
    assert config["task"] == "collaborative" and config["arch"] == "neural_collab"
    assert config["options"] == {"n_factors": 20, "layers": "100", "y_range": True}


def test_switching_from_an_image_set_to_a_table_refills_the_form(fresh_workspace, no_worker):
    at = open_train("digits")
    at.toggle(key=state.TRAIN_AUGMENT).set_value(True).run()
    at.selectbox(key=state.DATASET).select("diabetes").run()
    assert not at.exception and [e.value for e in at.error] == []
    assert "Augmentation" not in labels(at) and at.radio(key=LOSS).value == "mse"
    at.selectbox(key=state.DATASET).select("digits").run()
    assert not at.exception and "Augmentation" in labels(at) and "Loss" not in labels(at)


def test_the_lr_finder_runs_for_a_table(fresh_workspace, no_worker):
    at = open_page("../pages/lr_find.py", **{state.DATASET: "breast_cancer"})
    assert any("breast_cancer" in c.value and "Tabular MLP" in c.value for c in at.caption)
    assert not any("image" in t.value.lower() for t in [*at.caption, *at.markdown, *at.info])
    next(b for b in at.button if "Run the LR finder" in b.label).click().run()
    assert not at.exception, at.exception
    config = Store().get(at.session_state[state.LR_RUN]).params["config"]
    assert config["task"] == "tabular_classification" and config["dataset"] == "breast_cancer"
    assert config["options"]["layers"] == "200,100"


def test_the_processing_is_fitted_once_for_the_data_train_and_model_pages(fresh_workspace, monkeypatch):
    """One cached fit serves the Data page's steps, the Train page's embedding sizes and the Model
    page's network; the Model page builds its network from the state, never from loaders."""
    from core.data import ratings_loaders, table_loaders, table_procs

    fits = []
    real_fit = table_procs.fit

    def counted(*args, **kwargs):
        fits.append(1)
        return real_fit(*args, **kwargs)

    def no_loaders(*args, **kwargs):
        raise AssertionError("the Model page should not build loaders")

    monkeypatch.setattr(table_procs, "fit", counted)
    monkeypatch.setattr(table_loaders, "loaders", no_loaders)
    monkeypatch.setattr(ratings_loaders, "loaders", no_loaders)
    data = open_page("../pages/data.py", **{state.DATASET: "census_synth"})
    data.radio(key="data_section").set_value("Processing step by step").run()
    assert not data.exception and len(fits) == 1
    train = open_train("census_synth")
    assert any(d.value.columns.tolist()[-1] == "embedding size" for d in train.dataframe)
    model = open_page("../pages/model.py", **{state.DATASET: "census_synth"})
    assert not model.error and "Embedding" in set(model.dataframe[1].value["kind"])
    model.run()  # a rerun fits nothing and builds no loaders either
    assert not model.exception and len(fits) == 1
    # a new roles choice is a new version: fitted again, once
    from core.data import tables

    items = access.items("census_synth")
    fewer = dataclasses.replace(items.roles, cont=items.roles.cont[:-1])
    tables.save_roles("census_synth", fewer, items.split)
    open_train("census_synth")
    open_page("../pages/model.py", **{state.DATASET: "census_synth"})
    assert len(fits) == 2
    ratings = open_page("../pages/model.py", **{state.DATASET: "ratings_synth"})
    assert not ratings.error and "300 users and 200 items" in "\n".join(i.value for i in ratings.info)
