"""E0502: credential-looking strings are errors at the right span, and no
output format ever repeats the whole secret."""
from __future__ import annotations

import json

import pytest

from bugs import BUGS
from hsupport import EXAMPLES, VALID, assert_handled, policy_build, write_project

# kind -> (the text in the source, the part that must never be printed)
SECRETS = {
    "private_key": ("-----BEGIN RSA PRIVATE KEY-----", "BEGIN RSA PRIVATE KEY"),
    "private_key_openssh": ("-----BEGIN OPENSSH PRIVATE KEY-----", "BEGIN OPENSSH PRIVATE KEY"),
    "stripe_live": ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc"),
    "stripe_restricted": ("rk_test_51H8abcdefghijKLMNOP", "51H8abcdefghijKLMNOP"),
    "aws_key_id": ("AKIAIOSFODNN7EXAMPLE", "IOSFODNN7EXAMPLE"),
    "aws_session": ("ASIAY34FZKBOKMUTVV7A", "Y34FZKBOKMUTVV7A"),
    "jwt": ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    "url_password": ("https://admin:hunter2secret@crm.example/api", "hunter2secret"),
    "github": ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnopqrstuvwxyz0123456789"),
    "slack": ("xoxb-1234567890-abcdefghijKLMN", "1234567890-abcdefghijKLMN"),
    "google": ("AIzaSyA1234567890abcdefghijklmnopqrstuv", "SyA1234567890abcdefghijklmnopqrstuv"),
}

# place -> a program with SECRET where the credential goes (every place text can be)
PLACES = {
    "title": 'system crm {\n  owner "o"\n  title "SECRET"\n}\n',
    "owner": 'system crm {\n  owner "SECRET"\n}\n',
    "doc_comment": '/// see SECRET\nsystem crm {\n  owner "o"\n}\n',
    "comment": '# SECRET\nsystem crm {\n  owner "o"\n}\n',
    "default": 'type T {\n  x: string = "SECRET"\n}\n',
    "example": 'type T {\n  x: string @example("SECRET")\n}\n',
    "enum_wire": 'enum E {\n  a = "SECRET"\n}\n',
    "deprecated": 'type T {\n  x: string @deprecated("use SECRET")\n}\n',
    "secret_name": 'system crm {\n  owner "o"\n  auth bearer { secret "SECRET" }\n}\n',
    "manual_note": 'flow f {\n  trigger manual "run with SECRET"\n}\n',
    "map_literal": 'flow f {\n  map { x = "SECRET" }\n}\n',
    "backticked_field": 'type T {\n  `SECRET`: string\n}\n',
}


def _case(kind: str, place: str) -> tuple[str, str, str]:
    text, hidden = SECRETS[kind]
    if place == "backticked_field" and "`" in text:
        text = text.replace("`", "")
    return PLACES[place].replace("SECRET", text), text, hidden


def _position(source: str, needle: str) -> tuple[int, int]:
    offset = source.index(needle)
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _run(jail, tmp_path, source, fmt):
    project = write_project(tmp_path / "p", source)
    outcome = jail.run(["check", project, "--format", fmt], cwd=tmp_path, timeout=60)
    assert_handled(outcome)
    return outcome


@pytest.mark.parametrize("kind", SECRETS)
@pytest.mark.parametrize("place", PLACES)
def test_reported_at_the_span(jail, tmp_path, kind, place):
    source, text, hidden = _case(kind, place)
    outcome = _run(jail, tmp_path, source, "json")
    found = [d for d in json.loads(outcome.stdout) if d["code"] == "E0502"]
    assert len(found) == 1, outcome.describe()
    line, column = _position(source, text[:12])
    diagnostic = found[0]
    assert (diagnostic["line"], diagnostic["end_line"]) == (line, line)
    # The span starts at the credential (URLs: at the scheme) and covers the secret part.
    assert diagnostic["column"] == column, outcome.describe()
    secret_at = source.split("\n")[line - 1].index(hidden) + 1
    assert diagnostic["column"] <= secret_at and diagnostic["end_column"] >= secret_at + min(len(hidden), 8)
    assert 'secret "' in diagnostic["help"]
    assert outcome.code == 1


