"""Hypothesis strategies for syntactically plausible .integ programs.

Built from grammar/integ.lark: package, imports, types, enums, systems
(title/owner/base_url, auth, handles, entities with annotated fields, expose,
operations, events, k8s settings) and flows (endpoints, triggers, write,
map blocks with the whole expression language, retry, on_error, tests).
Names come from small pools so references often resolve and the checker and
the targets get exercised, not only the parser; every choice also has a
wrong alternative (unknown names, bad regexes, odd literals, missing or
duplicated clauses) so the diagnostics paths run too.
"""
from __future__ import annotations

from hypothesis import strategies as st

TYPES = ["Money", "Address", "Line"]
ENUMS = ["Tier", "Status"]
SYSTEMS = ["crm", "billing", "erp"]
ENTITIES = ["Customer", "Account", "Order"]
FIELDS = ["id", "name", "email", "tier", "amount", "tags", "address", "status", "from", "type", "key",
          "created_at", "`first-name`", "`x y`", "count"]
MEMBERS = ["free", "pro", "enterprise", "open", "closed"]
PRIMITIVES = ["string", "int", "decimal", "float", "bool", "date", "datetime", "duration", "uuid", "email",
              "url", "bytes", "json"]
FUNCTIONS = ["lower", "upper", "trim", "concat", "substring", "replace", "split", "join", "len", "to_string",
             "to_int", "to_decimal", "to_float", "round", "abs", "now", "format_datetime", "parse_datetime",
             "uuid5", "coalesce", "lowr", "nope"]
STRINGS = ['"x"', '""', '"GB"', '"^[A-Z]{2}$"', '"%Y-%m-%d"', '"a\\"b"', '"\\u{1F600}"', '"tab\\t"',
           '"{{ x }}"', '"${HOME}"', '"&a *a"', '"#"', '"\\n---\\n"', '"\u202e"', '"https://x.example/a"']
DURATIONS = ["0ms", "500ms", "2s", "15m", "1h", "1d", "90m", "7h"]
SEPARATORS = [" ", "\n", ", ", ",\n", "  \n  "]

name_of = st.sampled_from
sep = st.sampled_from(SEPARATORS)
number = st.one_of(st.integers(-3, 1000).map(str), st.sampled_from(["0", "1", "3.14", "-7", "1000000000",
                                                                    "9223372036854775807"]))
string = st.sampled_from(STRINGS)
literal = st.one_of(number, string, st.sampled_from(["true", "false", "null"] + DURATIONS))


@st.composite
def type_ref(draw, depth: int = 0) -> str:
    choice = draw(st.integers(0, 9))
    if depth < 3 and choice == 0:
        text = f"list<{draw(type_ref(depth + 1))}>"
    elif depth < 3 and choice == 1:
        text = f"map<{draw(type_ref(depth + 1))}>"
    elif choice in (2, 3):
        text = draw(name_of(TYPES + ENUMS + ENTITIES + ["Nope", "crm.Customer"]))
    else:
        text = draw(name_of(PRIMITIVES))
    return text + draw(st.sampled_from(["", "", "?"]))


value = st.recursive(literal | name_of(MEMBERS),
                     lambda inner: st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
                     | st.lists(st.tuples(name_of(["a", "b", '"c"']), inner), max_size=3)
                     .map(lambda kv: "{ " + ", ".join(f"{k}: {v}" for k, v in kv) + " }"),
                     max_leaves=6)

annotation = st.one_of(
    st.sampled_from(["@key", "@readonly", "@pii", "@deprecated", "@unknown"]),
    st.tuples(st.sampled_from(["@length", "@range"]), number, number).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
    st.sampled_from(['@pattern("^[A-Z]{3}$")', '@pattern("[A-Z")', '@pattern("(a+)+$")', '@pattern("")']),
    value.map(lambda v: f"@example({v})"),
    string.map(lambda s: f"@deprecated({s})"),
)


@st.composite
def field(draw) -> str:
    doc = draw(st.sampled_from(["", "/// a field\n", "/// {{ x }} ${y} &a\n"]))
    annotations = " ".join(draw(st.lists(annotation, max_size=3)))
    default = draw(st.sampled_from(["", "", f" = {draw(value)}"]))
    return f"{doc}{draw(name_of(FIELDS))}: {draw(type_ref())} {annotations}{default}"


@st.composite
def fields(draw, min_size: int = 0) -> str:
    return draw(sep).join(draw(st.lists(field(), min_size=min_size, max_size=6)))


@st.composite
def type_decl(draw) -> str:
    return f"type {draw(name_of(TYPES))} {{ {draw(fields())} }}"


@st.composite
def enum_decl(draw) -> str:
    members = draw(st.lists(st.tuples(name_of(MEMBERS), st.sampled_from(["", ' = "OPEN"', " = " + '"x"'])),
                            max_size=5))
    return f"enum {draw(name_of(ENUMS))} {{ " + draw(sep).join(m + w for m, w in members) + " }"


