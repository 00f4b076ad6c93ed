"""A download and a training run queued together: the lanes against the one loop of before.

Run: .venv/bin/python -m bench.lanes [--epochs 2] [--mb 6] [--rate 2]

In a workspace of its own, with a throttled loopback server (a child process) offering a generated
archive as a catalogue entry, the worker's serve() runs in this process, as `python -m core worker`
would: each job alone, then both queued together in one lane after the other (the worker before
lanes: the download waits for the run) and in their lanes (both at once). Figures are ratios
against the alone runs of the same invocation.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import multiprocessing
import os
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
    alone = {**run(("train",)), **run(("download",))}
    t = time.monotonic()
    before = run(("train", "download"), serial=True)
    before_wall = time.monotonic() - t
    t = time.monotonic()
    now = run(("train", "download"))
    now_wall = time.monotonic() - t
    server.terminate()

    print(
        f"archive {len(body) / 2**20:.1f} MB at {args.rate:g} MB/s; training {args.epochs} epoch(s) on digits"
    )
    print(f"{'':28}{'train':>10}{'download':>10}")
    print(f"{'alone (running)':28}{alone['train'][1]:>9.1f}s{alone['download'][1]:>9.1f}s")
    print(f"{'one loop: queued to done':28}{before['train'][0]:>9.1f}s{before['download'][0]:>9.1f}s")
    print(f"{'lanes: queued to done':28}{now['train'][0]:>9.1f}s{now['download'][0]:>9.1f}s")
    for kind in ("train", "download"):
        print(
            f"{kind}: lanes/alone {now[kind][0] / alone[kind][1]:.2f}, "
            f"one loop/alone {before[kind][0] / alone[kind][1]:.2f}"
        )
    print(
        f"both done: one loop {before_wall:.1f}s, lanes {now_wall:.1f}s (ratio {now_wall / before_wall:.2f})"
    )


if __name__ == "__main__":
    main()
