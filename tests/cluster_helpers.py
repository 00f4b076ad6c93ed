"""A Dask cluster on the loopback interface for the cluster tests: `dask scheduler` and `dask
worker` processes bound to 127.0.0.1, each worker a single process (no nanny, so killing it is
a death) with one thread; one of them offers the `GPU` resource. Every process is killed when
the cluster is closed, whatever a test did."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.conftest import subprocess_env

ROOT = Path(__file__).resolve().parents[1]
DASK = [sys.executable, "-m", "dask"]  # the `dask` command of this Python
START_S = 60.0


class LocalCluster:
    """A scheduler and named workers ("cpu", "gpu": the one with --resources GPU=1) on 127.0.0.1.

    Each worker keeps its decoded-image cache in a folder of its own (PLAYGROUND_CACHE_DIR), as
    machines of a real cluster keep theirs on their own disks.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: list = []
        self.address = ""

    def _spawn(self, name: str, args: list[str], **env: str) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 - closed by close()
        self.logs.append(log)
        proc = subprocess.Popen(
            [*DASK, *args],
            cwd=ROOT,
            env=subprocess_env(PYTHONPATH=str(ROOT), PLAYGROUND_THREADS="1", OMP_NUM_THREADS="1", **env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def start(self) -> LocalCluster:
        """Start the scheduler and both workers; return once the scheduler sees two workers."""
        file = self.folder / "scheduler.json"
        self._spawn(
            "scheduler",
            [
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(file),
            ],
        )
        deadline = time.monotonic() + START_S
        while not file.exists() or not file.read_text().strip():
            if time.monotonic() > deadline or self.procs["scheduler"].poll() is not None:
                raise RuntimeError(f"the dask scheduler did not start: {self.log('scheduler')}")
            time.sleep(0.1)
        self.address = json.loads(file.read_text())["address"]
        assert self.address.startswith("tcp://127.0.0.1:"), self.address
        for name in ("cpu", "gpu"):
            self.start_worker(name)
        self.wait_for_workers()
        return self

    def start_worker(self, name: str) -> subprocess.Popen:
        """Start (or start again) the worker called name."""
        args = ["worker", self.address, "--host", "127.0.0.1", "--no-nanny", "--nthreads", "1"]
        args += ["--no-dashboard", "--name", name, "--local-directory", str(self.folder / f"dask-{name}")]
        if name == "gpu":
            args += ["--resources", "GPU=1"]
        return self._spawn(name, args, PLAYGROUND_CACHE_DIR=str(self.cache_dir(name)))

    def cache_dir(self, name: str) -> Path:
        """The folder where the worker called name keeps its decoded images."""
        return self.folder / f"cache-{name}"

    def pid(self, name: str) -> int:
        """The process id of the worker called name."""
        return self.procs[name].pid

    def name_of(self, where: str | None) -> str | None:
        """The worker's name for a job's worker ("host:pid"), or None when it is none of them."""
        pid = int(str(where).rpartition(":")[2] or 0) if where else 0
        return next((n for n, p in self.procs.items() if p.pid == pid and n != "scheduler"), None)

    def wait_for_workers(self, n: int = 2) -> None:
        """Block until the scheduler knows n workers."""
        from distributed import Client

        with Client(self.address, timeout=START_S, set_as_default=False) as client:
            client.wait_for_workers(n, timeout=START_S)

    def ensure_workers(self) -> None:
        """Start again any worker a test killed."""
        dead = [n for n in ("cpu", "gpu") if self.procs[n].poll() is not None]
        for name in dead:
            self.start_worker(name)
        if dead:
            self.wait_for_workers()

    def kill(self, name: str) -> None:
        """SIGKILL the worker called name, as a machine that dies."""
        proc = self.procs[name]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)

    def log(self, name: str) -> str:
        """The tail of a process's output."""
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def close(self) -> None:
        """Kill every process of the cluster (workers first) and close the logs."""
        for name in ("cpu", "gpu", "scheduler"):
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
        for log in self.logs:
            log.close()


class ThreadDispatcher:
    """core.jobs.cluster_dispatch.Dispatcher serving in a thread of the test process."""

    def __init__(self, address: str):
        from core.jobs import cluster
        from core.jobs.cluster_dispatch import Dispatcher
        from core.jobs.store import Store

        self.client = cluster.connect(address)
        self.store = Store(everyone=True)
        self.dispatcher = Dispatcher(self.client, self.store, poll=0.1)
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.dispatcher.serve(self.stop)
        except BaseException as e:  # noqa: BLE001 - surfaced by close()
            self.errors.append(e)

    def close(self) -> None:
        """Stop dispatching (asking running jobs to stop), then close the client."""
        self.stop.set()
        self.thread.join(90)
        self.client.close()
        self.store.close()
        assert not self.thread.is_alive(), "the dispatcher did not stop"
        assert not self.errors, f"the dispatcher crashed: {self.errors!r}"


def flush_every_batch() -> None:
    """On a worker (client.run): write each batch and look for Stop after each, not every 0.25 s."""
    from core.train import callbacks

    callbacks.FLUSH_EVERY = 0.0