AUTHS = ['auth none', 'auth bearer { secret "tok" }', 'auth api_key { header "X-Api-Key" secret "k" }',
         'auth basic { secret "b" }', 'auth mtls { secret "m" }',
         'auth oauth2 { token_url "https://login.example/t" scopes ["api", "read"] secret "o" }',
         'auth oauth2 { scopes [] }', 'auth magic { secret "s" }', 'auth bearer']
OPS = ["list", "get", "create", "update", "patch", "delete", "frobnicate"]


@st.composite
def system_member(draw) -> str:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return f"{draw(st.sampled_from(['title', 'owner', 'base_url']))} {draw(string)}"
    if kind == 1:
        return draw(st.sampled_from(AUTHS))
    if kind == 2:
        return draw(st.sampled_from(["handles pii", "handles nothing"]))
    if kind in (3, 4, 5):
        return f"entity {draw(name_of(ENTITIES))} {{ {draw(fields(min_size=1))} }}"
    if kind == 6:
        ops = ", ".join(draw(st.lists(name_of(OPS), max_size=4)))
        path = draw(st.sampled_from(['"/customers"', '"/a/b"', '"x"', '"/{id}"', '""']))
        return f"expose {draw(name_of(ENTITIES))} at {path} {{ {ops} }}"
    if kind == 7:
        method = draw(st.sampled_from(["GET", "POST", "PUT", "FETCH"]))
        path = draw(st.sampled_from(['"/c/{id}/merge"', '"/c"', '"/c/{nope}"']))
        params = ", ".join(draw(st.lists(st.tuples(name_of(["id", "body", "q"]), type_ref())
                                         .map(lambda t: f"{t[0]}: {t[1]}"), max_size=3)))
        returns = draw(st.sampled_from(["", f" -> {draw(type_ref())}"]))
        return f"operation {draw(name_of(['merge', 'sync', 'list']))} {method} {path} ({params}){returns}"
    if kind == 8:
        return f"event {draw(name_of(['changed', 'created']))}: {draw(type_ref())}"
    return draw(st.sampled_from(['k8s { namespace "apps" port 8080 labels { app: "crm" } }',
                                 'k8s { namespace "Bad_NS" }', "k8s { replicas 3 }"]))


@st.composite
def system(draw) -> str:
    members = draw(st.lists(system_member(), min_size=1, max_size=8))
    doc = draw(st.sampled_from(["", "/// The CRM.\n"]))
    return f"{doc}system {draw(name_of(SYSTEMS))} {{\n  " + "\n  ".join(members) + "\n}"


# ---------------------------------------------------------------- expressions

path_expr = st.lists(name_of(FIELDS + ["it", "t", "nope"]), min_size=1, max_size=3).map(".".join)


def _expr_extend(inner):
    binary = st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "==", "!=", "<", "<=", ">", ">=", "and",
                                               "or", "??"]), inner).map(lambda t: f"{t[0]} {t[1]} {t[2]}")
    unary = st.tuples(st.sampled_from(["-", "not ", "+"]), inner).map(lambda t: t[0] + t[1])
    paren = inner.map(lambda e: f"({e})")
    call = st.tuples(name_of(FUNCTIONS), st.lists(inner, max_size=3)).map(lambda t: f"{t[0]}({', '.join(t[1])})")
    cond = st.tuples(inner, inner, inner).map(lambda t: f"if {t[0]} then {t[1]} else {t[2]}")
    arm = st.tuples(st.one_of(name_of(MEMBERS + ["_"]), literal), inner).map(lambda t: f"{t[0]} -> {t[1]}")
    match = st.tuples(inner, st.lists(arm, min_size=1, max_size=4)).map(
        lambda t: f"match {t[0]} {{ " + ", ".join(t[1]) + " }")
    assignment = st.tuples(name_of(FIELDS), inner).map(lambda t: f"{t[0]} = {t[1]}")
    each = st.tuples(inner, name_of(["it", "t"]), st.lists(assignment, max_size=3)).map(
        lambda t: f"each {t[0]} as {t[1]} {{ " + " ".join(t[2]) + " }")
    record = st.lists(assignment, max_size=3).map(lambda xs: "{ " + ", ".join(xs) + " }")
    member = st.tuples(inner, name_of(FIELDS)).map(lambda t: f"({t[0]}).{t[1]}")
    return st.one_of(binary, unary, paren, call, cond, match, each, record, member)


expression = st.recursive(st.one_of(literal, path_expr), _expr_extend, max_leaves=10)


