"""What a live view reads, cheaply: the job row alone each second, and a job's records only when
new ones arrived, read incrementally and shared by every tab that watches the same job."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace

import pandas as pd

from core.jobs.snapshot import Snapshot, snapshot
from core.jobs.store import Store

EMPTY_BATCHES = pd.DataFrame(columns=["step", "loss", "lr", "mom"])
EMPTY_EPOCHS = pd.DataFrame(columns=["epoch", "phase", "step", "train_loss", "valid_loss", "seconds"])
KEPT = 8  # jobs whose records stay in memory (the ones being watched now)


class _JobOnly:
    """A store that answers snapshot() without the records: the progress line's one-row read."""

    def __init__(self, store: Store):
        self._store = store

    def __getattr__(self, name):
        return getattr(self._store, name)

    def batches(self, job_id: int, after_step: int = 0) -> pd.DataFrame:
        """No batch records (the progress line does not draw them)."""
        return EMPTY_BATCHES

    def epochs(self, job_id: int) -> pd.DataFrame:
        """No epoch records."""
        return EMPTY_EPOCHS


def job_snapshot(store: Store, job_id: int) -> Snapshot | None:
    """A job's snapshot without its records (empty frames): state, progress, queue place, time left."""
    return snapshot(_JobOnly(store), job_id)


def visible(store: Store, job_id: int) -> bool:
    """True when the store's scope holds the job (the current space's, or everyone's for a store
    that sees everyone): the records of any other job are nobody else's to read."""
    where, args = store.scope()
    return bool(store.read(f"SELECT 1 FROM jobs WHERE id = ?{where}", (int(job_id), *args)))


def version(store: Store, job_id: int) -> tuple[int, int, int]:
    """(batch records, last step, epoch records) of a job: changes exactly when records arrive;
    (0, 0, 0) for a job outside the store's scope."""
    return _counts(store, job_id) if visible(store, job_id) else (0, 0, 0)


def _counts(store: Store, job_id: int) -> tuple[int, int, int]:
    """version() without the scope check (its caller made it)."""
    row = store.read(
        "SELECT (SELECT COUNT(*) FROM batches WHERE job_id = ?), "
        "(SELECT COALESCE(MAX(step), 0) FROM batches WHERE job_id = ?), "
        "(SELECT COUNT(*) FROM epochs WHERE job_id = ?)",
        (job_id, job_id, job_id),
    )[0]
    return (row[0], row[1], row[2])


@dataclass(frozen=True)
class Records:
    """A job's records as of one version; `drawn` keeps what was built from them (one figure per
    version, shared by every tab), `drawn_epochs` what was built from the epochs alone (kept while
    only batches arrive)."""

    version: tuple[int, int, int]
    batches: pd.DataFrame
    epochs: pd.DataFrame
    drawn: dict = field(default_factory=dict, compare=False)
    drawn_epochs: dict = field(default_factory=dict, compare=False)


_CACHE: OrderedDict[tuple[str, int], Records] = OrderedDict()
_LOCK = threading.Lock()


def records(store: Store, job_id: int) -> Records:
    """A job's batch and epoch records, read again only when version() changed, and then only the
    batches after the last step held (the epochs only when their count changed). Empty records
    for a job outside the store's scope."""
    if not visible(store, job_id):
        return Records((0, 0, 0), EMPTY_BATCHES, EMPTY_EPOCHS)
    now = _counts(store, job_id)
    key = (str(store.path), job_id)
    with _LOCK:
        held = _CACHE.get(key)
        if held is not None:
            _CACHE.move_to_end(key)
    if held is not None and held.version == now:
        return held
    batches = None
    if held is not None and now[0] >= held.version[0] and now[1] >= held.version[1]:
        new = store.batches(job_id, after_step=held.version[1])
        if held.version[0] + len(new) == now[0]:  # appended only: extend what is held
            batches = pd.concat([held.batches, new], ignore_index=True) if len(new) else held.batches
    if batches is None:
        batches = store.batches(job_id)
    same_epochs = held is not None and held.version[2] == now[2]
    epochs = held.epochs if same_epochs else store.epochs(job_id)
    last = int(batches["step"].iloc[-1]) if len(batches) else 0
    kept = held.drawn_epochs if same_epochs else {}
    fresh = Records((len(batches), last, len(epochs)), batches, epochs, drawn_epochs=kept)
    with _LOCK:
        _CACHE[key] = fresh
        _CACHE.move_to_end(key)
        while len(_CACHE) > KEPT:
            _CACHE.popitem(last=False)
    return fresh


def drawn(rec: Records, name: str, build, epochs_only: bool = False):
    """build(rec), once per version of the records (of the epochs alone with epochs_only): what
    every tab re-sends while nothing is new."""
    held = rec.drawn_epochs if epochs_only else rec.drawn
    if name not in held:
        held[name] = build(rec)
    return held[name]


def full_snapshot(store: Store, job_id: int) -> Snapshot | None:
    """job_snapshot() with the (cached) records: what a live view's body draws."""
    snap = job_snapshot(store, job_id)
    if snap is None:
        return None
    rec = records(store, job_id)
    return replace(snap, batches=rec.batches, epochs=rec.epochs)
