"""Every case in tests/data/diagnostics carries its expected diagnostics inline.

`# expect: E0301 E0303` on a line: diagnostics with those codes start on that
line. `# expect-eof: E0101` (on any line): the diagnostic is at the end of the
file. The set of (code, file, line) found must equal the set expected, so a
missing diagnostic and a spurious one both fail. Valid programs in
tests/data/valid must produce no diagnostics at all.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from integc.pipeline import compile_project

DATA = Path(__file__).resolve().parent.parent / "data"
EXPECT = re.compile(r"#\s*expect(-eof)?:\s*((?:[EW]\d{4}\s*)+)")


def _cases(folder: str) -> list[Path]:
    return sorted(p for p in (DATA / folder).iterdir() if p.suffix == ".integ" or p.is_dir())


def _entry(case: Path) -> Path:
    return case / "main.integ" if case.is_dir() else case


def _expected(case: Path) -> set[tuple[str, str, int]]:
    expected = set()
    files = sorted(case.rglob("*.integ")) if case.is_dir() else [case]
    for file in files:
        lines = file.read_text(encoding="utf-8").split("\n")
        for number, line in enumerate(lines, start=1):
            match = EXPECT.search(line)
            if not match:
                continue
            at_line = len(lines) if match.group(1) else number
            if match.group(1) and lines[-1] == "":
                at_line = len(lines)
            for code in match.group(2).split():
                expected.add((code, file.resolve().as_posix(), at_line))
    return expected


def _found(case: Path) -> set[tuple[str, str, int]]:
    result = compile_project(_entry(case))
    found = set()
    for d in result.diagnostics.sorted():
        assert d.span is not None, f"{d.code} has no location: {d.message}"
        found.add((d.code, Path(d.span.file).resolve().as_posix(), d.span.line))
    return found


@pytest.mark.parametrize("case", _cases("diagnostics"), ids=lambda p: p.name)
def test_broken_input_reports_expected_codes_at_expected_lines(case: Path) -> None:
    expected = _expected(case)
    assert expected, f"{case.name} declares no expectations"
    assert _found(case) == expected


@pytest.mark.parametrize("case", _cases("valid"), ids=lambda p: p.name)
def test_valid_program_is_clean(case: Path) -> None:
    result = compile_project(_entry(case))
    assert [f"{d.code} {d.span.file}:{d.span.line}: {d.message}" for d in result.diagnostics.sorted()] == []
    assert result.project is not None


# Syntax errors: the exact message and help. The help lists the tokens the parser could take; Lark
# names some of them anonymously (`__ANON_0`, numbered in grammar order), and those used to be
# mislabelled (`at` shown as `->`) or left out (`->` itself).
@pytest.mark.parametrize("case, message, help_text", [
    ("E0101_expose_without_at.integ", "unexpected string", "expected `at`"),
    ("E0101_match_arm_without_arrow.integ", "unexpected string", "expected `->`"),
])
def test_syntax_error_help_names_the_expected_token(case: str, message: str, help_text: str) -> None:
    result = compile_project(DATA / "diagnostics" / case)
    assert [(d.code, d.message, d.help) for d in result.diagnostics.sorted()] == [("E0101", message, help_text)]


@pytest.mark.parametrize("source, help_text", [
    ('system s { entity E { id: string @key } expose E "/e" { list } }', "expected `at`"),
    ("flow f { map { x = match y { 1 2 } } }", "expected `->`"),
    ('system s { operation m GET "/x" () T }',
     "expected `->`, `auth`, `base_url`, `entity`, `event`, `expose`, `handles`, `k8s`, ..."),
])
def test_syntax_error_help_for_anonymous_terminals(source: str, help_text: str) -> None:
    from integc.diagnostics import Diagnostics
    from integc.parser import parse_module

    diagnostics = Diagnostics()
    assert parse_module(source, "x.integ", diagnostics) is None
    assert [(d.code, d.help) for d in diagnostics.items] == [("E0101", help_text)]
