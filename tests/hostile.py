"""The hostile-input runner: each case's input is made here, then handed to one entry point in a
forked child with a fresh workspace, a wall-clock guard, and its CPU and peak memory measured.

A case passes when the entry point either refuses with the project's own error (UserError, whose
message is what the person reads) or accepts the input as documented, without a traceback, and
leaves nothing behind in the workspace when it refuses. The corpus modules (tests/hostile_*.py)
each define `cases() -> list[Case]`; `all_cases()` gathers them for the test and the bench.
"""

from __future__ import annotations

import importlib
import os
import pickle
import re
import resource
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPORA = ("tests.hostile_archives", "tests.hostile_inputs")  # modules that define cases()
GUARD_S = 30.0  # a hang guard, not the target: the target is ≤ 5 s of CPU, reported by the bench
CPU_TARGET_S = 5.0
MEMORY_TARGET_MB = 300.0
# Files a refusal may touch without leaving "half-written state": the store and its journals,
# logs, locks, and lock-like empties the workspace keeps on purpose.
IGNORED = re.compile(
    r"(^|/)(workspace\.json|(playground\.db|runs\.sqlite)(-wal|-shm|-journal)?|[^/]*\.log|[^/]*\.lock)$"
)


@dataclass(frozen=True)
class Case:
    """One hostile input and the entry point it is given to.

    make(tmp) writes whatever the input needs under tmp (a fresh folder outside the workspace)
    and returns the argument for act; it runs in the parent and is not measured. act(arg) is the
    entry point a person reaches (an import, an upload, a form's check, a CLI command). expect is
    "refused" (act must raise UserError) or "accepted" (act must return; a skipped member is an
    accepted input). match is a regex the refusal's message must contain (case-insensitive).
    """

    name: str
    make: Callable[[Path], Any]
    act: Callable[[Any], Any]
    expect: str = "refused"
    match: str | None = None
    kind: str = ""  # a family, for the report: zip, tar, folder, image, csv, bundle, json, form, cli


@dataclass
class Outcome:
    """What happened to one case in its child process."""

    name: str
    kind: str
    result: str  # refused, accepted, traceback, timeout, crashed
    message: str = ""
    cpu_s: float = 0.0
    wall_s: float = 0.0
    extra_mb: float = 0.0
    leftovers: list[str] = field(default_factory=list)

    def problems(self, case: Case) -> list[str]:
        """Why this outcome does not pass (empty when it does)."""
        out = []
        if self.result != case.expect:
            out.append(f"expected {case.expect}, got {self.result}: {self.message[-2000:]}")
        elif case.match and self.result == "refused" and not re.search(case.match, self.message, re.I):
            out.append(f"message {self.message!r} does not match {case.match!r}")
        if self.result == "refused" and self.leftovers:
            out.append(f"left behind: {self.leftovers[:10]}")
        return out


def all_cases() -> list[Case]:
    """Every case of every corpus module, names unique."""
    cases: list[Case] = []
    for module in CORPORA:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            continue
        cases.extend(mod.cases())
    names = [c.name for c in cases]
    dupes = {n for n in names if names.count(n) > 1}
    assert not dupes, f"duplicate case names: {sorted(dupes)}"
    return cases


def _files(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not IGNORED.search(rel):
            st = p.stat()
            out[rel] = (st.st_size, st.st_mtime_ns)
    return out


def _rss_kb(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def _child(case: Case, arg: Any, ws: Path, write_fd: int) -> None:
    os.environ["PLAYGROUND_WORKSPACE"] = str(ws)
    try:
        import torch

        torch.set_num_threads(1)  # the parent's thread pool does not survive fork
    except ImportError:
        pass
    before = _files(ws)
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to now
    except OSError:
        pass
    base_kb = _rss_kb("VmRSS")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    from core.errors import UserError

    try:
        case.act(arg)
        result, message = "accepted", ""
    except UserError as e:
        result, message = "refused", str(e)
    except BaseException:  # noqa: BLE001 - the point is to catch what escapes
        result, message = "traceback", traceback.format_exc()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    extra = max(0, _rss_kb("VmHWM") - base_kb) / 1024
    now = _files(ws)
    leftovers = sorted(k for k, v in now.items() if before.get(k) != v)
    out = Outcome(case.name, case.kind, result, message, cpu, wall, extra, leftovers)
    with os.fdopen(write_fd, "wb") as f:
        pickle.dump(out, f)


def run_case(case: Case, tmp: Path, guard_s: float = GUARD_S) -> Outcome:
    """Make the case's input under tmp, then run its entry point in a forked child with a fresh
    workspace (tmp/ws); a child still running after guard_s is killed and counted as a timeout."""
    made = tmp / "input"
    made.mkdir(parents=True, exist_ok=True)
    ws = tmp / "ws"
    ws.mkdir(exist_ok=True)
    arg = case.make(made)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(read_fd)
            _child(case, arg, ws, write_fd)
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    deadline = time.monotonic() + guard_s
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            os.close(read_fd)
            late = f"still running after {guard_s:.0f} s"
            return Outcome(case.name, case.kind, "timeout", late, wall_s=guard_s)
        time.sleep(0.02)
    with os.fdopen(read_fd, "rb") as f:
        data = f.read()
    if not data:
        return Outcome(case.name, case.kind, "crashed", f"child exited with status {status}")
    return pickle.loads(data)


def report(outcomes: list[Outcome]) -> str:
    """The corpus's figures as text: counts by result, the slowest and hungriest cases."""
    lines = [f"{len(outcomes)} hostile inputs"]
    for result in ("refused", "accepted", "traceback", "timeout", "crashed"):
        n = sum(o.result == result for o in outcomes)
        if n:
            lines.append(f"  {result}: {n}")
    if outcomes:
        cpu = sorted(o.cpu_s for o in outcomes)
        mem = sorted(o.extra_mb for o in outcomes)
        mid = len(cpu) // 2
        lines.append(f"  CPU s: median {cpu[mid]:.3f}, max {cpu[-1]:.2f} (target ≤ {CPU_TARGET_S})")
        lines.append(f"  extra MB: median {mem[mid]:.1f}, max {mem[-1]:.1f} (target ≤ {MEMORY_TARGET_MB})")
        over = [o for o in outcomes if o.cpu_s > CPU_TARGET_S or o.extra_mb > MEMORY_TARGET_MB]
        lines.append(f"  over a target: {len(over)}")
        for o in sorted(outcomes, key=lambda o: -o.cpu_s)[:5]:
            lines.append(f"    {o.name}: {o.cpu_s:.2f} s CPU, {o.extra_mb:.0f} MB, {o.result}")
    return "\n".join(lines)