@pytest.mark.parametrize("fmt", ["json", "github", "sarif"])
@pytest.mark.parametrize("kind", SECRETS)
def test_machine_formats_never_repeat_the_secret(jail, tmp_path, kind, fmt):
    for place in ("title", "doc_comment", "example", "map_literal"):
        source, text, hidden = _case(kind, place)
        outcome = _run(jail, tmp_path, source, fmt)
        assert "E0502" in outcome.output
        assert hidden not in outcome.output, f"{place}: {fmt} output repeats the secret"


@pytest.mark.parametrize("kind", SECRETS)
def test_text_format_never_repeats_the_secret(jail, tmp_path, kind):
    """The text format shows the source line under the message: it must mask the credential,
    including when another diagnostic shows the same line."""
    for place in ("title", "doc_comment", "example", "map_literal"):
        source, text, hidden = _case(kind, place)
        outcome = _run(jail, tmp_path, source, "text")
        assert "E0502" in outcome.output
        assert hidden not in outcome.output, f"{place}: the text output repeats the secret"


@pytest.mark.parametrize("kind", ["aws_key_id", "url_password", "jwt"])
def test_other_diagnostics_on_the_line_never_repeat_the_secret(jail, tmp_path, kind):
    """A second diagnostic on the same line (E0101 here) shows the line too: masked as well."""
    outcome = _run(jail, tmp_path, f'type T {{ x: string = "{SECRETS[kind][0]}" ! }}\n', "text")
    assert "E0502" in outcome.output and "E0101" in outcome.output
    assert SECRETS[kind][1] not in outcome.output


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_other_diagnostics_never_repeat_the_secret(jail, tmp_path, fmt):
    """A credential in a value that is also wrong for another reason (E0209: base_url must be http(s))."""
    outcome = _run(jail, tmp_path, 'system crm {\n  owner "o"\n  base_url "ftp://admin:hunter2secret@crm.example/"\n}\n',
                   fmt)
    assert "E0502" in outcome.output and "E0209" in outcome.output
    assert "hunter2secret" not in outcome.output


def test_auth_blocks_have_no_place_for_a_value(jail, tmp_path):
    for block in ('auth basic { password "hunter2secret" }', 'auth bearer { token "abc" }',
                  'auth api_key { header "X" value "v" secret "k" }'):
        outcome = _run(jail, tmp_path, f'system crm {{\n  owner "o"\n  {block}\n}}\n', "json")
        assert [d["code"] for d in json.loads(outcome.stdout)] == ["E0101"], block


def test_credential_fails_the_build(jail, tmp_path):
    project = write_project(tmp_path / "p", PLACES["title"].replace("SECRET", SECRETS["aws_key_id"][0]))
    out = tmp_path / "out"
    outcome = jail.run(["build", project, "--out", out], cwd=tmp_path, policy=policy_build(out), timeout=60)
    assert_handled(outcome)
    assert outcome.code == 1 and "E0502" in outcome.codes() and not out.exists()


def test_credential_in_an_imported_file(jail, tmp_path):
    project = write_project(tmp_path / "p", 'import "sub/creds.integ"\n',
                            files={"sub/creds.integ": "# token: " + SECRETS["github"][0] + "\n"})
    outcome = jail.run(["check", project, "--format", "json"], cwd=tmp_path, timeout=60)
    found = json.loads(outcome.stdout)
    assert [d["code"] for d in found] == ["E0502"] and found[0]["file"].endswith("sub/creds.integ")


NEAR_MISSES = ['title "sk_live_short"', 'title "AKIA-not-a-key"', 'base_url "https://crm.example/api?user=a"',
               'title "eyJhbGciOiJIUzI1NiJ9 alone"', 'title "BEGIN PUBLIC KEY"', 'owner "admin@crm.example"',
               'base_url "https://crm.example:8443/api"']


@pytest.mark.parametrize("line", NEAR_MISSES)
def test_no_false_positive(jail, tmp_path, line):
    outcome = _run(jail, tmp_path, f'system crm {{\n  owner "o"\n  {line}\n}}\n', "json")
    assert "E0502" not in outcome.codes()


def test_examples_have_no_credentials(jail, tmp_path):
    for project in [EXAMPLES / "order-to-cash", EXAMPLES / "quickstart", *sorted(VALID.glob("*.integ"))]:
        outcome = jail.run(["check", project, "--format", "json"], cwd=tmp_path, timeout=60)
        assert_handled(outcome)
        assert "E0502" not in outcome.codes(), project
