"""fastai callbacks of a run: stream its records into the job store and stop it on request,
checkpoint each epoch, stop early and keep the best epoch's weights (fastai's tracker callbacks)."""

from __future__ import annotations

import time

from fastai.callback.core import Callback, CancelFitException
from fastai.callback.tracker import EarlyStoppingCallback, SaveModelCallback, TrackerCallback
from fastai.learner import Recorder

from core.jobs.store import Store
from core.train import checkpoint

FLUSH_EVERY = 0.25  # seconds between writes of buffered batch records


class StreamToStore(Callback):
    """Write each training batch and each epoch to the store; raise CancelFitException on Stop.

    Steps and epochs count on across several fits (fine-tuning's frozen then unfrozen phase),
    so one run has one continuous history; a continued run starts them where its parent's
    checkpoint ended (first_epoch, first_step), so its curves sit on its parent's axes.
    """

    order = Recorder.order + 1  # after Recorder has updated smooth_loss and the epoch's log

    def __init__(
        self,
        store: Store,
        job_id: int,
        total_steps: int,
        record_epochs: bool = True,
        first_epoch: int = 0,
        first_step: int = 0,
    ):
        self.store, self.job_id, self.total_steps = store, job_id, max(1, total_steps)
        self.record_epochs = record_epochs
        self.first_epoch, self.first_step = first_epoch, first_step
        self.step = first_step  # the last batch's number (the parent's last, before the first)
        self.epochs_done = 0  # this run's own completed epochs
        self.phase = ""
        self.cancelled = False
        self._buffer: list[tuple] = []
        self._last_flush = 0.0
        self._last_check = 0.0
        self._epoch_start = 0.0

    def flush(self) -> None:
        """Write the batches recorded since the last write, and the progress, to the store."""
        rows = [(step, float(loss), lr, mom) for step, loss, lr, mom in self._buffer]  # one read each
        self.store.add_batches(self.job_id, rows)
        self._buffer = []
        self._last_flush = time.monotonic()
        self.store.set_progress(self.job_id, min(1.0, (self.step - self.first_step) / self.total_steps))

    def before_epoch(self):
        self._epoch_start = time.perf_counter()

    def after_batch(self):
        # Every training batch is recorded; the store is written, and the Stop flag read, once
        # per FLUSH_EVERY seconds (one transaction for the batches since), not once per batch.
        learn = self.learn  # read the learner's attributes directly: a callback's delegation costs
        if learn.training:
            self.step += 1
            hypers = learn.opt.hypers[-1]
            mom = hypers.get("mom")
            # the smoothed loss stays a tensor until the flush (no device sync per batch)
            lr, mom = float(hypers["lr"]), None if mom is None else float(mom)
            self._buffer.append((self.step, learn.smooth_loss, lr, mom))
        now = time.monotonic()
        if now - self._last_flush > FLUSH_EVERY:
            self.flush()
        # its own clock: the flush at each epoch's end must not put off the check when epochs
        # are shorter than FLUSH_EVERY (Stop would then never be seen)
        if now - self._last_check > FLUSH_EVERY:
            self._last_check = now
            if self.store.cancel_requested(self.job_id):
                self.cancelled = True
                raise CancelFitException()

    @property
    def epoch(self) -> int:
        """The number the next epoch takes (counting on from a parent's epochs)."""
        return self.first_epoch + self.epochs_done

    def after_epoch(self):
        self.flush()
        if not self.record_epochs:
            return
        names = list(self.recorder.metric_names[3:-1])  # after epoch, train_loss, valid_loss
        record = list(self.learn.final_record)
        train_loss = float(record[0]) if record and record[0] is not None else None
        valid_loss = float(record[1]) if len(record) > 1 and record[1] is not None else None
        metrics = {n: float(v) for n, v in zip(names, record[2:]) if v is not None}
        self.store.add_epoch(
            self.job_id,
            self.epoch,
            train_loss,
            valid_loss,
            metrics,
            time.perf_counter() - self._epoch_start,
            self.step,
            self.phase,
        )
        self.epochs_done += 1

    def after_fit(self):
        self.flush()


class SaveCheckpoint(Callback):
    """After each epoch, write the run's weights and optimizer state (core/train/checkpoint.py).

    Runs after StreamToStore has counted the epoch and before the tracker callbacks, so the
    epoch at which early stopping ends a run is checkpointed too. A run stopped mid-epoch keeps
    the checkpoint of its last completed epoch.
    """

    order = StreamToStore.order + 1

    def __init__(self, run_id: int, stream: StreamToStore, config: dict):
        self.run_id, self.stream, self.config = run_id, stream, config
        self.seconds = 0.0  # time spent writing checkpoints (the cost of resumability)

    def after_epoch(self):
        started = time.perf_counter()
        checkpoint.save(
            self.run_id,
            self.learn,
            epoch=self.stream.epoch,
            step=self.stream.step,
            run_epochs=self.stream.epochs_done,
            phase=self.stream.phase,
            config=self.config,
        )
        self.seconds += time.perf_counter() - started


def _quiet_track(cb: TrackerCallback) -> None:
    """TrackerCallback's comparison of the epoch's value with the best so far (no printing)."""
    TrackerCallback.after_epoch(cb)


class KeepBest(SaveModelCallback):
    """fastai's SaveModelCallback, keeping the best epoch's weights in memory, never as a pickle.

    SaveModelCallback saves with torch.save (a pickle) and loads the file back after each fit.
    Here an improvement copies the weights to the CPU, and the run puts them back once, after its
    last phase (with fine-tuning, the unfrozen phase must start from the frozen phase's last
    weights, not its best); the run then writes them as model.safetensors. The best is tracked
    over the whole run, not reset at each fit.
    """

    def __init__(self, monitor: str, stream: StreamToStore):
        super().__init__(monitor=monitor, reset_on_fit=False)
        self.stream = stream
        self.state: dict | None = None
        self.best_epoch: int | None = None  # the epoch number, as recorded in the store
        self.best_record: list | None = None  # fastai's final_record of that epoch

    def _save(self, name):
        self.state = {k: v.detach().to("cpu", copy=True) for k, v in self.learn.model.state_dict().items()}
        self.best_epoch = self.stream.epoch - 1  # StreamToStore has already counted this epoch
        self.best_record = list(self.learn.final_record)

    def after_epoch(self):
        _quiet_track(self)
        if self.new_best:
            self._save(self.fname)

    def after_fit(self, **kwargs):
        pass  # the run applies the kept weights after its last phase (keep())

    def keep(self, learn) -> bool:
        """Put the best epoch's weights and figures back into learn; False if none were kept.

        (After a fit fastai detaches its callbacks, so the learner is passed in.)
        """
        if self.state is None:
            return False
        learn.model.load_state_dict(self.state)
        learn.final_record = list(self.best_record)
        return True


class EarlyStop(EarlyStoppingCallback):
    """fastai's EarlyStoppingCallback, counting patience over the whole run and saying nothing.

    It ends the fit (CancelFitException) after `patience` epochs without improvement; the run
    then skips any later phase. stopped_after is the last epoch trained, as recorded.
    """

    def __init__(self, monitor: str, patience: int, stream: StreamToStore):
        super().__init__(monitor=monitor, patience=patience, reset_on_fit=False)
        self.stream = stream
        self.wait = 0
        self.stopped_after: int | None = None

    def before_fit(self):
        TrackerCallback.before_fit(self)  # fastai's resets the wait at each fit

    def after_epoch(self):
        _quiet_track(self)
        if self.new_best:
            self.wait = 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_after = self.stream.epoch - 1
            raise CancelFitException()
