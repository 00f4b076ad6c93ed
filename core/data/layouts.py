"""The on-disk layouts of multi-label and segmentation datasets, and their readers.

Single-label datasets are class folders (core.data.datasets.read_image_folder). The others:

- multi-label: image files anywhere under the folder and a `labels.csv` with the header
  `file,labels` (or `file,labels,is_valid`): file is a POSIX path relative to the dataset, labels
  its tags separated by single spaces (an empty cell means the image holds none of them), as in
  fastai's Planet data. A row whose file is gone (moved to the trash by a cleaning) is skipped.
- segmentation: `images/<stem>.<ext>`, a mask per image as `masks/<stem>.png` (or CamVid's
  `labels/<stem>_P.png`), and `codes.txt` naming the classes, one per line, index 0 first; masks
  are 8-bit single-channel PNGs whose values are class indices. An optional `valid.txt` lists
  the images (relative to images/) that form the validation split, as CamVid's does.

Without a split written down, a seeded hash of each file name decides (hash_split), the same
rule as for class folders: deleting a file moves no other file between the splits.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import fsutil
from core.data.labels import FLAG_WORDS, check_label, valid_flag
from core.errors import UserError

MULTI_CSV = "labels.csv"
MULTI_HEADER = ("file", "labels")
CODES = "codes.txt"
IMAGES = "images"
MASKS = "masks"
CAMVID_MASKS = "labels"  # CamVid keeps labels/<stem>_P.png
VALID_LIST = "valid.txt"
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
MAX_CODES = 255  # a mask value is one byte


@dataclass(frozen=True)
class MultiItems:
    """The images of a multi-label dataset: each with a set of tags (possibly empty)."""

    root: Path
    files: list[str]  # relative to root, POSIX style
    labels: list[tuple[str, ...]]  # each file's tags, sorted
    is_valid: list[bool]
    vocab: list[str]  # every tag, sorted like fastai's MultiCategorize vocab

    def split(self, valid: bool) -> tuple[list[str], list[tuple[str, ...]]]:
        """Files and tag sets of one split."""
        pairs = [(f, lab) for f, lab, v in zip(self.files, self.labels, self.is_valid) if v == valid]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def targets(self) -> np.ndarray:
        """N×C multi-hot float32 targets in vocab order (fastai's OneHotEncode)."""
        index = {c: i for i, c in enumerate(self.vocab)}
        out = np.zeros((len(self.files), len(self.vocab)), dtype=np.float32)
        for row, tags in enumerate(self.labels):
            for t in tags:
                out[row, index[t]] = 1.0
        return out


@dataclass(frozen=True)
class SegItems:
    """The images of a segmentation dataset, each with its mask, and the class codes."""

    root: Path
    files: list[str]  # images, relative to root
    masks: list[str]  # the mask of each image, relative to root
    is_valid: list[bool]
    codes: list[str]  # class names by mask value

    @property
    def vocab(self) -> list[str]:
        """The classes in the order of the model's output channels (the codes)."""
        return self.codes


def hash_split(files: list[str], valid_pct: float, seed: int) -> list[bool]:
    """A seeded share valid_pct of files for validation, ranked by a hash of each file's name."""
    if not files:
        return []

    def rank(i: int) -> tuple[str, str]:
        return hashlib.sha1(f"{seed}|{Path(files[i]).name}".encode()).hexdigest(), files[i]

    order = sorted(range(len(files)), key=rank)
    cut = set(order[: max(1, round(len(files) * valid_pct))])
    return [i in cut for i in range(len(files))]


def detect(folder: Path) -> str:
    """The task a folder's layout is for: a table's or ratings' (core.data.tables), segmentation,
    multi_label or single_label."""
    from core.data import tables

    folder = Path(folder)
    table_task = tables.task_of(folder)
    if table_task is not None:
        return table_task
    if (folder / CODES).is_file() and ((folder / MASKS).is_dir() or (folder / CAMVID_MASKS).is_dir()):
        return "segmentation"
    if (folder / MULTI_CSV).is_file():
        return "multi_label"
    return "single_label"


def parse_tags(cell: str, shown: str = "A tag") -> tuple[str, ...]:
    """The tags of one labels cell (space-separated), sorted and unique; UserError on a bad tag."""
    if not isinstance(cell, str):
        raise UserError(f"{shown} list must be text; got {cell!r}.")
    tags = [t for t in cell.strip().split(" ") if t != ""]
    for t in tags:
        check_label(t, shown)
        if any(c.isspace() for c in t):
            raise UserError(f"{shown} {t[:40]!r} holds a tab or other space; tags are separated by spaces.")
    return tuple(sorted(set(tags)))


def _inside(root: Path, rel: str, what: str) -> Path:
    """root/rel, refused when rel is absolute, climbs out, or holds a NUL."""
    if not rel or "\x00" in rel or rel.startswith(("/", "\\")) or "\\" in rel or ":" in rel.split("/")[0]:
        raise UserError(f"{what} {rel[:80]!r} is not a relative path inside the dataset.")
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise UserError(f"{what} {rel[:80]!r} is not a plain path inside the dataset.")
    return root / rel


def _flag(text: str, row: int) -> bool:
    flag = valid_flag(text)
    if flag is None:
        raise UserError(
            f"{MULTI_CSV} row {row}: is_valid must be true or false, not {text[:20]!r} (write {FLAG_WORDS})."
        )
    return flag


def read_labels_csv(path: Path) -> list[tuple[str, tuple[str, ...], bool | None]]:
    """The rows of a labels.csv: (file, tags, is_valid or None); UserError when malformed."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(
            f"{path.name} is missing: a multi-label dataset lists its images' tags there."
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path.name} cannot be read as UTF-8 text: {e}") from e
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as e:
        raise UserError(f"{path.name} is not valid CSV: {e}") from e
    if not rows or tuple(c.strip() for c in rows[0][:2]) != MULTI_HEADER:
        raise UserError(f"{path.name} must start with the header 'file,labels' (optionally ',is_valid').")
    header = [c.strip() for c in rows[0]]
    has_valid = len(header) >= 3 and header[2] == "is_valid"
    out, seen = [], set()
    for n, row in enumerate(rows[1:], start=2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) < 2 or len(row) > len(header):
            raise UserError(f"{path.name} row {n} has {len(row)} cells; expected {len(header)}.")
        rel = row[0].strip()
        if rel in seen:
            raise UserError(f"{path.name} lists {rel[:80]!r} twice (row {n}).")
        seen.add(rel)
        tags = parse_tags(row[1], f"{path.name} row {n}: the tag")
        valid = _flag(row[2], n) if has_valid and len(row) > 2 else None
        out.append((rel, tags, valid))
    return out


def write_labels_csv(
    path: Path, files: list[str], labels: list[tuple[str, ...]], is_valid: list[bool] | None = None
) -> Path:
    """Write a canonical labels.csv atomically (file, space-separated tags, optional is_valid)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*MULTI_HEADER, *(["is_valid"] if is_valid is not None else [])])
    for i, (rel, tags) in enumerate(zip(files, labels)):
        row = [rel, " ".join(sorted(tags))]
        if is_valid is not None:
            row.append("true" if is_valid[i] else "false")
        writer.writerow(row)
    fsutil.atomic_write(Path(path), buf.getvalue())
    return Path(path)


