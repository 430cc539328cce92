"""Outputs stay inert: hostile names and strings in every place the language
allows text (hostile_project.py), built through every target. The generated
Python compiles and, run with `python -I -S` under an audit hook, does
nothing but map; YAML parses back (yaml.safe_load) to exactly the intended
strings; JSON Schemas and OpenAPI documents validate; manifests are valid
Kubernetes objects; the Mermaid graph cannot be broken out of.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml

from bugs import BUGS
from hostile_project import BASE_URL, DOC_PAYLOADS, FIELD_NAMES, PAYLOADS, WEBHOOK, project_text, sample_record
from hsupport import HERE, assert_handled, have, policy_build, write_project

for _target in ("mapping", "openapi", "jsonschema", "k8s"):
    pytest.importorskip(f"integc.targets.{_target}")

BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


@pytest.fixture(scope="module")
def built(jail, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    project = write_project(root / "p", project_text())
    out = root / "out"
    outcome = jail.run(["build", project, "--out", out, "--emit-ir"], cwd=root, policy=policy_build(out),
                       timeout=180)
    assert_handled(outcome)
    assert outcome.code == 0 and outcome.codes() == ["W0603"], outcome.describe()
    return out


def _documents(out: Path) -> dict[str, list]:
    parsed = {}
    for path in sorted(out.rglob("*")):
        relative = path.relative_to(out).as_posix()
        if path.suffix == ".yaml":
            parsed[relative] = list(yaml.safe_load_all(path.read_bytes()))
        elif path.suffix == ".json":
            parsed[relative] = [json.loads(path.read_bytes())]
    return parsed


def _strings(value, found: set) -> set:
    """Every string (keys too), and the strings inside embedded JSON documents (ConfigMap data)."""
    if isinstance(value, str):
        found.add(value)
        if value.lstrip().startswith(("{", "[")):
            try:
                _strings(json.loads(value), found)
            except ValueError:
                pass
    elif isinstance(value, dict):
        for key, item in value.items():
            _strings(key, found)
            _strings(item, found)
    elif isinstance(value, list):
        for item in value:
            _strings(item, found)
    return found


def test_every_target_wrote_its_files(built):
    folders = {path.relative_to(built).parts[0] for path in built.rglob("*") if path.is_file()}
    assert {"openapi", "schemas", "mappings", "deploy", "integc-manifest.json"} <= folders


def test_yaml_parses_back_to_exactly_the_strings(built):
    documents = _documents(built)
    everywhere = set()
    for relative, docs in documents.items():
        if relative.endswith(".yaml"):
            everywhere |= _strings(docs, set())
    for name, payload in PAYLOADS.items():
        assert payload in everywhere, f"payload {name} did not come back from the YAML exactly"
    for name in FIELD_NAMES:
        assert name in everywhere, f"field name {name!r} did not come back from the YAML exactly"
    src = documents["openapi/src.openapi.yaml"][0]
    assert src["info"]["title"] == PAYLOADS["python"]
    assert src["info"]["x-owner"] == PAYLOADS["yaml_doc"]
    assert src["info"]["description"] == DOC_PAYLOADS["python"]
    scopes = src["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["scopes"]
    assert {PAYLOADS["jinja"], PAYLOADS["yaml_tag"], PAYLOADS["quotes"]} <= set(scopes)
    dst = documents["openapi/dst.openapi.yaml"][0]
    assert dst["info"]["title"] == PAYLOADS["jinja"]
    assert dst["info"]["x-owner"] == PAYLOADS["bidi"] + PAYLOADS["newlines"]
    assert src["servers"][0]["url"] == BASE_URL
    flow = json.loads(documents["deploy/k8s/hook-items/configmap.yaml"][0]["data"]["flow.json"])
    assert flow["trigger"]["path"] == WEBHOOK
    assert flow["source"]["base_url"] == BASE_URL


def test_yaml_has_no_tags_anchors_or_implicit_types(built):
    """Every scalar a string, number, bool or null as integc meant: nothing tagged, aliased or
    implicitly typed (PyYAML resolves YAML 1.1: yes/on/~/0o777/12:30 would change type)."""
    for path in sorted(built.rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, (yaml.AliasEvent,)):
                pytest.fail(f"{path}: alias *{event.anchor}")
            anchor = getattr(event, "anchor", None)
            assert anchor is None, f"{path}: anchor &{anchor}"
            tag = getattr(event, "tag", None)
            if isinstance(event, yaml.ScalarEvent):
                assert tag in (None, "tag:yaml.org,2002:str"), f"{path}: tag {tag}"
            else:
                assert tag in (None, "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"), f"{path}: tag {tag}"
        for document in yaml.safe_load_all(text):
            if isinstance(document, dict) and "metadata" in document:
                for key in ("labels", "annotations"):
                    for name, value in (document["metadata"].get(key) or {}).items():
                        assert isinstance(value, str), f"{path}: {key} {name} = {value!r}"


def test_ir_json_keeps_every_string(built):
    ir = json.loads((built / "ir.json").read_bytes())
    found = _strings(ir, set())
    for name, payload in PAYLOADS.items():
        assert payload in found, name
    assert set(FIELD_NAMES) <= found


def test_json_schemas_validate(built):
    from jsonschema import Draft202012Validator
    schemas = {p.name: json.loads(p.read_bytes()) for p in (built / "schemas").glob("*.json")}
    assert schemas
    for name, schema in schemas.items():
        Draft202012Validator.check_schema(schema)
    wire = schemas["Wire.schema.json"]
    assert list(PAYLOADS.values()) == wire["enum"]
    hostile = schemas["Hostile.schema.json"]["properties"]
    for index, (name, payload) in enumerate(PAYLOADS.items()):
        field = hostile[f"f{index}"]
        assert field["default"] == payload and payload in field["examples"], name
        if name in DOC_PAYLOADS:
            assert field["description"].startswith(DOC_PAYLOADS[name]), name  # + "Deprecated: ..."
    item = schemas["src.Item.schema.json"]["properties"]
    assert set(FIELD_NAMES) <= set(item)


def test_openapi_validates(built):
    from openapi_spec_validator import validate
    for path in sorted((built / "openapi").glob("*.yaml")):
        validate(yaml.safe_load(path.read_bytes()))


@pytest.mark.skipif(not have("kubernetes_validate"), reason="kubernetes-validate is not installed")
def test_kubernetes_manifests_validate(built):
    from kubernetes_validate import utils as kv
    for path in sorted((built / "deploy").rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_bytes()):
            if isinstance(document, dict) and "apiVersion" in document and "kind" in document \
                    and not document["apiVersion"].startswith("kustomize"):
                kv.validate(document, kv.latest_version() + ".0", strict=True)


def test_generated_python_compiles_and_has_no_invisible_characters(built):
    """Trojan Source: no bidi control or other invisible character in generated code."""
    for path in sorted(built.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        compile(text, str(path), "exec")
        odd = {f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cs")
               and c not in "\n"}
        assert not odd, f"{path}: {sorted(odd)}"


def _run_mapping(module: Path, records: list, tmp_path: Path) -> dict:
    records_file = tmp_path / f"{module.stem}.records.json"
    records_file.write_text(json.dumps(records), encoding="utf-8")
    done = subprocess.run([sys.executable, "-I", "-S", "-B", str(HERE / "run_mapping.py"), str(module), str(records_file)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    lines = done.stdout.strip().splitlines()
    assert lines, f"no output; exit {done.returncode}\n{done.stderr[-3000:]}"
    answer = json.loads(lines[-1])
    assert "violation" not in answer, f"{module.name} did more than map: {answer}"
    assert done.returncode == 0, done.stderr[-3000:]
    return answer


@pytest.mark.parametrize("flow", ["copy_items", "hook_items", "manual_items"])
def test_generated_mapping_only_maps(built, tmp_path, flow):
    record = sample_record()
    answer = _run_mapping(built / "mappings" / f"{flow}.py", [record, {"id": "x"}, {"nope": 1}, "text", None],
                          tmp_path)
    assert answer["events"] == []
    first, minimal, missing, text, null = answer["results"]
    mapped = first["record"]
    for name in FIELD_NAMES:
        assert mapped[name] == record[name], name
    for index, payload in enumerate(PAYLOADS.values()):
        assert mapped[f"l{index}"] == payload
    assert "record" in minimal and all("mapping_error" in r for r in (missing, text, null))
    assert set(FIELD_NAMES) <= set(answer["schemas"]["source"]["properties"])
    assert answer["flow"] == flow


def test_mapping_registry_only_maps(built, tmp_path):
    """mappings/__init__.py: importable as a package under -I -S, loads a flow by name."""
    script = ("import sys, json; sys.path.insert(0, sys.argv[1]); import mappings; "
              "m = mappings.load('copy_items'); print(json.dumps(sorted(mappings.FLOWS)))")
    done = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", script, str(built)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["copy_items", "hook_items", "manual_items"]


def test_mermaid_graph_cannot_be_broken_out_of(built):
    graph = built / "docs" / "architecture.mmd"
    if not graph.exists():
        pytest.skip("no graph target output")
    allowed = re.compile(r'^(flowchart LR|  %%[^\n]*|  \w+\["[^"\n]*"\]|  \w+ -\.?->\|"[^"\n]*"\| \w+)$')
    for line in graph.read_text(encoding="utf-8").splitlines():
        assert allowed.match(line), f"unexpected line in the graph: {line[:200]!r}"
        assert "click" not in line.split('"')[0] and "javascript:" not in line


def test_no_escape_sequences_or_nul_in_any_output(built):
    for path in sorted(built.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            assert b"\x1b" not in data and b"\x00" not in data, path


def test_no_bidi_controls_in_any_output(built):
    for path in sorted(built.rglob("*")):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert not BIDI & set(text), path


def test_examples_inside_their_own_constraints(jail, tmp_path):
    """An @example outside its field's @length/@range/@pattern would give a schema whose example
    fails it; integc should refuse it (E0205) or at least not write it."""
    text = 'type T {\n  a: string @length(1, 3) @example("abcdef")\n  b: int @range(0, 5) @example(99)\n' \
           '  c: string @pattern("^[A-Z]+$") @example("lower")\n}\n'
    project = write_project(tmp_path / "p", text)
    out = tmp_path / "out"
    outcome = jail.run(["build", project, "--out", out], cwd=tmp_path, policy=policy_build(out), timeout=60)
    assert_handled(outcome)
    assert outcome.code == 1 and outcome.codes().count("E0205") == 3, outcome.describe()
    assert not out.exists()


@pytest.mark.parametrize("where", ["base_url", "token_url", "webhook", "expose", "operation"])
@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\x1b", "\x01", "\u2028", " "])
def test_control_and_bidi_characters_in_paths_and_urls_are_refused(jail, tmp_path, where, char):
    """Paths and URLs become routes, manifests and HTTP requests: no control, format or space characters."""
    base = f"https://a.example/x{char}y" if where == "base_url" else "https://a.example/x"
    token = f"https://t.example/t{char}" if where == "token_url" else "https://t.example/t"
    expose = f"/e{char}x" if where == "expose" else "/e"
    operation = f"/o{char}/{{id}}" if where == "operation" else "/o/{id}"
    webhook = f"/hooks/a{char}b" if where == "webhook" else "/hooks/a"
    text = (f'system a {{\n owner "o"\n base_url "{base}"\n auth oauth2 {{ token_url "{token}" secret "s" }}\n'
            f' entity E {{ id: string @key }}\n expose E at "{expose}" {{ list, get }}\n'
            f' operation find GET "{operation}" (id: string) -> E\n}}\n'
            f'system b {{\n owner "o"\n entity F {{ id: string @key }}\n expose F at "/f" {{ create }}\n}}\n'
            f'flow f {{\n from a.E\n to b.F\n trigger webhook "{webhook}"\n map {{ id = id }}\n}}\n')
    project = write_project(tmp_path / "p", text)
    outcome = jail.run(["check", project], cwd=tmp_path, timeout=60)
    assert_handled(outcome)
    assert outcome.codes().count("E0209") == 1, outcome.describe()
