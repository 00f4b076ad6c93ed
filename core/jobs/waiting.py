"""The "wait" job: a job whose cost is waiting, not computing, for queue benches and cluster tests.

It sleeps `seconds` in `steps` equal steps, writing a batch record after each and stopping at
the next step when asked to, exactly like a training run's batches (core.train.callbacks).
"""

from __future__ import annotations

import time

from core.jobs.store import Job, Store

MAX_SECONDS = 3600.0


def run_wait_job(job: Job, store: Store) -> dict:
    """Wait job.params["seconds"] (≤ 1 h) in job.params["steps"] steps; returns how many ran."""
    seconds = min(max(float(job.params.get("seconds", 1.0)), 0.0), MAX_SECONDS)
    steps = max(1, int(job.params.get("steps", 10)))
    started = time.monotonic()
    for step in range(1, steps + 1):
        if store.cancel_requested(job.id):
            return {"steps": step - 1, "cancelled": True}
        time.sleep(seconds / steps)
        store.add_batches(job.id, [(step, float(steps - step), 0.0, None)])
        store.set_progress(job.id, step / steps, f"step {step} of {steps}")
    return {"steps": steps, "seconds": time.monotonic() - started}
