"""The JSON Schemas a mapping module carries: SOURCE_SCHEMA and TARGET_SCHEMA.

SOURCE_SCHEMA is exactly the jsonschema target's file for the source entity
(`schemas/<system>.<Entity>.schema.json`). TARGET_SCHEMA is that target's
file for the target entity with one change: @readonly fields are no longer
required, because a flow never writes them (E0305), like the create/update
bodies of the OpenAPI target. They stay described, so a value that is there
must still fit.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from integc import ir
from integc.targets import schema_common as sc
from integc.targets.jsonschema import build_schema, schema_id


class ProjectCache:
    """What the mapping target keeps while it renders the flows of one project.

    The entity schemas (built once each, sharing their `$defs` entries and
    unchanged parts), the pretty-printer's texts of them, and each flow's
    module (module_source). Everything here is shared between flows and
    targets: never change what it hands out.
    """

    def __init__(self, project: ir.Project) -> None:
        from integc.targets.mapping.pretty import Pretty

        self.project = project
        self.pretty = Pretty()
        self._defs: dict = {}  # build_schema's shared `$defs` entries
        self._schemas: dict[tuple[str, bool], dict] = {}
        self._write_defs: dict[int, tuple[dict, dict]] = {}
        self.modules: dict[int, tuple[ir.Flow, bytes]] = {}  # id(flow) -> (flow, its module)

    def entity_schema(self, qualified_name: str, *, write: bool) -> dict:
        schema = self._schemas.get((qualified_name, write))
        if schema is None:
            schema = (self._write_schema(qualified_name) if write
                      else build_schema(self.project, "entity", qualified_name, self._defs))
            self._schemas[(qualified_name, write)] = schema
        return schema

    def _write_schema(self, qualified_name: str) -> dict:
        """The read schema with @readonly fields no longer required, copying only what changes."""
        project = self.project
        base = self.entity_schema(qualified_name, write=False)
        schema = dict(base)
        schema["$id"] = schema_id(project, f"{qualified_name}.write.schema.json")
        _not_required(schema, project.entity(qualified_name).fields)
        defs = base.get("$defs")
        if defs:
            defs = dict(defs)
            for kind, name in sc.closure(project, [("entity", qualified_name)]):
                if kind != "enum" and name in defs and (kind, name) != ("entity", qualified_name):
                    fields = project.entity(name).fields if kind == "entity" else project.type(name).fields
                    defs[name] = self._write_def(defs[name], fields)
            schema["$defs"] = defs
        return schema

    def _write_def(self, definition: dict, fields: tuple[ir.Field, ...]) -> dict:
        if not any(f.readonly for f in fields):
            return definition  # nothing to change
        hit = self._write_defs.get(id(definition))
        if hit is not None and hit[0] is definition:
            return hit[1]
        changed = dict(definition)
        _not_required(changed, fields)
        self._write_defs[id(definition)] = (definition, changed)
        return changed


_LAST: list = []  # [ProjectCache] of the project rendered last


def project_cache(project: ir.Project) -> ProjectCache:
    """The cache of `project` (one project at a time: another one starts afresh)."""
    if not _LAST or _LAST[0].project is not project:
        _LAST[:] = [ProjectCache(project)]
    return _LAST[0]


def release(project: ir.Project, *, modules: bool = False) -> None:
    """Free what the cache of `project` holds once its users are done: the schemas and their
    texts (rebuilt if asked for again), and with `modules` the rendered modules too."""
    if _LAST and _LAST[0].project is project:
        if modules:
            _LAST.clear()
        else:
            kept = _LAST[0].modules
            _LAST[:] = [ProjectCache(project)]
            _LAST[0].modules = kept


def entity_schema(project: ir.Project, qualified_name: str, *, write: bool) -> dict:
    """The JSON Schema of one entity; `write` for the record a flow writes (no @readonly required).

    The result is shared (project_cache): read it, never change it.
    """
    return project_cache(project).entity_schema(qualified_name, write=write)


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
