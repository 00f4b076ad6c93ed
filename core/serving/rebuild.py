"""A bundle's network rebuilt strictly: its task builds the architecture, then every weight must fit.

The weights are parsed by safetensors (never unpickled), then checked against the untrained
network key by key: names, shapes, dtypes, finite values, and the output layer's class count.
"""

from __future__ import annotations

from core import fsutil, safejson
from core.errors import UserError
from core.serving.format import CONFIG, WEIGHTS, BundleError, output_names, validate_config
from core.serving.library import MAX_SAVED_CONFIG_BYTES, ModelInfo
from core.serving.safetensors_check import FLOAT_DTYPES, parse_safetensors_header


def output_key(model) -> str | None:
    """The weight of the last linear or convolution layer: its first dimension is the classes."""
    from torch import nn

    last = None
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            last = name
    return f"{last}.weight" if last is not None else None


def build_checked(config: dict, weights: bytes, shown: str = WEIGHTS):
    """Rebuild config's architecture and load the weights with strict key, shape and value checks.

    Returns the model in eval mode. The weights are parsed by safetensors (never unpickled).
    """
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load as load_tensors

    from core import tasks

    specs = parse_safetensors_header(weights, shown)
    try:
        tensors = load_tensors(weights)
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise BundleError(f"{shown} could not be read as safetensors: {e}") from e
    inp = config.get("input")
    n_classes = len(output_names(config))
    try:
        model = tasks.get(config["task"]).build_from_bundle(config)
    except BundleError:
        raise
    except UserError as e:  # a table's or ratings' state the network cannot be built from
        raise BundleError(str(e)) from e
    expected = model.state_dict()
    out_key = output_key(model)
    if (
        out_key in tensors
        and out_key in expected
        and tensors[out_key].ndim >= 1
        # the last layer by definition order is the output only when it has one row per class
        # (a U-Net may define its head before the layers that run after it)
        and expected[out_key].shape[0] == n_classes
    ):
        n_out = tensors[out_key].shape[0]
        if n_out != n_classes:
            raise BundleError(
                f"The class count does not match the weights: config.json lists "
                f"{n_classes} classes but the weights' output layer has {n_out}."
            )
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}{' …' if len(unexpected) > 3 else ''}")
        raise BundleError(f"The weights do not fit {config['arch']}: {'; '.join(parts)}.")
    for key, want in expected.items():
        got = tensors[key]
        if tuple(got.shape) != tuple(want.shape):
            shape = f"at {inp['size']} px with {inp['channels']} channel(s)" if inp else "with its state"
            raise BundleError(
                f"The weights do not fit {config['arch']} {shape}: {key} has shape "
                f"{tuple(got.shape)}, the architecture needs {tuple(want.shape)}."
            )
        if want.is_floating_point() != (specs[key].dtype in FLOAT_DTYPES):
            raise BundleError(
                f"The weights' {key} has type {specs[key].dtype}, which does not "
                f"fit the layer ({want.dtype})."
            )
        if got.is_floating_point():
            if not bool(torch.isfinite(got).all()):
                raise BundleError(f"The weights' {key} holds NaN or infinite values; refused.")
            tensors[key] = got.to(want.dtype)
    model.load_state_dict(tensors, strict=True)
    return model.eval()


def load_module(info: ModelInfo):
    """A saved model's network, rebuilt and loaded strictly (its weights' hash checked first)."""
    data = info.weights.read_bytes()
    sha = fsutil.sha256_bytes(data)
    if sha != info.sha256:
        raise BundleError(
            f"The weights of {info.name} have changed since it was saved (their "
            "SHA-256 no longer matches config.json); delete it and save it again."
        )
    config = safejson.read(
        info.path / CONFIG,
        f"The model {info.name}'s {CONFIG}",
        max_bytes=MAX_SAVED_CONFIG_BYTES,
        error=BundleError,
    )
    return build_checked(validate_config(config), data)
