"""The simulated class (bench/classroom.py) against a Dask cluster instead of local workers.

Run: .venv/bin/python -m bench.classroom_dask [--learners 30] [--workers 1,2,4] [--seconds 2]

A `dask scheduler` and n `dask worker` processes (one thread each, no nanny) on 127.0.0.1 only,
and one `python -m core worker` with PLAYGROUND_SCHEDULER set: the dispatcher that hands each
queued job to the cluster (core.jobs.cluster). The learners queue "wait" jobs as in
bench.classroom; the same figures, and exactly once means here: each job DONE, its start
counted once (store.start_attempt, which a second start of the task would make 2), and no job
reported twice by the dispatcher.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from bench import classroom

START_S = 60.0
DASK = [sys.executable, "-m", "dask"]


@contextlib.contextmanager
def local_cluster(folder: Path, workers: int):
    """A scheduler and `workers` workers on the loopback interface; yields the scheduler's address."""
    procs: list[subprocess.Popen] = []
    log = open(folder / "dask.log", "ab")  # noqa: SIM115 - closed below

    def spawn(*args: str) -> None:
        procs.append(
            subprocess.Popen([*DASK, *args], cwd=classroom.ROOT, stdout=log, stderr=subprocess.STDOUT)
        )

    try:
        file = folder / "scheduler.json"
        spawn(
            "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(file)
        )
        deadline = time.monotonic() + START_S
        while not (file.exists() and file.read_text().strip()):
            if time.monotonic() > deadline or procs[0].poll() is not None:
                raise RuntimeError("the Dask scheduler did not start; see " + str(folder / "dask.log"))
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        for i in range(workers):
            spawn(
                "worker", address, "--host", "127.0.0.1", "--no-nanny", "--nthreads", "1", "--no-dashboard",
                "--name", f"w{i}", "--local-directory", str(folder / f"dask-w{i}"),
            )  # fmt: skip
        from distributed import Client

        with Client(address, timeout=START_S, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=START_S)
        yield address
    finally:
        classroom.stop_all(procs[::-1], timeout=30)  # workers first, then the scheduler
        log.close()


def scenario(learners: int, workers: int, *, seconds: float = 2.0, keep: bool = False) -> classroom.Outcome:
    """One wait job per learner against a dispatcher and `workers` Dask workers; the Outcome."""
    with classroom.class_workspace(keep) as ws, local_cluster(ws.parent, workers) as address:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PLAYGROUND_SCHEDULER": address}
        identities = [classroom.learner(i) for i in range(learners)]
        dispatcher = classroom.Workers(1, env, ready="Dispatcher")
        try:
            dispatcher.wait_ready()
            ids = classroom.queue(identities, "wait", classroom.job_params("wait", seconds, 0))
            jobs = classroom.wait_finished(ids, timeout=max(600.0, 20 * learners * seconds))
        finally:
            reports = dispatcher.stop()
        return classroom.summarise("wait, Dask", workers, ids, jobs, reports, dispatched=True)


def main(argv: list[str] | None = None) -> int:
    """Run the wait-job class against Dask clusters of each size; a table and a JSON line."""
    p = argparse.ArgumentParser(prog="python -m bench.classroom_dask", description=__doc__.splitlines()[0])
    p.add_argument("--learners", type=int, default=30, help="learners queuing a wait job (default 30)")
    p.add_argument(
        "--workers", type=classroom.worker_counts, default=[1, 2, 4], help="Dask workers (default 1,2,4)"
    )
    p.add_argument("--seconds", type=float, default=2.0, help="length of a wait job (default 2 s)")
    p.add_argument("--keep", action="store_true", help="keep the workspaces")
    args = p.parse_args(argv)
    outcomes = [scenario(args.learners, n, seconds=args.seconds, keep=args.keep) for n in args.workers]
    print(classroom.table(outcomes))
    print(json.dumps({"outcomes": [asdict(o) for o in outcomes]}))
    return 0 if all(o.exactly_once for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
