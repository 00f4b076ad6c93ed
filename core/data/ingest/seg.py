"""Segmentation ingestion: images/ and their masks, checked pair by pair, written canonically.

Accepted layouts (inside any wrapping folder): `images/<stem>.<ext>` with `masks/<stem>.png` and
`codes.txt` (masks of class indices; see core.data.ingest.masks for the modes read) or
`palette.csv` (colour masks, converted to indices here), or CamVid's `images/`,
`labels/<stem>_P.png` and `codes.txt`; an optional `valid.txt` names the validation images.
Written as `images/<stem>.<ext>`, `masks/<stem>.png`, `codes.txt` and `valid.txt`
(core.data.layouts). Refused: an image without a mask or a mask without an image, a mask of
another size than its image, values past the codes, masks that are not class indices. Files
that do not decode are skipped with their partner and reported.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from core.data import images, layouts
from core.data.ingest.layout import RANDOM_SPLIT, _strip_wrappers
from core.data.ingest.masks import NOTHING, PALETTE, present, read_mask, read_palette, save_mask
from core.data.ingest.names import safe_stem, unique_name
from core.data.ingest.report import SEG, Report
from core.data.ingest.sources import Cancelled, Entry, IngestCancelled, Limits, Progress
from core.errors import UserError
from core.fsutil import atomic_write

CAMVID_SUFFIX = "_P"
LAYOUT = "images/ with masks/ (or CamVid's labels/) and codes.txt or palette.csv"

Key = tuple[str, ...]  # an image's path below images/, its extension dropped


def looks_like(entries: list[Entry]) -> bool:
    """True for a segmentation layout: an images/ folder beside codes.txt or palette.csv."""
    entries = _strip_wrappers(entries)
    tops = {e.parts[0] for e in entries if len(e.parts) == 1}
    folders = {e.parts[0] for e in entries if len(e.parts) > 1}
    return layouts.IMAGES in folders and bool({layouts.CODES, PALETTE} & tops)


def _key(entry: Entry, camvid: bool) -> Key:
    stem = entry.parts[-1].rsplit(".", 1)[0]
    if camvid and stem.endswith(CAMVID_SUFFIX):
        stem = stem[: -len(CAMVID_SUFFIX)]
    return (*entry.parts[1:-1], stem)


def _keyed(entries: Iterable[Entry], what: str, camvid: bool = False) -> dict[Key, Entry]:
    """{key: entry}, refusing two files that share a key (a.png and a.jpg)."""
    out: dict[Key, Entry] = {}
    for e in entries:
        key = _key(e, camvid)
        if key in out:
            raise UserError(
                f"{out[key].shown} and {e.shown} are two {what} with the same name; a mask is found by "
                f"its image's name, so keep one. {NOTHING}"
            )
        out[key] = e
    return out


def _sort(entries: list[Entry], skipped: list[images.Problem]):
    """(tops, image entries, mask entries, mask folder): the layout's parts, the rest skipped."""
    tops = {e.parts[0]: e for e in entries if len(e.parts) == 1}
    folders = {e.parts[0] for e in entries if len(e.parts) > 1}
    if layouts.MASKS in folders and layouts.CAMVID_MASKS in folders:
        raise UserError(
            f"There is both a {layouts.MASKS}/ and a {layouts.CAMVID_MASKS}/ folder; keep the one holding "
            f"the masks. {NOTHING}"
        )
    mask_dir = layouts.MASKS if layouts.MASKS in folders else layouts.CAMVID_MASKS
    if mask_dir not in folders:
        raise UserError(
            f"There is no {layouts.MASKS}/ folder beside {layouts.IMAGES}/; expected {LAYOUT}. {NOTHING}"
        )
    imgs, masks = [], []
    for e in entries:
        if len(e.parts) == 1 and e.parts[0] in (layouts.CODES, PALETTE, layouts.VALID_LIST):
            continue
        if len(e.parts) > 1 and e.parts[0] in (layouts.IMAGES, mask_dir):
            if Path(e.parts[-1]).suffix.lower() not in layouts.IMAGE_EXTS:
                skipped.append(images.Problem(e.shown, "not an image file (by its name)"))
            else:
                (imgs if e.parts[0] == layouts.IMAGES else masks).append(e)
            continue
        skipped.append(images.Problem(e.shown, f"not part of a segmentation set ({LAYOUT})"))
    return tops, imgs, masks, mask_dir


