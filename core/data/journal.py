"""A dataset's durable journal of file moves: one append-only JSON-lines file per change, and history.

Each change (an applied plan, say) gets `workspace/journals/<dataset>/NNNNN.jsonl`. Its first event,
`begin`, lists every move (and, for a multi-label dataset, every retag with labels.csv's text before
and after) before the first file moves; each later event is fsynced before anything moves on, so
after a crash the journal says exactly how far the change got.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from core.data.places import dataset_root, in_dataset, journal_dir
from core.fsutil import fsync_dir

# Journal events
BEGIN, MOVED, APPLIED = "begin", "moved", "applied"
ROLLBACK_BEGIN, RESTORED, ROLLED_BACK = "rollback_begin", "restored", "rolled_back"
UNDO_BEGIN, UNDONE = "undo_begin", "undone"
RECOVERED = "recovered"

# States of a change, as read from its journal
APPLYING, UNDOING, ROLLING_BACK = "applying", "undoing", "rolling back"
STATE_OF = {
    BEGIN: APPLYING,
    MOVED: APPLYING,
    APPLIED: "applied",
    ROLLBACK_BEGIN: ROLLING_BACK,
    ROLLED_BACK: "rolled back",
    UNDO_BEGIN: UNDOING,
    UNDONE: "undone",
}
UNFINISHED = (APPLYING, UNDOING, ROLLING_BACK)


class Journal:
    """One change's append-only journal: JSON lines, each fsynced before anything moves on."""

    def __init__(self, path: Path):
        self.path = path

    @property
    def id(self) -> str:
        """The change's id (the journal's file name)."""
        return self.path.stem

    def append(self, event: str, **data) -> None:
        """Add one event and make it durable."""
        fresh = not self.path.exists()
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": event, "time": time.time(), **data}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if fresh:
            fsync_dir(self.path.parent)

    def events(self) -> list[dict]:
        """Every complete event; a torn last line (a crash while writing it) is ignored."""
        out = []
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return out
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def begin(self) -> dict | None:
        """The begin event: the plan and every move, as written before the first move."""
        return next((e for e in self.events() if e["event"] == BEGIN), None)

    def state(self) -> str:
        """applying, applied, rolling back, rolled back, undoing or undone."""
        states = [STATE_OF[e["event"]] for e in self.events() if e["event"] in STATE_OF]
        return states[-1] if states else "empty"


def journals(dataset: str) -> list[Journal]:
    """A dataset's journals, oldest first (none when it never had a change)."""
    folder = journal_dir(dataset, create=False)
    if not folder.is_dir():
        return []
    return [Journal(p) for p in sorted(folder.glob("*.jsonl"))]


def new_journal(dataset: str) -> Journal:
    """The next journal of a dataset (numbered after the last one; not written yet)."""
    folder = journal_dir(dataset)
    numbers = [int(p.stem) for p in folder.glob("*.jsonl") if p.stem.isdigit()]
    return Journal(folder / f"{max(numbers, default=0) + 1:05d}.jsonl")


def last_applied(dataset: str) -> Journal | None:
    """The most recent change still applied (not undone), if any."""
    for j in reversed(journals(dataset)):
        if j.state() == "applied":
            return j
    return None


def needs_recovery(dataset: str) -> bool:
    """True when a journal of the dataset was left unfinished (a crash while applying)."""
    return any(j.state() in UNFINISHED for j in journals(dataset))


@dataclass(frozen=True)
class HistoryEntry:
    """One applied change as the history lists it."""

    apply_id: str
    time: float
    state: str
    deletes: int
    relabels: int
    skipped: int
    note: str = ""
    retags: int = 0  # images of a multi-label dataset given a new set of tags


def history(dataset: str) -> list[HistoryEntry]:
    """Every change applied to the dataset, newest first, with what became of it."""
    out = []
    for j in journals(dataset):
        begin = j.begin()
        if begin is None:
            continue
        moves = begin["moves"]
        events = j.events()
        notes = [
            e.get("action") or e.get("reason") for e in events if e["event"] in (RECOVERED, ROLLBACK_BEGIN)
        ]
        out.append(
            HistoryEntry(
                j.id,
                begin["time"],
                j.state(),
                sum(m["action"] == "delete" for m in moves),
                sum(m["action"] == "relabel" for m in moves),
                len(begin.get("skipped", [])),
                "; ".join(n for n in notes if n),
                len((begin.get("retag") or {}).get("rows", [])),
            )
        )
    return out[::-1]


def renames(dataset: str, since: float = 0.0) -> dict[str, str]:
    """{old file: file now} for relabels applied (and not undone) after `since` (a time), chained."""
    mapping: dict[str, str] = {}
    root = dataset_root(dataset)
    for j in journals(dataset):
        begin = j.begin()
        if begin is None or begin["time"] < since or j.state() != "applied":
            continue
        for m in begin["moves"]:
            if m["action"] != "relabel":
                continue
            new = in_dataset(m["dst"], root)
            for old, now in list(mapping.items()):
                if now == m["file"]:
                    mapping[old] = new
            mapping.setdefault(m["file"], new)
    return mapping
