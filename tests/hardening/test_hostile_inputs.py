"""Never a traceback, never a hang: named hostile inputs through `integc check`
and `integc build` (the CLI, jailed), each within a time bound.

Each case is a project; it must give exit 0 or 1 with coded diagnostics (and
the expected code where there is one), write nothing outside its output
folder, and keep its diagnostic output short.
"""
from __future__ import annotations

import os

import pytest

from bugs import BUGS
from hsupport import (EXAMPLES, Outcome, assert_handled, policy_build, policy_check, read_tree, run_integc,
                      write_project)

FLOW = """
system a {
  owner "o"
  entity E { id: string @key
    n: int
    s: string
    b: bool
    tags: list<string>
    t: T? }
  expose E at "/e" { list, get, create, update }
}
type T { x: int }
system b {
  owner "o"
  entity F { id: string @key
    n: int
    s: string }
  expose F at "/f" { list, get, create, update }
}
flow f {
  from a.E
  to b.F
  trigger schedule every 15m
  map { id = id
    s = s
    n = EXPR }
  retry 3
}
"""


def flow_with(expr: str) -> str:
    return FLOW.replace("EXPR", expr)


def deep(open_: str, middle: str, close: str, n: int) -> str:
    return open_ * n + middle + close * n


N = 5000

# name -> (main.integ text or bytes, integc.toml or None, codes that must be among the diagnostics)
CASES = {
    # ---- nesting (E0102, not RecursionError)
    "parentheses_5000": (flow_with(deep("(", "n", ")", N)), None, {"E0102"}),
    "unary_minus_5000": (flow_with("-" * N + "n"), None, {"E0102"}),
    "unary_minus_spaced_5000": (flow_with("- " * N + "n"), None, {"E0102"}),
    "not_5000": (flow_with("if " + "not " * N + "b then 1 else 2"), None, {"E0102"}),
    "calls_5000": (flow_with(deep("abs(", "n", ")", N)), None, {"E0102"}),
    "member_chain_5000": (flow_with("t" + ".x" * N), None, {"E0102"}),
    "coalesce_chain_5000": (flow_with(" ?? ".join(["n"] * N)), None, {"E0102"}),
    "if_chain_5000": (flow_with("if b then 1 else " * N + "2"), None, {"E0102"}),
    "nested_if_condition_3000": (flow_with("if " + deep("(if b then ", "b", " else b)", 3000) + " then 1 else 2"),
                                 None, {"E0102"}),
    "match_nested_2000": (flow_with(deep("match n { 1 -> ", "n", ", _ -> 0 }", 2000)), None, {"E0102"}),
    "records_nested_3000": (flow_with(deep("{ a = ", "n", " }", 3000)), None, {"E0102"}),
    "each_nested_2000": (flow_with(deep("each tags as t { a = ", "t", " }", 2000)), None, {"E0102"}),
    "list_types_5000": ("type X { v: " + deep("list<", "int", ">", N) + " }\n", None, {"E0102"}),
    "map_types_5000": ("type X { v: " + deep("map<", "int", ">", N) + " }\n", None, {"E0102"}),
    "optional_list_types_3000": ("type X { v: " + deep("list<", "int?", ">?", 3000) + " }\n", None, {"E0102"}),
    "list_values_5000": ("type X { v: json @example(" + deep("[", "1", "]", N) + ") }\n", None, {"E0102"}),
    "object_values_5000": (FLOW.replace("EXPR", "n").replace("retry 3", "retry 3 test \"t\" { input "
                                                                         + deep("{ a: ", "1", " }", N)
                                                                         + " expect {} }"), None, {"E0102"}),
    "sum_chain_100000": (flow_with(" + ".join(["n"] * 100_000)), None, set()),  # E0102 or clean
    "product_chain_20000": (flow_with(" * ".join(["n"] * 20_000)), None, set()),
    "mixed_nesting_just_under_limit": (flow_with(deep("(", "n", ")", 100)), None, set()),
    # ---- lexical
    "identifier_200k_declared": ("type " + "A" * 200_000 + " { x: int }\n", None, set()),
    "identifier_300_flow": (FLOW.replace("flow f", "flow " + "f" * 300).replace("EXPR", "n"), None, set()),
    "identifier_200k_field": ("type T { " + "f" * 200_000 + ": int }\n", None, set()),
    "backticked_200k_field": ("type T { `" + "-" * 200_000 + "`: int }\n", None, set()),
    "string_200k": ('type T { x: string = "' + "s" * 200_000 + '" }\n', None, set()),
    "comment_200k": ("# " + "c" * 200_000 + "\ntype T { x: int }\n", None, set()),
    "doc_comment_200k": ("/// " + "d" * 200_000 + "\ntype T { x: int }\n", None, set()),
    "error_at_column_150k": ("type T { x: int }" + " " * 150_000 + "@ }\n", None, {"E0101"}),
    "error_after_long_string": ('type T { x: string = "' + "a" * 150_000 + '" ! }\n', None, {"E0101"}),
    "unterminated_string_long": ('type T { x: string = "' + "a" * 150_000 + "\n}\n", None, {"E0101"}),
    "nul_byte": (b"type T { x: int }\x00\n", None, {"E0103"}),
    "nul_in_string": (b'type T { x: string = "a\x00b" }\n', None, {"E0103"}),
    "invalid_utf8": (b"type T { x: int }\xff\xfe\n", None, {"E0103"}),
    "invalid_utf8_overlong": (b"type T { x: string = \"\xc0\xaf\" }\n", None, {"E0103"}),
    "invalid_utf8_surrogate": (b"type T { x: string = \"\xed\xa0\x80\" }\n", None, {"E0103"}),
    "invalid_utf8_truncated": (b"type T { x: string = \"\xe2\x82\" }\n", None, {"E0103"}),
    "utf16_with_bom": ("type T { x: int }\n".encode("utf-16"), None, {"E0103"}),
    "bom_only": (b"\xef\xbb\xbf", None, set()),
    "bom_twice": (b"\xef\xbb\xbf\xef\xbb\xbftype T { x: int }\n", None, {"E0101"}),
    "bom_in_middle": ("type T {\ufeff x: int }\n", None, {"E0101"}),
    "empty_file": ("", None, set()),
    "only_whitespace": (" \t\n\r\n\x0b\x0c" * 1000, None, set()),
    "only_comments": ("# a\n/// b\n" * 1000, None, set()),
    "lone_cr_line_endings": ("type T {\r  x: int\r}\r", None, set()),
    "unicode_identifier": ("type Café { x: int }\n", None, {"E0101"}),
    "bidi_override_outside_string": ("type T\u202e { x: int }\n", None, {"E0101"}),
    "ansi_escape_outside_string": ("type T\x1b[2J { x: int }\n", None, {"E0101"}),
    "line_separator_outside_string": ("type T\u2028{ x: int }\n", None, {"E0101"}),
    "integer_4301_digits": ('type T { x: int = ' + "9" * 4301 + ' }\n', None, {"E0105"}),
    "negative_integer_5000_digits": ('type T { x: int = -' + "9" * 5000 + ' }\n', None, {"E0105"}),
    "duration_5000_digits": (flow_with("n").replace("every 15m", "every " + "9" * 5000 + "m"), None, {"E0105"}),
    "integer_just_over_64_bits": ('type T { x: int = 9223372036854775808 }\n', None, {"E0105"}),
    "float_overflow": ('type T { x: float = ' + "9" * 400 + '.0 }\n', None, {"E0105"}),
    "float_exponent_overflow": ('type T { x: float = 1.0e99999 }\n', None, {"E0105"}),
    "escape_above_unicode": ('type T { x: string = "\\u{110000}" }\n', None, {"E0105"}),
    "escape_surrogate": ('type T { x: string = "\\u{D800}" }\n', None, {"E0105"}),
    "escape_nul": ('type T { x: string = "\\u{0}" }\n', None, set()),
    "escape_unknown": ('type T { x: string = "\\q" }\n', None, {"E0105"}),
    "string_ending_in_backslash": ('type T { x: string = "abc\\" }\n', None, {"E0101"}),
    "unterminated_backtick": ("type T { `abc: int }\n", None, {"E0101"}),
    "empty_backticks": ("type T { ``: int }\n", None, {"E0101"}),
    "stray_bytes_every_char": ("".join(chr(c) for c in range(1, 128)) + "\n", None, {"E0101"}),
    "keywords_everywhere": ("type type { type: type }\nenum enum { enum }\nsystem system { entity entity "
                            "{ from: from } }\nflow flow { from flow to flow }\n", None, set()),
    # ---- breadth (flat, not nested): must stay fast
    "enum_20000_members": ("enum Big { " + " ".join(f"m{i}" for i in range(20_000)) + " }\n", None, set()),
    "fields_5000": ("type T { " + " ".join(f"f{i}: int" for i in range(5000)) + " }\n", None, set()),
    "errors_5000": ("type T { " + " ".join(f"f{i}: Nope{i}" for i in range(5000)) + " }\n", None, {"E0201"}),
    "duplicates_2000": ("type T { x: int }\n" * 2000, None, {"E0202"}),
    "imports_of_self_1000": ('import "main.integ"\n' * 1000 + "type T { x: int }\n", None, set()),
    # ---- integc.toml
    "toml_invalid": (flow_with("n"), "entry = \n", {"E0403"}),
    "toml_invalid_utf8": (flow_with("n"), b"entry = \"main.integ\"\n\xff\xfe", {"E0403"}),
    "toml_unknown_key": (flow_with("n"), "colour = true\n", {"E0403"}),
    "toml_wrong_type": (flow_with("n"), "[limits]\nmax_depth = \"deep\"\n", {"E0403"}),
    "toml_limit_out_of_range": (flow_with("n"), "[limits]\nmax_depth = 100000\nmax_files = 0\n", {"E0403"}),
    "toml_entry_missing": (flow_with("n"), "entry = \"nope.integ\"\n", {"E0403"}),
    "toml_deep_arrays": (flow_with("n"), "x = " + deep("[", "1", "]", 100_000) + "\n", {"E0403"}),
    # targets are configured for builds: `check` does not look at [targets.*] (see BUILD_CASES)
    "toml_unknown_target": (flow_with("n"), "[targets.nope]\nx = 1\n", set()),
    "toml_bad_target_option": (flow_with("n"), "[targets.openapi]\nformat = \"xml\"\n", set()),
    # found by fuzz/fuzz_compile.py: URLs urlsplit refuses, or accepts wrongly
    "base_url_unclosed_ipv6": ('system s {\n  owner "o"\n  base_url "https://[crm.example/api"\n}\n', None, {"E0209"}),
    "token_url_unclosed_ipv6": ('system s {\n  owner "o"\n  auth oauth2 { token_url "https://[x/t" secret "s" }\n}\n',
                                None, {"E0209"}),
    "base_url_port_out_of_range": ('system s {\n  owner "o"\n  base_url "https://crm.example:99999/api"\n}\n', None,
                                   {"E0209"}),
    "base_url_port_not_a_number": ('system s {\n  owner "o"\n  base_url "https://crm.example:abc/api"\n}\n', None,
                                   {"E0209"}),
    "base_url_empty_host": ('system s {\n  owner "o"\n  base_url "https://:80/api"\n}\n', None, {"E0209"}),
    "cron_last_day_of_month": (flow_with("n").replace("schedule every 15m", 'schedule cron "0 2 L * *"'), None,
                               {"E0209"}),
    "cron_nth_weekday": (flow_with("n").replace("schedule every 15m", 'schedule cron "0 2 * * 5#3"'), None,
                         {"E0209"}),
    # found by fuzz/fuzz_compile.py: operation paths the OpenAPI target cannot template
    "operation_path_open_brace": ('system s {\n owner "o"\n entity P { id: string @key }\n'
                                  ' operation op GET "/products/{" (id: string) -> P\n}\n', None, set()),
    "operation_path_double_braces": ('system s {\n owner "o"\n entity P { id: string @key }\n'
                                     ' operation op GET "/p/{{id}}" (id: string) -> P\n}\n', None, set()),
    "operation_path_close_brace": ('system s {\n owner "o"\n entity P { id: string @key }\n'
                                   ' operation op GET "/p/id}" (id: string) -> P\n}\n', None, set()),
    "type_requiring_itself": ("""
type Loop { me: Loop
  v: int @example(1) }
system s {
  owner "o"
  entity E { id: string @key @example("1")
    loop: Loop }
  expose E at "/e" { list, get }
}
system t {
  owner "o"
  entity F { id: string @key
    loop: Loop }
  expose F at "/f" { list, get, create, update }
}
flow f {
  from s.E
  to t.F
  trigger schedule every 15m
  map { id = id
    loop = loop }
  retry 3
}
""", None, set()),
    "entity_exposed_twice": ('system s {\n owner "o"\n entity P { id: string @key }\n expose P at "/a" { list }\n'
                             ' expose P at "/b" { get }\n}\n', None, set()),
    # found by fuzz/fuzz_compile.py: a default its own constraints refuse
    "default_outside_length": ('system s {\n  owner "o"\n  entity E {\n    id: string @key\n'
                               '    code: string @length(5, 10) = ""\n  }\n  expose E at "/e" { get }\n}\n', None, set()),
}

