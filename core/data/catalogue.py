"""fastai's downloadable datasets: what each archive is, where it lives and how its labels are read.

Most are class folders (single label). PLANET_TINY is multi-label (labels.csv of Planet's
image_name,tags, images in train/) and CAMVID_TINY segmentation (images/, labels/<stem>_P.png,
codes.txt): their entries name the task, and the ingestion of that task reads their layout.
ADULT_SAMPLE (a census table) and ML_SAMPLE (movie ratings) are tables: TABLE_LAYOUTS says which
CSV of the archive is read, its column roles and how its cells are cleaned
(core.data.ingest.table.add_download).

MovieLens 100k (ml-100k.zip from grouplens.org) is left out: fastai's download_checks.py records
no size or checksum for it, so a download could not be checked like the others.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.data.table_roles import RatingRoles, TableRoles

MIRROR_VAR = "PLAYGROUND_CATALOGUE_MIRROR"  # a base URL that replaces https://s3.amazonaws.com
ORIGIN = "https://s3.amazonaws.com"


@dataclass(frozen=True)
class Entry:
    """One downloadable dataset."""

    key: str  # fastai's URLs attribute name
    name: str  # the dataset's name in the workspace
    url: str
    size: int  # bytes of the archive, from fastai's download_checks.py
    md5_head: str | None  # MD5 of the archive's first MiB, as fastai's checks record it
    title: str
    description: str
    # how the archive's paths map to classes (folders, pets, imagenette, planet, camvid), or a
    # table's layout (TABLE_LAYOUTS: adult, movielens_sample)
    layout: str = "folders"
    task: str = "single_label"  # single_label, multi_label, segmentation, or a table's task

    @property
    def source_url(self) -> str:
        """The URL, on the mirror when PLAYGROUND_CATALOGUE_MIRROR is set."""
        mirror = os.environ.get(MIRROR_VAR, "").rstrip("/")
        if mirror and self.url.startswith(ORIGIN):
            return mirror + self.url[len(ORIGIN) :]
        return self.url

    @property
    def archive_name(self) -> str:
        """The archive's file name in the download cache."""
        return Path(urllib.parse.urlparse(self.url).path).name


CATALOGUE = {
    e.key: e
    for e in [
        Entry(
            "MNIST_SAMPLE",
            "mnist_sample",
            f"{ORIGIN}/fast-ai-sample/mnist_sample.tgz",
            3214948,
            "2dbc7ec6f9259b583af0072c55816a88",
            "MNIST sample (3s and 7s)",
            "14,434 handwritten 3s and 7s of 28×28 pixels, as in chapter 4 of the fastai book.",
        ),
        Entry(
            "MNIST_TINY",
            "mnist_tiny",
            f"{ORIGIN}/fast-ai-sample/mnist_tiny.tgz",
            342207,
            "56143e8f24db90d925d82a5a74141875",
            "MNIST tiny (3s and 7s)",
            "1,408 handwritten 3s and 7s of 28×28 pixels: a quick check that things work.",
        ),
        Entry(
            "PETS",
            "pets",
            f"{ORIGIN}/fast-ai-imageclas/oxford-iiit-pet.tgz",
            811706944,
            "e4db5c768afd933bb91f5f594d7417a4",
            "Oxford-IIIT Pets",
            "7,390 photos of 37 breeds of cats and dogs (chapter 5 of the fastai book); "
            "the breed is in the file name.",
            layout="pets",
        ),
        Entry(
            "IMAGENETTE_160",
            "imagenette_160",
            f"{ORIGIN}/fast-ai-imageclas/imagenette2-160.tgz",
            99003388,
            "c475f8f7617a200ba35b9facc48443c3",
            "Imagenette (160 px)",
            "13,394 photos of 10 easy ImageNet classes (tench, church, parachute…), shorter side 160 pixels.",
            layout="imagenette",
        ),
        Entry(
            "PLANET_TINY",
            "planet_tiny",
            f"{ORIGIN}/fast-ai-sample/planet_tiny.tgz",
            997569,
            "490873c5683454d4b2611fb1f00a68a9",
            "Planet tiny (several labels per image)",
            "Satellite tiles of the Amazon, each with several labels (clear, primary, water, road…): "
            "a tiny sample of the Planet data the fastai course uses for multi-label classification.",
            layout="planet",
            task="multi_label",
        ),
        Entry(
            "CAMVID_TINY",
            "camvid_tiny",
            f"{ORIGIN}/fast-ai-sample/camvid_tiny.tgz",
            2314212,
            "2cf6daf91b7a2083ecfa3e9968e9d915",
            "CamVid tiny (a class per pixel)",
            "Street scenes from a car, each with a mask giving every pixel one of 32 classes (road, car, "
            "pedestrian, sky…): a tiny sample of the segmentation data of chapter 1 of the fastai book.",
            layout="camvid",
            task="segmentation",
        ),
        Entry(
            "ADULT_SAMPLE",
            "adult_sample",
            f"{ORIGIN}/fast-ai-sample/adult_sample.tgz",
            968212,
            "64eb9d7e23732de0b138f7372d15492f",
            "Adult census (a table)",
            "32,561 people from the 1994 US census with their age, education, occupation… and whether "
            "they earn more than $50k a year: the table of chapter 9 of the fastai book.",
            layout="adult",
            task="tabular_classification",
        ),
        Entry(
            "ML_SAMPLE",
            "movie_lens_sample",
            f"{ORIGIN}/fast-ai-sample/movie_lens_sample.tgz",
            51790,
            "10961384dfe7c5181460390a460c1f77",
            "MovieLens sample (ratings)",
            "Ratings of the most-rated films by the most active users of MovieLens, each 0.5 to 5 stars: "
            "collaborative filtering as in chapter 8 of the fastai book.",
            layout="movielens_sample",
            task="collaborative",
        ),
    ]
}


