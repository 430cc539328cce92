"""specs/ir.schema.json describes exactly the JSON form of the IR (`integc build --emit-ir`).

The schema is checked three ways: it is a valid 2020-12 schema; it mirrors the
dataclasses of integc.ir field for field (so a field added to the IR without
the schema fails here); and real ir.json files validate against it while
hand-broken ones do not (so the schema is not vacuously permissive).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from integc import ir
from integc.build import IR_FILE, ir_json_bytes
from integc.builtins import BUILTINS
from integc.pipeline import compile_project

REPO = Path(__file__).resolve().parents[2]
SCHEMA_FILE = REPO / "specs" / "ir.schema.json"
KITCHEN_SINK = Path(__file__).resolve().parent / "data" / "kitchen-sink"
EXAMPLES = [REPO / "examples" / "order-to-cash", REPO / "examples" / "quickstart"]
EXPR_TAGS = {cls.__name__.lower(): cls for cls in ir._EXPR_CLASSES}


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema)


def _errors(validator, instance) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in validator.iter_errors(instance)]


def _ir_json(project_path: Path) -> dict:
    """What `--emit-ir` writes, produced in-process (independent of the output targets)."""
    result = compile_project(project_path)
    problems = [f"{d.code} {d.message}" for d in result.diagnostics.sorted() if d.is_error]
    assert result.project is not None, problems
    return json.loads(ir_json_bytes(result.project, result.config.root))


def _integc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "integc", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


# ---------------------------------------------------------------- the schema itself

def test_schema_is_a_valid_2020_12_schema(schema) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def _ir_dataclasses() -> dict[str, type]:
    return {name: cls for name, cls in vars(ir).items()
            if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == ir.__name__}


def test_every_ir_class_has_a_def_with_exactly_its_fields(schema) -> None:
    defs = schema["$defs"]
    classes = _ir_dataclasses()
    assert set(classes) | {"Span", "Expr"} == set(defs)
    for name, cls in classes.items():
        fields = [f.name for f in dataclasses.fields(cls)]
        if cls in ir._EXPR_CLASSES:
            fields = ["node"] + fields
            assert defs[name]["properties"]["node"] == {"const": name.lower()}
        definition = defs[name]
        assert definition["type"] == "object", name
        assert definition["additionalProperties"] is False, name
        assert list(definition["properties"]) == fields, name
        assert definition["required"] == fields, name


def test_span_def_matches_span_to_json(schema) -> None:
    span = ir.Span("a.integ", 1, 2, 3, 4)
    definition = schema["$defs"]["Span"]
    assert definition["required"] == list(span.to_json()) == list(definition["properties"])
    assert definition["additionalProperties"] is False


def test_expression_union_is_keyed_on_every_node_tag(schema) -> None:
    union = schema["$defs"]["Expr"]
    assert set(union["properties"]["node"]["enum"]) == set(EXPR_TAGS)
    dispatched = {branch["if"]["properties"]["node"]["const"]: branch["then"]["$ref"] for branch in union["allOf"]}
    assert dispatched == {tag: f"#/$defs/{cls.__name__}" for tag, cls in EXPR_TAGS.items()}


def test_call_functions_are_the_builtins(schema) -> None:
    assert set(schema["$defs"]["Call"]["properties"]["func"]["enum"]) == set(BUILTINS)


def test_primitive_kinds_are_the_ir_primitives(schema) -> None:
    kinds = set()
    for branch in schema["$defs"]["TypeRef"]["oneOf"]:
        kind = branch["properties"]["kind"]
        kinds |= set(kind.get("enum", [kind.get("const")]))
    assert kinds == set(ir.PRIMITIVES) | {"null", "enum", "type", "entity", "list", "map"}


# ---------------------------------------------------------------- real IR validates

def _projects() -> list[Path]:
    return [KITCHEN_SINK] + [p for p in EXAMPLES if (p / "main.integ").is_file()]


@pytest.mark.parametrize("project", _projects(), ids=lambda p: p.name)
def test_ir_of_project_validates(project: Path, validator) -> None:
    assert _errors(validator, _ir_json(project)) == []


def test_kitchen_sink_uses_every_expression_node() -> None:
    seen: set[str] = set()

    def walk(value) -> None:
        if isinstance(value, dict):
            if "node" in value:
                seen.add(value["node"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
    walk(_ir_json(KITCHEN_SINK))
    assert seen == set(EXPR_TAGS)


@pytest.mark.parametrize("project", _projects(), ids=lambda p: p.name)
def test_build_emit_ir_writes_valid_ir_json(project: Path, validator, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = _integc("build", str(project), "--out", str(out), "--emit-ir", cwd=REPO)
    assert run.returncode == 0, run.stderr
    written = json.loads((out / IR_FILE).read_text(encoding="utf-8"))
    assert _errors(validator, written) == []
    assert written == _ir_json(project)


def test_init_starter_project_emits_valid_ir(validator, tmp_path: Path) -> None:
    project = tmp_path / "starter"
    assert _integc("init", str(project), cwd=tmp_path).returncode == 0
    run = _integc("build", "starter", "--emit-ir", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    written = json.loads((project / "build" / IR_FILE).read_text(encoding="utf-8"))
    assert _errors(validator, written) == []


def test_build_without_emit_ir_writes_no_ir_json(tmp_path: Path) -> None:
    run = _integc("build", str(KITCHEN_SINK), "--out", str(tmp_path / "out"), cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert not (tmp_path / "out" / IR_FILE).exists()


def test_deeply_nested_expressions_validate_in_linear_time(validator, tmp_path: Path) -> None:
    """A discriminated union by `oneOf` is exponential in nesting depth; the schema must not be."""
    chain = " + ".join(["name"] * 60)
    nested = "(" * 40 + 'name ?? "x"' + ")" * 40
    (tmp_path / "main.integ").write_text(f"""
