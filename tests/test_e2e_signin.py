"""End-to-end: a shared dashboard signs people in through a real OpenID Connect provider (a mock
one on 127.0.0.1), shows a visitor nothing but the sign-in screen, and keeps each person's work
in their own space."""

from __future__ import annotations

import pytest

from core import people
from dashboard.identity import PROXY_SECRET_HEADER
from tests.browser import chromium, require_chromium, streamlit_server
from tests.oidc import TEACHER, USERS, class_server, person_page, sign_in, sign_out, write_class_file

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # the mock provider's use of Authlib
]
WAIT = 60_000  # ms: a page's first visit in a fresh space may prepare the built-in dataset
DRAWN = "shapes_seed7_10"  # what alice draws on the Data page: 30 tiny images


def _dataset_options(page) -> list[str]:
    """The Data page's dataset choices, as the open selectbox lists them."""
    page.get_by_role("heading", name="Data").first.wait_for(timeout=WAIT)
    box = page.locator("[data-testid='stSelectbox']", has_text="Dataset").first
    box.wait_for(timeout=WAIT)
    box.click()
    options = page.get_by_role("option")
    options.first.wait_for(timeout=WAIT)
    names = options.all_inner_texts()
    page.keyboard.press("Escape")
    return names


def test_visitors_sign_in_and_work_in_their_own_spaces(fresh_workspace):
    require_chromium()
    from playwright.sync_api import expect

    with class_server(fresh_workspace) as cls, chromium() as browser:
        # A visitor, on any page, sees what this is and a Sign in button, and nothing of the app.
        visitor = person_page(browser)
        for path in ("", "/data"):
            visitor.goto(cls.url + path)
            expect(visitor.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT)
            visitor.get_by_text("This playground is shared by a class").wait_for()
            assert visitor.get_by_role("heading", name="Data").count() == 0
            assert visitor.locator("[data-testid='stSidebarNav']").count() == 0
            assert visitor.get_by_text("Current run").count() == 0
        assert not (fresh_workspace / "spaces").exists() or not any((fresh_workspace / "spaces").iterdir())

        # alice signs in through the provider's form and draws a small dataset on the Data page.
        alice = person_page(browser)
        sign_in(alice, cls.url, "alice")
        expect(alice.get_by_text(f"Signed in as {USERS['alice']}", exact=True)).to_be_visible()
        assert alice.get_by_text("(teacher)").count() == 0
        alice.goto(f"{cls.url}/data")
        alice.locator("[data-testid='stExpander'] summary", has_text="Add a dataset").click(timeout=WAIT)
        alice.get_by_role("tab", name="Draw shapes").click()
        per_shape = alice.get_by_label("Images per shape", exact=True)
        per_shape.fill("10")
        per_shape.press("Enter")
        seed = alice.get_by_label("Seed", exact=True)
        seed.fill("7")
        seed.press("Enter")
        alice.get_by_role("button", name="Draw them").click()
        alice.get_by_text(f"Added {DRAWN}").first.wait_for(timeout=WAIT)
        assert any(DRAWN in name for name in _dataset_options(alice))
        home = people.space_name(USERS["alice"])
        assert (fresh_workspace / "spaces" / home / "datasets" / DRAWN).is_dir()

        # bob, in another browser, is signed in as himself and does not see alice's dataset.
        bob = person_page(browser)
        sign_in(bob, cls.url, "bob")
        expect(bob.get_by_text(f"Signed in as {USERS['bob']}", exact=True)).to_be_visible()
        bob.goto(f"{cls.url}/data")
        options = _dataset_options(bob)
        assert options and not any(DRAWN in name for name in options)
        assert not (
            fresh_workspace / "spaces" / people.space_name(USERS["bob"]) / "datasets" / DRAWN
        ).exists()

        # The teacher named in the class file is shown as the teacher.
        teacher = person_page(browser)
        sign_in(teacher, cls.url, "teacher")
        expect(teacher.get_by_text(f"Signed in as {TEACHER} (teacher)", exact=True)).to_be_visible()

        # Signing out ends the session: the sign-in screen again, and nothing of bob's.
        sign_out(bob)
        assert bob.get_by_text("Signed in as").count() == 0
        assert bob.get_by_role("heading", name="Data").count() == 0


def _as_the_proxy_sends(browser, url: str, **headers: str):
    """What a page shows when every request carries these headers (as a proxy on this machine adds
    them): the "Signed in as" line, or the refusal."""
    page = browser.new_context(extra_http_headers=headers).new_page()
    page.goto(url)
    shown = page.get_by_text("Signed in as").or_(page.locator("[data-testid='stAlert']")).first
    shown.wait_for(timeout=WAIT)
    text = shown.inner_text()
    if not text.startswith("Signed in as"):  # refused: the sentence and nothing of the app
        assert page.get_by_text("Current run").count() == 0
        assert page.locator("[data-testid='stSidebarNav']").count() == 0
    page.context.close()
    return text


def test_behind_a_proxy_only_requests_with_the_proxy_secret_say_who_they_are(fresh_workspace, tmp_path):
    require_chromium()
    class_file = write_class_file(tmp_path, extra='identity = "header"\ntrusted_proxies = ["127.0.0.1"]\n')
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[playground]\nproxy_secret = "the-proxy-knows"\n', encoding="utf-8")
    args = ("--secrets.files", str(secrets))
    email, good, bad = (
        "X-Forwarded-Email",
        {PROXY_SECRET_HEADER: "the-proxy-knows"},
        {PROXY_SECRET_HEADER: "a-guess"},
    )
    # As `make share` starts it: X-Forwarded-For never replaces the peer's (the proxy's) address.
    env = {people.CONFIG_ENV: str(class_file), "FORWARDED_ALLOW_IPS": ""}
    with streamlit_server(fresh_workspace, args=args, env=env) as url, chromium() as browser:
        assert _as_the_proxy_sends(browser, url, **{email: USERS["alice"]}, **good) == (
            f"Signed in as {USERS['alice']}"
        )
        forwarded = {email: TEACHER, "X-Forwarded-For": "198.51.100.7", **good}
        assert _as_the_proxy_sends(browser, url, **forwarded) == f"Signed in as {TEACHER} (teacher)"
        assert "proxy secret is missing or wrong" in _as_the_proxy_sends(
            browser, url, **{email: TEACHER}, **bad
        )
        assert "proxy secret is missing or wrong" in _as_the_proxy_sends(browser, url, **{email: TEACHER})
    # Started plainly, Streamlit's web server takes a loopback peer's address from X-Forwarded-For:
    # the request then does not come from a trusted proxy, and the refusal says what to do.
    env = {people.CONFIG_ENV: str(class_file)}
    with streamlit_server(fresh_workspace, args=args, env=env) as url, chromium() as browser:
        refused = _as_the_proxy_sends(browser, url, **forwarded)
        assert "came from 198.51.100.7" in refused and "make share" in refused
