"""`make share`: serve the dashboard to a class on a network address, only once sign-in is set up.

`make run` listens on 127.0.0.1 alone. Sharing is this explicit step:

    make share PLAYGROUND_CLASS=class.toml ADDRESS=0.0.0.0 [PORT=8501] [SECRETS=path/secrets.toml]

It refuses, with a sentence, unless the class file says `shared = true` and its sign-in is
configured: for identity = "oidc" the [auth] section st.login needs, for identity = "header"
trusted_proxies and a proxy secret ([playground] proxy_secret). Then it starts Streamlit on
ADDRESS with FORWARDED_ALLOW_IPS empty, so the web server never replaces a peer's address with
the one an X-Forwarded-For header names (dashboard.identity checks the peer).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

from core import people
from core.errors import UserError
from dashboard.identity import PROXY_SECRET_HEADER, SECRETS_SECTION, oidc_missing, proxy_secret

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dashboard" / "app.py"


def default_secrets_files() -> list[Path]:
    """Where Streamlit looks for secrets when none is named: the user's, then the project's."""
    return [Path.home() / ".streamlit" / "secrets.toml", ROOT / ".streamlit" / "secrets.toml"]


def read_secrets(files: list[Path]) -> dict[str, Any]:
    """The secrets of these TOML files merged in order (later ones win), as Streamlit reads them."""
    merged: dict[str, Any] = {}
    for path in files:
        if not path.is_file():
            continue
        try:
            merged.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise UserError(f"The secrets file {path} cannot be read: {e}.") from e
    return merged


def check_sign_in(cfg: people.ClassConfig, secrets: dict[str, Any]) -> None:
    """UserError unless the class file shares the dashboard and its sign-in is configured."""
    if not cfg.shared:
        where = (
            f"The class file {cfg.source} does not say shared = true"
            if cfg.source
            else f"There is no class file ({people.CONFIG_ENV} is not set)"
        )
        raise UserError(
            f"{where}, so nobody signs in: write a class file with shared = true and name it in "
            f"{people.CONFIG_ENV} (`make run` serves only this machine)."
        )
    if cfg.identity == "oidc":
        missing = oidc_missing(secrets)
        if missing:
            raise UserError(
                "Sharing needs sign-in: the [auth] section of the secrets file lacks "
                f"{', '.join(missing)} (see the README, Run it for a class)."
            )
        if not str(secrets["auth"]["redirect_uri"]).rstrip("/").endswith("/oauth2callback"):
            raise UserError(
                "redirect_uri in [auth] must be the class's address of the dashboard followed by "
                "/oauth2callback, e.g. https://class.example.org/oauth2callback."
            )
        return
    if not cfg.trusted_proxies:
        raise UserError('identity = "header" needs trusted_proxies in the class file: the proxy\'s address.')
    if not proxy_secret(secrets):
        raise UserError(
            f'identity = "header" needs proxy_secret under [{SECRETS_SECTION}] in the secrets file, '
            f"which the proxy sends as {PROXY_SECRET_HEADER}."
        )


def plan(address: str, port: int, secrets_file: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The command and environment that serve the class on address:port (UserError when refused)."""
    if secrets_file:
        files = [Path(secrets_file).expanduser().resolve()]
        if not files[0].is_file():
            raise UserError(f"SECRETS={secrets_file} is not a file.")
    else:
        files = default_secrets_files()
    check_sign_in(people.config(), read_secrets(files))
    if not address:
        raise UserError("Say which address to share on: make share ADDRESS=0.0.0.0 (every interface).")
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise UserError(
            f"ADDRESS={address} is not an IP address of this server (0.0.0.0 means every interface)."
        ) from None
    if not 1 <= port <= 65535:
        raise UserError(f"PORT={port} is not a TCP port (1 to 65535).")
    argv = [sys.executable, "-m", "streamlit", "run", str(APP)]
    argv += ["--server.address", address, "--server.port", str(port), "--server.headless", "true"]
    if secrets_file:
        argv += ["--secrets.files", str(files[0])]
    return argv, dict(os.environ, FORWARDED_ALLOW_IPS="")


def main(argv: list[str] | None = None) -> int:
    """Check the class's settings, then become the Streamlit server (exit 2 with a sentence if refused)."""
    parser = argparse.ArgumentParser(prog="make share", description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--secrets", default="")
    args = parser.parse_args(argv)
    try:
        command, env = plan(args.address.strip(), args.port, args.secrets.strip() or None)
    except UserError as e:
        print(f"Not sharing: {e}", file=sys.stderr)
        return 2
    print(f"Sharing the playground on {args.address}:{args.port} with sign-in.", flush=True)
    os.chdir(ROOT)
    os.execve(command[0], command, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
