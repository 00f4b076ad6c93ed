"""Isolation between people on a shared dashboard, where Streamlit runs code outside a script run
(a download's data callable, a widget callback), where reads are shared (published datasets), and
where a crafted id or path names someone else's job, sweep or file."""

from __future__ import annotations

import ast
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from core import people, publish, workspace
from core.analysis import history
from core.data import access
from core.data.ingest import sources, table
from core.errors import UserError
from core.jobs.store import DONE, Store
from tests.test_spaces import ALICE, BOB, TEACHER, klass, make_images, use_class, who  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
TRAIN = {"config": {"dataset": "digits", "arch": "mnist_cnn", "lr": 0.01, "bs": 32, "epochs": 1}}


# --- deferred callables: a download's data=callable runs later, in a server thread ---------------


def _download_data(call: ast.Call) -> ast.expr | None:
    """The data argument of a download_button call (keyword or second positional)."""
    for kw in call.keywords:
        if kw.arg == "data":
            return kw.value
    return call.args[1] if len(call.args) > 1 else None


def _is_bound(node: ast.expr) -> bool:
    """True for identity.bound(…) (or bound(…))."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Attribute) and func.attr == "bound") or (
        isinstance(func, ast.Name) and func.id == "bound"
    )


def _callable_data(node: ast.expr, functions: set[str]) -> bool:
    """True when data is a callable: a lambda, a partial, or the name of a function of the module."""
    if isinstance(node, ast.Lambda):
        return True
    if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "partial":
        return True
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    return name in functions


def download_buttons() -> list[tuple[str, int, bool, bool]]:
    """(file, line, callable data, bound) of every download_button call in dashboard/ and pages/."""
    found = []
    for path in sorted([*(ROOT / "dashboard").rglob("*.py"), *(ROOT / "pages").rglob("*.py")]):
        tree = ast.parse(path.read_text(), filename=str(path))
        functions = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        functions |= {  # f = lambda: …
            t.id
            for n in ast.walk(tree)
            if isinstance(n, ast.Assign) and isinstance(n.value, ast.Lambda)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or getattr(node.func, "attr", None) != "download_button":
                continue
            data = _download_data(node)
            if data is None:
                continue
            rel = path.relative_to(ROOT).as_posix()
            found.append(
                (rel, node.lineno, _callable_data(data, functions) or _is_bound(data), _is_bound(data))
            )
    return found


def test_every_download_whose_data_is_a_callable_runs_it_as_the_person_drawing_the_page():
    buttons = download_buttons()
    deferred = [(f, line) for f, line, is_callable, _ in buttons if is_callable]
    # the scan sees the bundle's zip (built only when clicked): it must find what it guards
    assert any(f == "dashboard/bundle_view.py" for f, _ in deferred), buttons
    unbound = [(f, line) for f, line, is_callable, bound in buttons if is_callable and not bound]
    assert unbound == [], f"wrap these data= callables in identity.bound(...): {unbound}"


def test_bound_runs_the_callable_in_the_space_it_was_made_in_even_from_a_fresh_thread(klass):  # noqa: F811
    from dashboard import identity

    def where() -> tuple[str, str | None]:
        person = people.current()
        return workspace.current_name(), person.identity if person else None

    with who(ALICE):
        alice_space = workspace.current_name()
        deferred, plain = identity.bound(where), where
    got: dict[str, tuple] = {}
    thread = threading.Thread(target=lambda: got.update(bound=deferred(), plain=plain()))
    thread.start()
    thread.join(10)
    assert alice_space != workspace.DEFAULT_SPACE
    assert got["bound"] == (alice_space, ALICE)
    assert got["plain"] == (workspace.DEFAULT_SPACE, None)  # what an unbound callable would do


# --- sweeps, jobs, records: a store sees only the current space's ------------------------------


def test_alices_sweep_list_holds_her_sweeps_and_never_bobs(klass):  # noqa: F811
    from core.config import TrainConfig
    from core.jobs import sweeps
    from dashboard.views import sweep_results

    spec = sweeps.SweepSpec(TrainConfig(epochs=1), lr=(1e-3, 1e-2), sampler="random", budget=2)
    with who(BOB):
        sweeps.create(Store(), spec, name="bobs secret search")
    with who(ALICE):
        mine = sweeps.create(Store(), spec, name="alices search")
        listed = sweep_results.sweep_list()
    assert [i for i, _ in listed] == [mine]
    assert not any("bobs secret" in label for _, label in listed)


def test_a_job_cannot_build_on_another_persons_run(klass):  # noqa: F811
    with who(ALICE):
        alices = Store().submit("train", TRAIN)
    with who(BOB):
        bob = Store()
        for params, parent in [
            ({}, alices),
            ({"retrain_of": alices}, None),
            ({"continue": {"parent": alices, "unfreeze": False}}, alices),
        ]:
            with pytest.raises(UserError, match=f"^There is no run {alices}\\.$"):
                bob.submit("train", {**TRAIN, **params}, parent=parent)
        with pytest.raises(UserError, match=f"^There is no run {alices}\\.$"):
            bob.submit("crossval", {**TRAIN, "k": 2, "source_run": alices})
        assert bob.jobs() == []  # nothing was queued
        with pytest.raises(UserError, match="whole number"):
            bob.submit("crossval", {**TRAIN, "k": 2, "source_run": "1; DROP TABLE jobs"})
    with who(ALICE):  # her own run she may build on
        retrain = Store().submit("train", {**TRAIN, "retrain_of": alices})
        assert Store().get(retrain).parent == alices


def test_start_attempt_and_heartbeat_touch_only_jobs_in_the_stores_scope(klass):  # noqa: F811
    with who(ALICE):
        alices = Store().submit("train", TRAIN)
    workers = Store(everyone=True)
    assert workers.claim_next("w:1").id == alices
    before = workers.get(alices).heartbeat
    time.sleep(0.01)
    with who(BOB):
        bob = Store()
        assert bob.start_attempt(alices, "bob:666") == 0
        bob.heartbeat(None, "bob:666", also=(alices,))
    job = workers.get(alices)
    assert (job.attempts, job.worker, job.heartbeat) == (0, "w:1", before)
    assert workers.start_attempt(alices, "w:1") == 1  # the worker's own count is untouched


def test_deleting_a_run_never_names_another_persons_job(klass):  # noqa: F811
    with who(ALICE):
        store = Store()
        run = store.submit("train", TRAIN)
    workers = Store(everyone=True)
    workers.claim_next("w:1")
    workers.finish(run, DONE, result={"accuracy": 0.9})
    with who(BOB):  # a row from before submit refused it: bob's queued job naming alice's run
        store = Store()
        with store.transaction() as con:
            con.execute(
                "INSERT INTO jobs(kind, params, state, created, parent, lane, owner) "
                "VALUES ('train', '{}', 'QUEUED', 0, ?, 'compute', ?)",
                (run, workspace.current_name()),
            )
    with who(ALICE):
        history.delete(Store(), run)  # not "Job 2 is waiting to use run 1"
        assert Store().get(run).deleted is not None


def test_live_records_of_another_persons_job_are_empty(klass):  # noqa: F811
    from dashboard import live

    with who(ALICE):
        alices = Store().submit("train", TRAIN)
    workers = Store(everyone=True)
    workers.claim_next("w:1")
    workers.add_batches(alices, [(i, 1.0, 0.01, 0.9) for i in range(1, 6)])
    with who(ALICE):
        assert live.version(Store(), alices)[0] == 5
        assert len(live.records(Store(), alices).batches) == 5
    with who(BOB):
        assert live.version(Store(), alices) == (0, 0, 0)
        assert live.records(Store(), alices).batches.empty


# --- server paths: on a shared dashboard nobody imports from the workspace ----------------------


@pytest.fixture
def class_with_root(fresh_workspace, tmp_path, monkeypatch) -> Path:
    """A shared class whose import_root holds the whole workspace (tmp_path/ws) and a data folder."""
    use_class(tmp_path, monkeypatch, f'import_root = "{tmp_path}"')
    return tmp_path


def test_a_table_or_folder_in_another_persons_space_is_refused_though_under_the_import_root(
    class_with_root,
):
    frame = pd.DataFrame({"x": range(20), "y": ["a", "b"] * 10})
    with who(BOB):
        bobs = workspace.subdir("datasets") / "secret"
        bobs.mkdir(parents=True)
        frame.to_csv(bobs / "table.csv", index=False)
        make_images("bobs_pets")
    outside = class_with_root / "data"
    outside.mkdir()
    frame.to_csv(outside / "open.csv", index=False)
    with who(ALICE):
        with pytest.raises(UserError, match="inside the playground's own workspace"):
            table.add_table(str(bobs / "table.csv"), "stolen")
        with pytest.raises(UserError, match="inside the playground's own workspace"):
            sources.outside_folder(bobs.parent / "bobs_pets")
        with pytest.raises(UserError, match="inside the playground's own workspace"):
            table.add_table(str(workspace.workspace_root() / "runs.sqlite"), "store")
        assert "stolen" not in (p.name for p in workspace.subdir("datasets").iterdir())
        assert table.add_table(str(outside / "open.csv"), "mine").name == "mine"  # the class's data


# --- published datasets are read without a lock ------------------------------------------------


def test_a_published_dataset_read_by_one_learner_is_readable_by_another_and_withdrawable(klass):  # noqa: F811
    with who(TEACHER):
        make_images("lesson")
        publish.publish_dataset("lesson")
    got: dict[str, object] = {}

    def bob_reads() -> None:
        with who(BOB):
            try:
                got["files"] = len(access.items("lesson", wait=0.0).files)
            except UserError as e:
                got["files"] = str(e)

    with who(ALICE), access.dataset("lesson") as info:  # alice's long read (a decode) holds it open
        assert info.published
        thread = threading.Thread(target=bob_reads)
        thread.start()
        thread.join(10)
        assert got["files"] == 8
        with who(TEACHER):
            publish.withdraw_dataset("lesson")  # never "Another change … is being applied"
    with who(BOB):
        assert not publish.published_names("datasets")


# --- a widget callback runs before app.py: it acts in the signed-in person's space --------------


@pytest.fixture
def alices_results(trained_template, klass):  # noqa: F811
    """alice's space holding the Results template's dataset and its finished run 1 (hers)."""
    import shutil

    from tests.results_helpers import CFG

    template, result = trained_template
    with who(ALICE):
        space = workspace.root()
        for name in ("runs", "cache", f"datasets/{CFG.dataset}"):
            shutil.copytree(template / name, space / name, symlinks=True)
        (space / "datasets" / "digits").symlink_to(template / "datasets" / "digits")  # read only
        run = Store().submit("train", {"config": CFG.to_dict()})
    workers = Store(everyone=True)
    workers.claim_next("w:1")
    workers.finish(run, DONE, result=result)
    assert run == 1
    return CFG.dataset


def test_a_mark_set_by_a_widget_callback_lands_in_the_signed_in_persons_space(alices_results):
    from core.analysis import interpret, marks
    from dashboard import cleaner, identity
    from tests.apptest import open_page

    with identity.as_person(ALICE):  # the test thread itself acts as nobody: only the seam signs in
        at = open_page("../pages/results.py")
        with who(ALICE):
            file = interpret.top_losses(interpret.interpret(1).frame)["file"].iloc[0]
        at.radio(key=cleaner.mark_key("top", file)).set_value("delete").run()  # on_change=on_mark
    assert not at.exception, at.exception
    with who(ALICE):
        assert marks.load_marks(alices_results)[file]["action"] == "delete"
    with workspace.use_space(workspace.DEFAULT_SPACE):
        assert not (workspace.root() / "marks").exists()  # nothing written for nobody
        assert marks.load_marks(alices_results) == {}


def test_the_warm_up_of_a_shared_dashboard_writes_no_dataset_for_nobody(klass):  # noqa: F811
    from core.config import TrainConfig
    from dashboard import warm

    warm.warm_up(modules=("dashboard.figures",), overview=False)
    assert warm._dataset_ready.is_set()  # a page waiting for it does not wait in vain
    assert not (workspace.workspace_root() / "datasets" / TrainConfig().dataset).exists()
    assert not (workspace.workspace_root() / "datasets").exists() or not any(
        (workspace.workspace_root() / "datasets").iterdir()
    )


def test_the_worker_recovers_cut_short_cleanings_in_every_persons_space(klass, monkeypatch):  # noqa: F811
    """A crash mid-cleaning leaves a journal in whichever space it happened; the worker's start-up
    finishes or undoes each one in its own space (not only the laptop's)."""
    for identity in (ALICE, BOB):
        with who(identity):
            (workspace.subdir("journals") / "pets").mkdir()
    (workspace.subdir("journals") / "digits").mkdir()  # the laptop's own space
    seen = []
    monkeypatch.setattr(
        access, "recover", lambda name: seen.append((workspace.current_name(), name)) or ["ok"]
    )
    messages = access.recover_every_space()
    assert sorted(seen) == sorted(
        [("", "digits"), (people.space_name(ALICE), "pets"), (people.space_name(BOB), "pets")]
    )
    assert f"{people.space_name(BOB)}: ok" in messages


def test_the_results_of_a_published_dataset_show_its_marks_disabled_and_say_why(alices_results, monkeypatch):
    """On a dataset the teacher published, the cleaner's marks are shown disabled with a sentence
    (marking it would be refused), instead of offering a change that fails on click."""
    from core.data import datasets
    from dashboard import cleaner, identity
    from tests.apptest import open_page

    monkeypatch.setattr(datasets, "is_published", lambda name: name == alices_results)
    with identity.as_person(ALICE):
        at = open_page("../pages/results.py")
        with who(ALICE):
            from core.analysis import interpret

            file = interpret.top_losses(interpret.interpret(1).frame)["file"].iloc[0]
    assert not at.exception, at.exception
    assert at.radio(key=cleaner.mark_key("top", file)).disabled
    assert any("published by the teacher and read-only" in str(i.value) for i in at.info)
