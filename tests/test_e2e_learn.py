"""End-to-end: the dashboard served by `streamlit run`, in headless Chromium — from the Questions
page into three labs, each opened at the section the question's link names."""

from __future__ import annotations

import time

import pytest

from dashboard import learn
from tests.browser import browser_page, require_chromium, streamlit_server

pytestmark = pytest.mark.browser

# (the question's key and text, the lab its link opens, the section it opens at): labs of three engineers.
WALK = [
    ("lr_high", "What are the signs of a learning rate that is too high?", "sgd", "rates"),
    ("adam", "What is Adam?", "optimizers", "adam"),
    ("stride", "What is the stride?", "convolution", "stride"),
]
WAIT_FOR_PAGES = 600  # seconds: the labs' pages are written in parallel with this test


def wait_for_pages(slugs: list[str], timeout: float = WAIT_FOR_PAGES) -> list[str]:
    """The slugs whose page file is still missing after waiting up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        missing = [slug for slug in slugs if not learn.LABS[slug].exists]
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(5)


def expander(page, title: str):
    """The expander whose summary reads `title`."""
    return page.locator("[data-testid='stExpander']", has=page.locator("summary", has_text=title)).first


def test_questions_lead_into_three_labs_at_their_sections(fresh_workspace):
    require_chromium()
    missing = wait_for_pages([slug for _, _, slug, _ in WALK])
    if missing:
        pytest.skip(f"lab pages not written: {', '.join(missing)}")
    with streamlit_server(fresh_workspace) as url, browser_page() as page:
        for question_key, question, slug, key in WALK:
            lab = learn.LABS[slug]
            page.goto(f"{url}/questions")
            page.get_by_text(question).first.wait_for(timeout=60_000)
            card = page.locator(f".st-key-question_{question_key}")  # the question's container
            link = card.get_by_role("link", name=f"{lab.title} › {lab.sections[key]}")
            link.click()
            page.wait_for_url(f"**/learn_{slug}?section={key}", timeout=60_000)
            opened = expander(page, lab.sections[key])
            opened.wait_for(timeout=120_000)  # the lab's first render may pay the torch import
            assert opened.locator("details").get_attribute("open") is not None, (slug, key)
            others = [title for k, title in lab.sections.items() if k != key]
            for title in others:
                closed = expander(page, title)
                closed.wait_for(timeout=30_000)
                assert closed.locator("details").get_attribute("open") is None, (slug, title)
            page.screenshot(path=str(fresh_workspace / f"learn_{slug}.png"))
        log = (fresh_workspace / "streamlit.log").read_text()
        assert "Traceback" not in log, log
