"""AppTest: the pages of a shared dashboard show each signed-in person only their own things, a
published dataset or model as read-only with Make my own copy, and a teacher everyone's jobs with
Stop (identity.as_person is the test seam that signs a person in)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import people, publish
from core.config import TrainConfig
from core.data import datasets
from core.jobs.store import Store
from core.serving import library
from dashboard import identity, state
from dashboard.views import runs_table
from tests.apptest import APP, open_page
from tests.test_page_runs import seed_run
from tests.test_spaces import ALICE, BOB, TEACHER, klass, make_images, who  # noqa: F401

DATA, RUNS, MODELS = "../pages/data.py", "../pages/runs.py", "../pages/library.py"


def as_page(identity_: str, page: str, **session):
    """Open page signed in as identity_ (the AppTest seam; AppTest formats a selectbox's options in
    the test's own thread, so the test acts as identity_ too)."""
    with identity.as_person(identity_), who(identity_):
        return open_page(page, **session)


def click(at, label: str, identity_: str):
    """Press the button labelled label and run again as identity_."""
    with identity.as_person(identity_), who(identity_):
        next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception
    return at


def texts(at) -> str:
    return " ".join(str(e.value) for kind in ("info", "caption", "success", "markdown") for e in at.get(kind))


@pytest.fixture
def seeded(klass):  # noqa: F811
    """alice's and bob's datasets, and the teacher's published 'lesson'."""
    with who(ALICE):
        make_images("alices_pets")
    with who(BOB):
        make_images("bobs_pets")
    with who(TEACHER):
        make_images("lesson")
        publish.publish_dataset("lesson")


def test_the_data_page_lists_only_alices_datasets_and_the_published_one(seeded):
    at = as_page(ALICE, DATA, **{state.DATASET: "alices_pets"})
    options = " ".join(at.selectbox(key="data_dataset").options)
    assert "alices_pets" in options
    assert "bobs_pets" not in options
    assert "lesson · published · read-only" in options
    assert not [b for b in at.button if b.label in ("Publish to the class", "Make my own copy")]


def test_a_learner_sees_a_published_dataset_read_only_and_copies_it(seeded):
    at = as_page(ALICE, DATA, **{state.DATASET: "lesson"})
    assert "Published by the teacher — read-only" in texts(at)
    assert not [b for b in at.button if b.label in ("Rename", "Delete", "Publish to the class")]
    click(at, "Make my own copy", ALICE)
    assert at.session_state[state.DATASET] == "lesson_copy"
    assert "copied to lesson_copy" in texts(at)
    with who(ALICE):
        assert not datasets.resolve("lesson_copy").published
    with who(BOB):
        assert "lesson_copy" not in datasets.available()


def test_a_teacher_publishes_and_withdraws_a_dataset_from_the_data_page(seeded):
    with who(TEACHER):
        make_images("week2")
    at = as_page(TEACHER, DATA, **{state.DATASET: "week2"})
    click(at, "Publish to the class", TEACHER)
    with who(BOB):
        assert datasets.is_published("week2")
    click(at, "Withdraw from the class", TEACHER)
    with who(BOB):
        assert "week2" not in datasets.available()


def test_the_runs_page_shows_alice_her_runs_and_the_teacher_everyones_with_stop(klass):  # noqa: F811
    with who(ALICE):
        alices = seed_run(seed=1)
        going = Store().submit("wait", {"seconds": 60})
    with who(BOB):
        bobs = seed_run(seed=2)

    at = as_page(ALICE, RUNS)
    assert list(at.dataframe[0].value["run"]) == [alices]
    assert not [e for e in at.expander if "Everyone" in e.label]
    assert not [b for b in at.button if b.label.startswith("Stop job")]

    with identity.as_person(ALICE), who(ALICE):  # a crafted link to bob's run opens nothing of his
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params[runs_table.QUERY] = str(bobs)
        at.run()
        at.switch_page(RUNS).run()
    assert not at.exception, at.exception
    assert not [h for h in at.header if f"Run {bobs}" in h.value]
    assert list(at.dataframe[0].value["run"]) == [alices]

    at = as_page(TEACHER, RUNS)
    everyone = next(d.value for d in at.dataframe if "owner" in d.value.columns)
    owners = dict(zip(everyone["id"], everyone["owner"]))
    assert owners[alices] == owners[going] == ALICE  # she signed in: her identity, not her folder
    assert owners[bobs] == people.space_name(BOB)  # never signed in on the dashboard: his space
    assert [b.label for b in at.button if b.label.startswith("Stop job")] == [f"Stop job {going} of {ALICE}"]
    click(at, f"Stop job {going} of {ALICE}", TEACHER)
    with who(ALICE):
        assert Store().get(going).state == "CANCELLED"


def test_the_models_page_shows_a_published_model_read_only(klass, tmp_path_factory):  # noqa: F811
    from core.serving import upload
    from tests.model_helpers import trained_model

    data = trained_model(tmp_path_factory).zip
    with who(BOB):
        upload.import_bundle(data, "m.zip", "bobs_model")
    with who(TEACHER):
        upload.import_bundle(data, "m.zip", "lesson_model")
    at = as_page(TEACHER, MODELS)
    click(at, "Publish to the class", TEACHER)

    at = as_page(ALICE, MODELS)
    options = " ".join(at.selectbox(key="library_model").options)
    assert "lesson_model · published, read-only" in options
    assert "bobs_model" not in options
    assert "Published by the teacher — read-only" in texts(at)
    assert not [b for b in at.button if b.label in ("Rename", "Delete")]
    click(at, "Make my own copy", ALICE)
    with who(ALICE):
        assert [m.name for m in library.list_models() if not m.published] == ["lesson_model_copy"]


def test_the_fair_share_refusal_is_a_sentence_and_the_page_keeps_working(klass, no_worker):  # noqa: F811
    """alice at the class's limit (3 jobs) presses Start training: one sentence where the button
    is, no traceback, nothing queued, and the run she follows is still followed."""
    with who(ALICE):
        store = Store()
        config = TrainConfig(dataset="digits", arch="mnist_cnn", epochs=1).to_dict()
        held = [store.submit("train", {"config": config}) for _ in range(3)]
    at = as_page(ALICE, "../pages/train.py", **{state.RUN: held[0]})
    with identity.as_person(ALICE), who(ALICE):
        next(b for b in at.button if "Start training" in b.label).click().run()
    assert not at.exception, at.exception
    assert any("3 jobs queued or running" in str(e.value) for e in at.error)
    assert at.session_state[state.RUN] == held[0]
    with who(ALICE):
        assert len(Store().active()) == 3
