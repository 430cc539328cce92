"""The JSON Schemas a mapping module carries: SOURCE_SCHEMA and TARGET_SCHEMA.

SOURCE_SCHEMA is exactly the jsonschema target's file for the source entity
(`schemas/<system>.<Entity>.schema.json`). TARGET_SCHEMA is that target's
file for the target entity with one change: @readonly fields are no longer
required, because a flow never writes them (E0305), like the create/update
bodies of the OpenAPI target. They stay described, so a value that is there
must still fit.
"""
from __future__ import annotations

import copy
from decimal import Decimal, InvalidOperation

from integc import ir
from integc.targets import schema_common as sc
from integc.targets.jsonschema import build_schema, schema_id


def entity_schema(project: ir.Project, qualified_name: str, *, write: bool) -> dict:
    """The JSON Schema of one entity; `write` for the record a flow writes (no @readonly required)."""
    schema = build_schema(project, "entity", qualified_name)
    if not write:
        return schema
    schema = copy.deepcopy(schema)
    schema["$id"] = schema_id(project, f"{qualified_name}.write.schema.json")
    _not_required(schema, project.entity(qualified_name).fields)
    for kind, name in sc.closure(project, [("entity", qualified_name)]):
        if kind != "enum" and name in schema.get("$defs", {}) and (kind, name) != ("entity", qualified_name):
            fields = project.entity(name).fields if kind == "entity" else project.type(name).fields
            _not_required(schema["$defs"][name], fields)
    return schema


def _not_required(schema: dict, fields: tuple[ir.Field, ...]) -> None:
    readonly = {f.name for f in fields if f.readonly}
    required = [name for name in schema.get("required", []) if name not in readonly]
    if required:
        schema["required"] = required
    else:
        schema.pop("required", None)


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
