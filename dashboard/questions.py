"""The Questions page's content: each question of assets/text/questions.md, its answer and links.

A question is a `## q.<key>` section: the question on its first line, the one-line answer on the
next, then one `→` line per place that answers it — `→ lab <slug> <section>`, `→ page <file> |
<label>` or `→ later | <where the answer will be>`. `problems()` lists every link that names a
page or a lab section that does not exist (the test of the Questions page asserts there are none).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dashboard import learn
from dashboard.text import sections

NAME = "questions"
PREFIX = "q."
ARROW = "→"
APP = Path(__file__).resolve().parent / "app.py"


@dataclass(frozen=True)
class Link:
    """Where a question is answered: a lab section, a playground page, or a place still to come."""

    kind: str  # "lab", "page" or "later"
    target: str = ""  # lab slug, or page file name (e.g. "model.py")
    section: str = ""  # the lab's section key
    label: str = ""  # for pages: the link's label; for later: where the answer will be

    @property
    def path(self) -> str:
        """The page path as st.page_link takes it (relative to dashboard/app.py)."""
        if self.kind == "lab":
            return learn.LABS[self.target].path
        return f"../pages/{self.target}"


@dataclass(frozen=True)
class Question:
    """One question of the diary, its one-line answer and the places that answer it."""

    key: str
    question: str
    answer: str
    links: tuple[Link, ...]

    def matches(self, words: str) -> bool:
        """True when every word of `words` is in the question or its answer (case-insensitive)."""
        haystack = f"{self.question} {self.answer}".lower()
        return all(word in haystack for word in words.lower().split())


def parse_link(line: str) -> Link:
    """One `→ …` line as a Link; raises ValueError when it does not follow the format."""
    body = line.removeprefix(ARROW).strip()
    head, _, label = (part.strip() for part in body.partition("|"))
    words = head.split()
    if words[:1] == ["lab"] and len(words) == 3:
        return Link("lab", words[1], words[2])
    if words[:1] == ["page"] and len(words) == 2 and label:
        return Link("page", words[1], label=label)
    if words == ["later"] and label:
        return Link("later", label=label)
    raise ValueError(f"not a link: {line!r}")


def parse(key: str, body: str) -> Question:
    """A `## q.<key>` section's body as a Question."""
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    text = [line for line in lines if not line.startswith(ARROW)]
    if len(text) != 2:
        raise ValueError(f"{key}: want a question line and a one-line answer, got {len(text)} lines")
    links = tuple(parse_link(line) for line in lines if line.startswith(ARROW))
    if not links:
        raise ValueError(f"{key}: no link")
    return Question(key, text[0], text[1], links)


def questions() -> list[Question]:
    """Every question of assets/text/questions.md, in the diary's order."""
    return [parse(key[len(PREFIX) :], body) for key, body in sections(NAME).items() if key.startswith(PREFIX)]


def problems(links: list[Link] | None = None) -> list[str]:
    """A sentence for each link naming a page that does not exist or a section its lab lacks."""
    if links is None:
        links = [link for q in questions() for link in q.links]
    app = APP.read_text(encoding="utf-8")
    out = []
    for link in links:
        if link.kind == "lab":
            lab = learn.LABS.get(link.target)
            if lab is None:
                out.append(f"no lab {link.target!r}")
            elif link.section not in lab.sections:
                out.append(f"lab {link.target!r} has no section {link.section!r}")
            elif not lab.exists:
                out.append(f"lab {link.target!r} has no page file {lab.path}")
        elif link.kind == "page":
            if not (learn.PAGES / link.target).is_file():
                out.append(f"no page file pages/{link.target}")
            elif f'"{link.path}"' not in app:
                out.append(f"pages/{link.target} is not in the navigation (dashboard/app.py)")
    return out
