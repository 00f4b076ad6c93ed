"""Bundles of table and ratings models: what config.json stores, the round trip (a bundle predicts as
the run did), the strict checks on the state, the Predict form and CSV batch, and predict.py."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import runs, workspace
from core.errors import UserError
from core.serving import export, library, predict, predict_table, upload
from core.serving.format import BundleError
from tests.conftest import subprocess_env
from tests.test_tabular_results import CLS, RATINGS, REG, interpreted, trained_table


def saved(run, monkeypatch, name: str):
    """The run exported, zipped, deleted and imported again (as Download and Upload do); loaded."""
    monkeypatch.setenv(workspace.ENV_VAR, str(run.root))
    if name not in [m.name for m in library.list_models()]:
        export.save_run(run.job, name)
    data = library.zip_bytes(name)
    return data, run


@pytest.fixture
def income(tmp_path_factory, monkeypatch):
    run = trained_table(tmp_path_factory, CLS)
    data, _ = saved(run, monkeypatch, CLS)
    return run, data


@pytest.fixture
def price(tmp_path_factory, monkeypatch):
    run = trained_table(tmp_path_factory, REG)
    data, _ = saved(run, monkeypatch, REG)
    return run, data


def imported(data: bytes, root: Path, monkeypatch):
    """The bundle zip imported into a workspace of its own (a fresh one per test), loaded."""
    monkeypatch.setenv(workspace.ENV_VAR, str(root))
    predict.forget_cache()
    info = upload.import_bundle(data, "bundle.zip")
    return info, predict.load(info.name)


def config_in(data: bytes) -> tuple[str, dict]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        name = next(n for n in zf.namelist() if n.endswith("config.json"))
        return name, json.loads(zf.read(name))


def with_config(data: bytes, config: dict) -> bytes:
    """The bundle zip with its config.json replaced (the weights' hash left as it was)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for entry in src.namelist():
            body = json.dumps(config).encode() if entry.endswith("config.json") else src.read(entry)
            dst.writestr(entry, body)
    return out.getvalue()


# --- what a bundle stores -----------------------------------------------------------------------------


def test_a_table_bundle_stores_the_runs_state_and_no_image_input(income, price, tmp_path, monkeypatch):
    for (run, data), outputs in ((income, {"classes": ["<=50K", ">50K"]}), (price, {"target": "price"})):
        _, config = config_in(data)
        monkeypatch.setenv(workspace.ENV_VAR, str(run.root))
        record = runs.read_record(run.job.id)
        assert config["state"] == record.state and "input" not in config
        assert {k: config[k] for k in outputs} == outputs
        info, _loaded = imported(data, tmp_path / run.name, monkeypatch)
        assert info.state == record.state and info.size == 0 and info.mean == []
        assert info.classes == record.vocab and info.task == record.task
    assert config["training"]["metrics"]["rmse"] == pytest.approx(price[0].job.result["rmse"])
    assert info.score == pytest.approx(price[0].job.result["rmse"])  # the main metric: RMSE


# --- the round trip: a bundle predicts as the run does --------------------------------------------------


def test_bundle_predictions_equal_the_runs_on_the_same_rows(income, price, tmp_path, monkeypatch, one_thread):
    for run, data in (income, price):
        monkeypatch.setenv(workspace.ENV_VAR, str(run.root))
        _loaded, interp = interpreted(run)
        rows = pd.read_csv(run.dataset / "table.csv", keep_default_na=False, dtype=str).replace("", np.nan)
        _info, model = imported(data, tmp_path / run.name, monkeypatch)
        got = predict_table.predict_rows(model, rows)
        assert len(got) == len(rows) == len(interp.frame)
        if interp.classes:
            assert list(got["predicted"]) == list(interp.frame["predicted"])
            for j, c in enumerate(interp.classes):
                assert np.abs(got[f"p({c})"].to_numpy() - interp.probs[:, j]).max() < 1e-5
        else:
            assert np.abs(got["predicted"].to_numpy() - interp.frame["predicted"].to_numpy()).max() < 1e-5


# --- strict checks on the state ---------------------------------------------------------------------------


def test_a_state_whose_vocabulary_disagrees_with_the_weights_is_refused(income, fresh_workspace):
    _run, data = income
    _, config = config_in(data)
    shorter = copy.deepcopy(config)
    shorter["state"]["cat"][0]["vocab"].pop()  # "colour" loses a category: codes would shift
    shorter["state"]["cat"][0]["counts"].pop()  # (its counts with it: the state holds together)
    with pytest.raises(BundleError, match="colour.*4 categories.*5 rows"):
        upload.import_bundle(with_config(data, shorter), "tampered.zip")
    both = copy.deepcopy(shorter)
    both["state"]["model"]["emb_szs"][0][0] = 4  # consistent state, but the weights have 5 rows
    with pytest.raises(BundleError, match="do not fit"):
        upload.import_bundle(with_config(data, both), "tampered.zip")
    assert library.list_models() == []  # nothing half-imported


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.update(kind="ratings"), "not that of a table model"),
        (lambda s: s.update(cat="colour"), "cat and cont"),
        (lambda s: s["cont"][0].update(std=0), "std > 0"),
        (lambda s: s["cont"][0].update(mean="NaN"), "fill, a mean"),
        (lambda s: s.update(classes=["no", "yes"]), "other classes"),
        (lambda s: s["model"].update(n_cont=5), "n_cont"),
        (lambda s: s["cat"][0].update(vocab=["blue", "#na#", "green", "grey", "red"]), "start with"),
        (lambda s: s.update(deep=[[[[[[[[["too deep"]]]]]]]]]), "deeply nested"),
        (lambda s: s.update(note="x" * 20_000), "longer than"),
        (lambda s: s["cat"][0].update(vocab=["#na#", "blue", "blue", "grey", "red"]), "no value twice"),
        (lambda s: s["cat"][0].update(counts=[0, 1, 2]), "counts of 'colour'"),
        (lambda s: s["cat"][0].update(counts=[0, 1, 2, 3, "4"]), "counts of 'colour'"),
        (lambda s: s["model"].update(layers="200"), "layers"),
        (lambda s: s["model"].update(emb_szs=[]), "must have 2 embeddings"),
    ],
)
def test_malformed_table_states_are_refused_with_a_reason(income, fresh_workspace, change, message):
    _run, data = income
    _, config = config_in(data)
    change(config["state"])
    with pytest.raises(BundleError, match=message):
        upload.import_bundle(with_config(data, config), "bad.zip")


