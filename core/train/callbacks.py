"""fastai callbacks that stream a run's records into the job store and stop it on request."""

from __future__ import annotations

import time

from fastai.callback.core import Callback, CancelFitException
from fastai.learner import Recorder

from core.jobs.store import Store

FLUSH_EVERY = 0.25  # seconds between writes of buffered batch records


class StreamToStore(Callback):
    """Write each training batch and each epoch to the store; raise CancelFitException on Stop.

    Steps and epochs count on across several fits (fine-tuning's frozen then unfrozen phase),
    so one run has one continuous history.
    """

    order = Recorder.order + 1  # after Recorder has updated smooth_loss and the epoch's log

    def __init__(self, store: Store, job_id: int, total_steps: int, record_epochs: bool = True):
        self.store, self.job_id, self.total_steps = store, job_id, max(1, total_steps)
        self.record_epochs = record_epochs
        self.step = 0
        self.epochs_done = 0
        self.phase = ""
        self.cancelled = False
        self._buffer: list[tuple] = []
        self._last_flush = 0.0
        self._epoch_start = 0.0

    def _flush(self) -> None:
        self.store.add_batches(self.job_id, self._buffer)
        self._buffer = []
        self._last_flush = time.monotonic()
        self.store.set_progress(self.job_id, min(1.0, self.step / self.total_steps))

    def before_epoch(self):
        self._epoch_start = time.perf_counter()

    def after_batch(self):
        if self.training:
            self.step += 1
            hypers = self.opt.hypers[-1]
            mom = hypers.get("mom")
            self._buffer.append(
                (self.step, float(self.smooth_loss), float(hypers["lr"]), None if mom is None else float(mom))
            )
            if time.monotonic() - self._last_flush > FLUSH_EVERY:
                self._flush()
        if self.store.cancel_requested(self.job_id):
            self.cancelled = True
            raise CancelFitException()

    def after_epoch(self):
        self._flush()
        if not self.record_epochs:
            return
        names = list(self.recorder.metric_names[3:-1])  # after epoch, train_loss, valid_loss
        record = list(self.learn.final_record)
        train_loss = float(record[0]) if record and record[0] is not None else None
        valid_loss = float(record[1]) if len(record) > 1 and record[1] is not None else None
        metrics = {n: float(v) for n, v in zip(names, record[2:]) if v is not None}
        self.store.add_epoch(
            self.job_id,
            self.epochs_done,
            train_loss,
            valid_loss,
            metrics,
            time.perf_counter() - self._epoch_start,
            self.step,
            self.phase,
        )
        self.epochs_done += 1

    def after_fit(self):
        self._flush()
