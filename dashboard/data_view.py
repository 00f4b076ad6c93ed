"""The Data page's parts: choose and add datasets, the overview, the pipeline, augmentation, checks.

torch is imported only inside the pipeline and augmentation views, so the page opens fast.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core import workspace
from core.config import Augment
from core.data import datasets, download, images, ingest
from core.errors import UserError
from core.jobs.store import DONE, FAILED
from dashboard import data_figures, runs, state
from dashboard.train_form import chosen_augment

SECTIONS = ("Overview", "Pipeline", "Augmentation", "Check images")
W_SECTION = "data_section"
W_CHECK = "data_check_result"  # the last "Check images" result: dataset, stamp, problems
SAMPLES_PER_CLASS = 8
MAX_CLASSES_SHOWN = 12
THUMB = 72  # pixels a sample is shown at
PIPE_PX = 112  # pixels a pipeline step is shown at
PIPE_TITLES = {
    "file": "The file",
    "resized": "Resized",
    "floats": "As floats",
    "augmented": "Augmented",
    "normalised": "Normalised",
}
MB = 2**20


# --- choosing and adding ---------------------------------------------------------------------


def show_notice() -> None:
    """The result of the last addition, once: what was added and every file left out."""
    notice = st.session_state.get(state.DATA_NOTICE)
    if not notice:
        return
    st.session_state[state.DATA_NOTICE] = None
    st.success(notice["text"], icon=":material/check_circle:")
    if notice.get("skipped"):
        with st.expander(f"{len(notice['skipped'])} file(s) left out, and why"):
            st.dataframe(pd.DataFrame(notice["skipped"]), hide_index=True)


def _kind(name: str) -> str:
    """built-in, upload, folder, CSV or download: where a dataset came from."""
    if name in datasets.BUILTINS:
        return "built-in"
    source = str(datasets.metadata(workspace.subdir("datasets") / name).get("source", ""))
    return source.split(" ", 1)[0].replace("archive", "upload") or "folder"


W_DATASET = "data_dataset"  # the Data page's own selector; state.DATASET is the shared choice


def _chosen() -> None:
    st.session_state[state.DATASET] = st.session_state[W_DATASET]


def choose_dataset() -> str:
    """The dataset selector; the choice goes to state.DATASET, which the Train page follows."""
    names = datasets.available()
    current = st.session_state.get(state.DATASET)
    if current not in names:
        current = st.session_state[state.DATASET] = names[0]
    st.session_state[W_DATASET] = current
    return st.selectbox(
        "Dataset",
        names,
        key=W_DATASET,
        on_change=_chosen,
        format_func=lambda n: f"{n} · {_kind(n)}",
        help="The images the pages work on and the Train page trains on; add your own below.",
    )


def _added(name: str, text: str, skipped: list[dict]) -> None:
    st.session_state[state.DATASET] = name  # read by the selector and the sidebar on the rerun
    st.session_state[state.DATA_NOTICE] = {"text": text, "skipped": skipped}
    st.rerun()


def _run_ingest(work: Callable[[Callable[[float, str], None]], ingest.Report]) -> None:
    """Run an addition with a progress bar; show a refusal as a sentence, never a traceback."""
    bar = st.progress(0.0, text="starting…")
    try:
        report = work(lambda frac, text: bar.progress(min(1.0, max(0.0, frac)), text=text))
    except UserError as e:
        bar.empty()
        st.error(str(e), icon=":material/block:")
        return
    bar.empty()
    _added(report.name, report.summary(), [dataclasses.asdict(p) for p in report.skipped])


def add_dataset() -> None:
    """The five ways to add a dataset, each in its own tab."""
    limits = ingest.Limits()
    with st.expander(
        "Add a dataset",
        icon=":material/add_photo_alternate:",
        expanded=st.session_state.get(state.DOWNLOAD_JOB) is not None,
    ):
        upload, folder, table, catalogue, shapes = st.tabs(
            ["Upload a zip", "Folder on the server", "CSV of file,label", "Download (fastai)", "Draw shapes"]
        )
        with upload:
            st.caption(
                "A zip of class folders (cats/…, dogs/…), optionally inside train/ and "
                "valid/. Files are recognised by their content; anything that is not an "
                "image is skipped and listed."
            )
            up = st.file_uploader(
                "Zip of class folders",
                type=["zip", "tgz", "gz", "tar"],
                key="add_zip_file",
                max_upload_size=limits.max_archive_bytes // MB,
                help=f"At most {limits.max_archive_bytes // MB} MB, {limits.max_files:,} files and "
                f"{limits.max_total_bytes // MB:,} MB unpacked.",
            )
            name = st.text_input(
                "Name for the upload",
                key="add_zip_name",
                placeholder="the zip's file name",
                help="Letters, digits and _; leave empty to use the file's name.",
            )
            if st.button(
                "Add the upload",
                key="add_zip_go",
                disabled=up is None,
                icon=":material/upload:",
                help="Check every file, then add the images as a new dataset.",
            ):
                _run_ingest(lambda p: ingest.add_archive(up, name or up.name, shown_as=up.name, progress=p))
        with folder:
            st.caption(
                "A folder on the machine running the dashboard: class folders, or train/ "
                "and valid/ holding class folders. It is copied into the workspace."
            )
            path = st.text_input(
                "Folder path",
                key="add_folder_path",
                placeholder="/data/pets",
                help="The full path of the folder on the server's machine.",
            )
            fname = st.text_input(
                "Name for the folder",
                key="add_folder_name",
                placeholder="the folder's name",
                help="Letters, digits and _; leave empty to use the folder's name.",
            )
            if st.button(
                "Add the folder",
                key="add_folder_go",
                disabled=not path,
                icon=":material/folder_open:",
                help="Check every file, then copy the images in as a new dataset.",
            ):
                _run_ingest(lambda p: ingest.add_folder(path, fname or Path(path).name, progress=p))
        with table:
            st.caption(
                "A CSV with a file and a label column (a header such as file,label is "
                "optional; an is_valid column sets the split). Paths are relative to the "
                "CSV's folder."
            )
            csv_path = st.text_input(
                "CSV path",
                key="add_csv_path",
                placeholder="/data/pets/labels.csv",
                help="The full path of the CSV on the server's machine.",
            )
            cname = st.text_input(
                "Name for the CSV's dataset",
                key="add_csv_name",
                placeholder="the CSV's folder name",
                help="Letters, digits and _; leave empty to use the folder's name.",
            )
            if st.button(
                "Add from the CSV",
                key="add_csv_go",
                disabled=not csv_path,
                icon=":material/table:",
                help="Check every row and image, then copy them in as a new dataset.",
            ):
                _run_ingest(
                    lambda p: ingest.add_csv(csv_path, cname or Path(csv_path).parent.name, progress=p)
                )
        with catalogue:
            catalogue_tab()
        with shapes:
            shapes_tab()


def shapes_tab() -> None:
    """Draw a new coloured-shapes dataset from a seed."""
    st.caption(
        "Circles, squares and triangles in random colours, sizes, places and angles. "
        "The same seed always draws the same images."
    )
    left, right = st.columns(2)
    seed = left.number_input(
        "Seed",
        0,
        2**31 - 1,
        1,
        key="add_shapes_seed",
        help="Which random drawing: another seed gives other images.",
    )
    per_class = right.number_input(
        "Images per shape",
        10,
        2000,
        160,
        step=10,
        key="add_shapes_n",
        help="How many circles, squares and triangles to draw each.",
    )
    if st.button(
        "Draw them",
        key="add_shapes_go",
        icon=":material/category:",
        help="Generate the images and add them as a new dataset.",
    ):
        name = f"shapes_seed{int(seed)}_{int(per_class)}"
        try:
            ingest.check_free(name)
            with st.spinner("Drawing…"):
                datasets.generate_shapes(name, int(seed), int(per_class))
        except UserError as e:
            st.error(str(e))
            return
        _added(name, f"Added {name}: {3 * int(per_class):,} images of 3 shapes, seed {int(seed)}.", [])


def catalogue_tab() -> None:
    """fastai's datasets: size, state, a Download button (disabled offline, with the reason)."""
    online, reason = download.availability()
    if not online:
        st.warning(
            f"Offline: {reason}. Downloads are off; everything else works.", icon=":material/cloud_off:"
        )
    active = _active_download()
    for entry in download.CATALOGUE.values():
        cols = st.columns([4, 1, 2])
        cols[0].markdown(f"**{entry.title}** · `{entry.key}`  \n{entry.description}")
        cols[1].write(ingest.human_size(entry.size))
        if download.installed(entry):
            cols[2].write(f"✅ added as {entry.name}")
            continue
        cached = download.cached_archive(entry) is not None
        why = (
            "Extract the archive already in the download cache."
            if cached
            else f"Download {ingest.human_size(entry.size)} from fastai's server."
        )
        if not online and not cached:
            why = f"Unavailable offline: {reason}."
        if cols[2].button(
            "Add from cache" if cached else "Download",
            key=f"dl_{entry.key}",
            icon=":material/download:",
            disabled=(not online and not cached) or active is not None,
            help=why,
        ):
            job_id = runs.submit("download", {"key": entry.key})
            st.session_state[state.DOWNLOAD_JOB] = job_id
            st.rerun()
    download_monitor()