def test_a_table_bundle_with_an_image_input_is_refused(income, fresh_workspace):
    _run, data = income
    _, config = config_in(data)
    config["input"] = {"size": 8}
    with pytest.raises(BundleError, match="unknown field.*input"):
        upload.import_bundle(with_config(data, config), "bad.zip")
    del config["input"], config["state"]
    with pytest.raises(BundleError, match="lacks state"):
        upload.import_bundle(with_config(data, config), "bad.zip")


# --- the form and the CSV batch -----------------------------------------------------------------------


def test_the_form_starts_at_the_training_medians_and_lists_the_known_categories(
    income, tmp_path, monkeypatch
):
    run, data = income
    info, _model = imported(data, tmp_path / "form", monkeypatch)
    fields = {f.name: f for f in predict_table.form_fields(info)}
    assert list(fields) == ["colour", "signal", "noise"]  # no signal_na: it is made from signal
    assert fields["colour"].kind == "cat" and fields["colour"].choices == ["blue", "green", "grey", "red"]
    assert fields["colour"].default in fields["colour"].choices
    table = pd.read_csv(run.dataset / "table.csv")
    monkeypatch.setenv(workspace.ENV_VAR, str(run.root))
    from core.analysis.tabular import table_items

    train = ~np.asarray(table_items(runs.read_record(run.job.id).config).is_valid)
    for name in ("signal", "noise"):
        assert fields[name].kind == "cont" and fields[name].choices is None
        assert fields[name].default == pytest.approx(table[name][train].median())


def test_the_form_starts_at_the_most_frequent_category_of_the_training_rows():
    from types import SimpleNamespace

    from core.data import table_procs
    from core.data.tables import TableRoles

    frame = pd.DataFrame(
        {
            "colour": ["red"] * 5 + ["blue"] * 2 + ["green", np.nan, "teal"],
            "x": np.arange(10.0),
            "y": ["a", "b"] * 5,
        }
    )
    valid = np.arange(10) == 9  # "teal" only in validation: not in the vocabulary, not counted
    state = table_procs.fit(frame, TableRoles("y", ("colour",), ("x",)), valid, ["a", "b"]).to_json()
    assert state["cat"][0]["vocab"] == ["#na#", "blue", "green", "red"]
    assert state["cat"][0]["counts"] == [1, 2, 1, 5]  # "#na#" (the missing one) first
    fields = {f.name: f for f in predict_table.form_fields(SimpleNamespace(state=state))}
    assert fields["colour"].default == "red" and fields["x"].default == 4.0
    older = copy.deepcopy(state)
    del older["cat"][0]["counts"]  # a run from before the counts were kept
    assert predict_table.form_fields(SimpleNamespace(state=older))[0].default == "blue"


def test_a_batch_keeps_a_column_named_like_an_answer(income, tmp_path, monkeypatch):
    _run, data = income
    _info, model = imported(data, tmp_path / "named", monkeypatch)
    out = predict_table.predict_csv(model, b"id,signal,noise,colour,predicted\n7,1.5,0.1,red,mine\n")
    assert list(out.columns[:6]) == ["id", "signal", "noise", "colour", "predicted (column)", "predicted"]
    assert out.loc[0, "predicted (column)"] == "mine" and out.loc[0, "predicted"] == ">50K"