def read_multi(path: Path, valid_pct: float = 0.2, seed: int = 0) -> MultiItems:
    """The items of a multi-label dataset (labels.csv), split by its is_valid column or by hash."""
    root = Path(path)
    rows = read_labels_csv(root / MULTI_CSV)
    files, labels, flags = [], [], []
    for rel, tags, valid in rows:
        file = _inside(root, rel, f"{MULTI_CSV} names the file")
        if file.suffix.lower() not in IMAGE_EXTS:
            raise UserError(f"{MULTI_CSV} names {rel[:80]!r}, which is not an image file.")
        if not file.is_file():
            continue  # moved to the trash by a cleaning; undo brings it back
        files.append(rel)
        labels.append(tags)
        flags.append(valid)
    if not files:
        raise UserError(f"{root.name} has no images listed in {MULTI_CSV}.")
    if all(f is not None for f in flags) and any(flags) and not all(flags):
        is_valid = [bool(f) for f in flags]
    else:
        is_valid = hash_split(files, valid_pct, seed)
    vocab = sorted({t for tags in labels for t in tags})
    if not vocab:
        raise UserError(f"No image of {root.name} has a label; {MULTI_CSV} needs tags to learn from.")
    return MultiItems(root, files, labels, is_valid, vocab)


def read_codes(folder: Path) -> list[str]:
    """The class names of a segmentation dataset (codes.txt, one per line, index 0 first)."""
    path = Path(folder) / CODES
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{CODES} is missing: it names the class of each mask value, one per line.") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{CODES} cannot be read as UTF-8 text: {e}") from e
    codes = [line.strip() for line in text.splitlines() if line.strip()]
    for c in codes:
        check_label(c, f"{CODES}: the class name")
    if len(codes) < 2:
        raise UserError(f"{CODES} must name at least two classes (e.g. background and one thing).")
    if len(codes) > MAX_CODES:
        raise UserError(f"{CODES} names {len(codes)} classes; a mask value holds at most {MAX_CODES}.")
    if len(set(codes)) != len(codes):
        raise UserError(f"{CODES} names a class twice.")
    return codes


