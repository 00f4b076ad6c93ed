"""Embeddings and PCA: a one-hot row times a matrix is a lookup; principal components of features."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from core.labs.hooks import hooked_eval


def one_hot_lookup(n_items: int, dim: int, index: int, seed: int = 0) -> dict:
    """An embedding matrix (n_items×dim), the one-hot row of index, their product and the lookup.

    The product one_hot @ matrix and nn.Embedding's lookup of index give the same row: an
    embedding is a matrix multiplication by a one-hot vector, computed as an index instead.
    """
    g = torch.Generator().manual_seed(seed)
    matrix = torch.randn(n_items, dim, generator=g).round(decimals=2)
    one_hot = nn.functional.one_hot(torch.tensor(index), n_items).float()
    emb = nn.Embedding(n_items, dim)
    with torch.no_grad():
        emb.weight.copy_(matrix)
        lookup = emb(torch.tensor([index]))[0]
    return {
        "matrix": matrix.numpy(),
        "one_hot": one_hot.numpy(),
        "product": (one_hot @ matrix).numpy(),
        "lookup": lookup.numpy(),
    }


def pca(x: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Project rows of x on their first k principal components.

    Returns (coordinates n×k, explained variance ratio of each component). Computed from the
    eigenvectors of the covariance matrix (numpy.linalg.eigh), largest eigenvalue first.
    """
    data = np.asarray(x, dtype=np.float64)
    centred = data - data.mean(axis=0, keepdims=True)
    cov = centred.T @ centred / max(1, len(data) - 1)
    values, vectors = np.linalg.eigh(cov)
    values = values.clip(min=0)
    order = np.argsort(values)[::-1][:k]
    total = values.sum()
    ratio = values[order] / total if total > 0 else np.zeros(len(order))
    return centred @ vectors[:, order], ratio


def last_features(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """What the model's last learned layer receives for each input, flattened (n×features).

    These are the features the classifier separates the classes with; the model runs in eval mode.
    """
    last = [m for m in model.modules() if not list(m.children()) and list(m.parameters(recurse=False))][-1]
    seen: list[torch.Tensor] = []
    with hooked_eval(model, [(last, lambda _m, inp, _out: seen.append(inp[0].detach()))]):
        model(x)
    return seen[0].flatten(1).float().numpy()
