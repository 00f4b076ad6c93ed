"""A job's live records in the store: one row per batch (step, smoothed loss, lr, momentum) and
one per epoch (losses, metrics, seconds). Store inherits these (core.jobs.store); a store that
does not see everyone reads and writes the records of its own space's jobs only."""

from __future__ import annotations

import json

import pandas as pd


class Records:
    """Store methods for the per-batch and per-epoch records."""

    def add_batches(self, job_id: int, rows: list[tuple[int, float, float, float | None]]) -> None:
        """Append per-batch records: (step, smoothed loss, learning rate, momentum)."""
        if not rows or not (self._everyone or self._owns(job_id)):
            return
        with self._tx() as con:
            con.executemany(
                "INSERT INTO batches(job_id, step, loss, lr, mom) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (job_id, step) DO UPDATE SET loss = excluded.loss, lr = excluded.lr, "
                "mom = excluded.mom",
                [(job_id, *r) for r in rows],
            )

    def add_epoch(
        self,
        job_id: int,
        epoch: int,
        train_loss: float | None,
        valid_loss: float | None,
        metrics: dict[str, float],
        seconds: float,
        step: int,
        phase: str = "",
    ) -> None:
        """Append one epoch's record."""
        if not (self._everyone or self._owns(job_id)):
            return
        with self._tx() as con:
            con.execute(
                "INSERT INTO epochs(job_id, epoch, phase, step, train_loss, valid_loss, metrics, seconds) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, epoch) DO UPDATE SET "
                "phase = excluded.phase, step = excluded.step, train_loss = excluded.train_loss, "
                "valid_loss = excluded.valid_loss, metrics = excluded.metrics, seconds = excluded.seconds",
                (job_id, epoch, phase, step, train_loss, valid_loss, json.dumps(metrics), seconds),
            )

    def batches(self, job_id: int, after_step: int = 0) -> pd.DataFrame:
        """Per-batch records of a job (step, loss, lr, mom), optionally only after a step."""
        columns = ["step", "loss", "lr", "mom"]
        if not (self._everyone or self._owns(job_id)):
            return pd.DataFrame([], columns=columns)
        rows = self.read(
            "SELECT step, loss, lr, mom FROM batches WHERE job_id = ? AND step > ? ORDER BY step",
            (job_id, after_step),
        )
        return pd.DataFrame([tuple(r) for r in rows], columns=columns)

    def epochs(self, job_id: int) -> pd.DataFrame:
        """Per-epoch records, one column per metric."""
        columns = ["epoch", "phase", "step", "train_loss", "valid_loss", "seconds"]
        if not (self._everyone or self._owns(job_id)):
            return pd.DataFrame([], columns=columns)
        rows = self.read(
            "SELECT epoch, phase, step, train_loss, valid_loss, metrics, seconds FROM epochs "
            "WHERE job_id = ? ORDER BY epoch",
            (job_id,),
        )
        records = []
        for r in rows:
            rec = {k: r[k] for k in ("epoch", "phase", "step", "train_loss", "valid_loss")}
            rec.update(json.loads(r["metrics"] or "{}"))
            rec["seconds"] = r["seconds"]
            records.append(rec)
        return pd.DataFrame(records, columns=None if records else columns)