def test_the_state_check_imports_no_torch(income, tmp_path):
    _run, data = income
    _, config = config_in(data)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    code = (
        "import json, sys; from core.serving import format; "
        f"format.validate_config(json.load(open({str(path)!r}))); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'fastai')))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_csv_batch_predicts_notes_unknown_categories_and_refuses_missing_columns(
    income, tmp_path, monkeypatch
):
    _run, data = income
    _info, model = imported(data, tmp_path / "csv", monkeypatch)
    good = b"signal,noise,colour,extra\n1.5,0.1,red,x\n1.5,0.1,purple,y\n1.5,0.1,,z\n,0.1,red,w\n"
    out = predict_table.predict_csv(model, good)
    assert list(out.columns[:5]) == ["signal", "noise", "colour", "extra", "predicted"]  # every column
    assert out["extra"].tolist() == ["x", "y", "z", "w"]  # so the answers join back to their rows
    assert out["notes"].tolist() == [
        "",
        "colour: 'purple' unknown → #na#",
        "colour: missing → #na#",
        f"signal: missing → {model.info.state['cont'][0]['fill']:.4g} (the training median)",
    ]
    assert out.loc[1, "p(>50K)"] == pytest.approx(out.loc[2, "p(>50K)"], abs=1e-7)  # unknown = missing
    assert out.loc[0, "predicted"] == ">50K"  # a large signal: the learned rule
    with pytest.raises(UserError, match="'noise'"):
        predict_table.predict_csv(model, b"signal,colour\n1.5,red\n")
    with pytest.raises(UserError, match="'signal'.*not a finite number"):
        predict_table.predict_csv(model, b"signal,noise,colour\nlots,0.1,red\n")
    with pytest.raises(UserError, match="line 3"):
        predict_table.predict_csv(model, b"signal,noise,colour\n1,2,red\n1,2\n")


# --- predict.py: the bundle without the playground ---------------------------------------------------


def run_script(folder: Path, csv: Path, tmp_path: Path) -> list[dict]:
    """predict.py of a bundle run with --csv … --json from outside the project (plain torch)."""
    env = subprocess_env()
    env.pop("PLAYGROUND_ROOT", None)
    env["PYTHONPATH"] = ""
    out = subprocess.run(
        [sys.executable, str(folder / "predict.py"), "--csv", str(csv), "--bundle", str(folder), "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_predict_script_answers_a_csv_as_the_playground_does(income, price, tmp_path, monkeypatch):
    for run, data in (income, price):
        info, model = imported(data, tmp_path / run.name, monkeypatch)
        rows = b"signal,noise,colour,size\n1.5,0.1,red,0.3\n-0.2,,purple,1.9\n,-1,blue,\n0.3,2,,1.0\n"
        csv = tmp_path / f"{run.name}.csv"
        csv.write_bytes(rows)
        want = predict_table.predict_csv(model, rows)
        got = pd.DataFrame(run_script(info.path, csv, tmp_path))
        assert got["notes"].tolist() == want["notes"].tolist()
        if info.task == "tabular_classification":
            assert got["predicted"].tolist() == want["predicted"].tolist()
            for c in info.classes:
                assert np.abs(got[f"p({c})"].to_numpy(float) - want[f"p({c})"].to_numpy()).max() < 1e-5
        else:
            assert np.abs(got["predicted"].to_numpy(float) - want["predicted"].to_numpy()).max() < 1e-5
    script = load_script(info.path / "predict.py")
    model, config = script.load(info.path)
    with pytest.raises(SystemExit, match=r"lacks the column\(s\) size"):
        script.predict_table(model, config, ["signal", "colour"], [{"signal": "1", "colour": "red"}])


def load_script(path: Path):
    """A bundle's predict.py imported as a module (its functions, without running main)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bundle_predict", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("arch", ["dot_bias", "neural_collab"])
def test_predict_script_rates_user_item_pairs_as_the_playground_does(
    arch, tmp_path_factory, tmp_path, monkeypatch, one_thread
):
    import torch

    from core.train import collab

    run = trained_table(tmp_path_factory, RATINGS, arch=arch)
    data, _ = saved(run, monkeypatch, f"{RATINGS}_{arch}")
    info, model = imported(data, tmp_path / "ws", monkeypatch)
    assert info.classes == ["rating"] and info.state["kind"] == "ratings"
    users, items = info.state["users"], info.state["items"]
    csv = tmp_path / "pairs.csv"
    pairs = [(users[1], items[2]), (users[3], items[1]), (users[2], items[-1]), ("stranger", items[1])]
    pd.DataFrame(pairs, columns=["user", "item"]).to_csv(csv, index=False)
    got = run_script(info.path, csv, tmp_path)
    index = torch.tensor([[users.index(u), items.index(i)] for u, i in pairs[:3]])
    want = collab.predict_pairs(model.model, index).numpy()
    assert np.abs(np.array([g["predicted"] for g in got[:3]]) - want).max() < 1e-5
    assert got[3]["predicted"] is None and "'stranger' was not in the training data" in got[3]["notes"]
    lo, hi = info.state["y_range"]
    assert all(lo <= g["predicted"] <= hi for g in got[:3])
