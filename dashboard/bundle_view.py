"""Saving a finished run as a model bundle (being written)."""

from __future__ import annotations

from core.jobs import Job


def save_model_controls(job: Job) -> None:
    """The "Save model" controls under a finished run (not yet available)."""
    return None
