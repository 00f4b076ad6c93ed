"""The Questions page: every question of the diary answered in a line, every link reaching a page
that exists and a section its lab defines, and every lab drawing each of its sections."""

from __future__ import annotations

import re

import pytest

from dashboard import learn
from dashboard import questions as questions_module
from dashboard.questions import Link, parse, parse_link, problems, questions
from tests.apptest import open_page

# The diary's questions (issue 13), in its order: the key of each one in assets/text/questions.md.
DIARY = [
    "freeze",
    "kernel",
    "sequential",
    "layers",
    "stride",
    "epoch",
    "callbacks",
    "one_cycle",
    "hyperparameter",
    "relu",
    "gradient",
    "tensor",
    "deploy",
    "imagenet_stats",
    "batchnorm",
    "dropout",
    "convolution",
    "mask",
    "fallback",
    "segmentation",
    "memory",
    "unet",
    "dot_vs_nn",
    "keeps_better",
    "collab_columns",
    "pca",
    "no_activation",
    "softmax",
    "wd",
    "l1_l2",
    "momentum",
    "square_loss",
    "affine",
    "derivative",
    "sgd_all",
    "tensor_grad",
    "multilabel_threshold",
    "square_wd",
    "adam",
    "intercept_slope",
    "lr_high",
    "lr_low",
    "overfitting",
]
# The issue on tables and ratings asks these too; they follow the diary's questions.
TABLES = ["huber", "trees", "tabular_columns"]
# Questions the brief names as answered by an existing page: the page each must link to.
PAGES = {
    "freeze": "model.py",
    "one_cycle": "train.py",
    "tensor": "data.py",
    "fallback": "predict.py",
    "keeps_better": "runs.py",
    "lr_high": "lr_find.py",
    "lr_low": "lr_find.py",
    "trees": "results.py",
    "dot_vs_nn": "results.py",
    "tabular_columns": "data.py",
}
PAGE = "../pages/questions.py"


def test_every_question_of_the_diary_is_there_in_its_order():
    assert [q.key for q in questions()] == DIARY + TABLES


def test_each_answer_is_one_sentence_and_each_question_links_somewhere_to_move():
    for q in questions():
        assert q.question.endswith("?"), q.key
        assert len(q.answer) <= 260 and "\n" not in q.answer, q.key
        assert any(link.kind in ("lab", "page") for link in q.links), q.key


def test_questions_answered_by_existing_pages_link_to_them():
    by_key = {q.key: q for q in questions()}
    for key, page in PAGES.items():
        assert page in [link.target for link in by_key[key].links if link.kind == "page"], key


def test_no_link_names_a_missing_page_or_an_undefined_section():
    assert problems() == []


def test_problems_catches_each_kind_of_broken_link(tmp_path, monkeypatch):
    found = problems(
        [
            Link("lab", "nope", "step"),
            Link("lab", "sgd", "nope"),
            Link("page", "nope.py", label="x"),
        ]
    )
    assert found[0] == "no lab 'nope'"
    assert found[1] == "lab 'sgd' has no section 'nope'"
    assert found[2] == "no page file pages/nope.py"
    assert len(found) == 3
    assert problems([Link("lab", "sgd", "step"), Link("page", "model.py", label="x")]) in (
        [],
        ["lab 'sgd' has no page file ../pages/learn_sgd.py"],  # only while the lab is written
    )
    app = tmp_path / "app.py"
    app.write_text("st.navigation([])", encoding="utf-8")  # a page file the router does not list
    monkeypatch.setattr(questions_module, "APP", app)
    assert problems([Link("page", "model.py", label="x")]) == [
        "pages/model.py is not in the navigation (dashboard/app.py)"
    ]


def test_the_markdown_format_is_read_strictly():
    assert parse_link("→ lab sgd step") == Link("lab", "sgd", "step")
    assert parse_link("→ page model.py | Model") == Link("page", "model.py", label="Model")
    assert parse_link("→ later | Soon") == Link("later", label="Soon")
    for bad in ("→ lab sgd", "→ page model.py", "→ later", "→ somewhere"):
        with pytest.raises(ValueError):
            parse_link(bad)
    with pytest.raises(ValueError, match="one-line answer"):
        parse("x", "Why?\nBecause.\nAnd more.\n→ lab sgd step")
    with pytest.raises(ValueError, match="no link"):
        parse("x", "Why?\nBecause.")


def drawn_by_source(slug: str, source: str) -> set[str]:
    """The section keys a page's source draws with learn.section(<slug or a name>, "<key>")."""
    pattern = rf"section\(\s*(?:['\"]{slug}['\"]|[A-Za-z_]\w*)\s*,\s*['\"](\w+)['\"]"
    return set(re.findall(pattern, source))


@pytest.mark.parametrize("slug", list(learn.LABS))
def test_every_lab_section_is_drawn_by_its_page(slug):
    lab = learn.LABS[slug]
    assert lab.exists, f"pages/learn_{slug}.py is missing"
    source = (learn.PAGES / f"learn_{slug}.py").read_text(encoding="utf-8")
    missing = set(lab.sections) - drawn_by_source(slug, source)
    if missing:  # drawn some other way (a loop over the keys): ask the page itself
        at = open_page(lab.path, timeout=120)
        titles = {e.proto.label for e in at.get("expandable")}
        missing = {key for key in missing if lab.sections[key] not in titles}
    assert not missing, f"{slug} does not draw {sorted(missing)}"


def test_the_page_lists_every_question_with_its_links_and_filters_them():
    at = open_page(PAGE)
    every = questions()
    assert at.title[0].value == "Questions"
    assert f"{len(every)} of {len(every)} questions." in [c.value for c in at.caption]
    shown = [m.value for m in at.markdown]
    for q in every:
        assert any(q.question in text and q.answer in text for text in shown), q.key
    links = at.get("page_link")
    lab_links = [link.proto for link in links if link.proto.page.startswith("learn_")]
    wanted = {(link.target, link.section) for q in every for link in q.links if link.kind == "lab"}
    wanted = {w for w in wanted if learn.LABS[w[0]].exists}
    got = {(p.page.removeprefix("learn_"), p.query_string.removeprefix("section=")) for p in lab_links}
    assert got == wanted
    assert "model" in [link.proto.page for link in links]

    at.text_input(key="questions_filter").input("Zig-Zags").run()
    assert f"1 of {len(every)} questions." in [c.value for c in at.caption]
    assert any("What is momentum?" in m.value for m in at.markdown)
    assert not any("What is a kernel?" in m.value for m in at.markdown)

    at.text_input(key="questions_filter").input("zebra").run()
    assert f"0 of {len(every)} questions." in [c.value for c in at.caption]
    assert at.info[0].value == "No question contains these words."
