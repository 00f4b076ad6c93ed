"""The workspace's parts and their sizes (core.storage), freeing them, and deleting or renaming a
dataset (core.data.manage): each checked on the files a person would find afterwards."""

from __future__ import annotations

import json
import os

import pytest

from core import runs, storage, workspace
from core.data import access, download, journal, manage
from core.errors import UserError
from core.jobs.store import DONE, Store
from core.train import continuing


def write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def toy_dataset(name: str = "toys") -> None:
    root = workspace.subdir("datasets") / name
    for cls in ("cat", "dog"):
        for i in range(3):
            write(root / cls / f"{i}.png", bytes([i]) * 100)


def finished_run(store: Store, **params) -> int:
    job = store.submit("train", {"config": {"dataset": "toys"}, **params})
    store.claim_next(pid=1)
    store.finish(job, DONE, result={})
    return job


def run_files(run_id: int, epoch: int = 2) -> None:
    folder = runs.run_dir(run_id)
    write(folder / "model.safetensors", b"w" * 1000)
    write(folder / "run.json", b"{}")
    write(folder / f"checkpoint-{epoch}.safetensors", b"c" * 5000)
    meta = {"tensors": f"checkpoint-{epoch}.safetensors", "epoch": epoch, "step": 10 * epoch}
    write(folder / runs.CHECKPOINT, json.dumps(meta).encode())


def parts() -> dict[str, storage.Part]:
    return {p.key: p for p in storage.usage()}


def test_usage_counts_every_part_and_adds_up_to_the_workspace(fresh_workspace):
    toy_dataset()
    store = Store()
    run_files(finished_run(store))
    store.close()
    write(workspace.subdir("cache") / "abc.npy", b"n" * 700)
    write(workspace.subdir("models") / "m" / "model.safetensors", b"m" * 300)
    write(workspace.subdir("trash") / "toys" / "1" / "cat" / "0.png", b"t" * 40)
    write(download.cache_dir() / "pets.tgz", b"a" * 90)
    write(download.cache_dir() / f".pets.tgz.1.1{download.PART_SUFFIX}", b"p" * 20)
    found = parts()
    assert list(found) == [
        "datasets",
        "cache",
        "runs",
        "checkpoints",
        "models",
        "trash",
        "downloads",
        "parts",
        "other",
    ]
    assert (found["datasets"].bytes, found["datasets"].count) == (600, 1)
    assert (found["cache"].bytes, found["cache"].count) == (700, 1)
    ckpt = 5000 + len(json.dumps({"tensors": "checkpoint-2.safetensors", "epoch": 2, "step": 20}))
    assert (found["checkpoints"].bytes, found["checkpoints"].count) == (ckpt, 1)
    assert (found["runs"].bytes, found["runs"].count) == (1002, 1)  # checkpoints not counted twice
    assert (found["models"].bytes, found["trash"].bytes, found["downloads"].bytes) == (300, 40, 90)
    assert (found["parts"].bytes, found["parts"].count) == (20, 1)
    assert sum(p.bytes for p in found.values()) == storage.folder_bytes(workspace.root())
    assert {k for k, p in found.items() if p.can_free} == set(storage.FREE)


def test_freeing_checkpoints_keeps_the_weights_and_spares_a_continued_run(fresh_workspace):
    store = Store()
    ended, continued = finished_run(store), finished_run(store)
    run_files(ended, epoch=3)
    run_files(continued)
    store.submit("train", continuing.plan(store, continued, epochs=1), parent=continued)  # queued
    store.close()
    expected = parts()["checkpoints"].bytes - sum(
        p.stat().st_size for p in runs.run_dir(continued).glob("checkpoint*")
    )
    assert storage.free("checkpoints") == expected > 0
    assert sorted(p.name for p in runs.run_dir(ended).iterdir()) == ["model.safetensors", "run.json"]
    assert not runs.has_checkpoint(ended) and runs.has_weights(ended)
    assert runs.has_checkpoint(continued)  # the queued continuation still needs it
    assert storage.free_checkpoints() == 0


def test_freeing_the_cache_the_downloads_and_the_parts(fresh_workspace):
    cache = workspace.subdir("cache")
    write(cache / "a.npy", b"x" * 10)
    writing = write(cache / ".b.npy.1.2.tmp", b"y")  # being written: left alone
    assert storage.free_cache() == 10
    assert list(cache.iterdir()) == [writing]
    folder = download.cache_dir()
    write(folder / "pets.tgz", b"z" * 30)
    live = write(folder / f".mnist.tgz.{os.getpid()}.1{download.PART_SUFFIX}", b"l" * 5)
    write(folder / f".old.tgz.999999999.1{download.PART_SUFFIX}", b"o" * 7)
    assert storage.free_parts() == 7
    assert storage.free_downloads() == 30
    assert list(folder.iterdir()) == [live]
    with pytest.raises(UserError, match="not a part of the workspace that can be freed"):
        storage.free("datasets")


