"""Helpers for the mapping tests: compile sources, load generated modules, and an
IR-driven hypothesis strategy that generates records valid against an entity's schema.

(Named uniquely: with --import-mode=importlib, test folders share one module namespace.)
"""
from __future__ import annotations

import base64
import importlib.util
import sys
from datetime import timedelta, timezone
from decimal import Decimal
from pathlib import Path

import jsonschema
from hypothesis import strategies as st

from integc import ir
from integc.targets.mapping import load_module, module_name, render_module

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
EXAMPLES = REPO / "examples"
NOW = "2024-05-13T09:30:00Z"


def _load_by_path(name: str):
    unique = f"integc_mapping_tests_{name}"
    if unique in sys.modules:
        return sys.modules[unique]
    spec = importlib.util.spec_from_file_location(unique, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    spec.loader.exec_module(module)
    return module


fixtures = _load_by_path("ir_fixtures")


def compile_text(tmp_path: Path, text: str) -> ir.Project:
    """Compile one main.integ; fail the test with the diagnostics if it does not compile."""
    from integc.pipeline import compile_project

    (tmp_path / "main.integ").write_text(text, encoding="utf-8")
    result = compile_project(tmp_path)
    if result.project is None:
        problems = "\n".join(f"{d.code} {d.message} @ {d.span}" for d in result.diagnostics.sorted())
        raise AssertionError(f"the test source does not compile:\n{problems}")
    return result.project


def compile_path(path: Path) -> ir.Project:
    from integc.pipeline import compile_project

    result = compile_project(path)
    assert result.project is not None, [(d.code, d.message) for d in result.diagnostics.sorted()]
    return result.project


def module_for(project: ir.Project, flow_name: str):
    return load_module(render_module(project, flow_name), module_name(flow_name))


def validator(schema: dict) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


# ---------------------------------------------------------------- records from the IR

_EMAIL = st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,8}@[a-z0-9-]{1,10}\.[a-z]{2,6}", fullmatch=True)
_URL = st.from_regex(r"https://[a-z0-9-]{1,12}\.example(/[a-z0-9_-]{0,8}){0,3}", fullmatch=True)
_OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_DATETIME = st.builds(
    lambda d, tz: d.replace(tzinfo=tz).isoformat().replace("+00:00", "Z"),
    st.datetimes(), _OFFSETS)
_DATE = st.dates().map(lambda d: d.isoformat())
_DURATION = st.builds(lambda d, h, m, s: f"P{d}DT{h}H{m}M{s}S", st.integers(0, 400), st.integers(0, 23),
                      st.integers(0, 59), st.integers(0, 59))
_BYTES = st.binary(max_size=30).map(lambda b: base64.b64encode(b).decode("ascii"))
_JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                 max_size=3),
                     max_leaves=6)
_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


def value_strategy(project: ir.Project, f: ir.Field | None, ref: ir.TypeRef, depth: int = 0):
    """Values of type `ref` meeting the constraints of field `f` (None for list items)."""
    kind = ref.kind
    lo = f.min_length if f else None
    hi = f.max_length if f else None
    pattern = f.pattern if f else None
    if kind == "string":
        if pattern is not None:
            strategy = st.from_regex(pattern)
            if lo is not None or hi is not None:
                strategy = strategy.filter(lambda s: (lo is None or len(s) >= lo) and (hi is None or len(s) <= hi))
            return strategy
        return st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=lo or 0,
                       max_size=min(hi if hi is not None else 40, (lo or 0) + 40))
    if kind == "email":
        return _EMAIL
    if kind == "url":
        return _URL
    if kind == "uuid":
        return st.uuids().map(str)
    if kind == "date":
        return _DATE
    if kind == "datetime":
        return _DATETIME
    if kind == "duration":
        return _DURATION
    if kind == "bytes":
        return _BYTES
    if kind == "json":
        return _JSON
    if kind == "bool":
        return st.booleans()
    if kind == "int":
        low = int(f.minimum) if f and f.minimum is not None else -(2 ** 63)
        high = int(f.maximum) if f and f.maximum is not None else 2 ** 63 - 1
        return st.integers(low, high)
    if kind == "float":
        low = float(f.minimum) if f and f.minimum is not None else None
        high = float(f.maximum) if f and f.maximum is not None else None
        return st.floats(low, high, allow_nan=False, allow_infinity=False)
    if kind == "decimal":
        low = Decimal(str(f.minimum)) if f and f.minimum is not None else Decimal("-1e12")
        high = Decimal(str(f.maximum)) if f and f.maximum is not None else Decimal("1e12")
        return st.decimals(low, high, allow_nan=False, allow_infinity=False).map(_decimal_wire)
    if kind == "enum":
        return st.sampled_from([m.wire for m in project.enum(ref.ref).members])
    if kind in ("type", "entity"):
        return record_strategy(project, project.record_fields(ref), depth + 1)
    if kind == "list":
        max_size = 0 if depth > 3 else (hi if hi is not None else 4)
        return st.lists(value_strategy(project, None, ref.item, depth + 1), min_size=lo or 0,
                        max_size=max(max_size, lo or 0))
    if kind == "map":
        max_size = 0 if depth > 3 else (hi if hi is not None else 3)
        return st.dictionaries(st.text(max_size=6), value_strategy(project, None, ref.item, depth + 1),
                               min_size=lo or 0, max_size=max(max_size, lo or 0))
    raise AssertionError(f"no strategy for {ref}")


def _decimal_wire(d: Decimal) -> str:
    text = format(d, "f")
    return text[1:] if text.startswith("-") and Decimal(text) == 0 else text


def record_strategy(project: ir.Project, fields, depth: int = 0):
    """Records valid against the fields' schema: required fields always, optional ones
    absent, null or set, defaulted ones absent or set."""
    required = {}
    optional = {}
    for f in fields:
        value = value_strategy(project, f, f.type, depth)
        if f.required:
            required[f.name] = value
        elif f.optional:
            optional[f.name] = st.none() | value if depth <= 3 else st.none()
        else:
            optional[f.name] = value
    return st.fixed_dictionaries(required, optional=optional)


def entity_records(project: ir.Project, qualified_name: str):
    return record_strategy(project, project.entity(qualified_name).fields)


# ---------------------------------------------------------------- wrong values, for rejection tests

def wrong_value(project: ir.Project, ref: ir.TypeRef) -> object:
    """A value that is not a `ref` (None for `json`, which takes anything)."""
    kind = ref.kind
    return {
        "string": 42, "email": "not-an-email", "url": "not a url", "uuid": "1234", "date": "2024-02-30",
        "datetime": "2024-13-01T00:00:00Z", "duration": "15 minutes", "bytes": "***", "decimal": 12.5,
        "int": "12", "float": "1.5", "bool": "true", "enum": "no such member", "type": "an object?",
        "entity": ["a list"], "list": {"not": "a list"}, "map": ["not", "a", "map"],
    }.get(kind)

