"""AppTest: the Results page for table runs (scores beside the tree baseline, confusion matrix or
residuals, top-loss rows, permutation importance, embeddings) and a ratings run (RMSE against the
baselines, the item map, items by bias, nearest items), and no image section for either."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import tasks
from core.jobs.store import DONE, Job, Store
from dashboard import state
from dashboard.views import results_collab, results_retrain, results_table
from tests.apptest import chart_spec, open_page, values

PAGE = "../pages/results.py"
CLASSES, VALUES, RATINGS = "tclass", "treg", "ratings_synth"
IMAGE_SECTIONS = {"Likely label errors", "Apply the changes", "History", "Worst images", "Threshold"}


def table_csv(kind: str, n: int = 240, seed: int = 0) -> bytes:
    """A small table: two categorical columns (one with a formula-looking value), two numbers, and a
    target that depends on both kinds (classes "<=50K"/">50K", or a value)."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue", "=SUM(A1)"], n)
    size = rng.choice(["S", "M", "L"], n)
    x = rng.normal(size=n).round(3)
    z = rng.uniform(0, 10, n).round(2)
    if kind == "class":
        y = np.where((colour == "red") ^ (x > 0), ">50K", "<=50K")
    else:
        y = (3 * x + 2 * (colour == "red") + rng.normal(0, 0.3, n)).round(3)
    frame = pd.DataFrame({"colour": colour, "size": size, "x": x, "z": z, "y": y})
    return frame.to_csv(index=False).encode()


@dataclass
class Trained:
    """A workspace with three finished runs (1: classes, 2: values, 3: ratings) and their bundles."""

    root: Path
    jobs: dict[str, Job]  # by dataset
    bundles: dict[str, str]  # dataset: the model's name in the library


_TRAINED: list[Trained] = []


def trained_tables(tmp_path_factory) -> Trained:
    """Train the three tiny runs once per session (two epochs each, a few seconds in all)."""
    if _TRAINED:
        return _TRAINED[0]
    import torch

    from core import tasks, workspace
    from core.data.ingest.table import add_table
    from core.data.tables import Split, TableRoles
    from core.serving import export
    from core.train.training import train

    root = tmp_path_factory.mktemp("trained_tables")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(workspace.ENV_VAR, str(root))
            roles = TableRoles("y", ("colour", "size"), ("x", "z"))
            add_table(table_csv("class"), CLASSES, roles=roles, split=Split())
            add_table(table_csv("value"), VALUES, roles=roles, split=Split())
            store = Store()
            jobs, bundles = {}, {}
            for name in (CLASSES, VALUES, RATINGS):
                task = tasks.for_dataset(name)
                cfg = tasks.default_config(task.name, dataset=name, epochs=2)
                job_id = store.submit("train", {"config": cfg.to_dict()})
                store.claim_next(pid=os.getpid())
                store.finish(job_id, DONE, result=train(cfg, store, job_id))
                jobs[name] = store.get(job_id)
                bundles[name] = export.save_run(jobs[name], f"{name}_model").name
            store.close()
    finally:
        torch.set_num_threads(threads)
    _TRAINED.append(Trained(root, jobs, bundles))
    return _TRAINED[0]