KNOWN = {
}


def _case_params() -> list:
    return [pytest.param(name, id=name, marks=[pytest.mark.xfail(strict=True, reason=BUGS[KNOWN[name]])]
                         if name in KNOWN else []) for name in CASES]


def _write(tmp_path, name):
    text, toml, _ = CASES[name]
    project = write_project(tmp_path / "p", text, toml=None)
    if toml is not None:
        (project / "integc.toml").write_bytes(toml if isinstance(toml, bytes) else toml.encode("utf-8"))
    return project


@pytest.mark.parametrize("name", _case_params())
def test_check_never_crashes(jail, tmp_path, name):
    project = _write(tmp_path, name)
    outcome = jail.run(["check", project], cwd=tmp_path, policy=policy_check(), timeout=90)
    assert_handled(outcome)
    expected = CASES[name][2]
    assert expected <= set(outcome.codes()), f"expected {expected}\n{outcome.describe()}"
    # Short output: no diagnostic repeats a long line or a long name (a few KB per problem at most).
    problems = max(1, len(outcome.codes()))
    assert len(outcome.output) <= 2000 * problems + 500, outcome.describe()
    # Control characters of the source never reach the terminal raw.
    for raw in ("\x1b", "\u202e", "\u2028", "\x00"):
        assert raw not in outcome.output, f"raw {raw!r} in the output\n{outcome.describe()}"


