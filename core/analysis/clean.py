"""Cleaning a dataset safely: marks, plans, and their journalled application, undo and recovery.

A person marks images keep, delete or relabel (marks live in the workspace, keyed by dataset and
file). A plan freezes the marks with a fingerprint of each file. Applying a plan takes the
dataset's lock, writes an append-only, fsynced journal listing every move before any file moves,
then moves files: deletes go to the workspace trash, relabels go to another class folder and never
overwrite (a name clash gets a new name). A failure half-way rolls back what was moved; a crash
half-way is recovered from the journal at the next start (finished when every move was done,
rolled back otherwise). Undo reverses the last applied plan. Nothing is ever deleted for good.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core import workspace
from core.data.datasets import VALID_NAMES
from core.errors import PathEscapeError, UserError

ACTIONS = ("keep", "delete", "relabel")
LOCK_WAIT = 10.0  # seconds to wait for another apply or undo on the same dataset to finish
MAX_CLASS_NAME = 100

# Journal events
BEGIN, MOVED, APPLIED = "begin", "moved", "applied"
ROLLBACK_BEGIN, RESTORED, ROLLED_BACK = "rollback_begin", "restored", "rolled_back"
UNDO_BEGIN, UNDONE = "undo_begin", "undone"
RECOVERED = "recovered"

# States of an application, as read from its journal
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


class DatasetBusy(UserError):
    """Another apply, undo or recovery holds the dataset's lock."""


# --- where things live --------------------------------------------------------------------------


def dataset_root(dataset: str) -> Path:
    """The folder of a dataset in the workspace (built-ins are written out on first use)."""
    from core.data.datasets import resolve

    root = resolve(dataset).path.resolve()
    if not workspace.inside(root, workspace.subdir("datasets")):
        raise PathEscapeError(f"The dataset {dataset!r} is not inside the workspace's datasets folder.")
    return root


def _area(kind: str, dataset: str) -> Path:
    """workspace/<kind>/<dataset>, created (kind is journals, trash, marks or locks)."""
    folder = workspace.safe_join(workspace.subdir(kind), dataset)
    if folder.parent != workspace.subdir(kind):
        raise PathEscapeError(f"The dataset name {dataset!r} is not a plain folder name.")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def journal_dir(dataset: str) -> Path:
    """Where the journals of a dataset's applied plans are kept."""
    return _area("journals", dataset)


def trash_dir(dataset: str) -> Path:
    """Where a dataset's deleted files go (one sub-folder per applied plan)."""
    return _area("trash", dataset)


def _rel_to_ws(path: Path) -> str:
    return path.resolve().relative_to(workspace.root()).as_posix()


def _from_ws(rel: str) -> Path:
    """A journal's workspace-relative path, refused if it would leave the workspace."""
    return workspace.safe_join(workspace.root(), rel)


# --- small durable-file helpers -----------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the journal itself is fsynced
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def _flock(path: Path, wait: float, busy_message: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise DatasetBusy(busy_message) from None
                time.sleep(0.05)
        yield
    finally:
        handle.close()  # closing releases the lock


def dataset_lock(dataset: str, wait: float | None = None):
    """The one lock per dataset: held while a plan is applied or undone, or the files are read.

    Waits up to `wait` seconds (LOCK_WAIT by default), then says the dataset is busy.
    """
    path = _area("locks", dataset) / "dataset.lock"
    busy = f"Another change to {dataset} is being applied; try again in a moment."
    return _flock(path, LOCK_WAIT if wait is None else wait, busy)


# --- names that must stay inside the dataset -----------------------------------------------------


def check_class_name(name: str) -> str:
    """A class (folder) name, refused when it is empty, hidden, a path, or would leave the dataset."""
    if not isinstance(name, str) or not name.strip():
        raise UserError("A class name cannot be empty.")
    if name != name.strip():
        raise UserError(f"The class name {name!r} starts or ends with spaces.")
    if name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise PathEscapeError(f"The class name {name!r} is a path; a class is one folder name.")
    if name.startswith("."):
        raise UserError(f"The class name {name!r} starts with a dot: such folders are hidden and ignored.")
    if name in ("train", *VALID_NAMES):
        raise UserError(f"{name!r} names a split folder, not a class; choose another name.")
    if len(name) > MAX_CLASS_NAME:
        raise UserError(f"Class names are at most {MAX_CLASS_NAME} characters.")
    return name


def check_file(root: Path, rel: str) -> Path:
    """The dataset file at rel (class/image or split/class/image), refused when it would leave root."""
    if not isinstance(rel, str) or not rel or "\\" in rel:
        raise PathEscapeError(f"The file name {rel!r} is not a path inside the dataset.")
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts) or len(parts) < 2:
        raise PathEscapeError(f"The file {rel!r} is not of the form class/image inside the dataset.")
    path = workspace.safe_join(root, rel)
    if (root / rel).is_symlink():
        raise PathEscapeError(f"The file {rel!r} is a link; only plain files are moved.")
    return path


