"""The `jsonschema` target: a JSON Schema 2020-12 file for every entity, type and enum.

    schemas/<system>.<Entity>.schema.json   one per entity of every system
    schemas/<Type>.schema.json              one per shared type
    schemas/<Enum>.schema.json              one per enum

Every file is self-contained: the types, enums and entities it references
(transitively) are inlined under `$defs`, keyed by their names (entities by
their qualified `system.Entity` name), so a file validates records on its
own, offline. Field schemas are exactly those of the OpenAPI documents (both
targets use `schema_common`); only `$ref`s differ. The rules are in
docs/openapi.md ("JSON Schema files").
"""
from __future__ import annotations

import functools

from integc.diagnostics import Diagnostics
from integc.ir import Project, System
from integc.targets import Artifact, Unit, emit_units
from integc.targets import schema_common as sc
from integc.targets.serialise import dump_json

DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://integc.dev/schemas"


def schema_id(project: Project, file_name: str) -> str:
    """`https://integc.dev/schemas/<package>/<version>/<file>`: stable, versioned, unique per file."""
    return f"{ID_BASE}/{project.package}/{project.version}/{file_name}"


class JSONSchemaTarget:
    name = "jsonschema"
    options_schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }

    def emit(self, project: Project, options: dict, diagnostics: Diagnostics) -> list[Artifact]:
        return emit_units(self.units(project, options), diagnostics)

    def units(self, project: Project, options: dict) -> list[Unit]:
        """One unit per system (its entities' files), per type, and one for all enums."""
        units = []
        defs: dict = {}  # `$defs` entries, shared by the files that inline the same definition
        for system in project.systems:
            roots = [("entity", e.qualified_name) for e in system.entities]
            if roots:
                units.append(_unit(project, f"system:{system.name}", roots, defs, system))
        for typedef in project.types:
            units.append(_unit(project, f"type:{typedef.name}", [("type", typedef.name)], defs))
        if project.enums:
            units.append(_unit(project, "enums", [("enum", e.name) for e in project.enums], defs))
        return units


def _unit(project: Project, key: str, roots: list[tuple[str, str]], defs: dict, system: System | None = None) -> Unit:
    reached = sc.closure(project, roots)
    inputs = (project.package, project.version, tuple(roots), system, sc.definitions(project, reached, within=system))
    return Unit(key, inputs, functools.partial(_emit_files, project, roots, defs))


def _emit_files(project: Project, roots: list[tuple[str, str]], defs: dict,
                diagnostics: Diagnostics) -> list[Artifact]:
    """The schema file of each root, after reporting the roots' non-portable @patterns."""
    for f, problem in sc.pattern_problems(project, roots):
        diagnostics.report("E0204", f"the @pattern of field `{f.name}` is {problem}", f.origin,
                           help="write the pattern in the common subset of Python and ECMA-262")
    return [Artifact(f"schemas/{file_name(kind, name)}", dump_json(build_schema(project, kind, name, defs)))
            for kind, name in roots]


TARGET = JSONSchemaTarget()


def file_name(kind: str, name: str) -> str:
    return f"{name}.schema.json"


def build_schema(project: Project, kind: str, name: str, shared: dict | None = None) -> dict:
    """The self-contained schema file of one entity (qualified name), type or enum.

    `shared` keeps `$defs` entries between calls on the same project: an
    entry is the same in every file, except in the file of a definition it
    references (there the reference is `#`), where it is built afresh.
    """
    root = (kind, name)

    def ref(k: str, n: str) -> str:
        return "#" if (k, n) == root else "#/$defs/" + n

    head: dict = {"$schema": DIALECT, "$id": schema_id(project, file_name(kind, name)), "title": name}
    if kind == "enum":
        body = sc.enum_schema(project.enum(name))
        return sc.ordered({**head, **body})
    if kind == "entity":
        record = project.entity(name)
    else:
        record = project.type(name)
    body = sc.record_schema(record.fields, ref, description=record.description)
    doc = {**head, **body}
    defs: dict[str, dict] = {}
    shared = {} if shared is None else shared
    for k, n in sc.closure(project, [root]):
        if (k, n) == root:
            continue
        if k == "enum":
            defs[n] = shared.get((k, n)) or shared.setdefault((k, n), sc.ordered(
                {"title": n, **sc.enum_schema(project.enum(n))}))
            continue
        d = project.entity(n) if k == "entity" else project.type(n)
        refs = shared.get(("refs", k, n))
        if refs is None:
            refs = shared[("refs", k, n)] = {r for f in d.fields for r in sc.named_refs(f.type)}
        if root in refs:
            defs[n] = sc.ordered({"title": n, **sc.record_schema(d.fields, ref, description=d.description)})
        else:
            defs[n] = shared.get((k, n)) or shared.setdefault((k, n), sc.ordered(
                {"title": n, **sc.record_schema(d.fields, ref, description=d.description)}))
    if defs:
        doc["$defs"] = dict(sorted(defs.items()))
    return sc.ordered(doc)
