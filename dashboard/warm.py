"""Warm-up at server start, in a background thread: the default built-in dataset is written and the
pages' heavier modules imported before a person first opens them, so no first visit waits for it."""

from __future__ import annotations

import importlib
import logging
import threading
import time

# What the pages import below the router (no torch, no fastai: those stay in the worker).
MODULES = (
    "plotly.graph_objects",
    "dashboard.figures",
    "dashboard.data_figures",
    "dashboard.lr_view",
    "dashboard.train_form",
    "dashboard.views.data_overview",
    "dashboard.views.data_pipeline",
    "dashboard.views.data_augment",
    "dashboard.views.data_add",
    "dashboard.views.data_table",
    "PIL.Image",
)
DELAY_S = 1.0  # after the first page has drawn: the warm-up must not slow the first paint

_lock = threading.Lock()
_started = threading.Event()
_done = threading.Event()
log = logging.getLogger(__name__)


def warm_up(modules: tuple[str, ...] = MODULES) -> None:
    """Write the default dataset if the workspace lacks it, then import modules (errors are logged:
    the page that needs them reports them in its own words)."""
    from core.config import TrainConfig
    from core.data import datasets

    try:
        datasets.resolve(TrainConfig().dataset)
    except Exception:  # noqa: BLE001 - a warm-up never fails the server; the Data page says why
        log.exception("warm-up: preparing the default dataset failed")
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001
            log.exception("warm-up: importing %s failed", name)


def start(delay_s: float = DELAY_S) -> bool:
    """Start the warm-up once per server process; True when this call started it."""
    with _lock:
        if _started.is_set():
            return False
        _started.set()

    def run() -> None:
        time.sleep(delay_s)
        try:
            warm_up()
        finally:
            _done.set()

    threading.Thread(target=run, name="playground-warm-up", daemon=True).start()
    return True
