"""targets/openapi_check.py: the fast path vouches for a document only when openapi-spec-validator
(the build's configuration of it: `_stock_problem`) finds nothing wrong with it.

- every document integc emits for the examples, the valid test programs, the IR fixtures and a
  small generated landscape takes the fast path, and the stock validator agrees;
- soundness on hypothesis-driven mutations of emitted documents: fast says valid => the stock
  validator says valid, and `validation_problem` always gives the stock's verdict;
- hand-written cases for each check the fast path replicates: not certain, and invalid.
"""
from __future__ import annotations

import collections
import copy
import functools
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib: find ir_fixtures
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "review"))  # and review_helpers
import ir_fixtures as fx  # noqa: E402
from review_helpers import valid_cases  # noqa: E402
from integc.diagnostics import Diagnostics
from integc.targets import openapi as oa
from integc.targets import openapi_check as oc

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO.parent / "shared" / "bench" / "gen_integ.py"


def project_documents(path: Path) -> list[tuple[str, dict]]:
    from integc.pipeline import compile_project

    result = compile_project(path)
    assert result.project is not None, f"{path} does not compile"
    out = []
    for system in result.project.systems:
        if system.exposes or system.operations:
            doc = oa.build_document(result.project, system, Diagnostics())
            if doc is not None:
                out.append((f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path.name}:{system.name}", doc))
    return out


@functools.lru_cache(maxsize=None)
def program_documents() -> tuple[tuple[str, dict], ...]:
    docs = [d for path in valid_cases() for d in project_documents(path)]
    assert len(docs) >= 40
    return tuple(docs)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[tuple[str, dict]]:
    docs = list(program_documents())
    for name, make in (("rich", fx.rich_project), ("hostile", fx.hostile_project),
                       ("big", lambda: fx.big_project(3, 10))):
        docs += [(f"fixture {name}:{s.name}", doc) for s, doc in oa.documents(make())]
    if GENERATOR.is_file():  # the benchmark's landscape generator (../shared beside the checkout)
        folder = tmp_path_factory.mktemp("landscape") / "land"
        subprocess.run([sys.executable, str(GENERATOR), "3", str(folder), "--flows"], check=True,
                       capture_output=True)
        docs += project_documents(folder)
    return docs


# ---------------------------------------------------------------- emitted documents take the fast path

def test_every_emitted_document_takes_the_fast_path_and_is_valid(corpus):
    assert oc._fast_setup() is not None, "the fast path is off: other library versions than audited?"
    slow = [name for name, doc in corpus if not oc._fast_verdict(doc)]
    assert not slow, f"the fast path is not certain of: {slow}"
    for name, doc in corpus:
        assert oc._stock_problem(doc) is None, name
        assert oc.validation_problem(doc) is None, name


def test_valid_documents_never_run_the_stock_validator(monkeypatch):
    def stock(doc):
        raise AssertionError("the stock validator ran")

    monkeypatch.setattr(oc, "_stock_problem", stock)
    for _, doc in program_documents():
        assert oc.validation_problem(doc) is None
    # The build itself: the target's call site is the fast path.
    diagnostics = Diagnostics()
    artifacts = oa.TARGET.emit(fx.rich_project(), {"format": "json"}, diagnostics)
    assert artifacts and not diagnostics.has_errors, diagnostics
    assert oa.validation_problem is oc.validation_problem


def test_an_invalid_document_runs_the_stock_validator(monkeypatch):
    calls = []
    stock = oc._stock_problem
    monkeypatch.setattr(oc, "_stock_problem", lambda doc: calls.append(1) or stock(doc))
    doc = minimal()
    doc["tags"] = [{"name": "a"}, {"name": "a"}]
    assert oc.validation_problem(doc) == "Duplicate tag name 'a'" and calls == [1]


def test_the_fast_path_is_off_for_unaudited_versions(monkeypatch):
    monkeypatch.setitem(oc._AUDITED, "openapi-spec-validator", "0.0.1")
    oc._fast_setup.cache_clear()
    try:
        assert oc._fast_setup() is None
        assert not oc._fast_verdict(minimal())
        assert oc.validation_problem(minimal()) is None  # the stock validator decides
    finally:
        monkeypatch.undo()
        oc._fast_setup.cache_clear()
    assert oc._fast_setup() is not None


# ---------------------------------------------------------------- hand-written cases

def minimal() -> dict:
    return {
        "openapi": "3.1.0", "info": {"title": "t", "version": "1"},
        "tags": [{"name": "A"}],
        "paths": {"/as/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {"operationId": "getA", "tags": ["A"],
                    "parameters": [{"$ref": "#/components/parameters/Limit"}],
                    "responses": {"200": {"description": "ok", "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/A"}}}},
                        "404": {"$ref": "#/components/responses/NotFound"}}},
            "delete": {"operationId": "deleteA", "responses": {"204": {"description": "gone"}}}}},
        "components": {
            "schemas": {
                "A": {"type": "object", "required": ["x"], "properties": {
                    "x": {"type": "string", "pattern": "^[a-z]+$", "default": "abc"},
                    "b": {"anyOf": [{"$ref": "#/components/schemas/B"}, {"type": "null"}]},
                    "n": {"type": "integer", "minimum": 0, "default": 3}}},
                "B": {"type": "array", "items": {"$ref": "#/components/schemas/A"}},
                "C": {"allOf": [{"$ref": "#/components/schemas/A"}, {"properties": {"c": {"type": "boolean"}}}],
                      "required": ["x", "c"]},
                "Problem": {"type": "object", "properties": {"title": {"type": "string"}}},
            },
            "parameters": {"Limit": {"name": "limit", "in": "query", "schema": {
                "type": "integer", "minimum": 1, "maximum": 100, "default": 10}}},
            "responses": {"NotFound": {"description": "none", "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}},
        },
    }


def test_the_minimal_document_takes_the_fast_path():
    assert oc._fast_verdict(minimal()) and oc._stock_problem(minimal()) is None


def _schemas(doc):
    return doc["components"]["schemas"]


def _get(doc):
    return doc["paths"]["/as/{id}"]["get"]


def _deep(levels: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "array", "items": schema}
    return schema


# Each: a change the stock validator rejects; the fast path must not be certain.
INVALID = {
    # (1) the whole document against the OAS 3.1 schema
    "no info": lambda d: d.pop("info"),
    "bad openapi field": lambda d: d["paths"]["/as/{id}"]["get"].update(summary=5),
    "jsonSchemaDialect not a URI": lambda d: d.update(jsonSchemaDialect=5),
    # (2) the keyword walk
    "duplicate tag": lambda d: d["tags"].append({"name": "A"}),
    "duplicate operationId": lambda d: d["paths"]["/as/{id}"]["delete"].update(operationId="getA"),
    "duplicate parameter": lambda d: _get(d)["parameters"].append({"name": "limit", "in": "query"}),
    "duplicate path-level parameter": lambda d: d["paths"]["/as/{id}"]["parameters"].append(
        {"name": "id", "in": "path", "required": True}),
    "URL hole without a parameter": lambda d: d["paths"].update(
        {"/bs/{bid}": {"get": {"responses": {"200": {"description": "ok"}}}}}),
    "path parameter not in the URL": lambda d: d["paths"].update({"/bs": d["paths"].pop("/as/{id}")}),
    "operation path parameter not in the URL": lambda d: _get(d)["parameters"].append(
        {"name": "other", "in": "path", "required": True}),
    "unbalanced brace in URL": lambda d: d["paths"].update(
        {"/bs/{": {"get": {"responses": {"200": {"description": "ok"}}}}}),
    "numbered hole in URL": lambda d: d["paths"].update(
        {"/bs/{0}": {"get": {"responses": {"200": {"description": "ok"}}}}}),
    "response schema fails the meta-schema": lambda d: _get(d)["responses"]["200"]["content"][
        "application/json"].update(schema={"type": "strin"}),
    "parameter schema fails the meta-schema": lambda d: d["paths"]["/as/{id}"]["parameters"][0][
        "schema"].update(minLength=-1),
    "shared response's schema fails": lambda d: d["components"]["responses"]["NotFound"]["content"][
        "application/problem+json"].update(schema={"pattern": "[a"}),
    "shared parameter's default fails": lambda d: d["components"]["parameters"]["Limit"]["schema"].update(
        default=1000),
    "unresolvable $ref": lambda d: _schemas(d)["A"]["properties"].update(z={"$ref": "#/components/schemas/Nope"}),
    "unresolvable response $ref": lambda d: _get(d)["responses"].update(
        {"500": {"$ref": "#/components/responses/Nope"}}),
    "non-local $ref": lambda d: _schemas(d)["A"]["properties"].update(z={"$ref": "no-such-file.yaml#/X"}),
    "anchor $ref": lambda d: _schemas(d)["A"]["properties"].update(z={"$ref": "#nowhere"}),
    "$ref cycle": lambda d: _schemas(d).update(D={"$ref": "#/components/schemas/E"},
                                               E={"$ref": "#/components/schemas/D"}),
    # (3) Schema Objects
    "bad regex in components": lambda d: _schemas(d)["A"]["properties"]["x"].update(pattern="[a-"),
    "bad type in components": lambda d: _schemas(d)["B"].update(type="arr"),
    "schema behind $ref is no schema": lambda d: (d["components"].update({"x-thing": 5}), _schemas(d)[
        "A"]["properties"].update(z={"$ref": "#/components/x-thing"})),
    "schema behind $ref with bad properties": lambda d: (d["components"].update({"x-thing": {
        "properties": "none"}}), _schemas(d)["A"]["properties"].update(z={"$ref": "#/components/x-thing"})),
    "allOf with a required name nowhere": lambda d: _schemas(d)["C"]["required"].append("zzz"),
    "allOf cycle through items": lambda d: _schemas(d).update(
        D={"allOf": [{"$ref": "#/components/schemas/E"}]}, E={"items": {"$ref": "#/components/schemas/E"}}),
    "bad default": lambda d: _schemas(d)["A"]["properties"]["n"].update(default="three"),
    "bad default format": lambda d: _schemas(d)["A"]["properties"].update(
        t={"type": "string", "format": "date-time", "default": "yesterday"}),
    "default against its pattern": lambda d: _schemas(d)["A"]["properties"]["x"].update(default="ABC"),
    "bad default under a $ref": lambda d: _schemas(d)["A"]["properties"].update(
        z={"anyOf": [{"$ref": "#/components/schemas/B"}], "default": 5}),
    "default read through a $ref": lambda d: _schemas(d)["A"]["properties"].update(
        z={"type": "string", "default": {"$ref": "#/components/schemas/A"}}),
    "unknown $schema dialect": lambda d: _schemas(d)["A"].update({"$schema": "https://example.com/dialect"}),
    "$schema dialect check fails": lambda d: _schemas(d)["B"].update(
        {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "arr"}),
}


@pytest.mark.parametrize("name", list(INVALID))
def test_invalid_case_is_not_certain_and_invalid(name):
    doc = minimal()
    INVALID[name](doc)
    stock = oc._stock_problem(doc)
    assert stock is not None, f"{name}: the stock validator accepts it (the case is wrong)"
    assert not oc._fast_verdict(doc)
    assert oc.validation_problem(doc) == stock


# Each: valid for the stock validator, but beyond what the fast path models: it defers.
DEFERRED = {
    "empty URL hole": lambda d: d["paths"].update({"/bs/{}": {"get": {"responses": {"200": {"description": "ok"}}}}}),
    "a $schema in a schema": lambda d: _schemas(d)["A"].update({"$schema": "https://json-schema.org/draft/2020-12/schema"}),
    "jsonSchemaDialect": lambda d: d.update(jsonSchemaDialect="https://spec.openapis.org/oas/3.1/dialect/base"),
    "default under a schema with a $ref": lambda d: _schemas(d)["A"]["properties"].update(
        z={"anyOf": [{"$ref": "#/components/schemas/Problem"}], "default": {"title": "t"}}),
    "deep nesting": lambda d: _schemas(d).update(Deep=_deep(80)),
    "list index in a $ref": lambda d: _schemas(d)["A"]["properties"].update(
        z={"$ref": "#/components/schemas/C/allOf/1"}),
    "$ref outside components and paths": lambda d: (d.update({"x-defs": {"S": {"type": "string"}}}), _schemas(d)[
        "A"]["properties"].update(z={"$ref": "#/x-defs/S"})),
}


@pytest.mark.parametrize("name", list(DEFERRED))
def test_unmodelled_case_defers_to_the_stock_validator(name):
    doc = minimal()
    DEFERRED[name](doc)
    assert oc._stock_problem(doc) is None, f"{name}: the stock validator rejects it (the case is wrong)"
    assert not oc._fast_verdict(doc)
    assert oc.validation_problem(doc) is None


# Each: valid, and still within the fast path.
CERTAIN = {
    "a path item behind a $ref": lambda d: (d["components"].update(pathItems={"P": d["paths"]["/as/{id}"]}),
                                            d["paths"].update({"/as/{id}": {"$ref": "#/components/pathItems/P"}})),
    "allOf names found in nested properties": lambda d: _schemas(d)["C"]["required"].append("b"),
    "null default of a nullable schema": lambda d: _schemas(d)["A"]["properties"].update(
        z={"type": "integer", "nullable": True, "default": None}),
    "escaped pointers": lambda d: _schemas(d)["A"]["properties"].update({
        "a~b": {"type": "string"},
        "y": {"$ref": "#/components/schemas/A/properties/a~0b"},
        "z": {"$ref": "#/components/responses/NotFound/content/application~1problem+json/schema"}}),
    "$ref chain": lambda d: (_schemas(d).update(D={"$ref": "#/components/schemas/A"}), _schemas(d)["B"].update(
        items={"$ref": "#/components/schemas/D"})),
    "a boolean schema": lambda d: _schemas(d)["A"]["properties"].update(z=True),
}


@pytest.mark.parametrize("name", list(CERTAIN))
def test_modelled_variation_takes_the_fast_path(name):
    doc = minimal()
    CERTAIN[name](doc)
    assert oc._stock_problem(doc) is None
    assert oc._fast_verdict(doc)


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(st.text(alphabet="/ab0_.-{}:![]", max_size=12))
def test_a_template_the_fast_path_reads_is_read_alike_by_the_stock(url):
    """The stock reads path templates with string.Formatter().parse; the fast path, only simple ones."""
    import string

    if oc._SIMPLE_TEMPLATE.fullmatch(url):
        fields = {field for _, field, _, _ in string.Formatter().parse(url) if field}
        assert set(oc._TEMPLATE_HOLE.findall(url)) == fields


# ---------------------------------------------------------------- soundness on mutated documents

def mutation_seeds() -> list[dict]:
    """Small emitted documents (the stock validator runs on every example) of varied shapes."""
    wanted = ("examples/quickstart:shop", "custom_operations.integ:reports", "custom_operations.integ:catalog",
              "enum_defaults_and_literals.integ:dst", "entity_references.integ:erp")
    docs = {name: doc for name, doc in program_documents()}
    seeds = [doc for name, doc in docs.items() if name.endswith(wanted)]
    assert len(seeds) == len(wanted), sorted(docs)
    return [minimal(), *seeds]


KEYWORDS = ["type", "properties", "items", "allOf", "anyOf", "oneOf", "not", "required", "default",
            "nullable", "enum", "pattern", "format", "description", "name", "in", "schema", "content",
            "responses", "parameters", "operationId", "tags", "x-ext", "additionalProperties", "const",
            "minimum", "$defs", "prefixItems", "$schema", "$id", "$ref", "get", "put", "post", "head"]
WORDS = ["string", "object", "array", "integer", "null", "path", "query", "header", "id", "x", "[a",
         "^a$", "date-time", "uri", "", "{id}", "application/json"]
TEXT = st.text(alphabet="abcxyz{}~/_.-#0! ", max_size=6)  # no ':': never a URL the stock would fetch
SCALARS = (st.none() | st.booleans() | st.integers(-3, 1001) | st.sampled_from([0.5, -1.0, 1e3])
           | st.sampled_from(WORDS) | TEXT)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(KEYWORDS[:-3]) | TEXT, inner, max_size=3), max_leaves=6)