def relabel_target(rel: str, new_class: str) -> str:
    """Where a relabelled file goes: the same split, the new class folder, the same name."""
    parts = rel.split("/")
    return "/".join([*parts[:-2], check_class_name(new_class), parts[-1]])


# --- marks ---------------------------------------------------------------------------------------


def marks_path(dataset: str) -> Path:
    """The file that holds a dataset's marks."""
    return _area("marks", dataset) / "marks.json"


def load_marks(dataset: str) -> dict[str, dict]:
    """The marks of a dataset: {file: {"action": keep|delete|relabel, "to": class or None}}."""
    try:
        data = json.loads(marks_path(dataset).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict) and v.get("action") in ACTIONS}


def _edit_marks(dataset: str, change) -> dict[str, dict]:
    path = marks_path(dataset)
    with _flock(path.with_name("marks.lock"), 5.0, "The marks are being saved; try again."):
        marks = load_marks(dataset)
        change(marks)
        _write_atomic(path, json.dumps(marks, indent=1, sort_keys=True))
    return marks


def set_mark(dataset: str, file: str, action: str | None, to: str | None = None) -> dict[str, dict]:
    """Mark one file keep, delete or relabel (to a class); action None removes its mark."""
    if action is not None and action not in ACTIONS:
        raise UserError(f"Unknown mark {action!r}; choose keep, delete or relabel.")
    if action == "relabel":
        if to is None:
            raise UserError("Say which class to relabel to.")
        check_class_name(to)
    check_file(dataset_root(dataset), file)

    def change(marks: dict) -> None:
        if action is None:
            marks.pop(file, None)
        else:
            marks[file] = {"action": action, "to": to if action == "relabel" else None}

    return _edit_marks(dataset, change)


def clear_marks(dataset: str, files: list[str] | None = None) -> dict[str, dict]:
    """Remove the marks of some files, or all marks of the dataset."""

    def change(marks: dict) -> None:
        for f in list(marks) if files is None else files:
            marks.pop(f, None)

    return _edit_marks(dataset, change)


# --- plans ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedAction:
    """One file to delete or relabel, with the fingerprint it had when the plan was made."""

    file: str
    action: str  # delete or relabel
    to: str | None
    size: int
    sha256: str


