"""Every reader of a dataset's files goes through core.data.access: locked, and after crash recovery.

A crash half-way through a cleaning leaves a journal open; whichever reader comes next must see the
folder as it was before the crash (rolled back), never the half-moved one. A reader that finds the
lock held waits for it, and says the dataset is busy when it stays held.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from core import workspace
from core.config import TrainConfig
from core.data import access, journal
from tests.access_helpers import held_elsewhere
from tests.results_helpers import folder_bytes
from tests.test_clean import crash_while_applying, write_toy

N_FILES = 24  # two splits, three classes, four images each


@pytest.fixture
def toy(fresh_workspace) -> Path:
    """datasets/toy as in test_clean, but real 8×8 PNG images (decodable), each different."""
    return write_toy(fresh_workspace / "datasets" / "toy", decodable=True)


@pytest.fixture
def crashed(toy) -> dict[str, bytes]:
    """toy with a cleaning that crashed after four of its five moves (a relabel into a new class d
    among them); returns the folder as it was before."""
    before = folder_bytes(toy)
    crash_while_applying("moves.move_no_clobber", 5, "moves.move_no_clobber = crash")
    assert journal.needs_recovery("toy")
    assert folder_bytes(toy) != before and (toy / "train" / "d").is_dir()
    return before


def interpretation_items():
    from core.analysis import interpret

    items = interpret.dataset_items(TrainConfig(dataset="toy"))
    return len(items.files), sorted(set(items.labels))


def model_page_input():
    from dashboard import model_view

    given = model_view.dataset_input("toy")
    return given.n_classes, given.channels


def image_check():
    seen = []
    problems = access.check_images("toy", progress=lambda f, text: seen.append(text))
    return problems, seen[-1]


def training_loaders():
    from core.data import loaders

    bundle = loaders.build(TrainConfig(dataset="toy", bs=4), device="cpu")
    return bundle.n_train + bundle.n_valid, bundle.vocab


READERS = {
    "interpretation's dataset_items": (interpretation_items, (N_FILES, ["a", "b", "c"])),
    "the Model page's channel count": (model_page_input, (3, 3)),
    "the Data page's image check": (image_check, ([], f"checked {N_FILES} images")),
    "training's loaders": (training_loaders, (N_FILES, ["a", "b", "c"])),
}


@pytest.mark.parametrize("reader", list(READERS))
def test_a_reader_sees_the_folder_recovered_from_a_crash(toy, crashed, reader):
    read, expected = READERS[reader]
    assert read() == expected  # four classes and fewer files, had it read the half-moved folder
    assert not journal.needs_recovery("toy")
    assert folder_bytes(toy) == crashed
    (entry,) = journal.history("toy")
    assert entry.state == "rolled back"


def test_move_to_trash_recovers_first_and_moves_only_what_it_is_given(toy, crashed):
    folder = access.move_to_trash("toy", ["train/a/a0.png"])
    assert not journal.needs_recovery("toy")
    assert (folder / "train/a/a0.png").read_bytes() == crashed["train/a/a0.png"]
    assert folder_bytes(toy) == {k: v for k, v in crashed.items() if k != "train/a/a0.png"}


@pytest.mark.parametrize("reader", list(READERS))
def test_a_held_lock_makes_a_reader_refuse_with_the_busy_message(toy, monkeypatch, reader):
    monkeypatch.setattr(access, "LOCK_WAIT", 0.2)
    with held_elsewhere("toy"):
        with pytest.raises(workspace.Busy, match="Another change to toy is being applied"):
            READERS[reader][0]()


def test_a_reader_waits_for_a_lock_released_in_time(toy):
    out: list = []
    with held_elsewhere("toy"):
        t0 = time.monotonic()
        reader = threading.Thread(target=lambda: out.append(interpretation_items()))
        reader.start()
        time.sleep(0.5)
        assert out == []  # still waiting
    reader.join(10)  # the holder let go on leaving the block
    assert out == [(N_FILES, ["a", "b", "c"])]
    assert time.monotonic() - t0 >= 0.5


def test_the_lock_is_reentrant_in_one_thread_and_exclusive_across_threads(toy, monkeypatch):
    monkeypatch.setattr(access, "LOCK_WAIT", 0.2)
    with access.dataset("toy") as info:
        assert access.items(info).root == info.path  # nested: no deadlock
        errors: list = []

        def other() -> None:
            try:
                access.items("toy")
            except workspace.Busy as e:
                errors.append(str(e))

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(10)
        assert errors and "Another change to toy" in errors[0]
    assert not access.holds("toy")


def test_the_data_package_never_imports_the_cleaner():
    root = Path(__file__).resolve().parents[1] / "core" / "data"
    for path in root.rglob("*.py"):
        assert "core.analysis" not in path.read_text(), path
