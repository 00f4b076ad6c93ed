"""Stand-in job handlers for the lane tests (named "tests.lane_fakes:…" in worker.HANDLERS), light
enough to import in a child worker process without fastai."""

from __future__ import annotations

import threading
import time

RELEASE = threading.Event()  # a blocking job returns once this is set (or it is asked to stop)
SEEN: dict = {}


def reset() -> None:
    """Forget what earlier jobs did; blocking jobs block again."""
    RELEASE.clear()
    SEEN.clear()
    SEEN.update(lock=threading.Lock(), compute_now=0, compute_max=0, order=[])


def blocking(job, store) -> dict:
    """A long job: runs until RELEASE is set or someone asks it to stop (counts compute overlap)."""
    compute = job.kind != "download"
    with SEEN["lock"]:
        SEEN["compute_now"] += compute
        SEEN["compute_max"] = max(SEEN["compute_max"], SEEN["compute_now"])
        SEEN["order"].append(job.id)
    try:
        while not RELEASE.wait(0.02):
            if store.cancel_requested(job.id):
                return {"cancelled": True}
        return {"ok": job.id}
    finally:
        with SEEN["lock"]:
            SEEN["compute_now"] -= compute


def quick(job, store) -> dict:
    """A short job (a small download)."""
    store.set_progress(job.id, 0.5, "downloading")
    time.sleep(0.1)
    return {"ok": job.id}


reset()
