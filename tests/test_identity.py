"""Who uses the dashboard: nothing changes on a laptop; a shared dashboard shows a visitor only
its sign-in screen, acts in the signed-in person's space, and believes a proxy's identity header
only from a trusted proxy that knows the secret."""

from __future__ import annotations

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from core import people
from core.errors import UserError
from dashboard import identity
from tests.apptest import APP

ALICE, BOB, TEACHER = "alice@school.org", "bob@school.org", "teacher@school.org"
SECRET = "s3cret-of-the-proxy"
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "x" * 32,
    "client_id": "playground",
    "client_secret": "y" * 16,
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


@pytest.fixture
def class_file(tmp_path, monkeypatch):
    """Write a class file (shared unless told) and point PLAYGROUND_CLASS at it."""

    def write(text: str = "") -> None:
        path = tmp_path / "class.toml"
        path.write_text(f'shared = true\nteachers = ["{TEACHER}"]\n{text}', encoding="utf-8")
        monkeypatch.setenv(people.CONFIG_ENV, str(path))

    return write


def _run(user: dict | None = None, secrets: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if user is not None:
        at.user = user
    if secrets:
        at.secrets = secrets
    at.run()
    assert not at.exception, at.exception
    return at


def _signed_in_line(at: AppTest) -> str | None:
    return next((c.value for c in at.sidebar.caption if c.value.startswith("Signed in as")), None)


def _shows_only_a_sentence(at: AppTest) -> None:
    """Nothing of the playground: no sidebar (dataset, run, worker), no page."""
    assert len(at.sidebar.caption) == 0 and len(at.sidebar.button) == 0
    assert len(at.main.children) <= 3  # a title, a sentence, a button or an error at most
    assert "Train your first model" not in str(at)  # the Home page's button


def _spaces(ws) -> list[str]:
    folder = ws / "spaces"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# ---- laptop -----------------------------------------------------------------------------------


def test_on_a_laptop_nobody_signs_in_and_everything_stays_in_the_one_space(fresh_workspace, monkeypatch):
    monkeypatch.delenv(people.CONFIG_ENV, raising=False)
    with identity.as_person(ALICE):  # even a test's person is ignored when nothing is shared
        at = _run()
    assert not at.button or all(b.label != "Sign in" for b in at.button)
    assert _signed_in_line(at) is None
    assert "**Dataset**" in [c.value for c in at.sidebar.caption]
    assert _spaces(fresh_workspace) == []
    script = AppTest.from_function(_fragment_script, default_timeout=30).run()
    assert script.text[0].value == "None in space="  # nobody, in the workspace itself


# ---- shared, st.login ---------------------------------------------------------------------------


def test_a_visitor_not_signed_in_sees_only_the_sign_in_screen(fresh_workspace, class_file):
    class_file()
    at = _run(secrets={"auth": AUTH})  # AppTest's default user is not signed in
    assert [b.label for b in at.button] == ["Sign in"]
    assert "shared by a class" in at.markdown[0].value
    _shows_only_a_sentence(at)
    assert _spaces(fresh_workspace) == []


def test_without_auth_settings_the_sign_in_screen_says_sign_in_is_not_set_up(fresh_workspace, class_file):
    class_file()
    with identity.as_person(None):
        at = _run()
    assert "Sign-in is not set up" in at.error[0].value and "client_id" in at.error[0].value
    assert not at.button
    _shows_only_a_sentence(at)


def test_a_signed_in_person_works_in_their_own_space_and_a_teacher_is_shown_as_one(
    fresh_workspace, class_file
):
    class_file()
    with identity.as_person(ALICE):
        alice = _run()
    assert _signed_in_line(alice) == "Signed in as **alice\\@school.org**"
    assert "Sign out" in [b.label for b in alice.sidebar.button]
    assert "**Dataset**" in [c.value for c in alice.sidebar.caption]  # the rest of the app is there
    with identity.as_person(TEACHER):
        teacher = _run()
    assert _signed_in_line(teacher) == "Signed in as **teacher\\@school.org** (teacher)"


def test_streamlit_s_own_user_seeds_sign_in_too(fresh_workspace, class_file):
    class_file()
    at = _run(user={"is_logged_in": True, "email": BOB, "email_verified": True, "sub": "bob-123"})
    assert _signed_in_line(at) == "Signed in as **bob\\@school.org**"
    claims = {
        "is_logged_in": True,
        "email": TEACHER,
        "email_verified": False,
        "sub": "mallory-9",
        "iss": "idp",
    }
    at = _run(user=claims)
    assert (
        _signed_in_line(at) == "Signed in as **idp\\|mallory-9**"
    )  # an unverified e-mail is not the teacher


def test_the_test_seam_is_ignored_outside_apptest(class_file):
    class_file()
    with identity.as_person(ALICE):
        assert st_config.get_option("global.appTest") is False
        assert identity._seam() is identity._UNSET  # a real server never acts on it
    assert identity.TEST_IDENTITY is identity._UNSET


def test_claims_give_a_verified_e_mail_else_issuer_and_subject(monkeypatch):
    iss = "https://id.example.org"
    monkeypatch.setattr(
        people, "config", lambda: people.ClassConfig(shared=True, teachers=frozenset({TEACHER}))
    )
    assert people.person_for(identity.claims_identity({"email": TEACHER, "email_verified": True})).teacher
    assert identity.claims_identity({"email": ALICE, "email_verified": True, "sub": "1"}) == ALICE
    # missing, false, or a string "true"/"false": not verified, so never a teacher's address
    for verified in ({}, {"email_verified": False}, {"email_verified": "false"}, {"email_verified": "true"}):
        claims = {"email": TEACHER, "sub": "1", "iss": iss, **verified}
        assert identity.claims_identity(claims) == f"{iss}|1"
        assert not people.person_for(identity.claims_identity(claims)).teacher
    with pytest.raises(UserError, match="did not say who you are"):
        identity.claims_identity({"is_logged_in": True})


def test_a_broken_class_file_is_a_sentence_not_a_traceback(fresh_workspace, tmp_path, monkeypatch):
    path = tmp_path / "class.toml"
    path.write_text("shared = true\nteacher = ['x']\n", encoding="utf-8")
    monkeypatch.setenv(people.CONFIG_ENV, str(path))
    at = _run()
    assert "unknown settings: teacher" in at.error[0].value
    _shows_only_a_sentence(at)


# ---- shared, behind a proxy ----------------------------------------------------------------------


def _header_cfg(proxies=("127.0.0.1",)) -> people.ClassConfig:
    return people.ClassConfig(
        shared=True, identity="header", header="X-Forwarded-Email", trusted_proxies=proxies
    )


def _headers(email: str | list[str] | None = ALICE, secret: str | None = SECRET, **more) -> dict:
    headers = {k.replace("_", "-"): [v] for k, v in more.items()}
    if email is not None:
        headers["x-forwarded-email"] = email if isinstance(email, list) else [email]
    if secret is not None:
        headers[identity.PROXY_SECRET_HEADER.lower()] = [secret]
    return headers


def test_a_trusted_proxy_with_the_secret_says_who_it_is():
    assert identity.header_identity(_headers(), None, _header_cfg(), SECRET) == ALICE
    cfg = _header_cfg(("10.0.0.0/24",))
    assert identity.header_identity(_headers(), "10.0.0.5", cfg, SECRET) == ALICE


@pytest.mark.parametrize(
    ("headers", "peer", "proxies", "secret", "says"),
    [
        (_headers(), "10.0.1.5", ("10.0.0.0/24",), SECRET, "came from 10.0.1.5, not through"),
        (_headers(), "192.0.2.7", ("127.0.0.1",), SECRET, "not through the class's sign-in proxy"),
        (_headers(), None, ("10.0.0.5",), SECRET, "came from this machine"),
        (_headers(secret=None), None, ("127.0.0.1",), SECRET, "proxy secret is missing or wrong"),
        (_headers(secret="guess"), None, ("127.0.0.1",), SECRET, "proxy secret is missing or wrong"),
        (_headers(email=None), None, ("127.0.0.1",), SECRET, "did not say who you are"),
        (_headers(email=[ALICE, BOB]), None, ("127.0.0.1",), SECRET, "did not say who you are"),
        (_headers(), None, (), SECRET, "names no trusted_proxies"),
        (_headers(), None, ("127.0.0.1",), None, "needs a proxy secret"),
        (_headers(), None, ("proxy.school.org",), SECRET, "not an address"),
    ],
)
def test_an_identity_header_is_refused_unless_a_trusted_proxy_sent_it(headers, peer, proxies, secret, says):
    with pytest.raises(UserError, match=says):
        identity.header_identity(headers, peer, _header_cfg(proxies), secret)


def test_a_refused_peer_that_names_another_in_x_forwarded_for_is_told_about_make_share():
    headers = _headers(x_forwarded_for="198.51.100.4")
    with pytest.raises(UserError, match="make share"):
        identity.header_identity(headers, "198.51.100.4", _header_cfg(), SECRET)


def test_loopback_entries_cover_streamlit_s_none_peer():
    assert identity.peer_trusted(None, ["::1"]) and identity.peer_trusted(None, ["localhost"])
    assert not identity.peer_trusted("127.0.0.1", ["::1"]) and not identity.peer_trusted(
        "10.0.0.1", ["localhost"]
    )


def test_header_mode_refuses_a_request_no_trusted_proxy_sent(fresh_workspace, class_file):
    class_file('identity = "header"\ntrusted_proxies = ["127.0.0.1"]\n')
    at = _run(secrets={"playground": {"proxy_secret": SECRET}})  # AppTest: no proxy, no headers
    assert "not through the class's sign-in proxy" in at.error[0].value
    _shows_only_a_sentence(at)
    assert _spaces(fresh_workspace) == []
    with identity.as_person(BOB):  # the seam acts in header mode too
        at = _run()
    assert _signed_in_line(at) == "Signed in as **bob\\@school.org**"
    assert not [b for b in at.sidebar.button if b.label == "Sign out"]  # the proxy signs out


# ---- fragments ------------------------------------------------------------------------------------


def _fragment_script():
    import streamlit as st

    from core import workspace
    from dashboard import identity

    phase = st.session_state.get("phase")
    if phase == "fragment":  # what a fragment rerun has: no app.py
        person = identity.restore()
    elif phase != "fragment only":  # "fragment only": nothing but the fragment's own restore
        person = identity.enter_session()
    if phase != "fragment only":
        st.text(f"{person and person.identity} in space={workspace.current_name()}")

    @identity.fragment
    def inside() -> None:
        st.text(f"fragment in space={workspace.current_name()}")

    inside()


def test_a_fragment_rerun_acts_in_the_session_s_space_and_a_forged_person_is_refused(
    fresh_workspace, class_file
):
    class_file()
    at = AppTest.from_function(_fragment_script, default_timeout=30)
    with identity.as_person(ALICE):
        at.run()
    assert at.text[0].value == f"{ALICE} in space={people.space_name(ALICE)}"
    assert at.text[1].value == f"fragment in space={people.space_name(ALICE)}"
    at.session_state["phase"] = "fragment"
    at.run()  # a fresh script thread: only restore() tells it who this is
    assert at.text[0].value == f"{ALICE} in space={people.space_name(ALICE)}"
    at.session_state["phase"] = "fragment only"
    at.run()  # only identity.fragment acts as the session's person
    assert [t.value for t in at.text] == [f"fragment in space={people.space_name(ALICE)}"]
    at.session_state[identity._PERSON_KEY] = ALICE  # a string, as a browser could send: no Person
    at.run()
    assert not at.text and not at.exception  # the fragment stops quietly, before drawing anything
    at.session_state["phase"] = "fragment"
    at.run()
    assert not at.text  # stopped before anything was drawn
