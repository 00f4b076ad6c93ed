"""A download and a training run queued together: the lanes against the one loop of before.

Run: .venv/bin/python -m bench.lanes [--epochs 2] [--mb 6] [--rate 2] [--rounds 3]

In a workspace of its own, with a throttled loopback server (a child process) offering a generated
archive as a catalogue entry, the worker's serve() runs in this process, as `python -m core worker`
would: each job alone, then both queued together in one lane after the other (the worker before
lanes: the download waits for the run) and in their lanes (both at once). Figures are ratios
against the alone runs of the same invocation; each figure is the median of the rounds, whose
order alternates (alone, one loop, lanes; then lanes, one loop, alone…) so a load that changes
during the run favours none.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import multiprocessing
import os
import statistics
import tarfile
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def archive(mb: float) -> bytes:
    """A .tgz of noise PNGs in two class folders (noise: it does not compress), about mb MB."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        n = max(20, int(mb * 2**20 / 12_500))
        for i in range(n):
            png = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(png, "PNG")
            info = tarfile.TarInfo(f"bench/{'train' if i % 5 else 'valid'}/{('a', 'b')[i % 2]}/{i}.png")
            info.size = len(png.getvalue())
            tar.addfile(info, io.BytesIO(png.getvalue()))
    return buf.getvalue()


def _serve(body: bytes, rate: float, port: multiprocessing.Queue) -> None:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def _head(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()

        def do_HEAD(self):
            self._head()

        def do_GET(self):
            self._head()
            step = 65536
            for i in range(0, len(body), step):
                self.wfile.write(body[i : i + step])
                time.sleep(step / (rate * 2**20))  # a line of `rate` MB/s

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port.put(httpd.server_address[1])
    httpd.serve_forever()


def main() -> None:
    """Print each job's time alone, one after the other (before) and in lanes (now), and ratios."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--mb", type=float, default=6.0, help="archive size in MB")
    p.add_argument("--rate", type=float, default=2.0, help="the line's speed in MB/s")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    os.environ["PLAYGROUND_WORKSPACE"] = tempfile.mkdtemp(prefix="bench-lanes-")

    from core.config import TrainConfig
    from core.data import catalogue
    from core.jobs import worker
    from core.jobs.store import DONE, Store

    body = archive(args.mb)
    ports: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(body, args.rate, ports), daemon=True)
    server.start()
    os.environ[catalogue.MIRROR_VAR] = f"http://127.0.0.1:{ports.get(timeout=30)}"
    store = Store()
    worker.warm_up()
    rounds = iter(range(1, 100))

    def entry() -> str:
        """A fresh catalogue key for the generated archive (each download adds a new dataset)."""
        n = next(rounds)
        key = f"BENCH{n}"
        url = f"{catalogue.ORIGIN}/fast-ai-sample/bench{n}.tgz"
        md5 = hashlib.md5(body[: 2**20]).hexdigest()
        catalogue.CATALOGUE[key] = catalogue.Entry(key, f"bench{n}", url, len(body), md5, key, "bench")
        return key

    def run(kinds: tuple[str, ...], serial: bool = False) -> dict[str, tuple[float, float]]:
        """Queue the jobs, serve until done; {kind: (seconds from queued to done, running)}."""
        ids = {}
        for kind in kinds:
            params = (
                {"key": entry()}
                if kind == "download"
                else {"config": TrainConfig(epochs=args.epochs).to_dict()}
            )
            ids[kind] = store.submit(kind, params)
        for lanes in (("compute",), ("io",)) if serial else (tuple(worker.LANES),):
            worker.serve(store, once=True, coordinate=False, poll=0.05, lanes=lanes)
        jobs = {kind: store.get(i) for kind, i in ids.items()}
        for job in jobs.values():
            assert job.state == DONE, (job.kind, job.error)
        return {k: (j.finished - j.created, j.finished - j.started) for k, j in jobs.items()}

    run(("train",))  # the digits cache and the first batches' compilation, not measured
    cases = {
        "alone": lambda: {**run(("train",)), **run(("download",))},
        "one loop": lambda: run(("train", "download"), serial=True),
        "lanes": lambda: run(("train", "download")),
    }
    seen: dict[str, list[dict]] = {name: [] for name in cases}
    for r in range(args.rounds):
        for name in list(cases)[:: 1 if r % 2 == 0 else -1]:
            t = time.monotonic()
            times = cases[name]()
            seen[name].append({**times, "wall": (time.monotonic() - t, 0.0)})
    server.terminate()

    def med(name: str, kind: str, i: int = 0) -> float:
        return statistics.median(x[kind][i] for x in seen[name])

    print(
        f"archive {len(body) / 2**20:.1f} MB at {args.rate:g} MB/s; training {args.epochs} epoch(s) on "
        f"digits; median of {args.rounds} round(s)"
    )
    print(f"{'':28}{'train':>10}{'download':>10}")
    print(f"{'alone (running)':28}{med('alone', 'train', 1):>9.1f}s{med('alone', 'download', 1):>9.1f}s")
    for name in ("one loop", "lanes"):
        print(f"{name + ': queued to done':28}{med(name, 'train'):>9.1f}s{med(name, 'download'):>9.1f}s")
    for kind in ("train", "download"):
        base = med("alone", kind, 1)
        lanes, loop = med("lanes", kind) / base, med("one loop", kind) / base
        print(f"{kind}: lanes/alone {lanes:.2f}, one loop/alone {loop:.2f}")
    before, now = med("one loop", "wall"), med("lanes", "wall")
    print(f"both done: one loop {before:.1f}s, lanes {now:.1f}s (ratio {now / before:.2f})")


if __name__ == "__main__":
    main()