def _codes(tops: dict[str, Entry], final: Path) -> tuple[list[str], dict[int, int] | None]:
    """The classes (and the colour table of colour masks), with codes.txt written into final."""
    if layouts.CODES in tops and PALETTE in tops:
        raise UserError(
            f"There is both {layouts.CODES} (for masks of class indices) and {PALETTE} (for colour "
            f"masks); keep the one that fits the masks. {NOTHING}"
        )
    colours = None
    for entry in tops.values():
        if entry.parts[0] in (layouts.CODES, PALETTE) and entry.file.stat().st_size > 2**20:
            raise UserError(f"{entry.shown} is larger than 1 MB; that is not a list of classes. {NOTHING}")
    if PALETTE in tops:
        codes, colours = read_palette(tops[PALETTE].file.read_bytes(), tops[PALETTE].shown)
    elif layouts.CODES in tops:
        entry = tops[layouts.CODES]
        os.rename(entry.file, final / layouts.CODES)
        try:
            codes = layouts.read_codes(final)
        except UserError as e:
            raise UserError(f"{entry.shown}: {e} {NOTHING}") from e
    else:
        raise UserError(
            f"There is no {layouts.CODES} naming the classes (one per line, the class of mask value 0 "
            f"first) and no {PALETTE} for colour masks. {NOTHING}"
        )
    atomic_write(final / layouts.CODES, "".join(f"{c}\n" for c in codes))
    return codes, colours


def _pairs(imgs: list[Entry], masks: list[Entry], mask_dir: str) -> list[tuple[Key, Entry, Entry]]:
    """Each image with its mask, refusing an image without a mask and a mask without an image."""
    camvid = mask_dir == layouts.CAMVID_MASKS
    by_image = _keyed(imgs, "images")
    by_mask = _keyed(masks, "masks", camvid)
    if not by_image:
        raise UserError(f"There are no images in {layouts.IMAGES}/; expected {LAYOUT}. {NOTHING}")
    lonely = sorted(set(by_image) - set(by_mask))
    if lonely:
        first = by_image[lonely[0]]
        name = "/".join(lonely[0]) + (f"{CAMVID_SUFFIX}.png" if camvid else ".png")
        raise UserError(
            f"{len(lonely):,} image(s) have no mask; the first is {first.shown}, whose mask would be "
            f"{mask_dir}/{name}. Every image needs its mask. {NOTHING}"
        )
    orphans = sorted(set(by_mask) - set(by_image))
    if orphans:
        first = by_mask[orphans[0]]
        how = f" (CamVid's masks are named <image>{CAMVID_SUFFIX}.png)" if camvid else ""
        raise UserError(
            f"{len(orphans):,} mask(s) have no image; the first is {first.shown}, and there is no "
            f"{layouts.IMAGES}/{'/'.join(orphans[0])}.* beside it{how}. {NOTHING}"
        )
    return [(k, by_image[k], by_mask[k]) for k in sorted(by_image)]


