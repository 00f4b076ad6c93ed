"""Grad-CAM: which regions of an image drove a convolutional model's prediction, as a heat map.

Grad-CAM (Selvaraju et al., 2017) weighs each channel of a convolution layer's output by how
much the chosen class's score changes with it (the gradient, averaged over the map), sums the
weighted channels, and keeps the positive part: bright where evidence for the class sits.

For a multi-label model the chosen label's logit is used: its sigmoid output rises with it, and
the sigmoid's slope is one positive factor for the whole map, which the scaling to 0-1 removes,
so the map is the same as for the label's probability (and does not vanish when that is near 1).
A segmentation model gives a score per pixel, not per image, so it has no map here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.serving.predict import MODEL_LOCK, LoadedModel, to_batch

# Colours from dark blue (no evidence) through green and yellow to red (strong evidence).
_STOPS = np.array(
    [[0.0, 0, 0, 130], [0.25, 0, 90, 255], [0.5, 0, 220, 160], [0.75, 255, 220, 0], [1.0, 220, 20, 0]],
    dtype=np.float64,
)


@dataclass
class HeatMap:
    """A Grad-CAM heat map for one image and one class."""

    heat: np.ndarray  # float 0-1, the model's input size
    layer: str  # the convolution layer it was read from
    class_index: int
    map_size: tuple[int, int]  # the layer's own resolution (coarse maps look blocky)


def supports(model) -> bool:
    """True when the model has a convolution layer to read a heat map from."""
    from torch import nn

    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def explains(loaded: LoadedModel) -> bool:
    """True when Grad-CAM can explain the loaded model: convolutional, with one score per class.

    A segmentation model scores every pixel instead; its answer is the mask itself.
    """
    return supports(loaded.model) and loaded.task != "segmentation"


def _target_layer(model, x) -> tuple[str, object, tuple[int, int]]:
    """The last convolution whose output is still a map (at least 2×2) for this input."""
    import torch
    from torch import nn

    shapes: dict[str, tuple[int, int]] = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            hooks.append(
                module.register_forward_hook(
                    lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[-2:]))
                )
            )
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    modules = dict(model.named_modules())
    maps = [n for n, hw in shapes.items() if hw[0] >= 2 and hw[1] >= 2]
    chosen = maps[-1] if maps else list(shapes)[-1]
    return chosen, modules[chosen], shapes[chosen]


def grad_cam(loaded: LoadedModel, pixels: np.ndarray, class_index: int | None = None) -> HeatMap:
    """The Grad-CAM heat map of one model view for class_index (the predicted class by default)."""
    import torch
    import torch.nn.functional as F

    model = loaded.model
    if not supports(model):
        raise ValueError("Grad-CAM needs a convolutional model.")
    x = to_batch(loaded.info, [pixels])
    saved: dict[str, torch.Tensor] = {}
    with MODEL_LOCK:
        name, layer, map_size = _target_layer(model, x)
        hook = layer.register_forward_hook(lambda _m, _i, out: saved.__setitem__("act", out))
        try:
            with torch.enable_grad():
                logits = model(x)
                if logits.ndim != 2:
                    raise ValueError("Grad-CAM needs one score per class (not a map per class).")
                if class_index is None:
                    class_index = int(logits.argmax(dim=-1)[0])
                # the gradient of the class score with respect to the layer's output only:
                # the parameters' .grad stay untouched
                (grad,) = torch.autograd.grad(logits[0, class_index], saved["act"])
        finally:
            hook.remove()
    act, grad = saved["act"].detach()[0], grad.detach()[0]
    weights = grad.mean(dim=(1, 2))
    cam = torch.relu((weights[:, None, None] * act).sum(dim=0))
    size = pixels.shape[0]
    cam = F.interpolate(cam[None, None], size=(size, size), mode="bilinear", align_corners=False)[0, 0]
    top = float(cam.max())
    heat = (cam / top).numpy() if top > 0 else np.zeros((size, size), dtype=np.float32)
    return HeatMap(heat.astype(np.float32), name, class_index, map_size)


def colourise(heat: np.ndarray) -> np.ndarray:
    """A 0-1 heat map as RGB uint8 (blue cold, red hot)."""
    h = np.clip(heat, 0, 1)
    out = np.empty((*h.shape, 3), dtype=np.float64)
    for c in range(3):
        out[..., c] = np.interp(h, _STOPS[:, 0], _STOPS[:, c + 1])
    return out.round().astype(np.uint8)


def overlay(pixels: np.ndarray, heat: np.ndarray, side: int = 192, alpha: float = 0.5) -> np.ndarray:
    """The model's view with the heat map blended on top, enlarged to about side pixels."""
    from PIL import Image

    base = pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
    k = max(1, side // base.shape[0])
    big = (base.shape[1] * k, base.shape[0] * k)
    image = np.asarray(Image.fromarray(base).resize(big, Image.Resampling.NEAREST), dtype=np.float64)
    smooth = (
        np.asarray(
            Image.fromarray((heat * 255).astype(np.uint8)).resize(big, Image.Resampling.BILINEAR),
            dtype=np.float64,
        )
        / 255
    )
    colour = colourise(smooth).astype(np.float64)
    # hot areas get more of the colour, so the picture stays readable where nothing happened
    a = alpha * (0.35 + 0.65 * smooth)[..., None]
    return (image * (1 - a) + colour * a).round().clip(0, 255).astype(np.uint8)
