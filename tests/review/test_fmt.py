"""`integc fmt`: the canonical layout, idempotence, meaning and comments preserved.

Properties, checked over the examples, tests/data/valid, random layouts of
them (mutate.relayout, mutate.squeeze) and generated programs (gen.programs):

- fmt(fmt(x)) == fmt(x);
- the IR of the formatted project equals the original's, source positions
  aside (helpers.ir_fingerprint);
- the multiset of comment texts is unchanged.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from integc.formatter import FormatError, comment_texts, format_source, format_text, parser_inherits_docs

from review_helpers import REPO, compile_ok, copy_project, ir_fingerprint, valid_cases
from review_gen import programs
from review_mutate import relayout, squeeze

CASES = valid_cases()
PROPERTY = settings(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), max_examples=60)


def _check_project(folder: Path, allow_kept: bool = True) -> None:
    before = ir_fingerprint(compile_ok(folder))
    for path in sorted(folder.rglob("*.integ")):
        text = path.read_text(encoding="utf-8")
        result = format_text(text, str(path))
        if result.kept:
            # Only the parser's same-line documentation quirk can force this (see formatter.py).
            assert allow_kept and parser_inherits_docs(), (path, result.kept)
        out = result.text
        assert format_source(out, str(path)) == out, f"not idempotent: {path}\n{out}"
        assert Counter(comment_texts(text)) == Counter(comment_texts(out)), path
        path.write_text(out, encoding="utf-8")
    assert ir_fingerprint(compile_ok(folder)) == before


# ---------------------------------------------------------------- real inputs

@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_examples_and_valid_programs(case, tmp_path):
    project = copy_project(case, tmp_path / "p")
    _check_project(project, allow_kept=False)


# ---------------------------------------------------------------- generated inputs

@PROPERTY
@given(st.sampled_from(CASES), st.data())
def test_random_layouts_of_valid_programs(tmp_path_factory, case, data):
    project = copy_project(case, tmp_path_factory.mktemp("relayout") / "p")
    for path in sorted(project.rglob("*.integ")):
        path.write_text(data.draw(relayout(path.read_text(encoding="utf-8"))), encoding="utf-8")
    _check_project(project)


@PROPERTY
@given(st.sampled_from(CASES))
def test_squeezed_programs(tmp_path_factory, case):
    project = copy_project(case, tmp_path_factory.mktemp("squeeze") / "p")
    for path in sorted(project.rglob("*.integ")):
        path.write_text(squeeze(path.read_text(encoding="utf-8")), encoding="utf-8")
    _check_project(project)


@settings(PROPERTY, max_examples=40)
@given(programs(), st.booleans(), st.data())
def test_generated_programs(tmp_path_factory, program, scramble, data):
    folder = tmp_path_factory.mktemp("generated")
    text = data.draw(relayout(program)) if scramble else program
    (folder / "main.integ").write_text(text, encoding="utf-8")
    _check_project(folder)


def _hardening_strategies():
    """tests/hardening's grammar-based program strategies (another generator than ours), if present."""
    import importlib.util

    path = REPO / "tests" / "hardening" / "integ_strategies.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("review_integ_strategies", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_HARDENING = _hardening_strategies()


@pytest.mark.skipif(_HARDENING is None, reason="tests/hardening/integ_strategies.py is not there")
@settings(PROPERTY, max_examples=150)
@given(st.data())
def test_grammar_generated_programs(tmp_path_factory, data):
    """Programs that parse (valid or not): idempotent, same comments, same syntax tree; same IR if they compile."""
    from integc.diagnostics import Diagnostics
    from integc.formatter import _shape
    from integc.parser import parse_module
    from integc.pipeline import compile_project

    text = data.draw(st.one_of(_HARDENING.program(), _HARDENING.coherent_program()))
    if data.draw(st.booleans()):
        module = parse_module(text, "x.integ", Diagnostics())
        if module is not None:
            text = data.draw(relayout(text))
    module = parse_module(text, "x.integ", Diagnostics())
    if module is None:
        with pytest.raises(FormatError):
            format_text(text)
        return
    result = format_text(text)
    assert not result.kept or parser_inherits_docs(), result.kept
    out = result.text
    assert format_source(out) == out
    assert Counter(comment_texts(text)) == Counter(comment_texts(out))
    assert _shape(parse_module(out, "x.integ", Diagnostics())) == _shape(module)
    folder = tmp_path_factory.mktemp("grammar")
    (folder / "main.integ").write_text(text, encoding="utf-8")
    before = compile_project(folder / "main.integ")
    if before.project is None:
        return
    (folder / "main.integ").write_text(out, encoding="utf-8")
    assert ir_fingerprint(compile_ok(folder / "main.integ")) == ir_fingerprint(before.project)


