"""Looking inside a model: one forward pass in eval mode with hooks on, everything put back after."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn


def leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's leaf layers (those without children), with their names, in order."""
    return [(n, m) for n, m in model.named_modules() if not list(m.children())]


@contextlib.contextmanager
def hooked_eval(model: nn.Module, hooks: list[tuple[nn.Module, Callable]]) -> Iterator[None]:
    """Inside the block: eval mode, no gradients, and each (module, hook) forward hook on.

    The model's training mode is restored and every hook removed afterwards, even on an error.
    """
    handles = [module.register_forward_hook(hook) for module, hook in hooks]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