def mask_for(root: Path, image_rel: str) -> str | None:
    """The mask of an image (relative to root): masks/<stem>.png or labels/<stem>_P.png, if present."""
    stem = Path(image_rel).stem
    for rel in (f"{MASKS}/{stem}.png", f"{CAMVID_MASKS}/{stem}_P.png"):
        if (root / rel).is_file():
            return rel
    return None


def read_seg(path: Path, valid_pct: float = 0.2, seed: int = 0) -> SegItems:
    """The items of a segmentation dataset: images/ with their masks, codes.txt, valid.txt or hash."""
    root = Path(path)
    codes = read_codes(root)
    folder = root / IMAGES
    if not folder.is_dir():
        raise UserError(f"{root.name} has no {IMAGES}/ folder; segmentation images live there.")
    files, masks = [], []
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.suffix.lower() in IMAGE_EXTS and not f.name.startswith("."):
            rel = f"{IMAGES}/{f.name}"
            mask = mask_for(root, rel)
            if mask is None:
                continue  # its mask was moved to the trash with it, or the image is being restored
            files.append(rel)
            masks.append(mask)
    if not files:
        raise UserError(f"{root.name} has no image with a mask (masks/<stem>.png).")
    listed = _valid_list(root)
    if listed is not None and any(Path(f).name in listed for f in files):
        is_valid = [Path(f).name in listed for f in files]
    else:
        is_valid = hash_split(files, valid_pct, seed)
    return SegItems(root, files, masks, is_valid, codes)


def _valid_list(root: Path) -> set[str] | None:
    try:
        text = (root / VALID_LIST).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{VALID_LIST} cannot be read as UTF-8 text: {e}") from e
    return {Path(line.strip()).name for line in text.splitlines() if line.strip()}


# Tables (core.data.table_roles.TABULAR_TASKS) and ratings: their split lives in dataset.json.
TABLE_TASKS = ("tabular_classification", "tabular_regression", "collaborative")


def read_items(path: Path, task: str, valid_pct: float = 0.2, seed: int = 0):
    """The items of a dataset read as task: Items, MultiItems, SegItems, TableItems or RatingItems.

    Tables and ratings keep their split in dataset.json (core.data.tables), so valid_pct and seed
    are not theirs; call tables.read(path, task, valid_pct, seed) to override a random split.
    """
    if task in TABLE_TASKS:
        from core.data import tables

        return tables.read(path, task)
    if task == "multi_label":
        return read_multi(path, valid_pct, seed)
    if task == "segmentation":
        return read_seg(path, valid_pct, seed)
    from core.data.datasets import read_image_folder

    return read_image_folder(path, valid_pct=valid_pct, seed=seed)


def fingerprint(items) -> str:
    """The data version of items: files, splits, sizes and times, plus labels.csv or the masks."""
    from core.data import tables
    from core.runs import data_fingerprint

    if isinstance(items, (tables.TableItems, tables.RatingItems)):  # the csv content, roles and split
        return tables.fingerprint(items)
    files, flags = list(items.files), list(items.is_valid)
    if isinstance(items, SegItems):
        files, flags = [*files, *items.masks], [*flags, *items.is_valid]
    version = data_fingerprint(items.root, files, flags)
    if isinstance(items, MultiItems):  # labels.csv by its content: a retag undone is the same data again
        labels = fsutil.sha256_file(Path(items.root) / MULTI_CSV)
        version = hashlib.sha256(f"{version}|{labels}".encode()).hexdigest()[:16]
    return version


def all_files(items) -> list[str]:
    """Every file an item list reads: the images, plus the masks of a segmentation dataset (the csv
    files of a table or ratings dataset)."""
    return [*items.files, *getattr(items, "masks", [])]
