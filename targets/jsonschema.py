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

from integc.diagnostics import Diagnostics
from integc.ir import Project
from integc.targets import Artifact
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
        named = [("entity", e.qualified_name) for s in project.systems for e in s.entities]
        named += [("type", t.name) for t in project.types]
        for f, problem in sc.pattern_problems(project, named):
            diagnostics.report("E0204", f"the @pattern of field `{f.name}` is {problem}", f.origin,
                               help="write the pattern in the common subset of Python and ECMA-262")
        artifacts = []
        for system in project.systems:
            for entity in system.entities:
                doc = build_schema(project, "entity", entity.qualified_name)
                artifacts.append(Artifact(f"schemas/{entity.qualified_name}.schema.json", dump_json(doc)))
        for typedef in project.types:
            artifacts.append(Artifact(f"schemas/{typedef.name}.schema.json",
                                      dump_json(build_schema(project, "type", typedef.name))))
        for enum in project.enums:
            artifacts.append(Artifact(f"schemas/{enum.name}.schema.json",
                                      dump_json(build_schema(project, "enum", enum.name))))
        return artifacts


TARGET = JSONSchemaTarget()


def file_name(kind: str, name: str) -> str:
    return f"{name}.schema.json"


def build_schema(project: Project, kind: str, name: str) -> dict:
    """The self-contained schema file of one entity (qualified name), type or enum."""
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
    for k, n in sc.closure(project, [root]):
        if (k, n) == root:
            continue
        if k == "enum":
            defs[n] = sc.ordered({"title": n, **sc.enum_schema(project.enum(n))})
        else:
            d = project.entity(n) if k == "entity" else project.type(n)
            defs[n] = sc.ordered({"title": n, **sc.record_schema(d.fields, ref, description=d.description)})
    if defs:
        doc["$defs"] = dict(sorted(defs.items()))
    return sc.ordered(doc)
