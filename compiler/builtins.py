"""Signatures of the built-in mapping functions (LANGUAGE.md section 4).

Each entry checks its argument types and gives the result type. Absent
arguments propagate: the result is optional when any argument is, except
for `coalesce` (optional only when every argument is) and `now`.
docs/mapping.md describes what each function does at run time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from integc import ir
from integc.typerules import unify

_STRINGLIKE = {"string", "email", "url", "uuid"}
_NUMERIC = {"int", "decimal", "float"}
_SCALAR = _STRINGLIKE | _NUMERIC | {"enum", "bool", "date", "datetime", "duration"}

@dataclass(frozen=True)
class Builtin:
    check: Callable[[list], object]
    passes_expected: bool = False  # the target's type flows into the arguments (coalesce)


def _kinds(*allowed: set) -> Callable[[list], str | None]:
    def check_args(args: list) -> str | None:
        if len(args) != len(allowed):
            return f"takes {len(allowed)} argument{'s' if len(allowed) != 1 else ''}, got {len(args)}"
        for position, (arg, kinds) in enumerate(zip(args, allowed), start=1):
            if arg.type.kind not in kinds:
                return f"argument {position} must be {_kinds_text(kinds)}, not `{arg.type}`"
        return None
    return check_args


def _kinds_text(kinds: set) -> str:
    if kinds == _STRINGLIKE:
        return "a string"
    if kinds == _NUMERIC:
        return "a number"
    return " or ".join(f"`{k}`" for k in sorted(kinds))


def _fixed(result: ir.TypeRef, *allowed: set) -> Builtin:
    checker = _kinds(*allowed)

    def check(args: list):
        problem = checker(args)
        return problem or (result, any(a.optional for a in args))
    return Builtin(check)


def _same_number(*extra: set) -> Builtin:
    def check(args: list):
        if not args or len(args) > 1 + len(extra):
            return f"takes {'1' if not extra else f'1 or {1 + len(extra)}'} arguments, got {len(args)}"
        if args[0].type.kind not in _NUMERIC:
            return f"argument 1 must be a number, not `{args[0].type}`"
        for position, (arg, kinds) in enumerate(zip(args[1:], extra), start=2):
            if arg.type.kind not in kinds:
                return f"argument {position} must be {_kinds_text(kinds)}, not `{arg.type}`"
        return args[0].type, any(a.optional for a in args)
    return Builtin(check)


def _same_text(args: list):
    """lower/upper/trim keep an email an email (and a url a url, a uuid a uuid)."""
    if len(args) != 1:
        return f"takes 1 argument, got {len(args)}"
    kind = args[0].type.kind
    if kind not in _STRINGLIKE:
        return f"argument 1 must be a string, not `{args[0].type}`"
    return (args[0].type if kind in ("email", "url", "uuid") else ir.TypeRef("string")), args[0].optional


def _concat(args: list):
    if not args:
        return "takes at least one argument"
    for position, arg in enumerate(args, start=1):
        if arg.type.kind not in _STRINGLIKE:
            return f"argument {position} must be a string, not `{arg.type}`"
    return ir.TypeRef("string"), any(a.optional for a in args)


def _substring(args: list):
    if len(args) not in (2, 3):
        return f"takes 2 or 3 arguments (text, start, end), got {len(args)}"
    problem = _kinds(_STRINGLIKE, {"int"}, {"int"})(args if len(args) == 3 else args + [args[1]])
    return problem or (ir.TypeRef("string"), any(a.optional for a in args))


def _len(args: list):
    if len(args) != 1:
        return f"takes 1 argument, got {len(args)}"
    if args[0].type.kind not in _STRINGLIKE | {"list", "map"}:
        return f"argument 1 must be a string or a list, not `{args[0].type}`"
    return ir.TypeRef("int"), args[0].optional


def _join(args: list):
    problem = _kinds({"list"}, _STRINGLIKE)(args)
    if problem:
        return problem
    if args[0].type.item.kind not in _STRINGLIKE:
        return f"argument 1 must be a list of strings, not `{args[0].type}`"
    return ir.TypeRef("string"), any(a.optional for a in args)


def _uuid5(args: list):
    if len(args) not in (1, 2):
        return f"takes 1 or 2 arguments ([namespace,] name), got {len(args)}"
    for position, arg in enumerate(args, start=1):
        if arg.type.kind not in _STRINGLIKE:
            return f"argument {position} must be a string or uuid, not `{arg.type}`"
    return ir.TypeRef("uuid"), any(a.optional for a in args)


def _now(args: list):
    return "takes no arguments" if args else (ir.TypeRef("datetime"), False)


def _coalesce(args: list):
    if len(args) < 2:
        return "takes at least 2 arguments"
    common = args[0].type
    for arg in args[1:]:
        common = unify(common, arg.type)
        if common is None:
            return "its arguments have different types"
    return common, all(a.optional for a in args)


def _conversion(result: str) -> Builtin:
    return _fixed(ir.TypeRef(result), _STRINGLIKE | _NUMERIC)


BUILTINS: dict[str, Builtin] = {
    "lower": Builtin(_same_text),
    "upper": Builtin(_same_text),
    "trim": Builtin(_same_text),
    "concat": Builtin(_concat),
    "substring": Builtin(_substring),
    "replace": _fixed(ir.TypeRef("string"), _STRINGLIKE, _STRINGLIKE, _STRINGLIKE),
    "split": _fixed(ir.TypeRef("list", None, ir.TypeRef("string")), _STRINGLIKE, _STRINGLIKE),
    "join": Builtin(_join),
    "len": Builtin(_len),
    "to_string": _fixed(ir.TypeRef("string"), _SCALAR),
    "to_int": _conversion("int"),
    "to_decimal": _conversion("decimal"),
    "to_float": _conversion("float"),
    "round": _same_number({"int"}),
    "abs": _same_number(),
    "now": Builtin(_now),
    "format_datetime": _fixed(ir.TypeRef("string"), {"date", "datetime"}, _STRINGLIKE),
    "parse_datetime": _fixed(ir.TypeRef("datetime"), _STRINGLIKE, _STRINGLIKE),
    "uuid5": Builtin(_uuid5),
    "coalesce": Builtin(_coalesce, passes_expected=True),
}
