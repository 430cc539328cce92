"""One flow's mapping as straight-line Python: the body of its generated module.

The generator walks the typed IR once and writes plain statements: no tree is
interpreted at run time. Three parts come out of it:

- *validators*: module-level functions that check (and normalise) a record,
  list or map value read from the source, one per type and per shape of what
  the mapping reads from it;
- *constants*: precompiled regular expressions, enum value sets, match tables,
  decimal and format constants;
- the body of `map_record`: read and check every source field the mapping
  uses, then compute each target field inside its own `try` (zero cost in
  Python 3.11+) so a failure names the target path.

Safety: user text (field names, strings, patterns, enum values) only ever
reaches the code through `py()`, i.e. `repr()` of a plain JSON value. Every
identifier in the code is made here (`_s3`, `_t12`, `_chk4`, ...); no user
name becomes an identifier.
"""
from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, replace
from decimal import Decimal

from integc import ir
from integc.targets.mapping.schemas import decimal_text, wire_value

# Kinds carried as JSON strings; schema_common applies @length and @pattern to these.
STRING_KINDS = frozenset({"string", "date", "datetime", "duration", "uuid", "email", "url"})
TEXT_KINDS = STRING_KINDS | {"bytes", "decimal"}
TEXTUAL = frozenset({"string", "email", "url", "uuid", "enum"})  # what string functions accept
INT64 = (-(2 ** 63), 2 ** 63 - 1)

# The inline test that sends a value to the slow path (which converts or raises).
_FAST_FAIL = {
    "string": "type({v}) is not str",
    "email": "type({v}) is not str or _RE_EMAIL.fullmatch({v}) is None",
    "url": "type({v}) is not str or _RE_URL.fullmatch({v}) is None",
    "uuid": "type({v}) is not str or _RE_UUID.fullmatch({v}) is None",
    "date": "type({v}) is not str or not _is_date({v})",
    "datetime": "type({v}) is not str or not _is_datetime({v})",
    "duration": "type({v}) is not str or _RE_DURATION.fullmatch({v}) is None",
    "bytes": "type({v}) is not str or _RE_BASE64.fullmatch({v}) is None",
    "decimal": "type({v}) is not str or _RE_DECIMAL.fullmatch({v}) is None",
    "int": "type({v}) is not int or not -9223372036854775808 <= {v} <= 9223372036854775807",
    "float": "type({v}) is not float or not -_INF < {v} < _INF",
    "bool": "type({v}) is not bool",
}

BOOL = ir.TypeRef("bool")
STRING = ir.TypeRef("string")
DATETIME = ir.TypeRef("datetime")


class GenerationError(Exception):
    """The IR holds something this generator cannot translate (a front-end bug)."""


def py(value: object) -> str:
    """A JSON-like value as a Python literal. The only way user text enters the code."""
    _check_literal(value)
    text = repr(value)
    return f"({text})" if text.startswith("-") else text