def _active_download():
    return next((j for j in runs.active_jobs() if j.kind == "download"), None)


def download_monitor() -> None:
    """The download being followed: a progress bar while it runs, its outcome when it ends."""
    job_id = st.session_state.get(state.DOWNLOAD_JOB)
    if job_id is None:
        active = _active_download()
        job_id = active.id if active else None
    if job_id is None or runs.store().get(job_id) is None:
        return
    polling = not runs.store().get(job_id).finished_state

    @st.fragment(run_every="1s" if polling else None)
    def view() -> None:
        job = runs.store().get(job_id)
        key = job.params.get("key", "")
        title = download.CATALOGUE[key].title if key in download.CATALOGUE else key
        if not job.finished_state:
            text = job.message or ("queued" if job.state == "QUEUED" else "starting")
            st.progress(min(1.0, max(0.0, job.progress)), text=f"{title}: {text}")
            if st.button(
                "Stop the download",
                key=f"dl_stop_{job.id}",
                icon=":material/stop:",
                help="Stop now; nothing partial is kept.",
            ):
                runs.store().request_cancel(job.id)
            runs.keep_worker_alive()
            return
        result = job.result or {}
        if job.state == FAILED:
            st.error(f"{title}: {job.error}")
        elif result.get("cancelled"):
            st.info(f"{title}: stopped; nothing was kept.")
        elif job.state == DONE:
            st.success(result.get("summary") or f"{title} is ready as {result.get('dataset')}.")
        if polling:
            if job.state == DONE and result.get("dataset") and not result.get("cancelled"):
                st.session_state[state.DATASET] = result["dataset"]
            st.rerun()

    view()


