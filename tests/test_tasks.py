"""The task contract: every registered task goes read → train one epoch → interpret → bundle → predict.

A new task proves itself the same way: add a tiny dataset for it to CONTRACT and it runs here.
"""

from __future__ import annotations

import os

import pytest

from core import runs, tasks
from core.config import TrainConfig
from core.data import datasets
from core.jobs.store import DONE, Store

# One tiny, quick configuration per task (a built-in dataset it reads).
CONTRACT = {
    "single_label": TrainConfig(task="single_label", dataset="digits", epochs=1, size=8),
    "multi_label": TrainConfig(
        task="multi_label", dataset="shapes_multi", arch="simple_cnn", epochs=1, size=16
    ),
    "segmentation": TrainConfig(
        task="segmentation", dataset="shapes_seg", arch="tiny_unet", epochs=1, size=16
    ),
    "tabular_classification": TrainConfig(
        task="tabular_classification", dataset="breast_cancer", arch="tabular_mlp", epochs=1
    ),
    "tabular_regression": TrainConfig(
        task="tabular_regression", dataset="diabetes", arch="tabular_mlp", epochs=1, bs=32
    ),
    "collaborative": TrainConfig(
        task="collaborative", dataset="ratings_synth", arch="dot_bias", epochs=1, bs=256
    ),
}


def main_figure(name: str, interp) -> float:
    """The task's main metric on the validation items, as its interpretation computes it."""
    if name.startswith("tabular_"):
        from core.analysis import tabular

        return tabular.scores(interp, "valid")[tasks.get(name).main_metric]
    if name == "collaborative":
        return interp.rmse
    if name == "multi_label":
        from core.analysis.multilabel import scores

        return scores(*interp.part("valid"), interp.threshold)["f1_macro"]
    if name == "segmentation":
        from core.analysis.segmentation import split_scores

        return split_scores(interp, "valid")["mean_iou"]
    return float(interp.frame[interp.frame.split == "valid"].correct.mean())


def agrees(name: str, prediction, row, interp) -> bool:
    """True when a bundle's prediction for an image is what the run's interpretation said of it."""
    if name == "multi_label":
        probs = interp.probs[interp.files.index(row.file)]
        same = set(prediction.labels(interp.threshold)) == set(row.predicted.split())
        return same and bool(abs(prediction.probs - probs).max() < 1e-5)
    if name == "segmentation":  # the predicted mask scores against the truth as interpretation said
        from core.data import seg_loaders

        path = datasets.resolve(interp.dataset).path / interp.masks[interp.files.index(row.file)]
        truth = seg_loaders.resize_mask(
            seg_loaders.mask_values(path, len(interp.codes)), len(prediction.mask)
        )
        return float((prediction.mask == truth).mean()) == pytest.approx(row.pixel_accuracy, abs=1e-6)
    label, probability = prediction.top(1)[0]
    return label == row.predicted and probability == pytest.approx(row.probability, abs=1e-5)


def predicts_like_interpretation(name: str, model, valid, interp) -> bool:
    """True when an imported table or ratings bundle predicts validation rows as the run's
    interpretation did (the same values, to float precision)."""
    import numpy as np

    rows = valid.head(20)
    if name == "collaborative":
        from core.serving import predict_collab

        got = predict_collab.predict_pairs(model, rows[["user", "item"]])
        return bool(
            np.allclose(got["predicted"].to_numpy(float), rows["predicted"].to_numpy(float), atol=1e-5)
        )
    from core.serving import predict_table

    inputs = [
        c
        for c in rows.columns
        if c not in ("split", "target", "predicted", "loss", "probability", "residual")
    ]
    got = predict_table.predict_rows(model, rows[inputs])
    if name == "tabular_classification":
        return list(got["predicted"]) == list(rows["predicted"]) and bool(
            np.allclose(got["probability"].to_numpy(float), rows["probability"].to_numpy(float), atol=1e-5)
        )
    return bool(np.allclose(got["predicted"].to_numpy(float), rows["predicted"].to_numpy(float), atol=1e-4))


def test_every_registered_task_has_a_contract_case():
    assert set(CONTRACT) == set(tasks.names())


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_a_task_reads_trains_interprets_bundles_and_predicts(name, fresh_workspace, one_thread):
    from core.serving import export, library, predict, upload
    from core.train.training import train

    task, cfg = tasks.get(name), CONTRACT[name]
    info = datasets.resolve(cfg.dataset)
    assert task.recognises(info.path)

    store = Store()
    job_id = store.submit("train", {"config": cfg.to_dict()})
    store.claim_next(pid=os.getpid())
    result = train(cfg, store, job_id)
    store.finish(job_id, DONE, result=result)
    assert result["task"] == name and result["main_metric"] == task.main_metric
    assert result[task.main_metric] is not None and result["epochs_done"] == 1

    record = runs.read_record(job_id)  # run.json says which task and which data version
    assert record.task == name and record.format == runs.RUN_FORMAT
    assert record.data_fingerprint == result["data_fingerprint"] and len(record.data_fingerprint) == 16

    loaded = runs.load(job_id)
    interp = task.interpret(loaded)
    valid = interp.frame[interp.frame.split == "valid"]
    assert len(valid) == result["n_valid"]
    assert main_figure(name, interp) == pytest.approx(result[task.main_metric], abs=1e-6)

    saved = export.save_run(store.get(job_id), "contract")
    config = library.read_config(saved.name)
    assert config["task"] == name
    assert {k: config[k] for k in task.bundle_fields(record)} == task.bundle_fields(record)

    zipped = library.zip_bytes(saved.name)
    library.delete(saved.name)
    again = upload.import_bundle(zipped, "contract.zip")
    model = predict.load(again.name)
    if task.inputs != "images":
        assert predicts_like_interpretation(name, model, valid, interp)
        store.close()
        return
    row = valid.sort_values("file").iloc[0]
    image = info.path / row.file
    prepared = predict.prepare(image.read_bytes(), image.name, again.size, again.channels)
    [prediction] = predict.predict(model, [prepared])
    assert agrees(name, prediction, row, interp)
    store.close()


def test_a_new_dataset_version_changes_the_fingerprint_a_run_records(fresh_workspace):
    info = datasets.resolve("coloured_shapes")
    items = datasets.read_image_folder(info.path)
    before = runs.data_fingerprint(items.root, items.files, items.is_valid)
    first = items.root / items.files[0]
    first.write_bytes(first.read_bytes() + b"\0")
    assert runs.data_fingerprint(items.root, items.files, items.is_valid) != before


def test_label_smoothing_set_in_the_config_is_the_loss_training_uses(one_thread):
    import torch
    import torch.nn.functional as F

    from core.train.training import build_learner

    cfg = TrainConfig(dataset="digits", size=8, options={"label_smoothing": 0.1})
    bundle = tasks.get(cfg.task).loaders(cfg, device="cpu")
    learn, _ = build_learner(cfg, bundle)
    x, y = bundle.dls.valid.one_batch()
    with torch.no_grad():
        logits = learn.model(x) * 20  # confident outputs, where smoothing makes a difference
        got = float(learn.loss_func(logits, y))
        assert got == pytest.approx(float(F.cross_entropy(logits, y, label_smoothing=0.1)), rel=1e-6)
        assert got != pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-3)
