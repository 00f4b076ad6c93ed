"""Predict one image with a model bundle exported by the fastai playground.

    python predict.py photo.jpg                 # the bundle is the folder this script is in
    python predict.py photo.jpg --bundle DIR --top 3

Needs torch, safetensors and Pillow. Nothing here unpickles: the weights are safetensors and
the settings are JSON, so opening a bundle cannot run code hidden in it.

To embed the model in an application, load once and predict many times:

    model, config = load("path/to/bundle")
    for name, probability in predict(model, config, PIL.Image.open("photo.jpg"))[:3]:
        print(name, probability)

The network is rebuilt from its architecture's name, then the weights are loaded strictly (every
key and shape must match). mnist_cnn is defined below in plain PyTorch, so a bundle of it runs
anywhere. simple_cnn, resnet18 and resnet34 are rebuilt by importing core.models from a checkout
of the playground (they also need fastai): run this script from the checkout, or set
PLAYGROUND_ROOT to its folder.

This file is copied into every bundle unchanged; it is the same for every model.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from safetensors.torch import load as load_tensors
from torch import nn


def mnist_cnn(n_classes: int, n_in: int, size: int) -> nn.Sequential:
    """Keras's MNIST network, with the layer names the playground's weights use."""
    side = (size - 4) // 2
    body = nn.Sequential(
        nn.Conv2d(n_in, 32, 3),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
    )
    head = nn.Sequential(
        nn.Linear(64 * side * side, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, n_classes)
    )
    return nn.Sequential(body, head)


def build(arch: str, n_classes: int, channels: int, size: int) -> nn.Module:
    """The untrained network for arch (other architectures come from the playground's checkout)."""
    if arch == "mnist_cnn":
        return mnist_cnn(n_classes, channels, size)
    root = os.environ.get("PLAYGROUND_ROOT")
    for folder in [root, Path.cwd(), *Path(__file__).resolve().parents]:
        if folder and (Path(folder) / "core" / "models.py").exists():
            sys.path.insert(0, str(folder))
            break
    from core.models import build_model  # from the playground checkout

    return build_model(arch, n_classes, channels, size, pretrained=False).model


def load(folder: str | Path) -> tuple[nn.Module, dict]:
    """Read config.json, check the weights' SHA-256, rebuild the network and load it strictly."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    data = (folder / config["weights"]["file"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != config["weights"]["sha256"]:
        raise SystemExit("The weights do not match the SHA-256 in config.json: the bundle was changed.")
    inp = config["input"]
    model = build(config["arch"], len(config["classes"]), inp["channels"], inp["size"])
    model.load_state_dict(load_tensors(data), strict=True)
    return model.eval(), config


def to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB: alpha over white, palettes expanded, 16-bit scaled, CMYK converted."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("1", "L"):
        return img.convert("RGB")
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16") or (mode == "I" and arr.max(initial=0) > 255):
            arr = arr / 257.0
        elif mode == "F" and arr.max(initial=0) <= 1.0:
            arr = arr * 255.0
        grey = Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8), mode="L")
        return grey.convert("RGB")
    if mode == "CMYK":
        icc = img.info.get("icc_profile")
        if icc:
            try:
                from PIL import ImageCms

                src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                return ImageCms.profileToProfile(img, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
            except Exception:  # noqa: BLE001 - a broken profile: the plain formula
                pass
        return img.convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def prepare(img: Image.Image, config: dict) -> torch.Tensor:
    """The image as the model saw its training images: square crop, resize, scale, normalise."""
    inp = config["input"]
    img.seek(0)  # an animated GIF: its first frame
    img = ImageOps.exif_transpose(img) or img
    rgb = to_rgb(img)
    w, h = rgb.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    small = rgb.crop((left, top, left + side, top + side)).resize(
        (inp["size"], inp["size"]), Image.Resampling.BILINEAR
    )
    if inp["channels"] == 1:
        small = small.convert("L")
    arr = np.asarray(small, dtype=np.uint8)
    arr = arr[..., None] if arr.ndim == 2 else arr
    x = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float().div_(255)
    mean = torch.tensor(inp["mean"], dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(inp["std"], dtype=torch.float32).view(-1, 1, 1)
    return ((x - mean) / std)[None]


def predict(model: nn.Module, config: dict, img: Image.Image) -> list[tuple[str, float]]:
    """Every class with its probability, most likely first."""
    with torch.inference_mode():
        probs = torch.softmax(model(prepare(img, config)).float(), dim=-1)[0]
    order = torch.argsort(probs, descending=True, stable=True)
    return [(config["classes"][i], float(probs[i])) for i in order]


def main() -> None:
    """Print the most likely classes of one image."""
    parser = argparse.ArgumentParser(description="Predict one image with a playground bundle.")
    parser.add_argument("image", help="an image file (PNG, JPEG, WebP, BMP or GIF)")
    parser.add_argument(
        "--bundle",
        default=str(Path(__file__).resolve().parent),
        help="the bundle folder (default: this script's folder)",
    )
    parser.add_argument("--top", type=int, default=3, help="how many classes to print")
    parser.add_argument("--json", action="store_true", help="print all probabilities as JSON")
    args = parser.parse_args()
    model, config = load(args.bundle)
    with Image.open(args.image) as img:
        ranked = predict(model, config, img)
    if args.json:
        print(json.dumps(dict(ranked)))
        return
    for name, p in ranked[: args.top]:
        print(f"{name}\t{p:.4f}")


if __name__ == "__main__":
    main()
