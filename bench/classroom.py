"""A class, simulated: learners each queue one job against 1, 2 and 4 worker processes.

Run: .venv/bin/python -m bench.classroom [--learners 30] [--workers 1,2,4] [--seconds 2]
                                          [--train-learners 8] [--train-workers 1,2] [--epochs 2]

Each learner is a person of a shared class (a space of their own, learner{i}@class) and queues
one job at the same moment; the workers (`python -m core worker --slot N`, one process each)
serve the one store of a fresh workspace ($PLAYGROUND_DB when set). Two kinds of job:

- "wait" jobs (core.jobs.waiting): their cost is waiting, so the figures measure the queue, not
  the contention of this machine's cores; against each worker count;
- real short Digits training runs (mnist_cnn, a few epochs), against fewer workers, each worker
  given an equal share of the cores (PLAYGROUND_THREADS).

For each: the queue wait (claimed - queued) p50/p95, the total time (first queued to last
finished), the scaling efficiency T1/(n·Tn), and whether every job finished exactly once (each
DONE, each reported once by the one worker that ran it, none lost). Last, an estimate for
thirty learners on four GPUs, built from these figures and labelled with its assumption.
bench.classroom_dask runs the same wait jobs on a Dask cluster (core.jobs.cluster).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from core import workspace

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 180.0  # seconds for a worker to import fastai and say it is ready
CLASS_FILE = 'shared = true\nteachers = ["teacher@class"]\nmax_jobs = 3\n'


def learner(i: int) -> str:
    """The identity of the i-th learner of the simulated class."""
    return f"learner{i}@class"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of values, interpolated linearly between ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def efficiency(t1: float, n: int, tn: float) -> float:
    """Scaling efficiency of n workers: T1 / (n·Tn), 1.0 when n workers are n times as fast."""
    return t1 / (n * tn)


@dataclass
class Outcome:
    """What one scenario measured: n jobs of one kind against some workers."""

    kind: str
    learners: int
    workers: int
    wait_p50: float  # seconds a job waited in the queue (claimed - queued)
    wait_p95: float
    total: float  # first queued to last finished
    run_mean: float  # a job's mean running time (finished - claimed)
    done: int  # jobs that ended DONE
    exactly_once: bool  # every job DONE, each reported once by one worker, none lost or extra
    problems: list[str]
    accuracy: float | None = None  # training runs: the mean final accuracy (they did train)


def summarise(
    kind: str, workers: int, queued: list[int], jobs: list, reports: dict[int, list[int]], dispatched=False
) -> Outcome:
    """The figures of one scenario: the ids queued, the jobs as the store has them at the end,
    and the pids of the workers that reported ending each job (a job run twice is reported
    twice; one never run, never). dispatched: the jobs ran on a cluster, where each task counts
    its start (attempts must be 1) and the one dispatcher may not report every end."""
    found = {j.id: j for j in jobs}
    problems = [f"job {i} is not in the store" for i in queued if i not in found]
    problems += [f"job {j.id} ended {j.state}: {j.error or ''}".strip() for j in jobs if j.state != "DONE"]
    # a dispatcher need not report each end: there, each task's counted start is the evidence
    problems += [
        f"job {i} was never reported by a worker" for i in queued if i not in reports and not dispatched
    ]
    problems += [f"job {i} was reported {len(p)} times" for i, p in sorted(reports.items()) if len(p) > 1]
    problems += [
        f"a worker reported job {i}, which was never queued" for i in sorted(set(reports) - set(queued))
    ]
    for j in jobs:
        if getattr(j, "attempts", 0) > 1 or (dispatched and j.attempts != 1):
            problems.append(f"job {j.id} was started {j.attempts} times")
        ran_by = ran_by_pid(j)
        if not dispatched and ran_by is not None and j.id in reports and reports[j.id] != [ran_by]:
            problems.append(f"job {j.id} was claimed by pid {ran_by} but reported by {reports[j.id]}")
    waits = [j.started - j.created for j in jobs if j.started is not None]
    runs = [j.finished - j.started for j in jobs if j.started is not None and j.finished is not None]
    ends = [j.finished for j in jobs if j.finished is not None]
    accuracies = [j.result["accuracy"] for j in jobs if j.result and "accuracy" in j.result]
    return Outcome(
        kind=kind,
        learners=len(jobs),
        workers=workers,
        wait_p50=percentile(waits, 50),
        wait_p95=percentile(waits, 95),
        total=(max(ends) - min(j.created for j in jobs)) if ends else math.nan,
        run_mean=sum(runs) / len(runs) if runs else math.nan,
        done=sum(j.state == "DONE" for j in jobs),
        exactly_once=not problems,
        problems=problems,
        accuracy=sum(accuracies) / len(accuracies) if accuracies else None,
    )


def job_params(kind: str, seconds: float, epochs: int) -> dict:
    """The params of the job every learner queues."""
    if kind == "wait":
        return {"seconds": seconds, "steps": 10}
    from core import tasks
    from core.train import device

    cfg = tasks.default_config("single_label", dataset="digits", arch="mnist_cnn", epochs=epochs, bs=64)
    return {"config": cfg.replace(mixed_precision=device.cuda_available()).validate().to_dict()}  # as the CLI


def prepare_spaces(identities: list[str], kind: str) -> None:
    """Give each learner what they would have before queueing: Digits in their own space."""
    if kind == "wait":
        return
    from core import people
    from core.data import datasets

    for identity in identities:
        with people.acting_as(people.person_for(identity)):
            datasets.resolve("digits")


def queue(identities: list[str], kind: str, params: dict) -> list[int]:
    """Each learner queues one job, in their own space; returns the job ids in queue order."""
    from core import people
    from core.jobs.store import Store

    ids = []
    for identity in identities:
        with people.acting_as(people.person_for(identity)):
            store = Store()
            ids.append(store.submit(kind, params))
            store.close()
    return ids


class Workers:
    """n `python -m core worker --slot i` processes serving the current workspace's store; each
    worker's output is read on a thread of its own (its 'ready' line, its 'job N (kind): STATE' lines)."""

    def __init__(self, n: int, env: dict[str, str], ready: str = "ready"):
        self.procs = [
            subprocess.Popen(
                worker_command(slot),
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for slot in range(n)
        ]
        self.lines: list[list[str]] = [[] for _ in self.procs]
        self.ready = ready  # the word of a worker's line that says it is ready
        self.readers = [
            threading.Thread(target=self._read, args=(i,), daemon=True) for i in range(len(self.procs))
        ]
        for reader in self.readers:
            reader.start()

    def _read(self, i: int) -> None:
        for line in self.procs[i].stdout:
            self.lines[i].append(line.rstrip("\n"))

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Return once every worker said it is ready; raise when one died or took too long."""
        deadline = time.monotonic() + timeout
        while not all(any(self.ready in line for line in lines) for lines in self.lines):
            dead = [p for p in self.procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                why = "exited" if dead else f"was not ready after {timeout:.0f} s"
                raise RuntimeError(f"a worker {why}:\n" + "\n".join(sum(self.lines, [])[-20:]))
            time.sleep(0.1)

    def stop(self) -> dict[int, list[int]]:
        """Stop every worker (SIGTERM: after its current batch); which workers reported each job."""
        stop_all(self.procs, timeout=60)
        for reader in self.readers:
            reader.join(timeout=5)
        return reported({proc.pid: lines for proc, lines in zip(self.procs, self.lines)})


def stop_all(procs: list[subprocess.Popen], timeout: float) -> None:
    """SIGTERM every process, in order, then wait for each (SIGKILL after timeout seconds)."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ran_by_pid(job) -> int | None:
    """The pid of the worker the store says claimed job ("host:pid", or an old store's pid)."""
    where = getattr(job, "worker", None)
    if where:
        tail = str(where).rsplit(":", 1)[-1]
        return int(tail) if tail.isdigit() else None
    return job.worker_pid


def reported(output: dict[int, list[str]]) -> dict[int, list[int]]:
    """Which workers' output (pid -> lines) says each job id ended ('job N (kind): STATE')."""
    by_job: dict[int, list[int]] = {}
    for pid, lines in output.items():
        for line in lines:
            words = line.partition(":")[0].split()
            if len(words) == 3 and words[0] == "job" and words[1].isdigit() and words[2].startswith("("):
                by_job.setdefault(int(words[1]), []).append(pid)
    return by_job


def worker_command(slot: int) -> list[str]:
    """The command of worker number slot: `python -m core worker --slot slot`."""
    return [sys.executable, "-m", "core", "worker", "--slot", str(slot), "--idle-exit", "300"]


def wait_finished(ids: list[int], timeout: float) -> list:
    """The jobs, once every one of them has ended (or timeout seconds have passed)."""
    from core.jobs.store import Store

    store = Store(everyone=True)  # the worker's view: every learner's jobs
    deadline = time.monotonic() + timeout
    try:
        while True:
            jobs = [store.get(i) for i in ids]
            if all(j is not None and j.finished_state for j in jobs) or time.monotonic() > deadline:
                return [j for j in jobs if j is not None]
            time.sleep(0.1)
    finally:
        store.close()


@contextlib.contextmanager
def class_workspace(keep: bool = False):
    """A fresh workspace with a shared class file, current for this process and its workers."""
    folder = Path(tempfile.mkdtemp(prefix="classroom-"))
    (folder / "class.toml").write_text(CLASS_FILE, encoding="utf-8")
    saved = {k: os.environ.get(k) for k in (workspace.ENV_VAR, "PLAYGROUND_CLASS")}
    os.environ[workspace.ENV_VAR] = str(folder / "ws")
    os.environ["PLAYGROUND_CLASS"] = str(folder / "class.toml")
    try:
        yield folder / "ws"
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def scenario(kind: str, learners: int, workers: int, *, seconds=2.0, epochs=2, threads=None, keep=False):
    """Queue one job per learner against `workers` fresh worker processes; returns the Outcome."""
    with class_workspace(keep):
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_WAIT_POLICY": "PASSIVE"}
        if threads:
            env["PLAYGROUND_THREADS"] = str(threads)
        identities = [learner(i) for i in range(learners)]
        params = job_params(kind, seconds, epochs)
        prepare_spaces(identities, kind)
        pool = Workers(workers, env)
        try:
            pool.wait_ready()
            ids = queue(identities, kind, params)
            jobs = wait_finished(ids, timeout=max(600.0, 20 * learners * seconds))
        finally:
            reports = pool.stop()
        return summarise(kind, workers, ids, jobs, reports)


def table(outcomes: list[Outcome]) -> str:
    """The outcomes as a Markdown table, with each one's efficiency against its 1-worker run."""
    head = "| job | learners | workers | queue wait p50 | p95 | total | efficiency | exactly once |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for o in outcomes:
        base = next((b for b in outcomes if b.kind == o.kind and b.workers == 1), None)
        eff = f"{efficiency(base.total, o.workers, o.total):.2f}" if base else "–"
        once = "yes" if o.exactly_once else "NO: " + "; ".join(o.problems[:3])
        lines.append(
            f"| {o.kind} | {o.learners} | {o.workers} | {o.wait_p50:.1f} s | {o.wait_p95:.1f} s "
            f"| {o.total:.1f} s | {eff} | {once} ({o.done}/{o.learners} DONE) |"
        )
    return "\n".join(lines)


def estimate(waits: list[Outcome], runs: list[Outcome], learners: int = 30, gpus: int = 4) -> dict | None:
    """Thirty learners on four GPUs, estimated: one job per GPU at a time, each run taking what
    one worker took here per run, the queue as efficient as the wait jobs' with that many workers."""
    queue_k = next((o for o in waits if o.workers == gpus), None)
    queue_1 = next((o for o in waits if o.workers == 1), None)
    one = next((o for o in runs if o.workers == 1), None)
    if not (queue_k and queue_1 and one):
        return None
    per_run = one.total / one.learners  # seconds of a run, start overhead included
    per_wait = queue_1.total / queue_1.learners
    eff = efficiency(queue_1.total, gpus, queue_k.total)
    more = learners / queue_k.learners  # a FIFO queue filled at once: waits grow with its length
    in_runs = {  # in lengths of one run: the same for any run, under the assumption
        "total": learners / (gpus * eff),
        "wait_p50": queue_k.wait_p50 / per_wait * more,
        "wait_p95": queue_k.wait_p95 / per_wait * more,
    }
    return {
        "learners": learners,
        "gpus": gpus,
        "seconds_per_run": round(per_run, 2),
        "queue_efficiency": round(eff, 2),
        **{f"{k}_runs": round(v, 1) for k, v in in_runs.items()},
        **{f"{k}_s": round(v * per_run, 1) for k, v in in_runs.items()},
        "assumption": (
            f"an estimate, not a measurement: each of the {gpus} GPUs has a worker of its own that "
            "runs one job at a time without slowing the others, a run takes there what one "
            "worker took per run here (on this machine's CPU; a GPU is faster), and the queue "
            f"scales as the wait jobs' did with {gpus} workers"
        ),
    }


def worker_counts(text: str) -> list[int]:
    """argparse type of worker counts: whole numbers of at least 1, like 1,2,4."""
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"give worker counts like 1,2,4, not {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("worker counts are whole numbers of at least 1")
    return values


def main(argv: list[str] | None = None) -> int:
    """Run the wait-job and the training scenarios, print a table, the estimate and a JSON line."""
    p = argparse.ArgumentParser(prog="python -m bench.classroom", description=__doc__.splitlines()[0])
    p.add_argument("--learners", type=int, default=30, help="learners queuing a wait job (default 30)")
    p.add_argument("--workers", type=worker_counts, default=[1, 2, 4], help="worker counts (default 1,2,4)")
    p.add_argument("--seconds", type=float, default=2.0, help="length of a wait job (default 2 s)")
    p.add_argument("--train-learners", type=int, default=8, help="learners queuing a run (0: none)")
    p.add_argument("--train-workers", type=worker_counts, default=[1, 2], help="worker counts for runs")
    p.add_argument("--epochs", type=int, default=2, help="epochs of each Digits run (default 2)")
    p.add_argument("--keep", action="store_true", help="keep the workspaces (their paths are printed)")
    args = p.parse_args(argv)
    cores = os.cpu_count() or 1
    waits = [scenario("wait", args.learners, n, seconds=args.seconds, keep=args.keep) for n in args.workers]
    runs = [
        scenario(
            "train", args.train_learners, n, epochs=args.epochs, threads=max(1, cores // n), keep=args.keep
        )
        for n in (args.train_workers if args.train_learners > 0 else [])
    ]
    print(f"{cores} cores; wait jobs of {args.seconds:g} s; Digits runs of {args.epochs} epochs (mnist_cnn)")
    print(table(waits + runs))
    guess = estimate(waits, runs)
    if guess:
        print(
            f"Estimate for {guess['learners']} learners on {guess['gpus']} GPUs, in lengths of one run: "
            f"all done after {guess['total_runs']:.1f}, queue wait p50 {guess['wait_p50_runs']:.1f}, p95 "
            f"{guess['wait_p95_runs']:.1f}; with runs like these ({guess['seconds_per_run']:.2f} s): "
            f"{guess['total_s']:.0f} s, {guess['wait_p50_s']:.0f} s, {guess['wait_p95_s']:.0f} s "
            f"({guess['assumption']})."
        )
    print(json.dumps({"outcomes": [asdict(o) for o in waits + runs], "estimate": guess}))
    return 0 if all(o.exactly_once for o in waits + runs) else 1


if __name__ == "__main__":
    sys.exit(main())
