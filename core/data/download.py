"""fastai's downloadable datasets: the catalogue, an online check, and streamed, checked downloads.

A download is streamed to a hidden temporary file in the workspace, checked against the size
the server announced and the size (and the MD5 of the first megabyte) that fastai's catalogue
records, renamed into the archive cache only when whole, then extracted with the same checks
as an upload. An interrupted transfer leaves neither a partial archive nor a partial dataset.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from core import workspace
from core.data import ingest
from core.data.catalogue import CATALOGUE, TABLE_LAYOUTS, Entry, relabel_for
from core.data.ingest.sources import IngestCancelled, Limits
from core.errors import UserError
from core.fsutil import human_size, publish

OFFLINE_VAR = "PLAYGROUND_OFFLINE"  # set to 1 to never try the network
PROBE_TIMEOUT = 2.0  # seconds: the page waits at most this long to learn it is offline
PROBE_TTL = 60.0  # seconds an online/offline answer is reused
READ_TIMEOUT = 30.0  # seconds without a byte before a download is given up
CHUNK = 256 * 1024
REPORT_EVERY = 0.25  # seconds between progress reports
MAX_DOWNLOAD = 2 * 2**30  # bytes: the largest archive fetched (PETS is 0.8 GB)
# A download left behind by a crash (its hidden .part file) is removed once it is this old and
# its process is gone: a running download writes to its file every few seconds.
STALE_PART = 24 * 3600.0  # seconds
PART_SUFFIX = ".part"


# --- online or not --------------------------------------------------------------------------

_probe_lock = threading.Lock()
_probe_cache: dict[str, tuple[float, bool, str]] = {}


def availability(timeout: float = PROBE_TIMEOUT, ttl: float = PROBE_TTL) -> tuple[bool, str]:
    """(online, reason): whether the catalogue's server answers, asked at most once a minute.

    The check is one HEAD request with a short timeout, run in a thread so that a slow name
    lookup cannot hold the page up longer than timeout.
    """
    if os.environ.get(OFFLINE_VAR, "") not in ("", "0"):
        return False, f"{OFFLINE_VAR} is set, so the network is never tried"
    url = CATALOGUE["MNIST_TINY"].source_url
    now = time.monotonic()
    with _probe_lock:
        cached = _probe_cache.get(url)
        if cached and now - cached[0] < ttl:
            return cached[1], cached[2]
    answer: list[tuple[bool, str]] = []

    def probe() -> None:
        answer.append(_probe(url, timeout))

    thread = threading.Thread(target=probe, name="online-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    host = urllib.parse.urlparse(url).netloc
    result = answer[0] if answer else (False, f"no answer from {host} within {timeout:g} s")
    with _probe_lock:
        _probe_cache[url] = (time.monotonic(), *result)
    return result


def forget_availability() -> None:
    """Ask the network again next time (after a person says they are back online)."""
    with _probe_lock:
        _probe_cache.clear()


def _probe(url: str, timeout: float) -> tuple[bool, str]:
    host = urllib.parse.urlparse(url).netloc
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return True, f"{host} answered ({response.status})"
    except urllib.error.HTTPError as e:
        return False, f"{host} answered with HTTP {e.code} ({e.reason})"
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, socket.gaierror):
            return False, f"no internet: the name {host} cannot be looked up"
        return False, f"no internet: {host} cannot be reached ({reason})"
    except (TimeoutError, OSError) as e:
        return False, f"no internet: {host} did not answer ({e})"


# --- status of each entry -------------------------------------------------------------------


def cache_dir() -> Path:
    """Where whole archives are kept, so a dataset can be rebuilt without downloading again."""
    return workspace.subdir("downloads")


def installed(entry: Entry) -> bool:
    """True when the dataset is in the workspace."""
    return (workspace.subdir("datasets") / entry.name).is_dir()


def cached_archive(entry: Entry) -> Path | None:
    """The whole archive in the cache, when it is there."""
    path = cache_dir() / entry.archive_name
    return path if path.is_file() else None


# --- the download ---------------------------------------------------------------------------


def fetch(
    url: str,
    dest: Path,
    *,
    expected_size: int | None = None,
    expected_md5_head: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    max_bytes: int = MAX_DOWNLOAD,
) -> Path:
    """Stream url into dest, atomically: a hidden temporary file renamed only when whole.

    Checks the length the server announced, the bytes actually received, and (when given)
    fastai's recorded size and first-MiB MD5. progress(done, total) is called as bytes arrive.
    Any failure removes the temporary file and raises UserError.
    """
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https"):
        raise UserError(f"Only http and https downloads are allowed, not {scheme!r}.")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sweep_parts(dest.parent)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}{PART_SUFFIX}")
    name = dest.name
    try:
        try:
            response = urllib.request.urlopen(url, timeout=READ_TIMEOUT)
        except urllib.error.HTTPError as e:
            raise UserError(f"The server refused {name}: HTTP {e.code} ({e.reason}).") from e
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise UserError(f"Cannot download {name}: {reason}. Are you online?") from e
        with response:
            announced = response.headers.get("Content-Length")
            total = int(announced) if announced and announced.isdigit() else None
            sized = total is not None  # a short body then means the connection was closed
            if total is not None and expected_size is not None and total != expected_size:
                raise UserError(
                    f"The server offers {name} as {total:,} bytes, but fastai's catalogue says "
                    f"{expected_size:,}; it is not the expected file, so it was not downloaded."
                )
            limit = max_bytes
            if (total or 0) > limit:
                raise UserError(
                    f"{name} is {human_size(total)}, more than the "
                    f"{human_size(limit)} allowed for one download."
                )
            total = total or expected_size
            done, last = 0, 0.0
            head = hashlib.md5()
            with open(tmp, "wb") as out:
                while True:
                    if cancelled and cancelled():
                        raise IngestCancelled()
                    try:
                        chunk = response.read(CHUNK)
                    except (OSError, ValueError, http.client.HTTPException) as e:  # reset, timeout
                        raise _cut_short(name, done, total) from e
                    if not chunk:
                        break
                    if done < 2**20:
                        head.update(chunk[: 2**20 - done])
                    done += len(chunk)
                    if not sized and expected_size is not None and done > expected_size:
                        raise _wrong_size(name, done, expected_size, more=True)
                    if done > limit:
                        raise UserError(
                            f"{name} is larger than the {human_size(limit)} allowed "
                            "for one download; stopped."
                        )
                    out.write(chunk)
                    if progress and time.monotonic() - last >= REPORT_EVERY:
                        last = time.monotonic()
                        progress(done, total)
        if sized and done != total:
            raise _cut_short(name, done, total)
        if expected_size is not None and done != expected_size:
            raise _wrong_size(name, done, expected_size)
        if expected_md5_head is not None and head.hexdigest() != expected_md5_head:
            raise UserError(
                f"{name} is not the file fastai's catalogue records (its checksum differs); it was not kept."
            )
        if progress:
            progress(done, total)
        return publish(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _wrong_size(name: str, done: int, expected: int, more: bool = False) -> UserError:
    """The server sent another size than fastai's catalogue records (no length was announced)."""
    got = f"more than {expected:,} bytes" if more else f"{done:,} bytes"
    return UserError(
        f"{name} is not the file fastai's catalogue records: got {got}, expected {expected:,}; "
        "it was not kept."
    )