# ---------------------------------------------------------------- the style

MESSY = '''\
# Header comment: stays at the top.

import "b.integ"   # trailing comment on an import
import "a.integ"
package demo.style version "1.0.0"
enum Tier{free,pro
enterprise}
/// A point.
type Point{
x:int y:int?=-1 label:string @length(1,20)@pattern("^[a-z#]+$")="a#b"
`first-name`:list<map<string>>}
system crm{owner "o@x" base_url "https://x"
auth oauth2{token_url "https://login.example/token/with/a/long/path/that/does/not/fit/on/one/line" scopes["api","read"] secret "s"}
handles pii


  entity Customer{id:uuid @key @readonly
  # about tier
  tier:Tier=free
  point:Point?}
  expose Customer at "/customers"{list get create update}
  operation merge POST "/customers/{id}/merge"(id:uuid,body:Point,)->Customer
  event changed:Customer
}
flow f{from crm.Customer to crm.Customer trigger schedule every 15m write upsert
map{id=id tier=match tier{free->"pro",_->tier} point={x=-(1+2)*3,y=point.y??0 label=lower("A"+"B")
`first-name`=each tags as t{}}}
retry 3 backoff exponential 1s max 1m on_error skip}
'''

TIDY = '''\
# Header comment: stays at the top.

package demo.style version "1.0.0"

import "a.integ"
import "b.integ"  # trailing comment on an import

enum Tier { free, pro, enterprise }

/// A point.
type Point {
  x: int
  y: int? = -1
  label: string @length(1, 20) @pattern("^[a-z#]+$") = "a#b"
  `first-name`: list<map<string>>
}

system crm {
  owner "o@x"
  base_url "https://x"
  auth oauth2 {
    token_url "https://login.example/token/with/a/long/path/that/does/not/fit/on/one/line"
    scopes ["api", "read"]
    secret "s"
  }
  handles pii

  entity Customer {
    id: uuid @key @readonly
    # about tier
    tier: Tier = free
    point: Point?
  }
  expose Customer at "/customers" { list, get, create, update }
  operation merge POST "/customers/{id}/merge" (id: uuid, body: Point) -> Customer
  event changed: Customer
}

flow f {
  from crm.Customer
  to crm.Customer
  trigger schedule every 15m
  write upsert
  map {
    id = id
    tier = match tier { free -> "pro", _ -> tier }
    point = {
      x = -(1 + 2) * 3
      y = point.y ?? 0
      label = lower("A" + "B")
      `first-name` = each tags as t {}
    }
  }
  retry 3 backoff exponential 1s max 1m
  on_error skip
}
'''


def test_canonical_layout():
    assert format_source(MESSY) == TIDY
    assert format_source(TIDY) == TIDY


def test_comments_stay_where_they_were():
    source = '''\
/// Documents the enum.
enum E { a, b }  # after the enum

/// Detached: the blank line below keeps it from documenting the type.

type T {
  x: int  # after x
  # before y
  y: string # "#" in a comment
}

flow f {
  map {
    a = "#not a comment"  # but this is
    b = `#x` + 1   # backticks too
    c = f(1,  # inside a call
      2)
  }
}
'''
    out = format_source(source)
    assert out == '''\
/// Documents the enum.
enum E { a, b }  # after the enum

/// Detached: the blank line below keeps it from documenting the type.

type T {
  x: int  # after x
  # before y
  y: string  # "#" in a comment
}

flow f {
  map {
    a = "#not a comment"  # but this is
    b = `#x` + 1  # backticks too
    c = f(1,  # inside a call
        2)
  }
}
'''
    assert format_source(out) == out
    assert comment_texts(source) == comment_texts(out)


