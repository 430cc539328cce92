"""No input escapes as an exception: mutated examples and random text give
either a clean compile or coded diagnostics with locations."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integc.codes import CODES
from integc.pipeline import compile_project

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SEED_SOURCES = [p.read_text() for p in sorted(EXAMPLES.rglob("*.integ"))] + \
    [p.read_text() for p in sorted((Path(__file__).resolve().parents[1] / "data" / "valid").glob("*.integ"))]
TOKEN = re.compile(r'"(?:\\.|[^"\\\n])*"|`[^`\n]*`|[A-Za-z_][A-Za-z0-9_]*|[0-9]+(?:\.[0-9]+)?[a-z]*|\?\?|->|[=!<>]=|\S')
VOCABULARY = ["{", "}", "(", ")", "<", ">", ",", ":", "=", "?", "??", "->", ".", "@", '"x"', "`y`", "1", "-",
              "15m", "type", "enum", "system", "entity", "expose", "flow", "map", "match", "each", "as", "if",
              "then", "else", "list", "from", "to", "trigger", "schedule", "every", "cron", "null", "true", "_",
              "import", '"../x.integ"', "\\", "\x00", "\u202e", "#", "///", "\n"]

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=True)


def _compile_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "main.integ").write_text(text, encoding="utf-8")
        result = compile_project(folder)
    for diagnostic in result.diagnostics.items:
        assert diagnostic.code in CODES
        assert diagnostic.span is not None and diagnostic.span.line >= 1 and diagnostic.span.column >= 1
    if not result.diagnostics.has_errors:
        assert result.project is not None


@st.composite
def mutated_source(draw) -> str:
    source = draw(st.sampled_from(SEED_SOURCES))
    tokens = TOKEN.findall(source)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["delete", "insert", "swap", "duplicate"]))
        if not tokens:
            break
        i = draw(st.integers(0, len(tokens) - 1))
        if action == "delete":
            del tokens[i]
        elif action == "insert":
            tokens.insert(i, draw(st.sampled_from(VOCABULARY)))
        elif action == "swap":
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        else:
            tokens.insert(i, tokens[i])
    return " ".join(tokens)


@SETTINGS
@given(mutated_source())
def test_mutated_examples_never_raise(text: str) -> None:
    _compile_text(text)


@SETTINGS
@given(st.lists(st.sampled_from(VOCABULARY + list("abcXYZ019 \t")), max_size=120))
def test_token_soup_never_raises(tokens: list[str]) -> None:
    _compile_text(" ".join(tokens))


@SETTINGS
@given(st.binary(max_size=200))
def test_random_bytes_never_raise(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "main.integ").write_bytes(data)
        result = compile_project(folder)
    assert all(d.code in CODES and d.span is not None for d in result.diagnostics.items)