def copy_workspace(trained: Trained, target: Path) -> None:
    """The trained workspace's files into a test's own workspace (its store, runs, data, models)."""
    shutil.copytree(trained.root, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.lock"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Trained:
    return trained_tables(tmp_path_factory)


@pytest.fixture
def ws(trained, fresh_workspace) -> Trained:
    copy_workspace(trained, fresh_workspace)
    return trained


def results_page(run_id: int):
    return open_page(PAGE, timeout=120, **{state.RESULTS_RUN: run_id})


def subheaders(at) -> set[str]:
    return {s.value for s in at.subheader}


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def interpretation(run_id: int):
    from core import runs, tasks

    loaded = runs.load(run_id)
    return loaded, tasks.get(loaded.record.task).interpret(loaded)


def test_classification_shows_scores_baseline_and_confusion_and_no_image_section(ws):
    from core.analysis import baseline, tabular

    job = ws.jobs[CLASSES]
    at = results_page(job.id)
    _, interp = interpretation(job.id)
    valid = tabular.scores(interp, "valid")
    assert metrics(at)["Validation accuracy"] == results_table.fmt("accuracy", valid["accuracy"])
    assert metrics(at)["Validation rows"] == str(int((interp.frame["split"] == "valid").sum()))
    heads = subheaders(at)
    assert {"Against gradient-boosted trees", "Confusion matrix", "Top losses", "Embeddings"} <= heads
    assert not heads & IMAGE_SECTIONS and "Predicted against actual" not in heads
    assert not [r for r in at.radio if r.label == "Rank by"]  # no image ranking, no cross-validation
    # the baseline: trained on demand (never in the page's run by itself), then kept with the run
    assert not baseline.path(job.id).is_file()
    assert not [d for d in at.dataframe if "gradient boosting" in d.value.columns]
    assert any("a few seconds" in c.value and "training rows" in c.value for c in at.caption)
    at.button(key=results_table.BASELINE_GO).click().run()
    assert not at.exception, at.exception
    assert baseline.path(job.id).is_file()
    kept = baseline.gbm_baseline(job.id)
    side = next(d.value for d in at.dataframe if "gradient boosting" in d.value.columns)
    assert list(side["figure"]) == ["accuracy", "F1"]
    assert side.iloc[0]["gradient boosting"] == results_table.fmt("accuracy", kept["accuracy"])
    assert side.iloc[0]["network"] == results_table.fmt("accuracy", valid["accuracy"])
    # the confusion matrix counts every validation row once, classes as the run knows them
    matrix, classes = tabular.confusion(interp)
    spec = chart_spec(at, '"heatmap"')
    heat = next(t for t in spec["data"] if t["type"] == "heatmap")
    assert heat["x"] == classes and sorted(classes) == ["<=50K", ">50K"]
    assert np.asarray(heat["z"]).sum() == matrix.sum() == int((interp.frame["split"] == "valid").sum())
    # top losses: the validation rows with the largest loss first
    top = next(d.value for d in at.dataframe if "loss" in d.value.columns and "target" in d.value.columns)
    assert len(top) == 20 and set(top["split"]) == {"valid"}
    assert list(top["loss"]) == sorted(top["loss"], reverse=True)
    # every section says what it teaches
    captions = "\n".join(c.value for c in at.caption)
    assert "most confident mistakes" in captions and "PCA" in captions


def test_a_kept_baseline_shows_at_once_and_says_when_the_data_changed(ws):
    import json

    from core.analysis import baseline

    job = ws.jobs[VALUES]
    kept = baseline.gbm_baseline(job.id)  # trained earlier (a button on another visit)
    at = results_page(job.id)
    assert not [b for b in at.button if b.key == results_table.BASELINE_GO]
    side = next(d.value for d in at.dataframe if "gradient boosting" in d.value.columns)
    assert side.iloc[0]["gradient boosting"] == results_table.fmt("rmse", kept["rmse"])
    assert not [w for w in at.warning if "data changed" in w.value]
    # kept for the data as they are now, but the run trained on another version
    baseline.path(job.id).write_text(json.dumps({**kept, "same_data": False}))
    at.run()
    assert any(f"The data changed since run {job.id} trained" in w.value for w in at.warning)


def test_the_interpretations_notes_are_shown(ws, monkeypatch):
    from dashboard import results_view
    from dashboard.markup import md

    shown = results_view.interpretation

    def noted(job):
        interp = shown(job)
        interp.notes = [f"Note for *run* {job.id}: 3 rows had no target."]
        return interp

    monkeypatch.setattr(results_view, "interpretation", noted)
    for name in (CLASSES, RATINGS):
        at = results_page(ws.jobs[name].id)
        notes = [w.value for w in at.warning if w.value.startswith("Note for")]
        assert notes == [md(f"Note for *run* {ws.jobs[name].id}: 3 rows had no target.")]  # as written


def test_a_rerun_does_not_read_the_table_again(ws, monkeypatch):
    """The data version (a hash of the whole CSV) is kept while the files' stamp stays the same."""
    from core.data import datasets, tables

    job = ws.jobs[VALUES]
    at = results_page(job.id)
    reads = []
    real = tables.read_csv

    def counted(*args, **kwargs):
        reads.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(tables, "read_csv", counted)
    at.run()
    assert not at.exception and reads == []
    table = Path(datasets.resolve(VALUES).path) / "table.csv"
    data = table.read_bytes()
    table.write_bytes(data + data.splitlines(keepends=True)[1])  # one more row: a new version
    at.run()
    assert not at.exception and reads  # read again once the file changed


def test_importance_on_a_button_and_embeddings_of_a_chosen_column(ws):
    from core.analysis import tabular

    job = ws.jobs[CLASSES]
    at = results_page(job.id)
    assert not [c for c in at.get("plotly_chart") if "shuffled" in c.proto.spec]  # not before asked
    at.button(key="results_table_importance_go").click().run()
    assert not at.exception, at.exception
    spec = chart_spec(at, "when the column is shuffled")
    assert sorted(spec["data"][0]["y"]) == ["colour", "size", "x", "z"]
    assert spec["layout"]["xaxis"]["title"]["text"] == "drop in accuracy when the column is shuffled"
    at.run()  # asked once: kept on the next run without a click
    assert [c for c in at.get("plotly_chart") if "shuffled" in c.proto.spec]
    # embeddings: one labelled point per value the model knows (#na# included), of the chosen column
    assert at.selectbox(key=results_table.EMBEDDING).options == ["colour", "size"]
    at.selectbox(key=results_table.EMBEDDING).select("colour").run()
    spec = chart_spec(at, "first principal component")
    points = spec["data"][0]
    assert sorted(points["text"]) == sorted(["#na#", "blue", "green", "red", "=SUM(A1)"])
    loaded, interp = interpretation(job.id)
    expected = tabular.embedding_pca(loaded, "colour", interp)
    assert np.allclose(values(points["x"]), expected["x"])


def test_regression_shows_predicted_against_actual_and_residuals(ws):
    from core.analysis import tabular

    job = ws.jobs[VALUES]
    at = results_page(job.id)
    _, interp = interpretation(job.id)
    heads = subheaders(at)
    assert {"Predicted against actual", "Against gradient-boosted trees", "Top losses"} <= heads
    assert "Confusion matrix" not in heads and not heads & IMAGE_SECTIONS
    rmse = tabular.scores(interp, "valid")["rmse"]
    assert metrics(at)["Validation RMSE"] == results_table.fmt("rmse", rmse)
    n_valid = int((interp.frame["split"] == "valid").sum())
    pva = chart_spec(at, "predicted = actual")
    assert len(values(pva["data"][0]["x"])) == n_valid
    assert pva["layout"]["xaxis"]["title"]["text"] == "actual y"
    res = chart_spec(at, "residual (actual")
    valid = interp.frame[interp.frame["split"] == "valid"]
    assert np.allclose(sorted(values(res["data"][0]["y"])), sorted(valid["target"] - valid["predicted"]))


def test_a_table_retrain_changes_a_setting_and_queues_it(ws, no_worker):
    job = ws.jobs[VALUES]
    at = results_page(job.id)
    epochs = at.number_input(key=f"{results_retrain.RETRAIN_EPOCHS}_{job.id}")
    assert epochs.value == job.params["config"]["epochs"]
    epochs.set_value(5).run()
    [button] = [b for b in at.button if b.label == "Retrain with these settings"]
    button.click().run()
    assert not at.exception, at.exception
    queued = Store().latest("train", retrain_of=job.id)
    assert queued.params["config"]["epochs"] == 5
    assert queued.params["config"]["dataset"] == VALUES and no_worker


def test_ratings_show_rmse_item_map_bias_and_nearest_items(ws):
    from core.analysis import collab

    job = ws.jobs[RATINGS]
    at = results_page(job.id)
    loaded, interp = interpretation(job.id)
    assert metrics(at)["Validation RMSE"] == f"{interp.rmse:.4f}"
    assert metrics(at)["Noise floor"] == f"{interp.noise_floor:.4f}"
    heads = subheaders(at)
    assert {"RMSE against the baselines", "Item map", "Items by learned bias", "Nearest items"} <= heads
    assert not heads & IMAGE_SECTIONS and "Confusion matrix" not in heads
    # the map: the 100 most-rated items, one trace per genre, labelled by title
    spec = chart_spec(at, "first principal component")
    assert sum(len(t["hovertext"]) for t in spec["data"]) == 100
    genres = {g for g in (loaded.record.state.get("genres") or {}).values()}
    assert {t["name"] for t in spec["data"]} <= genres and len(spec["data"]) > 1
    # nearest items to the chosen (most rated) item, as core.analysis.collab lists them
    item = at.selectbox(key=results_collab.NEAREST).value
    near = next(d.value for d in at.dataframe if "similarity" in d.value.columns)
    expected = collab.nearest_items(loaded, item, n=results_collab.N_NEAREST)
    assert list(near["item"]) == list(expected["item"]) and item not in list(near["item"])
    items, _ = results_collab.known_items(loaded.record.state)
    assert item == items[0]  # the most rated first
    at.selectbox(key=results_collab.NEAREST).set_value(items[5]).run()
    near = next(d.value for d in at.dataframe if "similarity" in d.value.columns)
    assert list(near["item"]) == list(collab.nearest_items(loaded, items[5], n=10)["item"])
    bias = chart_spec(at, "learned bias")
    assert len(bias["data"][0]["y"]) == 2 * results_collab.BIAS_N


# --- the Model page for the same datasets ------------------------------------------------------


def test_the_model_page_shows_a_tables_embeddings_and_layers_without_image_sizes(ws):
    at = open_page("../pages/model.py", timeout=120, **{state.DATASET: CLASSES})
    embeddings = at.dataframe[0].value
    assert list(embeddings["input"]) == ["colour", "size"]
    assert list(embeddings["values"]) == [5, 4]  # the values seen in training and #na#
    layers = at.dataframe[1].value
    assert {"Embedding", "Linear", "BatchNorm1d"} <= set(layers["kind"])
    total = int(next(m.value for m in at.metric if m.label == "Parameters").replace(",", ""))
    assert total == layers["parameters"].sum()
    text = "\n".join([*(c.value for c in at.caption), *(i.value for i in at.info)])
    assert "px" not in text and "2 categorical inputs" in text
    assert "- **Embedding** " in "\n".join(m.value for m in at.markdown)


def test_the_model_page_shows_a_ratings_models_factors(ws):
    at = open_page("../pages/model.py", timeout=120, **{state.DATASET: RATINGS})
    embeddings = at.dataframe[0].value
    assert list(embeddings["input"]) == ["user factors", "item factors", "user bias", "item bias"]
    factors = tasks.default_options("collaborative").n_factors  # the Train page's default
    assert set(embeddings["size"]) == {factors, 1}  # the factors, one bias each
    assert "300 users and 200 items" in "\n".join(i.value for i in at.info)


def test_a_finished_table_retrain_is_compared_in_the_targets_units(ws):
    import torch

    from core import tasks
    from core.config import TrainConfig
    from core.train.training import train

    old = ws.jobs[VALUES]
    store = Store()
    cfg = TrainConfig.from_dict({**old.params["config"], "epochs": 3})
    new_id = store.submit("train", {"config": cfg.to_dict(), "retrain_of": old.id})
    store.claim_next(pid=os.getpid())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        store.finish(new_id, DONE, result=train(cfg, store, new_id))
    finally:
        torch.set_num_threads(threads)
    at = results_page(old.id)
    shown = {m.label: m for m in at.metric}
    _, before = interpretation(old.id)
    _, after = interpretation(new_id)
    task = tasks.get("tabular_regression")
    assert shown[f"Validation RMSE, run {old.id}"].value == f"{results_table.scores(before).value:.4g}"
    changed = shown[f"Validation RMSE, run {new_id}"]
    assert changed.value == f"{results_table.scores(after).value:.4g}" and not task.higher_is_better
    from streamlit.proto.Metric_pb2 import Metric

    rose = changed.delta.startswith("+")  # RMSE: lower is better, so a rise is shown red, a fall green
    assert changed.proto.color == (Metric.MetricColor.RED if rose else Metric.MetricColor.GREEN)
    assert shown["Training rows"].value == str(after.frame["split"].eq("train").sum())
