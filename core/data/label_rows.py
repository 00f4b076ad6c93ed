"""Label sets inside a change: a multi-label dataset's labels.csv rows, retagged and put back.

A retag gives an image a new set of tags (core.data.layouts' format: tags separated by single
spaces, an empty cell for none). `retag_change` works out labels.csv's whole text before and
after, and each row's old and new tags; the change stores that in its journal before the file
is written, so apply, roll back, undo and crash recovery each bring the file exactly to one of
the two texts. Forward and backward are idempotent and write the file atomically; when someone
else edited labels.csv meanwhile, only the retagged rows are changed and the rest stay theirs.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from core.errors import UserError
from core.fsutil import atomic_write

LABELS_CSV = "labels.csv"


def tags_key(cell: str | None) -> tuple[str, ...]:
    """The set a labels cell names, sorted (so "b a" and "a  b" are the same set)."""
    return tuple(sorted(set((cell or "").split())))


def join_tags(tags) -> str:
    """Tags as a labels cell: sorted, unique, separated by single spaces ("" for none)."""
    return " ".join(tags_key(" ".join(tags)))


def _read(root: Path) -> str | None:
    try:
        return (root / LABELS_CSV).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{LABELS_CSV} of this dataset cannot be read: {e}") from e


def _parse(text: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))  # as layouts reads it
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["file", "labels"]:
        raise UserError(f"{LABELS_CSV} must start with the header file,labels.")
    return rows[0], [r for r in rows[1:] if r]


def _dump(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def is_multi(root: Path) -> bool:
    """True when the dataset at root keeps its label sets in labels.csv (a multi-label dataset)."""
    return (Path(root) / LABELS_CSV).is_file()


def current_tags(root: Path) -> dict[str, str]:
    """{file: its labels cell} as labels.csv says now (empty when the dataset has none)."""
    text = _read(Path(root))
    if text is None:
        return {}
    _, rows = _parse(text)
    return {r[0]: (r[1] if len(r) > 1 else "") for r in rows}


def _edited(text: str, edits: dict[str, str], check: dict[str, str] | None = None) -> str:
    """text with each edited file's labels cell replaced (only where it still holds check's set)."""
    header, rows = _parse(text)
    for row in rows:
        if row and row[0] in edits:
            while len(row) < 2:
                row.append("")
            if check is None or tags_key(row[1]) == tags_key(check[row[0]]):
                row[1] = edits[row[0]]
    return _dump(header, rows)


def retag_change(root: Path, edits: dict[str, str]) -> dict | None:
    """What retagging does to labels.csv: {file, before, after, rows: [{file, old, new}]}; None for nothing.

    edits maps a file to its new labels cell; every file must have a row (UserError otherwise).
    """
    if not edits:
        return None
    root = Path(root)
    before = _read(root)
    if before is None:
        raise UserError(f"This dataset has no {LABELS_CSV}: there are no label sets to edit.")
    now = current_tags(root)
    missing = sorted(f for f in edits if f not in now)
    if missing:
        raise UserError(f"{missing[0]} is not listed in {LABELS_CSV}; reload the page.")
    rows = [{"file": f, "old": now[f], "new": edits[f]} for f in sorted(edits)]
    return {"file": LABELS_CSV, "before": before, "after": _edited(before, edits), "rows": rows}


def _clean_temps(root: Path) -> None:
    """Remove temporary copies of labels.csv a crash left behind (atomic_write's hidden temp)."""
    for tmp in root.glob(f".{LABELS_CSV}.*.tmp"):
        tmp.unlink(missing_ok=True)


def retag_done(root: Path, change: dict | None) -> bool:
    """True when labels.csv already holds the change's new tags (or the change has none)."""
    if not change:
        return True
    text = _read(Path(root))
    if text is None:
        return False
    if text == change["after"]:
        return True
    now = current_tags(Path(root))
    return all(tags_key(now.get(r["file"])) == tags_key(r["new"]) for r in change["rows"])


def retag_forward(root: Path, change: dict | None) -> None:
    """Give the change's files their new tags (idempotent)."""
    if not change:
        return
    root = Path(root)
    _clean_temps(root)
    now = _read(root)
    if now is None or now == change["after"]:
        return
    if now == change["before"]:
        atomic_write(root / change["file"], change["after"])
        return
    rows = change["rows"]
    text = _edited(now, {r["file"]: r["new"] for r in rows}, {r["file"]: r["old"] for r in rows})
    if text != now:
        atomic_write(root / change["file"], text)


def retag_backward(root: Path, change: dict | None) -> list[str]:
    """Give the change's files their old tags back, byte for byte when nothing else changed.

    Returns the files whose old tags are in labels.csv afterwards (a row removed meanwhile is not).
    """
    if not change:
        return []
    root = Path(root)
    _clean_temps(root)
    now = _read(root)
    rows = change["rows"]
    if now is None:
        return []
    if now == change["after"]:
        atomic_write(root / change["file"], change["before"])
    elif now != change["before"]:
        text = _edited(now, {r["file"]: r["old"] for r in rows}, {r["file"]: r["new"] for r in rows})
        if text != now:
            atomic_write(root / change["file"], text)
    back = current_tags(root)
    return [r["file"] for r in rows if r["file"] in back and tags_key(back[r["file"]]) == tags_key(r["old"])]
