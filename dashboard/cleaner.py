"""The cleaner's widgets: an image grid with keep/delete/relabel marks, the plan, apply, undo, history.

The plan, apply, undo and history serve single-label (relabel moves a file to another class
folder) and multi-label datasets (retag gives an image a new set of tags in labels.csv; its grid
is dashboard/views/results_multi.py) alike.

Marks are stored in the workspace (core.analysis.marks), keyed by dataset and file; every widget mirrors the
stored mark on each run, so marks survive filter changes, page switches, reloads and other tabs.
"""

from __future__ import annotations

import hashlib
import io
from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from core.analysis import marks as marks_
from core.analysis import plans
from core.data import datasets, journal, labels
from core.data.label_rows import current_tags
from core.data.places import dataset_root
from core.errors import UserError
from dashboard import state
from dashboard.markup import md

UNMARKED = "unmarked"
CHOICES = (UNMARKED, *marks_.ACTIONS)
THUMB = 96  # pixels: small images are enlarged to this, big ones shrunk
PAGE_SIZES = (12, 24, 48)


def _digest(file: str) -> str:
    return hashlib.sha1(file.encode()).hexdigest()[:12]


def mark_key(prefix: str, file: str) -> str:
    """The widget key of a file's mark in one view (the same file may show in several views)."""
    return f"{prefix}_mark_{_digest(file)}"


def relabel_key(prefix: str, file: str) -> str:
    """The widget key of a file's relabel target in one view."""
    return f"{prefix}_to_{_digest(file)}"


@st.cache_data(show_spinner=False, max_entries=4000)
def thumbnail(path: str, mtime_ns: int) -> bytes:
    """A PNG of the image at most THUMB pixels a side; tiny images enlarged without blurring."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        w, h = img.size
        scale = THUMB / max(w, h)
        resample = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), resample)
        out = io.BytesIO()
        img.save(out, format="PNG")
        return out.getvalue()


def on_mark(dataset: str, file: str, key: str, default_to: str | list[str]) -> None:
    """A mark radio changed: store its choice (a relabel or retag keeps the target chosen before)."""
    choice = st.session_state.get(key)
    stored = marks_.load_marks(dataset).get(file, {})
    try:
        if choice == "relabel":
            marks_.set_mark(dataset, file, "relabel", stored.get("to") or default_to)
        elif choice == "retag":  # the tags chosen before, else default_to (its tags now)
            again = stored.get("action") == "retag" and stored.get("to") is not None
            marks_.set_mark(dataset, file, "retag", stored["to"] if again else default_to)
        else:
            marks_.set_mark(dataset, file, None if choice in (None, UNMARKED) else choice)
    except UserError as e:
        st.toast(str(e), icon=":material/error:")


def _on_relabel(dataset: str, file: str, key: str) -> None:
    try:
        marks_.set_mark(dataset, file, "relabel", st.session_state[key])
    except UserError as e:
        st.toast(str(e), icon=":material/error:")


def image_grid(
    rows: pd.DataFrame, dataset: str, root: Path, classes: list[str], prefix: str, columns: int = 6
) -> None:
    """Images with actual, predicted, probability, loss and split, each with its mark controls
    (shown disabled, with a sentence saying why, for a dataset the teacher published)."""
    marks = marks_.load_marks(dataset)
    read_only = datasets.is_published(dataset)
    if read_only:
        st.info(
            f"{md(dataset)} is published by the teacher and read-only: to clean it, make your own "
            "copy on the Data page, train on the copy, and mark its images here.",
            icon=":material/lock:",
        )
    for n, row in enumerate(rows.itertuples(index=False)):
        if n % columns == 0:
            grid = st.columns(columns)  # one row at a time: reading order is ranking order
        path = root / row.file
        with grid[n % columns].container(border=True):
            try:
                st.image(thumbnail(str(path), path.stat().st_mtime_ns), width=THUMB)
            except OSError:
                st.caption("(the file is gone)")
            verdict = ":green[:material/check:]" if row.actual == row.predicted else ":red[:material/close:]"
            st.markdown(
                f"{verdict} **{md(row.actual)}** → {md(row.predicted)}  \n"
                f"p {row.probability:.2f} · loss {row.loss:.2f} · {row.split}"
            )
            st.caption(Path(row.file).name, help=row.file)
            mark = marks.get(row.file, {})
            key = mark_key(prefix, row.file)
            st.session_state[key] = mark.get("action", UNMARKED)  # the stored mark is the truth
            others = [c for c in classes if c != row.actual] or list(classes)
            default_to = row.predicted if row.predicted in others else others[0]
            st.radio(
                f"Mark {row.file}",
                CHOICES,
                key=key,
                label_visibility="collapsed",
                on_change=on_mark,
                args=(dataset, row.file, key, default_to),
                disabled=read_only,
                help="keep: the label is right; delete: move the image to the trash; "
                "relabel: move it to another class. Nothing changes until you apply.",
            )
            if mark.get("action") == "relabel":
                rkey = relabel_key(prefix, row.file)
                to = mark.get("to")
                st.session_state[rkey] = to if to in others else default_to
                st.selectbox(
                    "Relabel to",
                    others,
                    key=rkey,
                    on_change=_on_relabel,
                    args=(dataset, row.file, rkey),
                    disabled=read_only,
                    help="The class this image really shows; it moves to that folder.",
                )


def paged(rows: pd.DataFrame, key: str) -> pd.DataFrame:
    """One page of rows, with a page-size choice and a page number under the same key."""
    left, right = st.columns(2)
    size = left.selectbox(
        "Images per page",
        PAGE_SIZES,
        key=f"{key}_size",
        persist_state="session",
        help="How many images to show at once; fewer keeps the page quick.",
    )
    pages = max(1, -(-len(rows) // size))
    if st.session_state.get(f"{key}_page", 1) > pages:  # a filter left fewer pages
        st.session_state[f"{key}_page"] = 1
    page = right.number_input(
        "Page",
        min_value=1,
        max_value=pages,
        step=1,
        key=f"{key}_page",
        help=f"Which page of the ranking to show: there are {pages}.",
    )
    start = (int(page) - 1) * size
    return rows.iloc[start : start + size]


def _multi(dataset: str) -> bool:
    from core.data.datasets import resolve

    return resolve(dataset).task == "multi_label"


def _unused_changes(dataset: str) -> list[str]:
    """The history columns of changes this dataset's task cannot make (segmentation: only deletes)."""
    from core.data.datasets import resolve

    task = resolve(dataset).task
    return {"single_label": ["retags"], "multi_label": ["relabels"]}.get(task, ["relabels", "retags"])