def test_emptying_the_trash_removes_every_trashed_thing_for_good(fresh_workspace):
    toy_dataset()
    access.move_to_trash("toys", ["cat/0.png"])
    write(runs.trash_dir(7) / "model.safetensors", b"r" * 11)
    write(workspace.subdir("trash") / "models" / "20260101-000000-m" / "config.json", b"{}")
    before = parts()["trash"]
    assert before.count == 3 and before.bytes == 100 + 11 + 2
    assert storage.free("trash") == before.bytes
    assert list(workspace.subdir("trash").iterdir()) == []
    # undo of the emptied delete then says the file is gone rather than failing
    report = access.undo_last("toys")
    assert report.missing == ["cat/0.png"]


def test_the_trash_of_a_dataset_being_changed_is_left_for_next_time(fresh_workspace):
    toy_dataset()
    access.move_to_trash("toys", ["dog/1.png"])
    import threading

    held, done = threading.Event(), threading.Event()

    def hold():
        with access.lock("toys"):
            held.set()
            done.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(10)
    try:
        assert storage.free_trash() == 0
    finally:
        done.set()
        t.join()
    assert storage.free_trash() == 100


# --- deleting and renaming a dataset ---------------------------------------------------------------


def test_deleting_a_dataset_moves_it_and_its_records_to_the_trash_and_back(fresh_workspace):
    toy_dataset()
    access.move_to_trash("toys", ["cat/1.png"])  # a journal and a trash of its own
    assert journal.history("toys")
    target = manage.delete_dataset("toys")
    assert not (workspace.subdir("datasets") / "toys").exists()
    assert not journal.history("toys")  # a new dataset of the name starts clean
    assert sorted(p.name for p in target.iterdir()) == ["data", "deleted.json", "journals", "trash"]
    assert parts()["trash"].bytes >= 600
    assert manage.restore_dataset(target) == "toys"
    assert len(journal.history("toys")) == 1
    assert sorted(p.name for p in (workspace.subdir("datasets") / "toys" / "cat").iterdir()) == [
        "0.png",
        "2.png",
    ]


def test_deleting_for_good_leaves_nothing(fresh_workspace):
    toy_dataset()
    assert manage.delete_dataset("toys", permanent=True) is None
    assert storage.folder_bytes(workspace.subdir("datasets")) == 0
    assert storage.folder_bytes(workspace.subdir("trash")) == 0


def test_built_ins_busy_and_unknown_datasets_are_refused(fresh_workspace):
    toy_dataset()
    for doing in (lambda n: manage.delete_dataset(n), lambda n: manage.rename_dataset(n, "other")):
        with pytest.raises(UserError, match="digits is a built-in dataset; it cannot be deleted or renamed"):
            doing("digits")
        with pytest.raises(UserError, match="There is no dataset called 'nope'"):
            doing("nope")
    store = Store()
    job = store.submit("train", {"config": {"dataset": "toys"}})
    store.close()
    with pytest.raises(UserError, match=f"toys cannot be deleted while job {job} uses it"):
        manage.delete_dataset("toys")
    assert (workspace.subdir("datasets") / "toys").is_dir()


def test_renaming_follows_the_name_rules_and_keeps_the_marks(fresh_workspace):
    from core.analysis import marks

    toy_dataset()
    toy_dataset("taken")
    marks.edit_marks("toys", lambda m: m.update({"cat/0.png": {"action": "delete"}}))
    with pytest.raises(UserError, match="A dataset called taken already exists"):
        manage.rename_dataset("toys", "Taken")
    with pytest.raises(UserError, match="name of a built-in dataset"):
        manage.rename_dataset("toys", "digits")
    assert manage.rename_dataset("toys", "  My Pets! ") == "my_pets"
    assert not (workspace.subdir("datasets") / "toys").exists()
    assert marks.load_marks("my_pets") == {"cat/0.png": {"action": "delete"}}


def test_renaming_a_dataset_runs_were_trained_on_or_with_a_history_is_refused(fresh_workspace):
    toy_dataset()
    access.move_to_trash("toys", ["cat/0.png"])
    with pytest.raises(UserError, match="toys has a cleaning history"):
        manage.rename_dataset("toys", "pets")
    toy_dataset("fresh")
    store = Store()
    job = store.submit("train", {"config": {"dataset": "fresh"}})
    store.claim_next(pid=1)
    store.finish(job, DONE, result={})
    store.close()
    with pytest.raises(UserError, match=r"1 run\(s\) were trained on fresh"):
        manage.rename_dataset("fresh", "pets")
    assert (workspace.subdir("datasets") / "fresh").is_dir()


# --- the Storage page and the Data page's rename or delete ---------------------------------------


