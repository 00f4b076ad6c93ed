"""The run history: the runs table, names and notes, the trash, repeats with seeds, the CLI."""

from __future__ import annotations

import json
import time

import pytest

from core import cli, config_args, runs
from core.analysis import history
from core.config import TrainConfig
from core.errors import UserError
from core.jobs.store import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Store


def finished_run(
    store: Store,
    *,
    acc: float | None = 0.97,
    valid_loss: float = 0.1,
    seconds: float = 10.0,
    n_valid: int = 359,
    fingerprint: str | None = "fp-1",
    parent: int | None = None,
    state: str = DONE,
    n_epochs: int = 0,
    batches: int = 0,
    first_epoch: int = 0,
    first_step: int = 0,
    params: dict | None = None,
    **config,
) -> int:
    """A training run as the worker leaves it, without training: result, epochs, batches."""
    cfg = TrainConfig(**config).to_dict()
    job_id = store.submit("train", {"config": cfg, **(params or {})}, parent=parent)
    with store.transaction() as con:  # run this one, whatever else is queued
        con.execute("UPDATE jobs SET state = ?, started = ? WHERE id = ?", (RUNNING, time.time(), job_id))
    per = max(1, batches // max(1, n_epochs)) if n_epochs else 0
    store.add_batches(
        job_id, [(first_step + i, 2.0 / (1 + i / 50), cfg["lr"], 0.9) for i in range(1, batches + 1)]
    )
    for e in range(n_epochs):
        store.add_epoch(
            job_id,
            first_epoch + e,
            0.5,
            valid_loss + 0.01 * (n_epochs - 1 - e),
            {"accuracy": (acc or 0) - 0.001 * (n_epochs - 1 - e)},
            1.0,
            first_step + per * (e + 1),
        )
    if state in (DONE, FAILED, CANCELLED):
        result = None
        if state != FAILED:
            result = {
                "main_metric": "accuracy",
                "accuracy": acc,
                "valid_loss": valid_loss,
                "seconds": seconds,
            }
            result.update(
                n_valid=n_valid, n_train=1438, data_fingerprint=fingerprint, images_per_second=500.0
            )
        store.finish(job_id, state, result=result, error="it broke" if state == FAILED else None)
    return job_id


# --- the table -------------------------------------------------------------------------------


def test_the_table_has_one_row_per_training_run_with_its_settings_and_figures(store):
    a = finished_run(store, lr=1e-3, bs=32, seed=4, acc=0.95, valid_loss=0.2, fingerprint="abc")
    store.submit("lr_find", {"config": TrainConfig().to_dict()})  # not a run: left out
    b = finished_run(store, lr=3e-3, augment=True, parent=a)
    frame = history.runs_frame(store)
    assert list(frame.columns) == history.COLUMNS
    assert list(frame["id"]) == [b, a]  # newest first
    row = frame.set_index("id").loc[a]
    assert (row["dataset"], row["task"], row["arch"]) == ("digits", "single_label", "mnist_cnn")
    assert (row["lr"], row["bs"], row["seed"], row["augment"]) == (1e-3, 32, 4, False)
    assert (row["metric_name"], row["metric"], row["valid_loss"]) == ("accuracy", 0.95, 0.2)
    assert (row["seconds"], row["images_per_second"], row["state"]) == (10.0, 500.0, DONE)
    assert row["data_fingerprint"] == "abc" and row["kind"] == "train"
    other = frame.set_index("id").loc[b]
    assert other["parent"] == a and other["kind"] == "continued" and other["augment"] is True


def test_a_run_without_a_result_shows_its_last_epoch(store):
    failed = finished_run(store, state=FAILED, n_epochs=3, acc=0.9, valid_loss=0.3)
    running = finished_run(store, state=RUNNING, n_epochs=2, acc=0.8, valid_loss=0.5)
    frame = history.runs_frame(store).set_index("id")
    assert frame.loc[failed, "metric"] == pytest.approx(0.9)
    assert frame.loc[failed, "valid_loss"] == pytest.approx(0.3)
    assert frame.loc[failed, "seconds"] == pytest.approx(3.0)  # the sum of its epochs
    assert frame.loc[running, "metric"] == pytest.approx(0.8) and frame.loc[running, "state"] == RUNNING


def test_the_table_filters_by_dataset_architecture_state_and_text(store):
    a = finished_run(store, arch="simple_cnn")
    b = finished_run(store, dataset="digits_flip")
    c = finished_run(store, state=FAILED)
    history.rename(store, a, "Baseline CNN")
    history.set_note(store, b, "after cleaning the sevens")

    def ids(**kw):
        return sorted(history.runs_frame(store, **kw)["id"])

    assert ids(arch="simple_cnn") == [a]
    assert ids(dataset="digits_flip") == [b]
    assert ids(state=FAILED) == [c] and ids(state=[DONE, FAILED]) == [a, b, c]
    assert ids(text="baseline") == [a] and ids(text="SEVENS") == [b] and ids(text="flip") == [b]
    assert ids(text=str(c)) == [c]
    assert ids(text="  ") == [a, b, c]


def test_the_table_of_300_runs_is_one_query_and_reads_no_file(store, monkeypatch):
    for i in range(300):
        finished_run(store, seed=i, n_epochs=5, state=DONE if i % 10 else FAILED)
    calls = []
    read = store.read
    monkeypatch.setattr(store, "read", lambda *a: calls.append(1) or read(*a))
    monkeypatch.setattr(runs, "run_dir", lambda *_: pytest.fail("the table read a run's files"))
    t = time.perf_counter()
    frame = history.runs_frame(store)
    seconds = time.perf_counter() - t
    assert len(frame) == 300 and calls == [1]
    assert frame["metric"].notna().all()  # failed ones from their last epoch
    assert seconds < 0.5, f"300 runs took {seconds:.2f} s"


# --- names, notes, the trash -----------------------------------------------------------------


def test_rename_and_note_set_clear_and_refuse_bad_input(store):
    a = finished_run(store)
    history.rename(store, a, "  lr test  ")
    history.set_note(store, a, "first try\nwith two lines")
    job = store.get(a)
    assert (job.name, job.note) == ("lr test", "first try\nwith two lines")
    history.rename(store, a, "")
    assert store.get(a).name is None
    with pytest.raises(UserError, match="at most 120 characters"):
        history.rename(store, a, "x" * 121)
    with pytest.raises(UserError, match="one line"):
        history.rename(store, a, "two\nlines")
    with pytest.raises(UserError, match="no training run 999"):
        history.rename(store, 999, "x")
    lr_find = store.submit("lr_find", {"config": {}})
    with pytest.raises(UserError, match=f"no training run {lr_find}"):
        history.set_note(store, lr_find, "x")
    assert store.get(a).note == "first try\nwith two lines"


def _saved(run_id: int) -> None:
    folder = runs.run_dir(run_id)
    folder.mkdir(parents=True)
    (folder / runs.WEIGHTS).write_bytes(b"weights")
    (folder / runs.RECORD).write_text("{}")


def test_delete_moves_the_run_to_the_trash_and_restore_brings_it_back(fresh_workspace):
    store = Store()
    a, b = finished_run(store), finished_run(store)
    _saved(a)
    history.delete(store, a)
    assert store.get(a).deleted is not None
    assert list(history.runs_frame(store)["id"]) == [b]
    assert sorted(history.runs_frame(store, include_deleted=True)["id"]) == [a, b]
    assert not runs.run_dir(a).exists()
    assert (runs.trash_dir(a) / runs.WEIGHTS).read_bytes() == b"weights"
    assert runs.trash_dir(a) == fresh_workspace / "trash" / "runs" / str(a)
    with pytest.raises(UserError, match="already in the trash"):
        history.delete(store, a)
    history.restore(store, a)
    assert store.get(a).deleted is None and runs.has_weights(a)
    assert not runs.trash_dir(a).exists()
    assert sorted(history.runs_frame(store)["id"]) == [a, b]
    with pytest.raises(UserError, match="not in the trash"):
        history.restore(store, a)
    history.delete(store, b)  # a run that saved nothing goes to the trash too
    assert store.get(b).deleted is not None


def test_delete_refuses_active_runs_and_runs_a_job_waits_on(fresh_workspace):
    store = Store()
    queued = store.submit("train", {"config": TrainConfig().to_dict()})
    with pytest.raises(UserError, match=f"Run {queued} is queued; stop it"):
        history.delete(store, queued)
    done = finished_run(store)
    child = store.submit(
        "train", {"config": TrainConfig().to_dict(), "continue": {"parent": done}}, parent=done
    )
    with pytest.raises(UserError, match=f"Job {child} is waiting to use run {done}"):
        history.delete(store, done)
    assert store.get(done).deleted is None and store.get(queued).deleted is None


def test_a_delete_whose_move_fails_leaves_the_run_listed(fresh_workspace):
    store = Store()
    a = finished_run(store)
    _saved(a)
    runs.trash_dir(a).mkdir(parents=True)  # something is in the way
    with pytest.raises(UserError, match="already there"):
        history.delete(store, a)
    assert store.get(a).deleted is None and runs.has_weights(a)


# --- repeat with seeds -----------------------------------------------------------------------


def test_repeat_with_seeds_queues_the_same_settings_with_the_next_unused_seeds(store):
    base = finished_run(store, lr=1e-3, seed=0, parent=None)
    finished_run(store, lr=1e-3, seed=2)  # seed 2 is taken for these settings
    finished_run(store, lr=3e-3, seed=1)  # other settings: their seeds do not count
    history.rename(store, base, "slow")
    ids = history.repeat_with_seeds(store, base, n=2)
    jobs = [store.get(i) for i in ids]
    assert [j.params["config"]["seed"] for j in jobs] == [1, 3]
    for j in jobs:
        assert j.state == QUEUED and j.kind == "train" and j.parent is None
        same = {k: v for k, v in j.params["config"].items() if k != "seed"}
        assert same == {k: v for k, v in store.get(base).params["config"].items() if k != "seed"}
    assert jobs[0].name == "slow · seed 1"
    assert [store.get(i).params["config"]["seed"] for i in history.repeat_with_seeds(store, base, 1)] == [4]


def test_repeat_keeps_the_parent_and_refuses_bad_counts(store):
    parent = finished_run(store)
    child = finished_run(store, parent=parent, params={"continue": {"parent": parent, "unfreeze": True}})
    (again,) = history.repeat_with_seeds(store, child, n=1)
    assert store.get(again).parent == parent
    assert store.get(again).params["continue"] == {"parent": parent, "unfreeze": True}
    before = len(store.jobs(limit=100))
    for n in (0, 21):
        with pytest.raises(UserError, match="1 to 20 other seeds"):
            history.repeat_with_seeds(store, parent, n=n)
    with pytest.raises(UserError, match="no training run 999"):
        history.repeat_with_seeds(store, 999)
    assert len(store.jobs(limit=100)) == before


# --- reproducing and explaining a run --------------------------------------------------------


def test_the_cli_command_reproduces_the_run_settings(store):
    cfg = dict(arch="simple_cnn", lr=2e-3, lr_low=1e-5, bs=32, wd=0.05, epochs=3, schedule="flat_cos")
    cfg.update(
        freeze_epochs=1, seed=7, size=20, augment=True, pretrained=False, options={"label_smoothing": 0.1}
    )
    a = finished_run(store, **cfg)
    command = history.cli_command(store.get(a))
    words = command.split()
    assert words[:4] == ["python", "-m", "core", "train"]
    args = cli._parser().parse_args(words[3:])
    assert config_args.config(args) == TrainConfig(**cfg)


def test_the_cli_command_of_a_continued_run_continues_its_parent(store):
    parent = finished_run(store)
    child = finished_run(
        store, parent=parent, epochs=2, lr=1e-4, params={"continue": {"parent": parent, "unfreeze": True}}
    )
    command = history.cli_command(store.get(child))
    assert command.startswith(f"python -m core train --continue {parent} --epochs 2 --lr 0.0001")
    assert command.endswith("--unfreeze")


def test_log_tail_gives_a_failed_runs_reason_and_the_end_of_its_traceback(store):
    job_id = store.submit("train", {"config": TrainConfig().to_dict()})
    store.claim_next(1)
    trace = "\n".join(f"line {i}" for i in range(100))
    store.finish(job_id, FAILED, error="CUDA out of memory", traceback=trace)
    text = history.log_tail(store.get(job_id), lines=40)
    assert text.startswith("Failed: CUDA out of memory")
    assert text.endswith("line 99") and "line 60" in text and "line 59" not in text
    cancelled = finished_run(store, state=CANCELLED)
    assert history.log_tail(store.get(cancelled)).startswith("Stopped on request")


# --- the command line ------------------------------------------------------------------------


def test_cli_runs_prints_a_table_or_json(fresh_workspace, capsys):
    store = Store()
    a = finished_run(store, lr=1e-3, acc=0.9)
    b = finished_run(store, lr=3e-3, acc=0.95)
    history.rename(store, b, "faster")
    assert cli.main(["runs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["id", "name", "dataset", "arch"] and len(lines) == 3
    assert lines[1].split()[:2] == [str(b), "faster"] and "0.9500" in lines[1]
    assert cli.main(["runs", "--json", "--text", "faster"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == [b] and rows[0]["lr"] == 3e-3 and rows[0]["metric"] == 0.95
    assert cli.main(["runs", "--state", "failed", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert a  # listed in the table above


def test_cli_compare_prints_json_and_refuses_bad_input_in_one_line(fresh_workspace, capsys):
    store = Store()
    a = finished_run(store, lr=1e-3)
    b = finished_run(store, lr=1e-2, acc=0.93)
    assert cli.main(["compare", str(a), str(b)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["differing"] == {"lr": {str(a): 1e-3, str(b): 1e-2}}
    assert out["main_metric"] == "accuracy" and "learning rate 10× lower" in out["sentence"]
    for argv, message in (
        (["compare", str(a)], "at least 2"),
        (["compare", str(a), "999"], "no run 999"),
        (["compare", str(a), "seven"], "invalid run id"),
    ):
        try:
            code = cli.main(argv)
        except SystemExit as e:  # argparse's own refusals
            code = e.code
        assert code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error:") and message in err
    assert len(store.jobs()) == 2  # nothing queued
