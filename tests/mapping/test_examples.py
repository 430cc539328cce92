"""The mappings of the example projects: generated, importable, and correct on every valid record.

The property test is the guarantee of docs/mapping.md: a record valid against
SOURCE_SCHEMA maps to a record valid against TARGET_SCHEMA, or raises a
MappingError naming a *target* field (a value the type system cannot
constrain, like a substring that ends up empty under @length(1, ...)). It is
never rejected as bad input, and never fails with another exception.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mapping_support as ms  # noqa: E402

from integc.diagnostics import Diagnostics  # noqa: E402
from integc.targets.mapping import TARGET, module_name, render_module  # noqa: E402
from integc.targets.mapping.codegen import read_tree  # noqa: E402
from integc.targets.mapping.testing import example_record  # noqa: E402

EXAMPLE_DIRS = sorted(p for p in ms.EXAMPLES.iterdir() if (p / "main.integ").is_file())


@pytest.fixture(scope="module")
def projects():
    return {path.name: ms.compile_path(path) for path in EXAMPLE_DIRS}


def _flows():
    out = []
    for path in EXAMPLE_DIRS:
        project = ms.compile_path(path)
        out += [(path.name, f.name) for f in project.flows]
    return out


FLOWS = _flows()


def test_the_examples_have_flows():
    assert ("order-to-cash", "sync_customers_to_billing") in FLOWS
    assert len([f for f in FLOWS if f[0] == "order-to-cash"]) >= 5


@pytest.fixture(scope="module")
def modules(projects):
    cache = {}

    def get(example: str, flow: str):
        key = (example, flow)
        if key not in cache:
            project = projects[example]
            module = ms.module_for(project, flow)
            cache[key] = (project, module, ms.validator(module.SOURCE_SCHEMA), ms.validator(module.TARGET_SCHEMA))
        return cache[key]
    return get


@pytest.mark.parametrize("example,flow", FLOWS)
def test_every_module_compiles_and_exports_the_contract(projects, example, flow):
    source = render_module(projects[example], flow)
    compile(source, f"{flow}.py", "exec")
    namespace: dict = {}
    exec(compile(source, f"{flow}.py", "exec"), namespace)
    assert namespace["FLOW"] == flow
    assert callable(namespace["map_record"])
    assert issubclass(namespace["MappingError"], ValueError)
    for name in ("SOURCE_SCHEMA", "TARGET_SCHEMA"):
        ms.validator(namespace[name]).check_schema(namespace[name])


@pytest.mark.parametrize("example,flow", FLOWS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_valid_source_records_map_to_valid_target_records(modules, example, flow, data):
    project, module, source_validator, target_validator = modules(example, flow)
    record = data.draw(ms.entity_records(project, module.SOURCE))
    errors = list(source_validator.iter_errors(record))
    assert not errors, f"the strategy made an invalid record: {errors[0].message}"
    try:
        result = module.map_record(record, now=ms.NOW)
    except module.MappingError as error:
        assert error.path.startswith("target."), f"a valid record was rejected: {error}"
        assert "internal error" not in error.reason, str(error)
        return
    problems = list(target_validator.iter_errors(result))
    assert not problems, f"{problems[0].json_path}: {problems[0].message}\n{json.dumps(result, indent=1)}"
    json.dumps(result, allow_nan=False)  # plain JSON, no Decimal or float('nan')


@pytest.mark.parametrize("example,flow", FLOWS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_wrong_value_in_a_field_the_mapping_reads_is_rejected_with_its_path(modules, example, flow, data):
    project, module, _, _ = modules(example, flow)
    flow_ir = next(f for f in project.flows if f.name == flow)
    fields = {f.name: f for f in project.entity(module.SOURCE).fields}
    read = sorted(name for name in read_tree(flow_ir.assignments).fields if ms.wrong_value(project, fields[name].type)
                  is not None)
    if not read:
        return
    record = data.draw(ms.entity_records(project, module.SOURCE))
    name = data.draw(st.sampled_from(read))
    record[name] = ms.wrong_value(project, fields[name].type)
    with pytest.raises(module.MappingError) as caught:
        module.map_record(record, now=ms.NOW)
    assert caught.value.path == f"source.{name}"
    assert str(caught.value).startswith(f"{flow}: source.{name}: ")


@pytest.mark.parametrize("example,flow", FLOWS)
def test_a_missing_required_field_is_rejected(modules, example, flow):
    project, module, _, _ = modules(example, flow)
    flow_ir = next(f for f in project.flows if f.name == flow)
    entity = project.entity(module.SOURCE)
    read = read_tree(flow_ir.assignments).fields
    for f in entity.fields:
        if f.name in read and f.required:
            with pytest.raises(module.MappingError, match=f"source.{f.name}: missing required field"):
                module.map_record({}, now=ms.NOW)
            return


def test_the_build_emits_every_mapping_and_a_registry_without_e0307(projects, tmp_path):
    project = projects["order-to-cash"]
    diagnostics = Diagnostics()
    artifacts = TARGET.emit(project, {}, diagnostics)
    assert [d for d in diagnostics.items] == []
    paths = sorted(a.path for a in artifacts)
    assert paths == sorted([f"mappings/{module_name(f.name)}.py" for f in project.flows] + ["mappings/__init__.py"])
    out = tmp_path / "mappings"
    out.mkdir()
    for artifact in artifacts:
        (tmp_path / artifact.path).write_bytes(artifact.content)
    # the folder is a package: import it and map the example through the registry, standard library only
    flow = next(f for f in project.flows if example_record(project, f) is not None)
    example = example_record(project, flow)
    script = (
        "import json, sys\n"
        "sys.path.insert(0, '.')  # -I leaves the current folder off the path\n"
        "import mappings\n"
        f"record = json.loads({json.dumps(json.dumps(example))})\n"
        f"module = mappings.load({flow.name!r})\n"
        "print(json.dumps(module.map_record(record), sort_keys=True))\n"
        "print(json.dumps(sorted(mappings.FLOWS)))\n"
    )
    done = subprocess.run([sys.executable, "-I", "-S", "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    mapped, flows = done.stdout.splitlines()
    assert json.loads(flows) == sorted(f.name for f in project.flows)
    ms.validator(ms.module_for(project, flow.name).TARGET_SCHEMA).validate(json.loads(mapped))


def test_most_example_flows_have_a_complete_example(projects):
    project = projects["order-to-cash"]
    complete = [f.name for f in project.flows if example_record(project, f) is not None]
    assert "sync_customers_to_billing" in complete


def test_generation_is_deterministic(projects):
    project = projects["order-to-cash"]
    for flow in project.flows:
        assert render_module(project, flow) == render_module(project, flow.name)


_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)


@pytest.mark.parametrize("example,flow", FLOWS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_garbage_is_rejected_or_never_reaches_the_output(modules, example, flow, data):
    """Any JSON in any field: map_record raises MappingError, or its output is still valid."""
    project, module, _, target_validator = modules(example, flow)
    record = data.draw(ms.entity_records(project, module.SOURCE))
    names = sorted(set(record) | {f.name for f in project.entity(module.SOURCE).fields})
    for name in data.draw(st.lists(st.sampled_from(names), max_size=3, unique=True)):
        record[name] = data.draw(_ANY_JSON)
    try:
        result = module.map_record(record, now=ms.NOW)
    except module.MappingError as error:
        assert "internal error" not in error.reason, str(error)
        return
    problems = list(target_validator.iter_errors(result))
    assert not problems, f"{problems[0].json_path}: {problems[0].message}"
