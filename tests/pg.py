"""A throwaway PostgreSQL server for tests and CI, from the system's packages (standard library only).

    python3 tests/pg.py start DIR   # initdb DIR/data, start on 127.0.0.1:<free port>; prints the URL
    python3 tests/pg.py stop DIR    # stop it (the folder is left for the caller to remove)

The server listens on 127.0.0.1 only (its Unix socket in DIR, no other address), trusts local
connections (a test server: no password), and runs as the `postgres` account when started by
root (initdb refuses root). DIR/url holds the URL once it answers.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

USER = "postgres"


def bin_dir() -> Path | None:
    """The folder of the newest installed PostgreSQL server binaries, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def available() -> bool:
    """True when a PostgreSQL server can be started here."""
    return bin_dir() is not None


def _as_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", USER, "--", *cmd] if os.geteuid() == 0 else cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(folder: str | Path, timeout: float = 60.0) -> str:
    """Start a fresh server with its data in folder/data; returns its URL (also in folder/url)."""
    binaries = bin_dir()
    if binaries is None:
        raise SystemExit("PostgreSQL is not installed (no initdb found).")
    folder = Path(folder).resolve()
    data = folder / "data"
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, USER)
        folder.chmod(0o755)
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    if not (data / "PG_VERSION").exists():
        subprocess.run(
            _as_owner([str(binaries / "initdb"), "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8"]),
            check=True,
            stdout=subprocess.DEVNULL,
            env=env,
            cwd="/",
        )
    port = _free_port()
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder} -c fsync=off"
    options += " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    subprocess.run(
        _as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-o", options, "-w"])
        + ["start"],
        check=True,
        stdout=subprocess.DEVNULL,
        env=env,
        cwd="/",
        timeout=timeout,
    )
    url = f"postgresql://{USER}@127.0.0.1:{port}/postgres"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                log = folder / "log"
                raise SystemExit(f"PostgreSQL did not answer on 127.0.0.1:{port}; see {log}.") from None
            time.sleep(0.1)
    (folder / "url").write_text(url + "\n")
    return url


def stop(folder: str | Path) -> None:
    """Stop the server whose data is in folder/data (nothing when none runs)."""
    binaries = bin_dir()
    data = Path(folder).resolve() / "data"
    if binaries is None or not (data / "postmaster.pid").exists():
        return
    subprocess.run(
        _as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
        timeout=60,
    )


def main(argv: list[str]) -> int:
    """`pg.py start DIR` prints the URL; `pg.py stop DIR` stops the server."""
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: python3 tests/pg.py start|stop DIR", file=sys.stderr)
        return 2
    if argv[0] == "start":
        print(start(argv[1]), flush=True)
    else:
        stop(argv[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
