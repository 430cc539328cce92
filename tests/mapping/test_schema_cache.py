"""The mapping target's schemas, built once per project and shared between flows
(targets/mapping/schemas.py ProjectCache), are the schemas a fresh build gives."""
from __future__ import annotations

import copy
import pprint
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mapping_support as ms  # noqa: E402

from integc.targets import schema_common as sc  # noqa: E402
from integc.targets.jsonschema import build_schema, schema_id  # noqa: E402
from integc.targets.mapping import render_module  # noqa: E402
from integc.targets.mapping.schemas import ProjectCache, entity_schema, project_cache  # noqa: E402

fx = ms.fixtures


def fresh_schema(project, qualified_name, write):
    """The schema built from nothing, with a deep copy for the write form (the reference)."""
    schema = build_schema(project, "entity", qualified_name)
    if not write:
        return schema
    schema = copy.deepcopy(schema)
    schema["$id"] = schema_id(project, f"{qualified_name}.write.schema.json")

    def not_required(part, fields):
        readonly = {f.name for f in fields if f.readonly}
        required = [n for n in part.get("required", []) if n not in readonly]
        if required:
            part["required"] = required
        else:
            part.pop("required", None)

    not_required(schema, project.entity(qualified_name).fields)
    for kind, name in sc.closure(project, [("entity", qualified_name)]):
        if kind != "enum" and name in schema.get("$defs", {}) and (kind, name) != ("entity", qualified_name):
            fields = project.entity(name).fields if kind == "entity" else project.type(name).fields
            not_required(schema["$defs"][name], fields)
    return schema


def _projects():
    yield "hostile", fx.hostile_project()
    yield "recursive", fx.recursive_project()
    yield "mixed", fx.mixed_project()
    for name in ("order-to-cash", "quickstart"):
        if (ms.EXAMPLES / name).is_dir():
            yield name, ms.compile_path(ms.EXAMPLES / name)


@pytest.mark.parametrize("name,project", list(_projects()), ids=lambda v: v if isinstance(v, str) else "")
def test_shared_schemas_equal_fresh_ones(name, project):
    cache = ProjectCache(project)
    entities = [e.qualified_name for s in project.systems for e in s.entities]
    # every entity in both forms, the write form first for half of them (its read form is built on the way)
    for i, qualified in enumerate(entities):
        for write in ((True, False) if i % 2 else (False, True)):
            got = cache.entity_schema(qualified, write=write)
            want = fresh_schema(project, qualified, write)
            assert got == want
            assert list(got) == list(want)  # key order too
            assert pprint.pformat(got, width=100, sort_dicts=False) == pprint.pformat(want, width=100,
                                                                                       sort_dicts=False)
            assert cache.pretty.pformat(got) == pprint.pformat(want, width=100, sort_dicts=False)


def test_rendering_changes_no_shared_schema():
    project = ms.compile_path(ms.EXAMPLES / "order-to-cash")
    entities = [e.qualified_name for s in project.systems for e in s.entities]
    before = {(q, w): copy.deepcopy(entity_schema(project, q, write=w)) for q in entities for w in (False, True)}
    first = [render_module(project, flow) for flow in project.flows]
    assert [render_module(project, flow) for flow in project.flows] == first
    assert {(q, w): entity_schema(project, q, write=w) for q in entities for w in (False, True)} == before


def test_one_cache_per_project():
    a, b = fx.mixed_project(), fx.recursive_project()
    assert project_cache(a) is project_cache(a)
    cache_a = project_cache(a)
    assert project_cache(b).project is b
    assert project_cache(a) is not cache_a  # the last project only: another one starts afresh
    assert project_cache(a).project is a


def test_the_example_check_reads_the_schema_of_the_module_it_is_given():
    """check_examples validates against the module's TARGET_SCHEMA: the shared schema object when the
    module is the one the project renders, the module's own literal for any other text."""
    from integc.targets.mapping import module_source
    from integc.targets.mapping.testing import check_example, example_record

    project = ms.compile_path(ms.EXAMPLES / "order-to-cash")
    flow = next(f for f in project.flows if example_record(project, f) is not None)
    source = module_source(project, flow).decode("utf-8")
    assert check_example(project, flow, source) is None
    stricter = source.replace("\n__all__ = ", "\nTARGET_SCHEMA = {**TARGET_SCHEMA, 'required': ['no_such_field']}\n"
                                               "__all__ = ", 1)
    assert stricter != source
    problem = check_example(project, flow, stricter)
    assert problem is not None and "no_such_field" in problem


def test_release_keeps_the_modules_until_told():
    from integc.targets.mapping import module_source
    from integc.targets.mapping.schemas import release

    project = fx.mixed_project()
    flow = project.flows[0]
    first = module_source(project, flow)
    schema = entity_schema(project, flow.source, write=False)
    release(project)
    assert module_source(project, flow) is first  # kept for the k8s target's bundles
    assert entity_schema(project, flow.source, write=False) is not schema  # built again, equal
    assert entity_schema(project, flow.source, write=False) == schema
    release(project, modules=True)
    assert module_source(project, flow) == first and module_source(project, flow) is not first
    release(fx.recursive_project(), modules=True)  # another project's: nothing to do
    assert project_cache(project).project is project