def _part_owner_alive(path: Path) -> bool:
    """True when the process named in a .part file's name (.<name>.<pid>.<thread>.part) still runs."""
    pieces = path.name.split(".")
    pid = pieces[-3] if len(pieces) >= 4 else ""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def stale_parts(folder: Path | None = None, max_age: float = STALE_PART) -> list[Path]:
    """The .part files a crashed download left: older than max_age and not held by a live process."""
    folder = cache_dir() if folder is None else Path(folder)
    now, found = time.time(), []
    for path in folder.glob(f".*{PART_SUFFIX}"):
        try:
            age = now - path.stat().st_mtime
        except OSError:
            continue
        if age >= max_age and not _part_owner_alive(path):
            found.append(path)
    return found


def sweep_parts(folder: Path | None = None, max_age: float = STALE_PART) -> int:
    """Remove the stale .part files (stale_parts) of the downloads folder; returns the bytes freed.

    Called when a download starts and when the worker starts.
    """
    freed = 0
    for path in stale_parts(folder, max_age):
        try:
            size = path.stat().st_size
            path.unlink()
        except OSError:
            continue
        freed += size
    return freed


def _cut_short(name: str, done: int, total: int | None) -> UserError:
    of = f" of {human_size(total)}" if total else ""
    return UserError(
        f"The download of {name} stopped after {human_size(done)}{of}: the "
        "connection was closed. Nothing was kept; try again."
    )


