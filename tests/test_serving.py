"""Safe serving: `make run` listens on the loopback interface only, and `make share` serves a
class on the address the teacher gives only when sign-in is set up.

Where a server listens is read from the server's own sockets (psutil, for its pid); no traffic
goes anywhere but the loopback interface.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from core import people
from core.errors import UserError
from dashboard import share
from tests.apptest import APP, ROOT
from tests.browser import free_port, running
from tests.oidc import write_class_file, write_secrets

ISSUER = "http://127.0.0.1:9"  # never contacted: the server only starts, nobody signs in


def _make_command(target: str, **variables: str) -> list[str]:
    """The command `make target` would run to serve the dashboard (its last, serving line)."""
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    assigned = [f"{k}={v}" for k, v in variables.items()]
    out = subprocess.run(
        ["make", "-n", target, *assigned], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    line = [line for line in out.splitlines() if "streamlit run" in line or "dashboard.share" in line][-1]
    argv = shlex.split(line)
    if not (ROOT / argv[0]).exists():  # no .venv here: the interpreter running the tests
        argv[0] = sys.executable
    return argv


def _listening(pid: int) -> set[tuple[str, int]]:
    """The (address, port) pairs the process listens on, from its own sockets."""
    try:
        conns = psutil.Process(pid).net_connections(kind="inet")
    except psutil.NoSuchProcess:
        return set()
    return {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}


@contextmanager
def _serving(argv: list[str], workspace: Path, env: dict[str, str] | None = None, timeout: float = 60):
    """Start argv in the project folder; yields (pid, listening addresses) once it listens."""
    full_env = {k: v for k, v in os.environ.items() if k != people.CONFIG_ENV}
    full_env.update(PLAYGROUND_WORKSPACE=str(workspace), **(env or {}))
    with running(argv, workspace / "serve.log", full_env) as proc:
        deadline = time.monotonic() + timeout
        while not _listening(proc.pid):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start: {(workspace / 'serve.log').read_text()}")
            time.sleep(0.2)
        time.sleep(0.5)  # every socket it opens is open by now
        yield proc.pid, _listening(proc.pid)


def _healthy(address: str, port: int) -> bool:
    with urllib.request.urlopen(f"http://{address}:{port}/_stcore/health", timeout=10) as r:
        return r.status == 200


def test_make_run_answers_on_127_0_0_1_and_on_no_other_interface(fresh_workspace):
    port = free_port()
    argv = _make_command("run", PORT=str(port))
    assert "--server.address" in argv and argv[argv.index("--server.address") + 1] == "127.0.0.1"
    with _serving(argv, fresh_workspace) as (_, addresses):
        assert addresses == {("127.0.0.1", port)}  # not 0.0.0.0, not ::, no other address
        assert _healthy("127.0.0.1", port)


def test_streamlit_run_without_the_makefile_also_stays_on_loopback(fresh_workspace):
    port = free_port()  # .streamlit/config.toml alone says where to listen
    argv = [sys.executable, "-m", "streamlit", "run", APP, "--server.port", str(port)]
    with _serving(argv, fresh_workspace) as (_, addresses):
        assert addresses == {("127.0.0.1", port)}


def test_make_share_listens_on_the_address_the_teacher_gives(fresh_workspace, tmp_path):
    port = free_port()
    class_file = write_class_file(tmp_path)
    secrets = write_secrets(tmp_path, port, ISSUER)
    argv = _make_command("share", ADDRESS="127.0.0.2", PORT=str(port), SECRETS=str(secrets))
    with _serving(argv, fresh_workspace, env={people.CONFIG_ENV: str(class_file)}) as (_, addresses):
        assert addresses == {("127.0.0.2", port)}
        assert _healthy("127.0.0.2", port)


def test_make_share_refuses_a_laptop_with_a_sentence(fresh_workspace):
    argv = _make_command("share", ADDRESS="0.0.0.0")
    env = {k: v for k, v in os.environ.items() if k != people.CONFIG_ENV}
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Not sharing: There is no class file" in done.stderr and "Traceback" not in done.stderr


@pytest.fixture
def shared_class(tmp_path, monkeypatch):
    """Point PLAYGROUND_CLASS at a class file written from text."""

    def write(text: str) -> Path:
        path = tmp_path / "class.toml"
        path.write_text(text, encoding="utf-8")
        monkeypatch.setenv(people.CONFIG_ENV, str(path))
        return path

    return write


def _secrets_file(tmp_path, text: str) -> str:
    path = tmp_path / "secrets.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("class_text", "secrets_text", "address", "says"),
    [
        ("shared = false\n", "", "0.0.0.0", "does not say shared = true"),
        ("shared = true\n", "", "0.0.0.0", "lacks redirect_uri, cookie_secret"),
        ("shared = true\n", "[auth]\nclient_id = 'x'\n", "0.0.0.0", "lacks redirect_uri, cookie_secret"),
        ('shared = true\nidentity = "header"\n', "", "0.0.0.0", "needs trusted_proxies"),
        (
            'shared = true\nidentity = "header"\ntrusted_proxies = ["127.0.0.1"]\n',
            "",
            "0.0.0.0",
            "proxy_secret",
        ),
        ("shared = true\nteacher = 1\n", "", "0.0.0.0", "unknown settings"),
        ('shared = true\nidentity = "header"\ntrusted_proxies = ["127.0.0.1"]\n', None, "", "which address"),
        (
            'shared = true\nidentity = "header"\ntrusted_proxies = ["127.0.0.1"]\n',
            None,
            "class.lan",
            "not an IP",
        ),
    ],
)
def test_make_share_refuses_until_sign_in_is_set_up(
    tmp_path, shared_class, class_text, secrets_text, address, says
):
    shared_class(class_text)
    if secrets_text is None:
        secrets_text = "[playground]\nproxy_secret = 'p'\n"
    with pytest.raises(UserError, match=says):
        share.plan(address, 8501, _secrets_file(tmp_path, secrets_text))


def test_make_share_refuses_a_redirect_uri_that_is_not_the_callback(tmp_path, shared_class):
    shared_class("shared = true\n")
    secrets = write_secrets(tmp_path, 8501, ISSUER)
    secrets.write_text(secrets.read_text().replace("/oauth2callback", "/"), encoding="utf-8")
    with pytest.raises(UserError, match="/oauth2callback"):
        share.plan("0.0.0.0", 8501, str(secrets))


def test_a_shared_server_never_takes_a_peer_address_from_x_forwarded_for(tmp_path, shared_class):
    shared_class('shared = true\nidentity = "header"\ntrusted_proxies = ["127.0.0.1"]\n')
    argv, env = share.plan("0.0.0.0", 8600, _secrets_file(tmp_path, "[playground]\nproxy_secret = 'p'\n"))
    assert argv[argv.index("--server.address") + 1] == "0.0.0.0"
    assert argv[argv.index("--server.port") + 1] == "8600"
    assert env["FORWARDED_ALLOW_IPS"] == ""  # uvicorn keeps the real peer for identity's check
