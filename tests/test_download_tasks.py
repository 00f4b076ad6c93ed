"""PLANET_TINY and CAMVID_TINY: downloaded from a loopback server serving archives generated here in
the real layouts, checked like every download, and placed as multi-label and segmentation sets."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import workspace
from core.data import catalogue, datasets, download, layouts
from core.errors import UserError
from core.jobs.store import DONE, Store
from core.jobs.worker import run_job
from tests.inputs import tar_bytes, tree
from tests.test_download import Server, md5_head

# CamVid's codes.txt: 32 classes, one per line (index 0 first).
CAMVID_CODES = (
    "Animal Archway Bicyclist Bridge Building Car CartLuggagePram Child Column_Pole Fence LaneMkgsDriv "
    "LaneMkgsNonDriv Misc_Text MotorcycleScooter OtherMoving ParkingBlock Pedestrian Road RoadShoulder "
    "Sidewalk SignSymbol Sky SUVPickupTruck TrafficCone TrafficLight Train Tree Truck_Bus Tunnel "
    "VegetationMisc Void Wall"
).split()
PLANET_TAGS = ["haze primary", "clear primary water", "cloudy", "clear primary road", "partly_cloudy primary"]


def picture(seed: int, fmt: str, size: tuple[int, int] = (24, 16)) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buf, fmt)
    return buf.getvalue()


def camvid_mask(seed: int, size: tuple[int, int] = (24, 16)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, len(CAMVID_CODES), (size[1], size[0]), dtype=np.uint8)


def png_of(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, "L").save(buf, "PNG")
    return buf.getvalue()


# planet_tiny.tgz: planet_tiny/labels.csv (image_name,tags; names without .jpg), planet_tiny/train/*.jpg
PLANET = tar_bytes(
    {
        "planet_tiny/labels.csv": (
            "image_name,tags\n" + "".join(f"train_{i},{t}\n" for i, t in enumerate(PLANET_TAGS))
        ).encode(),
        **{f"planet_tiny/train/train_{i}.jpg": picture(i, "JPEG") for i in range(len(PLANET_TAGS))},
    }
)
# camvid_tiny.tgz: camvid_tiny/codes.txt, images/<stem>.png, labels/<stem>_P.png (class indices)
STEMS = ["0001TP_006690", "0001TP_006720", "0006R0_f01890", "Seq05VD_f00330"]
CAMVID = tar_bytes(
    {
        "camvid_tiny/codes.txt": "".join(f"{c}\n" for c in CAMVID_CODES).encode(),
        **{f"camvid_tiny/images/{s}.png": picture(i, "PNG") for i, s in enumerate(STEMS)},
        **{f"camvid_tiny/labels/{s}_P.png": png_of(camvid_mask(i)) for i, s in enumerate(STEMS)},
    }
)


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def served(server, monkeypatch, fresh_workspace):
    """The two catalogue entries, their size and checksum those of the archives served here."""
    for key, archive in (("PLANET_TINY", PLANET), ("CAMVID_TINY", CAMVID)):
        entry = catalogue.CATALOGUE[key]
        server.files[f"/fast-ai-sample/{entry.archive_name}"] = archive
        monkeypatch.setitem(
            catalogue.CATALOGUE,
            key,
            dataclasses.replace(entry, size=len(archive), md5_head=md5_head(archive)),
        )
    monkeypatch.setenv(catalogue.MIRROR_VAR, server.url)
    monkeypatch.setattr(download, "REPORT_EVERY", 0.0)
    monkeypatch.setattr(download, "CHUNK", 4096)
    return server


def test_the_entries_are_fastais_own():
    """URL, size and first-MiB MD5 as fastai's download_checks.py records them (read, not imported)."""
    spec = importlib.util.find_spec("fastai")
    checks_file = Path(spec.submodule_search_locations[0]) / "data" / "download_checks.py"
    checks = ast.literal_eval(checks_file.read_text())
    for key, task in (("PLANET_TINY", "multi_label"), ("CAMVID_TINY", "segmentation")):
        entry = catalogue.CATALOGUE[key]
        assert (entry.size, entry.md5_head) == checks[entry.url]
        assert entry.task == task
        assert entry.name == entry.archive_name.removesuffix(".tgz")


class Recording(Store):
    """A job store that keeps every progress report a job made, to check what a person saw."""

    def __init__(self, path):
        super().__init__(path)
        self.reports: list[tuple[float, str]] = []

    def set_progress(self, job_id, progress, message=None):
        self.reports.append((progress, message))
        super().set_progress(job_id, progress, message)


