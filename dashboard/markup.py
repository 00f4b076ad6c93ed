"""Text a person supplied (labels, file names, dataset names), escaped for where it is shown."""

from __future__ import annotations

import html
import re

# Characters Streamlit's markdown reads as markup anywhere in a line: emphasis, code, links,
# HTML, strike-through, LaTeX, :colour[...] directives and :emoji: shortcodes, tables.
_INLINE = set("\\`*_[]<>~$:|{}")
# Characters that start a heading, list or quote when they open a line.
_LINE_START = set("#-+>=")


def md(text: object) -> str:
    """text as literal characters inside st.markdown, st.caption, st.write, st.warning…

    Every markup character gets a backslash (CommonMark's escape), so `*bold*`, `[a](b)`,
    `<b>` or `:red[x]` show as typed. Dots, digits and brackets' neighbours stay as they are.
    """
    s = str(text)
    out = "".join("\\" + c if c in _INLINE else c for c in s)
    if out[:1] in _LINE_START:
        out = "\\" + out
    out = re.sub(r"^(\d+)([.)])(?=\s|$)", r"\1\\\2", out)  # "1. x" would open a numbered list
    return out.replace("\n", " ")


def html_text(text: object) -> str:
    """text as literal characters in HTML (Plotly labels, hover text, unsafe_allow_html blocks)."""
    return html.escape(str(text), quote=True)
