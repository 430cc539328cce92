"""The JSON Schemas a mapping module carries: SOURCE_SCHEMA and TARGET_SCHEMA.

Both are built from `integc.targets.schema_common`, the same field rules the
jsonschema and openapi targets use, as one self-contained document per entity
(named types and enums under `$defs`).

The two differ in one respect. SOURCE_SCHEMA describes a record as the source
system sends it, @readonly fields included. TARGET_SCHEMA describes the body
the mapping writes: a flow never writes @readonly fields (E0305), so they are
left out of it, as in the create/update request bodies of the OpenAPI target.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from integc import ir
from integc.targets import schema_common as sc

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _ref(kind: str, name: str) -> str:
    return f"#/$defs/{name}"


def entity_schema(project: ir.Project, qualified_name: str, *, write: bool) -> dict:
    """The JSON Schema of one entity; `write` leaves out @readonly fields (a target body)."""
    entity = project.entity(qualified_name)
    include_readonly = not write
    root = sc.record_schema(entity.fields, _ref, description=entity.description,
                            include_readonly=include_readonly)
    roots = [r for f in entity.fields if include_readonly or not f.readonly for r in sc.named_refs(f.type)]
    defs: dict[str, dict] = {}
    for kind, name in sc.closure(project, roots):
        if kind == "enum":
            defs[name] = sc.enum_schema(project.enum(name))
        elif kind == "type":
            typedef = project.type(name)
            defs[name] = sc.record_schema(typedef.fields, _ref, description=typedef.description,
                                          include_readonly=include_readonly)
        else:
            other = project.entity(name)
            defs[name] = sc.record_schema(other.fields, _ref, description=other.description,
                                          include_readonly=include_readonly)
    schema = {"$schema": SCHEMA_DIALECT, "title": qualified_name, **root}
    if defs:
        schema["$defs"] = defs
    return sc.ordered(schema)


# ---------------------------------------------------------------- wire values

def decimal_text(value: object) -> str:
    """A decimal default/example/constant in its wire form: plain notation, no exponent."""
    if isinstance(value, bool):
        raise ValueError("not a decimal")
    if isinstance(value, float):
        number = Decimal(repr(value))
    else:
        number = Decimal(str(value))
    if not number.is_finite():
        raise ValueError("not a finite decimal")
    if number.is_zero() and number.is_signed():
        number = number.copy_abs()
    return format(number, "f")


def wire_value(project: ir.Project, ref: ir.TypeRef, value: object) -> object:
    """A default or example as the mapping sees it on the wire: decimals as plain strings,
    durations as ISO 8601, floats as floats, and the defaults of nested record fields
    filled in (absent optional fields stay absent)."""
    if value is None:
        return None
    kind = ref.kind
    if kind == "decimal":
        try:
            return decimal_text(value)
        except (ValueError, InvalidOperation):
            return value
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind == "duration" and isinstance(value, int) and not isinstance(value, bool):
        return sc.iso_duration(value)
    if kind == "list" and isinstance(value, (list, tuple)):
        return [wire_value(project, ref.item, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: wire_value(project, ref.item, v) for k, v in value.items()}
    if kind in ("type", "entity") and isinstance(value, dict):
        out = {}
        for f in project.record_fields(ref):
            if f.name in value and value[f.name] is not None:
                out[f.name] = wire_value(project, f.type, value[f.name])
            elif f.name not in value and f.has_default and f.default is not None:
                out[f.name] = wire_value(project, f.type, f.default)
        return out
    if isinstance(value, tuple):
        return list(value)
    return value
