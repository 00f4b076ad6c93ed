"""The Predict page's memory of a session's images: each upload read and hashed once (by the
uploader's file id), prepared once (by its digest), predicted once per batch and explained by
Grad-CAM once per model, image and class, so a rerun (a threshold moved, another image looked at
closer) recomputes nothing."""

from __future__ import annotations

import hashlib

import streamlit as st

from core.fsutil import sha256_bytes
from core.serving import predict
from core.serving.library import ModelInfo

_PREDS = "_predict_preds"  # (key, predictions) of the last batch, so moving the threshold is free
INPUTS = "_predict_inputs"  # {uploader file id or example: Upload}: each upload read and hashed once
_PREPARED = "_predict_prepared"  # {(digest, name, size, channels, square): PreparedImage or why}
_HEATS = "_predict_heats"  # {(model sha256, digest, shape, class): HeatMap}, the newest last
HEATS_KEPT = 32  # Grad-CAM maps remembered per session


class Upload(bytes):
    """An image's bytes with their SHA-256, computed once when the file arrives."""

    digest: str

    def __new__(cls, data: bytes, digest: str | None = None):
        self = super().__new__(cls, data)
        self.digest = digest or sha256_bytes(data)
        return self


def digest_of(data: bytes) -> str:
    """The SHA-256 of an image's bytes: an Upload's own, else computed."""
    return data.digest if isinstance(data, Upload) else sha256_bytes(data)


def read_uploads(files, memo: dict) -> list[tuple[str, Upload]]:
    """(name, bytes) of uploaded files, each read and hashed once: memo keeps them by the uploader's
    file id across reruns, and forgets the files no longer in the uploader."""
    out, keep = [], {}
    for f in files:
        key = getattr(f, "file_id", None)
        data = memo.get(key) if key is not None else None
        if data is None:
            data = Upload(f.getvalue())
        if key is not None:
            keep[key] = data
        out.append((f.name, data))
    memo.clear()
    memo.update(keep)
    return out


def kept(key: str) -> dict:
    """A dict kept in this session's state under key."""
    if key not in st.session_state:
        st.session_state[key] = {}
    return st.session_state[key]


def _remember(memo: dict, key, value, most: int):
    """Put key first-in-line to stay in memo, dropping the oldest entries past `most`."""
    memo.pop(key, None)
    memo[key] = value
    while len(memo) > most:
        memo.pop(next(iter(memo)))
    return value


def prepare_all(files: list[tuple[str, bytes]], info: ModelInfo, square_side: int = 0):
    """(prepared images, [(name, why)] for the unusable ones), each file prepared once per session.

    Images are remembered by their bytes' digest (Upload), so a rerun neither decodes nor hashes
    them again. square_side > 0 keeps each image's centre square for an overlay (segmentation).
    """
    memo = kept(_PREPARED)

    def cached(data: bytes, name: str, size: int, channels: int) -> predict.PreparedImage:
        key = (digest_of(data), name, size, channels, square_side)
        out = memo.get(key)
        if out is None:
            try:
                out = predict.prepare(data, name, size, channels, square_side)
            except predict.ImageError as e:
                out = str(e)
        _remember(memo, key, out, predict.MAX_IMAGES)
        if isinstance(out, str):
            raise predict.ImageError(out)
        return out

    return predict.prepare_many(files, info.size, info.channels, prepare_one=cached)


def image_digest(image: predict.PreparedImage) -> str:
    """The digest of the file a prepared image came from (prepare_all), or of its pixels."""
    for key, value in kept(_PREPARED).items():
        if value is image:
            return key[0]
    return sha256_bytes(image.pixels.tobytes())


def predictions(loaded: predict.LoadedModel, prepared: list[predict.PreparedImage]) -> list:
    """Predictions for the batch, remembered so that moving the threshold does not recompute."""
    h = hashlib.sha256(loaded.info.sha256.encode())
    for p in prepared:
        h.update(p.name.encode())
        h.update(image_digest(p).encode())
    key = h.hexdigest()
    cached = st.session_state.get(_PREDS)
    if cached is None or cached[0] != key:
        st.session_state[_PREDS] = (key, predict.predict(loaded, prepared))
    return st.session_state[_PREDS][1]


def grad_cam(loaded: predict.LoadedModel, image: predict.PreparedImage, class_index: int | None = None):
    """Grad-CAM of one image (gradcam.grad_cam), computed once per model, image and class."""
    from core.serving import gradcam

    key = (loaded.info.sha256, image_digest(image), image.pixels.shape, class_index)
    memo = kept(_HEATS)
    if key in memo:
        return _remember(memo, key, memo[key], HEATS_KEPT)
    return _remember(memo, key, gradcam.grad_cam(loaded, image.pixels, class_index), HEATS_KEPT)