# name -> codes the build must report (on top of what check reports)
BUILD_CASES = {"parentheses_5000": set(), "list_types_5000": set(), "identifier_200k_declared": {"E0801"},
               "identifier_300_flow": {"E0801"}, "backticked_200k_field": set(), "string_200k": set(),
               "doc_comment_200k": set(), "nul_byte": set(), "invalid_utf8": set(), "bom_only": set(),
               "escape_nul": set(), "keywords_everywhere": set(), "enum_20000_members": set(),
               "toml_unknown_target": {"E0403"}, "toml_bad_target_option": {"E0403"},
               "default_outside_length": {"E0205"}, "operation_path_open_brace": {"E0209"},
               "operation_path_double_braces": {"E0209"}, "operation_path_close_brace": {"E0209"},
               "type_requiring_itself": {"E0205"}, "entity_exposed_twice": {"E0202"}}


BUILD_KNOWN: dict[str, str] = {}


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=[pytest.mark.xfail(strict=True, reason=BUGS[BUILD_KNOWN[name]])]
                 if name in BUILD_KNOWN else []) for name in BUILD_CASES])
def test_build_never_crashes(jail, tmp_path, name):
    project = _write(tmp_path, name)
    out = tmp_path / "out"
    outcome = jail.run(["build", project, "--out", out], cwd=tmp_path, policy=policy_build(out), timeout=120)
    assert_handled(outcome)
    assert (CASES[name][2] | BUILD_CASES[name]) <= set(outcome.codes()), outcome.describe()
    if outcome.code == 1:
        assert not out.exists(), "a failed build wrote output"


