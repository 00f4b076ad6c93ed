"""The dataset registry: built-in Digits (and flipped-label variants), coloured shapes, image folders."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import workspace
from core.data import labels as label_text
from core.data.layouts import detect, hash_split
from core.errors import UserError
from core.fsutil import fsync_dir

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
DIGITS_SPLIT_SEED = 42  # fixed so every machine gets the same train/validation split
DIGITS_VALID_PCT = 0.2
FLIP_SEED = 1234
FLIP_VARIANTS = {"digits_flip5": 0.05, "digits_flip10": 0.10, "digits_flip20": 0.20}
META_FILE = "dataset.json"
FLIPPED_FILE = "flipped.json"
VALID_NAMES = ("valid", "val", "validation")  # fastai's, Imagenette's and others' names
SHAPES_SEED = 0
SHAPES_PER_CLASS = 160  # 480 images: enough to learn, quick to draw (well under a second)
SHAPES_SIZE = 32


@dataclass(frozen=True)
class DatasetInfo:
    """What the rest of the program needs to know about a dataset on disk."""

    name: str
    path: Path
    title: str
    description: str
    default_size: int = 32
    task: str = "single_label"  # the kind of problem its layout is for (core/tasks)
    published: bool = False  # a teacher published it to the class (core.publish): read-only


@dataclass(frozen=True)
class Items:
    """The images of a dataset: relative paths, labels (text), and which split each is in."""

    root: Path
    files: list[str]  # relative to root, POSIX style
    labels: list[str]  # each file's label, as the dataset's labels.json names it (else its folder)
    is_valid: list[bool]
    vocab: list[str]  # the labels, sorted like fastai's CategoryMap
    folders: dict[str, str] = field(default_factory=dict)  # label → the class folder holding it

    def folder_of(self, label: str) -> str:
        """The class folder a label's images live in (the label itself when none is recorded)."""
        return self.folders.get(label, label)

    def split(self, valid: bool) -> tuple[list[str], list[int]]:
        """Files and label indices of one split."""
        index = {c: i for i, c in enumerate(self.vocab)}
        pairs = [(f, index[lab]) for f, lab, v in zip(self.files, self.labels, self.is_valid) if v == valid]
        return [p[0] for p in pairs], [p[1] for p in pairs]


BUILTINS = {
    "digits": "1,797 real 8×8 handwritten digits (scikit-learn), 10 classes.",
    **{
        name: f"Digits with {round(frac * 100)}% of the training labels flipped on purpose, "
        "to practise finding label errors."
        for name, frac in FLIP_VARIANTS.items()
    },
    "coloured_shapes": f"Coloured circles, squares and triangles drawn from a seed: 3 classes, "
    f"{3 * SHAPES_PER_CLASS} images of {SHAPES_SIZE}×{SHAPES_SIZE} pixels.",
    "shapes_multi": "Images holding none to three shapes of four kinds, drawn from a seed: "
    "several labels per image (multi-label).",
    "shapes_seg": "Scenes of overlapping shapes on textured backgrounds, drawn from a seed, "
    "with a mask giving every pixel's class (segmentation).",
    "breast_cancer": "569 tumour biopsies, 30 measurements each (scikit-learn): malignant or benign, "
    "a table of continuous columns.",
    "wine": "178 wines, 13 chemical measurements (scikit-learn): which of three cultivars, a small "
    "three-class table.",
    "diabetes": "442 patients, 10 measurements (scikit-learn): how far the disease progressed, a number "
    "to predict (regression).",
    "census_synth": "20,000 people in an Adult-like census drawn from a seed: income above 50K from "
    "categories and numbers with gaps (embeddings, FillMissing).",
    "ratings_synth": "20,000 ratings of 200 films by 300 people, drawn from known tastes plus noise: "
    "collaborative filtering with a known best RMSE.",
}


SYNTHETIC = (
    "coloured_shapes",
    "shapes_multi",
    "shapes_seg",
    "census_synth",
    "ratings_synth",
)  # drawn from a seed rather than shipped; listed after the real ones


def builtin_names() -> list[str]:
    """Names of the real datasets that ship with the program (Digits and its variants, and
    scikit-learn's tables)."""
    return [n for n in BUILTINS if n not in SYNTHETIC]


def available() -> list[str]:
    """Every dataset name that can be trained on now: built-ins, synthetic, the current space's
    folders, then what a teacher published to the class (one of the person's own shadows it)."""
    from core import publish

    root = workspace.subdir("datasets")
    own = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    own = [n for n in own if n not in BUILTINS]
    shared = [n for n in publish.published_names("datasets") if n not in BUILTINS and n not in own]
    return builtin_names() + list(SYNTHETIC) + own + shared


