"""Downloads against a real HTTP server on 127.0.0.1 serving archives generated here."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from core import workspace
from core.data import catalogue, datasets, download
from core.errors import UserError
from core.fsutil import human_size
from core.jobs.store import DONE, Store
from core.jobs.worker import run_job
from tests.inputs import class_images, png, tar_bytes, tree

ARCHIVE = tar_bytes(
    {
        **class_images(per_class=6, prefix="toys/train/", size=20),
        **class_images(per_class=2, prefix="toys/valid/", size=20),
        "toys/labels.csv": b"name,label\n",
    }
)


class Server:
    """A loopback HTTP server: whole files, a file cut off half-way, and a request log."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.drop: dict[str, bytes] = {}  # served with the full length, cut off half-way
        self.requests: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def _send(self, head_only: bool):
                outer.requests.append((self.command, self.path))
                body = outer.files.get(self.path) or outer.drop.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if head_only:
                    return
                if self.path in outer.drop:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)  # hang up mid-transfer
                    return
                for i in range(0, len(body), 4096):
                    self.wfile.write(body[i : i + 4096])

            def do_GET(self):
                self._send(False)

            def do_HEAD(self):
                self._send(True)

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that hangs up early (a refused download) is expected here

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def md5_head(data: bytes) -> str:
    return hashlib.md5(data[: 2**20]).hexdigest()


@pytest.fixture
def toy_entry(server, monkeypatch, fresh_workspace) -> catalogue.Entry:
    """A catalogue entry for the generated archive, served by the loopback server."""
    server.files["/fast-ai-sample/toys.tgz"] = ARCHIVE
    entry = catalogue.Entry(
        "TOYS",
        "toys",
        f"{catalogue.ORIGIN}/fast-ai-sample/toys.tgz",
        len(ARCHIVE),
        md5_head(ARCHIVE),
        "Toys",
        "Generated for the tests.",
    )
    monkeypatch.setitem(catalogue.CATALOGUE, "TOYS", entry)
    monkeypatch.setenv(catalogue.MIRROR_VAR, server.url)
    monkeypatch.setattr(download, "REPORT_EVERY", 0.0)
    monkeypatch.setattr(download, "CHUNK", 8192)
    return entry