def place(
    entries: list[Entry],
    skipped: list[images.Problem],
    final: Path,
    limits: Limits,
    progress: Progress | None,
    cancelled: Cancelled | None,
    name: str,
    shown: str,
) -> Report:
    """Check every image and its mask, and write the canonical segmentation layout into final."""
    tops, imgs, masks, mask_dir = _sort(_strip_wrappers(entries), skipped)
    codes, colours = _codes(tops, final)
    pairs = _pairs(imgs, masks, mask_dir)
    (final / layouts.IMAGES).mkdir()
    (final / layouts.MASKS).mkdir()
    used: set[str] = set()
    new_name: dict[str, str] = {}  # an image's path below images/ as given → its file name now
    in_mask = np.zeros(len(codes), dtype=np.int64)  # images whose mask holds each class
    converted = 0
    for i, (key, image, mask) in enumerate(pairs):
        if cancelled and cancelled():
            raise IngestCancelled()
        if progress and i % 25 == 0:
            progress(0.5 + 0.5 * i / len(pairs), f"checked {i:,} of {len(pairs):,} images and masks")
        try:
            facts = images.inspect(image.file, limits.max_pixels, limits.max_file_bytes)
        except images.BadImage as e:
            skipped.append(images.Problem(image.shown, f"{e}; its mask {mask.shown} is left out too"))
            continue
        try:
            indices, keep = read_mask(
                mask.file, mask.shown, len(codes), colours, limits.max_pixels, limits.max_file_bytes
            )
        except images.BadImage as e:
            skipped.append(images.Problem(mask.shown, f"{e}; its image {image.shown} is left out too"))
            continue
        if indices.shape != (facts.height, facts.width):
            raise UserError(
                f"{mask.shown} is {indices.shape[1]}×{indices.shape[0]} pixels but {image.shown} is "
                f"{facts.width}×{facts.height}; a mask must match its image pixel for pixel. {NOTHING}"
            )
        stem = unique_name(safe_stem("_".join(key)), "", used)
        os.rename(image.file, final / layouts.IMAGES / f"{stem}{facts.extension}")
        if keep:
            os.rename(mask.file, final / layouts.MASKS / f"{stem}.png")
        else:
            save_mask(indices, final / layouts.MASKS / f"{stem}.png")
            converted += 1
        in_mask += present(indices, len(codes))
        new_name["/".join(image.parts[1:])] = f"{stem}{facts.extension}"
    if not new_name:
        first = f" The first problem: {skipped[0].file}: {skipped[0].reason}." if skipped else ""
        raise UserError(f"No usable image and mask pairs in {shown}.{first} {NOTHING}")
    split = _valid_list(tops.get(layouts.VALID_LIST), new_name, final, skipped)
    meta = {
        "task": SEG,
        "codes": codes,
        "masks": "colour masks converted with palette.csv" if colours is not None else "class indices",
        "converted_masks": converted,
    }
    classes = {c: int(n) for c, n in zip(codes, in_mask)}
    return Report(name, final, shown, classes, split, skipped, task=SEG, images=len(new_name), meta=meta)


def _valid_list(
    entry: Entry | None, new_name: dict[str, str], final: Path, skipped: list[images.Problem]
) -> str:
    """Keep valid.txt's split (rewritten with the images' new names); how the split is made."""
    if entry is None:
        return RANDOM_SPLIT
    try:
        lines = [x.strip() for x in entry.file.read_bytes()[: 2**22].decode("utf-8-sig").splitlines()]
    except UnicodeDecodeError as e:
        raise UserError(f"{entry.shown} is not a UTF-8 text file. {NOTHING}") from e
    by_base = {Path(k).name: v for k, v in new_name.items()}
    listed = {new_name.get(x) or by_base.get(Path(x).name) for x in lines if x} - {None}
    unknown = [x for x in lines if x and not (new_name.get(x) or by_base.get(Path(x).name))]
    if unknown:
        skipped.append(
            images.Problem(entry.shown, f"{len(unknown):,} line(s) name no image, e.g. {unknown[0][:60]!r}")
        )
    if not listed:
        skipped.append(images.Problem(entry.shown, "names no image of the set; a random split is used"))
        return RANDOM_SPLIT
    if len(listed) == len(new_name):
        raise UserError(
            f"{entry.shown} puts every image in the validation set; none is left to train on. {NOTHING}"
        )
    atomic_write(final / layouts.VALID_LIST, "".join(f"{n}\n" for n in sorted(listed)))
    return f"the images {entry.shown} lists form the validation set"