def marks_summary(dataset: str) -> str:
    """'3 delete, 2 relabel, 1 keep' for the stored marks ('2 retag' for a multi-label dataset)."""
    counts = pd.Series([m["action"] for m in marks_.load_marks(dataset).values()]).value_counts()
    change = "retag" if _multi(dataset) else "relabel"
    return ", ".join(f"{counts.get(a, 0)} {a}" for a in ("delete", change, "keep"))


def tag_text(cell: str | None) -> str:
    """A labels cell as a person reads a set of tags: 'circle, star', or '(none)'."""
    return ", ".join((cell or "").split()) or "(none)"


def plan_table(plan: plans.Plan) -> pd.DataFrame:
    """One row per file the plan changes: file, action, from (label or tags), to (label, tags or trash)."""
    root = dataset_root(plan.dataset)
    if _multi(plan.dataset):
        now = current_tags(root)
        rows = [
            {
                "file": a.file,
                "action": a.action,
                "from": tag_text(a.old if a.action == "retag" else now.get(a.file)),
                "to": tag_text(a.to) if a.action == "retag" else "trash",
            }
            for a in plan.actions
        ]
        return pd.DataFrame(rows, columns=["file", "action", "from", "to"])
    mapping = labels.load_mapping(root)
    rows = [
        {
            "file": a.file,
            "action": a.action,
            "from": labels.label_of(a.file.split("/")[-2], mapping),
            "to": a.to if a.action == "relabel" else "trash",
        }
        for a in plan.actions
    ]
    return pd.DataFrame(rows, columns=["file", "action", "from", "to"])


def notice(kind: str, text: str, details: list[dict] | None = None) -> None:
    """Show text as a toast now and once more at the top of the plan or history (show_notice)."""
    st.session_state[state.RESULTS_NOTICE] = (kind, text, details or [])
    st.toast(text, icon=":material/check:" if kind == "success" else ":material/warning:")


def show_notice() -> None:
    """The outcome of the last apply or undo, shown once."""
    notice = st.session_state.get(state.RESULTS_NOTICE)
    if not notice:
        return
    kind, text, details = notice
    {"success": st.success, "warning": st.warning, "error": st.error}[kind](text)
    if details:
        st.dataframe(pd.DataFrame(details), hide_index=True)
    st.session_state[state.RESULTS_NOTICE] = None


