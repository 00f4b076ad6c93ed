"""Format versions: the workspace, the job store, run.json and the task in every config migrate forward."""

from __future__ import annotations

import json
import sqlite3

import pytest

from core import runs, tasks, workspace
from core.config import TrainConfig
from core.errors import ConfigError, UserError
from core.jobs import schema as jobs_schema
from core.jobs import store as jobs_store


def test_an_unstamped_workspace_is_stamped_and_a_newer_one_refused(tmp_path, monkeypatch):
    old = tmp_path / "old"
    (old / "datasets" / "mine").mkdir(parents=True)
    monkeypatch.setenv(workspace.ENV_VAR, str(old))
    assert workspace.root() == old.resolve()
    assert json.loads((old / "workspace.json").read_text()) == {"format": workspace.WORKSPACE_FORMAT}
    assert (old / "datasets" / "mine").is_dir()  # nothing else touched
    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / "workspace.json").write_text(json.dumps({"format": workspace.WORKSPACE_FORMAT + 1}))
    monkeypatch.setenv(workspace.ENV_VAR, str(newer))
    with pytest.raises(UserError, match="newer version of the playground"):
        workspace.root()


def test_a_store_made_before_versions_gains_the_task_column_with_its_jobs_kept(tmp_path):
    path = tmp_path / "runs.sqlite"
    con = sqlite3.connect(path)
    con.executescript(jobs_schema.SCHEMA)  # the schema as every existing workspace has it
    params = json.dumps({"config": {"dataset": "digits", "lr": 0.01}})
    con.execute("INSERT INTO jobs(kind, params, state, created) VALUES ('train', ?, 'DONE', 1.0)", (params,))
    con.execute("INSERT INTO jobs(kind, params, state, created) VALUES ('download', '{}', 'DONE', 2.0)")
    retrain = json.dumps({"config": {"dataset": "digits"}, "retrain_of": 1})
    con.execute("INSERT INTO jobs(kind, params, state, created) VALUES ('train', ?, 'DONE', 3.0)", (retrain,))
    con.commit()
    con.close()
    store = jobs_store.Store(path)
    assert [store.get(1).task, store.get(2).task] == ["single_label", None]
    assert store.get(1).params["config"]["lr"] == 0.01
    assert [store.get(i).parent for i in (1, 2, 3)] == [None, None, 1]  # a retrain's parent, from 3 on
    assert store.get(1).deleted is None and store.get(1).name is None
    new = store.submit("train", {"config": TrainConfig().to_dict()})
    assert store.get(new).task == "single_label"
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == jobs_schema.STORE_VERSION
    store.close()
    assert jobs_schema.migrate(sqlite3.connect(path, isolation_level=None)) == jobs_schema.STORE_VERSION


def test_a_store_from_a_newer_program_is_refused(tmp_path):
    path = tmp_path / "runs.sqlite"
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {jobs_schema.STORE_VERSION + 1}")
    con.close()
    with pytest.raises(UserError, match="newer version"):
        jobs_store.Store(path)


def test_a_run_json_of_format_1_reads_as_a_single_label_run_without_a_fingerprint():
    v1 = {
        "config": {"dataset": "digits", "arch": "mnist_cnn", "epochs": 2, "aug": {"flip": False}},
        "vocab": ["0", "1"],
        "size": 8,
        "channels": 1,
        "mean": [0.3],
        "std": [0.4],
    }
    record = runs.parse_record(v1)
    assert record.task == "single_label" and record.format == runs.RUN_FORMAT
    assert record.data_fingerprint is None and record.config.epochs == 2
    assert runs.parse_record(record.to_dict()) == record
    with pytest.raises(UserError, match="newer version"):
        runs.parse_record({**v1, "format": runs.RUN_FORMAT + 1})
    with pytest.raises(UserError, match="run.json cannot be read"):
        runs.parse_record({**v1, "vocab": None})


def test_the_config_carries_the_task_and_its_own_options_through_a_round_trip():
    cfg = TrainConfig(options={"label_smoothing": 0.1})
    again = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.options.label_smoothing == 0.1
    assert TrainConfig.from_dict({"dataset": "digits"}).options == tasks.default_options("single_label")
    with pytest.raises(ConfigError, match="Unknown single_label setting"):
        TrainConfig(options={"dropout": 0.5})
    with pytest.raises(ConfigError, match="Unknown task 'nope'"):
        TrainConfig(task="nope").validate()
    with pytest.raises(ConfigError, match="Label smoothing"):
        TrainConfig(options={"label_smoothing": 1.5}).validate()


def test_unknown_tasks_are_refused_with_the_choices():
    with pytest.raises(UserError, match="Choose one of: single_label"):
        tasks.get("nope")
    task = tasks.get("single_label")
    assert (task.main_metric, task.higher_is_better) == ("accuracy", True)
