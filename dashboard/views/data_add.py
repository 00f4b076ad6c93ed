"""Adding a dataset on the Data page: upload a zip, a folder or a CSV on the server, a table or
ratings in a CSV, draw shapes.

Uploads, folders and CSVs say what their labels are (one per image, several, a mask per image)
or leave it to the layout; each kind shows one sentence on the layout it expects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from core.data import coloured_shapes, ingest
from core.data.ingest import sources
from core.data.ingest.names import check_free
from core.data.ingest.report import Report
from core.errors import UserError
from core.fsutil import MB
from dashboard import state
from dashboard.markup import md
from dashboard.text import sections
from dashboard.views import data_download

# What the labels are: the task passed to ingestion (None: found from the layout), with the
# layout each expects, in one sentence.
KINDS: dict[str, tuple[str | None, str]] = {
    "Find out from the layout": (
        None,
        "`images/` beside `codes.txt` or `palette.csv` is read as masks, a CSV with Planet's `tags` "
        "column as several labels per image, anything else as one label per image.",
    ),
    "One label per image": (
        "single_label",
        "Class folders (`cats/…`, `dogs/…`), optionally inside `train/` and `valid/`, or a CSV of "
        "`file,label`.",
    ),
    "Several labels per image": (
        "multi_label",
        "Images with a `labels.csv` of `file,labels`, an image's labels separated by spaces "
        "(`a.jpg,cloudy water`; an `is_valid` column is optional), or Planet's `image_name,tags` "
        "with the images in `train/`.",
    ),
    "A mask per image": (
        "segmentation",
        "`images/` and `masks/` holding a PNG of the same name whose pixel values are class indices, "
        "with `codes.txt` naming the classes one per line (value 0 first); or colour masks with "
        "`palette.csv` (`r,g,b,class`, one colour per line); or CamVid's `images/`, "
        "`labels/<name>_P.png` and `codes.txt`.",
    ),
}


def kind_choice(key: str, kinds: tuple[str, ...] = tuple(KINDS)) -> str | None:
    """A radio of what the labels are, each with its layout as caption; returns the task (or None)."""
    label = st.radio(
        "What the labels are",
        kinds,
        key=key,
        captions=[KINDS[k][1] for k in kinds],  # our own markdown
        help="How the files handed in are read; refused, with the reason, when they do not fit.",
    )
    return KINDS[label][0]


def added(name: str, text: str, skipped: list[dict]) -> None:
    """Select the new dataset and say (once, after the rerun) what was added and left out."""
    st.session_state[state.DATASET] = name  # read by the selector and the sidebar on the rerun
    st.session_state[state.DATA_NOTICE] = {"text": text, "skipped": skipped}
    st.rerun()


def _run_ingest(work: Callable[[Callable[[float, str], None]], Report]) -> None:
    """Run an addition with a progress bar; show a refusal as a sentence, never a traceback."""
    bar = st.progress(0.0, text="starting…")
    try:
        report = work(lambda frac, text: bar.progress(min(1.0, max(0.0, frac)), text=text))
    except UserError as e:
        bar.empty()
        st.error(md(e), icon=":material/block:")
        return
    bar.empty()
    added(report.name, report.summary(show=md), [dataclasses.asdict(p) for p in report.skipped])


def add_dataset() -> None:
    """The six ways to add a dataset, each in its own tab."""
    with st.expander(
        "Add a dataset",
        icon=":material/add_photo_alternate:",
        expanded=st.session_state.get(state.DOWNLOAD_JOB) is not None,
    ):
        upload, folder, table, rows, catalogue, shapes = st.tabs(
            [
                "Upload a zip",
                "Folder on the server",
                "CSV of file,label",
                "Table or ratings (CSV)",
                "Download (fastai)",
                "Draw shapes",
            ]
        )
        with upload:
            upload_tab()
        with folder:
            folder_tab()
        with table:
            csv_tab()
        with rows:
            table_tab()
        with catalogue:
            data_download.catalogue_tab()
        with shapes:
            shapes_tab()


def upload_tab() -> None:
    """Upload a zip or tar of class folders (or train/ and valid/, or a labels.csv)."""
    text = sections("data")
    limits = ingest.DEFAULTS
    st.caption(text["upload"])
    up = st.file_uploader(
        "Zip of class folders",
        type=["zip", "tgz", "gz", "tar"],
        key="add_zip_file",
        max_upload_size=limits.max_archive_bytes // MB,
        help=text["upload_file"].format(
            max_mb=limits.max_archive_bytes // MB,
            max_files=f"{limits.max_files:,}",
            max_total_mb=f"{limits.max_total_bytes // MB:,}",
        ),
    )
    name = st.text_input(
        "Name for the upload", key="add_zip_name", placeholder="the zip's file name", help=text["upload_name"]
    )
    task = kind_choice("add_zip_kind")
    if st.button(
        "Add the upload",
        key="add_zip_go",
        disabled=up is None,
        icon=":material/upload:",
        help=text["upload_go"],
    ):
        _run_ingest(
            lambda p: ingest.add_archive(up, name or up.name, shown_as=up.name, progress=p, task=task)
        )


def server_files_note() -> bool:
    """Whether server folders may be read here; when not, say so (the class file turns it off),
    and when only one folder may be read, name it."""
    if not sources.folders_allowed():
        st.info(sources.FOLDERS_OFF, icon=":material/lock:")
        return False
    root = sources.import_root()
    if root is not None:
        st.caption(f"Only files inside {md(str(root))} may be read on this server.")
    return True


def folder_tab() -> None:
    """Copy in a folder on the machine running the dashboard."""
    text = sections("data")
    st.caption(text["folder"])
    if not server_files_note():
        return
    path = st.text_input(
        "Folder path", key="add_folder_path", placeholder="/data/pets", help=text["folder_path"]
    )
    fname = st.text_input(
        "Name for the folder",
        key="add_folder_name",
        placeholder="the folder's name",
        help=text["folder_name"],
    )
    task = kind_choice("add_folder_kind")
    if st.button(
        "Add the folder",
        key="add_folder_go",
        disabled=not path,
        icon=":material/folder_open:",
        help=text["folder_go"],
    ):
        _run_ingest(lambda p: ingest.add_folder(path, fname or Path(path).name, progress=p, task=task))


def csv_tab() -> None:
    """Copy in the images a CSV of file,label names, with the labels as written."""
    text = sections("data")
    st.caption(text["csv"])
    if not server_files_note():
        return
    csv_path = st.text_input(
        "CSV path", key="add_csv_path", placeholder="/data/pets/labels.csv", help=text["csv_path"]
    )
    cname = st.text_input(
        "Name for the CSV's dataset",
        key="add_csv_name",
        placeholder="the CSV's folder name",
        help=text["csv_name"],
    )
    task = kind_choice(
        "add_csv_kind", ("Find out from the layout", "One label per image", "Several labels per image")
    )
    if st.button(
        "Add from the CSV",
        key="add_csv_go",
        disabled=not csv_path,
        icon=":material/table:",
        help=text["csv_go"],
    ):
        _run_ingest(
            lambda p: ingest.add_csv(csv_path, cname or Path(csv_path).parent.name, progress=p, task=task)
        )


TABLE_KINDS = {"A table (CSV)": "table", "Ratings (CSV)": "ratings"}  # the choice → add_table's kind


def table_tab() -> None:
    """A table or ratings in a CSV, uploaded or on the server: read with limits, roles proposed."""
    from core.data.csv_reader import CsvLimits

    text = sections("data_table")
    limits = CsvLimits()
    st.caption(text["add"])
    label = st.radio("Kind", list(TABLE_KINDS), horizontal=True, key="add_table_kind", help=text["add_kind"])
    up = st.file_uploader(
        "CSV file",
        type=["csv", "txt", "tsv"],
        key="add_table_file",
        max_upload_size=max(1, limits.max_bytes // MB),
        help=text["add_file"].format(
            max_mb=limits.max_bytes // MB,
            max_rows=f"{limits.max_rows:,}",
            max_columns=f"{limits.max_columns:,}",
            max_cell=f"{limits.max_cell:,}",
        ),
    )
    path = ""
    if sources.folders_allowed():
        path = st.text_input(
            "Or a CSV path on the server",
            key="add_table_path",
            placeholder="/data/adult.csv",
            help=text["add_path"],
        )
    tname = st.text_input(
        "Name for the table", key="add_table_name", placeholder="the file's name", help=text["add_name"]
    )
    if st.button(
        "Add the table",
        key="add_table_go",
        disabled=up is None and not path,
        icon=":material/table_chart:",
        help=text["add_go"],
    ):
        source, shown = (up.getvalue(), up.name) if up is not None else (Path(path), Path(path).name)
        add_table(source, tname or shown, TABLE_KINDS[label], shown)


def add_table(source: bytes | Path, name: str, kind: str, shown: str) -> None:
    """Add a table or ratings (core.data.ingest.table.add_table); a refusal shown as its sentence."""
    from core import tasks
    from core.data import access
    from core.data.ingest import table as table_ingest

    try:
        with st.spinner("Reading the CSV…"):
            info = table_ingest.add_table(source, name, kind=kind, shown_as=shown)
            rows = len(access.items(info.name).frame)
    except UserError as e:
        st.error(md(e), icon=":material/block:")
        return
    task = tasks.get(info.task).title.lower()
    added(info.name, sections("data_table")["added"].format(name=md(info.name), rows=rows, task=task), [])


def shapes_tab() -> None:
    """Draw a new coloured-shapes dataset from a seed."""
    text = sections("data")
    st.caption(text["shapes"])
    left, right = st.columns(2)
    seed = left.number_input("Seed", 0, 2**31 - 1, 1, key="add_shapes_seed", help=text["shapes_seed"])
    per_class = right.number_input(
        "Images per shape", 10, 2000, 160, step=10, key="add_shapes_n", help=text["shapes_n"]
    )
    if st.button("Draw them", key="add_shapes_go", icon=":material/category:", help=text["shapes_go"]):
        name = f"shapes_seed{int(seed)}_{int(per_class)}"
        try:
            check_free(name)
            with st.spinner("Drawing…"):
                coloured_shapes.generate_shapes(name, int(seed), int(per_class))
        except UserError as e:
            st.error(md(e))
            return
        added(name, f"Added {name}: {3 * int(per_class):,} images of 3 shapes, seed {int(seed)}.", [])