def is_published(name: str) -> bool:
    """True when name is a published dataset that the current person has no own dataset of that name
    to shadow (what resolve() finds is read-only)."""
    from core import publish

    if name in BUILTINS or publish.published_path("datasets", name) is None:
        return False
    return not _own_path(name)


def home(info: DatasetInfo) -> Path:
    """The folder a dataset's folder lies in: the current space's datasets folder, or the published
    space's for a dataset a teacher published."""
    from core import publish

    return publish.published_dir("datasets") if info.published else workspace.subdir("datasets")


def _own_path(name: str) -> Path | None:
    """The current space's folder of the dataset called name, or None (names that would leave
    the datasets folder are None too)."""
    root = workspace.subdir("datasets")
    try:
        path = workspace.safe_join(root, name)
    except UserError:
        return None
    if not name or path.parent != root or not path.is_dir():
        return None
    return path


def resolve(name: str) -> DatasetInfo:
    """Find (and for built-ins, materialise on first use) the dataset called name."""
    if name == "digits":
        return DatasetInfo(name, ensure_digits(), "Digits", BUILTINS[name], default_size=16)
    if name in FLIP_VARIANTS:
        path = ensure_flipped(name, FLIP_VARIANTS[name])
        return DatasetInfo(name, path, f"Digits, {name[11:]}% flipped", BUILTINS[name], 16)
    if name == "coloured_shapes":
        from core.data.coloured_shapes import generate_shapes

        path = generate_shapes(name, SHAPES_SEED, SHAPES_PER_CLASS)
        return DatasetInfo(name, path, "Coloured shapes", BUILTINS[name], SHAPES_SIZE)
    if name in GENERATED:
        import importlib

        module, _, function = GENERATED[name].partition(":")
        return getattr(importlib.import_module(module), function or "info")()
    path, published = _own_path(name), False
    if path is None:
        from core import publish

        path, published = publish.published_path("datasets", name), True
    if path is None:
        choices = ", ".join(available())
        raise UserError(f"Unknown dataset {name!r}. Choose one of: {choices}.")
    meta = _read_meta(path)
    from core import tasks

    task = meta.get("task") if meta.get("task") in tasks.TASKS else detect(path)
    return DatasetInfo(
        name,
        path,
        meta.get("title", name),
        meta.get("description", ""),
        int(meta.get("default_size", 64)),
        task,
        published,
    )


# The other tasks' built-ins: each module (or "module:function") writes its dataset on first use and
# describes it (info() by default).
GENERATED = {
    "shapes_multi": "core.data.shapes_multi",
    "shapes_seg": "core.data.shapes_seg",
    "breast_cancer": "core.data.table_builtins:breast_cancer",
    "wine": "core.data.table_builtins:wine",
    "diabetes": "core.data.table_builtins:diabetes",
    "census_synth": "core.data.table_builtins:census_synth",
    "ratings_synth": "core.data.ratings_synth:info",
}


def _read_meta(path: Path) -> dict:
    try:
        return json.loads((path / META_FILE).read_text())
    except (OSError, ValueError, RecursionError):
        return {}


def metadata(dataset: DatasetInfo | Path) -> dict:
    """What dataset.json says about a dataset: its source, how it was split, what was skipped."""
    return _read_meta(dataset.path if isinstance(dataset, DatasetInfo) else Path(dataset))


def _publish(tmp: Path, target: Path) -> Path:
    """Move a fully written folder into place; another process may have won the race."""
    try:
        tmp.rename(target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / META_FILE).exists():
            raise
    fsync_dir(target.parent)
    return target