# --- what is in the dataset ------------------------------------------------------------------


def load(name: str) -> tuple[datasets.DatasetInfo, datasets.Items]:
    """The dataset and its items (train/valid as training splits them by default), or stop."""
    try:
        with st.spinner(f"Preparing {name}…"):
            info = datasets.resolve(name)
            items = datasets.read_image_folder(info.path)
    except UserError as e:
        st.error(str(e))
        st.stop()
    return info, items


def stamp(items: datasets.Items) -> str:
    """A short fingerprint of the file list, so cached views notice added or removed files."""
    h = hashlib.sha1(str(items.root).encode())
    for f in items.files:
        h.update(f.encode() + b"\0")
    return h.hexdigest()[:16]


@st.cache_data(show_spinner=False, max_entries=20)
def _sizes(root: str, stamp_: str, _files: tuple[str, ...]) -> pd.DataFrame:
    # keyed by the folder and its stamp; the file list itself is not hashed on every rerun
    return data_figures.size_table(images.image_sizes(Path(root), list(_files)))


def _thumb(path: Path, px: int) -> np.ndarray | None:
    """An image scaled to fit px (small ones enlarged with visible pixels); None if unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            scale = px / max(img.size)
            size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
            method = Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.LANCZOS
            return np.asarray(img.resize(size, method))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


UNREADABLE = np.full((THUMB, THUMB, 3), 200, dtype=np.uint8)  # a grey square in its place


def enlarge(arr: np.ndarray, px: int) -> np.ndarray:
    """Repeat pixels so a tiny tensor shows as blocks about px wide (no blurring), framed."""
    k = max(1, px // max(arr.shape[0], arr.shape[1]))
    return framed(np.repeat(np.repeat(arr, k, axis=0), k, axis=1))


def framed(arr: np.ndarray, pad: int = 3) -> np.ndarray:
    """A white margin, so pictures side by side do not run into one another."""
    widths = ((pad, pad), (pad, pad)) + ((0, 0),) * (arr.ndim - 2)
    return np.pad(arr, widths, constant_values=255)


def overview(info: datasets.DatasetInfo, items: datasets.Items) -> None:
    """Counts per class and split, image sizes, a grid of samples, and where the data came from."""
    meta = datasets.metadata(info)
    n_valid = sum(items.is_valid)
    cols = st.columns(4)
    cols[0].metric("images", f"{len(items.files):,}")
    cols[1].metric("classes", len(items.vocab))
    cols[2].metric("training", f"{len(items.files) - n_valid:,}")
    cols[3].metric("validation", f"{n_valid:,}")
    split = meta.get("split") or "a random 20% becomes validation when training"
    st.markdown(
        f"**Split:** {split}. The model learns from the training images only; the "
        "validation images measure how well it does on pictures it has never seen."
    )
    counts = data_figures.class_counts(list(zip(items.files, items.labels, items.is_valid)))
    st.plotly_chart(data_figures.class_counts_figure(counts), key="class_counts")
    table = _sizes(str(items.root), stamp(items), tuple(items.files))
    if len(table) == 1:
        w, h = table.iloc[0][["width", "height"]]
        st.markdown(f"**Image sizes:** every image is {w}×{h} pixels.")
    else:
        st.markdown(
            f"**Image sizes:** {len(table):,} different sizes; training resizes them all "
            f"to one square size ({info.default_size}×{info.default_size} by default)."
        )
        st.plotly_chart(data_figures.size_figure(table), key="image_sizes")
    st.markdown("**Samples per class**")
    rng = random.Random(0)
    shown = items.vocab[:MAX_CLASSES_SHOWN]
    if len(items.vocab) > MAX_CLASSES_SHOWN:
        shown = st.multiselect(
            "Classes to show",
            items.vocab,
            default=shown,
            key="data_classes",
            help="Which classes the sample grid shows.",
        )
    unreadable = []
    for cls in shown:
        files = [f for f, lab in zip(items.files, items.labels) if lab == cls]
        picked = sorted(rng.sample(files, min(SAMPLES_PER_CLASS, len(files))))
        thumbs = [_thumb(items.root / f, THUMB) for f in picked]
        unreadable += [f for f, t in zip(picked, thumbs) if t is None]
        captions = [cls if i == 0 else "" for i in range(len(picked))]
        captions = [c or ("unreadable" if t is None else "") for c, t in zip(captions, thumbs)]
        st.image([framed(UNREADABLE if t is None else t) for t in thumbs], caption=captions, width=THUMB + 6)
    if unreadable:
        st.warning(
            f"{', '.join(unreadable)} cannot be read; training would stop there. "
            "Use Check images to find every such file and move them to the trash."
        )
    skipped = meta.get("skipped") or []
    if skipped:
        with st.expander(f"{meta.get('n_skipped', len(skipped))} file(s) were left out when it was added"):
            st.dataframe(pd.DataFrame(skipped), hide_index=True)


# --- what the model sees ---------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=8)
def _normalisation(root: str, stamp_: str, size: int) -> tuple[list[float], list[float], int]:
    from core.data import pipeline

    norm = pipeline.normalisation(datasets.read_image_folder(Path(root)), size)
    return norm.mean.tolist(), norm.std.tolist(), norm.n_train


def pipeline_view(info: datasets.DatasetInfo, items: datasets.Items) -> None:
    """One image from the file to the model's input, with the tensor's numbers at each step."""
    import torch

    from core.data import pipeline

    st.caption(
        "An image is a grid of numbers. Follow one through the steps training uses, and "
        "watch its shape (rank = number of axes) and its values change."
    )
    left, middle, right = st.columns(3)
    cls = left.selectbox("Class", items.vocab, key="pipe_class", help="Which class to take the image from.")
    files = [f for f, lab in zip(items.files, items.labels) if lab == cls]
    number = middle.number_input(
        "Image", 1, len(files), 1, key="pipe_number", help="Which image of the class (in file-name order)."
    )
    size = right.slider(
        "Image size",
        8,
        128,
        info.default_size,
        key=f"pipe_size_{info.name}",
        help="The square side training resizes to; the Train page uses the dataset's default.",
    )
    augment = st.toggle(
        "Show augmentation draws",
        True,
        key="pipe_augment",
        help="Add the random changes chosen under Augmentation, four times.",
    )
    if st.button(
        "New draws", key="pipe_redraw", icon=":material/casino:", help="Draw the random augmentations again."
    ):
        st.session_state["pipe_seed"] = st.session_state.get("pipe_seed", 0) + 1
    file = files[min(int(number), len(files)) - 1]
    with st.spinner("Decoding every image once into the tensor cache (training reuses it)…"):
        mean, std, _n = _normalisation(str(items.root), stamp(items), int(size))
    norm = pipeline.Normalisation(torch.tensor(mean), torch.tensor(std), _n)
    steps = pipeline.image_steps(
        items,
        file,
        int(size),
        norm,
        chosen_augment() if augment else None,
        n_draws=4,
        seed=st.session_state.get("pipe_seed", 0),
    )
    st.caption(f"{file} ({'validation' if items.is_valid[items.files.index(file)] else 'training'} image)")
    for number_, group in enumerate(dict.fromkeys(s.group for s in steps), start=1):
        shown = [s for s in steps if s.group == group]
        st.markdown(f"**{number_}. {PIPE_TITLES[group]}** — {shown[0].what}")
        st.image(
            [enlarge(s.picture, PIPE_PX) for s in shown],
            width=PIPE_PX + 6,
            caption=[f"{s.name}: {' × '.join(map(str, s.stats.shape))}" for s in shown],
        )
    rows = [{"step": f"{s.group}: {s.name}", **s.stats.row()} for s in steps]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        key="pipe_stats",
        column_config={
            c: st.column_config.NumberColumn(format="%.4f") for c in ("min", "max", "mean", "std")
        },
    )
    shape = steps[-1].stats.shape
    st.info(
        f"The model takes a batch of these: 64 × {' × '.join(map(str, shape))} for a batch of "
        f"64 — a rank-{len(shape) + 1} tensor (batch, channels, height, width).",
        icon=":material/view_in_ar:",
    )


def augmentation_view(info: datasets.DatasetInfo, items: datasets.Items) -> None:
    """Controls for each random change, a live preview grid, and whether training uses them."""
    from core.data import pipeline

    st.caption(
        "Augmentation shows the model a slightly different version of each image every "
        "epoch, so it learns the object rather than the exact pixels."
    )
    a = chosen_augment()
    left, right = st.columns(2)
    flip = left.toggle(
        "Flip left-right",
        a.flip,
        key="aug_flip",
        help="Mirror half the images: right for photos, wrong for digits and text.",
    )
    rotate = left.slider(
        "Rotate (± degrees)",
        0,
        180,
        int(a.max_rotate),
        step=5,
        key="aug_rotate",
        help="Turn each image by a random angle up to this, either way.",
    )
    zoom = left.slider(
        "Zoom (up to ×)",
        1.0,
        2.0,
        float(a.max_zoom),
        step=0.05,
        key="aug_zoom",
        help="Magnify by a random factor up to this; 1.0 means no zoom.",
    )
    warp = right.slider(
        "Warp (perspective)",
        0.0,
        0.5,
        float(a.max_warp),
        step=0.05,
        key="aug_warp",
        help="Tilt the picture as if photographed at a slant; 0 means none.",
    )
    light = right.slider(
        "Lighting (±)",
        0.0,
        0.9,
        float(a.max_lighting),
        step=0.05,
        key="aug_light",
        help="Change brightness and contrast by up to this fraction.",
    )
    shift = right.slider(
        "Shift (fraction of the side)",
        0.0,
        0.5,
        float(a.max_translate),
        step=0.05,
        key="aug_shift",
        help="Move the picture by up to this share of its width and height.",
    )
    spec = Augment(
        flip=flip,
        max_rotate=float(rotate),
        max_zoom=float(zoom),
        max_translate=float(shift),
        max_lighting=float(light),
        max_warp=float(warp),
    )
    st.session_state[state.AUGMENT] = dataclasses.asdict(spec)
    st.session_state.setdefault("data_use_augment", bool(st.session_state.get("cfg_augment")))
    use = st.toggle(
        "Use these augmentations when training",
        key="data_use_augment",
        help="Switches on Augmentation on the Train page; validation images are never augmented.",
    )
    st.session_state["cfg_augment"] = use
    st.caption(f"Each training batch gets: {spec.describe()}.")
    if st.button(
        "New draws", key="aug_redraw", icon=":material/casino:", help="Draw the random changes again."
    ):
        st.session_state["aug_seed"] = st.session_state.get("aug_seed", 0) + 1
    rng = random.Random(1)
    picked = []
    for cls in items.vocab[:4]:
        files = [f for f, lab in zip(items.files, items.labels) if lab == cls]
        picked.append(items.root / rng.choice(files))
    grid = pipeline.augment_preview(
        picked, info.default_size, spec, 6, seed=st.session_state.get("aug_seed", 0)
    )
    for path, row in zip(picked, grid):
        st.image(
            [enlarge(p, THUMB) for p in row],
            width=THUMB + 6,
            caption=[f"{path.parent.name}: original"] + [f"draw {k}" for k in range(1, 7)],
        )


def check_view(info: datasets.DatasetInfo, items: datasets.Items) -> None:
    """Decode every image as training will; list the ones that fail; move them to the trash."""
    st.caption(
        "Training stops at the first image it cannot read. This decodes every image in "
        "full and lists the ones that fail, by name."
    )
    fingerprint = stamp(items)
    if st.button(
        "Check every image",
        key="check_go",
        icon=":material/fact_check:",
        help=f"Open and decode all {len(items.files):,} images (a few seconds per thousand).",
    ):
        bar = st.progress(0.0)
        problems = images.check_files(items.root, items.files, progress=lambda f, t: bar.progress(f, text=t))
        bar.empty()
        st.session_state[W_CHECK] = {
            "dataset": info.name,
            "stamp": fingerprint,
            "problems": [dataclasses.asdict(p) for p in problems],
        }
    result = st.session_state.get(W_CHECK)
    if not result or result["dataset"] != info.name:
        return
    if result["stamp"] != fingerprint:
        st.caption("The files changed since the last check; check again.")
        return
    problems = result["problems"]
    if not problems:
        st.success(f"All {len(items.files):,} images decode.")
        return
    st.warning(f"{len(problems)} image(s) cannot be read; training would stop at them.")
    st.dataframe(pd.DataFrame(problems), hide_index=True, key="check_problems")
    if st.button(
        f"Move {len(problems)} file(s) to the trash",
        key="check_trash",
        icon=":material/delete:",
        help="Moves them to the workspace's trash (nothing is deleted), with a list of where each came from.",
    ):
        try:
            folder = images.move_to_trash(info.path, [p["file"] for p in problems])
        except UserError as e:
            st.error(str(e))
            return
        st.session_state[W_CHECK] = None
        st.session_state[state.DATA_NOTICE] = {
            "text": f"Moved {len(problems)} file(s) to the trash: {folder}",
            "skipped": [],
        }
        st.rerun()