REDOS = """
system a {
  owner "o"
  entity E { id: string @key @example("1")
    code: string @example("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!") }
  expose E at "/e" { list, get }
}
system b {
  owner "o"
  entity F { id: string @key
    code: string @pattern("^(a+)+$") }
  expose F at "/f" { list, get, create, update }
}
flow f {
  from a.E
  to b.F
  trigger schedule every 15m
  map { id = id
    code = code }
  retry 3
}
"""


def test_build_time_example_check_is_bounded(jail, tmp_path):
    """The E0307 example check runs generated code at build time: a hostile pattern must not hang it."""
    project = write_project(tmp_path / "p", REDOS)
    out = tmp_path / "out"
    outcome = jail.run(["build", project, "--out", out], cwd=tmp_path, policy=policy_build(out), timeout=10)
    assert_handled(outcome)


def test_credential_scan_is_linear(jail, tmp_path):
    """Five 60 KB lines that almost look like URLs, and one real URL with a password."""
    text = ("# " + "a." * 30_000 + "\n") * 5 + "# x://user:pass@host\ntype T { x: int }\n"
    project = write_project(tmp_path / "p", text)
    outcome = jail.run(["check", project], cwd=tmp_path, timeout=8)
    assert_handled(outcome)
    assert "E0502" in outcome.codes()