def _stripped(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text cell without the spaces around it (UCI's adult.csv has ", Private")."""
    return frame.apply(lambda col: col.map(lambda c: c.strip() if isinstance(c, str) else c))


def _as_is(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


@dataclass(frozen=True)
class TableLayout:
    """Which CSV of a table archive becomes the dataset, with which roles, cleaned how."""

    kind: str  # "table" (table.csv) or "ratings" (ratings.csv)
    file: str  # the CSV's path inside the archive
    roles: TableRoles | RatingRoles
    convert: Callable[[pd.DataFrame], pd.DataFrame] = _as_is


TABLE_LAYOUTS = {
    # fastai's adult_sample/adult.csv: UCI's census table, its values written after ", ".
    "adult": TableLayout(
        "table",
        "adult_sample/adult.csv",
        TableRoles(
            "salary",
            ("workclass", "education", "marital-status", "occupation", "relationship", "race"),
            ("age", "fnlwgt", "education-num"),
        ),
        convert=_stripped,
    ),
    # movie_lens_sample/ratings.csv: userId,movieId,rating,timestamp.
    "movielens_sample": TableLayout(
        "ratings", "movie_lens_sample/ratings.csv", RatingRoles("userId", "movieId", "rating")
    ),
}

IMAGENETTE_CLASSES = {
    "n01440764": "tench",
    "n02102040": "English springer",
    "n02979186": "cassette player",
    "n03000684": "chain saw",
    "n03028079": "church",
    "n03394916": "French horn",
    "n03417042": "garbage truck",
    "n03425413": "gas pump",
    "n03445777": "golf ball",
    "n03888605": "parachute",
}
PET_NAME = re.compile(r"^(.+)_\d+\.jpe?g$", re.IGNORECASE)


def relabel_for(layout: str) -> Callable[[tuple[str, ...]], tuple[str, ...] | None] | None:
    """How a catalogue archive's paths become class folders (None: they already are, or the
    entry's task reads the layout as it is: planet, camvid)."""
    if layout == "pets":

        def pets(parts: tuple[str, ...]) -> tuple[str, ...] | None:
            # oxford-iiit-pet/images/Abyssinian_12.jpg → Abyssinian/Abyssinian_12.jpg
            if len(parts) < 2 or parts[-2] != "images":
                return None  # annotations, trimaps: not needed for classification
            match = PET_NAME.match(parts[-1])
            return (match.group(1), parts[-1]) if match else ("unlabelled", parts[-1])

        return pets
    if layout == "imagenette":

        def imagenette(parts: tuple[str, ...]) -> tuple[str, ...] | None:
            if parts[-1].endswith(".csv"):
                return None  # noisy-label variants, not used here
            return tuple(IMAGENETTE_CLASSES.get(p, p) for p in parts)

        return imagenette
    return None