def test_fetch_streams_the_file_and_reports_progress(server, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "REPORT_EVERY", 0.0)
    monkeypatch.setattr(download, "CHUNK", 8192)
    body = ARCHIVE * 4
    server.files["/a.tgz"] = body
    seen = []
    dest = download.fetch(
        f"{server.url}/a.tgz",
        tmp_path / "a.tgz",
        expected_size=len(body),
        expected_md5_head=md5_head(body),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert dest.read_bytes() == body
    assert len(seen) >= 3
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[-1] == (len(body), len(body))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tgz"]  # no .part left


def test_a_connection_dropped_half_way_keeps_nothing(server, tmp_path):
    server.drop["/cut.tgz"] = ARCHIVE
    with pytest.raises(UserError) as e:
        download.fetch(f"{server.url}/cut.tgz", tmp_path / "cut.tgz")
    assert "The download of cut.tgz stopped after" in str(e.value)
    assert "the connection was closed. Nothing was kept; try again." in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_a_size_or_checksum_other_than_the_catalogues_is_refused(server, tmp_path):
    server.files["/a.tgz"] = ARCHIVE
    with pytest.raises(
        UserError, match=f"offers a.tgz as {len(ARCHIVE):,} bytes, but fastai's catalogue says 1,234"
    ):
        download.fetch(f"{server.url}/a.tgz", tmp_path / "a.tgz", expected_size=1234)
    with pytest.raises(UserError, match="is not the file fastai's catalogue records"):
        download.fetch(
            f"{server.url}/a.tgz", tmp_path / "a.tgz", expected_size=len(ARCHIVE), expected_md5_head="0" * 32
        )
    with pytest.raises(UserError, match=r"The server refused nope.tgz: HTTP 404"):
        download.fetch(f"{server.url}/nope.tgz", tmp_path / "nope.tgz")
    with pytest.raises(UserError, match=r"a.tgz is \d+ KB, more than the 2 KB allowed"):
        download.fetch(f"{server.url}/a.tgz", tmp_path / "a.tgz", max_bytes=2048)
    with pytest.raises(UserError, match="Only http and https downloads are allowed"):
        download.fetch("file:///etc/passwd", tmp_path / "passwd")
    assert list(tmp_path.iterdir()) == []


def test_the_download_job_reports_progress_and_adds_the_dataset(toy_entry, tmp_path):
    class Recording(Store):
        def __init__(self, path):
            super().__init__(path)
            self.reports: list[tuple[float, str]] = []

        def set_progress(self, job_id, progress, message=None):
            self.reports.append((progress, message))
            super().set_progress(job_id, progress, message)

    store = Recording(workspace.db_path())
    job_id = store.submit("download", {"key": "TOYS"})
    assert run_job(store, store.claim_next(pid=1)) == DONE
    job = store.get(job_id)
    assert job.result["dataset"] == "toys"
    assert job.result["images"] == 16 and job.result["classes"] == {"cats": 8, "dogs": 8}
    assert job.progress == 1.0
    downloading = [(f, m) for f, m in store.reports if m.startswith("downloading")]
    assert len(downloading) >= 2
    assert [f for f, _ in downloading] == sorted(f for f, _ in downloading)
    assert downloading[-1][1].startswith(
        f"downloading {human_size(len(ARCHIVE))} of {human_size(len(ARCHIVE))}"
    )
    assert any(m.startswith("checked") for _, m in store.reports)  # then every image is checked
    # It trains like any dataset: train/ and valid/ are kept as the split.
    info = datasets.resolve("toys")
    items = datasets.read_image_folder(info.path)
    assert items.vocab == ["cats", "dogs"] and sum(items.is_valid) == 4
    assert datasets.metadata(info)["source"] == f"download {toy_entry.source_url}"
    assert (workspace.root() / "downloads" / "toys.tgz").read_bytes() == ARCHIVE  # the cache


def test_the_cache_rebuilds_a_dataset_without_the_network(toy_entry, server):
    download.install("TOYS")
    assert download.install("TOYS") == {"dataset": "toys", "already": True}
    gets = len([r for r in server.requests if r[0] == "GET"])
    shutil.rmtree(workspace.root() / "datasets" / "toys")
    result = download.install("TOYS")
    assert result["from_cache"] is True and result["images"] == 16
    assert len([r for r in server.requests if r[0] == "GET"]) == gets  # no second download


def test_an_interrupted_download_leaves_no_partial_dataset(toy_entry, server, fresh_workspace):
    server.files.pop("/fast-ai-sample/toys.tgz")
    server.drop["/fast-ai-sample/toys.tgz"] = ARCHIVE
    before = tree(fresh_workspace)
    store = Store()
    job_id = store.submit("download", {"key": "TOYS"})
    run_job(store, store.claim_next(pid=1))
    job = store.get(job_id)
    assert job.state == "FAILED"
    assert "The download of toys.tgz stopped after" in job.error
    assert "datasets/toys" not in tree(fresh_workspace)
    leftovers = set(tree(fresh_workspace)) - set(before)
    ours = ("datasets", "downloads", workspace.STAMP)  # the folders, and the workspace's format stamp
    assert all(p in ours or p.startswith("runs.sqlite") for p in leftovers), leftovers
    assert "toys" not in datasets.available()


def test_stopping_a_download_keeps_nothing(toy_entry, fresh_workspace):
    store = Store()
    job_id = store.submit("download", {"key": "TOYS"})
    job = store.claim_next(pid=1)
    store.request_cancel(job_id)  # asked before the first byte arrives
    assert run_job(store, job) == "CANCELLED"
    assert store.get(job_id).result == {"dataset": "toys", "cancelled": True}
    assert not (fresh_workspace / "downloads" / "toys.tgz").exists()
    assert "toys" not in datasets.available()


def test_a_damaged_archive_from_the_server_adds_nothing(toy_entry, server, monkeypatch):
    bad = tar_bytes({"toys/cats/a.png": png(), "toys/../../evil.png": png()})
    server.files["/fast-ai-sample/toys.tgz"] = bad
    monkeypatch.setitem(
        catalogue.CATALOGUE, "TOYS", dataclasses.replace(toy_entry, size=len(bad), md5_head=md5_head(bad))
    )
    with pytest.raises(UserError, match="climbs out of its folder"):
        download.install("TOYS")
    assert "toys" not in datasets.available()


def test_offline_is_detected_quickly_cached_and_explained(server, monkeypatch):
    monkeypatch.setenv(download.OFFLINE_VAR, "1")
    assert download.availability() == (False, "PLAYGROUND_OFFLINE is set, so the network is never tried")
    monkeypatch.delenv(download.OFFLINE_VAR)
    download.forget_availability()
    server.files["/fast-ai-sample/mnist_tiny.tgz"] = b"x"
    monkeypatch.setenv(catalogue.MIRROR_VAR, server.url)
    assert download.availability()[0] is True
    assert download.availability()[0] is True
    assert server.requests == [("HEAD", "/fast-ai-sample/mnist_tiny.tgz")]  # asked once
    server.close()
    download.forget_availability()
    online, reason = download.availability(timeout=1.0)
    assert online is False
    assert reason.startswith("no internet: 127.0.0.1:") and "cannot be reached" in reason
    download.forget_availability()


def test_catalogue_layouts_turn_paths_into_classes():
    assert set(catalogue.CATALOGUE) >= {"MNIST_SAMPLE", "MNIST_TINY", "PETS", "IMAGENETTE_160"}
    pets = catalogue.relabel_for("pets")
    assert pets(("oxford-iiit-pet", "images", "great_pyrenees_12.jpg")) == (
        "great_pyrenees",
        "great_pyrenees_12.jpg",
    )
    assert pets(("oxford-iiit-pet", "annotations", "trimaps", "x.png")) is None
    nette = catalogue.relabel_for("imagenette")
    assert nette(("imagenette2-160", "val", "n03028079", "a.JPEG")) == (
        "imagenette2-160",
        "val",
        "church",
        "a.JPEG",
    )
    assert nette(("imagenette2-160", "noisy_imagenette.csv")) is None
    assert catalogue.relabel_for("folders") is None
    for entry in catalogue.CATALOGUE.values():  # every entry fits the limits it is fetched under
        assert entry.size <= download.MAX_DOWNLOAD
        assert entry.url.startswith(catalogue.ORIGIN + "/fast-ai-")
    assert Path(catalogue.CATALOGUE["PETS"].archive_name).name == "oxford-iiit-pet.tgz"


# --- no declared length, and the .part files a crash leaves ---------------------------------------


class UnsizedServer(Server):
    """Serves /<name> without a Content-Length: the body ends when the connection closes."""

    def __init__(self, body: bytes):
        super().__init__()
        outer_body = body
        handler = self.httpd.RequestHandlerClass

        def do_GET(self):
            self.send_response(200)
            self.end_headers()  # HTTP/1.0 without a length: the body runs to the close
            self.wfile.write(outer_body)

        handler.do_GET = do_GET


@pytest.mark.parametrize("served", ["short", "long"])
def test_without_a_declared_length_a_wrong_size_is_called_a_wrong_size(served, tmp_path):
    body = ARCHIVE[: len(ARCHIVE) // 2] if served == "short" else ARCHIVE + b"\0" * 5000
    s = UnsizedServer(body)
    try:
        with pytest.raises(UserError) as e:
            download.fetch(f"{s.url}/a.tgz", tmp_path / "a.tgz", expected_size=len(ARCHIVE))
    finally:
        s.close()
    text = str(e.value)
    assert "connection was closed" not in text
    got = f"got {len(body):,} bytes" if served == "short" else f"got more than {len(ARCHIVE):,} bytes"
    assert f"a.tgz is not the file fastai's catalogue records: {got}, expected {len(ARCHIVE):,}" in text
    assert list(tmp_path.iterdir()) == []


def test_without_a_declared_length_the_checksum_is_still_checked(tmp_path):
    s = UnsizedServer(ARCHIVE)
    try:
        with pytest.raises(UserError, match="its checksum differs"):
            download.fetch(
                f"{s.url}/a.tgz", tmp_path / "a.tgz", expected_size=len(ARCHIVE), expected_md5_head="0" * 32
            )
        dest = download.fetch(
            f"{s.url}/a.tgz",
            tmp_path / "a.tgz",
            expected_size=len(ARCHIVE),
            expected_md5_head=md5_head(ARCHIVE),
        )
    finally:
        s.close()
    assert dest.read_bytes() == ARCHIVE


def test_a_download_sweeps_the_stale_part_files_a_crash_left(server, fresh_workspace):
    import os
    import subprocess
    import time

    folder = download.cache_dir()
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id that no longer runs
    old = folder / f".pets.tgz.{gone.pid}.1.part"
    old.write_bytes(b"x" * 3000)
    live = folder / f".pets.tgz.{os.getpid()}.2.part"  # a download of this process, still writing
    live.write_bytes(b"y" * 10)
    recent = folder / f".mnist.tgz.{gone.pid}.3.part"  # an hour old: perhaps a slow disk; kept
    recent.write_bytes(b"z")
    day = time.time() - download.STALE_PART - 60
    for p in (old, live):
        os.utime(p, (day, day))
    hour = time.time() - 3600
    os.utime(recent, (hour, hour))
    server.files["/a.tgz"] = ARCHIVE
    download.fetch(f"{server.url}/a.tgz", folder / "a.tgz")
    assert sorted(p.name for p in folder.iterdir()) == sorted(["a.tgz", live.name, recent.name])
    assert download.sweep_parts() == 0  # the worker's call at start: nothing stale left