@dataclass(frozen=True)
class Plan:
    """What applying a set of marks will do; its id depends only on the actions and the contents."""

    dataset: str
    actions: tuple[PlannedAction, ...]
    kept: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # marks that could not become actions, as sentences
    created: float = 0.0

    @property
    def id(self) -> str:
        """The same marks on the same file contents give the same id."""
        text = json.dumps([self.dataset, [asdict(a) for a in self.actions]], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def deletes(self) -> list[PlannedAction]:
        """The files this plan moves to the trash."""
        return [a for a in self.actions if a.action == "delete"]

    @property
    def relabels(self) -> list[PlannedAction]:
        """The files this plan moves to another class."""
        return [a for a in self.actions if a.action == "relabel"]

    def summary(self) -> str:
        """'3 deletes, 2 relabels (4 kept)'."""
        d, r = len(self.deletes), len(self.relabels)
        text = f"{d} delete{'s' * (d != 1)}, {r} relabel{'s' * (r != 1)}"
        return text + (f" ({len(self.kept)} kept as they are)" if self.kept else "")

    def to_dict(self) -> dict:
        """A JSON-ready dict (stored in the journal)."""
        return {
            "id": self.id,
            "dataset": self.dataset,
            "created": self.created,
            "actions": [asdict(a) for a in self.actions],
            "kept": list(self.kept),
            "problems": list(self.problems),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        """The plan a journal recorded."""
        return cls(
            data["dataset"],
            tuple(PlannedAction(**a) for a in data["actions"]),
            tuple(data.get("kept", ())),
            tuple(data.get("problems", ())),
            float(data.get("created", 0.0)),
        )


def make_plan(dataset: str, marks: dict[str, dict] | None = None) -> Plan:
    """Freeze marks (the stored ones by default) into a plan, fingerprinting every file.

    Paths and class names that would leave the dataset folder are refused with an error; a marked
    file that no longer exists, or a relabel to the class it is already in, becomes a problem
    sentence and no action.
    """
    root = dataset_root(dataset)
    marks = load_marks(dataset) if marks is None else marks
    actions, kept, problems = [], [], []
    for rel in sorted(marks):
        mark = marks[rel]
        action, to = mark.get("action"), mark.get("to")
        if action not in ACTIONS:
            raise UserError(f"Unknown mark {action!r} for {rel}; choose keep, delete or relabel.")
        path = check_file(root, rel)
        if action == "relabel":
            target = relabel_target(rel, to)
            workspace.safe_join(root, target)
            if target == rel:
                problems.append(f"{rel} is already in class {to}: nothing to relabel.")
                continue
        if not path.is_file():
            problems.append(f"{rel} is no longer in the dataset; its mark was left out.")
            continue
        if action == "keep":
            kept.append(rel)
            continue
        actions.append(
            PlannedAction(
                rel, action, to if action == "relabel" else None, path.stat().st_size, file_digest(path)
            )
        )
    return Plan(dataset, tuple(actions), tuple(kept), tuple(problems), time.time())


# --- journals ------------------------------------------------------------------------------------


class Journal:
    """One application's append-only journal: JSON lines, each fsynced before anything moves on."""

    def __init__(self, path: Path):
        self.path = path

    @property
    def id(self) -> str:
        """The application's id (the journal's file name)."""
        return self.path.stem

    def append(self, event: str, **data) -> None:
        """Add one event and make it durable."""
        fresh = not self.path.exists()
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": event, "time": time.time(), **data}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if fresh:
            _fsync_dir(self.path.parent)

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
    """A dataset's journals, oldest first."""
    return [Journal(p) for p in sorted(journal_dir(dataset).glob("*.jsonl"))]


def _new_journal(dataset: str) -> Journal:
    folder = journal_dir(dataset)
    numbers = [int(p.stem) for p in folder.glob("*.jsonl") if p.stem.isdigit()]
    return Journal(folder / f"{max(numbers, default=0) + 1:05d}.jsonl")


# --- moving files: never overwrite, always recoverable -------------------------------------------


def _move_no_clobber(src: Path, dst: Path) -> None:
    """Move src to dst; FileExistsError when dst exists (nothing is ever overwritten).

    A hard link then an unlink: the link fails atomically when dst exists, and a crash between
    the two leaves one file under two names, which recovery recognises (same inode).
    """
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno == errno.EXDEV:
            raise UserError(
                "The trash and the dataset must be on the same disk (inside the "
                "workspace) so that moves are atomic."
            ) from e
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # no hard links on this filesystem: check then rename, safe under the dataset lock
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "exists", str(dst)) from e
        os.rename(src, dst)
        return
    os.unlink(src)


def _free_name(folder: Path, name: str, taken: set[str]) -> str:
    """name, or name-1, name-2… : the first that is neither on disk in folder nor taken."""
    stem, suffix = os.path.splitext(name)
    candidate, n = name, 0
    while os.path.lexists(folder / candidate) or f"{folder}/{candidate}" in taken:
        n += 1
        candidate = f"{stem}-{n}{suffix}"
    taken.add(f"{folder}/{candidate}")
    return candidate


def _position(move: dict) -> str:
    """Where a move stands on disk: 'before', 'after', 'half' (both names, one file) or 'gone'.

    When both names hold different files, the contents decide: the file the plan fingerprinted
    is the one that was (or was not yet) moved; the other arrived from outside.
    """
    src, dst = _from_ws(move["src"]), _from_ws(move["dst"])
    s, d = os.path.lexists(src), os.path.lexists(dst)
    if s and d:
        if os.path.samefile(src, dst):
            return "half"
        moved = file_digest(dst) == move["sha256"] and file_digest(src) != move["sha256"]
        return "after" if moved else "before"
    if d:
        return "after"
    return "before" if s else "gone"


def _forward(move: dict) -> str:
    """Do one move (idempotent); returns the position it started from."""
    src, dst = _from_ws(move["src"]), _from_ws(move["dst"])
    where = _position(move)
    if where == "before":
        dst.parent.mkdir(parents=True, exist_ok=True)
        _move_no_clobber(src, dst)
    elif where == "half":
        os.unlink(src)
    return where


def _backward(move: dict, taken: set[str]) -> tuple[str, str | None]:
    """Put one moved file back (idempotent); returns (position it started from, new name or None).

    When something else now occupies the original name, the file comes back beside it under a
    new name rather than overwrite it.
    """
    src, dst = _from_ws(move["src"]), _from_ws(move["dst"])
    where = _position(move)
    renamed = None
    if where == "after":
        src.parent.mkdir(parents=True, exist_ok=True)
        target = src
        if os.path.lexists(src):
            target = src.parent / _free_name(src.parent, src.name, taken)
        try:
            _move_no_clobber(dst, target)
        except FileExistsError:
            target = src.parent / _free_name(src.parent, src.name, taken)
            _move_no_clobber(dst, target)
        if target != src:
            renamed = _rel_to_ws(target)
    elif where == "half":
        os.unlink(dst)
    return where, renamed


def _remove_empty_dirs(paths: list[str]) -> None:
    for rel in sorted(paths, key=lambda p: -p.count("/")):
        with contextlib.suppress(OSError):
            _from_ws(rel).rmdir()  # only when empty


# --- reports -------------------------------------------------------------------------------------


@dataclass
class ApplyReport:
    """What applying a plan did: the moves made, the files skipped (with why), and the journal."""

    apply_id: str | None
    moved: list[dict] = field(default_factory=list)  # {file, action, to, dest}
    skipped: list[dict] = field(default_factory=list)  # {file, reason}
    already_applied: bool = False

    def summary(self) -> str:
        """One sentence for the page."""
        if self.already_applied:
            return "This plan is already applied: nothing changed."
        d = sum(m["action"] == "delete" for m in self.moved)
        r = sum(m["action"] == "relabel" for m in self.moved)
        text = f"Moved {d} file(s) to the trash and relabelled {r}."
        if self.skipped:
            text += f" Skipped {len(self.skipped)}: changed or removed since the plan was made."
        return text


@dataclass
class UndoReport:
    """What an undo put back, and what it could not."""

    apply_id: str | None
    restored: list[str] = field(default_factory=list)
    renamed: list[dict] = field(default_factory=list)  # {file, as}
    missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One sentence for the page."""
        if self.apply_id is None:
            return "Nothing to undo."
        text = f"Undid change {self.apply_id}: {len(self.restored)} file(s) back where they were."
        if self.renamed:
            text += f" {len(self.renamed)} came back under a new name (the old one was taken)."
        if self.missing:
            text += f" {len(self.missing)} could not be found any more and stay missing."
        return text


# --- apply, undo, recover ------------------------------------------------------------------------


def _check_actions(plan: Plan, root: Path) -> tuple[list[PlannedAction], list[dict]]:
    ready, skipped = [], []
    for a in plan.actions:
        path = check_file(root, a.file)
        if a.action == "relabel":
            workspace.safe_join(root, relabel_target(a.file, a.to))
        if not path.is_file():
            skipped.append({"file": a.file, "reason": "removed since the plan was made"})
        elif path.stat().st_size != a.size or file_digest(path) != a.sha256:
            skipped.append({"file": a.file, "reason": "changed since the plan was made"})
        else:
            ready.append(a)
    return ready, skipped


def _moves_for(ready: list[PlannedAction], root: Path, trash: Path) -> tuple[list[dict], list[str]]:
    """Every move with its source and a free destination, and the folders that must be created."""
    taken: set[str] = set()
    moves, mkdirs = [], []
    for i, a in enumerate(ready):
        src = root / a.file
        if a.action == "delete":
            dst = trash / a.file
        else:
            target = root / relabel_target(a.file, a.to)
            dst = target.parent / _free_name(target.parent, target.name, taken)
        folder = dst.parent
        while not folder.exists():  # the folders this apply creates, removed again by undo
            mkdirs.append(_rel_to_ws(folder))
            folder = folder.parent
        moves.append(
            {
                "i": i,
                "file": a.file,
                "action": a.action,
                "to": a.to,
                "src": _rel_to_ws(src),
                "dst": _rel_to_ws(dst),
                "sha256": a.sha256,
            }
        )
    return moves, sorted(set(mkdirs))


def _dest_in_dataset(move: dict, root: Path) -> str:
    dst = _from_ws(move["dst"])
    return dst.relative_to(root).as_posix() if workspace.inside(dst, root) else move["dst"]


def apply_plan(plan: Plan) -> ApplyReport:
    """Apply a plan under the dataset's lock, journalled; see the module docstring.

    Files changed or removed since the plan was made are skipped and reported. Applying a plan
    that is already applied (and not undone) changes nothing. If a move fails, the moves already
    made are put back and a UserError says what happened.
    """
    root = dataset_root(plan.dataset)
    with dataset_lock(plan.dataset):
        _recover_locked(plan.dataset)
        for j in reversed(journals(plan.dataset)):
            b = j.begin()
            if b and b["plan"]["id"] == plan.id and j.state() == "applied":
                return ApplyReport(j.id, already_applied=True)
        ready, skipped = _check_actions(plan, root)
        journal = _new_journal(plan.dataset)
        trash = trash_dir(plan.dataset) / journal.id
        moves, mkdirs = _moves_for(ready, root, trash)
        if not moves:
            return ApplyReport(None, skipped=skipped)
        report = ApplyReport(journal.id, skipped=skipped)
        journal.append(BEGIN, plan=plan.to_dict(), moves=moves, mkdirs=mkdirs, skipped=skipped)
        done: list[dict] = []
        try:
            for move in moves:
                _forward(move)
                done.append(move)
                journal.append(MOVED, i=move["i"])
        except Exception as e:
            _roll_back(journal, moves, mkdirs, reason=f"{type(e).__name__}: {e}")
            raise UserError(
                f"Applying the plan failed at {moves[len(done)]['file']} ({e}); the "
                f"{len(done)} file(s) already moved were put back. Nothing changed."
            ) from e
        _finish(journal, moves)
    report.moved = [
        {"file": m["file"], "action": m["action"], "to": m["to"], "dest": _dest_in_dataset(m, root)}
        for m in moves
    ]
    # skipped files (changed or gone since the plan) keep their marks: the decision still stands
    clear_marks(plan.dataset, [m["file"] for m in moves] + list(plan.kept))
    return report


def _finish(journal: Journal, moves: list[dict]) -> None:
    for folder in {str(_from_ws(m["dst"]).parent) for m in moves} | {
        str(_from_ws(m["src"]).parent) for m in moves
    }:
        _fsync_dir(Path(folder))
    journal.append(APPLIED, n=len(moves))


def _roll_back(journal: Journal, moves: list[dict], mkdirs: list[str], reason: str) -> None:
    journal.append(ROLLBACK_BEGIN, reason=reason)
    taken: set[str] = set()
    for move in reversed(moves):
        where, renamed = _backward(move, taken)
        if where in ("after", "half"):
            journal.append(RESTORED, i=move["i"], renamed=renamed)
    _remove_empty_dirs(mkdirs)
    journal.append(ROLLED_BACK)


def _last_applied(dataset: str) -> Journal | None:
    for j in reversed(journals(dataset)):
        if j.state() == "applied":
            return j
    return None


def _undo_locked(journal: Journal) -> UndoReport:
    begin = journal.begin()
    moves = begin["moves"]
    root = dataset_root(begin["plan"]["dataset"])
    if journal.state() != UNDOING:
        journal.append(UNDO_BEGIN)
    report = UndoReport(journal.id)
    taken: set[str] = set()
    for move in reversed(moves):
        where, renamed = _backward(move, taken)
        if where == "gone":
            report.missing.append(move["file"])
        elif renamed:
            report.renamed.append({"file": move["file"], "as": _dest_in_dataset({"dst": renamed}, root)})
        else:
            report.restored.append(move["file"])
        if where in ("after", "half"):
            journal.append(RESTORED, i=move["i"], renamed=renamed)
    _remove_empty_dirs(begin["mkdirs"])
    with contextlib.suppress(OSError):
        (trash_dir(begin["plan"]["dataset"]) / journal.id).rmdir()
    journal.append(UNDONE, restored=len(report.restored), renamed=report.renamed, missing=report.missing)
    return report


def undo_last(dataset: str) -> UndoReport:
    """Reverse the most recent applied plan of a dataset, and bring its marks back.

    Files come back byte for byte where they were; a file whose old name is now taken comes back
    under a new name; one that has disappeared since is reported.
    """
    with dataset_lock(dataset):
        _recover_locked(dataset)
        journal = _last_applied(dataset)
        if journal is None:
            return UndoReport(None)
        report = _undo_locked(journal)
    plan = Plan.from_dict(journal.begin()["plan"])
    back = set(report.restored)
    marks = {a.file: {"action": a.action, "to": a.to} for a in plan.actions if a.file in back}
    marks.update({f: {"action": "keep", "to": None} for f in plan.kept})
    _edit_marks(dataset, lambda m: m.update(marks))
    return report


def _recover_locked(dataset: str) -> list[str]:
    """Finish or roll back every journal left unfinished by a crash; the lock must be held."""
    messages = []
    for journal in journals(dataset):
        state = journal.state()
        if state not in UNFINISHED:
            continue
        begin = journal.begin()
        moves, mkdirs = begin["moves"], begin["mkdirs"]
        if state == UNDOING:
            _undo_locked(journal)
            journal.append(RECOVERED, action="undo finished")
            messages.append(f"Finished undoing change {journal.id}, interrupted by a crash.")
            continue
        positions = [_position(m) for m in moves]
        if state == APPLYING and all(p in ("after", "half") for p in positions):
            for move in moves:
                _forward(move)
            _finish(journal, moves)
            journal.append(RECOVERED, action="apply finished")
            messages.append(
                f"Finished applying change {journal.id}, interrupted by a crash after its last move."
            )
        else:
            _roll_back(journal, moves, mkdirs, reason="interrupted by a crash")
            journal.append(RECOVERED, action="rolled back")
            messages.append(
                f"Rolled back change {journal.id}, interrupted by a crash: its files "
                "are back where they were."
            )
    return messages


def needs_recovery(dataset: str) -> bool:
    """True when a journal of the dataset was left unfinished (a crash while applying)."""
    return any(j.state() in UNFINISHED for j in journals(dataset))


def recover(dataset: str, wait: float = 0.0) -> list[str]:
    """Finish or roll back what a crash left half-applied; returns what was done, as sentences.

    Does nothing while another process holds the dataset's lock (it is applying right now).
    """
    if not needs_recovery(dataset):
        return []
    try:
        with dataset_lock(dataset, wait=wait):
            return _recover_locked(dataset)
    except DatasetBusy:
        return []


def recover_all() -> list[str]:
    """recover() for every dataset that has journals (call at start-up)."""
    messages = []
    for folder in sorted(p for p in workspace.subdir("journals").iterdir() if p.is_dir()):
        try:
            messages += recover(folder.name)
        except UserError as e:
            messages.append(f"{folder.name}: {e}")
    return messages


# --- history -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    """One applied plan as the history lists it."""

    apply_id: str
    time: float
    state: str
    deletes: int
    relabels: int
    skipped: int
    note: str = ""


def history(dataset: str) -> list[HistoryEntry]:
    """Every plan applied to the dataset, newest first, with what became of it."""
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
            new = _dest_in_dataset(m, root)
            for old, now in list(mapping.items()):
                if now == m["file"]:
                    mapping[old] = new
            mapping.setdefault(m["file"], new)
    return mapping
