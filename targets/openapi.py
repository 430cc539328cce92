"""The `openapi` target: one OpenAPI 3.1.0 document per system.

A system gets a document when it exposes an entity or declares a custom
operation: `openapi/<system>.openapi.yaml` (or `.json` with `format = "json"`).
The mapping from the language is documented in docs/openapi.md. Every document
is checked with openapi-spec-validator before it is returned; a document that
fails is reported as an internal error (E0001) and not written.

Output is deterministic: keys come in a fixed order (top level: openapi, info,
servers, security, tags, paths, components), component maps are sorted by
name, paths and operations keep the order of the source.
"""
from __future__ import annotations

import functools
import re
from typing import Iterable

from integc.diagnostics import Diagnostics, Span
from integc.ir import Entity, Expose, Field, Operation, Project, System, TypeRef
from integc.naming import operation_id, plural
from integc.targets import Artifact, Unit, emit_units
from integc.targets import schema_common as sc
from integc.targets.openapi_check import prepare_validation, validate_in, validation_problem
from integc.targets.serialise import dump_json, dump_yaml

OPENAPI_VERSION = "3.1.0"
PROBLEM_MEDIA_TYPE = "application/problem+json"
JSON_MEDIA_TYPE = "application/json"
MERGE_PATCH_MEDIA_TYPE = "application/merge-patch+json"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_METHOD_ORDER = ("get", "put", "post", "patch", "delete", "head", "options", "trace")
_TEMPLATE = re.compile(r"\{[^{}]*\}")

# Shared error responses, by status code: component name and description.
_ERRORS = {
    "400": ("BadRequest", "The request is malformed or fails validation."),
    "401": ("Unauthorized", "The request carries no valid credentials."),
    "403": ("Forbidden", "The credentials are valid but do not allow this operation."),
    "404": ("NotFound", "No resource exists at this path."),
    "429": ("TooManyRequests", "Too many requests: slow down and retry after the time given "
                               "in `Retry-After`."),
    "500": ("InternalServerError", "The server failed to handle the request."),
}


class OpenAPITarget:
    name = "openapi"
    options_schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "format": {
                "enum": ["yaml", "json"],
                "default": "yaml",
                "description": "The serialisation of the documents: YAML (default) or JSON.",
            },
        },
        "additionalProperties": False,
    }

    def emit(self, project: Project, options: dict, diagnostics: Diagnostics) -> list[Artifact]:
        return emit_units(self.units(project, options), diagnostics)

    def prepare(self) -> None:
        prepare_validation()

    def use_helper(self, helper) -> None:
        validate_in(helper)

    def units(self, project: Project, options: dict) -> list[Unit]:
        """One unit per system with a document: it depends on the system and the types it reaches."""
        fmt = (options or {}).get("format", "yaml")
        units = []
        for system in project.systems:
            if not system.exposes and not system.operations:
                continue
            reached = sc.closure(project, document_roots(system))
            inputs = (project.package, project.version, fmt, system, sc.definitions(project, reached, within=system))
            units.append(Unit(f"system:{system.name}", inputs, functools.partial(_emit_document, project, system, fmt)))
        return units


def _emit_document(project: Project, system: System, fmt: str, diagnostics: Diagnostics) -> list[Artifact]:
    doc = build_document(project, system, diagnostics)
    if doc is None:
        return []
    problem = validation_problem(doc)
    if problem is None:
        try:
            return [Artifact(f"openapi/{system.name}.openapi.{fmt}", dump_json(doc) if fmt == "json" else dump_yaml(doc))]
        except Exception as error:  # noqa: BLE001 - an emitter failure is an internal error
            problem = f"could not be serialised: {type(error).__name__}: {error}"
    else:
        problem = f"is invalid: {problem}"
    diagnostics.report("E0001", f"the OpenAPI document for system `{system.name}` {problem}",
                       system.origin, help="this is a bug in integc's openapi target; please report it")
    return []


def document_roots(system: System) -> list[tuple[str, str]]:
    """The named types a system's document starts from: its exposed entities, its operations' types."""
    roots: list[tuple[str, str]] = [("entity", f"{system.name}.{x.entity}") for x in system.exposes]
    for op in system.operations:
        for p in op.params:
            roots.extend(sc.named_refs(p.type))
        if op.returns is not None:
            roots.extend(sc.named_refs(op.returns))
    return roots


