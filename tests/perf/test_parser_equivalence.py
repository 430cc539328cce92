"""The fast parser gives exactly what the Lark-tree parser gave.

`reference_parser.py` is the parser as it was before the fast path (a Lark
parse tree, then a Transformer). For every input -- the diagnostics corpus,
the valid programs, the examples, the benchmark landscape, generated deep
nesting and hypothesis-mutated sources -- both must return equal ASTs (every
node and every span) and the same diagnostics in the same order (code,
message, file, line, column, end, help).
"""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integc import parser as fast
from integc.diagnostics import Diagnostics
from integc.secrets_scan import _PATTERNS, scan_credentials

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
_spec = importlib.util.spec_from_file_location("integc_reference_parser", HERE / "reference_parser.py")
reference = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = reference
_spec.loader.exec_module(reference)

SOURCES = sorted(p for folder in ("tests/data", "examples") for p in (ROOT / folder).rglob("*.integ"))
SEEDS = [p.read_text(encoding="utf-8", errors="replace") for p in SOURCES]


def _outcome(module, text: str, depth: int):
    diagnostics = Diagnostics()
    tree = module.parse_module(text, "case.integ", diagnostics, depth)
    return tree, diagnostics.items


def assert_same(text: str, depth: int = 128) -> None:
    expected = _outcome(reference, text, depth)
    actual = _outcome(fast, text, depth)
    assert actual[1] == expected[1]
    assert actual[0] == expected[0]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
@pytest.mark.parametrize("depth", [128, 6, 2, 0])
def test_corpus_file_parses_the_same(path: Path, depth: int) -> None:
    text = path.read_bytes().decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    assert_same(text, depth)


