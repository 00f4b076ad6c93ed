"""Memory per batch size: an estimate from the layers' shapes, and a measured forward/backward.

Training memory is the parameters, their gradients, the optimizer's state (Adam keeps two
numbers per parameter) and the activations autograd keeps for the backward pass. Only the last
grows with the batch size. The estimate applies one rule per kind of layer to the shapes of a
one-image forward pass (what its backward needs) and scales it by the batch size. The
measurement trains one real step at the batch size and adds up the bytes of every tensor
autograd saved (torch.autograd.graph.saved_tensors_hooks, each storage once, parameters
excluded), of the gradients and of Adam's state; on a GPU it also reads the allocator's peak.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from core.labs.hooks import hooked_eval, leaves

FLOAT = 4  # bytes of a float32
INDEX = 8  # bytes of an int64 (max-pooling keeps where each maximum was)
MASK = 1  # bytes of a bool (dropout keeps which units it dropped)
ADAM_STATE = 2  # Adam's moments: two numbers per parameter

_KEEP_OUTPUT = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.SiLU, nn.LeakyReLU, nn.Softmax)
_KEEP_NOTHING = (nn.Flatten, nn.Identity, nn.Unflatten)


@dataclass(frozen=True)
class Estimate:
    """Bytes of each part of training memory; activations are per image (times bs for a batch)."""

    parameters: int
    gradients: int
    optimizer: int
    activations_per_image: int

    def total(self, bs: int) -> int:
        """Estimated bytes to train one batch of bs images."""
        return self.parameters + self.gradients + self.optimizer + bs * self.activations_per_image


def build(arch: str, n_classes: int, channels: int, size: int) -> nn.Module:
    """The architecture as training builds it (without downloading pretrained weights)."""
    from core.train.models import build_model

    return build_model(arch, n_classes, channels, size, pretrained=False).model


def _storage(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def estimate(model: nn.Module, channels: int, size: int) -> Estimate:
    """Estimate training memory from one image's forward pass, a rule per kind of layer.

    Conv, Linear, BatchNorm and pooling keep their input; activations keep their output;
    max-pooling also keeps an int64 index per output; dropout a one-byte mask; views nothing.
    A tensor kept by two layers counts once.
    """
    n_params = sum(p.numel() for p in model.parameters())
    kept: dict[object, int] = {}
    alias: dict[int, object] = {}  # storage -> key (dropout makes a new tensor in training)
    alive: list[torch.Tensor] = []  # held, so a freed tensor's memory is not reused (same address)

    def key(t: torch.Tensor) -> object:
        return alias.get(_storage(t), _storage(t))

    def hook(name: str, module: nn.Module):
        def record(_mod, inputs, out):
            x = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
            if not isinstance(out, torch.Tensor) or isinstance(module, _KEEP_NOTHING):
                return
            alive.append(out)
            if isinstance(module, nn.modules.dropout._DropoutNd):
                kept[("mask", name)] = out.numel() * MASK
                alias[_storage(out)] = ("dropout", name)
            elif isinstance(module, _KEEP_OUTPUT):
                kept[key(out)] = out.numel() * FLOAT
            elif x is not None:
                kept[key(x)] = x.numel() * x.element_size()
                if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.AdaptiveMaxPool2d)):
                    kept[("index", name)] = out.numel() * INDEX

        return record

    with hooked_eval(model, [(m, hook(n, m)) for n, m in leaves(model)]):
        out = model(torch.zeros(1, channels, size, size))
    per_image = sum(kept.values()) + out.numel() * FLOAT  # the loss keeps the log-probabilities
    return Estimate(n_params * FLOAT, n_params * FLOAT, ADAM_STATE * n_params * FLOAT, per_image)


def measure(model: nn.Module, n_classes: int, channels: int, size: int, bs: int, seed: int = 0) -> dict:
    """Train one real Adam step on a random batch and return the bytes it used, by part.

    Keys: parameters, gradients, optimizer, activations (saved for backward), total (their
    sum), allocator_peak (GPU only, else None) and seconds (the forward/backward/step).
    """
    torch.manual_seed(seed)
    device = next(model.parameters()).device
    model.train()
    opt = torch.optim.Adam(model.parameters())
    x = torch.randn(bs, channels, size, size, device=device)
    y = torch.randint(0, n_classes, (bs,), device=device)
    params = {_storage(p) for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if _storage(t) not in params:
            saved[_storage(t)] = t.untyped_storage().nbytes()
        return t

    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    if cuda:
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    parts = {
        "parameters": sum(p.numel() * p.element_size() for p in model.parameters()),
        "gradients": sum(
            p.grad.numel() * p.grad.element_size() for p in model.parameters() if p.grad is not None
        ),
        "optimizer": sum(
            t.numel() * t.element_size()
            for s in opt.state.values()
            for t in s.values()
            if isinstance(t, torch.Tensor) and t.dim() > 0
        ),
        "activations": sum(saved.values()),
    }
    parts["total"] = sum(parts.values())
    parts["allocator_peak"] = int(torch.cuda.max_memory_allocated(device)) if cuda else None
    parts["seconds"] = seconds
    return parts


def compare(arch: str, n_classes: int, channels: int, size: int, batch_sizes: list[int]) -> list[dict]:
    """Estimate and measurement side by side, one row per batch size (for the job and the bench)."""
    model = build(arch, n_classes, channels, size)
    est = estimate(model, channels, size)
    rows = []
    for bs in batch_sizes:
        got = measure(model, n_classes, channels, size, int(bs))
        rows.append(
            {"bs": int(bs), "estimate": est.total(int(bs)), **{f"measured_{k}": v for k, v in got.items()}}
        )
    return rows


def run_memory_job(job, store) -> dict:
    """The worker's "memory" job: params arch, n_classes, channels, size, batch_sizes."""
    p = job.params
    arch, n, c, size = p["arch"], int(p["n_classes"]), int(p["channels"]), int(p["size"])
    sizes = [int(b) for b in p["batch_sizes"]]
    store.set_progress(job.id, 0.0, f"building {arch}")
    model = build(arch, n, c, size)
    if torch.cuda.is_available():
        model = model.cuda()
    est = estimate(model, c, size)
    rows = []
    for i, bs in enumerate(sizes):
        if store.cancel_requested(job.id):
            return {"cancelled": True, "rows": rows}
        store.set_progress(job.id, i / len(sizes), f"measuring batch size {bs}")
        got = measure(model, n, c, size, bs)
        rows.append({"bs": bs, "estimate": est.total(bs), **{f"measured_{k}": v for k, v in got.items()}})
    device = "GPU" if torch.cuda.is_available() else "CPU"
    return {"arch": arch, "size": size, "channels": c, "device": device, "rows": rows}