TARGET = OpenAPITarget()


# ------------------------------------------------------------------ names and words

def words(name: str) -> str:
    """`SalesOrder` -> "sales order", `mergeCustomers` -> "merge customers", `API` stays."""
    parts = re.findall(r"[A-Z]+(?=[A-Z][a-z0-9])|[A-Z]?[a-z0-9]+|[A-Z]+", name)
    if not parts:
        return name
    return " ".join(p if (p.isupper() and len(p) > 1) else p.lower() for p in parts)


def article(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _code(text: str) -> str:
    return f"`{text}`"


# ------------------------------------------------------------------ the document

class _Builder:
    """Builds the document of one system."""

    def __init__(self, project: Project, system: System, diagnostics: Diagnostics):
        self.project = project
        self.system = system
        self.diagnostics = diagnostics
        self.entities = {e.name: e for e in system.entities}
        self.names: dict[tuple[str, str], str] = {}  # named types -> component names
        self.taken: set[str] = set()
        self.used_errors: set[str] = set()
        self.tags: dict[str, dict] = {}
        self.paths: dict[str, dict] = {}
        self.path_shapes: dict[str, tuple[str, Span]] = {}  # "/a/{}" -> (first path, origin)
        self.extra_schemas: dict[str, dict] = {}
        self.uses_paging = False
        self.secured = system.auth.kind != "none"
        self.ok = True

    # -------------------------------------------------------------- names

    def _allocate(self, preferred: str, fallback: str | None = None) -> str:
        for candidate in (preferred, fallback):
            if candidate and candidate not in self.taken:
                self.taken.add(candidate)
                return candidate
        base = fallback or preferred
        n = 2
        while f"{base}{n}" in self.taken:
            n += 1
        self.taken.add(f"{base}{n}")
        return f"{base}{n}"

    def _name_types(self) -> None:
        self.reachable = sc.closure(self.project, document_roots(self.system))
        own = [r for r in self.reachable if r[0] == "entity" and r[1].startswith(self.system.name + ".")
               and r[1][len(self.system.name) + 1:] in self.entities]
        # This system's entities first, in declaration order, then the rest by name.
        order = {e.name: i for i, e in enumerate(self.system.entities)}
        own.sort(key=lambda r: order[r[1].split(".", 1)[1]])
        rest = sorted((r for r in self.reachable if r not in own), key=lambda r: (r[1], r[0]))
        for kind, name in own:
            self.names[(kind, name)] = self._allocate(name.split(".", 1)[1], name.replace(".", "_"))
        for kind, name in rest:
            if kind == "entity":
                self.names[(kind, name)] = self._allocate(name.split(".", 1)[1], name.replace(".", "_"))
            else:
                suffix = "Type" if kind == "type" else "Enum"
                self.names[(kind, name)] = self._allocate(name, name + suffix)

    def ref(self, kind: str, name: str) -> str:
        return "#/components/schemas/" + self.names[(kind, name)]

    # -------------------------------------------------------------- build

    def build(self) -> dict | None:
        system = self.system
        self._name_types()
        self.problem_name = None  # allocated after entity-derived names
        derived: dict[str, dict[str, str]] = {}
        for x in system.exposes:
            e = self.entities[x.entity]
            names = {}
            if "list" in x.operations:
                names["page"] = self._allocate(e.name + "Page")
            if any(k in x.operations for k in ("create", "update")) and any(f.readonly for f in e.fields):
                names["input"] = self._allocate(e.name + "Input")
            if "patch" in x.operations:
                names["patch"] = self._allocate(e.name + "Patch")
            derived[x.entity] = names
        self.problem_name = self._allocate("Problem", "ProblemDetails")
        for f, problem in sc.pattern_problems(self.project, self.reachable):
            self.diagnostics.report("E0204", f"the @pattern of field `{f.name}` is {problem}", f.origin,
                                    help="write the pattern in the common subset of Python and ECMA-262")
            self.ok = False

        for x in system.exposes:
            self._expose(x, self.entities[x.entity], derived[x.entity])
        for op in system.operations:
            self._custom(op)
        if not self.ok:
            return None

        doc: dict = {"openapi": OPENAPI_VERSION, "info": self._info(), "servers": self._servers()}
        doc["security"] = self._security_requirement()
        if self.tags:
            doc["tags"] = list(self.tags.values())
        doc["paths"] = self.paths
        doc["components"] = self._components()
        return doc

    # -------------------------------------------------------------- info, servers, security

    def _info(self) -> dict:
        s = self.system
        info: dict = {"title": s.title or s.name, "version": self.project.version}
        info["description"] = s.description or (
            f"The API of the `{s.name}` system in the `{self.project.package}` integration landscape.")
        if s.owner:
            if _EMAIL.match(s.owner):
                info["contact"] = {"email": s.owner}
            else:
                info["contact"] = {"name": s.owner}
            info["x-owner"] = s.owner
        info["x-integc-system"] = s.name
        return info

    def _servers(self) -> list[dict]:
        url = self.system.base_url
        if not url:
            return [{"url": "/", "description": "Relative to where this document is served: "
                                                "the system declares no base_url."}]
        if len(url) > 1 and url.endswith("/"):
            url = url.rstrip("/") or "/"
        return [{"url": url, "description": self.system.title or self.system.name}]

    def _scheme_name(self) -> str:
        return {"api_key": "apiKey", "bearer": "bearerAuth", "basic": "basicAuth",
                "oauth2": "oauth2", "mtls": "mutualTLS"}[self.system.auth.kind]

    def _security_requirement(self) -> list:
        a = self.system.auth
        if a.kind == "none":
            return []  # explicitly public: no credentials needed
        scopes = list(a.scopes) if a.kind == "oauth2" else []
        return [{self._scheme_name(): scopes}]

    def _security_scheme(self) -> dict:
        a = self.system.auth
        if a.kind == "bearer":
            return {"type": "http", "scheme": "bearer",
                    "description": "A bearer token in the `Authorization` header."}
        if a.kind == "basic":
            return {"type": "http", "scheme": "basic",
                    "description": "HTTP Basic authentication."}
        if a.kind == "api_key":
            header = a.header or "X-Api-Key"
            return {"type": "apiKey", "in": "header", "name": header,
                    "description": f"An API key in the `{header}` header."}
        if a.kind == "oauth2":
            return {"type": "oauth2",
                    "description": "OAuth 2.0 client credentials.",
                    "flows": {"clientCredentials": {
                        "tokenUrl": a.token_url or "/oauth2/token",
                        "scopes": {s: f"The `{s}` scope." for s in a.scopes}}}}
        if a.kind == "mtls":
            return {"type": "mutualTLS", "description": "Mutual TLS: the client presents a certificate."}
        raise ValueError(f"unknown auth kind {a.kind!r}")

    # -------------------------------------------------------------- tags

    def _tag(self, name: str, description: str) -> str:
        if name not in self.tags:
            self.tags[name] = {"name": name, "description": description}
        return name

    def _entity_tag(self, e: Entity, x: Expose | None = None) -> str:
        description = (x.description if x is not None and x.description else None) or e.description \
            or f"Operations on {words(plural(e.name))}."
        return self._tag(e.name, description)

    def _system_tag(self) -> str:
        s = self.system
        return self._tag(s.name, s.description or f"Operations of {s.title or s.name}.")

    # -------------------------------------------------------------- paths

    def _add(self, path: str, method: str, operation: dict, origin: Span) -> None:
        shape = _TEMPLATE.sub("{}", path)
        first = self.path_shapes.get(shape)
        if first is not None and first[0] != path:
            self.diagnostics.report(
                "E0202", f"the paths `{first[0]}` and `{path}` of system `{self.system.name}` "
                "differ only in the names of their parameters; OpenAPI treats them as one path",
                origin, help="use the same parameter names in both paths")
            self.ok = False
            return
        self.path_shapes.setdefault(shape, (path, origin))
        item = self.paths.setdefault(path, {})
        if method in item:
            self.diagnostics.report(
                "E0202", f"two operations of system `{self.system.name}` answer "
                f"`{method.upper()} {path}`", origin, help="give each operation its own method and path")
            self.ok = False
            return
        item[method] = operation
        # Keep the methods of a path item in the conventional order.
        if len(item) > 1:
            ordered = {m: item[m] for m in _METHOD_ORDER if m in item}
            item.clear()
            item.update(ordered)

    def _errors(self, *, not_found: bool) -> dict:
        codes = ["400"]
        if self.secured:
            codes += ["401", "403"]
        if not_found:
            codes.append("404")
        codes += ["429", "500"]
        out = {}
        for code in codes:
            self.used_errors.add(code)
            out[code] = {"$ref": "#/components/responses/" + _ERRORS[code][0]}
        return out

    def _json(self, schema: dict, media_type: str = JSON_MEDIA_TYPE) -> dict:
        return {media_type: {"schema": schema}}

    def _key_param(self, e: Entity) -> dict:
        key = next(f for f in e.fields if f.name == e.key)
        return {"name": key.name, "in": "path", "required": True,
                "description": f"The {_code(key.name)} of the {words(e.name)}.",
                "schema": sc.field_schema(_required_form(key), self.ref, annotations=False)}

    def _expose(self, x: Expose, e: Entity, derived: dict[str, str]) -> None:
        tag = self._entity_tag(e, x)
        collection = _clean_path(x.path)
        item_path = (collection.rstrip("/") + "/{" + e.key + "}") if e.key else None
        entity_ref = {"$ref": self.ref("entity", e.qualified_name)}
        one, many = words(e.name), words(plural(e.name))
        body_ref = {"$ref": "#/components/schemas/" + derived["input"]} if "input" in derived else entity_ref
        readonly = [f.name for f in e.fields if f.readonly]
        readonly_note = ""
        if readonly:
            readonly_note = (" Read-only fields (" + ", ".join(_code(n) for n in readonly)
                             + ") are set by the system and are not accepted in the body.")
        for kind in x.operations:
            op: dict = {"tags": [tag]}
            if kind == "list":
                self.uses_paging = True
                page = derived["page"]
                self.extra_schemas[page] = self._page_schema(e)
                op["summary"] = _sentence(f"list {many}")
                op["description"] = (
                    f"Returns one page of {many}, at most `limit` of them. Pass the `next_cursor` "
                    "of a page as `cursor` to get the next page; the last page has a null "
                    "`next_cursor`.")
                op["operationId"] = operation_id("list", e.name)
                op["parameters"] = [{"$ref": "#/components/parameters/Limit"},
                                    {"$ref": "#/components/parameters/Cursor"}]
                op["responses"] = {"200": {"description": f"One page of {many}.",
                                           "content": self._json({"$ref": "#/components/schemas/" + page})},
                                   **self._errors(not_found=False)}
                self._add(collection, "get", op, x.origin)
                continue
            if kind == "create":
                op["summary"] = _sentence(f"create {article(one)}")
                op["description"] = f"Creates {article(one)}.{readonly_note}"
                op["operationId"] = operation_id("create", e.name)
                op["requestBody"] = {"description": f"The {one} to create.", "required": True,
                                     "content": self._json(body_ref)}
                op["responses"] = {"201": {
                    "description": f"The {one} was created; the body is the {one} as stored.",
                    "headers": {"Location": {"description": f"The URL of the new {one}.",
                                             "schema": {"type": "string", "format": "uri-reference"}}},
                    "content": self._json(entity_ref)}, **self._errors(not_found=False)}
                self._add(collection, "post", op, x.origin)
                continue
            if item_path is None:
                continue  # the checker refuses item operations on an entity without @key (E0203)
            key_param = self._key_param(e)
            key_name = _code(e.key)
            if kind == "get":
                op["summary"] = _sentence(f"get {article(one)}")
                op["description"] = f"Returns the {one} with the given {key_name}."
                op["operationId"] = operation_id("get", e.name)
                op["parameters"] = [key_param]
                op["responses"] = {"200": {"description": f"The {one}.", "content": self._json(entity_ref)},
                                   **self._errors(not_found=True)}
                method = "get"
            elif kind == "update":
                op["summary"] = _sentence(f"replace {article(one)}")
                op["description"] = (f"Replaces the {one} with the given {key_name} by the body."
                                     f"{readonly_note}")
                op["operationId"] = operation_id("update", e.name)
                op["parameters"] = [key_param]
                op["requestBody"] = {"description": f"The new state of the {one}.", "required": True,
                                     "content": self._json(body_ref)}
                op["responses"] = {"200": {"description": f"The {one} as stored.",
                                           "content": self._json(entity_ref)},
                                   **self._errors(not_found=True)}
                method = "put"
            elif kind == "patch":
                patch = derived["patch"]
                self.extra_schemas[patch] = self._patch_schema(e)
                op["summary"] = _sentence(f"update part of {article(one)}")
                op["description"] = (
                    f"Changes only the fields of the {one} present in the body, a JSON merge patch "
                    "(RFC 7396): a field set to null is cleared, a field left out is kept."
                    f"{readonly_note}")
                op["operationId"] = operation_id("patch", e.name)
                op["parameters"] = [key_param]
                op["requestBody"] = {"description": f"The fields of the {one} to change.", "required": True,
                                     "content": self._json({"$ref": "#/components/schemas/" + patch},
                                                           MERGE_PATCH_MEDIA_TYPE)}
                op["responses"] = {"200": {"description": f"The {one} as stored.",
                                           "content": self._json(entity_ref)},
                                   **self._errors(not_found=True)}
                method = "patch"
            elif kind == "delete":
                op["summary"] = _sentence(f"delete {article(one)}")
                op["description"] = f"Deletes the {one} with the given {key_name}."
                op["operationId"] = operation_id("delete", e.name)
                op["parameters"] = [key_param]
                op["responses"] = {"204": {"description": f"The {one} was deleted."},
                                   **self._errors(not_found=True)}
                method = "delete"
            else:
                continue
            self._add(item_path, method, op, x.origin)
        if "input" in derived:
            self.extra_schemas[derived["input"]] = self._input_schema(e)

    def _custom(self, op: Operation) -> None:
        tag = self._custom_tag(op)
        out: dict = {"tags": [tag], "summary": _sentence(words(op.name))}
        out["description"] = op.description or f"The `{op.name}` operation: `{op.method} {op.path}`."
        out["operationId"] = op.name
        parameters = []
        body = None
        for p in op.params:
            if p.location == "body":
                body = p
                continue
            schema = sc.ordered(sc.type_schema(p.type, self.ref))
            param = {"name": p.name, "in": p.location,
                     "required": True if p.location == "path" else not p.optional,
                     "schema": schema}
            parameters.append(param)
        if parameters:
            out["parameters"] = parameters
        if body is not None:
            out["requestBody"] = {"description": f"The {_describe(body.type)}.",
                                  "required": not body.optional,
                                  "content": self._json(sc.ordered(sc.type_schema(body.type, self.ref)))}
        responses: dict = {}
        if op.returns is None:
            responses["204"] = {"description": "Done; there is no content."}
        else:
            schema = sc.type_schema(op.returns, self.ref)
            if op.returns_optional:
                schema = sc.nullable(schema)
            responses["200"] = {"description": _sentence(f"{_describe(op.returns)}."),
                                "content": self._json(sc.ordered(schema))}
        has_path_params = any(p.location == "path" for p in op.params)
        responses.update(self._errors(not_found=has_path_params))
        out["responses"] = responses
        self._add(_clean_path(op.path), op.method.lower(), out, op.origin)

    def _custom_tag(self, op: Operation) -> str:
        ret = op.returns
        while ret is not None and ret.kind in ("list", "map"):
            ret = ret.item
        if ret is not None and ret.kind == "entity":
            sys_name, _, bare = ret.ref.partition(".")
            if sys_name == self.system.name and bare in self.entities:
                e = self.entities[bare]
                x = next((x for x in self.system.exposes if x.entity == bare), None)
                return self._entity_tag(e, x)
        return self._system_tag()

    # -------------------------------------------------------------- schemas

    def _page_schema(self, e: Entity) -> dict:
        many = words(plural(e.name))
        return {"type": "object", "description": f"One page of {many}.",
                "required": ["items", "next_cursor"],
                "properties": {
                    "items": {"description": f"The {many} on this page.", "type": "array",
                              "items": {"$ref": self.ref("entity", e.qualified_name)}},
                    "next_cursor": {"description": "Pass as `cursor` to get the next page; null on "
                                                   "the last page.", "type": ["string", "null"]}}}

    def _input_schema(self, e: Entity) -> dict:
        schema = sc.record_schema(e.fields, self.ref, include_readonly=False)
        schema["description"] = (f"The fields of {article(words(e.name))} a client sends to create or "
                                 f"replace it: `{self.names[('entity', e.qualified_name)]}` without "
                                 "its read-only fields.")
        return sc.ordered(schema)

    def _patch_schema(self, e: Entity) -> dict:
        schema = sc.record_schema(e.fields, self.ref, include_readonly=False, all_optional=True)
        schema["description"] = (f"A JSON merge patch (RFC 7396) of {article(words(e.name))}: every field "
                                 "is optional; only the fields present are changed.")
        return sc.ordered(schema)

    def _problem_schema(self) -> dict:
        return {
            "type": "object",
            "description": "An error, as problem details (RFC 9457).",
            "properties": {
                "type": {"description": "A URI reference that identifies the problem type.",
                         "type": "string", "format": "uri-reference", "default": "about:blank"},
                "title": {"description": "A short, human-readable summary of the problem type.",
                          "type": "string"},
                "status": {"description": "The HTTP status code of this occurrence.",
                           "type": "integer", "minimum": 100, "maximum": 599},
                "detail": {"description": "A human-readable explanation of this occurrence.",
                           "type": "string"},
                "instance": {"description": "A URI reference that identifies this occurrence.",
                             "type": "string", "format": "uri-reference"},
            },
        }

    def _components(self) -> dict:
        schemas: dict[str, dict] = {}
        for kind, name in self.reachable:
            cname = self.names[(kind, name)]
            if kind == "enum":
                schemas[cname] = sc.enum_schema(self.project.enum(name))
            elif kind == "type":
                t = self.project.type(name)
                schemas[cname] = sc.record_schema(t.fields, self.ref, description=t.description)
            else:
                e = self.project.entity(name)
                schemas[cname] = sc.record_schema(e.fields, self.ref, description=e.description)
        schemas.update(self.extra_schemas)
        if self.used_errors:
            schemas[self.problem_name] = self._problem_schema()
        components: dict = {"schemas": dict(sorted(schemas.items()))}
        if self.used_errors:
            responses = {}
            for code in sorted(self.used_errors):
                cname, description = _ERRORS[code]
                response: dict = {"description": description}
                if code == "429":
                    response["headers"] = {"Retry-After": {
                        "description": "Seconds to wait (or an HTTP date) before retrying.",
                        "schema": {"type": "string"}}}
                response["content"] = {PROBLEM_MEDIA_TYPE: {
                    "schema": {"$ref": "#/components/schemas/" + self.problem_name}}}
                responses[cname] = response
            components["responses"] = dict(sorted(responses.items()))
        if self.uses_paging:
            components["parameters"] = {
                "Cursor": {"name": "cursor", "in": "query", "required": False,
                           "description": "Where the page starts: the `next_cursor` of the previous "
                                          "page. Leave out for the first page.",
                           "schema": {"type": "string"}},
                "Limit": {"name": "limit", "in": "query", "required": False,
                          "description": "The largest number of items on the page.",
                          "schema": {"type": "integer", "format": "int64", "minimum": 1,
                                     "maximum": 1000, "default": 100}},
            }
        if self.secured:
            components["securitySchemes"] = {self._scheme_name(): self._security_scheme()}
        return components


def _required_form(f: Field) -> Field:
    """A key field as a path parameter: never optional."""
    if not f.optional:
        return f
    from dataclasses import replace
    return replace(f, optional=False)


def _clean_path(path: str) -> str:
    if not path.startswith("/"):
        path = "/" + path
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return path


def _describe(ref: TypeRef) -> str:
    if ref.kind == "list":
        inner = ref.item
        if inner.kind in ("type", "entity", "enum"):
            return f"list of {words(plural(inner.ref.rsplit('.', 1)[-1]))}"
        return f"list of {inner.kind} values"
    if ref.kind == "map":
        return "map of values by key"
    if ref.kind in ("type", "entity", "enum"):
        return words(ref.ref.rsplit(".", 1)[-1])
    return f"{ref.kind} result"


def build_document(project: Project, system: System, diagnostics: Diagnostics | None = None) -> dict | None:
    """The OpenAPI document of one system as plain dicts and lists (None if it cannot be built)."""
    return _Builder(project, system, diagnostics if diagnostics is not None else Diagnostics()).build()


def documents(project: Project) -> Iterable[tuple[System, dict]]:
    for system in project.systems:
        if system.exposes or system.operations:
            doc = build_document(project, system)
            if doc is not None:
                yield system, doc