system a {{
  owner "a@example.com"
  entity R {{ id: string @key  name: string }}
  expose R at "/r" {{ list, get, create, update }}
}}
flow f {{
  from a.R
  to a.R
  trigger schedule every 1h
  map {{ id = {chain}  name = {nested} }}
  retry 1
}}
""", encoding="utf-8")
    document = _ir_json(tmp_path)
    started = time.monotonic()
    assert _errors(validator, document) == []
    innermost = document["flows"][0]["assignments"][0]["expr"]
    while innermost["node"] == "binary":
        innermost = innermost["left"]
    innermost["type"]["kind"] = "bogus"  # invalid at the bottom: every branch of a oneOf would be explored
    assert len(_errors(validator, document)) == 1
    assert time.monotonic() - started < 10


# ---------------------------------------------------------------- broken IR does not

def _first(document: dict, predicate) -> dict:
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if predicate(value):
                return value
            stack.extend(reversed(list(value.values())))
        elif isinstance(value, list):
            stack.extend(reversed(value))
    raise AssertionError("no such node in the kitchen-sink IR")


def _node(tag: str):
    return lambda d: d.get("node") == tag


def _drop(key: str):
    def mutate(d: dict) -> None:
        del d[key]
    return mutate


def _set(key: str, value):
    def mutate(d: dict) -> None:
        d[key] = value
    return mutate


MUTATIONS = {
    "field without pii": (lambda d: "pii" in d and "readonly" in d, _drop("pii")),
    "field with an extra property": (lambda d: "pii" in d, _set("secret_value", "x")),
    "field min_length negative": (lambda d: "min_length" in d, _set("min_length", -1)),
    "project without sources": (lambda d: "sources" in d and "package" in d, _drop("sources")),
    "expression with an unknown node tag": (_node("binary"), _set("node", "plus")),
    "expression tagged as another kind": (_node("coalesce"), _set("node", "binary")),
    "expression without node tag": (_node("get"), _drop("node")),
    "expression without type": (_node("call"), _drop("type")),
    "unknown function": (_node("call"), _set("func", "eval")),
    "unknown binary operator": (_node("binary"), _set("op", "**")),
    "unknown unary operator": (_node("unary"), _set("op", "!")),
    "optional as a string": (_node("const"), _set("optional", "false")),
    "match arm pattern object": (lambda d: "expr" in d and "value" in d, _set("value", {"a": 1})),
    "each building scalars": (_node("each"), _set("type", {"kind": "list", "ref": None,
                                                           "item": {"kind": "string", "ref": None, "item": None}})),
    "record of a primitive type": (_node("record"), _set("type", {"kind": "int", "ref": None, "item": None})),
    "type kind unknown": (lambda d: d.get("kind") == "uuid" and "item" in d, _set("kind", "guid")),
    "list type without item": (lambda d: d.get("kind") == "list" and "item" in d, _set("item", None)),
    "enum type without ref": (lambda d: d.get("kind") == "enum" and "ref" in d, _set("ref", None)),
    "entity ref not qualified": (lambda d: d.get("kind") == "entity" and "ref" in d, _set("ref", "Item")),
    "span line zero": (lambda d: "end_column" in d, _set("line", 0)),
    "span without end": (lambda d: "end_column" in d, _drop("end_column")),
    "unknown auth kind": (lambda d: "token_url" in d, _set("kind", "saml")),
    "unknown write mode": (lambda d: "on_error" in d, _set("write", "replace")),
    "unknown on_error mode": (lambda d: "on_error" in d, _set("on_error", "ignore")),
    "retry zero attempts": (lambda d: "attempts" in d, _set("attempts", 0)),
    "unknown backoff": (lambda d: "attempts" in d, _set("backoff", "linear")),
    "event trigger without event": (lambda d: d.get("kind") == "event" and "cron" in d, _set("event", None)),
    "schedule with interval and cron": (lambda d: d.get("kind") == "schedule" and "cron" in d,
                                        lambda d: d.update(every_ms=1000, cron="* * * * *")),
    "unknown operation kind": (lambda d: "operations" in d and "path" in d, _set("operations", ["list", "search"])),
    "unknown HTTP method": (lambda d: "method" in d, _set("method", "FETCH")),
    "unknown param location": (lambda d: "location" in d, _set("location", "header")),
    "deploy label not a pair": (lambda d: "labels" in d, _set("labels", [["app"]])),
    "sha256 not hex": (lambda d: "sha256" in d, _set("sha256", "not-a-digest")),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_hand_broken_ir_fails_validation(name: str, validator) -> None:
    document = copy.deepcopy(_ir_json(KITCHEN_SINK))
    predicate, mutate = MUTATIONS[name]
    mutate(_first(document, predicate))
    assert _errors(validator, document), f"the schema accepted IR with {name}"


def test_hand_broken_ir_file_fails_validation(validator, tmp_path: Path) -> None:
    """The same on a file on disk, as a CI script would check an ir.json."""
    path = tmp_path / IR_FILE
    document = _ir_json(KITCHEN_SINK)
    del document["flows"][0]["assignments"][0]["expr"]["type"]
    path.write_text(json.dumps(document), encoding="utf-8")
    errors = _errors(validator, json.loads(path.read_text(encoding="utf-8")))
    assert errors and any("type" in e for e in errors)
