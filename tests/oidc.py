"""A class on the loopback interface: a mock OpenID Connect provider and a dashboard that signs in
through it. For tests that need real sign-in (st.login) in a browser.

    with class_server(workspace) as cls:           # provider + `streamlit run` with [auth]
        with chromium() as browser:
            page = person_page(browser)              # a browser of its own, loopback only
            sign_in(page, cls.url, "alice")          # through the provider's own form

USERS are the provider's predefined people (subject -> e-mail); TEACHER is named in the class file.
"""

from __future__ import annotations

import secrets
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from core import people
from tests.browser import free_port, streamlit_server

USERS = {"alice": "alice@school.org", "bob": "bob@school.org", "teacher": "teacher@school.org"}
TEACHER = USERS["teacher"]


@dataclass(frozen=True)
class ClassServer:
    """A running class: the dashboard's URL, the provider's, and the files that configure them."""

    url: str
    issuer: str
    class_file: Path
    secrets_file: Path


@contextmanager
def provider(users: dict[str, str] = USERS) -> Iterator[str]:
    """oidc-provider-mock on 127.0.0.1 (a free port) in a thread; yields its issuer URL.

    Each subject in users signs in with one click on the provider's form, with that e-mail
    (verified); a subject typed into the form instead gets the subject as its e-mail.
    """
    import werkzeug.serving

    with warnings.catch_warnings():  # the mock's own use of a deprecated Authlib module
        warnings.simplefilter("ignore")
        from oidc_provider_mock import User, app

    known = [User(sub=sub, claims={"email": email, "email_verified": True}) for sub, email in users.items()]
    server = werkzeug.serving.make_server("127.0.0.1", 0, app(user_claims=known), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def write_class_file(folder: Path, *, teachers: tuple[str, ...] = (TEACHER,), extra: str = "") -> Path:
    """A class file that shares the dashboard with sign-in (identity "oidc" unless extra says)."""
    names = ", ".join(f'"{t}"' for t in teachers)
    path = folder / "class.toml"
    path.write_text(f"shared = true\nteachers = [{names}]\n{extra}", encoding="utf-8")
    return path


def write_secrets(folder: Path, port: int, issuer: str) -> Path:
    """A secrets.toml whose [auth] points st.login at the provider, for a dashboard on port."""
    path = folder / "secrets.toml"
    path.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "playground-tests"\n'
        f'client_secret = "{secrets.token_hex(16)}"\n'
        f'server_metadata_url = "{issuer}/.well-known/openid-configuration"\n',
        encoding="utf-8",
    )
    return path


@contextmanager
def class_server(workspace: Path, *, teachers: tuple[str, ...] = (TEACHER,)) -> Iterator[ClassServer]:
    """The provider and a `streamlit run` of the dashboard, shared (class file) with st.login."""
    config_dir = workspace.parent / "class-config"
    config_dir.mkdir(exist_ok=True)
    class_file = write_class_file(config_dir, teachers=teachers)
    port = free_port()
    with provider() as issuer:
        secrets_file = write_secrets(config_dir, port, issuer)
        args = ("--secrets.files", str(secrets_file))
        env = {people.CONFIG_ENV: str(class_file)}
        with streamlit_server(workspace, port=port, args=args, env=env) as url:
            yield ClassServer(url=url, issuer=issuer, class_file=class_file, secrets_file=secrets_file)


def sign_in(page, url: str, subject: str, timeout: float = 30_000) -> None:
    """Open the dashboard, press Sign in, pick subject on the provider's form, and wait until the
    dashboard says who is signed in."""
    page.goto(url)
    page.get_by_role("button", name="Sign in").click(timeout=timeout)
    page.get_by_role("button", name=subject, exact=True).click(timeout=timeout)
    page.get_by_text("Signed in as").first.wait_for(timeout=timeout)


def person_page(browser):
    """A page in a browser context of its own (its own cookies: one person), which sends nothing
    beyond the loopback interface (the provider's pages link a stylesheet on a CDN)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def route(r) -> None:
        host = urlsplit(r.request.url).hostname or ""
        if host in ("127.0.0.1", "localhost", "::1") or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    return context.new_page()


def sign_out(page, timeout: float = 30_000) -> None:
    """Press Sign out, confirm on the provider's end-session form, and wait for the sign-in screen."""
    page.get_by_role("button", name="Sign out").click(timeout=timeout)
    page.get_by_role("button", name="End session").click(timeout=timeout)
    page.get_by_role("button", name="Sign in").wait_for(timeout=timeout)