def test_many_suggestions_stay_fast(jail, tmp_path):
    """1,500 imports of missing files beside 1,500 files: the answer within 10 s, not minutes."""
    files = {f"file_number_{i:05d}.integ": "" for i in range(1500)}
    main = "".join(f'import "missing_number_{i:05d}.integ"\n' for i in range(1500))
    project = write_project(tmp_path / "p", main, files=files)
    outcome = jail.run(["check", project], cwd=tmp_path, timeout=10)
    assert_handled(outcome)


@pytest.mark.parametrize("name", ["long_identifier_unknown", "long_invalid_webhook_path"])
def test_messages_stay_short(jail, tmp_path, name):
    """A message names the problem; it does not repeat 200,000 characters of input."""
    text = {
        "long_identifier_unknown": "type T { x: " + "A" * 200_000 + " }\n",
        "long_invalid_webhook_path": flow_with("n").replace("schedule every 15m",
                                                            'webhook "hooks ' + "x" * 200_000 + '"'),
    }[name]
    project = write_project(tmp_path / "p", text)
    outcome = jail.run(["check", project], cwd=tmp_path, timeout=60)
    assert_handled(outcome)
    assert len(outcome.output) < 5000, f"{len(outcome.output)} characters of diagnostics"


# ---------------------------------------------------------------- line endings and BOM

def _variants(text: str) -> dict[str, bytes]:
    return {"lf": text.encode("utf-8"), "crlf": text.replace("\n", "\r\n").encode("utf-8"),
            "cr": text.replace("\n", "\r").encode("utf-8"), "bom": b"\xef\xbb\xbf" + text.encode("utf-8"),
            "bom_crlf": b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"),
            "bom_cr": b"\xef\xbb\xbf" + text.replace("\n", "\r").encode("utf-8")}


def test_crlf_cr_and_bom_compile_the_same_as_lf(jail, tmp_path):
    """The multi-file example, every file converted: byte-identical outputs and identical diagnostics."""
    results = {}
    for variant in ("lf", "bom_crlf"):
        project = tmp_path / variant
        for source in EXAMPLES.joinpath("order-to-cash").rglob("*"):
            if source.is_file():
                target = project / source.relative_to(EXAMPLES / "order-to-cash")
                target.parent.mkdir(parents=True, exist_ok=True)
                data = source.read_bytes()
                if source.suffix == ".integ":
                    data = _variants(data.decode("utf-8"))[variant]
                target.write_bytes(data)
        out = tmp_path / f"out-{variant}"
        outcome = jail.run(["build", project, "--out", out, "--format", "json"], cwd=project,
                           policy=policy_build(out), timeout=120)
        assert_handled(outcome)
        results[variant] = (outcome.code, outcome.stdout, read_tree(out))
    for variant, result in results.items():
        assert result[0] == results["lf"][0], variant
        assert result[1] == results["lf"][1], variant
        assert result[2].keys() == results["lf"][2].keys(), variant
        for path in result[2]:
            assert result[2][path] == results["lf"][2][path], f"{variant}: {path} differs"


