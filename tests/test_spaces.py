"""Per-person spaces on a shared dashboard: nobody reaches another person's datasets, runs, models or
marks by any name, path or id; a teacher sees everyone's jobs and publishes read-only copies."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import people, publish, workspace
from core import runs as run_files
from core.analysis import marks
from core.data import access, datasets, manage
from core.data.ingest import sources
from core.errors import UserError
from core.jobs.store import Store
from core.serving import library

ALICE, BOB, TEACHER = "alice@x.org", "bob@x.org", "teacher@x.org"


def use_class(tmp_path: Path, monkeypatch, more: str) -> None:
    """Write and use a class file of alice, bob and a teacher (plus the lines in more); no import
    root from the environment."""
    path = tmp_path / "class.toml"
    path.write_text(f'shared = true\nteachers = ["{TEACHER}"]\n{more}\n')
    monkeypatch.setenv(people.CONFIG_ENV, str(path))
    monkeypatch.delenv(sources.IMPORT_ROOT_VAR, raising=False)


@pytest.fixture
def klass(fresh_workspace, tmp_path, monkeypatch) -> Path:
    """A shared class of alice, bob and a teacher, with a fair share of 3 jobs each."""
    use_class(tmp_path, monkeypatch, "max_jobs = 3")
    return fresh_workspace


def who(identity: str):
    """Act as identity for a with-block."""
    return people.acting_as(people.person_for(identity))


def make_images(name: str, classes=("cat", "dog"), n: int = 4) -> Path:
    """A tiny class-folder dataset in the current space's datasets folder."""
    root = workspace.subdir("datasets") / name
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def space_folder(identity: str) -> Path:
    return workspace.workspace_root() / "spaces" / people.space_name(identity)


def test_each_person_lists_and_reads_only_their_own_datasets(klass):
    with who(ALICE):
        make_images("pets")
        assert "pets" in datasets.available()
        assert len(access.items("pets").files) == 8
    with who(BOB):
        assert "pets" not in datasets.available()
        with pytest.raises(UserError, match="Unknown dataset 'pets'"):
            datasets.resolve("pets")
        make_images("pets", classes=("x", "y", "z"), n=2)  # bob's own, of the same name
        assert access.items("pets").vocab == ["x", "y", "z"]
    with who(ALICE):
        assert access.items("pets").vocab == ["cat", "dog"]  # alice's untouched


@pytest.mark.parametrize(
    "crafted",
    [
        "../spaces/{bob}/datasets/pets",
        "../../{bob}/datasets/pets",
        "{abs}",
        "pets/../../../{bob}/datasets/pets",
    ],
)
def test_crafted_dataset_names_never_reach_another_space(klass, crafted):
    with who(BOB):
        make_images("pets")
    bob_space = people.space_name(BOB)
    name = crafted.format(bob=bob_space, abs=str(space_folder(BOB) / "datasets" / "pets"))
    with who(ALICE):
        for reach in (datasets.resolve, access.items, manage.delete_dataset, marks.load_marks):
            with pytest.raises(UserError):
                reach(name)
        with pytest.raises(UserError):
            marks.set_mark(name, "cat/0.png", "delete")
        with pytest.raises(UserError):
            access.move_to_trash(name, ["cat/0.png"])
    assert len(list((space_folder(BOB) / "datasets" / "pets").rglob("*.png"))) == 8


def test_a_link_to_another_space_is_refused(klass):
    with who(BOB):
        target = make_images("secret")
    with who(ALICE):
        link = workspace.subdir("datasets") / "stolen"
        os.symlink(target, link)
        with pytest.raises(UserError):
            access.items("stolen")
        with pytest.raises(UserError):
            marks.set_mark("stolen", "cat/0.png", "delete")
        with pytest.raises(UserError):
            manage.delete_dataset("stolen")
    assert (target / "cat" / "0.png").is_file()


def test_marks_and_trash_stay_in_their_owners_space(klass):
    with who(ALICE):
        make_images("pets")
        marks.set_mark("pets", "cat/0.png", "delete")
        access.move_to_trash("pets", ["dog/1.png"])
    with who(BOB):
        make_images("pets")
        assert marks.load_marks("pets") == {}
        assert len(access.items("pets").files) == 8  # alice's trash move did not touch bob's
    with who(ALICE):
        assert marks.load_marks("pets") == {"cat/0.png": {"action": "delete", "to": None}}
        assert len(access.items("pets").files) == 7


def test_another_persons_run_id_is_no_run(klass):
    with who(ALICE):
        store = Store()
        job = store.submit("wait", {"seconds": 0})
        folder = run_files.run_dir(job)
        folder.mkdir(parents=True)
        (folder / run_files.RECORD).write_text("{}")
        (folder / run_files.WEIGHTS).write_bytes(b"x")
        assert store.get(job) is not None and run_files.has_weights(job)
    with who(BOB):
        store = Store()
        assert store.get(job) is None
        assert all(j.id != job for j in store.jobs(limit=100))
        assert not run_files.has_weights(job)
        with pytest.raises(UserError, match="no saved weights"):
            run_files.read_record(job)
        store.request_cancel(job)
        with pytest.raises(UserError):
            store.everyone()
    with who(ALICE):
        assert Store().get(job).state == "QUEUED"  # bob's Stop did not reach it
    with who(TEACHER):
        view = Store().everyone()
        mine = {j.id: j for j in view.jobs(limit=100)}
        assert mine[job].owner == people.space_name(ALICE)
        view.request_cancel(job)
    with who(ALICE):
        assert Store().get(job).state == "CANCELLED"  # the teacher can stop anyone's job


