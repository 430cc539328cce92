"""A hypothesis strategy for whole, valid .integ programs.

Each program has enums, a shared type, a source and a target system and a
flow whose mapping assigns every target field from a random, well-typed
expression (arithmetic, string functions, `match`, `if`, `??`, `each`,
records, unary minus, comparisons). Documentation and comments are sprinkled
on declarations, fields and assignments; `review_mutate.relayout` then scrambles the
layout.
"""
from __future__ import annotations

from hypothesis import strategies as st

MEMBER_POOL = ["red", "green", "blue", "small", "large", "open", "closed", "pro", "free", "x_1"]
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz #/`\"'=", min_size=0, max_size=10)


class _Program:
    def __init__(self, draw):
        self.draw = draw
        self.lines: list[str] = []

    def doc(self, indent: str = "") -> None:
        if self.draw(st.integers(0, 3)) == 0:
            for _ in range(self.draw(st.integers(1, 2))):
                self.lines.append(f"{indent}/// {self.draw(WORDS)}".rstrip())

    def comment(self, indent: str = "") -> None:
        if self.draw(st.integers(0, 5)) == 0:
            self.lines.append(f"{indent}# {self.draw(WORDS)}".rstrip())

    def trailing(self) -> str:
        return f"  # {self.draw(WORDS)}" if self.draw(st.integers(0, 6)) == 0 else ""


def _p(expr: str) -> str:
    """An operand: parenthesised unless it is a name, a literal, a call or already parenthesised."""
    simple = expr.replace("_", "a").replace(".", "a")
    if simple.isalnum() or (expr.startswith('"') and expr.count('"') == 2 and expr.endswith('"')):
        return expr
    if expr.startswith("(") and expr.endswith(")") and _balanced(expr[1:-1]):
        return expr
    return f"({expr})"


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return False
    return depth == 0


def _string_literal(draw) -> str:
    text = draw(st.text(alphabet="abc #/`{}-=", max_size=6))
    return '"' + text + '"'


@st.composite
def programs(draw) -> str:
    p = _Program(draw)
    members = draw(st.lists(st.sampled_from(MEMBER_POOL), min_size=1, max_size=4, unique=True))
    wired = draw(st.booleans())
    p.comment()
    p.lines.append('package gen.program version "1.0.0"')
    p.lines.append("")
    p.doc()
    if wired:
        body = ", ".join(f'{m} = "{m.upper()}"' for m in members)
    else:
        body = ", ".join(members)
    p.lines.append(f"enum Colour {{ {body} }}{p.trailing()}")
    p.lines.append("")
    p.doc()
    p.lines.append("type Part {")
    p.doc("  ")
    p.lines.append(f'  sku: string @length(1, 40){p.trailing()}')
    p.doc("  ")
    p.lines.append(f"  qty: int @range(0, 1000) = 1{p.trailing()}")
    p.lines.append("  note: string?")
    p.lines.append("}")
    p.lines.append("")
    p.doc()
    p.lines.append("system src {")
    p.lines.append('  owner "src@acme.example"')
    p.lines.append('  base_url "https://src.acme.example"')
    p.lines.append('  auth api_key { header "X-Key", secret "src-key" }')
    p.comment("  ")
    p.doc("  ")
    p.lines.append("  entity Item {")
    fields = [("id", "string @key"), ("s", "string"), ("n", "int"), ("d", "decimal"), ("f", "float"),
              ("b", "bool"), ("c", "Colour"), ("os", "string?"), ("on", "int?"), ("tags", "list<string>"),
              ("parts", "list<Part>"), ("main", "Part?")]
    for name, type_text in fields:
        p.doc("    ")
        p.comment("    ")
        p.lines.append(f"    {name}: {type_text}{p.trailing()}")
    p.lines.append("  }")
    p.lines.append('  expose Item at "/items" { list, get }')
    p.lines.append("  event item_changed: Item")
    p.lines.append("}")
    p.lines.append("")
    p.lines.append("system dst {")
    p.lines.append('  owner "dst@acme.example"')
    p.lines.append('  base_url "https://dst.acme.example"')
    p.lines.append("  auth bearer { secret \"dst-token\" }")
    p.lines.append("  entity Row {")
    targets = [("id", "string @key", "string"), ("s1", "string", "string"), ("s2", "string", "string"),
               ("i1", "int", "int"), ("i2", "int", "int"), ("dec", "decimal", "decimal"),
               ("flag", "bool", "bool"), ("colour", "Colour", "enum"), ("parts", "list<Part>", "parts"),
               ("first", "Part?", "part"), ("opt", "string?", "string")]
    for name, type_text, _ in targets:
        p.doc("    ")
        p.lines.append(f"    {name}: {type_text}")
    p.lines.append("  }")
    p.lines.append('  expose Row at "/rows" { list, get, create, update }')
    p.lines.append("}")
    p.lines.append("")
    p.doc()
    p.lines.append("flow items_to_rows {")
    p.lines.append("  from src.Item")
    p.lines.append("  to dst.Row")
    trigger = draw(st.sampled_from(["event src.item_changed", "schedule every 15m", 'schedule cron "0 2 * * 1"']))
    p.lines.append(f"  trigger {trigger}")
    p.lines.append("  map {")
    expr = _Exprs(draw, members)
    for name, _, kind in targets:
        p.comment("    ")
        value = "id" if name == "id" else expr.of(kind, 3)
        p.lines.append(f"    {name} = {value}{p.trailing()}")
    p.lines.append("  }")
    p.lines.append("  retry 3 backoff exponential 1s max 1m")
    p.lines.append("  on_error dead_letter")
    p.lines.append("}")
    p.comment()
    return "\n".join(p.lines) + "\n"


