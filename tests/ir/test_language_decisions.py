"""docs/language.md, executable: each decision it records, checked against the compiler.

Each case is a `map` body over a fixed pair of entities; it either checks
cleanly and yields the expected expression shape and type, or reports the
expected codes. When a decision changes, this fails and docs/language.md must
change with it.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from integc import ir
from integc.pipeline import compile_project

HEAD = """
enum Tier { free, pro = "PRO", enterprise }
enum Plan { basic, premium }
type Addr { city: string  country: string? }
type Line { label: string  qty: int }
type Out { label: string  qty: int? }
system s {
  owner "a@example.com"
  base_url "https://s.example.com"
  handles pii
  entity Src {
    id: uuid @key  name: string  mail: email  site: url  n: int  m: int  d: decimal  f: float  b: bool
    tier: Tier  ot: Tier?  on: int?  os: string?  addr: Addr?  tags: list<string>  lines: list<Line>
    when: datetime  label: string  mails: list<email>  nums: list<int>  olines: list<Line>?
  }
  expose Src at "/src" { list, get }
}
system t {
  owner "b@example.com"
  base_url "https://t.example.com"
  handles pii
  entity Dst {
    id: string @key
    ri: int = 0  rs: string = "x"
    s: string?  e: email?  u: url?  uu: uuid?  i: int?  dec: decimal?  fl: float?  bo: bool?  plan: Plan?
    tier: Tier?  addr: Addr?  outs: list<Out>?  names: list<string>?  decs: list<decimal>?  emails: list<email>?
    j: json?
  }
  expose Dst at "/dst" { list, get, create, update }
}
"""


def _flow(body: str, id_line: str = 'id = "k"') -> str:
    return HEAD + f"""
