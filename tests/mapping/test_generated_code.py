"""The generated modules as code: they compile, run under `python -I -S`, stay inert
whatever the names and strings in the sources, and carry no user text outside literals."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mapping_support as ms  # noqa: E402

from integc.diagnostics import Diagnostics  # noqa: E402
from integc.targets.mapping import TARGET, load_module, module_name, render_module, render_registry  # noqa: E402
from integc.targets.mapping.codegen import py  # noqa: E402

fx = ms.fixtures
PWNED = Path("/tmp/integc-pwned")
ALLOWED_IMPORTS = {"datetime", "json", "re", "uuid", "decimal", "importlib"}


def _all_modules():
    for project in (fx.hostile_project(), fx.recursive_project(), fx.mixed_project()):
        for flow in project.flows:
            yield project, flow


@pytest.mark.parametrize("project,flow", list(_all_modules()), ids=lambda v: getattr(v, "package", None) or "flow")
def test_every_module_compiles(project, flow):
    compile(render_module(project, flow), "mapping.py", "exec")


def _names_in(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def test_hostile_names_never_become_code():
    project = fx.hostile_project()
    flow = project.flows[0]
    source = render_module(project, flow)
    tree = ast.parse(source)
    imports = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
               for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module)])}
    assert imports <= ALLOWED_IMPORTS
    names = _names_in(tree)
    for hostile in fx.HOSTILE_FIELDS + fx.INJECTIONS:
        if hostile in ("class", "source", "return", "map_record", "MappingError") or re.fullmatch(r"_[a-z]+\d+",
                                                                                                 hostile):
            continue  # keywords, or names the generator makes itself (`_s0` is a local it would use anyway)
        assert hostile not in names, hostile
    # no call to anything dangerous, whatever it is called
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not called & {"eval", "exec", "compile", "__import__", "open", "getattr", "setattr", "globals"}
    # every comment line is ours: none carries source text
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            assert not any(h in stripped for h in fx.INJECTIONS if len(h) > 3), stripped


def test_hostile_module_is_inert_and_maps_faithfully():
    PWNED.unlink(missing_ok=True)
    project = fx.hostile_project()
    flow = project.flows[0]
    module = load_module(render_module(project, flow), module_name(flow.name))
    record = fx.hostile_record()
    out = module.map_record(record)
    assert not PWNED.exists()
    for i, name in enumerate(fx.HOSTILE_FIELDS):
        assert out[name] == record[name]
    assert out["const"] == "".join(fx.INJECTIONS)
    assert out["evil enum"] == fx.INJECTIONS[1]
    assert out["matched"] == fx.INJECTIONS[1]
    assert out["inner\n"] == {fx.INJECTIONS[0]: fx.INJECTIONS[2], "{{x}}": fx.INJECTIONS[3]}  # default applied
    assert out["built"] == {fx.INJECTIONS[0]: fx.INJECTIONS[2].upper(), "{{x}}": fx.INJECTIONS[5]}
    assert out["items\""] == [{fx.INJECTIONS[0]: "padded"}, {fx.INJECTIONS[0]: fx.INJECTIONS[5].strip()}]
    assert module.FLOW == flow.name and module.DESCRIPTION == flow.description
    ms.validator(module.TARGET_SCHEMA).validate(out)
    # a hostile value in an error message is shown with repr(), never interpreted
    with pytest.raises(module.MappingError) as caught:
        module.map_record({**record, "evil enum": fx.INJECTIONS[5]})
    assert caught.value.path == "source.evil enum"
    assert "\n" not in str(caught.value).split(": got ")[-1]


def test_hostile_flow_name_gets_a_safe_module_name():
    name = module_name(fx.INJECTIONS[0])
    assert name.isidentifier() and name.isascii() and name.startswith("flow_")
    assert module_name("sync_customers") == "sync_customers"
    assert module_name("class") != "class" and module_name("a-b") != module_name("a_b")
    assert module_name("../../etc/passwd").isidentifier()


def test_hostile_project_emits_under_mappings_only():
    project = fx.hostile_project()
    diagnostics = Diagnostics()
    artifacts = TARGET.emit(project, {}, diagnostics)
    for artifact in artifacts:
        assert artifact.path.startswith("mappings/") and ".." not in artifact.path and "\n" not in artifact.path
        compile(artifact.content.decode("utf-8"), artifact.path, "exec")
    registry = {}
    exec(compile(render_registry(project), "__init__.py", "exec"), registry)
    assert registry["FLOWS"] == {fx.INJECTIONS[0]: module_name(fx.INJECTIONS[0])}


def test_py_refuses_anything_but_plain_json_values():
    assert py("a'b\"c") == repr("a'b\"c")
    assert py(-3) == "(-3)"
    assert py({"k": [1, 2.5, None, True]}) == "{'k': [1, 2.5, None, True]}"
    for bad in (float("nan"), float("inf"), object(), {1: "x"}, b"bytes"):
        with pytest.raises(Exception):
            py(bad)


# ---------------------------------------------------------------- recursion and nesting

def test_recursive_types_and_nested_each():
    project = fx.recursive_project()
    module = ms.module_for(project, "orders")
    tree = {"name": "root", "weight": "1.5", "children": [{"name": "leaf", "weight": "0", "children": []}]}
    record = {"id": "o1", "tree": tree, "lines": [
        {"sku": "a", "qty": 2, "parts": ["p", "q"], "note": None},
        {"sku": "b", "qty": 1, "parts": [], "note": "hi"},
    ]}
    out = module.map_record(record)
    assert out == {"id": "o1", "tree": tree, "count": 2, "lines": [
        {"sku": "a", "double": 4, "parts": [{"code": "P", "index": 2}, {"code": "Q", "index": 2}]},
        {"sku": "b", "double": 2, "parts": [], "note": "hi"},
    ]}
    bad = json.loads(json.dumps(record))
    bad["tree"]["children"][0]["children"] = [{"name": "", "weight": "1", "children": []}]
    with pytest.raises(module.MappingError, match=r"source\.tree\.children\[0\]\.children\[0\]\.name: length 0"):
        module.map_record(bad)
    bad = json.loads(json.dumps(record))
    bad["lines"][1]["parts"] = ["ok", 5]
    with pytest.raises(module.MappingError, match=r"source\.lines\[1\]\.parts\[1\]: expected string, got int"):
        module.map_record(bad)
    # fields of the lines the mapping does not read are not checked
    record["lines"][0]["unused"] = object()
    assert module.map_record(record)["count"] == 2


def test_target_errors_inside_nested_each_name_every_index():
    project = fx.recursive_project()
    module = ms.module_for(project, "orders")
    record = {"id": "o1", "factor": 2 ** 62, "lines": [{"sku": "a", "qty": 1, "parts": []},
                                                      {"sku": "b", "qty": 3, "parts": []}]}
    with pytest.raises(module.MappingError) as caught:
        module.map_record(record)
    assert caught.value.path == "target.lines[1].double"
    assert "64-bit" in caught.value.reason


# ---------------------------------------------------------------- standard library only

def test_modules_run_under_python_isolated_without_site(tmp_path):
    project = fx.mixed_project()
    for flow in project.flows:
        (tmp_path / f"{module_name(flow.name)}.py").write_text(render_module(project, flow), encoding="utf-8")
    record = {"id": "5f0c8a9e-2b1d-4c3e-9f6a-7b8c9d0e1f2a", "name": "Jane", "nick": " jd ", "price": "19.99",
              "qty": 3, "vip": True, "seen": "2024-05-13T23:30:00-05:00"}
    script = (
        "import json, sys\n"
        "sys.path.insert(0, '.')\n"
        "assert 'site' not in sys.modules\n"
        "import customers\n"
        f"print(json.dumps(customers.map_record(json.loads({json.dumps(json.dumps(record))}),"
        " now='2024-01-01T00:00:00Z'), sort_keys=True))\n"
        "try:\n"
        "    customers.map_record({'id': 1})\n"
        "except customers.MappingError as e:\n"
        "    print(e)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'integc', 'jinja2', 'jsonschema'}))\n"
    )
    done = subprocess.run([sys.executable, "-I", "-S", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    mapped, error, foreign = done.stdout.splitlines()
    assert json.loads(mapped) == {
        "day": "2024-05-13", "half": "1.5", "id": "5f0c8a9e-2b1d-4c3e-9f6a-7b8c9d0e1f2a", "label": " JD ",
        "later": True, "loaded": "2024-01-01T00:00:00Z", "nick": "jd", "plan": "basic",
        "ref": str(uuid.uuid5(uuid.NAMESPACE_DNS, "Jane")),
        "total": "59.97", "vip": True}
    assert error == "customers: source.id: expected uuid, got int"
    assert foreign == "[]"


def test_uuid5_in_the_mixed_module_is_the_rfc_4122_value():
    project = fx.mixed_project()
    module = ms.module_for(project, "customers")
    out = module.map_record({"id": "5f0c8a9e-2b1d-4c3e-9f6a-7b8c9d0e1f2a", "name": "Jane", "price": "1", "qty": 0,
                             "seen": "2024-05-13T00:00:00Z"}, now=ms.NOW)
    assert out["ref"] == str(uuid.uuid5(uuid.NAMESPACE_DNS, "Jane"))
    # vip is absent, so `vip and not (qty == 0)` is absent too: the optional field is left out
    assert out["half"] == "0" and out["total"] == "0" and out["vip"] is False and "later" not in out
    assert out["label"] == "Jane" and "nick" not in out
