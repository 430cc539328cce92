"""`--format github` and `--format sarif`: what CI systems read.

SARIF output is validated against the official SARIF 2.1.0 JSON Schema,
vendored as specs/sarif-2.1.0.schema.json (from the SARIF SDK's
`sarif-2.1.0.json`, shipped in the npm package @microsoft/sarif-multitool-linux
5.7.0, MIT). jsonschema checks no `uri`/`uri-reference` formats by itself
without extra packages, so the test adds RFC 3986 checks for them.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from integc.diagnostics import Diagnostic, Note, Span
from integc.pipeline import compile_project
from integc.render import render_github, render_sarif

from review_helpers import REPO

SCHEMA = json.loads((REPO / "specs" / "sarif-2.1.0.schema.json").read_text(encoding="utf-8"))
CORPUS = REPO / "tests" / "data" / "diagnostics"

_URI_CHARS = re.compile(r"^([A-Za-z0-9\-._~!$&'()*+,;=:@/?#\[\]]|%[0-9A-Fa-f]{2})*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("uri-reference")
def _uri_reference(value) -> bool:
    return not isinstance(value, str) or bool(_URI_CHARS.match(value))


@FORMATS.checks("uri")
def _uri(value) -> bool:
    return not isinstance(value, str) or (bool(_URI_CHARS.match(value)) and bool(_SCHEME.match(value)))


def validate_sarif(text: str) -> dict:
    log = json.loads(text)
    validator_class = jsonschema.validators.validator_for(SCHEMA)
    validator_class.check_schema(SCHEMA)
    errors = sorted(validator_class(SCHEMA, format_checker=FORMATS).iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    return log


def test_the_vendored_schema_is_the_sarif_2_1_0_schema():
    assert SCHEMA["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    assert SCHEMA["properties"]["version"]["enum"] == ["2.1.0"]
    assert {"run", "result", "location", "region", "reportingDescriptor", "artifactLocation"} <= set(
        SCHEMA["definitions"])


def test_the_schema_rejects_broken_logs():
    validator = jsonschema.validators.validator_for(SCHEMA)(SCHEMA, format_checker=FORMATS)
    assert not validator.is_valid({"version": "2.0.0", "runs": []})
    assert not validator.is_valid({"version": "2.1.0", "runs": [{"tool": {}}]})
    bad_region = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [
        {"message": {"text": "m"}, "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": "a.integ"}, "region": {"startLine": 0}}}]}]}]}
    assert not validator.is_valid(bad_region)


def _corpus_cases() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.suffix == ".integ" or (p / "main.integ").is_file())


@pytest.mark.parametrize("case", _corpus_cases(), ids=lambda p: p.name)
def test_sarif_for_every_diagnostic_in_the_corpus_is_valid(case, monkeypatch):
    monkeypatch.chdir(CORPUS)
    result = compile_project(case.name)
    diagnostics = result.diagnostics.sorted()
    assert diagnostics, case
    log = validate_sarif(render_sarif(diagnostics))
    run = log["runs"][0]
    assert [r["ruleId"] for r in run["results"]] == [d.code for d in diagnostics]
    rules = run["tool"]["driver"]["rules"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning")


def test_sarif_locations_and_text():
    diagnostics = [
        Diagnostic("E0301", "type mismatch: `string` is not `email`", Span("flows/sync.integ", 14, 5, 14, 22),
                   help="convert it", notes=(Note(Span("a.integ", 1, 1, 1, 2), "declared here"),)),
        Diagnostic("W0601", "system `crm` has no owner", Span("systems/crm.integ", 3, 8, 3, 11)),
        Diagnostic("E0104", "the project has more than 10 files", None),
    ]
    log = validate_sarif(render_sarif(diagnostics))
    results = log["runs"][0]["results"]
    assert results[0]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "flows/sync.integ"},
        "region": {"startLine": 14, "startColumn": 5, "endLine": 14, "endColumn": 22}}
    assert results[0]["message"]["text"] == "type mismatch: `string` is not `email`\nhelp: convert it"
    assert results[1]["level"] == "warning"
    assert "locations" not in results[2]
    assert validate_sarif(render_sarif([]))["runs"][0]["results"] == []


def test_sarif_file_names_that_need_percent_encoding():
    """A file name with a space is not a URI reference as it stands (RFC 3986): it must be %-encoded."""
    diagnostics = [Diagnostic("E0301", "m", Span("my flows/sync #1.integ", 1, 1, 1, 2))]
    log = json.loads(render_sarif(diagnostics))
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "my%20flows/sync%20%231.integ"
    validate_sarif(render_sarif(diagnostics))


# ---------------------------------------------------------------- GitHub workflow commands

def _parse_command(line: str) -> tuple[str, dict[str, str], str]:
    """Split `::cmd k=v,k=v::data` the way the Actions runner does, and unescape."""
    assert line.startswith("::")
    head, _, data = line[2:].partition("::")
    command, _, props = head.partition(" ")

    def unescape(text: str, prop: bool) -> str:
        text = text.replace("%0D", "\r").replace("%0A", "\n")
        if prop:
            text = text.replace("%3A", ":").replace("%2C", ",")
        return text.replace("%25", "%")

    properties = {}
    for pair in filter(None, props.split(",")):
        key, _, value = pair.partition("=")
        properties[key] = unescape(value, True)
    return command, properties, unescape(data, False)


def test_github_commands_escape_messages_and_properties():
    diagnostics = [
        Diagnostic("E0301", "100% wrong: a, b\r\nnext line", Span("dir,with:odd%chars/x.integ", 3, 7, 4, 2),
                   help="use `lower(x)`: it works"),
        Diagnostic("W0602", "flow `f` has no retry", Span("flows.integ", 9, 6, 9, 7)),
        Diagnostic("E0104", "too many files", None),
    ]
    lines = render_github(diagnostics).splitlines()
    assert len(lines) == 3
    command, props, data = _parse_command(lines[0])
    assert command == "error"
    assert props == {"file": "dir,with:odd%chars/x.integ", "line": "3", "col": "7", "endLine": "4",
                     "endColumn": "2", "title": "E0301 type mismatch"}
    assert data == "100% wrong: a, b\r\nnext line\nhelp: use `lower(x)`: it works"
    assert "\n" not in lines[0] and "\r" not in lines[0]
    command, props, data = _parse_command(lines[1])
    assert command == "warning" and props["file"] == "flows.integ" and props["line"] == "9"
    command, props, data = _parse_command(lines[2])
    assert command == "error" and set(props) == {"title"} and data == "too many files"
    assert render_github([]) == ""


# ---------------------------------------------------------------- through the CLI

def _integc(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "integc", *args], cwd=cwd, text=True, capture_output=True,
                          env={**os.environ, "NO_COLOR": "1"}, timeout=120)


@pytest.fixture
def broken(tmp_path):
    (tmp_path / "main.integ").write_text('''\
system crm {
  base_url "https://crm.example"
  auth none
  entity Customer {
    id: string @key
    name: string
  }
  expose Customer at "/customers" { list }
}

flow f {
  from crm.Customer
  to crm.Customer
  trigger schedule every 1h
  map {
    id = id
    name = nmae
  }
}
''')
    return tmp_path


def test_cli_check_sarif_and_github(broken):
    sarif = _integc("check", "--format", "sarif", cwd=broken)
    assert sarif.returncode == 1
    log = validate_sarif(sarif.stdout)
    codes = [r["ruleId"] for r in log["runs"][0]["results"]]
    assert "E0201" in codes and "W0601" in codes
    github = _integc("check", "--format", "github", cwd=broken)
    assert github.returncode == 1
    commands = [_parse_command(line) for line in github.stdout.splitlines()]
    unknown = next(c for c in commands if c[1]["title"].startswith("E0201"))
    assert unknown[0] == "error" and unknown[1]["file"] == "main.integ" and unknown[1]["line"] == "17"
    assert "did you mean `name`?" in unknown[2]
