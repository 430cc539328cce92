"""The `jsonschema` target on hand-built IR (tests/targets/ir_fixtures.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib: find ir_fixtures
import ir_fixtures as fx  # noqa: E402
from integc.diagnostics import Diagnostics  # noqa: E402
from integc.targets import load_targets  # noqa: E402
from integc.targets import jsonschema as js  # noqa: E402


def emit(project):
    diagnostics = Diagnostics()
    artifacts = js.TARGET.emit(project, {}, diagnostics)
    assert not diagnostics.items
    return {a.path: a.content for a in artifacts}


@pytest.fixture(scope="module")
def files():
    return {path: json.loads(content) for path, content in emit(fx.rich_project()).items()}


def validator(schema):
    return Draft202012Validator(schema, format_checker=FormatChecker())


def test_registered_and_takes_no_options():
    target = load_targets()["jsonschema"]
    assert target is js.TARGET and target.name == "jsonschema"
    Draft202012Validator.check_schema(target.options_schema)
    assert Draft202012Validator(target.options_schema).is_valid({})
    assert not Draft202012Validator(target.options_schema).is_valid({"format": "yaml"})


def test_one_file_per_entity_type_and_enum(files):
    project = fx.rich_project()
    expected = {f"schemas/{e.qualified_name}.schema.json" for s in project.systems for e in s.entities}
    expected |= {f"schemas/{t.name}.schema.json" for t in project.types}
    expected |= {f"schemas/{e.name}.schema.json" for e in project.enums}
    assert set(files) == expected
    assert "schemas/ledger.Entry.schema.json" in files  # entities of systems without an API too
    assert "schemas/Unused.schema.json" in files


def test_every_file_is_a_valid_2020_12_schema_with_id_and_title(files):
    ids = set()
    for path, schema in files.items():
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        name = path[len("schemas/"):-len(".schema.json")]
        assert schema["$id"] == f"https://integc.dev/schemas/acme.fixture/2.3.0/{name}.schema.json"
        assert schema["title"] == name
        ids.add(schema["$id"])
        assert list(schema)[:3] == ["$schema", "$id", "title"]
    assert len(ids) == len(files)


def test_files_are_self_contained(files):
    def refs(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    yield v
                else:
                    yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    for path, schema in files.items():
        for ref in refs(schema):
            assert ref == "#" or ref.startswith("#/$defs/"), (path, ref)
            if ref != "#":
                assert ref[len("#/$defs/"):] in schema["$defs"], (path, ref)


def test_defs_hold_the_transitive_closure(files):
    customer = files["schemas/crm.Customer.schema.json"]
    assert set(customer["$defs"]) == {"Address", "Tier", "Money", "Category", "crm.Case", "Channel"}
    assert customer["$defs"]["crm.Case"]["title"] == "crm.Case"
    assert customer["$defs"]["Tier"]["title"] == "Tier"
    line = files["schemas/LineItem.schema.json"]
    assert set(line["$defs"]) == {"Money"}
    assert "$defs" not in files["schemas/Address.schema.json"]


def test_recursive_type_refers_to_its_root(files):
    category = files["schemas/Category.schema.json"]
    assert category["properties"]["children"]["items"] == {"$ref": "#"}
    assert "$defs" not in category
    tree = {"label": "root", "children": [{"label": "a", "children": [{"label": "b", "children": []}]}]}
    assert validator(category).is_valid(tree)
    assert not validator(category).is_valid({"label": "root", "children": [{"label": ""}]})


def test_enum_file(files):
    status = files["schemas/OrderStatus.schema.json"]
    assert status["type"] == "string"
    assert status["enum"] == ["PENDING", "CONFIRMED", "SHIPPED", "CANCELLED"]
    assert status["x-enum-varnames"] == ["pending", "confirmed", "shipped", "cancelled"]
    assert validator(status).is_valid("SHIPPED") and not validator(status).is_valid("shipped")


CUSTOMER = {
    "id": "5f0c8a9e-2b1d-4c3e-9f6a-7b8c9d0e1f2a",
    "email": "jane.doe@example.com",
    "name": "Jane Doe",
    "tier": "pro",
    "billing_address": {"line1": "1 Market Street", "city": "London", "country": "GB"},
    "shipping_addresses": [],
    "tags": ["vip"],
    "scores": [10, 100],
    "attributes": {"source": "web"},
    "credit_limit": {"amount": "5000.00", "currency": "GBP"},
    "retention": "PT15M",
    "balance": "-12.50",
    "interests": None,
    "primary_case": {"case_id": "5003000000D8cuI", "subject": "Scratched", "channel": "yes",
                     "opened_at": "2024-05-13T10:00:00Z"},
    "created_at": "2024-05-13T10:00:00Z",
    "a_field_from_a_newer_release": True,
}


def test_example_records_validate(files):
    v = validator(files["schemas/crm.Customer.schema.json"])
    assert list(v.iter_errors(CUSTOMER)) == []
    minimal = {k: CUSTOMER[k] for k in ("id", "email", "name", "shipping_addresses", "tags", "scores",
                                        "attributes", "created_at")}
    assert v.is_valid(minimal)
    invoice = {"invoice_number": "INV-00012345", "account_id": "ACC-1", "due_on": "2024-06-30",
               "extra": {"anything": [1, "two", None]},
               "lines": [{"sku": "WID-0042", "quantity": 3, "unit_price": {"amount": "10.00"}}],
               "total": {"amount": "30.00", "currency": "GBP"}}
    assert list(validator(files["schemas/billing.Invoice.schema.json"]).iter_errors(invoice)) == []


@pytest.mark.parametrize("change", [
    {"email": None},                        # required, not nullable
    {"name": ""},                           # @length(1, 200)
    {"tier": "gold"},                       # not an enum value
    {"balance": 12.5},                      # decimals are strings
    {"balance": "1e3"},                     # no exponent
    {"billing_address": {"line1": "x", "city": "y", "country": "gb"}},  # @pattern
    {"shipping_addresses": [{"line1": "x", "city": "y"}] * 6},          # @length on a list
    {"scores": [101]},                      # @range on list items
    {"tags": ["NOT-lower"]},                # @pattern on list items
    {"attributes": {"k": 1}},               # map<string>
    {"credit_limit": {"amount": "-1"}},     # @range(0, ...) on a decimal drops the sign
    {"id": "not-a-uuid"},                   # format, with a format checker
])
def test_invalid_records_are_rejected(files, change):
    v = validator(files["schemas/crm.Customer.schema.json"])
    assert not v.is_valid({**CUSTOMER, **change})


@pytest.mark.parametrize("missing", ["id", "email", "shipping_addresses", "created_at"])
def test_required_fields(files, missing):
    v = validator(files["schemas/crm.Customer.schema.json"])
    assert not v.is_valid({k: v_ for k, v_ in CUSTOMER.items() if k != missing})


def test_optional_and_defaulted_fields_are_not_required(files):
    customer = files["schemas/crm.Customer.schema.json"]
    assert "tier" not in customer["required"] and "billing_address" not in customer["required"]
    assert "marketing_opt_in" not in customer["required"]


def test_records_are_open(files):
    for schema in files.values():
        assert schema.get("additionalProperties", True) is not False


def test_deterministic_and_lf(files):
    first = emit(fx.rich_project())
    assert first == emit(fx.rich_project())
    for content in first.values():
        assert content.endswith(b"}\n") and b"\r" not in content


def test_hostile_text_round_trips():
    out = emit(fx.hostile_project())
    thing = json.loads(out["schemas/hostile.Thing.schema.json"])
    assert thing["description"] == fx.HOSTILE
    assert thing["properties"]["id"]["examples"] == [fx.HOSTILE]
    assert thing["properties"]["note"]["default"] == fx.HOSTILE
    for i, value in enumerate(fx.YAML_LOOKALIKES):
        assert thing["properties"][f"s{i}"]["default"] == value
    assert "\u202e".encode() not in out["schemas/hostile.Thing.schema.json"]
    kind = json.loads(out["schemas/Kind.schema.json"])
    assert kind["description"] == fx.HOSTILE
    Draft202012Validator.check_schema(thing)


# ---------------------------------------------------------------- the order-to-cash example

REPO = Path(__file__).resolve().parents[2]


def test_example_schemas_match_golden_files(request):
    from integc.pipeline import compile_project

    result = compile_project(REPO / "examples" / "order-to-cash")
    assert result.project is not None
    out = emit(result.project)
    assert "schemas/crm.Customer.schema.json" in out and "schemas/OrderStatus.schema.json" in out
    for content in out.values():
        Draft202012Validator.check_schema(json.loads(content))
    fx.check_golden(request, REPO / "tests" / "golden" / "schemas", {Path(p).name: c for p, c in out.items()})