def test_dangling_doc_comment_stays_dangling():
    """A `///` comment that documents nothing (parser._Builder._doc) still documents nothing once formatted.

    Such a comment stands before a member that shares its line (`, b`), or
    after code on its line (`, /// x`). The formatter puts the member, or the
    comment, on a line of its own; a blank line after the comment keeps it
    from documenting what follows (found by test_grammar_generated_programs,
    which used to get `result.kept`).
    """
    from integc.diagnostics import Diagnostics
    from integc.formatter import _shape
    from integc.parser import parse_module

    source = '''\
enum Tier { free
  /// documents nothing
  , pro }
type T { x: int
/// one
/// two
, y: int
/// before a plain comment
# plain
, z: int }
system s {
  entity C { id: uuid }
  /// documents e only
  event e: C event f: C
}
enum E { a
/// dangling
, /// after code: not a doc comment
/// documents b
b }
'''
    result = format_text(source)
    assert result.kept is None
    assert result.text == '''\
enum Tier {
  free
  /// documents nothing

  pro
}

type T {
  x: int
  /// one
  /// two

  y: int
  /// before a plain comment
  # plain
  z: int
}

system s {
  entity C {
    id: uuid
  }
  /// documents e only
  event e: C
  event f: C
}

enum E {
  a
  /// dangling
  /// after code: not a doc comment

  /// documents b
  b
}
'''
    assert format_source(result.text) == result.text
    assert comment_texts(source) == comment_texts(result.text)
    before, after = (parse_module(t, "x.integ", Diagnostics()) for t in (source, result.text))
    assert _shape(after) == _shape(before)
    assert [m.doc for m in after.declarations[0].members] == [None, None]
    assert [f.doc for f in after.declarations[1].fields] == [None, None, None]
    assert [getattr(m, "doc", None) for m in after.declarations[2].members] == [None, "documents e only", None]
    assert [m.doc for m in after.declarations[3].members] == [None, "documents b"]


def test_long_match_and_enum_break_into_lines():
    arms = ", ".join(f"value_number_{i} -> \"result number {i}\"" for i in range(5))
    source = f"flow f {{ map {{ x = match y {{ {arms} }} }} }}\n"
    out = format_source(source)
    assert "    x = match y {\n      value_number_0 -> \"result number 0\"\n" in out
    members = ", ".join(f"member_number_{i}" for i in range(12))
    out = format_source(f"enum Long {{ {members} }}\n")
    assert out.startswith("enum Long {\n  member_number_0\n  member_number_1\n")
    assert format_source(out) == out


def test_multiline_match_keeps_the_comma_before_a_negative_pattern():
    """One arm per line drops the commas, except before an arm that starts with a token that
    could continue the previous arm's result: `2` + newline + `-7 -> 3` reads as `2 - 7`.

    (The formatter used to drop that comma; its safeguard then kept the file unformatted, blaming
    `///` comments.)
    """
    from integc.diagnostics import Diagnostics
    from integc.formatter import _shape
    from integc.parser import parse_module

    source = ("flow f { map { x = match y { 1 -> 2, # c\n -7 -> 3 } } }\n"
              "flow g { map { x = match y { 0 -> 1 # before the comma\n , +7 -> 2, -8 -> f(a, # in a call\n"
              " b), -9 -> 3, _ -> 4 } } }\n")
    result = format_text(source)
    assert result.kept is None
    assert result.text == '''\
flow f {
  map {
    x = match y {
      1 -> 2,  # c
      -7 -> 3
    }
  }
}

flow g {
  map {
    x = match y {
      0 -> 1,  # before the comma
      +7 -> 2,
      -8 -> f(a,  # in a call
          b),
      -9 -> 3
      _ -> 4
    }
  }
}
'''
    assert format_source(result.text) == result.text
    assert comment_texts(source) == comment_texts(result.text)
    before, after = (parse_module(t, "x.integ", Diagnostics()) for t in (source, result.text))
    assert _shape(after) == _shape(before)
    # on one line, the arms are comma-separated as before
    assert format_source("flow f { map { x = match y { 1 -> 2 , -7 -> 3 } } }\n") == \
        "flow f {\n  map {\n    x = match y { 1 -> 2, -7 -> 3 }\n  }\n}\n"


def test_kept_reason_names_the_actual_problem():
    """When the safeguard keeps a file, the reason says what went wrong, not always `///` comments."""
    from integc.diagnostics import Diagnostics
    from integc.formatter import _kept_reason
    from integc.parser import parse_module

    def reason(before: str, after: str) -> str | None:
        check = Diagnostics()
        again = parse_module(after, "x.integ", check)
        return _kept_reason(parse_module(before, "x.integ", Diagnostics()), again, check, [], after)

    assert reason("enum E { a }\n", "enum E { a }\n") is None
    assert reason("/// d\nenum E { a }\n", "/// d\n\nenum E { a }\n") == \
        "its layout cannot be changed without changing what its `///` comments document"
    assert reason("enum E { a }\n", "enum E { b }\n") == \
        "the new layout would parse to a different syntax tree; this is a formatter bug, please report it"
    assert reason("enum E { a }\n", "enum E { a\n") == \
        "the new layout would not parse (E0101 at line 2: unexpected end of file); " \
        "this is a formatter bug, please report it"
    assert reason("enum E { a }\n", "enum E { a }  # new\n") == \
        "the new layout would lose or change comments; this is a formatter bug, please report it"


def test_syntax_error_is_reported_not_formatted():
    with pytest.raises(FormatError) as error:
        format_source("type A {\n  x int\n}\n", "bad.integ")
    assert [d.code for d in error.value.diagnostics] == ["E0101"]
    assert error.value.diagnostics[0].span.line == 2