def install(
    key: str,
    progress: Callable[[float, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> dict:
    """Download (or take from the cache) catalogue entry key and add it as a dataset.

    Returns what happened: the dataset's name, its images and classes, what was skipped,
    and whether the archive came from the cache.
    """
    if key not in CATALOGUE:
        raise UserError(f"{key!r} is not in the catalogue; choose one of: {', '.join(CATALOGUE)}.")
    entry = CATALOGUE[key]
    if installed(entry):
        return {"dataset": entry.name, "already": True}
    started = time.monotonic()
    archive = cached_archive(entry)
    from_cache = archive is not None
    if archive is None:

        def on_bytes(done: int, total: int | None) -> None:
            if progress:
                elapsed = max(time.monotonic() - started, 1e-3)
                of = f" of {human_size(total)}" if total else ""
                frac = 0.8 * done / total if total else 0.0
                progress(frac, f"downloading {human_size(done)}{of} ({human_size(done / elapsed)}/s)")

        if progress:
            progress(0.0, f"connecting to {urllib.parse.urlparse(entry.source_url).netloc}")
        archive = fetch(
            entry.source_url,
            cache_dir() / entry.archive_name,
            expected_size=entry.size,
            expected_md5_head=entry.md5_head,
            progress=on_bytes,
            cancelled=cancelled,
        )

    def on_ingest(frac: float, text: str) -> None:
        if progress:
            progress(0.8 + 0.2 * frac, text)

    limits = Limits(max_archive_bytes=max(entry.size, Limits().max_archive_bytes))
    if entry.layout in TABLE_LAYOUTS:  # a table or ratings: our table layout, not image folders
        from core.data.ingest import table

        result = table.add_download(entry, archive, limits, on_ingest, cancelled)
        return {**result, "from_cache": from_cache, "seconds": round(time.monotonic() - started, 2)}
    report = ingest.add_archive(
        archive,
        entry.name,
        shown_as=entry.archive_name,
        limits=limits,
        progress=on_ingest,
        cancelled=cancelled,
        relabel=relabel_for(entry.layout),
        task=entry.task,
        meta={
            "title": entry.title,
            "description": entry.description,
            "source": f"download {entry.source_url}",
            "catalogue_key": entry.key,
        },
    )
    return {
        "dataset": report.name,
        "task": report.task,
        "images": report.n_images,
        "classes": report.classes,
        "skipped": len(report.skipped),
        "from_cache": from_cache,
        "seconds": round(time.monotonic() - started, 2),
        "summary": report.summary(),
    }


def run_download_job(job, store) -> dict:
    """The worker's entry point for a "download" job: params {"key": a catalogue key}."""
    key = job.params.get("key", "")

    def progress(frac: float, text: str) -> None:
        store.set_progress(job.id, min(1.0, max(0.0, frac)), text)

    try:
        return install(key, progress=progress, cancelled=lambda: store.cancel_requested(job.id))
    except IngestCancelled:
        return {"dataset": CATALOGUE[key].name if key in CATALOGUE else key, "cancelled": True}