def plan_section(dataset: str) -> None:
    """The outcome of the last apply or undo, the marks so far, "Apply…" to see the plan, then
    confirm or cancel."""
    show_notice()
    marks = marks_.load_marks(dataset)
    multi = _multi(dataset)
    st.write(f"Marked so far: {marks_summary(dataset)}.")
    left, right = st.columns(2)
    if left.button(
        "Apply…",
        type="primary",
        icon=":material/playlist_add_check:",
        disabled=not any(m["action"] != "keep" for m in marks.values()),
        help="Show the plan: which files go to the trash and which "
        + ("get new tags. " if multi else "change class. ")
        + "Nothing changes until you confirm.",
    ):
        try:
            plan = plans.make_plan(dataset)
            st.session_state[state.RESULTS_PLAN] = {"plan": plan.to_dict(), "marks": marks}
        except UserError as e:
            st.error(str(e))
    if right.button(
        "Clear all marks",
        icon=":material/backspace:",
        disabled=not marks,
        help="Forget every mark on this dataset (no file is touched).",
    ):
        marks_.clear_marks(dataset)
        st.session_state[state.RESULTS_PLAN] = None
        st.rerun()
    pending = st.session_state.get(state.RESULTS_PLAN)
    if not pending or pending["plan"]["dataset"] != dataset:
        return
    if pending["marks"] != marks:
        st.session_state[state.RESULTS_PLAN] = None
        st.info("The marks changed since the plan was shown; press Apply… again to see the new plan.")
        return
    plan = plans.Plan.from_dict(pending["plan"])
    with st.container(border=True):
        change = (
            "retagged ones get their new tags in labels.csv (the old ones are kept in the journal)"
            if multi
            else "relabelled ones move to their new class folder (never over another file)"
        )
        st.markdown(
            f"**The plan: {plan.summary()}.** Deleted images go to the workspace trash; "
            f"{change}. You can undo it afterwards."
        )
        st.dataframe(plan_table(plan), hide_index=True)
        for problem in plan.problems:
            st.caption(problem)
        go, cancel = st.columns(2)
        if go.button(
            "Confirm and apply",
            type="primary",
            icon=":material/check:",
            disabled=not plan.actions,
            help="Make the changes now, as listed; a journal records every one of them first.",
        ):
            st.session_state[state.RESULTS_PLAN] = None
            try:
                report = plans.apply_plan(plan)
            except UserError as e:
                notice("error", str(e))
            else:
                notice("warning" if report.skipped else "success", report.summary(), report.skipped)
            st.rerun()
        if cancel.button(
            "Cancel", icon=":material/close:", help="Close the plan; your marks stay as they are."
        ):
            st.session_state[state.RESULTS_PLAN] = None
            st.rerun()


@st.cache_data(show_spinner=False, max_entries=16)
def _history(root: str, dataset: str, stamp: tuple) -> list[journal.HistoryEntry]:
    return journal.history(dataset)


def history(dataset: str) -> list[journal.HistoryEntry]:
    """journal.history, read again only when one of the dataset's journals changed (not on a mark)."""
    from core import workspace
    from core.data.access import journals_stamp

    return _history(str(workspace.root()), dataset, journals_stamp(dataset))


def history_section(dataset: str) -> None:
    """Every applied plan, newest first, and Undo for the last one still applied."""
    entries = history(dataset)
    if not entries:
        st.caption("No changes applied to this dataset yet.")
    else:
        table = pd.DataFrame(
            [
                {
                    "change": e.apply_id,
                    "when": datetime.fromtimestamp(e.time).strftime("%Y-%m-%d %H:%M:%S"),
                    "deletes": e.deletes,
                    "relabels": e.relabels,
                    "retags": e.retags,
                    "skipped": e.skipped,
                    "state": e.state,
                    "note": e.note,
                }
                for e in entries
            ]
        )
        st.dataframe(table.drop(columns=_unused_changes(dataset)), hide_index=True)
    undoable = any(e.state == "applied" for e in entries)
    if st.button(
        "Undo the last change",
        icon=":material/undo:",
        disabled=not undoable,
        help="Put every file of the most recent applied change back where it was (and every retagged "
        "image's old tags), and bring back its marks.",
    ):
        try:
            report = plans.undo_last(dataset)
        except UserError as e:
            notice("error", str(e))
        else:
            problems = [{"file": f, "problem": "missing"} for f in report.missing] + [
                {"file": r["file"], "problem": f"came back as {r['as']}"} for r in report.renamed
            ]
            notice("warning" if problems else "success", report.summary(), problems)
        st.rerun()