def test_the_storage_page_shows_each_part_and_empties_the_trash_after_a_confirmation(fresh_workspace):
    from streamlit.testing.v1 import AppTest

    from core.fsutil import human_size
    from tests.apptest import ROOT

    toy_dataset()
    access.move_to_trash("toys", ["cat/0.png", "dog/0.png"])
    at = AppTest.from_file(str(ROOT / "pages" / "storage.py"), default_timeout=30).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Storage"
    table = at.dataframe[0].value
    shown = dict(zip(table["part"], table["size"]))
    assert shown["Trash"] == human_size(200) and shown["Datasets"] == human_size(400)
    assert dict(zip(table["part"], table["holds"]))["Datasets"] == "1 dataset"
    shares = dict(zip(table["part"], table["share"]))
    assert 0 < shares["Trash"] < shares["Datasets"] <= 100 and abs(sum(shares.values()) - 100) < 1e-6
    ask = next(b for b in at.button if b.key == "storage_ask_trash")
    assert ask.label == f"Empty the trash ({human_size(200)})"
    assert not any(b.key == "storage_free_trash" for b in at.button)  # asked first
    ask.click().run()
    assert (workspace.subdir("trash") / "toys").is_dir()  # nothing removed before the confirmation
    next(b for b in at.button if b.key == "storage_cancel_trash").click().run()
    assert not any(b.key == "storage_free_trash" for b in at.button)  # cancelled: the box closed
    next(b for b in at.button if b.key == "storage_ask_trash").click().run()
    next(b for b in at.button if b.key == "storage_free_trash").click().run()
    assert not at.exception, at.exception
    assert any(f"Empty the trash: {human_size(200)} freed." in s.value for s in at.success)
    assert storage.folder_bytes(workspace.subdir("trash")) == 0
    assert not any(b.key == "storage_free_trash" for b in at.button)  # done: the box closed
    assert dict(zip(at.dataframe[0].value["part"], at.dataframe[0].value["size"]))["Trash"] == human_size(0)


def _manage_app():
    import streamlit as st

    from dashboard import state
    from dashboard.views import data_manage

    st.session_state.setdefault(state.DATASET, "toys")
    notice = st.session_state.get(state.DATA_NOTICE)
    if notice:
        st.success(notice["text"])
    data_manage.manage_dataset(st.session_state[state.DATASET])


def test_the_data_page_renames_and_deletes_a_dataset_with_a_confirmation(fresh_workspace):
    from streamlit.testing.v1 import AppTest

    from dashboard import state

    toy_dataset()
    at = AppTest.from_function(_manage_app, default_timeout=30).run()
    assert not at.exception, at.exception
    at.text_input(key="data_manage_name").set_value("Pets 2").run()
    next(b for b in at.button if b.label == "Rename").click().run()
    assert not at.exception, at.exception
    assert at.session_state[state.DATASET] == "pets_2"
    assert (workspace.subdir("datasets") / "pets_2").is_dir()
    assert any("Renamed toys to pets_2." in s.value for s in at.success)
    delete = next(b for b in at.button if b.label == "Delete")
    assert delete.disabled  # not before "Yes, delete pets_2" is ticked
    at.checkbox(key="data_manage_sure").check().run()
    next(b for b in at.button if b.label == "Delete").click().run()
    assert not at.exception, at.exception
    assert not (workspace.subdir("datasets") / "pets_2").exists()
    assert any("pets_2 was moved to the trash" in s.value for s in at.success)
    assert at.session_state[state.DATASET] == "digits"
    assert not at.expander  # a built-in offers neither


def test_a_deleted_dataset_is_listed_on_the_storage_page_and_restored(fresh_workspace):
    from streamlit.testing.v1 import AppTest

    from tests.apptest import ROOT

    toy_dataset()
    manage.delete_dataset("toys")
    at = AppTest.from_file(str(ROOT / "pages" / "storage.py"), default_timeout=30).run()
    assert any(m.value.startswith("**toys**, deleted ") for m in at.markdown)
    next(b for b in at.button if b.label == "Restore").click().run()
    assert not at.exception, at.exception
    assert any("toys is back on the Data page." in s.value for s in at.success)
    assert (workspace.subdir("datasets") / "toys" / "cat" / "0.png").read_bytes() == bytes([0]) * 100
    assert manage.trashed_datasets() == []


def test_the_real_data_page_offers_rename_and_delete_for_a_dataset_of_your_own(fresh_workspace):
    from PIL import Image

    from dashboard import state
    from tests.apptest import open_page

    root = workspace.subdir("datasets") / "pets"
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(4):
            colour = (40 * i, 100 if cls == "cat" else 200, 0)
            Image.new("RGB", (16, 16), colour).save(root / cls / f"{i}.png")
    at = open_page("../pages/data.py", **{state.DATASET: "pets"})
    assert any(e.label == "Rename or delete this dataset" for e in at.expander)
    at = open_page("../pages/data.py", **{state.DATASET: "digits"})
    assert not any(e.label == "Rename or delete this dataset" for e in at.expander)


def test_the_view_survives_files_that_go_while_it_looks(fresh_workspace, monkeypatch):
    # a checkpoint rotated at the end of an epoch, a .part renamed as its download finishes
    store = Store()
    run = finished_run(store)
    run_files(run)
    store.close()
    on_disk = sum(p.stat().st_size for p in runs.run_dir(run).glob("checkpoint*"))
    real = storage._checkpoint_files
    monkeypatch.setattr(storage, "_checkpoint_files", lambda p: [*real(p), p / "checkpoint-9.safetensors"])
    assert parts()["checkpoints"].bytes == on_disk  # the file that went counts 0, no error
