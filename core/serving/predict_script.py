"""Predict one image, or a CSV of rows, with a model bundle exported by the fastai playground.

    python predict.py photo.jpg                 # the bundle is the folder this script is in
    python predict.py photo.jpg --bundle DIR --top 3
    python predict.py photo.jpg --threshold 0.3 # multi-label: labels above 30 %
    python predict.py street.png --mask out.png # segmentation: where the mask is written
    python predict.py --csv rows.csv            # a table model: one answer per row (CSV out)
    python predict.py --csv pairs.csv --json    # a ratings model: user,item → predicted rating

Needs torch and safetensors (and Pillow for images). Nothing here unpickles: the weights are
safetensors and the settings are JSON, so opening a bundle cannot run code hidden in it.

What it prints depends on the bundle's task (config.json's "task"):
- single_label: the most likely classes with their probabilities;
- multi_label: every label whose probability is above the threshold (config.json's, unless
  --threshold is given), or "none of these" when no label passes;
- segmentation: writes the mask (an 8-bit PNG whose values are the class indices of
  config.json's "codes", at the size of the image's centre square, the part the model sees)
  and prints each class's share of the pixels;
- tabular_classification / tabular_regression: each CSV row processed as in training (from
  config.json's "state": a missing number takes the training median, an unknown category is
  "#na#"), then the predicted class with every class's probability, or the predicted value;
- collaborative: each CSV row's user and item (unknown ones are "#na#") → the predicted rating.

To embed the model in an application, load once and predict many times:

    model, config = load("path/to/bundle")
    for name, probability in predict(model, config, PIL.Image.open("photo.jpg"))[:3]:
        print(name, probability)
    mask, shares = segment(model, config, PIL.Image.open("street.png"))  # segmentation

The network is rebuilt from its architecture's name, then the weights are loaded strictly (every
key and shape must match). mnist_cnn, tiny_unet and the table and ratings networks (fastai's
TabularModel, EmbeddingDotBias and EmbeddingNN, with their layer names) are defined below in
plain PyTorch, so their bundles run anywhere. simple_cnn, small_cnn, resnet18, resnet34,
unet_resnet18 and unet_resnet34 are built by fastai: they are rebuilt by importing the
playground's core package from a checkout (they also need fastai): run this script from the
checkout, or set PLAYGROUND_ROOT to its folder.

This file is copied into every bundle unchanged; it is the same for every model.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load as load_tensors
from torch import nn

try:
    from PIL import Image, ImageOps
except ImportError:  # tables and ratings need no Pillow
    Image = ImageOps = None

NONE = "none of these"  # a multi-label answer when no label passes the threshold


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


def _block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3×3 convolutions with batch norm and ReLU, the U-Net's unit."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class TinyUNet(nn.Module):
    """The playground's tiny_unet, with the layer names its weights use."""

    def __init__(self, n_classes: int, n_in: int = 3, widths: tuple[int, ...] = (16, 32, 64, 128)):
        super().__init__()
        self.encoder = nn.ModuleList()
        c = n_in
        for w in widths:
            self.encoder.append(_block(c, w))
            c = w
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(c, w, 2, stride=2))
            self.decoder.append(_block(2 * w, w))
            c = w
        self.head = nn.Conv2d(c, n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits N×classes×H×W for images N×C×H×W."""
        skips = []
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        skips.pop()
        for up, block in zip(self.up, self.decoder):
            skip = skips.pop()
            x = up(x)
            if x.shape[-2:] != skip.shape[-2:]:
                x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
            x = block(torch.cat([skip, x], dim=1))
        return self.head(x)


def squeeze(x: torch.Tensor, y_range: list | None) -> torch.Tensor:
    """fastai's SigmoidRange: x squeezed into (low, high) by a sigmoid; x itself without a y_range."""
    return x if y_range is None else torch.sigmoid(x) * (y_range[1] - y_range[0]) + y_range[0]


class TabularNet(nn.Module):
    """fastai's TabularModel in eval mode (tabular_learner's defaults), with its layer names."""

    def __init__(self, emb_szs: list, n_cont: int, n_out: int, layers: list, y_range: list | None):
        super().__init__()
        self.embeds = nn.ModuleList([nn.Embedding(n, width) for n, width in emb_szs])
        self.bn_cont = nn.BatchNorm1d(n_cont)
        sizes = [sum(width for _, width in emb_szs) + n_cont, *layers, n_out]
        blocks = []
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            hidden = i < len(sizes) - 2  # Linear → ReLU → BatchNorm (→ Dropout, no weights)
            blocks.append(
                nn.Sequential(nn.Linear(a, b, bias=not hidden), *[nn.ReLU(), nn.BatchNorm1d(b)][: 2 * hidden])
            )
        self.layers = nn.Sequential(*blocks)
        self.n_cont, self.y_range = n_cont, y_range

    def forward(self, x_cat: torch.Tensor, x_cont: torch.Tensor | None = None) -> torch.Tensor:
        """Outputs for category codes N×n_cat and normalised numbers N×n_cont."""
        parts = [e(x_cat[:, i]) for i, e in enumerate(self.embeds)]
        if self.n_cont:
            parts.append(self.bn_cont(x_cont))
        return squeeze(self.layers(torch.cat(parts, 1)), self.y_range)


class DotBias(nn.Module):
    """fastai's EmbeddingDotBias: a vector and a bias per user and item; their dot product plus biases."""

    def __init__(self, n_factors: int, n_users: int, n_items: int, y_range: list | None):
        super().__init__()
        self.u_weight, self.i_weight = nn.Embedding(n_users, n_factors), nn.Embedding(n_items, n_factors)
        self.u_bias, self.i_bias = nn.Embedding(n_users, 1), nn.Embedding(n_items, 1)
        self.y_range = y_range

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Ratings for N×2 (user index, item index) pairs."""
        u, i = x[:, 0], x[:, 1]
        res = (self.u_weight(u) * self.i_weight(i)).sum(1) + self.u_bias(u)[:, 0] + self.i_bias(i)[:, 0]
        return squeeze(res, self.y_range)


def outputs(config: dict) -> list[str]:
    """The names of the model's outputs: classes, a segmentation model's codes, a target or "rating"."""
    if config["task"] == "segmentation":
        return config["codes"]
    return config["classes"] if "classes" in config else [config.get("target", "rating")]


def build(config: dict) -> nn.Module:
    """The untrained network for the bundle (fastai-built ones come from the playground's checkout)."""
    arch, inp, n = config["arch"], config.get("input"), len(outputs(config))
    state = config.get("state") or {}
    spec = state.get("model", {})
    if arch == "tabular_mlp":
        return TabularNet(spec["emb_szs"], spec["n_cont"], spec["n_out"], spec["layers"], spec["y_range"])
    if arch == "dot_bias":
        return DotBias(spec["n_factors"], len(state["users"]), len(state["items"]), state["y_range"])
    if arch == "neural_collab":
        return TabularNet(spec["emb_szs"], 0, 1, spec["layers"], state["y_range"])
    if arch == "mnist_cnn":
        return mnist_cnn(n, inp["channels"], inp["size"])
    if arch == "tiny_unet":
        return TinyUNet(n, inp["channels"])
    root = os.environ.get("PLAYGROUND_ROOT")
    for folder in [root, Path.cwd(), *Path(__file__).resolve().parents]:
        if folder and (Path(folder) / "core" / "tasks" / "__init__.py").exists():
            sys.path.insert(0, str(folder))
            break
    from core import tasks  # from the playground checkout

    return tasks.get(config["task"]).build_from_bundle(config)


def load(folder: str | Path) -> tuple[nn.Module, dict]:
    """Read config.json, check the weights' SHA-256, rebuild the network and load it strictly."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config.setdefault("task", "single_label")  # bundles saved before tasks
    data = (folder / config["weights"]["file"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != config["weights"]["sha256"]:
        raise SystemExit("The weights do not match the SHA-256 in config.json: the bundle was changed.")
    model = build(config)
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
    """Every class (or label) with its probability, most likely first.

    Single-label probabilities sum to 1 (softmax); multi-label ones are each label's own (sigmoid).
    """
    with torch.inference_mode():
        logits = model(prepare(img, config)).float()
    if config["task"] == "multi_label":
        probs = torch.sigmoid(logits)[0]
    else:
        probs = torch.softmax(logits, dim=-1)[0]
    order = torch.argsort(probs, descending=True, stable=True)
    return [(config["classes"][i], float(probs[i])) for i in order]


def labels(ranked: list[tuple[str, float]], threshold: float) -> list[str]:
    """The multi-label answer: every label above the threshold, most likely first."""
    return [name for name, p in ranked if p > threshold]


def segment(model: nn.Module, config: dict, img: Image.Image) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """The class of every pixel of the image's centre square, and each class's share of the pixels.

    The mask (uint8 class indices) is resized from the model's size to the centre square of the
    image by the nearest pixel; the shares are those of the model's own answer, largest first.
    """
    with torch.inference_mode():
        index = torch.softmax(model(prepare(img, config)).float(), dim=1)[0].argmax(dim=0)
    small = index.to(torch.uint8).numpy()
    w, h = (ImageOps.exif_transpose(img) or img).size
    side = min(w, h)
    mask = np.asarray(Image.fromarray(small).resize((side, side), Image.Resampling.NEAREST), dtype=np.uint8)
    codes = config["codes"]
    counts = np.bincount(small.ravel(), minlength=len(codes))[: len(codes)]
    shares = [(codes[i], float(counts[i] / counts.sum())) for i in np.argsort(-counts, kind="stable")]
    return mask, shares


def read_rows(path: str) -> tuple[list[str], list[dict]]:
    """A CSV's header and rows (UTF-8, BOM or not; commas, or ; or tabs when the header has no comma)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        first = f.readline()
        f.seek(0)
        sep = next((s for s in (";", "\t") if "," not in first and s in first), ",")
        reader = csv.DictReader(f, delimiter=sep)
        return list(reader.fieldnames or []), list(reader)


def _number(cell) -> float:
    text = (cell or "").strip()
    return float(text) if text else math.nan


def table_inputs(config: dict, header: list[str], rows: list[dict]):
    """Rows as training processed them: category codes N×n_cat, filled and normalised numbers
    N×n_cont, and each row's notes (which cells were unknown or missing)."""
    state = config["state"]
    made = {f"{n}_na": n for n in state.get("na") or []}  # a continuous column's "was missing" flag
    need = [c["name"] for c in state["cat"] if c["name"] not in made] + [c["name"] for c in state["cont"]]
    absent = [n for n in need if n not in header]
    if absent:
        raise SystemExit(
            f"The CSV lacks the column(s) {', '.join(absent)}; the model reads {', '.join(need)}."
        )
    vocabs = [{v: i for i, v in enumerate(c["vocab"])} for c in state["cat"]]
    codes, numbers, notes = [], [], []
    for row in rows:
        code, note = [], []
        for c, index in zip(state["cat"], vocabs):
            text = (
                str(math.isnan(_number(row[made[c["name"]]]))) if c["name"] in made else row[c["name"]] or ""
            )
            code.append(index.get(text, 0) if text.strip() else 0)
            if code[-1] == 0:
                note.append(
                    f"{c['name']}: {text!r} unknown → #na#"
                    if text.strip()
                    else f"{c['name']}: missing → #na#"
                )
        values = []
        for c in state["cont"]:
            x = _number(row[c["name"]])
            if math.isnan(x):
                note.append(f"{c['name']}: missing → {c['fill']:.4g} (the training median)")
            values.append(((c["fill"] if math.isnan(x) else x) - c["mean"]) / c["std"])
        codes.append(code)
        numbers.append(values)
        notes.append("; ".join(note))
    n = len(rows)
    cats = torch.tensor(codes, dtype=torch.int64).reshape(n, len(state["cat"]))
    return cats, torch.tensor(numbers, dtype=torch.float32).reshape(n, len(state["cont"])), notes


def predict_table(model: nn.Module, config: dict, header: list[str], rows: list[dict]) -> list[dict]:
    """Each row's answer: predicted (a class, its probability and p(class) for each; or a value), notes."""
    if config["task"] == "collaborative":
        return predict_ratings(model, config, header, rows)
    cats, conts, notes = table_inputs(config, header, rows)
    with torch.inference_mode():
        out = model(cats, conts).float()
    answers = []
    for r, note in enumerate(notes):
        if config["task"] == "tabular_classification":
            probs = torch.softmax(out[r], dim=-1).tolist()
            best = max(range(len(probs)), key=probs.__getitem__)
            answer = {"predicted": config["classes"][best], "probability": probs[best]}
            answer.update({f"p({c})": p for c, p in zip(config["classes"], probs)})
        else:
            answer = {"predicted": float(out[r, 0])}
        answers.append({**answer, "notes": note})
    return answers


def predict_ratings(model: nn.Module, config: dict, header: list[str], rows: list[dict]) -> list[dict]:
    """Each row's predicted rating for its user and item; none (and a note) for a user or an item
    the model never saw."""
    state = config["state"]
    roles = state.get("roles") or {}
    cols = [roles.get(k, k) if roles.get(k, k) in header else k for k in ("user", "item")]
    if not all(c in header for c in cols):
        raise SystemExit(f"The CSV needs the columns {cols[0]} and {cols[1]} (the user and the item).")
    index = [{v: i for i, v in enumerate(state[k]) if i} for k in ("users", "items")]
    pairs = [[index[k].get(row[cols[k]], 0) for k in (0, 1)] for row in rows]
    with torch.inference_mode():
        out = model(torch.tensor(pairs, dtype=torch.int64).reshape(len(rows), 2)).float().reshape(-1)
    answers = []
    for row, pair, value in zip(rows, pairs, out.tolist()):
        why = [
            f"{w} {row[c]!r} was not in the training data"
            for w, c, i in zip(("user", "item"), cols, pair)
            if not i
        ]
        answers.append({"predicted": None if why else value, "notes": "; ".join(why)})
    return answers


def main() -> None:
    """Print what the model says about one image (and write the mask of a segmentation model)."""
    parser = argparse.ArgumentParser(
        description="Predict one image, or a CSV's rows, with a playground bundle."
    )
    parser.add_argument("image", nargs="?", help="an image file (PNG, JPEG, WebP, BMP or GIF)")
    parser.add_argument(
        "--csv", help="table and ratings models: a CSV of rows (the answers are written as CSV)"
    )
    parser.add_argument(
        "--bundle",
        default=str(Path(__file__).resolve().parent),
        help="the bundle folder (default: this script's folder)",
    )
    parser.add_argument("--top", type=int, default=3, help="how many classes to print")
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    parser.add_argument(
        "--threshold",
        type=float,
        help="multi-label: give labels above this probability (default: the bundle's)",
    )
    parser.add_argument(
        "--mask", help="segmentation: where to write the mask PNG (default: IMAGE-STEM_mask.png here)"
    )
    args = parser.parse_args()
    model, config = load(args.bundle)
    if "state" in config:
        if not args.csv:
            raise SystemExit(f"This is a {config['task']} model: give its rows with --csv FILE.")
        header, rows = read_rows(args.csv)
        answers = predict_table(model, config, header, rows)
        if args.json:
            print(json.dumps([{**row, **a} for row, a in zip(rows, answers)], ensure_ascii=False))
            return
        writer = csv.writer(sys.stdout)
        writer.writerow([*header, *(answers[0] if answers else {"predicted": 0})])
        writer.writerows([*row.values(), *a.values()] for row, a in zip(rows, answers))
        return
    if not args.image:
        raise SystemExit("Give an image file to predict.")
    if config["task"] == "segmentation":
        with Image.open(args.image) as img:
            mask, shares = segment(model, config, img)
        out = Path(args.mask or f"{Path(args.image).stem}_mask.png")
        Image.fromarray(mask).save(out)  # mode L: one byte per pixel
        if args.json:
            print(json.dumps({"mask": str(out), "shares": dict(shares)}))
            return
        print(f"mask written to {out} ({mask.shape[1]}×{mask.shape[0]}; values are class indices)")
        for name, share in shares:
            print(f"{name}\t{share:.2%}")
        return
    with Image.open(args.image) as img:
        ranked = predict(model, config, img)
    if config["task"] == "multi_label":
        threshold = config["threshold"] if args.threshold is None else args.threshold
        given = labels(ranked, threshold)
        if args.json:
            print(json.dumps({"labels": given, "threshold": threshold, "probabilities": dict(ranked)}))
            return
        for name, p in ranked:
            if name in given:
                print(f"{name}\t{p:.4f}")
        if not given:
            print(
                f"{NONE} (no label above {threshold:.0%}; most likely {ranked[0][0]} at {ranked[0][1]:.1%})"
            )
        return
    if args.json:
        print(json.dumps(dict(ranked)))
        return
    for name, p in ranked[: args.top]:
        print(f"{name}\t{p:.4f}")


if __name__ == "__main__":
    main()