REFS = ["#/components/schemas/Nope", "#/components/schemas", "#/components", "#", "#/", "#/paths",
        "no-such-file.yaml#/X", "#/components/responses/NotFound", "#/components/parameters/Limit",
        "#/components/schemas/A%20B", "#anchor", "#/info", "#/tags/0"]
SCHEMA_EDITS = [
    {"pattern": "[a"}, {"pattern": "^[a-z]+$"}, {"type": "strin"}, {"type": ["string", "null"]},
    {"minLength": -1}, {"$schema": "https://json-schema.org/draft/2020-12/schema"},
    {"$schema": "https://example.com/x"}, {"$id": "https://example.com/s"}, {"nullable": True},
    {"default": None}, {"default": 0}, {"default": "abc"}, {"default": [1]}, {"default": {"x": 1}},
    {"required": ["zzz"]}, {"required": "x"}, {"allOf": []}, {"items": 5}, {"properties": []},
    {"format": "date-time", "default": "2024-01-01T00:00:00Z"}, {"format": "int32", "default": 2**40},
    {"enum": ["a"], "default": "b"}, {"not": {"type": "string"}}, {"$dynamicRef": "#meta"},
]


def nodes(doc) -> list[tuple[object, object, tuple]]:
    """Every (container, key, path) in the document."""
    out, stack = [], [(doc, ())]
    while stack:
        node, path = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            out.append((node, key, path + (key,)))
            stack.append((value, path + (key,)))
    return out


