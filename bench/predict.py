"""How fast a saved model loads and predicts one image on this machine: `python -m bench.predict`.

Without --model, it packs an mnist_cnn bundle (untrained weights: the time does not depend on
their values) for each --sizes, imports it into a scratch folder inside the workspace, and
measures. With --model NAME, it measures that saved model instead. Nothing is written outside
the workspace, and the scratch folder is removed at the end.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# As in the dashboard server (dashboard/app.py): idle OpenMP threads sleep instead of spinning.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from core import workspace  # noqa: E402


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def _median(fn, repeat: int) -> tuple[float, float]:
    """(median, 90th percentile) seconds of fn() over repeat calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.9))]


def _images(size: int, channels: int) -> dict[str, bytes]:
    """A digit-like PNG at the model's size and a 1024×768 photo-like JPEG, as uploads."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    small = Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8), "L")
    y, x = np.mgrid[0:768, 0:1024]
    photo = np.stack([(x * 255 // 1024), (y * 255 // 768), ((x + y) % 256)], axis=2).astype(np.uint8)
    photo = (photo + rng.integers(0, 30, photo.shape)).clip(0, 255).astype(np.uint8)
    out = {}
    for name, img, fmt in [
        (f"digit {size}×{size} PNG", small, "PNG"),
        ("photo 1024×768 JPEG", Image.fromarray(photo, "RGB"), "JPEG"),
    ]:
        buf = io.BytesIO()
        img.save(buf, format=fmt)
        out[name] = buf.getvalue()
    return out


def bench_model(name: str, repeat: int) -> None:
    """Print load and single-image prediction times for the saved model called name."""
    from core.serving import gradcam, library, predict

    info = library.get(name)
    print(
        f"\n{name}: {info.arch}, {info.size}×{info.size} px, {info.channels} channel(s), "
        f"{info.n_classes} classes, weights {info.weights.stat().st_size / 1024:.0f} KB"
    )
    loads = []
    for _ in range(5):
        predict.forget_cache()
        library.forget_hashes()  # a cold load hashes the file again too
        start = time.perf_counter()
        predict.load(name)
        loads.append(time.perf_counter() - start)
    print(f"  load, first (imports safetensors, builds the network): {_ms(loads[0])}")
    print(
        f"  load, cold (read, SHA-256, rebuild, strict load), median of 4: "
        f"{_ms(statistics.median(loads[1:]))}"
    )
    med, _ = _median(lambda: predict.load(name), repeat)
    print(f"  load, cached by weights hash:                   {_ms(med)}")
    loaded = predict.load(name)
    for label, data in _images(info.size, info.channels).items():

        def one(data=data, label=label):
            """Decode, check and convert the upload, then the forward pass and softmax."""
            img = predict.prepare(data, label, info.size, info.channels)
            return predict.probabilities(loaded, [img.pixels])

        med, p90 = _median(one, repeat)
        print(f"  predict one {label:<22} (decode → probabilities): median {_ms(med)}, p90 {_ms(p90)}")
    img = predict.prepare(
        next(iter(_images(info.size, info.channels).values())), "x", info.size, info.channels
    )
    med, _ = _median(lambda: predict.probabilities(loaded, [img.pixels]), repeat)
    print(f"  forward pass alone:                             {_ms(med)}")
    if gradcam.supports(loaded.model):
        med, _ = _median(lambda: gradcam.grad_cam(loaded, img.pixels), max(5, repeat // 5))
        print(f"  Grad-CAM heat map:                              {_ms(med)}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    p = argparse.ArgumentParser(prog="python -m bench.predict", description=__doc__)
    p.add_argument("--model", help="a saved model's name (default: packed mnist_cnn bundles)")
    p.add_argument("--sizes", default="28,16", help="input sizes of the packed mnist_cnn bundles")
    p.add_argument("--repeat", type=int, default=50, help="timed calls per figure")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = p.parse_args(argv)

    start = time.perf_counter()
    import torch

    import_seconds = time.perf_counter() - start
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, CPU, {torch.get_num_threads()} thread(s), "
        f"{os.cpu_count()} core(s); Python {sys.version.split()[0]}"
    )
    print(f"import torch (once per server process): {_ms(import_seconds)}")
    if args.model:
        bench_model(args.model, args.repeat)
        return 0
    from core.serving import export, upload
    from core.train.models import build_model

    scratch = Path(tempfile.mkdtemp(prefix="predict-bench-", dir=workspace.subdir("cache")))
    old = os.environ.get(workspace.ENV_VAR)
    os.environ[workspace.ENV_VAR] = str(scratch)
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            torch.manual_seed(0)
            model = build_model("mnist_cnn", 10, 1, size, pretrained=False).model
            data = export.pack(
                model.state_dict(),
                arch="mnist_cnn",
                classes=list("0123456789"),
                size=size,
                channels=1,
                mean=[0.13],
                std=[0.31],
                name=f"mnist_cnn_{size}px",
            )
            info = upload.import_bundle(data, "bench.zip")
            bench_model(info.name, args.repeat)
    finally:
        if old is None:
            os.environ.pop(workspace.ENV_VAR, None)
        else:
            os.environ[workspace.ENV_VAR] = old
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
