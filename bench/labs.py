"""How fast the Learn labs answer: `python -m bench.labs`.

Times each lab's core computations (core/labs/*) at the values its page starts with, plus the
heaviest setting of a control where it matters, on two torch threads by default (the issue's two
cores). Each case runs once first (that pays the one-time torch import and any warm-up), then
--repeat times; the median is reported against the issue's budgets: ≤ 300 ms per interaction,
and ≤ 2 s for the 2-D classifier's 300 steps. A lab whose module is not there yet is skipped.
The memory measurement (a real forward/backward pass) runs as a worker job, so it is reported
apart and not held to the 300 ms budget. Nothing is written anywhere.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

# As in the dashboard server (dashboard/app.py): idle OpenMP threads sleep instead of spinning.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

INTERACTION = 0.300  # seconds: the budget for one interaction after the first render
CLASSIFIER = 2.0  # seconds: the 2-D classifier's 300 steps
JOB = None  # a worker job: reported, no budget


@dataclass(frozen=True)
class Case:
    """One control of one lab: what moving it computes (built lazily), and its budget."""

    lab: str
    control: str
    make: Callable[[], Callable[[], object]]  # imports the lab, returns the call to time
    budget: float | None = INTERACTION


def _lab(name: str):
    return importlib.import_module(f"core.labs.{name}")


def _model(arch: str = "mnist_cnn", n_classes: int = 10, channels: int = 1, size: int = 28):
    import torch

    from core.labs import memory

    torch.manual_seed(0)
    return memory.build(arch, n_classes, channels, size).eval()


def _batch(n: int = 64, channels: int = 1, size: int = 28):
    import torch

    return torch.randn(n, channels, size, size, generator=torch.Generator().manual_seed(0))


# --- SGD by hand ----------------------------------------------------------------------------


def sgd_step():
    sgd = _lab("sgd")
    x, y = sgd.points(1)
    return lambda: sgd.autograd_step(sgd.START[1], x, y, 0.3)


def sgd_run_20():
    sgd = _lab("sgd")
    x, y = sgd.points(1)

    def run():
        params = sgd.START[1]
        for _ in range(20):
            params = sgd.autograd_step(params, x, y, 0.3).after

    return run


def sgd_surface():
    import numpy as np

    sgd = _lab("sgd")
    x, y = sgd.points(1)
    slopes, intercepts = np.linspace(-2.0, 4.0, 61), np.linspace(-2.5, 3.0, 56)
    return lambda: (sgd.surface(x, y, slopes, intercepts), sgd.gradient_field(x, y, slopes, intercepts))


def sgd_rates(steps: int):
    sgd = _lab("sgd")
    x, y = sgd.points(1)
    limit = sgd.largest_stable_lr(x)
    rates = (0.02, round(limit / 2, 2), round(limit * 1.08, 2))
    return lambda: [sgd.descend(sgd.START[1], x, y, lr, steps) for lr in rates]


def sgd_batches():
    sgd = _lab("sgd")
    x, y = sgd.points(1)
    return lambda: (sgd.descend(sgd.START[1], x, y, 0.3, 60), sgd.descend(sgd.START[1], x, y, 0.3, 60, 5))


def sgd_quadratic(steps: int):
    sgd = _lab("sgd")
    x, y = sgd.points(2)
    return lambda: (sgd.descend(sgd.START[2], x, y, 0.5, steps), sgd.best_fit(x, y, 2))


# --- Loss functions -------------------------------------------------------------------------


def losses_regression():
    losses = _lab("losses")
    x, y = losses.points()
    return lambda: losses.fits(*losses.with_outlier(x, y, (0.9, 3.0)), 0.5)


def losses_rmse():
    import numpy as np

    losses = _lab("losses")
    x, y = losses.points()
    return lambda: losses.rmse_and_mse(x, y, np.linspace(-0.5, 2.5, 121), float(losses.fit(x, y, "mse")[1]))


def losses_cross_entropy():
    import numpy as np

    losses = _lab("losses")
    return lambda: (
        losses.scored(losses.LOGITS, losses.TARGETS),
        losses.margin_sweep(losses.LOGITS, losses.TARGETS, np.linspace(-3.0, 3.0, 121)),
    )


def losses_softmax():
    losses = _lab("losses")
    return lambda: [losses.softmax(losses.LOGITS, t) for t in (0.5, 1.0, 2.0)]


# --- Optimizers -----------------------------------------------------------------------------


def optimizers_race(surface: str, steps: int):
    optimizers = _lab("optimizers")
    return lambda: (optimizers.race(surface, 0.1, steps), optimizers.grid(surface))


def optimizers_momentum():
    optimizers = _lab("optimizers")
    return lambda: optimizers.ewma(optimizers.noisy_series(noise=0.5), 0.9)


# --- Regularisation -------------------------------------------------------------------------


def regularisation_fit(wd: float, dropout: float):
    regularisation = _lab("regularisation")
    return lambda: regularisation.fit(wd=wd, dropout=dropout)


def regularisation_l1_l2():
    regularisation = _lab("regularisation")
    return lambda: [regularisation.fit(wd=1e-3, kind=kind) for kind in regularisation.PENALTIES]


# --- Convolution ----------------------------------------------------------------------------


def convolution_kernel(stride: int = 1, padding: int = 1):
    import numpy as np

    convolution = _lab("convolution")
    image = np.random.default_rng(0).random((96, 96)).astype(np.float32)
    kernel = convolution.PRESETS["top edges"]
    return lambda: convolution.convolve(image, kernel, stride, padding)


def convolution_pooling():
    import numpy as np

    convolution = _lab("convolution")
    image = np.random.default_rng(0).random((96, 96)).astype(np.float32)
    return lambda: convolution.max_pool(image, 2)


def convolution_filters():
    convolution = _lab("convolution")
    model, x = _model(), _batch(1)
    return lambda: (convolution.filters(model), convolution.feature_maps(model, x))


# --- Activations and layers -----------------------------------------------------------------


def activations_curve(units: int, act: str):
    activations = _lab("activations")
    return lambda: activations.fit_curve("wave", units, act)


def activations_no_activation():
    activations = _lab("activations")
    return lambda: (activations.fit_curve("wave", 16, "none"), activations.fit_curve("wave", 16, "relu"))


def activations_playground(kind: str, width: int = 8, layers: int = 2):
    activations = _lab("activations")
    xy, y = activations.points(kind, noise=0.05)
    return lambda: activations.train_classifier(xy, y, [width] * layers, "relu", lr=0.03, steps=300)


# --- Inside your model ----------------------------------------------------------------------


def inside_activations():
    inside = _lab("inside")
    model, x = _model(), _batch(1)
    return lambda: inside.activation_stats(model, x)


def inside_batchnorm():
    inside = _lab("inside")
    return lambda: inside.batchnorm_effect(3.0, 4.0)


def inside_dropout():
    inside = _lab("inside")
    return lambda: (inside.dropout_demo(0.5, True), inside.dropout_demo(0.5, False))


def inside_memory_estimate():
    memory = _lab("memory")
    model = _model()
    return lambda: memory.estimate(model, 1, 28)


def inside_memory_measure():
    memory = _lab("memory")
    model = _model()
    return lambda: memory.measure(model, 10, 1, 28, 64)


# --- Embeddings and PCA ---------------------------------------------------------------------


def embeddings_lookup():
    embeddings = _lab("embeddings")
    return lambda: embeddings.one_hot_lookup(6, 4, 2)


def embeddings_pca():
    embeddings = _lab("embeddings")
    model, x = _model(), _batch(200)
    return lambda: embeddings.pca(embeddings.last_features(model, x))


CASES = [
    Case("sgd", "Step", sgd_step),
    Case("sgd", "Run 20 steps", sgd_run_20),
    Case("sgd", "loss surface and arrows (first render)", sgd_surface),
    Case("sgd", "rates: Steps 30", lambda: sgd_rates(30)),
    Case("sgd", "rates: Steps 100 (max)", lambda: sgd_rates(100)),
    Case("sgd", "batches: full and mini-batch, 60 steps", sgd_batches),
    Case("sgd", "quadratic: Steps 50", lambda: sgd_quadratic(50)),
    Case("sgd", "quadratic: Steps 500 (max)", lambda: sgd_quadratic(500)),
    Case("losses", "regression: move the outlier", losses_regression),
    Case("losses", "rmse: the curves", losses_rmse),
    Case("losses", "cross_entropy: margins", losses_cross_entropy),
    Case("losses", "softmax: temperature", losses_softmax),
    Case("optimizers", "race: ravine, 200 steps", lambda: optimizers_race("ravine", 200)),
    Case("optimizers", "race: rosenbrock, 500 steps (max)", lambda: optimizers_race("rosenbrock", 500)),
    Case("optimizers", "momentum: β", optimizers_momentum),
    Case("regularisation", "overfitting: wd 0, dropout 0", lambda: regularisation_fit(0.0, 0.0)),
    Case("regularisation", "overfitting: wd 0.1, dropout 0.5", lambda: regularisation_fit(0.1, 0.5)),
    Case("regularisation", "l1_l2: wd 1e-3, both penalties", regularisation_l1_l2),
    Case("convolution", "kernel: a number, 96×96 image", convolution_kernel),
    Case("convolution", "stride: 2, padding 3", lambda: convolution_kernel(2, 3)),
    Case("convolution", "pooling: window 2", convolution_pooling),
    Case("convolution", "filters: mnist_cnn's filters and feature maps", convolution_filters),
    Case("activations", "approximation: 4 relu units", lambda: activations_curve(4, "relu")),
    Case("activations", "approximation: 64 relu units (max)", lambda: activations_curve(64, "relu")),
    Case("activations", "no_activation: 16 units, with and without", activations_no_activation),
    Case(
        "activations", "playground: circles, 300 steps", lambda: activations_playground("circles"), CLASSIFIER
    ),
    Case(
        "activations",
        "playground: spirals, 3×32, 300 steps",
        lambda: activations_playground("spirals", 32, 3),
        CLASSIFIER,
    ),
    Case("inside", "activations: mnist_cnn, one image", inside_activations),
    Case("inside", "activations: BatchNorm before and after", inside_batchnorm),
    Case("inside", "dropout: p 0.5", inside_dropout),
    Case("inside", "memory: the estimate", inside_memory_estimate),
    Case("inside", "memory: measured pass, bs 64 (worker job)", inside_memory_measure, JOB),
    Case("embeddings", "lookup: one-hot × matrix", embeddings_lookup),
    Case("embeddings", "pca: mnist_cnn's last features, 200 images", embeddings_pca),
]


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(first call, median of the next `repeat`) in seconds."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Time every case, print a table and the slowest interaction; 1 when --strict and over budget."""
    parser = argparse.ArgumentParser(prog="python -m bench.labs", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per case after the first")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the issue's two cores)")
    parser.add_argument("--lab", action="append", help="only this lab (repeatable)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a case is over its budget")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeat} after one warm-up call"
    )
    print(f"{'lab':<15} {'control':<48} {'first':>9} {'median':>9}  budget")
    rows, skipped = [], []
    for case in CASES:
        if args.lab and case.lab not in args.lab:
            continue
        try:
            fn = case.make()
        except (ImportError, AttributeError, KeyError) as e:  # the lab (or this function) is not there yet
            skipped.append(f"{case.lab}: {case.control} ({type(e).__name__}: {e})")
            continue
        first, median = timed(fn, args.repeat)
        over = case.budget is not None and median > case.budget
        verdict = (
            "worker job"
            if case.budget is None
            else f"{'OVER' if over else 'ok'} ≤ {case.budget * 1000:.0f} ms"
        )
        print(f"{case.lab:<15} {case.control:<48} {first * 1000:7.1f}ms {median * 1000:7.1f}ms  {verdict}")
        rows.append((case, median, over))
    for line in skipped:
        print(f"skipped  {line}")
    held = [(c, m) for c, m, _ in rows if c.budget == INTERACTION]
    if held:
        case, median = max(held, key=lambda r: r[1])
        print(f"slowest interaction: {case.lab} · {case.control}: {median * 1000:.1f} ms (budget 300 ms)")
    for case, median, _ in rows:
        if case.budget == CLASSIFIER:
            print(f"2-D classifier, {case.control}: {median:.2f} s (budget 2 s)")
    over = [c for c, _, o in rows if o]
    if over:
        print("over budget: " + "; ".join(f"{c.lab} · {c.control}" for c in over))
    return 1 if args.strict and over else 0


if __name__ == "__main__":
    sys.exit(main())
