"""Warm-up at server start, in a background thread: the default built-in dataset is written (alone on
a laptop) and the pages' heavier modules imported before a person first opens them, so no first
visit waits for it."""

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
_dataset_ready = threading.Event()  # the default dataset is written (or writing it failed)
log = logging.getLogger(__name__)


def warm_up(modules: tuple[str, ...] = MODULES, overview: bool = True) -> None:
    """Write the default dataset if the workspace lacks it, import modules, build one figure of each
    kind the pages draw (plotly loads each trace type's validators on first use) and, with overview,
    fill the Data page's cached image-size table of the default dataset. Errors are logged: the page
    that needs the thing reports it in its own words. On a shared dashboard (a class file) only
    the modules and figures: this thread belongs to nobody, so it would write into the default
    space, which no person uses; each person's own first visit writes their copy."""
    from core.config import TrainConfig
    from core.data import access, datasets

    info = None
    try:
        if not _shared():
            info = datasets.resolve(TrainConfig().dataset)
    except Exception:  # noqa: BLE001 - a warm-up never fails the server; the Data page says why
        log.exception("warm-up: preparing the default dataset failed")
        info = None
    finally:
        _dataset_ready.set()
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001
            log.exception("warm-up: importing %s failed", name)
    try:
        import plotly.graph_objects as go

        go.Figure([go.Scatter(x=[0], y=[0]), go.Bar(x=[0], y=[0]), go.Heatmap(z=[[0]])]).to_json()
        if overview and info is not None and info.task == "single_label":
            from dashboard.views import data_choose, data_overview

            items = access.items(info)
            data_overview._sizes(str(items.root), data_choose.stamp(items), tuple(items.files))
    except Exception:  # noqa: BLE001
        log.exception("warm-up: drawing the first figures failed")


def _shared() -> bool:
    """True when the dashboard is shared, or its class file cannot be read (then write nothing)."""
    from core import people

    try:
        return people.shared()
    except Exception:  # noqa: BLE001 - the app's own run says what is wrong with the class file
        return True


def wait_for_dataset(timeout: float = 60.0) -> None:
    """Wait until the warm-up has written the default dataset, when it is doing so now: a page that
    needs it then reads it instead of writing a second copy alongside."""
    if _started.is_set():
        _dataset_ready.wait(timeout)


def start(delay_s: float = DELAY_S) -> bool:
    """Start the warm-up once per server process; True when this call started it."""
    with _lock:
        if _started.is_set():
            return False
        _started.set()

    def run() -> None:
        time.sleep(delay_s)
        warm_up()

    threading.Thread(target=run, name="playground-warm-up", daemon=True).start()
    return True