def ensure_digits() -> Path:
    """Write scikit-learn's digits as PNG files in train/ and valid/ class folders (once)."""
    root = workspace.subdir("datasets")
    target = root / "digits"
    if (target / META_FILE).exists():
        return target
    images, labels = digits_arrays()
    pixels = np.round(images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    valid = _stratified_valid(labels, DIGITS_VALID_PCT, DIGITS_SPLIT_SEED)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-digits-", dir=root))
    with _removed_on_failure(tmp):
        _write_digits(tmp, pixels, labels, valid)
    return _publish(tmp, target)


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as load_digits gives them (images 1797×8×8 of 0–16, int targets),
    read from the CSV it ships without importing sklearn (which takes a second or more)."""
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("scikit-learn is not installed; it carries the built-in Digits dataset.")
    csv = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(csv, "rt") as f:
        data = np.loadtxt(f, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)


def _write_digits(tmp: Path, pixels: np.ndarray, labels: np.ndarray, valid: np.ndarray) -> None:
    from PIL import Image

    for i, (img, lab) in enumerate(zip(pixels, labels)):
        folder = tmp / ("valid" if valid[i] else "train") / str(int(lab))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img, mode="L").save(folder / f"{i:04d}.png")
    meta = {
        "title": "Digits",
        "description": BUILTINS["digits"],
        "source": "sklearn.datasets.load_digits",
        "split": f"stratified, {int(DIGITS_VALID_PCT * 100)}% validation, seed {DIGITS_SPLIT_SEED}",
        "n_train": int((~valid).sum()),
        "n_valid": int(valid.sum()),
        "default_size": 16,
    }
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2))


@contextlib.contextmanager
def _removed_on_failure(tmp: Path):
    """Delete a half-written temporary folder when writing it fails (then re-raise)."""
    try:
        yield
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _stratified_valid(labels: np.ndarray, pct: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    valid = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        valid[idx[: round(len(idx) * pct)]] = True
    return valid


def ensure_flipped(name: str, fraction: float, seed: int = FLIP_SEED) -> Path:
    """A copy of Digits with `fraction` of the training labels moved to a wrong class.

    The moved files are listed in flipped.json (file as it is now, true label, given label)
    so a cleaner's success can be measured.
    """
    source = ensure_digits()
    root = workspace.subdir("datasets")
    target = root / name
    if (target / META_FILE).exists():
        return target
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
    with _removed_on_failure(tmp):
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        train = sorted(p.relative_to(tmp).as_posix() for p in (tmp / "train").glob("*/*.png"))
        rng = random.Random(seed)
        chosen = sorted(rng.sample(train, round(len(train) * fraction)))
        classes = sorted(p.name for p in (tmp / "train").iterdir())
        flipped = []
        for rel in chosen:
            true = rel.split("/")[1]
            given = rng.choice([c for c in classes if c != true])
            new_rel = f"train/{given}/{rel.split('/')[2]}"
            (tmp / rel).rename(tmp / new_rel)
            flipped.append({"file": new_rel, "true": true, "given": given})
        (tmp / FLIPPED_FILE).write_text(json.dumps(flipped, indent=1))
        meta = _read_meta(source)
        meta.update(
            title=f"Digits, {round(fraction * 100)}% flipped",
            description=BUILTINS[name],
            flipped=len(flipped),
            flip_seed=seed,
        )
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
    return _publish(tmp, target)


def flipped_files(info: DatasetInfo) -> list[dict]:
    """The label errors planted in a flipped variant (empty for other datasets)."""
    try:
        return json.loads((info.path / FLIPPED_FILE).read_text())
    except (OSError, ValueError, RecursionError):
        return []


def read_image_folder(path: Path, valid_pct: float = 0.2, seed: int = 0) -> Items:
    """Items of a folder laid out as class/image, or train/class/image + valid/class/image.

    valid/ may also be called val/ or validation/. Without such a split, a seeded random share
    valid_pct becomes validation. A class folder's label is what the dataset's labels.json says
    it stands for, else the folder's name.
    """
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"The folder {path} does not exist.")
    valid_name = next((n for n in VALID_NAMES if (path / n).is_dir()), None)
    has_split = (path / "train").is_dir() and valid_name is not None
    mapping = label_text.load_mapping(path)  # folder → label; empty for datasets without labels.json
    files, labels, is_valid = [], [], []
    folders: dict[str, str] = {}
    if has_split:
        tops = [("train", False), (valid_name, True)]
    elif (path / "train").is_dir():
        tops = [("train", None)]  # only a train/ folder: split it by seed below
    else:
        tops = [(".", None)]
    for top, valid in tops:
        base = path / top
        for cls_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if top == "." and cls_dir.name in ("train", *VALID_NAMES):
                continue
            for f in sorted(cls_dir.iterdir()):
                if f.is_file() and f.suffix.lower() in IMAGE_EXTS and not f.name.startswith("."):
                    label = label_text.label_of(cls_dir.name, mapping)
                    files.append(f.relative_to(path).as_posix())
                    labels.append(label)
                    is_valid.append(valid)
                    folders.setdefault(label, cls_dir.name)
    if not files:
        raise UserError(f"No images found in {path}: expected class folders holding image files.")
    if not has_split:
        # Ranked by a seeded hash of each file's name (not its class, not its place in the list),
        # so deleting or relabelling files moves no other file between the splits.
        is_valid = hash_split(files, valid_pct, seed)
    vocab = sorted(set(labels))
    if len(vocab) < 2:
        raise UserError(f"{path} holds only one class ({vocab[0]}); a classifier needs at least two.")
    return Items(path, files, labels, is_valid, vocab, folders)


def drawn_folder(name: str) -> tuple[Path, Path | None]:
    """Where a generated dataset goes: (its folder, None) when it is drawn already, else (its folder,
    a fresh temporary folder inside the workspace to draw into, published by _publish when done).
    A folder of that name that is not a finished dataset is refused."""
    root = workspace.subdir("datasets")
    target = workspace.safe_join(root, name)
    if (target / META_FILE).exists():
        return target, None
    if target.exists():
        raise UserError(f"The workspace already holds a folder called {name}; choose another name.")
    return target, Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
