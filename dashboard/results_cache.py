"""What the Results page reads from disk, read once per version of each file: the crossval result
(by its path, time and size), the dataset's relabels from its journals (by each journal's name,
time and size) and the out-of-sample frame built from both. Setting a mark changes none of them,
so a click on a mark reads no result and no journal again."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import fsutil, workspace
from core import runs as runs_files
from core.data.access import journals_stamp
from core.data.journal import renames


def file_stamp(path) -> tuple | None:
    """fsutil.stamp of one file, for cache keys; None when it is missing (nothing to read)."""
    return fsutil.stamp([path]) or None


@st.cache_resource(show_spinner=False, max_entries=4)
def _cached_crossval_result(path: str, stamp: tuple, job_id: int):
    from core.train.crossval import load_result

    return load_result(job_id)


def crossval_result(job_id: int):
    """A crossval job's result, read once per version of its file (path, time, size): never another
    workspace's. The same object is handed to every caller and rerun: read it, never change it."""
    from core.train.crossval import result_path

    path = result_path(job_id)
    stamp = file_stamp(path)
    if stamp is None:
        return None
    return _cached_crossval_result(str(path), stamp, job_id)  # the path is in the person's space


@st.cache_data(show_spinner=False, max_entries=16)
def _renames(root: str, dataset: str, since: float, stamp: tuple) -> dict[str, str]:
    return renames(dataset, since)


def dataset_renames(dataset: str, since: float) -> dict[str, str]:
    """core.data.journal.renames, read again only when one of the dataset's journals changes."""
    return _renames(str(workspace.root()), dataset, since, journals_stamp(dataset))  # root: the space's


@st.cache_data(show_spinner=False, max_entries=8)
def _oos_frame(key: tuple, _result: dict, _frame: pd.DataFrame, _renamed: dict) -> pd.DataFrame:
    from core.train.crossval import out_of_sample_frame

    return out_of_sample_frame(_result, _frame, _renamed)


def oos_frame(cv_id: int, interp, dataset: str) -> pd.DataFrame | None:
    """The single-label out-of-sample frame (core.train.crossval.out_of_sample_frame), built once per
    version of the result file, of the run, of its data and of the dataset's journals."""
    from core.train.crossval import result_path

    result = crossval_result(cv_id)
    if result is None:
        return None
    renamed = dataset_renames(dataset, result["created"])
    key = (
        str(result_path(cv_id)),  # in the person's space
        file_stamp(result_path(cv_id)),
        interp.run_id,
        runs_files.stamp(interp.run_id),
        interp.fingerprint,
        journals_stamp(dataset),
    )
    return _oos_frame(key, result, interp.frame, renamed)