def test_crlf_diagnostics_point_at_the_same_place(jail, tmp_path):
    text = flow_with("nope + 1")
    spans = {}
    for variant, data in _variants(text).items():
        project = write_project(tmp_path / variant, data)
        outcome = jail.run(["check", project, "--format", "json"], cwd=project, timeout=60)
        assert_handled(outcome)
        import json
        spans[variant] = [(d["code"], d["line"], d["column"], d["end_line"], d["end_column"])
                          for d in json.loads(outcome.stdout)]
    assert all(value == spans["lf"] for value in spans.values()), spans


# ---------------------------------------------------------------- big inputs

def test_file_over_the_size_limit_is_refused_quickly(jail, tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    with open(project / "main.integ", "wb") as handle:
        handle.write(b"# " + b"x" * (10 * 1024 * 1024) + b"\n")
    outcome = jail.run(["check", project], cwd=tmp_path, timeout=30)
    assert_handled(outcome)
    assert outcome.codes() == ["E0104"], outcome.describe()
    assert outcome.seconds < 20


def test_imported_file_over_the_size_limit(jail, tmp_path):
    project = write_project(tmp_path / "p", 'import "big.integ"\ntype T { x: int }\n')
    with open(project / "big.integ", "wb") as handle:
        handle.write(b"#" * (10 * 1024 * 1024 + 1))
    outcome = jail.run(["check", project], cwd=tmp_path, timeout=30)
    assert_handled(outcome)
    assert "E0104" in outcome.codes()


def test_nine_megabytes_of_comments_compile(jail, tmp_path):
    """Just under a raised limit, cheap to lex: a clean result within the time bound."""
    line = "# " + "padding " * 12 + "\n"
    text = line * (9 * 1024 * 1024 // len(line)) + flow_with("n")
    project = write_project(tmp_path / "p", text, toml="[limits]\nmax_file_bytes = 10485760\n")
    outcome = jail.run(["check", project], cwd=tmp_path, timeout=90)
    assert_handled(outcome)
    assert outcome.code == 0, outcome.describe()


def test_one_long_line_of_nine_megabytes(jail, tmp_path):
    text = "type T { x: string = \"" + "y" * (9 * 1024 * 1024) + "\" }\n"
    project = write_project(tmp_path / "p", text)
    outcome = jail.run(["check", project], cwd=tmp_path, timeout=90)
    assert_handled(outcome)


def test_nine_megabytes_of_declarations_in_reasonable_time(tmp_path):
    """A valid, dense 9 MB file: refused at once with a coded diagnostic under the default limits."""
    fields = "\n".join(f"  f{j}: int" for j in range(50))
    block = "type T{} {{\n" + fields + "\n}}\n"
    parts, size, i = [], 0, 0
    while size < 9 * 1024 * 1024:
        part = block.format(i)
        parts.append(part)
        size += len(part)
        i += 1
    project = write_project(tmp_path / "p", "".join(parts))
    outcome = run_integc(["check", project], cwd=tmp_path, timeout=120)
    assert_handled(outcome)
    assert outcome.codes() == ["E0104"], outcome.describe()


# ---------------------------------------------------------------- the real entry point

@pytest.mark.parametrize("name", ["parentheses_5000", "invalid_utf8"])
def test_real_integc_process(tmp_path, name):
    """The same cases through a fresh `integc` process (not the jail server)."""
    project = _write(tmp_path, name)
    for command in (["check", project], ["build", project, "--out", tmp_path / "out"]):
        outcome = run_integc(command, cwd=tmp_path, timeout=90)
        assert_handled(outcome)
        assert CASES[name][2] <= set(outcome.codes()), outcome.describe()


def test_random_bytes_through_the_real_process(tmp_path):
    import random
    generator = random.Random(8)
    for index in range(2):
        data = bytes(generator.randrange(256) for _ in range(4000))
        project = write_project(tmp_path / f"p{index}", data)
        outcome = run_integc(["check", project], cwd=tmp_path, timeout=60)
        assert_handled(outcome)
        assert outcome.code == 1
