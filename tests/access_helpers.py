"""Test helpers for the dataset-access layer: a lock held elsewhere, a crash left half-applied."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from core.data import access


@contextlib.contextmanager
def held_elsewhere(dataset: str) -> Iterator[None]:
    """The dataset's lock held by another thread for the block, as another process would hold it."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with access.lock(dataset, wait=5):
            taken.set()
            release.wait(60)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(10), "the other holder never got the lock"
    try:
        yield
    finally:
        release.set()
        thread.join(10)