def test_the_teacher_sees_both_learners_jobs(klass):
    ids = {}
    for person in (ALICE, BOB):
        with who(person):
            ids[person] = Store().submit("wait", {"seconds": 0})
    with who(TEACHER):
        owners = {j.id: j.owner for j in Store().everyone().jobs(limit=100)}
    assert owners == {ids[ALICE]: people.space_name(ALICE), ids[BOB]: people.space_name(BOB)}


@pytest.fixture
def published(klass) -> str:
    """The teacher's dataset 'lesson', published to the class."""
    with who(TEACHER):
        make_images("lesson")
        assert publish.publish_dataset("lesson") == "lesson"
    return "lesson"


def test_a_learner_cannot_publish(klass):
    with who(ALICE):
        make_images("mine")
        with pytest.raises(UserError, match="Only a teacher"):
            publish.publish_dataset("mine")
        with pytest.raises(UserError, match="Only a teacher"):
            publish.withdraw_dataset("mine")
    assert publish.published_names("datasets") == []


def test_a_published_dataset_is_readable_by_both_and_writable_by_neither(published):
    for person in (ALICE, BOB):
        with who(person):
            assert published in datasets.available()
            info = datasets.resolve(published)
            assert info.published
            assert len(access.items(published).files) == 8
            for write in (
                lambda: marks.set_mark(published, "cat/0.png", "delete"),
                lambda: marks.clear_marks(published),
                lambda: access.move_to_trash(published, ["cat/0.png"]),
                lambda: access.undo_last(published),
                lambda: manage.delete_dataset(published),
                lambda: manage.rename_dataset(published, "other"),
            ):
                with pytest.raises(UserError, match="published by the teacher .* read-only"):
                    write()
    with who(TEACHER):
        manage.delete_dataset("lesson")  # the teacher's own original: the published copy stays
        with pytest.raises(UserError, match="read-only"):
            access.move_to_trash(published, ["cat/0.png"])
    folder = publish.published_dir("datasets") / published
    assert len(list(folder.rglob("*.png"))) == 8


def test_a_learners_copy_is_theirs_to_clean(published):
    with who(ALICE):
        mine = publish.copy_dataset(published)
        assert mine == "lesson_copy"
        assert not datasets.resolve(mine).published
        marks.set_mark(mine, "cat/0.png", "delete")
        access.move_to_trash(mine, ["cat/0.png"])
        assert len(access.items(mine).files) == 7
        assert publish.copy_dataset(published) == "lesson_copy_2"  # a free name each time
        with pytest.raises(UserError, match="your own dataset already"):
            publish.copy_dataset(mine)
    with who(BOB):
        assert "lesson_copy" not in datasets.available()
        assert len(access.items(published).files) == 8  # the published one is unchanged


def test_withdrawing_takes_it_from_every_list(published):
    with who(ALICE):
        mine = publish.copy_dataset(published)
    with who(TEACHER):
        publish.withdraw_dataset(published)
    for person in (ALICE, BOB):
        with who(person):
            assert published not in datasets.available()
    with who(ALICE):
        assert mine in datasets.available()  # a copy stays with its owner


def test_published_and_own_models(klass, tmp_path_factory):
    from core.serving import upload
    from tests.model_helpers import trained_model

    data = trained_model(tmp_path_factory).zip
    with who(ALICE):
        upload.import_bundle(data, "m.zip", "alices")
    with who(BOB):
        assert [m.name for m in library.list_models()] == []
        for reach in (library.get, library.delete, library.zip_bytes):
            with pytest.raises(UserError):
                reach("alices")
        with pytest.raises(UserError):
            library.get("../../" + people.space_name(ALICE) + "/models/alices")
    with who(TEACHER):
        upload.import_bundle(data, "m.zip", "lesson_model")
        publish.publish_model("lesson_model")
    for person in (ALICE, BOB):
        with who(person):
            shown = {m.name: m.published for m in library.list_models()}
            assert shown["lesson_model"] is True
            with pytest.raises(UserError, match="read-only"):
                library.rename("lesson_model", "mine")
            with pytest.raises(UserError, match="read-only"):
                library.delete("lesson_model")
    with who(ALICE):
        mine = publish.copy_model("lesson_model")
        assert not library.get(mine).published
        library.rename(mine, "my_model")
        with pytest.raises(UserError, match="Only a teacher"):
            publish.publish_model("my_model")


def test_folder_imports_are_off_when_shared_without_an_import_root(klass, tmp_path, monkeypatch):
    from core.data import ingest

    source = tmp_path / "outside"
    with who(BOB):
        target = make_images("pets")
    with who(ALICE):
        with pytest.raises(UserError, match="off on a shared dashboard"):
            ingest.add_folder(str(target), "stolen")
    (tmp_path / "class.toml").write_text(
        f'shared = true\nteachers = ["{TEACHER}"]\nimport_root = "{tmp_path / "allowed"}"\n'
    )
    os.utime(tmp_path / "class.toml", (1, 1))  # a new mtime: the class file is read again
    (tmp_path / "allowed").mkdir()
    with who(ALICE):
        with pytest.raises(UserError, match="Only folders inside .*allowed"):
            ingest.add_folder(str(target), "stolen")
        source.mkdir()
        with pytest.raises(UserError, match="Only folders inside .*allowed"):
            ingest.add_folder(str(source), "x")
        allowed = tmp_path / "allowed" / "set"
        for c in ("a", "b"):
            (allowed / c).mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(allowed / c / f"{i}.png")
        ingest.add_folder(str(allowed), "set")
        assert "set" in datasets.available()
