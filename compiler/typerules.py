"""Which types may stand where: assignment and the common type of two branches."""
from __future__ import annotations

from integc import ir

STRINGLIKE = frozenset({"string", "email", "url", "uuid"})
NUMERIC = frozenset({"int", "decimal", "float"})
STRING = ir.TypeRef("string")


def assignable(src: ir.TypeRef, dst: ir.TypeRef) -> bool:
    if dst.kind == "json" or src.kind == "null":
        return True
    if src.kind in ("list", "map"):
        return dst.kind == src.kind and assignable(src.item, dst.item)
    if src == dst:
        return True
    if src.kind == "int" and dst.kind in ("decimal", "float"):
        return True
    return dst.kind == "string" and src.kind in STRINGLIKE


def unify(a: ir.TypeRef, b: ir.TypeRef) -> ir.TypeRef | None:
    if a.kind == "null":
        return b
    if b.kind == "null" or assignable(b, a):
        return a
    if assignable(a, b):
        return b
    if a.kind in STRINGLIKE and b.kind in STRINGLIKE:
        return STRING
    return None
