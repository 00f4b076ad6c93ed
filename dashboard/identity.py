"""Who is using the dashboard: sign-in when it is shared, nothing at all on a laptop.

`enter_session()` runs first in dashboard/app.py on every script run. Alone on a laptop (no class
file, or `shared = false`) it acts as nobody in particular (people.enter(None)) and shows nothing.
When the class file says `shared = true`, it finds out who the visitor is:

- identity = "oidc": Streamlit's built-in st.login (OpenID Connect, configured in the [auth]
  section of .streamlit/secrets.toml). A visitor not signed in sees a short sign-in screen and
  nothing else; a signed-in person is `people.person_for(email, or subject)`.
- identity = "header": an authenticating reverse proxy says who it is in the class file's
  `header`. That header is believed only when the request's peer address is one of
  `trusted_proxies` AND it carries the proxy secret (PROXY_SECRET_HEADER equal to
  `proxy_secret` under [playground] in secrets.toml). The secret is needed because Streamlit
  cannot tell the proxy's address reliably: st.context.ip_address is None for any loopback
  peer, and its web server (uvicorn) replaces a loopback peer's address with the one the peer
  names in X-Forwarded-For, so any program on the server machine could pose as the proxy.

Fragments (st.fragment) rerun without app.py, so without this module's entry. The resolvers
registered below in workspace.RESOLVERS already give them the session's person and space (and
refuse, with an error, a shared session nobody signed in to); `fragment` below, used instead of
st.fragment, enters the person once per rerun and stops such a session quietly instead.

Test seam: AppTest runs act as a person inside `with identity.as_person("alice@school.org"):`
(`as_person(None)`: a visitor not signed in). It sets a module variable of the test process,
which no browser request can reach, and it is honoured only while Streamlit's `global.appTest`
option is on (AppTest turns it on for each run; a real server never does). AppTest's own
`at.user = {"is_logged_in": True, "email": ...}` works too in "oidc" mode.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import ipaddress
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import streamlit as st
from streamlit import config as st_config

from core import people, workspace
from core.errors import UserError
from dashboard.markup import md

PROXY_SECRET_HEADER = "X-Playground-Proxy-Secret"
SECRETS_SECTION = "playground"  # [playground] proxy_secret = "…" in secrets.toml
_PERSON_KEY = "_playground_person"  # session state: the Person of the last full run (fragments)
_UNSET = object()
TEST_IDENTITY: Any = _UNSET  # the test seam (see the docstring); only as_person changes it
OIDC_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")


@contextlib.contextmanager
def as_person(identity: str | None) -> Iterator[None]:
    """Tests only: AppTest runs inside the block act as identity (None: not signed in)."""
    global TEST_IDENTITY
    before, TEST_IDENTITY = TEST_IDENTITY, identity
    try:
        yield
    finally:
        TEST_IDENTITY = before


def _seam() -> Any:
    """The identity a test set with as_person, or _UNSET (always _UNSET in a real server)."""
    if TEST_IDENTITY is _UNSET or not st_config.get_option("global.appTest"):
        return _UNSET
    return TEST_IDENTITY


def enter_session() -> people.Person | None:
    """Act as the person using this browser session for the rest of the script run.

    Laptop: people.enter(None), nothing shown, returns None. Shared: the signed-in Person, entered
    (their space becomes the current one) with a "Signed in as …" line in the sidebar; a visitor
    not signed in, or a request that cannot be trusted, sees only a sentence and the run stops.
    """
    try:
        cfg = people.config()
    except UserError as e:
        _stop_with(str(e))
    if not cfg.shared:
        people.enter(None)
        return None
    identity = _seam()
    if identity is _UNSET:
        try:
            identity = _oidc_identity() if cfg.identity == "oidc" else _header_identity(cfg)
        except UserError as e:
            _stop_with(str(e))
    if identity is None:
        _sign_in_screen()
    person = people.person_for(identity)
    people.enter(person)
    if st.session_state.get(_PERSON_KEY) != person:  # a sign-in: say whose the space is, once
        people.remember(person)
        st.session_state[_PERSON_KEY] = person
    _sidebar_line(person, signs_out=cfg.identity == "oidc")
    return person


def restore() -> people.Person | None:
    """Act again as the person of this browser session (what a fragment rerun needs: it does not
    run app.py). Stops the run when the dashboard is shared and nobody signed in."""
    person = st.session_state.get(_PERSON_KEY)
    if not isinstance(person, people.Person):  # a browser can send strings, never a Person
        person = None
    try:
        shared = people.shared()
    except UserError:  # a class file broken since the full run: its next full run says why
        st.stop()
    if not shared:
        person = None
    elif person is None:
        st.stop()
    people.enter(person)
    return person


def _session_person() -> people.Person | None:
    """The browser session's person, for code of a script run that runs before app.py entered it
    (Streamlit runs widget callbacks first, in a fresh thread): None on a laptop, or outside a
    script run (a thread of the server's own); a shared dashboard with nobody signed in refuses."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx() is None or not people.shared():
        return None
    person = st.session_state.get(_PERSON_KEY)
    if not isinstance(person, people.Person):  # a browser can send strings, never a Person
        raise UserError("Sign in first: this dashboard is shared; nothing runs for someone not signed in.")
    return person


def _session_space() -> str | None:
    person = _session_person()
    return person.space if person else None


workspace.RESOLVERS["space"] = _session_space
workspace.RESOLVERS["person"] = _session_person


def bound(func: Callable) -> Callable:
    """func, made to run later as the person drawing the page now: for what Streamlit calls
    outside the script run (a download button's data=callable runs in a server thread)."""
    person = people.current()

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        with people.acting_as(person):
            return func(*args, **kwargs)

    return run


def fragment(func: Callable | None = None, *, run_every: Any = None) -> Callable:
    """st.fragment that first acts as the session's person (use it instead of st.fragment)."""

    def wrap(f: Callable) -> Callable:
        @functools.wraps(f)
        def inner(*args: Any, **kwargs: Any) -> Any:
            restore()
            return f(*args, **kwargs)

        return st.fragment(inner, run_every=run_every)

    return wrap(func) if func is not None else wrap


def claims_identity(claims: Mapping[str, Any]) -> str:
    """The identity an OpenID Connect sign-in gives: the e-mail when the provider says it is
    verified (`email_verified` is true), else issuer|subject, which can never equal an e-mail in
    the class file (so an unverified address never makes anyone a teacher)."""
    email = str(claims.get("email") or "").strip()
    if email and claims.get("email_verified") is True:
        return email
    subject = str(claims.get("sub") or "").strip()
    if subject:
        return f"{str(claims.get('iss') or '').strip()}|{subject}"
    raise UserError("The sign-in provider did not say who you are (no e-mail, no subject); sign in again.")


def header_identity(
    headers: Mapping[str, Sequence[str]],
    peer: str | None,
    cfg: people.ClassConfig,
    secret: str | None,
) -> str:
    """The identity a trusted proxy put in cfg.header, or UserError saying why it is not believed.

    headers: lower-case name -> every value sent; peer: the address the request came from (None:
    this machine, as st.context.ip_address reports loopback); secret: the configured proxy secret.
    """
    if not cfg.trusted_proxies:
        raise UserError(
            'The class file says identity = "header" but names no trusted_proxies, so no proxy '
            "is trusted to say who you are."
        )
    if not secret:
        raise UserError(
            f'identity = "header" needs a proxy secret: set proxy_secret under [{SECRETS_SECTION}] '
            f"in .streamlit/secrets.toml and have the proxy send it as {PROXY_SECRET_HEADER}."
        )
    if not peer_trusted(peer, cfg.trusted_proxies):
        hint = (
            " (the request carries X-Forwarded-For: start the dashboard with `make share`, which "
            "keeps the proxy's own address)"
            if headers.get("x-forwarded-for")
            else ""
        )
        raise UserError(
            f"This request came from {peer or 'this machine'}, not through the class's sign-in "
            f"proxy, so the playground does not know who you are{hint}."
        )
    sent = headers.get(PROXY_SECRET_HEADER.lower(), [])
    if len(sent) != 1 or not hmac.compare_digest(sent[0].encode(), secret.encode()):
        raise UserError(
            "This request did not come through the class's sign-in proxy (its proxy secret is "
            "missing or wrong), so the playground does not know who you are."
        )
    values = [v.strip() for v in headers.get(cfg.header.lower(), []) if v.strip()]
    if len(values) != 1:
        raise UserError(
            f"The sign-in proxy did not say who you are in one {cfg.header} header; "
            "sign in again through the class's address."
        )
    return values[0]


def peer_trusted(peer: str | None, proxies: Sequence[str]) -> bool:
    """True when peer (None: loopback) is one of proxies (addresses, networks, or localhost)."""
    peers = ["127.0.0.1", "::1"] if peer is None else [peer]
    for entry in proxies:
        text = entry.strip()
        if text == "localhost":
            nets = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
        else:
            try:
                nets = [ipaddress.ip_network(text, strict=False)]
            except ValueError:
                raise UserError(
                    f"trusted_proxies in the class file holds {entry!r}, not an address."
                ) from None
        for candidate in peers:
            try:
                address = ipaddress.ip_address(candidate)
            except ValueError:
                continue
            if any(address.version == net.version and address in net for net in nets):
                return True
    return False


def proxy_secret(secrets: Mapping[str, Any]) -> str | None:
    """The proxy secret in a secrets mapping ([playground] proxy_secret), or None."""
    section = secrets.get(SECRETS_SECTION) or {}
    value = section.get("proxy_secret") if isinstance(section, Mapping) else None
    return str(value) if value else None


def oidc_missing(secrets: Mapping[str, Any]) -> list[str]:
    """The [auth] settings st.login needs that a secrets mapping lacks (empty: sign-in is set up)."""
    auth = secrets.get("auth")
    if not isinstance(auth, Mapping):
        return list(OIDC_KEYS)
    return [key for key in OIDC_KEYS if not auth.get(key)]


def _secrets() -> Mapping[str, Any]:
    """The server's secrets (empty when it has no secrets file, or one it cannot read)."""
    return st.secrets.to_dict() if st.secrets.load_if_toml_exists() else {}


def _oidc_identity() -> str | None:
    """The signed-in person's identity from st.user, or None when nobody is signed in."""
    user = st.user.to_dict()
    if not user.get("is_logged_in"):
        return None
    return claims_identity(user)


def _header_identity(cfg: people.ClassConfig) -> str:
    """The identity the trusted proxy sent with this session's request (UserError otherwise)."""
    raw = st.context.headers
    headers = {name.lower(): raw.get_all(name) for name in raw}
    peer = st.context.ip_address
    if peer is not None and not isinstance(peer, str):  # no real client (AppTest): trust nothing
        peer = "an unknown address"
    return header_identity(headers, peer, cfg, proxy_secret(_secrets()))


def _sign_in_screen() -> None:
    """What a visitor who is not signed in sees: what this is and a Sign in button; then stop."""
    st.title("fastai playground")
    st.write(
        "This playground is shared by a class. Sign in to work in your own space: your datasets, "
        "runs and models are yours alone, and your teacher can see your runs."
    )
    missing = oidc_missing(_secrets())
    if missing:
        st.error(
            "Sign-in is not set up on this server yet: the [auth] section of .streamlit/secrets.toml "
            f"lacks {', '.join(missing)}. Ask your teacher."
        )
    elif st.button("Sign in", type="primary", icon=":material/login:"):
        st.login()
    st.stop()


def _sidebar_line(person: people.Person, signs_out: bool) -> None:
    """ "Signed in as … (teacher)" at the top of the sidebar, with Sign out for st.login."""
    role = " (teacher)" if person.teacher else ""
    shown = md(person.identity).replace("@", "\\@")  # an escaped @: text, not a mailto link
    with st.sidebar:
        st.caption(f"Signed in as **{shown}**{role}")
        if signs_out and st.button("Sign out", key="identity_sign_out", icon=":material/logout:"):
            st.session_state.pop(_PERSON_KEY, None)
            st.logout()


def _stop_with(sentence: str) -> None:
    """Show why the dashboard cannot go on for this request, and stop the run."""
    st.error(sentence)
    st.stop()
