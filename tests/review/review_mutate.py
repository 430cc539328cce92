"""Hypothesis strategies that rewrite the layout of valid .integ text.

Every rewrite keeps the token sequence: only the white space between tokens
changes, and comments (`#` at line ends or on their own lines, `///` on their
own lines) are added between tokens. The result is a valid program whose
meaning may differ from the original only in documentation (a new `///`
line documents what follows it), which is why the tests compare the
formatter's output with the *mutated* input.
"""
from __future__ import annotations

import re

from hypothesis import strategies as st
from lark import Token

from integc.formatter import _parse_all_tokens, normalize_newlines

_GLUE = set("{}()[],:@")
_COMMENT_WORDS = st.text(alphabet="abcdefghij xyz#/`\"'=-{}", min_size=0, max_size=12)


def elements(text: str) -> list[Token]:
    """Code tokens and comments in source order."""
    tree, comments = _parse_all_tokens(normalize_newlines(text))
    tokens = list(tree.scan_values(lambda v: isinstance(v, Token)))
    return sorted(tokens + comments, key=lambda t: t.start_pos)


def _is_comment(token: Token) -> bool:
    return token.type in ("COMMENT", "DOC_COMMENT")


def _can_touch(left: Token, right: Token) -> bool:
    return (left.value in _GLUE or right.value in _GLUE) and not _is_comment(left) and not _is_comment(right)


@st.composite
def relayout(draw, text: str, comments: bool = True) -> str:
    """The same tokens with random white space and (optionally) extra comments."""
    items = elements(text)
    out: list[str] = []
    for i, item in enumerate(items):
        out.append(item.value)
        if i + 1 == len(items):
            out.append("\n")
            break
        nxt = items[i + 1]
        if _is_comment(item):
            gap = draw(st.sampled_from(["\n", "\n\n", "\n  ", "\n\t\n"]))
        else:
            choices = [" ", "\n", "  ", "\n\n", "\t", " \n  "]
            if _can_touch(item, nxt):
                choices.append("")
            gap = draw(st.sampled_from(choices))
        if comments and draw(st.integers(0, 9)) == 0:
            words = draw(_COMMENT_WORDS).replace("\n", " ")
            kind = draw(st.sampled_from(["trailing", "own", "doc", "docblank"]))
            if kind == "trailing":
                gap = f"  # {words}\n" + draw(st.sampled_from(["", "  ", "\n"]))
            elif kind == "own":
                gap = f"\n# {words}\n" + draw(st.sampled_from(["", "\n"]))
            elif kind == "doc":
                gap = f"\n/// {words}\n"
            else:
                gap = f"\n/// {words}\n\n"
        if _is_comment(item) and "\n" not in gap:
            gap = "\n"
        out.append(gap)
    return "".join(out)


def squeeze(text: str) -> str:
    """The densest layout: every token on one line where comments allow."""
    items = elements(text)
    out = []
    for i, item in enumerate(items):
        out.append(item.value)
        if i + 1 < len(items):
            out.append("\n" if _is_comment(item) else ("" if _can_touch(item, items[i + 1]) else " "))
    return "".join(out) + "\n"


_WORDLIKE = re.compile(r"[A-Za-z0-9_`\"]")