def test_planet_tiny_is_downloaded_with_progress_as_a_multi_label_set(served):
    store = Recording(workspace.db_path())
    job_id = store.submit("download", {"key": "PLANET_TINY"})
    assert run_job(store, store.claim_next(pid=1)) == DONE
    result = store.get(job_id).result
    assert result["dataset"] == "planet_tiny" and result["task"] == "multi_label"
    assert result["images"] == 5 and result["classes"]["primary"] == 4
    assert result["summary"].startswith("Added planet_tiny: 5 images with 7 labels (clear 2, cloudy 1,")
    downloading = [f for f, m in store.reports if m.startswith("downloading")]
    assert len(downloading) >= 2 and downloading == sorted(downloading)
    assert any(m.startswith("checked") for _, m in store.reports)
    path = datasets.resolve("planet_tiny").path
    assert layouts.detect(path) == "multi_label"
    items = layouts.read_multi(path)
    assert items.files == [f"images/train_{i}.jpg" for i in range(5)]
    assert [" ".join(t) for t in items.labels] == PLANET_TAGS
    assert (path / "labels.csv").read_text().startswith("file,labels\nimages/train_0.jpg,haze primary\n")
    info = datasets.metadata(path)
    assert info["task"] == "multi_label" and info["catalogue_key"] == "PLANET_TINY"
    assert (workspace.root() / "downloads" / "planet_tiny.tgz").read_bytes() == PLANET  # the cache


def test_camvid_tiny_keeps_its_masks_and_codes_and_rebuilds_from_the_cache(served, monkeypatch):
    result = download.install("CAMVID_TINY")
    assert result["task"] == "segmentation" and result["images"] == 4
    path = workspace.subdir("datasets") / "camvid_tiny"
    items = layouts.read_seg(path)
    assert items.codes == CAMVID_CODES
    assert items.files == [f"images/{s}.png" for s in STEMS]
    for i, rel in enumerate(items.masks):
        with Image.open(path / rel) as m:
            assert (np.asarray(m) == camvid_mask(i)).all()
    assert datasets.metadata(path)["codes"] == CAMVID_CODES
    gets = len([r for r in served.requests if r[0] == "GET"])
    shutil.rmtree(path)
    monkeypatch.setenv(download.OFFLINE_VAR, "1")  # offline: the cached archive is enough
    again = download.install("CAMVID_TINY")
    assert again["from_cache"] is True and again["images"] == 4
    assert len([r for r in served.requests if r[0] == "GET"]) == gets
    assert layouts.read_seg(path).codes == CAMVID_CODES


def test_an_archive_other_than_fastais_is_refused_and_nothing_kept(served, fresh_workspace):
    entry = catalogue.CATALOGUE["CAMVID_TINY"]
    served.files[f"/fast-ai-sample/{entry.archive_name}"] = CAMVID[:-10] + b"0123456789"
    before = tree(fresh_workspace)
    with pytest.raises(UserError, match="is not the file fastai's catalogue records"):
        download.install("CAMVID_TINY")
    assert "camvid_tiny" not in datasets.available()
    assert not any("camvid_tiny" in p for p in set(tree(fresh_workspace)) - set(before))


def test_a_planet_download_cut_half_way_leaves_no_dataset(served, fresh_workspace):
    served.drop["/fast-ai-sample/planet_tiny.tgz"] = served.files.pop("/fast-ai-sample/planet_tiny.tgz")
    store = Store()
    job_id = store.submit("download", {"key": "PLANET_TINY"})
    run_job(store, store.claim_next(pid=1))
    job = store.get(job_id)
    assert job.state == "FAILED" and "The download of planet_tiny.tgz stopped after" in job.error
    assert not any("planet_tiny" in p for p in tree(fresh_workspace))


def test_a_camvid_archive_with_a_mask_past_the_codes_adds_nothing(served, monkeypatch):
    bad = tar_bytes(
        {
            "camvid_tiny/codes.txt": b"Void\nRoad\n",
            "camvid_tiny/images/a.png": picture(0, "PNG"),
            "camvid_tiny/labels/a_P.png": png_of(camvid_mask(0)),
        }
    )
    served.files["/fast-ai-sample/camvid_tiny.tgz"] = bad
    entry = catalogue.CATALOGUE["CAMVID_TINY"]
    monkeypatch.setitem(
        catalogue.CATALOGUE, "CAMVID_TINY", dataclasses.replace(entry, size=len(bad), md5_head=md5_head(bad))
    )
    with pytest.raises(UserError, match="labels/a_P.png has .* pixel\\(s\\) with values past the codes"):
        download.install("CAMVID_TINY")
    assert "camvid_tiny" not in datasets.available()