def pointer(path: tuple) -> str:
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


def dicts_where(doc, test) -> list[dict]:
    return [node[key] for node, key, _ in nodes(doc) if isinstance(node[key], dict) and test(node[key])]


def is_schema_like(d: dict) -> bool:
    return bool({"type", "properties", "items", "anyOf", "allOf", "enum", "$ref", "format"} & d.keys())


def mutate(doc: dict, data) -> str:
    """One random change to `doc`, in place; returns its kind."""
    kind = data.draw(st.sampled_from([
        "delete", "replace", "rename", "insert", "duplicate", "copy", "ref", "retarget", "operationId",
        "tag", "url", "parameter", "schema", "wrap", "deepen", "dialect"]))
    everything = nodes(doc)
    if not everything:
        return kind
    if kind == "delete":
        node, key, _ = data.draw(st.sampled_from(everything))
        del node[key]
    elif kind == "replace":
        node, key, _ = data.draw(st.sampled_from(everything))
        node[key] = data.draw(JSON)
    elif kind == "rename" and any(isinstance(x[0], dict) for x in everything):
        node, key, _ = data.draw(st.sampled_from([x for x in everything if isinstance(x[0], dict)]))
        new = data.draw(st.sampled_from(KEYWORDS) | TEXT)
        value = node.pop(key)
        node[new] = value if new != "$ref" or not isinstance(value, str) else data.draw(st.sampled_from(REFS))
    elif kind == "insert":
        target = data.draw(st.sampled_from([doc, *dicts_where(doc, lambda d: True)]))
        target[data.draw(st.sampled_from(KEYWORDS[:-3]))] = data.draw(JSON)
    elif kind == "duplicate":
        lists = [node[key] for node, key, _ in everything if isinstance(node[key], list) and node[key]]
        if lists:
            target = data.draw(st.sampled_from(lists))
            target.append(copy.deepcopy(data.draw(st.sampled_from(target))))
    elif kind == "copy":  # one subtree over another: a copy, or the same object (not into itself)
        source_node, source_key, source_path = data.draw(st.sampled_from(everything))
        node, key, path = data.draw(st.sampled_from(everything))
        value = source_node[source_key]
        shared = data.draw(st.booleans()) and path[:len(source_path)] != source_path
        node[key] = value if shared else copy.deepcopy(value)
    elif kind == "ref":
        refs = dicts_where(doc, lambda d: "$ref" in d)
        if refs:
            data.draw(st.sampled_from(refs))["$ref"] = data.draw(st.sampled_from(REFS))
    elif kind == "retarget":  # a $ref to any node of the document
        refs = dicts_where(doc, lambda d: "$ref" in d)
        if refs:
            _, _, path = data.draw(st.sampled_from(everything))
            data.draw(st.sampled_from(refs))["$ref"] = pointer(path)
    elif kind == "operationId":
        operations = dicts_where(doc, lambda d: "operationId" in d)
        if len(operations) >= 2:
            a, b = data.draw(st.lists(st.sampled_from(operations), min_size=2, max_size=2))
            a["operationId"] = b["operationId"]
    elif kind == "tag":
        tags = doc.get("tags")
        if isinstance(tags, list) and tags:
            tags.append(copy.deepcopy(data.draw(st.sampled_from(tags))))
        else:
            doc["tags"] = [{"name": "t"}, {"name": "t"}] if data.draw(st.booleans()) else [{"name": "t"}]
    elif kind == "url":
        paths = doc.get("paths")
        if isinstance(paths, dict) and paths:
            url = data.draw(st.sampled_from(sorted(paths)))
            new = data.draw(st.sampled_from([
                url + "/{x}", url.split("{")[0], url + "/{}", url + "/{", url + "}", url + "/{a:b}",
                url + "/{a!r}", url + "/{0}", url + "/{a.b}", url + "/{{x}}", url.replace("{", "{{"),
                url + "/{id}", "/{id}/{id}", url + "/x"]))
            paths[new] = paths.pop(url)
    elif kind == "parameter":
        lists = [node[key] for node, key, path in everything if key == "parameters" and isinstance(node[key], list)]
        if lists:
            target = data.draw(st.sampled_from(lists))
            action = data.draw(st.sampled_from(["add", "remove", "move"]))
            if action == "add":
                target.append({"name": data.draw(st.sampled_from(["id", "x", "limit", "a.b"])),
                               "in": data.draw(st.sampled_from(["path", "query", "header", "cookie"])),
                               "required": True, "schema": {"type": "string"}})
            elif target and action == "remove":
                target.pop(data.draw(st.integers(0, len(target) - 1)))
            elif target:
                parameter = data.draw(st.sampled_from(target))
                if isinstance(parameter, dict) and "$ref" not in parameter:
                    parameter["in"] = "query" if parameter.get("in") == "path" else "path"
    elif kind in ("schema", "wrap", "deepen"):
        schemas = dicts_where(doc, is_schema_like)
        if schemas:
            target = data.draw(st.sampled_from(schemas))
            if kind == "schema":
                target.update(copy.deepcopy(data.draw(st.sampled_from(SCHEMA_EDITS))))
            elif kind == "wrap":  # allOf over what the schema was, with a `required` of its own
                inner = dict(target)
                target.clear()
                names = data.draw(st.lists(st.sampled_from(["id", "name", "zzz", "x"]), max_size=2, unique=True))
                target.update({"allOf": [inner], **({"required": names} if names else {})})
            else:
                inner = dict(target)
                target.clear()
                target.update(_deep(data.draw(st.sampled_from([1, 3, 70]))))
                target["items"] = inner
    elif kind == "dialect":
        doc["jsonSchemaDialect"] = data.draw(st.sampled_from(
            ["https://spec.openapis.org/oas/3.1/dialect/base", "https://json-schema.org/draft/2020-12/schema"]))
    return kind


def test_fast_path_is_sound_on_mutated_documents():
    seeds = mutation_seeds()
    outcomes: collections.Counter = collections.Counter()

    @settings(max_examples=800, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data):
        doc = copy.deepcopy(data.draw(st.sampled_from(seeds)))
        for _ in range(data.draw(st.integers(1, 3))):
            mutate(doc, data)
        fast = oc._fast_verdict(doc)
        stock = oc._stock_problem(doc)
        if fast:
            assert stock is None, f"the fast path vouched for a document the stock validator rejects: {stock}"
        final = oc.validation_problem(doc)
        assert (final is None) == (stock is None)
        if stock is not None:
            assert final == stock
        outcomes[("certain" if fast else "deferred", "valid" if stock is None else "invalid")] += 1

    check()
    # Not vacuous: mutated documents the fast path vouches for, and many the stock rejects.
    assert outcomes["certain", "valid"] >= 80, outcomes
    assert outcomes["deferred", "invalid"] >= 250, outcomes
    assert outcomes["deferred", "valid"] >= 15, outcomes