TRIGGERS = ["trigger event crm.changed", "trigger event crm.nope", "trigger schedule every 15m",
            "trigger schedule every 90m", "trigger schedule every 0ms", 'trigger schedule cron "0 2 * * 1"',
            'trigger schedule cron "61 * * * *"', 'trigger webhook "/hooks/crm"', 'trigger webhook "hooks"',
            'trigger manual "finance runs it"', "trigger manual"]


@st.composite
def flow_member(draw) -> str:
    kind = draw(st.integers(0, 7))
    if kind == 0:
        return f"from {draw(name_of(SYSTEMS))}.{draw(name_of(ENTITIES))}"
    if kind == 1:
        return f"to {draw(name_of(SYSTEMS))}.{draw(name_of(ENTITIES))}"
    if kind == 2:
        return draw(st.sampled_from(TRIGGERS))
    if kind == 3:
        return f"write {draw(st.sampled_from(['create', 'update', 'upsert', 'merge']))}"
    if kind in (4, 5):
        assignments = draw(st.lists(st.tuples(name_of(FIELDS), expression), max_size=6))
        return "map {\n    " + draw(st.sampled_from(["\n    ", ", ", " "])).join(
            f"{f} = {e}" for f, e in assignments) + "\n  }"
    if kind == 6:
        return draw(st.sampled_from(["retry 5 backoff exponential 2s max 5m", "retry 3", "retry 0",
                                     "retry 1000 backoff linear 1s", "retry 2 backoff fibonacci 1s"]))
    return draw(st.sampled_from(["on_error dead_letter", "on_error skip", "on_error halt", "on_error panic",
                                 'test "t" { input { id: "1" } expect { id: "1" } }']))


@st.composite
def flow(draw) -> str:
    # Usually a complete flow (so the checker and the targets run), sometimes a partial one.
    members = [f"from {draw(name_of(SYSTEMS))}.{draw(name_of(ENTITIES))}",
               f"to {draw(name_of(SYSTEMS))}.{draw(name_of(ENTITIES))}", draw(st.sampled_from(TRIGGERS))]
    members += draw(st.lists(flow_member(), max_size=5))
    members = draw(st.permutations(members))
    if draw(st.booleans()):
        members = members[: draw(st.integers(0, len(members)))]
    return f"flow {draw(name_of(['sync', 'push', 'pull']))} {{\n  " + "\n  ".join(members) + "\n}"


declaration = st.one_of(type_decl(), enum_decl(), system(), system(), flow(), flow(),
                        st.sampled_from(['package acme.test version "1.0.0"', 'import "other.integ"',
                                         'import "../escape.integ"', "# a comment"]))


@st.composite
def program(draw) -> str:
    declarations = draw(st.lists(declaration, min_size=1, max_size=8))
    return "\n\n".join(declarations) + draw(st.sampled_from(["\n", "", "\n\n# end\n"]))


@st.composite
def coherent_program(draw) -> str:
    """A program shaped like the examples (two systems, one flow) with random details:
    far more of these check clean, so `build` and every target run on odd inputs."""
    source_fields = draw(st.lists(st.tuples(name_of(["name", "email", "amount", "tags", "note", "`x-y`"]),
                                            name_of(["string", "int", "decimal", "list<string>", "email",
                                                     "bool", "string?", "Tier"])),
                                  max_size=4, unique_by=lambda t: t[0]))
    body = "\n    ".join(f"{n}: {t}" for n, t in source_fields)
    enum = draw(st.sampled_from(["enum Tier { free, pro }", 'enum Tier { free = "FREE", pro = "P&\\"#" }']))
    note = draw(string)
    target_expr = draw(st.sampled_from(["id", "lower(id)", "upper(id) + \"-\" + id", "concat(id, \"x\")",
                                        "trim(id)", 'replace(id, "a", "b")']))
    label = draw(st.sampled_from(['"x"', "to_string(len(id))", 'if id == "a" then "b" else "c"',
                                  'match id { "a" -> "b", _ -> "c" }', note]))
    trigger = draw(st.sampled_from(["schedule every 15m", 'schedule cron "0 2 * * 1"', 'webhook "/hooks/a"',
                                    "event src.changed", f"manual {note}"]))
    return f"""
/// {draw(st.sampled_from(["Source.", "{{ doc }} ${{x}} &a *a !!str", "--- # doc"]))}
system src {{
  owner {note}
  title {note}
  base_url "https://src.example/api"
  auth bearer {{ secret "src-token" }}
  entity Item {{
    id: string @key
    {body}
  }}
  expose Item at "/items" {{ list, get }}
  event changed: Item
}}
{enum}
system dst {{
  owner "dst@example"
  entity Row {{
    id: string @key
    label: string @length(0, 100)
  }}
  expose Row at "/rows" {{ list, get, create, update }}
}}
flow copy {{
  from src.Item
  to dst.Row
  trigger {trigger}
  map {{
    id = {target_expr}
    label = {label}
  }}
  retry 3 backoff exponential 1s max 1m
}}
"""