flow f {{
  from s.Src
  to t.Dst
  trigger schedule every 1h
  map {{
    {id_line}
    {body}
  }}
  retry 1
}}
"""


def _compile(tmp_path: Path, source: str):
    (tmp_path / "main.integ").write_text(source, encoding="utf-8")
    return compile_project(tmp_path)


def _show(e) -> str:
    """A fully parenthesised rendering of an IR expression."""
    if isinstance(e, ir.Const):
        return repr(e.value)
    if isinstance(e, ir.Var):
        return e.name
    if isinstance(e, ir.Get):
        return (_show(e.obj) + "." if e.obj else "") + e.field
    if isinstance(e, ir.Call):
        return f"{e.func}({', '.join(_show(a) for a in e.args)})"
    if isinstance(e, ir.Unary):
        return f"({e.op} {_show(e.operand)})"
    if isinstance(e, ir.Binary):
        return f"({_show(e.left)} {e.op} {_show(e.right)})"
    if isinstance(e, ir.Coalesce):
        return f"({_show(e.left)} ?? {_show(e.right)})"
    if isinstance(e, ir.If):
        return f"(if {_show(e.cond)} then {_show(e.then)} else {_show(e.otherwise)})"
    if isinstance(e, ir.Match):
        arms = [f"{a.value!r} -> {_show(a.expr)}" for a in e.arms]
        arms += [f"_ -> {_show(e.default)}"] if e.default is not None else []
        return f"(match {_show(e.subject)} {{{', '.join(arms)}}})"
    if isinstance(e, ir.Each):
        return f"(each {_show(e.source)} as {e.var} {{{' '.join(a.field + '=' + _show(a.expr) for a in e.fields)}}})"
    if isinstance(e, ir.Record):
        return "{" + " ".join(a.field + "=" + _show(a.expr) for a in e.fields) + "}"
    raise AssertionError(e)


def _typed(e) -> str:
    return f"{e.type}{'?' if e.optional else ''}"


# body -> (shape, type): checks cleanly
CLEAN = {
    # precedence and associativity
    "bo = on ?? 0 > 3": ("((on ?? 0) > 3)", "bool"),
    "i = on ?? 1 + 2": ("(on ?? (1 + 2))", "int"),
    "i = on ?? n ?? 2": ("(on ?? (n ?? 2))", "int"),
    's = if b then name else os ?? "z"': ("(if b then name else (os ?? 'z'))", "string"),
    "i = 1 + (if b then 1 else 2)": ("(1 + (if b then 1 else 2))", "int"),
    "i = n - m - 1": ("((n - m) - 1)", "int"),
    "bo = not n == m": ("(not (n == m))", "bool"),
    "bo = b or b and b": ("(b or (b and b))", "bool"),
    # numbers
    "dec = n / m": ("(n / m)", "decimal"),
    "fl = f * n": ("(f * n)", "float"),
    "dec = d + n": ("(d + n)", "decimal"),
    'dec = to_decimal("1.50")': ("to_decimal('1.50')", "decimal"),
    # absence
    "bo = on == null": ("(on == None)", "bool"),
    "bo = on != 3": ("(on != 3)", "bool"),
    "bo = on > 3": ("(on > 3)", "bool?"),
    "i = on + 1": ("(on + 1)", "int?"),
    "bo = not (on > 1)": ("(not (on > 1))", "bool?"),
    "i = coalesce(on, 1)": ("coalesce(on, 1)", "int"),
    "s = addr.city": ("addr.city", "string?"),
    's = match on { 1 -> "a", _ -> "b" }': ("(match on {1 -> 'a', _ -> 'b'})", "string?"),
    "rs = os": ("os", "string?"),  # a defaulted target takes an optional value
    # strings and the text functions
    "e = lower(mail)": ("lower(mail)", "email"),
    "u = trim(site)": ("trim(site)", "url"),
    "uu = upper(id)": ("upper(id)", "uuid"),
    "s = name + mail": ("(name + mail)", "string"),
    # enums
    'tier = "PRO"': ("'PRO'", "Tier"),
    'tier = "pro"': ("'PRO'", "Tier"),
    'tier = ot ?? "free"': ("(ot ?? 'free')", "Tier"),
    'plan = if b then "basic" else "premium"': ("(if b then 'basic' else 'premium')", "Plan"),
    'bo = ot == "pro"': ("(ot == 'PRO')", "bool"),
    "s = to_string(tier)": ("to_string(tier)", "string"),
    'plan = match tier { free -> "basic", "PRO" -> "premium", enterprise -> "premium" }':
        ("(match tier {'free' -> 'basic', 'PRO' -> 'premium', 'enterprise' -> 'premium'})", "Plan"),
    # match subjects
    's = match b { true -> "y", false -> "n" }': ("(match b {True -> 'y', False -> 'n'})", "string"),
    'i = match name { "a" -> 1, _ -> 0 }': ("(match name {'a' -> 1, _ -> 0})", "int"),
    "bo = match n { -1 -> false, _ -> true }": ("(match n {-1 -> False, _ -> True})", "bool"),
    # records, each, lists
    "addr = { city = name  country = os }": ("{city=name country=os}", "Addr"),
    "outs = each lines as l { label = l.label + name  qty = l.qty }":
        ("(each lines as l {label=(l.label + name) qty=l.qty})", "list<Out>"),
    "outs = each lines as l { label = label }": ("(each lines as l {label=label})", "list<Out>"),
    "outs = each olines as l { label = l.label }": ("(each olines as l {label=l.label})", "list<Out>?"),
    "names = mails": ("mails", "list<email>"),
    "decs = nums": ("nums", "list<int>"),
    'names = split(name, ",")': ("split(name, ',')", "list<string>"),
}

# body -> codes reported
BROKEN = {
    "bo = n < m < 3": ["E0101"],
    "i = 1 + if b then 1 else 2": ["E0101"],
    "fl = d + f": ["E0301"],
    "bo = d < f": ["E0301"],
    "bo = d == f": ["E0301"],
    "dec = 1.5": ["E0301"],
    "s = tier": ["E0301"],
    "s = name + tier": ["E0301"],
    'tier = "Pro"': ["E0301"],
    'tier = "gold"': ["E0301"],
    "plan = tier": ["E0301"],
    "tier = pro": ["E0201"],  # enum members are string literals in expressions
    "e = lower(name)": ["E0301"],
    'e = mail + ""': ["E0301"],
    's = match b { true -> "y" }': ["E0304"],
    "i = match name { \"a\" -> 1 }": ["E0304"],
    'plan = match tier { free -> "basic", pro -> "premium" }': ["E0304"],
    's = match f { 1.5 -> "a", _ -> "b" }': ["E0301"],
    's = match d { 1 -> "a", _ -> "b" }': ["E0301"],
    's = match n { "1" -> "a", _ -> "b" }': ["E0301"],
    's = match n { 1 -> "a", 1 -> "b", _ -> "c" }': ["E0202"],
    "outs = each lines as l { label = l.label  qty = qty }": ["E0201"],
    "names = each tags as x { label = x }": ["E0301"],
    "s = { city = name }": ["E0301"],
    "j = { a = 1 }": ["E0301"],
    "emails = tags": ["E0301"],
    "names = lines": ["E0301"],
}


@pytest.mark.parametrize("body", CLEAN)
def test_decision_checks_cleanly(body: str, tmp_path: Path) -> None:
    result = _compile(tmp_path, _flow(body))
    assert [f"{d.code} {d.message}" for d in result.diagnostics.sorted()] == []
    expr = result.project.flows[0].assignments[1].expr
    assert (_show(expr), _typed(expr)) == CLEAN[body]


@pytest.mark.parametrize("body", BROKEN)
def test_decision_reports(body: str, tmp_path: Path) -> None:
    result = _compile(tmp_path, _flow(body))
    assert sorted({d.code for d in result.diagnostics.sorted()}) == BROKEN[body]


@pytest.mark.parametrize("id_line, codes", [
    ("id = to_string(on > 3)", ["E0303"]),
    ("id = to_string(on + 1)", ["E0303"]),
    ("id = to_string(b and on > 1)", ["E0303"]),
    ("id = to_string(on == 3)", []),
    ('id = if on > 1 then "a" else "b"', []),  # an absent condition takes the else branch
    ("id = os ?? name", []),
])
def test_absence_reaching_a_required_field(id_line: str, codes: list[str], tmp_path: Path) -> None:
    result = _compile(tmp_path, _flow("", id_line))
    assert sorted({d.code for d in result.diagnostics.sorted()}) == codes


def test_flow_defaults_and_retry_shorthand(tmp_path: Path) -> None:
    result = _compile(tmp_path, _flow(""))
    flow = result.project.flows[0]
    assert (flow.write, flow.on_error) == ("upsert", "dead_letter")
    assert (flow.retry.attempts, flow.retry.backoff, flow.retry.initial_ms, flow.retry.max_ms) == \
        (1, "exponential", 1000, 60000)


@pytest.mark.parametrize("retry, expected", [
    ("retry 5 backoff fixed 10s", ("fixed", 10000, 60000)),
    ("retry 5 backoff exponential 2s max 5m", ("exponential", 2000, 300000)),
    ("retry 5 backoff exponential 2m", ("exponential", 120000, 120000)),
])
def test_retry_forms(retry: str, expected: tuple, tmp_path: Path) -> None:
    result = _compile(tmp_path, _flow("").replace("retry 1", retry))
    r = result.project.flows[0].retry
    assert (r.backoff, r.initial_ms, r.max_ms) == expected


@pytest.mark.parametrize("retry, code", [
    ("retry 5 backoff linear 1s", "E0201"),
    ("retry 0", "E0209"),
    ("retry 101", "E0209"),
    ("retry 5 backoff fixed 2s max 1s", "E0209"),
])
def test_retry_errors(retry: str, code: str, tmp_path: Path) -> None:
    result = _compile(tmp_path, _flow("").replace("retry 1", retry))
    assert {d.code for d in result.diagnostics.sorted()} == {code}


def test_no_package_line_names_the_package_after_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "my-proj.v2"
    folder.mkdir()
    result = _compile(folder, 'system a { owner "o@example.com" }\n')
    assert (result.project.package, result.project.version) == ("my_proj_v2", "0.0.0")


def test_package_only_in_the_entry_file(tmp_path: Path) -> None:
    (tmp_path / "other.integ").write_text('package x.y version "1.0.0"\n', encoding="utf-8")
    result = _compile(tmp_path, 'import "other.integ"\nsystem a { owner "o@example.com" }\n')
    assert [(d.code, Path(d.span.file).name, d.span.line) for d in result.diagnostics.sorted()] == \
        [("E0209", "other.integ", 1)]


ENTITY = 'enum E {{ a, b }}\nsystem s {{\n  owner "o@example.com"\n  entity R {{\n    k: string @key\n    {}\n  }}\n}}\n'


@pytest.mark.parametrize("field, codes", [
    ("x: uuid @key", ["E0203"]),  # a second key; but each kind below is a valid key on its own
    ("x: string? @key", ["E0205"]),
    ("x: decimal @key", ["E0205"]),
    ("x: E @key", ["E0205"]),
    ("x: list<string> @key", ["E0205"]),
    ("x: int @length(1, 5)", ["E0205"]),
    ("x: bytes @length(1, 5)", []),
    ("x: map<int> @length(1, 5)", []),
    ("x: list<int> @length(0, 5)", []),
    ("x: email @length(1, 5)", []),
    ("x: string @range(1, 5)", ["E0205"]),
    ("x: decimal @range(0.5, 5)", []),
    ("x: int @range(0.5, 5)", ["E0205"]),
    ("x: int @pattern(\"x\")", ["E0205"]),
    ("x: url @pattern(\"^https\")", []),
    ("x: E @pattern(\"a\")", ["E0205"]),
    ("x: string @pattern(\"[a\")", ["E0204"]),
    ("x: string @length(5, 1)", ["E0204"]),
    ("x: string @length(-1, 1)", ["E0204"]),
    ("x: list<string?>", ["E0205"]),
    ("x: E = a", []),
    ("x: E = \"b\"", []),
])
def test_field_annotations(field: str, codes: list[str], tmp_path: Path) -> None:
    result = _compile(tmp_path, ENTITY.format(field))
    assert sorted({d.code for d in result.diagnostics.sorted()}) == codes


@pytest.mark.parametrize("key", ["string", "uuid", "email", "url", "int"])
def test_key_kinds(key: str, tmp_path: Path) -> None:
    result = _compile(tmp_path, ENTITY.format("y: int").replace("k: string @key", f"k: {key} @key"))
    assert result.diagnostics.sorted() == []


def test_wire_forms(tmp_path: Path) -> None:
    result = _compile(tmp_path, ENTITY.format(
        'w: duration = 90s  h: duration = 500ms  dm: decimal = "1.10"  e2: E = b  by: bytes = "aGVsbG8="'))
    fields = {f.name: f.default for f in result.project.systems[0].entities[0].fields}
    assert (fields["w"], fields["h"], fields["dm"], fields["e2"], fields["by"]) == \
        ("PT90S", "PT0.500S", "1.10", "b", "aGVsbG8=")


def test_k8s_clause(tmp_path: Path) -> None:
    result = _compile(tmp_path, 'system s {\n  owner "o@example.com"\n'
                                '  k8s { namespace "billing" port 8443 labels { app: "billing" } }\n}\n')
    deploy = result.project.systems[0].deploy
    assert (deploy.namespace, deploy.port, deploy.labels) == ("billing", 8443, (("app", "billing"),))


def test_credentials_are_found_in_comments(tmp_path: Path) -> None:
    result = _compile(tmp_path, '# old key: sk_live_abcdefghijklmnop\n/// see https://admin:hunter2@crm.example/api\n'
                                'system a { owner "o@example.com" }\n')
    found = [(d.code, d.span.line) for d in result.diagnostics.sorted()]
    assert found == [("E0502", 1), ("E0502", 2)]
    assert all("hunter2" not in d.message and "sk_live" not in d.message for d in result.diagnostics.sorted())


def test_python_only_patterns_are_e0204_at_check_time(tmp_path: Path) -> None:
    result = _compile(tmp_path, ENTITY.format('x: string @pattern("(?P<n>a)")'))
    assert [d.code for d in result.diagnostics.sorted()] == ["E0204"]
    assert "ECMA-262" in result.diagnostics.sorted()[0].message