def test_crlf_and_bom_are_normalised():
    assert format_source("\ufefftype A {\r\n x: int }\r\n") == "type A {\n  x: int\n}\n"


def test_empty_and_comment_only_files():
    assert format_source("") == ""
    assert format_source("\n\n") == ""
    assert format_source("# only\n\n\n# comments\n") == "# only\n\n# comments\n"


# ---------------------------------------------------------------- the command

def _integc(*args, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "integc", *args], cwd=cwd, input=stdin, text=True,
                          capture_output=True, env={**os.environ, "NO_COLOR": "1"}, timeout=120)


@pytest.fixture
def messy_folder(tmp_path):
    (tmp_path / "main.integ").write_text(MESSY.replace('import "b.integ"   # trailing comment on an import\n'
                                                       'import "a.integ"\n', ""), encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "tidy.integ").write_text("enum E { a, b }\n", encoding="utf-8")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "skip.integ").write_text("enum   E{a}\n", encoding="utf-8")
    return tmp_path


def test_cli_check_lists_files_and_exits_1(messy_folder):
    before = (messy_folder / "main.integ").read_text()
    done = _integc("fmt", "--check", cwd=messy_folder)
    assert done.returncode == 1
    assert "would reformat main.integ" in done.stderr
    assert "tidy.integ" not in done.stderr and "skip.integ" not in done.stderr
    assert (messy_folder / "main.integ").read_text() == before


def test_cli_diff_prints_a_unified_diff_and_writes_nothing(messy_folder):
    before = (messy_folder / "main.integ").read_text()
    done = _integc("fmt", "--diff", ".", cwd=messy_folder)
    assert done.returncode == 0
    assert done.stdout.startswith("--- a/main.integ\n+++ b/main.integ\n@@ ")
    assert "+enum Tier { free, pro, enterprise }" in done.stdout
    assert (messy_folder / "main.integ").read_text() == before


def test_cli_check_annotates_unformatted_files_for_github(messy_folder):
    done = _integc("fmt", "--check", "--format", "github", cwd=messy_folder)
    assert done.returncode == 1
    assert done.stdout == ("::error file=main.integ,title=integc fmt::main.integ is not formatted; "
                           "run `integc fmt`\n")


def test_cli_unwritable_file_is_reported(messy_folder, monkeypatch):
    from click.testing import CliRunner

    import integc.commands.fmt as fmt_command
    from integc.cli import main

    def refuse(path, text):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fmt_command, "write_atomic", refuse)
    monkeypatch.chdir(messy_folder)
    result = CliRunner().invoke(main, ["fmt"])
    assert result.exit_code == 1
    assert "error: cannot write main.integ: Permission denied" in result.output


def test_cli_rewrites_atomically_and_keeps_the_mode(messy_folder):
    target = messy_folder / "main.integ"
    target.chmod(0o640)
    done = _integc("fmt", cwd=messy_folder)
    assert done.returncode == 0, done.stderr
    assert "reformatted main.integ" in done.stderr
    assert target.read_text() == format_source(target.read_text())
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in messy_folder.iterdir()) == [".hidden", "main.integ", "sub"]
    assert _integc("fmt", "--check", cwd=messy_folder).returncode == 0


def test_cli_syntax_error_is_reported_and_the_file_kept(tmp_path):
    bad = tmp_path / "bad.integ"
    bad.write_text("type A {\n  x int\n}\n")
    good = tmp_path / "good.integ"
    good.write_text("enum   E{a}\n")
    done = _integc("fmt", cwd=tmp_path)
    assert done.returncode == 1
    assert "error[E0101]" in done.stderr and "bad.integ:2:" in done.stderr
    assert bad.read_text() == "type A {\n  x int\n}\n"
    assert good.read_text() == "enum E { a }\n"
    github = _integc("fmt", "--check", "--format", "github", cwd=tmp_path)
    assert github.returncode == 1
    assert github.stdout.startswith("::error file=bad.integ,line=2,")


def test_cli_stdin(tmp_path):
    done = _integc("fmt", "-", cwd=tmp_path, stdin="enum   E{a b}\n")
    assert (done.returncode, done.stdout) == (0, "enum E { a, b }\n")
    assert _integc("fmt", "--check", "-", cwd=tmp_path, stdin="enum   E{a}\n").returncode == 1


def test_cli_missing_path_is_a_usage_error(tmp_path):
    done = _integc("fmt", "nope.integ", cwd=tmp_path)
    assert done.returncode == 2
    assert "no such file or folder" in done.stderr