def _check_literal(value: object) -> None:
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise GenerationError("a non-finite float cannot be a constant")
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_literal(item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise GenerationError("object keys must be strings")
            _check_literal(item)
        return
    raise GenerationError(f"cannot write a {type(value).__name__} as a constant")


# ---------------------------------------------------------------- what the mapping reads

class Node:
    """What the mapping reads of one value: all of it (`full`), or some fields / its items."""

    __slots__ = ("full", "fields", "items")

    def __init__(self) -> None:
        self.full = False
        self.fields: dict[str, Node] = {}
        self.items: Node | None = None

    def child(self, name: str) -> "Node":
        return self.fields.setdefault(name, Node())

    def item(self) -> "Node":
        if self.items is None:
            self.items = Node()
        return self.items

    def shape(self) -> object:
        if self.full:
            return "full"
        return (tuple(sorted((k, v.shape()) for k, v in self.fields.items())),
                self.items.shape() if self.items is not None else None)


def children(e: ir.Expr) -> list:
    if isinstance(e, ir.Get):
        return [e.obj] if e.obj is not None else []
    if isinstance(e, ir.Call):
        return list(e.args)
    if isinstance(e, ir.Unary):
        return [e.operand]
    if isinstance(e, (ir.Binary, ir.Coalesce)):
        return [e.left, e.right]
    if isinstance(e, ir.If):
        return [e.cond, e.then, e.otherwise]
    if isinstance(e, ir.Match):
        return [e.subject] + [a.expr for a in e.arms] + ([e.default] if e.default is not None else [])
    if isinstance(e, ir.Each):
        return [e.source] + [a.expr for a in e.fields]
    if isinstance(e, ir.Record):
        return [a.expr for a in e.fields]
    return []


def read_tree(assignments: tuple[ir.Assignment, ...]) -> Node:
    """The source paths the assignments read; a value used other than by navigation is read in full."""
    root = Node()

    def path_node(e: ir.Expr, env: dict) -> Node | None:
        if isinstance(e, ir.Var):
            return env.get(e.name)
        if e.obj is None:
            return root.child(e.field)
        if isinstance(e.obj, (ir.Get, ir.Var)):
            parent = path_node(e.obj, env)
        else:
            visit(e.obj, env)
            parent = None
        return parent.child(e.field) if parent is not None else None

    def visit(e: ir.Expr, env: dict) -> None:
        if isinstance(e, (ir.Get, ir.Var)):
            node = path_node(e, env)
            if node is not None:
                node.full = True
            return
        if isinstance(e, ir.Each):
            if isinstance(e.source, (ir.Get, ir.Var)):
                node = path_node(e.source, env)
                item = node.item() if node is not None else None
            else:
                visit(e.source, env)
                item = None
            inner = {**env, e.var: item}
            for a in e.fields:
                visit(a.expr, inner)
            return
        for child in children(e):
            visit(child, env)

    for assignment in assignments:
        visit(assignment.expr, {})
    return root


def uses_now(assignments: tuple[ir.Assignment, ...]) -> bool:
    stack = [a.expr for a in assignments]
    while stack:
        e = stack.pop()
        if isinstance(e, ir.Call) and e.func == "now":
            return True
        stack.extend(children(e))
    return False


# ---------------------------------------------------------------- code building blocks

@dataclass(frozen=True)
class C:
    """A compiled expression: Python code for its value at run time.

    `code` is always a primary expression (a name, literal, call, subscript or
    parenthesised), so it can be combined without precedence surprises. A
    decimal is carried as its wire string unless `num` (then a Decimal or an
    int). `atom` code may be evaluated more than once.
    """

    code: str
    type: ir.TypeRef
    optional: bool
    num: bool = False
    atom: bool = False
    safe: bool = False  # evaluating `code` cannot raise (a read of checked input, a constant)


class Block:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def emit(self, line: str) -> None:
        self.lines.append(line)

    def nest(self, header: str, inner: "Block | list[str]") -> None:
        lines = inner.lines if isinstance(inner, Block) else inner
        self.lines.append(header)
        self.lines.extend("    " + line for line in (lines or ["pass"]))


class TPath:
    """A target path (`target.lines[2].sku`) as code that builds it, run only on failure."""

    def __init__(self, parts: tuple = (("s", "target"),)) -> None:
        self.parts = parts

    def field(self, name: str) -> "TPath":
        return TPath(self.parts + (("s", "." + name),))

    def index(self, code: str) -> "TPath":
        return TPath(self.parts + (("s", "["), ("c", f"str({code})"), ("s", "]")))

    def code(self) -> str:
        merged: list[tuple[str, str]] = []
        for kind, text in self.parts:
            if kind == "s" and merged and merged[-1][0] == "s":
                merged[-1] = ("s", merged[-1][1] + text)
            else:
                merged.append((kind, text))
        return " + ".join(py(text) if kind == "s" else text for kind, text in merged)


@dataclass(frozen=True)
class Ctx:
    source_vars: dict
    vars: dict
    path: TPath

    def with_var(self, name: str, value: C) -> "Ctx":
        return Ctx(self.source_vars, {**self.vars, name: value}, self.path)

    def at(self, path: TPath) -> "Ctx":
        return Ctx(self.source_vars, self.vars, path)


def _bounds_test(value: str, lo: object, hi: object) -> str:
    if lo is not None and hi is not None:
        return f"{py(lo)} <= {value} <= {py(hi)}"
    if lo is not None:
        return f"{py(lo)} <= {value}"
    return f"{value} <= {py(hi)}"


# ---------------------------------------------------------------- the generator

class FlowGenerator:
    def __init__(self, project: ir.Project, flow: ir.Flow) -> None:
        self.project = project
        self.flow = flow
        self.source = project.entity(flow.source)
        self.target = project.entity(flow.target)
        self.constants: list[tuple[str, str]] = []
        self._constant_names: dict[str, str] = {}
        self.functions: list[str] = []
        self._validators: dict[tuple, str] = {}
        self._formatters: dict[str, str] = {}
        self._counter = 0

    # ------------------------------------------------------------ names and constants

    def temp(self, prefix: str = "_t") -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    def constant(self, code: str, prefix: str = "_K") -> str:
        name = self._constant_names.get(code)
        if name is None:
            name = self.temp(prefix)
            self._constant_names[code] = name
            self.constants.append((name, code))
        return name

    def regex(self, pattern: str) -> str | None:
        try:
            re.compile(pattern)
        except re.error:
            return None  # the checker reports E0204; the check then fails at run time
        return self.constant(f"_re.compile({py(pattern)})", "_RE")

    def decimal_constant(self, value: object) -> str:
        return self.constant(f"_D({py(decimal_text(value))})", "_K")

    # ------------------------------------------------------------ generate

    def generate(self) -> dict:
        root = read_tree(self.flow.assignments)
        body = Block()
        body.emit("if type(source) is not dict:")
        body.emit("    source = _in_object(source, 'source')")
        source_vars: dict[str, str] = {}
        for index, f in enumerate(self.source.fields):
            node = root.fields.get(f.name)
            if node is None:
                continue
            var = f"_s{index}"
            source_vars[f.name] = var
            for line in self.field_lines(f, node, "source", var, py("source." + f.name)):
                body.emit(line)
        if uses_now(self.flow.assignments):
            body.emit("_now = _utc_now() if now is None else now")
        ctx = Ctx(source_vars, {}, TPath())
        result = self.build_record(self.flow.assignments, ir.TypeRef("entity", self.flow.target), body, ctx)
        body.emit(f"return {result}")
        return {"constants": self.constants, "functions": self.functions, "body": body.lines}

    # ------------------------------------------------------------ reading the source

    def field_lines(self, f: ir.Field, node: Node | None, src: str, var: str, path: str,
                    flag: str | None = None) -> list[str]:
        """Read field `f` of the dict `src` into `var`, checked; `path` is code naming it in errors.

        With `flag`, every line that replaces the value read (a default, a conversion)
        also sets that variable, so a caller can tell whether `src` can be used as it is.
        """
        key = py(f.name)
        bounded = f.type.kind == "int" and f.minimum is not None and f.maximum is not None \
            and INT64[0] <= f.minimum and f.maximum <= INT64[1]
        checks = self.value_lines(f.type, var, path, node, flag, bounded) + self.constraint_lines(
            f, f.type, var, lambda message: f"raise MappingError({path}, {message})")
        default = wire_value(self.project, f.type, f.default) if f.has_default else None
        if default is not None:
            lines = [f"{var} = {src}.get({key}, _MISSING)", f"if {var} is _MISSING:", f"    {var} = {py(default)}"]
            if flag:
                lines.append(f"    {flag} = True")
            if checks:
                lines.append(f"elif {var} is not None:" if f.optional else "else:")
                lines += ["    " + line for line in checks]
            return lines
        if f.optional:
            lines = [f"{var} = {src}.get({key})"]
            if checks:
                lines.append(f"if {var} is not None:")
                lines += ["    " + line for line in checks]
            return lines
        lines = [f"{var} = {src}.get({key}, _MISSING)"]
        if f.type.kind == "json":
            lines += [f"if {var} is _MISSING:", f"    _in_json({var}, {path})"]
        return lines + checks

    def value_lines(self, t: ir.TypeRef, var: str, path: str, node: Node | None,
                    flag: str | None = None, bounded: bool = False) -> list[str]:
        """Check that `var` holds a `t` (it may be _MISSING or None: both fail), normalising it.

        `bounded`: an int field whose @range (checked next) lies within 64 bits, so the
        fast test need not check the 64-bit range too.
        """
        kind = t.kind
        mark = [f"    {flag} = True"] if flag else []
        if kind in _FAST_FAIL:
            fail = f"type({var}) is not int" if bounded else _FAST_FAIL[kind].format(v=var)
            if kind == "bool":
                return [f"if {fail}:", f"    _in_bool({var}, {path})"]
            if kind in TEXT_KINDS:
                slow = f"{var} = _in_text({py(kind)}, {var}, {path})"
            else:
                slow = f"{var} = _in_{kind}({var}, {path})"
            return [f"if {fail}:", "    " + slow] + mark
        if kind == "enum":
            members = tuple(m.wire for m in self.project.enum(t.ref).members)
            allowed = self.constant(f"frozenset({py(list(members))})", "_E")
            listed = self.constant(py(members), "_E")
            return [f"if type({var}) is not str or {var} not in {allowed}:",
                    f"    {var} = _in_enum({var}, {path}, {listed})"] + mark
        if kind == "json":
            return []
        if kind in ("type", "entity", "list", "map"):
            call = f"{self.validator(t, node)}({var}, {path})"
            if not flag:
                return [f"{var} = {call}"]
            return [f"y = {call}", f"if y is not {var}:", f"    {var} = y"] + mark
        raise GenerationError(f"unknown type kind {kind!r}")

    def validator(self, t: ir.TypeRef, node: Node | None) -> str:
        """The module-level function that checks and normalises a record, list or map value."""
        full = node is None or node.full
        key = (t, "full" if full else node.shape())
        name = self._validators.get(key)
        if name is not None:
            return name
        name = self.temp("_chk")
        self._validators[key] = name
        body = Block()
        if t.kind in ("type", "entity"):
            body.emit("if type(v) is not dict:")
            body.emit("    v = _in_object(v, path)")
            fields = [f for f in self.project.record_fields(t) if full or f.name in node.fields]
            # A record read in part is only navigated, never output: it is checked in place
            # and copied only when a default or a conversion changed what the mapping reads.
            flag = None if full else "changed"
            if flag:
                body.emit("changed = False")
            entries = []
            for index, f in enumerate(fields):
                var = f"x{index}"
                child = None if full else node.fields[f.name]
                for line in self.field_lines(f, child, "v", var, f"(path, {py(f.name)})", flag):
                    body.emit(line)
                entries.append((f.name, var, f.optional))
            if flag:
                copy = Block()
                self.emit_dict("r", entries, copy)
                copy.emit("return r")
                body.nest("if changed:", copy)
                body.emit("return v")
                function = Block()
                function.nest(f"def {name}(v, path):", body)
                self.functions.append("\n".join(function.lines))
                return name
            self.emit_dict("r", entries, body)
        elif t.kind == "list":
            item_node = None if full else node.items
            fast = self._item_test(t.item, item_node)
            if fast is not None:
                # Check the items where they are; build a new list only when an item is converted.
                complete = self._list_builder(t, item_node)
                body.emit("if type(v) is not list:")
                body.emit("    v = _in_list(v, path)")
                loop = Block()
                loop.nest("for x in v:", [f"if {fast}:", f"    return {complete}(v, path)"])
                body.nest("try:", loop)
                # an item's error is raised again by the complete check, with the item's index
                body.nest("except MappingError:", [f"return {complete}(v, path)"])
                body.emit("return v[:]" if full else "return v")  # a list that can reach the output is a copy
                function = Block()
                function.nest(f"def {name}(v, path):", body)
                self.functions.append("\n".join(function.lines))
                return name
            body.emit("if type(v) is not list:")
            body.emit("    v = _in_list(v, path)")
            body.emit("r = []")
            item = Block()
            for line in self.value_lines(t.item, "x", "(path, len(r))", item_node):
                item.emit(line)
            item.emit("r.append(x)")
            body.nest("for x in v:", item)
        elif t.kind == "map":
            body.emit("if type(v) is not dict:")
            body.emit("    v = _in_object(v, path)")
            body.emit("r = {}")
            item = Block()
            item.emit("if type(k) is not str:")
            item.emit("    _in_key(k, path)")
            for line in self.value_lines(t.item, "x", "(path, (k,))", None):
                item.emit(line)
            item.emit("r[k] = x")
            body.nest("for k, x in v.items():", item)
        else:
            raise GenerationError(f"no validator for {t}")
        body.emit("return r")
        function = Block()
        function.nest(f"def {name}(v, path):", body)
        self.functions.append("\n".join(function.lines))
        return name

    def _item_test(self, item: ir.TypeRef, node: Node | None) -> str | None:
        """A test, true for a list item `x` that needs more than a look (a conversion or an
        error). None when every item is rebuilt anyway (records read in full, lists, maps)."""
        kind = item.kind
        if kind in _FAST_FAIL:
            return _FAST_FAIL[kind].format(v="x")
        if kind == "enum":
            members = tuple(m.wire for m in self.project.enum(item.ref).members)
            allowed = self.constant(f"frozenset({py(list(members))})", "_E")
            return f"type(x) is not str or x not in {allowed}"
        if kind in ("type", "entity") and node is not None and not node.full:
            return f"{self.validator(item, node)}(x, path) is not x"
        return None

    def _list_builder(self, t: ir.TypeRef, item_node: Node | None) -> str:
        """A function that checks every item of a list into a new list (converting where needed)."""
        name = self.temp("_chk")
        body = Block()
        body.emit("r = []")
        item = Block()
        for line in self.value_lines(t.item, "x", "(path, len(r))", item_node):
            item.emit(line)
        item.emit("r.append(x)")
        body.nest("for x in v:", item)
        body.emit("return r")
        function = Block()
        function.nest(f"def {name}(v, path):", body)
        self.functions.append("\n".join(function.lines))
        return name

    def emit_dict(self, name: str, entries: list[tuple[str, str, bool]], block: Block) -> None:
        """`name = {...}` with the entries in order; optional ones only when not None."""
        lead = 0
        while lead < len(entries) and not entries[lead][2]:
            lead += 1
        block.emit(f"{name} = {{{', '.join(f'{py(k)}: {v}' for k, v, _ in entries[:lead])}}}")
        for key, value, optional in entries[lead:]:
            if optional:
                block.emit(f"if {value} is not None:")
                block.emit(f"    {name}[{py(key)}] = {value}")
            else:
                block.emit(f"{name}[{py(key)}] = {value}")

    # ------------------------------------------------------------ constraints

    def constraint_lines(self, f: ir.Field, t: ir.TypeRef, var: str, fail) -> list[str]:
        """Check @length / @range / @pattern of field `f` on the (non-None) wire value in `var`.

        The same rules as schema_common: strings and lists/maps have a length, a
        range applies to numbers (and to the items of a list of numbers), a
        pattern to strings (and to the items of a list of strings).
        """
        lines: list[str] = []
        kind = t.kind
        lo, hi = f.min_length, f.max_length
        if lo is not None or hi is not None:
            if kind == "bytes":
                lo = None if lo is None else 4 * -(-lo // 3)
                hi = None if hi is None else 4 * -(-hi // 3)
            if kind in STRING_KINDS or kind in ("list", "map", "bytes"):
                lines += [f"if not {_bounds_test(f'len({var})', lo, hi)}:",
                          "    " + fail(f"_m_len(len({var}), {py(lo)}, {py(hi)})")]
        if f.minimum is not None or f.maximum is not None:
            item_kind = t.item.kind if kind == "list" else kind
            value = "y" if kind == "list" else var
            test = None
            if item_kind in ("int", "float"):
                test = _bounds_test(value, f.minimum, f.maximum)
                shown = value
            elif item_kind == "decimal":
                lo_c = None if f.minimum is None else self.decimal_constant(f.minimum)
                hi_c = None if f.maximum is None else self.decimal_constant(f.maximum)
                shown = f"_dn({value})"
                test = (f"{lo_c} <= " if lo_c else "") + shown + (f" <= {hi_c}" if hi_c else "")
            if test is not None:
                check = [f"if not ({test}):",
                         "    " + fail(f"_m_range({shown}, {py(f.minimum)}, {py(f.maximum)})")]
                lines += check if kind != "list" else [f"for y in {var}:"] + ["    " + c for c in check]
        if f.pattern is not None:
            item_kind = t.item.kind if kind == "list" else kind
            if item_kind in STRING_KINDS or (kind != "list" and kind == "decimal"):
                regex = self.regex(f.pattern)
                value = "y" if kind == "list" else var
                test = f"{regex}.search({value}) is None" if regex else "True"
                check = [f"if {test}:", "    " + fail(f"_m_pattern({value}, {py(f.pattern)})")]
                lines += check if kind != "list" else [f"for y in {var}:"] + ["    " + c for c in check]
        return lines

    # ------------------------------------------------------------ the target record

    def build_record(self, assignments: tuple[ir.Assignment, ...], record: ir.TypeRef, block: Block,
                     ctx: Ctx) -> str:
        """Compute every assigned field into `block`; return the name of the dict holding the record."""
        fields = {f.name: f for f in self.project.record_fields(record)}
        entries = []
        for assignment in assignments:
            f = fields.get(assignment.field)
            if f is None:
                raise GenerationError(f"{record} has no field {assignment.field!r}")
            code, optional = self.assignment(assignment.expr, f, block, ctx.at(ctx.path.field(f.name)))
            entries.append((f.name, code, optional))
        name = self.temp("_r")
        self.emit_dict(name, entries, block)
        return name

    def assignment(self, expr: ir.Expr, f: ir.Field, block: Block, ctx: Ctx) -> tuple[str, bool]:
        """Compute one target field; return (code of its wire value, may it be None).

        Anything that can fail runs inside a `try` whose handler names the target path.
        """
        inner = Block()
        value = self.to_target(self.expr(expr, inner, ctx), expr, f, inner)
        if not inner.lines and value.safe and not self.target_checks(value, expr, f, value.code):
            return value.code, value.optional
        if value.atom:
            out = value.code
        else:
            out = self.temp("_o")
            inner.emit(f"{out} = {value.code}")
        checks = self.target_checks(value, expr, f, out)
        for line in checks:
            inner.emit(line)
        block.nest("try:", inner)
        block.emit("except MappingError:")
        block.emit("    raise")
        block.emit("except Exception as _e:")
        block.emit(f"    raise _terr({ctx.path.code()}, _e) from None")
        return out, value.optional

    def to_target(self, c: C, expr: ir.Expr, f: ir.Field, block: Block) -> C:
        """The value in the wire form of the target field's type."""
        want = f.type
        computed = not isinstance(expr, (ir.Get, ir.Var, ir.Const))
        if want.kind == "decimal":
            if c.type.kind == "int":
                return self.guarded(c, block, lambda x: f"str({x})", want)
            if c.num and isinstance(expr, ir.Binary) and expr.op in ("+", "-", "*", "/"):
                # a Decimal from a trapping context, so finite: a non-zero one is written by
                # plain formatting inline; a zero goes through _dec_out, which drops a "-"
                a = self.atom(c, block)
                return self.guarded(a, block, lambda x: f"(format({x}, 'f') if {x} else _dec_out({x}))", want)
            return self.wire(c, block)
        if want.kind == "float":
            if c.type.kind == "int":
                return self.guarded(c, block, lambda x: f"float({x})", want)
            if computed:
                return self.guarded(c, block, lambda x: f"_float_out({x})", want)
            return c
        if want.kind == "int" and computed and not _small_int(expr):
            return self.guarded(c, block, lambda x: f"_int_out({x})", want)
        if want.kind in ("list", "map") and c.type.kind == want.kind:
            src, dst = c.type.item.kind, want.item.kind
            convert = {("int", "decimal"): "str(y)", ("int", "float"): "float(y)"}.get((src, dst))
            if convert is not None:
                if want.kind == "list":
                    return self.guarded(c, block, lambda x: f"[{convert} for y in {x}]", want)
                return self.guarded(c, block, lambda x: f"{{k: {convert} for k, y in {x}.items()}}", want)
        if want.kind == "json":
            return self.wire(c, block)
        return c

    def target_checks(self, value: C, expr: ir.Expr, f: ir.Field, var: str) -> list[str]:
        lines: list[str] = []
        if value.optional and not f.optional and not f.has_default:
            lines += [f"if {var} is None:", "    raise _Fail('the value is absent, but the field is required')"]
        if self.constraints_hold(expr, f):
            return lines
        checks = self.constraint_lines(f, f.type, var, lambda message: f"raise _Fail({message})")
        if checks and value.optional:
            return lines + [f"if {var} is not None:"] + ["    " + line for line in checks]
        return lines + checks

    def constraints_hold(self, expr: ir.Expr, f: ir.Field) -> bool:
        """True when the value is known to meet f's constraints: a read of a field with the
        same or stricter ones, or a constant that meets them."""
        if f.min_length is None and f.max_length is None and f.minimum is None and f.maximum is None \
                and f.pattern is None:
            return True
        if isinstance(expr, ir.Const):
            return _const_meets(expr.value, f)
        if isinstance(expr, ir.Match) and all(isinstance(r, ir.Const) for r in _results(expr)):
            return all(_const_meets(r.value, f) for r in _results(expr))
        if not isinstance(expr, ir.Get):
            return False
        fields = self.source.fields if expr.obj is None else self.project.record_fields(expr.obj.type)
        src = next((x for x in fields if x.name == expr.field), None)
        if src is None or src.type != f.type:
            return False
        return ((f.min_length is None or (src.min_length is not None and src.min_length >= f.min_length))
                and (f.max_length is None or (src.max_length is not None and src.max_length <= f.max_length))
                and (f.minimum is None or (src.minimum is not None and src.minimum >= f.minimum))
                and (f.maximum is None or (src.maximum is not None and src.maximum <= f.maximum))
                and (f.pattern is None or src.pattern == f.pattern))

    # ------------------------------------------------------------ representation helpers

    def atom(self, c: C, block: Block) -> C:
        if c.atom:
            return c
        name = self.temp()
        block.emit(f"{name} = {c.code}")
        return replace(c, code=name, atom=True)

    def guarded(self, c: C, block: Block, make, type_: ir.TypeRef | None = None, num: bool = False) -> C:
        """make(code) applied to c, absent when c is absent."""
        type_ = type_ or c.type
        if c.optional:
            a = self.atom(c, block)
            return C(f"(None if {a.code} is None else {make(a.code)})", type_, True, num)
        return C(make(c.code), type_, False, num)

    def num(self, c: C, block: Block) -> C:
        """A decimal as a number (Decimal, or int) for arithmetic and comparison."""
        if c.type.kind == "decimal" and not c.num:
            return self.guarded(c, block, lambda x: f"_D({x})", c.type, num=True)
        return c

    def wire(self, c: C, block: Block) -> C:
        """A decimal in its wire form (a plain-notation string)."""
        if c.type.kind == "decimal" and c.num:
            return self.guarded(c, block, lambda x: f"_dec_out({x})", c.type)
        return c

    def coerce(self, c: C, result: ir.TypeRef, want_num: bool, block: Block) -> C:
        """A branch value in the representation of the construct's result type."""
        if result.kind == "decimal":
            if c.type.kind == "int":
                if want_num:
                    return replace(c, type=result, num=True)
                return self.guarded(c, block, lambda x: f"str({x})", result)
            if c.type.kind == "decimal":
                return self.num(c, block) if want_num else self.wire(c, block)
        if result.kind == "float" and c.type.kind == "int":
            return self.guarded(c, block, lambda x: f"float({x})", result)
        return c

    def lift(self, args: list[C], block: Block, make, type_: ir.TypeRef, num: bool = False) -> C:
        """make(codes) over the arguments; absent when any optional argument is absent."""
        ready = [self.atom(a, block) if a.optional else a for a in args]
        code = make(*[a.code for a in ready])
        absent = [a.code for a in ready if a.optional]
        if absent:
            test = " or ".join(f"{a} is None" for a in absent)
            return C(f"(None if {test} else {code})", type_, True, num)
        return C(code, type_, False, num)

    # ------------------------------------------------------------ expressions

    def expr(self, e: ir.Expr, block: Block, ctx: Ctx) -> C:
        method = getattr(self, "_" + type(e).__name__.lower(), None)
        if method is None:
            raise GenerationError(f"unknown expression node {type(e).__name__}")
        return method(e, block, ctx)

    def _const(self, e: ir.Const, block: Block, ctx: Ctx) -> C:
        value = wire_value(self.project, e.type, e.value)
        return C(py(value), e.type, value is None, atom=True, safe=True)

    def _var(self, e: ir.Var, block: Block, ctx: Ctx) -> C:
        found = ctx.vars.get(e.name)
        if found is None:
            raise GenerationError(f"unbound variable {e.name!r}")
        return found

    def _get(self, e: ir.Get, block: Block, ctx: Ctx) -> C:
        if e.obj is None:
            var = ctx.source_vars.get(e.field)
            if var is None:
                raise GenerationError(f"source field {e.field!r} was not read")
            return C(var, e.type, e.optional, atom=True, safe=True)
        obj = self.expr(e.obj, block, ctx)
        f = next((x for x in self.project.record_fields(e.obj.type) if x.name == e.field), None)
        if f is None:
            raise GenerationError(f"{e.obj.type} has no field {e.field!r}")
        key = py(f.name)
        if f.optional:
            access = f".get({key})"
        elif isinstance(e.obj, (ir.Get, ir.Var)) or not f.has_default:
            access = f"[{key}]"  # a checked record holds its required and defaulted fields
        else:
            access = f".get({key}, {py(wire_value(self.project, f.type, f.default))})"
        safe = obj.safe and isinstance(e.obj, (ir.Get, ir.Var))
        if obj.optional:
            o = self.atom(obj, block)
            return C(f"(None if {o.code} is None else {o.code}{access})", e.type, True, safe=safe)
        return C(f"{obj.code}{access}", e.type, e.optional, safe=safe)

    def _unary(self, e: ir.Unary, block: Block, ctx: Ctx) -> C:
        operand = self.expr(e.operand, block, ctx)
        if e.op == "not":
            return self.lift([operand], block, lambda a: f"(not {a})", BOOL)
        if e.op == "-":
            if e.type.kind == "decimal":
                return self.lift([self.num(operand, block)], block, lambda a: f"_X.minus({a})", e.type, num=True)
            return self.lift([operand], block, lambda a: f"(-{a})", e.type)
        if e.op == "+":
            return operand
        raise GenerationError(f"unknown unary operator {e.op!r}")

    def _binary(self, e: ir.Binary, block: Block, ctx: Ctx) -> C:
        if e.op in ("and", "or"):
            return self._logic(e, block, ctx)
        left = self.expr(e.left, block, ctx)
        right = self.expr(e.right, block, ctx)
        if e.op in ("==", "!="):
            return self._equality(e, left, right, block)
        if e.op in ("<", "<=", ">", ">="):
            return self._order(e, left, right, block)
        kind = e.type.kind
        if kind == "string":
            return self.lift([left, right], block, lambda a, b: f"({a} + {b})", e.type)
        if kind in ("int", "float"):
            return self.lift([left, right], block, lambda a, b: f"({a} {e.op} {b})", e.type)
        if kind == "decimal":
            method = {"+": "_X.add", "-": "_X.subtract", "*": "_X.multiply", "/": "_Q.divide"}[e.op]
            return self.lift([self.num(left, block), self.num(right, block)], block,
                             lambda a, b: f"{method}({a}, {b})", e.type, num=True)
        raise GenerationError(f"operator {e.op!r} on {e.type}")

    def _equality(self, e: ir.Binary, left: C, right: C, block: Block) -> C:
        negate = e.op == "!="
        kinds = {left.type.kind, right.type.kind}
        if "null" in kinds:
            other = right if left.type.kind == "null" else left
            if other.type.kind == "null":
                return C("True" if not negate else "False", BOOL, False, atom=True)
            return C(f"({other.code} is {'not ' if negate else ''}None)", BOOL, False)
        if "decimal" in kinds:
            helper = "_eq"
        elif kinds == {"datetime"}:
            helper = "_eq_instant"
        elif kinds == {"duration"}:
            helper = "_eq_duration"
        else:
            return C(f"({left.code} {e.op} {right.code})", BOOL, False)
        code = f"{helper}({left.code}, {right.code})"
        return C(f"(not {code})" if negate else code, BOOL, False)

    def _order(self, e: ir.Binary, left: C, right: C, block: Block) -> C:
        kinds = {left.type.kind, right.type.kind}
        if "decimal" in kinds:
            left, right = self.num(left, block), self.num(right, block)
            return self.lift([left, right], block, lambda a, b: f"({a} {e.op} {b})", BOOL)
        if kinds == {"datetime"}:
            return self.lift([left, right], block, lambda a, b: f"(_instant({a}) {e.op} _instant({b}))", BOOL)
        if kinds == {"duration"}:
            return self.lift([left, right], block,
                             lambda a, b: f"(_duration_ms({a}) {e.op} _duration_ms({b}))", BOOL)
        return self.lift([left, right], block, lambda a, b: f"({a} {e.op} {b})", BOOL)

    def _logic(self, e: ir.Binary, block: Block, ctx: Ctx) -> C:
        """and / or: absent when an operand is absent (docs/language.md), otherwise the usual
        short circuit: the right operand is computed only when it can change the result,
        or when it may be absent (then the result depends on whether it is)."""
        left = self.expr(e.left, block, ctx)
        right_block = Block()
        right = self.expr(e.right, right_block, ctx)
        if not left.optional and not right.optional and not right_block.lines:
            return C(f"({left.code} {e.op} {right.code})", BOOL, False)
        result = self.temp()
        block.emit(f"{result} = {left.code}")
        inner = right_block
        if right.optional:
            r = self.atom(right, inner)
            inner.emit(f"{result} = None if {r.code} is None else ({result} {e.op} {r.code})")
            block.nest(f"if {result} is not None:", inner)
        else:
            inner.emit(f"{result} = {right.code}")
            block.nest(f"if {result} is {'True' if e.op == 'and' else 'False'}:", inner)
        return C(result, BOOL, e.optional, atom=True)

    def _branches(self, values: list[tuple[Block, C]], result: ir.TypeRef) -> list[C]:
        """Bring the branch values of if / ?? / match / coalesce to one representation."""
        want_num = result.kind == "decimal" and any(c.num for _, c in values)
        return [self.coerce(c, result, want_num, b) for b, c in values]

    def _if(self, e: ir.If, block: Block, ctx: Ctx) -> C:
        cond = self.expr(e.cond, block, ctx)
        then_block, else_block = Block(), Block()
        then = self.expr(e.then, then_block, ctx)
        otherwise = self.expr(e.otherwise, else_block, ctx)
        then, otherwise = self._branches([(then_block, then), (else_block, otherwise)], e.type)
        num = then.num or otherwise.num
        if not then_block.lines and not else_block.lines:
            return C(f"({then.code} if {cond.code} else {otherwise.code})", e.type, e.optional, num)
        result = self.temp()
        then_block.emit(f"{result} = {then.code}")
        else_block.emit(f"{result} = {otherwise.code}")
        block.nest(f"if {cond.code}:", then_block)
        block.nest("else:", else_block)
        return C(result, e.type, e.optional, num, atom=True)

    def _coalesce(self, e: ir.Coalesce, block: Block, ctx: Ctx) -> C:
        return self._first_present([e.left, e.right], e.type, e.optional, block, ctx)

    def _first_present(self, exprs: list, result_type: ir.TypeRef, optional: bool, block: Block, ctx: Ctx) -> C:
        """The first of the values that is present (`??`, `coalesce`); later ones only computed if needed."""
        compiled = []
        for e in exprs:
            b = Block()
            compiled.append((b, self.expr(e, b, ctx)))
        values = self._branches(compiled, result_type)
        num = any(v.num for v in values)
        blocks = [b for b, _ in compiled]
        if len(values) == 2 and not blocks[1].lines and not blocks[0].lines:
            first = self.atom(values[0], block)
            return C(f"({first.code} if {first.code} is not None else {values[1].code})",
                     result_type, optional, num)
        result = self.temp()
        for line in blocks[0].lines:
            block.emit(line)
        block.emit(f"{result} = {values[0].code}")
        for b, v in zip(blocks[1:], values[1:]):
            b.emit(f"{result} = {v.code}")
            block.nest(f"if {result} is None:", b)
        return C(result, result_type, optional, num, atom=True)

    def _match(self, e: ir.Match, block: Block, ctx: Ctx) -> C:
        subject = self.atom(self.expr(e.subject, block, ctx), block)
        results = [a.expr for a in e.arms] + ([e.default] if e.default is not None else [])
        if all(isinstance(r, ir.Const) for r in results):
            return self._match_table(e, subject, block, ctx)
        compiled = []
        for r in results:
            b = Block()
            compiled.append((b, self.expr(r, b, ctx)))
        values = self._branches(compiled, e.type)
        num = any(v.num for v in values)
        result = self.temp()
        for (b, _), v in zip(compiled, values):
            b.emit(f"{result} = {v.code}")
        first = True
        if subject.optional:
            block.emit(f"if {subject.code} is None:")
            block.emit(f"    {result} = None")
            first = False
        arm_blocks = [b for b, _ in compiled]
        arms = list(zip(e.arms, arm_blocks))
        if e.default is None:
            last_arm, last_block = arms.pop()  # the match is exhaustive: the last arm is the rest
            fallback = last_block
        else:
            fallback = arm_blocks[-1]
        for arm, b in arms:
            block.nest(f"{'if' if first else 'elif'} {subject.code} == {py(arm.value)}:", b)
            first = False
        block.nest("else:" if not first else "if True:", fallback)
        return C(result, e.type, e.optional, num, atom=True)

    def _match_table(self, e: ir.Match, subject: C, block: Block, ctx: Ctx) -> C:
        """A match whose results are all constants: one dict lookup."""
        def wire_of(const: ir.Const) -> object:
            if const.value is None:
                return None
            if e.type.kind == "decimal":
                return decimal_text(const.value)
            if e.type.kind == "float":
                return float(const.value)
            return wire_value(self.project, const.type, const.value)
        table = {}
        for arm in e.arms:
            table.setdefault(arm.value, wire_of(arm.expr))
        # keys are the patterns' wire values: strings, ints or bools
        name = self.constant("{" + ", ".join(f"{py(k)}: {py(v)}" for k, v in table.items()) + "}", "_M")
        if e.default is not None:
            lookup = f"{name}.get({subject.code}, {py(wire_of(e.default))})"
        else:
            lookup = f"{name}[{subject.code}]"
        if subject.optional:
            return C(f"(None if {subject.code} is None else {lookup})", e.type, True)
        return C(lookup, e.type, e.optional)

    def _each(self, e: ir.Each, block: Block, ctx: Ctx) -> C:
        source = self.atom(self.expr(e.source, block, ctx), block)
        result = self.temp("_l")
        var = self.temp("_v")
        item = C(var, e.source.type.item, False, atom=True, safe=True)
        body = Block()
        inner_ctx = ctx.with_var(e.var, item).at(ctx.path.index(f"len({result})"))
        record = self.build_record(e.fields, e.type.item, body, inner_ctx)
        body.emit(f"{result}.append({record})")
        loop = Block()
        loop.emit(f"{result} = []")
        loop.nest(f"for {var} in {source.code}:", body)
        if source.optional:
            block.emit(f"if {source.code} is None:")
            block.emit(f"    {result} = None")
            block.nest("else:", loop)
        else:
            block.lines.extend(loop.lines)
        return C(result, e.type, source.optional, atom=True)

    def _record(self, e: ir.Record, block: Block, ctx: Ctx) -> C:
        name = self.build_record(e.fields, e.type, block, ctx)
        return C(name, e.type, False, atom=True)

    # ------------------------------------------------------------ built-in functions

    def _call(self, e: ir.Call, block: Block, ctx: Ctx) -> C:
        name = e.func
        if name == "now":
            return C("_now", DATETIME, False, atom=True)
        if name == "coalesce":
            return self._first_present(list(e.args), e.type, e.optional, block, ctx)
        args = [self.expr(a, block, ctx) for a in e.args]
        method = getattr(self, "_fn_" + name, None)
        if method is None:
            raise GenerationError(f"unknown function {name!r}")
        return method(e, args, block)

    def _fn_lower(self, e, args, block):
        return self.lift(args, block, lambda s: f"{s}.lower()", STRING)

    def _fn_upper(self, e, args, block):
        return self.lift(args, block, lambda s: f"{s}.upper()", STRING)

    def _fn_trim(self, e, args, block):
        return self.lift(args, block, lambda s: f"{s}.strip()", STRING)

    def _fn_concat(self, e, args, block):
        return self.lift(args, block, lambda *parts: f"({' + '.join(parts)})", STRING)

    def _fn_substring(self, e, args, block):
        if len(args) == 2:
            return self.lift(args, block, lambda s, start: f"{s}[{start}:]", STRING)
        return self.lift(args, block, lambda s, start, end: f"{s}[{start}:{end}]", STRING)

    def _fn_replace(self, e, args, block):
        old = e.args[1]
        if isinstance(old, ir.Const) and isinstance(old.value, str) and old.value:
            return self.lift(args, block, lambda s, o, n: f"{s}.replace({o}, {n})", STRING)
        return self.lift(args, block, lambda s, o, n: f"_replace({s}, {o}, {n})", STRING)

    def _fn_split(self, e, args, block):
        sep = e.args[1]
        if isinstance(sep, ir.Const) and isinstance(sep.value, str) and sep.value:
            return self.lift(args, block, lambda s, p: f"{s}.split({p})", e.type)
        return self.lift(args, block, lambda s, p: f"_split({s}, {p})", e.type)

    def _fn_join(self, e, args, block):
        return self.lift(args, block, lambda items, sep: f"{sep}.join({items})", STRING)

    def _fn_len(self, e, args, block):
        return self.lift(args, block, lambda x: f"len({x})", e.type)

    def _fn_to_string(self, e, args, block):
        (arg,) = args
        kind = arg.type.kind
        if kind == "int":
            return self.lift([arg], block, lambda x: f"str({x})", STRING)
        if kind == "decimal":
            return replace(self.wire(arg, block), type=STRING)
        if kind == "float":
            return self.lift([arg], block, lambda x: f"repr({x})", STRING)
        if kind == "bool":
            return self.lift([arg], block, lambda x: f"('true' if {x} else 'false')", STRING)
        return replace(arg, type=STRING)

    def _fn_to_int(self, e, args, block):
        (arg,) = args
        if arg.type.kind == "int":
            return arg
        return self.lift([arg], block, lambda x: f"_to_int({x})", e.type)

    def _fn_to_decimal(self, e, args, block):
        (arg,) = args
        kind = arg.type.kind
        if kind == "int":
            return replace(arg, type=e.type, num=True)
        if kind == "decimal":
            return arg
        return self.lift([arg], block, lambda x: f"_to_decimal({x})", e.type, num=True)

    def _fn_to_float(self, e, args, block):
        (arg,) = args
        kind = arg.type.kind
        if kind == "float":
            return arg
        if kind == "int":
            return self.lift([arg], block, lambda x: f"float({x})", e.type)
        return self.lift([arg], block, lambda x: f"_to_float({x})", e.type)

    def _fn_round(self, e, args, block):
        value = args[0]
        kind = value.type.kind
        if len(args) == 1:
            if kind == "int":
                return value
            args = [value, C("0", ir.TypeRef("int"), False, atom=True)]
        if kind == "int":
            return self.lift(args, block, lambda x, n: f"_round_int({x}, {n})", e.type)
        if kind == "decimal":
            return self.lift(args, block, lambda x, n: f"_round_dec({x}, {n})", e.type, num=True)
        return self.lift(args, block, lambda x, n: f"_round_float({x}, {n})", e.type)

    def _fn_abs(self, e, args, block):
        (value,) = args
        if value.type.kind == "decimal":
            return self.lift([self.num(value, block)], block, lambda x: f"_X.abs({x})", e.type, num=True)
        return self.lift([value], block, lambda x: f"abs({x})", e.type)

    def _fn_format_datetime(self, e, args, block):
        fmt = e.args[1]
        if isinstance(fmt, ir.Const) and isinstance(fmt.value, str):
            parts = _format_parts(fmt.value)
            if parts is not None:  # a known format: a function of straight code
                formatter = self._formatters.get(fmt.value)
                if formatter is None:
                    formatter = self._formatters[fmt.value] = self.temp("_fmt")
                    pieces = [py(p) if kind == "text" else _DIRECTIVE_CODE[p] for kind, p in parts] or ["''"]
                    self.functions.append(f"def {formatter}(v):\n    d = _dt_in(v)\n"
                                          f"    return {' + '.join(pieces)}")
                return self.lift(args[:1], block, lambda d: f"{formatter}({d})", STRING)
            compiled = self.constant(f"_compile_format({py(fmt.value)})", "_F")
            return self.lift(args[:1], block, lambda d: f"_format_datetime({d}, {compiled})", STRING)
        return self.lift(args, block, lambda d, f: f"_format_datetime({d}, {f})", STRING)

    def _fn_parse_datetime(self, e, args, block):
        return self.lift(args, block, lambda s, f: f"_parse_datetime({s}, {f})", e.type)

    def _fn_uuid5(self, e, args, block):
        if len(args) == 1:
            return self.lift(args, block, lambda n: f"_uuid5(_uuid.NAMESPACE_URL, {n})", e.type)
        namespace = e.args[0]
        if isinstance(namespace, ir.Const) and isinstance(namespace.value, str):
            known = _namespace_uuid(namespace.value)
            if known is not None:
                ns = self.constant(f"_uuid.UUID({py(known)})", "_NS")
                return self.lift(args[1:], block, lambda n: f"_uuid5({ns}, {n})", e.type)
        return self.lift(args, block, lambda ns, n: f"_uuid5({ns}, {n})", e.type)


# format_datetime directives as code over `d` (a datetime); the prelude's _DIRECTIVES
# does the same for formats only known at run time.
_DIRECTIVE_CODE = {
    "Y": 'f"{d.year:04d}"', "y": 'f"{d.year % 100:02d}"', "m": 'f"{d.month:02d}"', "d": 'f"{d.day:02d}"',
    "H": 'f"{d.hour:02d}"', "I": 'f"{(d.hour % 12) or 12:02d}"', "p": '("AM" if d.hour < 12 else "PM")',
    "M": 'f"{d.minute:02d}"', "S": 'f"{d.second:02d}"', "f": 'f"{d.microsecond:06d}"',
    "z": "_offset_text(d, False)", ":z": "_offset_text(d, True)", "j": 'f"{d.timetuple().tm_yday:03d}"',
    "a": "_DAYS[d.weekday()][:3]", "A": "_DAYS[d.weekday()]", "b": "_MONTHS[d.month - 1][:3]",
    "B": "_MONTHS[d.month - 1]", "u": "str(d.isoweekday())", "w": "str(d.isoweekday() % 7)",
    "G": 'f"{d.isocalendar()[0]:04d}"', "V": 'f"{d.isocalendar()[1]:02d}"',
    "F": 'f"{d.year:04d}-{d.month:02d}-{d.day:02d}"', "T": 'f"{d.hour:02d}:{d.minute:02d}:{d.second:02d}"',
    "%": "'%'",
}


def _format_parts(fmt: str) -> list[tuple[str, str]] | None:
    """A strftime-style format as [("text", ...), ("directive", key)], None if a directive is unknown."""
    parts: list[tuple[str, str]] = []
    i = 0
    while i < len(fmt):
        j = fmt.find("%", i)
        if j < 0:
            parts.append(("text", fmt[i:]))
            break
        if j > i:
            parts.append(("text", fmt[i:j]))
        key = fmt[j + 1:j + 3] if fmt.startswith(":z", j + 1) else fmt[j + 1:j + 2]
        if key not in _DIRECTIVE_CODE:
            return None
        parts.append(("directive", key))
        i = j + 1 + len(key)
    return parts


def _results(e: ir.Match) -> list:
    return [a.expr for a in e.arms] + ([e.default] if e.default is not None else [])


def _small_int(e: ir.Expr) -> bool:
    """An int expression that cannot leave the 64-bit range: a read, a constant, a length,
    or a choice between such values."""
    if isinstance(e, (ir.Get, ir.Var, ir.Const)):
        return True
    if isinstance(e, ir.Call):
        if e.func == "coalesce":
            return all(_small_int(a) for a in e.args)
        return e.func in ("len", "to_int")  # to_int checks the range itself
    if isinstance(e, ir.If):
        return _small_int(e.then) and _small_int(e.otherwise)
    if isinstance(e, ir.Coalesce):
        return _small_int(e.left) and _small_int(e.right)
    if isinstance(e, ir.Match):
        return all(_small_int(r) for r in _results(e))
    return False


def _namespace_uuid(text: str) -> str | None:
    named = {"dns": uuid.NAMESPACE_DNS, "url": uuid.NAMESPACE_URL, "oid": uuid.NAMESPACE_OID,
             "x500": uuid.NAMESPACE_X500}
    if text.lower() in named:
        return str(named[text.lower()])
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def _const_meets(value: object, f: ir.Field) -> bool:
    """Does a constant (wire form) meet f's constraints? False when unsure."""
    if value is None:
        return True
    try:
        if f.min_length is not None or f.max_length is not None:
            if not isinstance(value, (str, list, dict)) or f.type.kind == "bytes":
                return False
            if f.min_length is not None and len(value) < f.min_length:
                return False
            if f.max_length is not None and len(value) > f.max_length:
                return False
        if f.minimum is not None or f.maximum is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                return False
            number = Decimal(value) if isinstance(value, str) else value
            if f.minimum is not None and number < Decimal(str(f.minimum)):
                return False
            if f.maximum is not None and number > Decimal(str(f.maximum)):
                return False
        if f.pattern is not None:
            if not isinstance(value, str) or re.search(f.pattern, value) is None:
                return False
    except (ArithmeticError, ValueError, re.error):
        return False
    return True