def test_benchmark_landscape_parses_the_same(tmp_path: Path) -> None:
    generator = ROOT.parent / "shared" / "bench" / "gen_integ.py"
    if not generator.is_file():
        pytest.skip("the benchmark generator lives in ../shared/bench (beside the checkout in CI)")
    import subprocess
    subprocess.run([sys.executable, str(generator), "3", str(tmp_path), "--flows"], check=True)
    for path in sorted(tmp_path.rglob("*.integ")):
        assert_same(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("depth", [1, 5, 40, 128])
@pytest.mark.parametrize("shape", [
    "a + {}", "({})", "not {}", "-{}", "f({})", "if {} then 1 else 2", "{{ x = {} }}", "each {} as t {{ y = t }}",
    "match {} {{ 1 -> 2 }}", "{}.x", "{} ?? 1",
])
def test_deep_expressions_report_the_same(shape: str, depth: int) -> None:
    for levels in (depth - 1, depth, depth + 1, 3 * depth + 2):
        expr = "x"
        for _ in range(max(levels, 0)):
            expr = shape.format(expr)
        assert_same(f"flow f {{\n  map {{\n    y = {expr}\n  }}\n}}\n", depth)


@pytest.mark.parametrize("depth", [1, 5, 128])
def test_deep_values_and_types_report_the_same(depth: int) -> None:
    for levels in (depth - 1, depth, depth + 1, 2 * depth + 3):
        value = "1"
        kind = "string"
        for i in range(max(levels, 0)):
            value = f"[{value}]" if i % 2 else f"{{ k: {value} }}"
            kind = f"list<{kind}>" if i % 2 else f"map<{kind}>"
        assert_same(f"type T {{\n  a: {kind} @example({value})\n}}\n", depth)
        assert_same(f"type T {{\n  a: {kind}?\n}}\n" + "x + " * levels, depth)


def test_long_flat_inputs_are_not_nesting() -> None:
    fields = "\n".join(f"  f{i}: int = {i}," for i in range(3000))
    assert_same(f"type T {{\n{fields}\n}}\n", 2)
    chain = " + ".join("a" for _ in range(400))
    assert_same(f"flow f {{ map {{ y = {chain} }} }}", 128)


@pytest.mark.parametrize("text", [
    "", "\n", "   ", "# only a comment", "/// only a doc", "type", "type T {", "type T { a: }", "@", "type T { a: int @ }",
    'package a.b versionx "1"', "package a.b version", "type T { from: int to: int key: int status: int type: int }",
    "type T { a: list<int>> }", "type T { a: int?? }", 'enum E { a = "x", b, }', "type T { a: int = -15m }",
    "type T { a: int = 3.5e10 }", "type T { a: int = 99999999999999999999999 }", 'type T { a: string = "\\q" }',
    'type T { a: string = "\\u{110000}" }', "flow f { map { y = a <= b >= c } }", "flow f { map { y = a << b } }",
    "flow f { retry 3 backoff exponential 15mx }", "type T { `quoted name`: int }", "type T { `unterminated: int }",
    'type T { a: string = "unterminated }', "type T {\r\n a: int\r\n}", "type T { a: int }\x00", "\ufefftype T {}",
    "type T { a: int = 15m1 }", "type T { a: int = 1.5.5 }", "system s { auth bearer { password \"x\" } }",
    "flow f { trigger manual }", "flow f { trigger schedule every }", "flow f { map { y = f(,) } }",
    "flow f { map { y = {} } }", "type T { a: int @example([]) @example({}) }", "type T { a: int }}",
    "/// doc\n/// more\ntype T {\n  /// field doc\n  a: int\n}\n", "/// d\nenum E { a }\n",
    'system s { operation merge POST "/x/{id}" (id: uuid, body: M,) -> T }', "type T { a: int } ///",
])
def test_edge_cases_report_the_same(text: str) -> None:
    assert_same(text)
    assert_same(text, 1)


TOKEN = re.compile(r'"(?:\\.|[^"\\\n])*"|`[^`\n]*`|[A-Za-z_][A-Za-z0-9_]*|[0-9]+(?:\.[0-9]+)?[a-z]*|\?\?|->|[=!<>]=|\S')
VOCABULARY = ["{", "}", "(", ")", "[", "]", "<", ">", ",", ":", "=", "?", "??", "->", ".", "@", '"x"', "`y`", "1",
              "-", "2.5", "15m", "type", "enum", "system", "entity", "expose", "flow", "map", "match", "each", "as",
              "if", "then", "else", "list", "from", "to", "trigger", "schedule", "every", "cron", "null", "true",
              "_", "import", "version", "at", "key", "status", "package", "not", "and", "or", "==", "<=", "*", "/",
              "//", "///", "#", "\n", "\\", "\x00", "`", '"', "auth", "secret", "retry", "backoff", "max", "test",
              "input", "expect", "k8s", "operation", "event", "handles", "title"]
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@st.composite
def mutated_source(draw) -> str:
    tokens = TOKEN.findall(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 5))):
        if not tokens:
            break
        i = draw(st.integers(0, len(tokens) - 1))
        action = draw(st.sampled_from(["delete", "insert", "swap", "duplicate"]))
        if action == "delete":
            del tokens[i]
        elif action == "insert":
            tokens.insert(i, draw(st.sampled_from(VOCABULARY)))
        elif action == "swap":
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        else:
            tokens.insert(i, tokens[i])
    separator = draw(st.sampled_from([" ", "\n", "  \n\t", ""]))
    return separator.join(tokens)


@FUZZ
@given(mutated_source(), st.sampled_from([128, 3]))
def test_mutated_sources_parse_the_same(text: str, depth: int) -> None:
    assert_same(text, depth)


@FUZZ
@given(st.lists(st.sampled_from(VOCABULARY + list("abcXYZ019 \t")), max_size=80), st.sampled_from(["", " ", "\n"]))
def test_token_soup_parses_the_same(tokens: list[str], separator: str) -> None:
    assert_same(separator.join(tokens))


@FUZZ
@given(st.text(max_size=120))
def test_random_text_parses_the_same(text: str) -> None:
    assert_same(text)


# ---- the credential prefilter never hides a finding

def test_every_credential_pattern_has_a_hint() -> None:
    assert {p.pattern for _, p in _PATTERNS} <= set(fast._CREDENTIAL_HINTS)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.sampled_from([p for _, p in _PATTERNS]).flatmap(
    lambda p: st.tuples(st.text(max_size=20), st.from_regex(p, fullmatch=True), st.text(max_size=20))))
def test_credential_hint_sees_every_finding(parts: tuple[str, str, str]) -> None:
    text = "".join(parts)
    if scan_credentials(text, "f"):
        assert fast._MIGHT_HOLD_CREDENTIALS(text)
    assert_same(text)