class _Exprs:
    def __init__(self, draw, members):
        self.draw = draw
        self.members = members

    def pick(self, options):
        return self.draw(st.sampled_from(options))

    def of(self, kind: str, depth: int) -> str:
        return getattr(self, f"_{kind}")(depth)

    def _string(self, depth: int) -> str:
        leaves = ["s", "id", _string_literal(self.draw), "to_string(n)", '(os ?? "none")']
        if depth <= 0:
            return self.pick(leaves)
        d = depth - 1
        choice = self.pick(range(9))
        if choice == 0:
            return f"{_p(self._string(d))} + {_p(self._string(d))}"
        if choice == 1:
            return f"{self.pick(['upper', 'lower', 'trim'])}({self._string(d)})"
        if choice == 2:
            return f"concat({self._string(d)}, {self._string(d)}, {_string_literal(self.draw)})"
        if choice == 3:
            arms = ", ".join(f"{m} -> {self._string(0)}" for m in self.members)
            if self.draw(st.booleans()):
                arms = ", ".join(f"{m} -> {self._string(0)}" for m in self.members[:1]) + f", _ -> {self._string(0)}"
            return f"match c {{ {arms} }}"
        if choice == 4:
            return f"if {self._bool(d)} then {self._string(d)} else {self._string(d)}"
        if choice == 5:
            return f"substring({self._string(d)}, 0, {self.pick(['1', '3', 'n'])})"
        if choice == 6:
            return f"({self._string(d)})"
        if choice == 7:
            return f"join(tags, {_string_literal(self.draw)})"
        return f"main.sku ?? {_p(self._string(d))}"

    def _int(self, depth: int) -> str:
        leaves = ["n", "1", "42", "len(s)", "(on ?? 0)", "len(tags)"]
        if depth <= 0:
            return self.pick(leaves)
        d = depth - 1
        choice = self.pick(range(7))
        if choice == 0:
            return f"{_p(self._int(d))} {self.pick(['+', '-', '*'])} {_p(self._int(d))}"
        if choice == 1:
            return f"-{_p(self._int(d))}"
        if choice == 2:
            return f"({_p(self._int(d))} + 1) * 2"
        if choice == 3:
            return f"abs({self._int(d)})"
        if choice == 4:
            arms = ", ".join(f"{m} -> {i}" for i, m in enumerate(self.members))
            return f"match c {{ {arms} }}"
        if choice == 5:
            return f"if {self._bool(d)} then {self._int(d)} else {self._int(d)}"
        return "(main.qty ?? 0)"

    def _decimal(self, depth: int) -> str:
        if depth <= 0:
            return self.pick(["d", "n", "2"])
        d = depth - 1
        return self.pick([f"{_p(self._decimal(d))} * {_p(self._decimal(d))}", f"d + {_p(self._int(d))}", "d", "-d",
                          f"({self._decimal(d)})"])

    def _bool(self, depth: int) -> str:
        leaves = ["b", "true", "(n > 3)", '(s == "x")']
        if depth <= 0:
            return self.pick(leaves)
        d = depth - 1
        return self.pick([f"{_p(self._bool(d))} and {_p(self._bool(d))}", f"{_p(self._bool(d))} or {_p(self._bool(d))}",
                          f"not {_p(self._bool(d))}", f"{_p(self._int(d))} >= {_p(self._int(d))}",
                          f"({self._bool(d)})", f"{_p(self._string(d))} != {_p(self._string(d))}"])

    def _enum(self, depth: int) -> str:
        if self.draw(st.booleans()):
            return "c"
        arms = ", ".join(f'{m} -> "{self.pick(self.members)}"' for m in self.members)
        return self.pick([f'"{self.pick(self.members)}"', f"match c {{ {arms} }}"])

    def _parts(self, depth: int) -> str:
        if self.draw(st.booleans()):
            return "parts"
        return f"each parts as p {{ sku = upper(p.sku) qty = p.qty * 2 note = p.note ?? {_string_literal(self.draw)} }}"

    def _part(self, depth: int) -> str:
        if self.draw(st.booleans()):
            return "main"
        return f"{{ sku = {self._string(1)}, qty = {self._int(1)} }}"
