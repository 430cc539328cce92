"""The `openapi` target on hand-built IR (tests/targets/ir_fixtures.py)."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as osv_validate

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib: find ir_fixtures
import ir_fixtures as fx  # noqa: E402
from integc.diagnostics import Diagnostics
from integc.naming import operation_id, plural
from integc.targets import load_targets
from integc.targets import openapi as oa
from integc.targets import schema_common as sc
from integc.targets import serialise
from integc.targets.jsonschema import build_schema

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def emit(project, fmt="yaml"):
    diagnostics = Diagnostics()
    artifacts = oa.TARGET.emit(project, {"format": fmt}, diagnostics)
    return {a.path: a.content for a in artifacts}, diagnostics


def load(content: bytes) -> dict:
    return yaml.safe_load(content.decode("utf-8"))


@pytest.fixture(scope="module")
def rich():
    out, diagnostics = emit(fx.rich_project())
    assert diagnostics.items == []
    return {path.split("/")[1].split(".")[0]: load(content) for path, content in out.items()}


@pytest.fixture(scope="module")
def crm(rich):
    return rich["crm"]


def schemas(doc):
    return doc["components"]["schemas"]


def ops(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield path, method, op


# ---------------------------------------------------------------- naming

@pytest.mark.parametrize("singular, many", [
    ("Customer", "Customers"), ("Category", "Categories"), ("Address", "Addresses"),
    ("Status", "Statuses"), ("OrderStatus", "OrderStatuses"), ("SalesPerson", "SalesPeople"),
    ("JournalEntry", "JournalEntries"), ("Box", "Boxes"), ("Day", "Days"), ("Analysis", "Analyses"),
    ("Match", "Matches"), ("Leaf", "Leaves"), ("Metadata", "Metadata"), ("Settings", "Settings"),
    ("SKU", "SKUs"), ("ticket_fact", "ticket_facts"), ("Person", "People"), ("Hero", "Heroes"),
    ("Photo", "Photos"), ("Bus", "Buses"),
])
def test_plural(singular, many):
    assert plural(singular) == many


def test_operation_ids():
    assert [operation_id(k, "Customer") for k in ("list", "get", "create", "update", "patch", "delete")] == [
        "listCustomers", "getCustomer", "createCustomer", "updateCustomer", "patchCustomer", "deleteCustomer"]
    assert operation_id("list", "Category") == "listCategories"
    assert operation_id("get", "salesOrder") == "getSalesOrder"


# ---------------------------------------------------------------- registry and options

def test_registered_with_options_schema():
    target = load_targets()["openapi"]
    assert target is oa.TARGET and target.name == "openapi"
    Draft202012Validator.check_schema(target.options_schema)
    validator = Draft202012Validator(target.options_schema)
    assert validator.is_valid({}) and validator.is_valid({"format": "json"})
    assert not validator.is_valid({"format": "xml"})
    assert not validator.is_valid({"colour": "blue"})


def test_one_document_per_system_with_an_api():
    out, _ = emit(fx.rich_project())
    assert sorted(out) == sorted(f"openapi/{s}.openapi.yaml" for s in
                                 ("crm", "billing", "erp", "support", "warehouse", "status_page"))
    out, _ = emit(fx.rich_project(), "json")
    assert "openapi/crm.openapi.json" in out and "openapi/ledger.openapi.json" not in out


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("make", [fx.rich_project, fx.hostile_project])
def test_documents_are_valid_openapi_31(fmt, make):
    out, diagnostics = emit(make(), fmt)
    assert not diagnostics.has_errors
    for content in out.values():
        doc = json.loads(content) if fmt == "json" else load(content)
        assert doc["openapi"] == "3.1.0"
        osv_validate(doc)


def test_yaml_and_json_hold_the_same_document():
    yaml_out, _ = emit(fx.rich_project(), "yaml")
    json_out, _ = emit(fx.rich_project(), "json")
    for path, content in yaml_out.items():
        assert load(content) == json.loads(json_out[path.replace(".yaml", ".json")])


def test_bytes_are_deterministic_lf_and_end_with_a_newline():
    first, _ = emit(fx.rich_project())
    second, _ = emit(fx.rich_project())
    assert first == second
    for content in first.values():
        assert content.endswith(b"\n") and not content.endswith(b"\n\n") and b"\r" not in content


def test_bytes_do_not_depend_on_the_hash_seed():
    code = ("import sys, hashlib; sys.path.insert(0, %r); import ir_fixtures as fx;"
            "from integc.targets import openapi, jsonschema; from integc.diagnostics import Diagnostics;"
            "arts = openapi.TARGET.emit(fx.rich_project(), {}, Diagnostics())"
            " + jsonschema.TARGET.emit(fx.rich_project(), {}, Diagnostics());"
            "print(hashlib.sha256(b''.join(a.path.encode() + a.content for a in arts)).hexdigest())"
            % str(HERE))
    digests = set()
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        digests.add(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                   capture_output=True, text=True).stdout)
    assert len(digests) == 1


def test_top_level_key_order(crm):
    assert list(crm) == ["openapi", "info", "servers", "security", "tags", "paths", "components"]
    assert list(crm["components"]) == ["schemas", "responses", "parameters", "securitySchemes"]
    assert list(schemas(crm)) == sorted(schemas(crm))


# ---------------------------------------------------------------- info, servers, security, tags

def test_info(rich):
    info = rich["crm"]["info"]
    assert info["title"] == "Salesforce CRM" and info["version"] == "2.3.0"
    assert info["description"].startswith("Salesforce, the sales team's CRM")
    assert info["contact"] == {"email": "sales-ops@acme.example"}
    warehouse = rich["warehouse"]["info"]
    assert warehouse["title"] == "warehouse"  # no title: the system's name
    assert warehouse["contact"] == {"name": "Data platform team"}
    assert warehouse["x-owner"] == "Data platform team"
    assert "contact" not in rich["status_page"]["info"]


def test_servers(rich):
    assert rich["crm"]["servers"][0]["url"] == "https://acme.my.salesforce.com/services/apexrest/v1"
    assert rich["billing"]["servers"][0]["url"] == "https://billing.acme.example/v2"
    assert rich["warehouse"]["servers"][0]["url"] == "/"  # no base_url


@pytest.mark.parametrize("system, name, scheme, requirement", [
    ("crm", "oauth2", {"type": "oauth2", "flows": {"clientCredentials": {
        "tokenUrl": "https://login.salesforce.com/services/oauth2/token",
        "scopes": {"api": "The `api` scope.", "refresh_token": "The `refresh_token` scope."}}}},
     ["api", "refresh_token"]),
    ("billing", "apiKey", {"type": "apiKey", "in": "header", "name": "X-Api-Key"}, []),
    ("erp", "mutualTLS", {"type": "mutualTLS"}, []),
    ("support", "basicAuth", {"type": "http", "scheme": "basic"}, []),
    ("warehouse", "bearerAuth", {"type": "http", "scheme": "bearer"}, []),
])
def test_security_schemes(rich, system, name, scheme, requirement):
    doc = rich[system]
    got = doc["components"]["securitySchemes"]
    assert list(got) == [name]
    assert {k: v for k, v in got[name].items() if k != "description"} == scheme
    assert got[name]["description"]
    assert doc["security"] == [{name: requirement}]


def test_auth_none_is_explicitly_public(rich):
    doc = rich["status_page"]
    assert doc["security"] == []
    assert "securitySchemes" not in doc["components"]
    for _, _, op in ops(doc):
        assert "401" not in op["responses"] and "403" not in op["responses"]


def test_no_secret_names_in_documents():
    out, _ = emit(fx.rich_project())
    for content in out.values():
        assert b"a-secret" not in content


def test_tags(crm, rich):
    assert [t["name"] for t in crm["tags"]] == ["Customer", "Case", "crm"]
    assert crm["tags"][0]["description"] == "Customers, the system of record."  # the expose's docs
    assert crm["tags"][1]["description"].startswith("A support escalation")  # the entity's docs
    for doc in rich.values():
        names = {t["name"] for t in doc["tags"]}
        assert all(t.get("description") for t in doc["tags"])
        for _, _, op in ops(doc):
            assert op["tags"] and set(op["tags"]) <= names
            assert op["summary"] and op["description"] and op["operationId"]


# ---------------------------------------------------------------- exposed operations

def test_expose_paths_methods_and_operation_ids(crm):
    assert {p: list(item) for p, item in crm["paths"].items() if not p.startswith(("/health", "/categories"))} == {
        "/customers": ["get", "post"],
        "/customers/{id}": ["get", "put", "patch", "delete"],
        "/cases": ["get", "post"],
        "/cases/{case_id}": ["get"],
        "/customers/{id}/merge": ["post"],
        "/customers/search": ["get"],
        "/customers/{id}/tags": ["put"],
    }
    ids = {(p, m): op["operationId"] for p, m, op in ops(crm)}
    assert ids[("/customers", "get")] == "listCustomers"
    assert ids[("/customers", "post")] == "createCustomer"
    assert ids[("/customers/{id}", "get")] == "getCustomer"
    assert ids[("/customers/{id}", "put")] == "updateCustomer"
    assert ids[("/customers/{id}", "patch")] == "patchCustomer"
    assert ids[("/customers/{id}", "delete")] == "deleteCustomer"
    assert ids[("/cases", "get")] == "listCases"


def test_list(crm):
    op = crm["paths"]["/customers"]["get"]
    assert op["parameters"] == [{"$ref": "#/components/parameters/Limit"},
                                {"$ref": "#/components/parameters/Cursor"}]
    params = crm["components"]["parameters"]
    assert params["Limit"]["in"] == "query" and params["Limit"]["required"] is False
    assert params["Limit"]["schema"] == {"type": "integer", "format": "int64", "minimum": 1,
                                         "maximum": 1000, "default": 100}
    assert params["Cursor"]["schema"] == {"type": "string"} and params["Cursor"]["name"] == "cursor"
    ok = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/CustomerPage"}
    page = schemas(crm)["CustomerPage"]
    assert page["required"] == ["items", "next_cursor"]
    assert page["properties"]["items"]["items"] == {"$ref": "#/components/schemas/Customer"}
    assert page["properties"]["next_cursor"]["type"] == ["string", "null"]


def test_create_uses_the_input_schema_and_answers_201_with_location(crm):
    op = crm["paths"]["/customers"]["post"]
    assert op["requestBody"]["required"] is True
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CustomerInput"}
    created = op["responses"]["201"]
    assert created["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Customer"}
    assert created["headers"]["Location"]["schema"] == {"type": "string", "format": "uri-reference"}
    entity, body = schemas(crm)["Customer"], schemas(crm)["CustomerInput"]
    readonly = {"id", "balance", "created_at"}
    assert readonly <= set(entity["properties"])
    assert not readonly & set(body["properties"])
    assert set(entity["properties"]) - set(body["properties"]) == readonly
    assert all(entity["properties"][n].get("readOnly") for n in readonly)
    assert not any(p.get("readOnly") for p in body["properties"].values())
    assert body["required"] == ["email", "name", "shipping_addresses", "tags", "scores", "attributes"]


def test_entity_without_readonly_fields_has_no_input_schema(rich):
    billing = rich["billing"]  # Account has a read-only balance; Invoice too
    assert "AccountInput" in schemas(billing)
    status = rich["status_page"]
    assert not any(name.endswith("Input") for name in schemas(status))
    warehouse = rich["warehouse"]  # RevenueFact: create without read-only fields
    body = warehouse["paths"]["/revenue-facts"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/RevenueFact"}


def test_item_operations(crm, rich):
    item = crm["paths"]["/customers/{id}"]
    for method in ("get", "put", "patch", "delete"):
        param = item[method]["parameters"][0]
        assert param == {"name": "id", "in": "path", "required": True,
                         "description": "The `id` of the customer.",
                         "schema": {"type": "string", "format": "uuid"}}
        assert "404" in item[method]["responses"]
    assert item["put"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CustomerInput"}
    assert "200" in item["put"]["responses"]
    assert list(item["delete"]["responses"])[0] == "204"
    assert "content" not in item["delete"]["responses"]["204"]
    # an int key, typed with its constraints
    order = rich["erp"]["paths"]["/sales-orders/{order_number}"]["get"]["parameters"][0]
    assert order["schema"] == {"type": "integer", "format": "int64", "minimum": 1, "maximum": 99999999}
    # a trailing slash in the expose path is dropped
    assert "/revenue-facts" in rich["warehouse"]["paths"]
    assert "/revenue-facts/{fact_id}" in rich["warehouse"]["paths"]


def test_patch_is_a_merge_patch_with_every_field_optional(crm):
    op = crm["paths"]["/customers/{id}"]["patch"]
    content = op["requestBody"]["content"]
    assert list(content) == ["application/merge-patch+json"]
    assert content["application/merge-patch+json"]["schema"] == {"$ref": "#/components/schemas/CustomerPatch"}
    patch = schemas(crm)["CustomerPatch"]
    assert "required" not in patch
    assert set(patch["properties"]) == set(schemas(crm)["CustomerInput"]["properties"])


def test_error_responses(crm, rich):
    responses = crm["components"]["responses"]
    assert sorted(responses) == ["BadRequest", "Forbidden", "InternalServerError", "NotFound",
                                 "TooManyRequests", "Unauthorized"]
    for response in responses.values():
        assert response["content"] == {"application/problem+json": {
            "schema": {"$ref": "#/components/schemas/Problem"}}}
    assert "Retry-After" in responses["TooManyRequests"]["headers"]
    problem = schemas(crm)["Problem"]
    assert set(problem["properties"]) == {"type", "title", "status", "detail", "instance"}
    collection = crm["paths"]["/customers"]["get"]["responses"]
    assert list(collection) == ["200", "400", "401", "403", "429", "500"]
    for _, _, op in ops(crm):
        codes = list(op["responses"])
        assert any(c.startswith("2") for c in codes) and "400" in codes and "500" in codes


# ---------------------------------------------------------------- custom operations

def test_custom_operation_with_path_and_body(crm):
    op = crm["paths"]["/customers/{id}/merge"]["post"]
    assert op["operationId"] == "mergeCustomers" and op["summary"] == "Merge customers"
    assert op["description"] == "Fold a duplicate customer into this one."
    assert op["tags"] == ["Customer"]
    assert op["parameters"] == [{"name": "id", "in": "path", "required": True,
                                 "schema": {"type": "string", "format": "uuid"}}]
    assert op["requestBody"]["required"] is True
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MergeRequest"}
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Customer"}
    assert "404" in op["responses"]


def test_custom_operation_with_query_parameters(crm):
    op = crm["paths"]["/customers/search"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["q"]["required"] is True and params["q"]["in"] == "query"
    assert params["limit"]["required"] is False
    assert params["tier"]["schema"] == {"$ref": "#/components/schemas/Tier"}
    assert params["tags"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "array", "items": {"$ref": "#/components/schemas/Customer"}}
    assert op["tags"] == ["Customer"]  # tagged by the entity it returns, through list<>
    assert "404" not in op["responses"]  # no path parameters


def test_custom_operation_without_return_answers_204(crm):
    op = crm["paths"]["/health"]["get"]
    assert list(op["responses"])[0] == "204"
    assert op["tags"] == ["crm"]  # returns no entity: the system's tag
    assert "parameters" not in op and "requestBody" not in op
    tags = crm["paths"]["/customers/{id}/tags"]["put"]
    assert tags["requestBody"]["content"]["application/json"]["schema"] == {
        "type": "array", "items": {"type": "string"}}
    assert list(tags["responses"])[0] == "204"


def test_custom_operation_optional_return_and_optional_body(crm, rich):
    op = crm["paths"]["/categories/{root}"]["get"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "anyOf": [{"$ref": "#/components/schemas/Category"}, {"type": "null"}]}
    void = rich["billing"]["paths"]["/invoices/{invoice_number}/void"]["post"]
    assert void["requestBody"]["required"] is False


# ---------------------------------------------------------------- schemas

def test_components_hold_exactly_the_reachable_schemas(crm, rich):
    assert set(schemas(crm)) == {
        "Customer", "CustomerInput", "CustomerPatch", "CustomerPage", "Case", "CaseInput", "CasePage",
        "Address", "Money", "Tier", "Channel", "Category", "MergeRequest", "Problem"}
    assert "Note" not in schemas(crm)  # declared, not exposed, not returned
    for doc in rich.values():
        assert "Unused" not in schemas(doc)
        text = json.dumps(doc)
        for name in schemas(doc):  # and every one is used
            assert text.count(f'"#/components/schemas/{name}"') >= 1, name


def test_every_ref_resolves(rich):
    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    yield v
                else:
                    yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)

    for doc in rich.values():
        for ref in walk(doc):
            target = doc
            for part in ref[2:].split("/"):
                target = target[part]


def test_field_schemas(crm):
    props = schemas(crm)["Customer"]["properties"]
    assert props["tier"] == {"$ref": "#/components/schemas/Tier", "default": "free"}
    assert props["billing_address"] == {
        "anyOf": [{"$ref": "#/components/schemas/Address"}, {"type": "null"}], "x-integc-pii": True}
    assert props["shipping_addresses"] == {
        "type": "array", "items": {"$ref": "#/components/schemas/Address"}, "minItems": 0, "maxItems": 5}
    assert props["tags"] == {"type": "array", "items": {"type": "string", "pattern": "^[a-z-]+$"}}
    assert props["scores"]["items"] == {"type": "integer", "format": "int64", "minimum": 0, "maximum": 100}
    assert props["attributes"] == {"type": "object", "additionalProperties": {"type": "string"},
                                   "minProperties": 0, "maxProperties": 50}
    assert props["website"] == {"type": ["string", "null"], "format": "uri",
                                "examples": ["https://doe.example/"]}
    assert props["retention"] == {"type": "string", "format": "duration", "default": "PT15M",
                                  "examples": ["PT1H30M"]}
    assert props["balance"] == {"type": "string", "format": "decimal", "pattern": sc.DECIMAL_PATTERN,
                                "default": "0.00", "readOnly": True}
    assert props["legacy_code"]["deprecated"] is True
    assert props["legacy_code"]["description"] == "Deprecated: replaced by account ids; removed in 2.0"
    assert props["email"]["x-integc-pii"] is True
    assert props["interests"] == {"type": ["array", "null"],
                                  "items": {"$ref": "#/components/schemas/Category"}}
    assert props["primary_case"] == {"anyOf": [{"$ref": "#/components/schemas/Case"}, {"type": "null"}]}


def test_money_decimal_range_and_enum(crm, rich):
    amount = schemas(crm)["Money"]["properties"]["amount"]
    assert amount == {"description": "The amount in major units, e.g. 129.99.", "type": "string",
                      "format": "decimal", "x-integc-minimum": 0, "x-integc-maximum": 1000000000,
                      "pattern": sc.UNSIGNED_DECIMAL_PATTERN, "examples": ["129.99"]}
    status = schemas(rich["erp"])["OrderStatus"]
    assert status["enum"] == ["PENDING", "CONFIRMED", "SHIPPED", "CANCELLED"]
    assert status["x-enum-varnames"] == ["pending", "confirmed", "shipped", "cancelled"]
    assert status["x-enum-descriptions"][0] == "Placed, not yet confirmed."
    order = schemas(rich["erp"])["SalesOrder"]["properties"]
    assert order["status"]["default"] == "PENDING"
    assert order["history"] == {"type": ["object", "null"],
                                "additionalProperties": {"$ref": "#/components/schemas/OrderStatus"}}


@pytest.mark.parametrize("kind, expected", [
    ("string", {"type": "string"}), ("int", {"type": "integer", "format": "int64"}),
    ("decimal", {"type": "string", "format": "decimal", "pattern": sc.DECIMAL_PATTERN}),
    ("float", {"type": "number", "format": "double"}), ("bool", {"type": "boolean"}),
    ("date", {"type": "string", "format": "date"}), ("datetime", {"type": "string", "format": "date-time"}),
    ("duration", {"type": "string", "format": "duration"}), ("uuid", {"type": "string", "format": "uuid"}),
    ("email", {"type": "string", "format": "email"}), ("url", {"type": "string", "format": "uri"}),
    ("bytes", {"type": "string", "contentEncoding": "base64"}), ("json", {}),
])
def test_primitive_mapping(kind, expected):
    assert sc.field_schema(fx.fld("f", kind), lambda k, n: n) == expected
    optional = sc.field_schema(fx.fld("f", kind, optional=True), lambda k, n: n)
    if kind == "json":
        assert optional == {}
    else:
        assert optional["type"] == [expected["type"], "null"]


def test_bytes_length_counts_base64_characters():
    schema = sc.field_schema(fx.fld("f", "bytes", length=(1, 10)), lambda k, n: n)
    assert schema["minLength"] == 4 and schema["maxLength"] == 16


@pytest.mark.parametrize("ms, text", [(0, "PT0S"), (500, "PT0.5S"), (2000, "PT2S"), (900000, "PT15M"),
                                      (3600000, "PT1H"), (86400000, "P1D"), (90061001, "P1DT1H1M1.001S")])
def test_iso_durations(ms, text):
    assert sc.iso_duration(ms) == text


def test_field_schemas_identical_in_both_targets(rich):
    project = fx.rich_project()
    for system in project.systems:
        doc = rich.get(system.name)
        if doc is None:
            continue
        for entity in system.entities:
            component = schemas(doc).get(entity.name)
            if component is None:
                continue
            standalone = build_schema(project, "entity", entity.qualified_name)
            text = json.dumps(standalone["properties"], sort_keys=True)
            text = text.replace('"#/$defs/', '"#/components/schemas/')
            text = text.replace(f'"#/components/schemas/{system.name}.', '"#/components/schemas/')
            text = text.replace('"$ref": "#"', f'"$ref": "#/components/schemas/{entity.name}"')
            assert json.loads(text) == component["properties"]


def test_examples_and_defaults_validate_against_their_schemas(rich):
    for doc in rich.values():
        for name, schema in schemas(doc).items():
            for prop in schema.get("properties", {}).values():
                values = prop.get("examples", []) + ([prop["default"]] if "default" in prop else [])
                if not values:
                    continue
                resolvable = {**prop, "components": doc["components"]}
                for value in values:
                    assert Draft202012Validator(resolvable).is_valid(value), (name, prop, value)


# ---------------------------------------------------------------- names and conflicts

def test_component_name_collisions():
    types, enums = fx.shared_types()
    problem = fx.entity("svc", "Problem", fx.fld("code", "string", key=True), fx.fld("at", "datetime", readonly=True))
    page = fx.entity("svc", "ProblemPage", fx.fld("id", "string", key=True))
    address = fx.entity("svc", "Address", fx.fld("id", "string", key=True),
                        fx.fld("home", fx.t("type", "Address")))
    svc = fx.system("svc", owner="o@acme.example", entities=(problem, page, address),
                    exposes=(fx.expose("Problem", "/problems", "list", "get", "create"),
                             fx.expose("ProblemPage", "/pages", "get"),
                             fx.expose("Address", "/addresses", "get")))
    out, diagnostics = emit(fx.project(svc, types=types, enums=enums))
    assert diagnostics.items == []
    doc = load(out["openapi/svc.openapi.yaml"])
    names = set(schemas(doc))
    assert {"Problem", "ProblemPage", "Address", "AddressType", "ProblemPage2", "ProblemInput",
            "ProblemDetails"} <= names
    assert schemas(doc)["Address"]["properties"]["home"] == {"$ref": "#/components/schemas/AddressType"}
    errors = doc["components"]["responses"]["BadRequest"]["content"]["application/problem+json"]
    assert errors["schema"] == {"$ref": "#/components/schemas/ProblemDetails"}
    osv_validate(doc)


def test_two_operations_on_one_method_and_path_are_reported():
    base = fx.crm_system()
    clash = fx.operation("getIt", "GET", "/customers/{id}", (fx.param("id", "uuid", "path"),), None)
    types, enums = fx.shared_types()
    sys_ = dataclasses.replace(base, operations=base.operations + (clash,))
    out, diagnostics = emit(fx.project(sys_, types=types, enums=enums))
    assert out == {}
    assert [d.code for d in diagnostics.items] == ["E0202"]
    assert "GET /customers/{id}" in diagnostics.items[0].message


def test_paths_differing_only_in_parameter_names_are_reported():
    base = fx.crm_system()
    clash = fx.operation("rename", "POST", "/customers/{customer_id}", (fx.param("customer_id", "uuid", "path"),))
    types, enums = fx.shared_types()
    sys_ = dataclasses.replace(base, operations=base.operations + (clash,))
    out, diagnostics = emit(fx.project(sys_, types=types, enums=enums))
    assert out == {} and [d.code for d in diagnostics.items] == ["E0202"]


def test_an_invalid_document_is_an_internal_error_and_not_written(monkeypatch):
    real = oa.build_document

    def broken(project, system, diagnostics=None):
        doc = real(project, system, diagnostics)
        if system.name == "erp":
            doc["paths"]["/sales-orders"]["get"]["responses"] = {"200": {"content": {}}}  # no description
        return doc

    monkeypatch.setattr(oa, "build_document", broken)
    out, diagnostics = emit(fx.rich_project())
    assert "openapi/erp.openapi.yaml" not in out and "openapi/crm.openapi.yaml" in out
    assert [d.code for d in diagnostics.items] == ["E0001"]
    assert "erp" in diagnostics.items[0].message and "description" in diagnostics.items[0].message


# ---------------------------------------------------------------- YAML and hostile text

def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_hostile_text_round_trips_exactly(fmt):
    out, diagnostics = emit(fx.hostile_project(), fmt)
    assert not diagnostics.has_errors
    content = out[f"openapi/hostile.openapi.{fmt}"]
    doc = json.loads(content) if fmt == "json" else load(content)
    info = doc["info"]
    assert info["title"] == fx.HOSTILE and info["description"] == fx.HOSTILE
    assert info["contact"]["name"] == fx.HOSTILE and info["x-owner"] == fx.HOSTILE
    thing = schemas(doc)["Thing"]
    assert thing["description"] == fx.HOSTILE
    assert thing["properties"]["id"]["examples"] == [fx.HOSTILE]
    assert thing["properties"]["note"]["default"] == fx.HOSTILE
    assert thing["properties"]["deprecated_field"]["description"] == "Deprecated: " + fx.HOSTILE
    for i, value in enumerate(fx.YAML_LOOKALIKES):
        prop = thing["properties"][f"s{i}"]
        assert prop["default"] == value and prop["examples"] == [value], value
    assert schemas(doc)["Kind"]["enum"] == ["yes", "no", "null", "on", "#{{ x }}: &a *b"]
    assert thing["properties"]["kind"]["default"] == "null"
    assert doc["paths"]["/things/{id}/do"]["post"]["description"] == fx.HOSTILE
    # Invisible characters are escapes in the text, never raw.
    for ch in "\u202e\u202c\u2066\u2069\u200b":
        assert ch.encode() not in content
    assert b"\\u202E" in content
    # No YAML anchors, aliases or tags were produced from the text.
    if fmt == "yaml":
        assert "&anchor" in info["title"]
        assert not any(line.lstrip().startswith(("&", "*", "!")) for line in content.decode().splitlines())


def test_yaml_quotes_what_other_readers_would_misread():
    values = ["1e3", "0o17", "0x1F", "yes", "on", "y", "N", "~", "null", "2024-05-13", ".inf", "1_000",
              "+1", "-.5", "12:30:00", "true", "007", "3.", "=", "<<"]
    text = oa.dump_yaml({"values": values, **{v: v for v in values}}).decode()
    for v in values:
        assert f"- {v}\n" not in text, v  # never plain
    assert load(text.encode()) == {"values": values, **{v: v for v in values}}


def test_multiline_text_uses_literal_blocks():
    text = oa.dump_yaml({"description": "First line.\nSecond line.\n\nA paragraph: with # signs."}).decode()
    assert text.startswith("description: |")
    assert load(text.encode())["description"] == "First line.\nSecond line.\n\nA paragraph: with # signs."


def test_no_line_folding_for_long_text():
    long = "word " * 400 + "end"
    text = oa.dump_yaml({"d": long}).decode()
    assert text.count("\n") == 1 and load(text.encode()) == {"d": long}


def test_c_and_python_emitters_give_the_same_bytes(monkeypatch):
    if not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML without libyaml")
    assert serialise._Emitter is not yaml.emitter.Emitter  # libyaml's emitter is the one in use
    for project in (fx.rich_project(), fx.hostile_project()):
        for system, doc in oa.documents(project):
            with_c = serialise.dump_yaml(doc)
            monkeypatch.setattr(serialise, "_Emitter", yaml.emitter.Emitter)
            assert serialise.dump_yaml(doc) == with_c, system.name
            monkeypatch.undo()


def test_every_character_round_trips():
    # All of the BMP outside the surrogates, in chunks, plus astral samples.
    chars = [chr(c) for c in range(0x0, 0x3000) if not 0xD800 <= c <= 0xDFFF]
    chars += [chr(c) for c in range(0xE000, 0x10000)] + ["\U0001F600", "\U0010FFFF"]
    chunks = ["".join(chars[i:i + 97]) for i in range(0, len(chars), 97)]
    doc = {"s": chunks, "k": {c: c for c in chunks[:50]}}
    assert load(oa.dump_yaml(doc)) == doc
    assert json.loads(oa.dump_json(doc)) == doc


# ---------------------------------------------------------------- peer validators

VALIDATE_OPENAPI = REPO.parent / "shared" / "validators" / "validate-openapi"


def _validators_installed() -> bool:
    home = Path(os.environ.get("VALIDATORS_HOME", Path.home() / ".cache" / "integc-validators"))
    return VALIDATE_OPENAPI.exists() and (home / "node_modules" / ".bin" / "spectral").exists()


@pytest.mark.skipif(not _validators_installed(), reason="peer validators not installed (setup-validators)")
def test_peer_validators_accept_the_rich_fixture_and_the_example(tmp_path):
    outputs = {f"fixture-{Path(p).name}": c for p, c in emit(fx.rich_project())[0].items()}
    outputs.update({f"example-{Path(p).name}": c for p, c in emit(compile_example())[0].items()})
    files = []
    for name, content in outputs.items():
        f = tmp_path / name
        f.write_bytes(content)
        files.append(str(f))
    log = tmp_path / "validate.log"
    result = subprocess.run([str(VALIDATE_OPENAPI), "--log", str(log), *files],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + log.read_text()
    assert "FAIL" not in result.stdout
    # The only warnings: Redocly's info-license, one per file (the language has no
    # license clause), and Spectral's info-contact for the fixture's system
    # without an owner (W0601).
    verdicts = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    assert verdicts["openapi-spec-validator"] == "ok"
    assert verdicts["openapi-python-client"] == "ok"
    assert verdicts["spectral"] == "ok (0 errors, 1 warnings)"
    assert verdicts["redocly"] == f"ok (0 errors, {len(files)} warnings)"


def test_big_landscape_emits():
    """A smoke test of scale: 5 systems x 10 entities, every operation kind."""
    out, diagnostics = emit(fx.big_project(5, 10))
    assert not diagnostics.has_errors and len(out) == 5


# ---------------------------------------------------------------- validation

BAD_SCHEMAS = [
    {"type": "strin"}, {"type": "string", "pattern": "[A-Z"}, {"minLength": -1},
    {"properties": {"a": {"type": 5}}}, {"required": "x"}, {"items": {"enum": "x"}},
    {"examples": 5}, {"anyOf": []}, {"readOnly": "yes"}, {"additionalProperties": {"minimum": "1"}},
    {"discriminator": {"mapping": {}}}, {"externalDocs": {"description": "no url"}},
]


@pytest.mark.parametrize("bad", BAD_SCHEMAS)
def test_schema_meta_check_matches_the_stock_validator(bad):
    from openapi_spec_validator import OpenAPIV31SpecValidator

    doc = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {},
           "components": {"schemas": {"Bad": bad, "Good": {"type": ["string", "null"], "pattern": "^a$"}}}}
    stock = next(iter(OpenAPIV31SpecValidator(doc).iter_errors()), None)
    assert stock is not None
    assert oa.validation_problem(doc) is not None
    good = {**doc, "components": {"schemas": {"Good": doc["components"]["schemas"]["Good"]}}}
    assert next(iter(OpenAPIV31SpecValidator(good).iter_errors()), None) is None
    assert oa.validation_problem(good) is None


def test_accelerated_and_stock_validators_agree_on_the_fixtures():
    from openapi_spec_validator import OpenAPIV31SpecValidator

    for project in (fx.rich_project(), fx.hostile_project()):
        for _, doc in oa.documents(project):
            assert next(iter(OpenAPIV31SpecValidator(doc).iter_errors()), None) is None
            assert oa.validation_problem(doc) is None


# ---------------------------------------------------------------- the order-to-cash example

EXAMPLE = REPO / "examples" / "order-to-cash"
GOLDEN = REPO / "tests" / "golden"


def compile_example():
    from integc.pipeline import compile_project

    result = compile_project(EXAMPLE)
    assert result.project is not None, [f"{d.code} {d.message}" for d in result.diagnostics.sorted()]
    return result.project


@pytest.fixture(scope="module")
def example_documents():
    out, diagnostics = emit(compile_example())
    assert diagnostics.items == []
    return out


def test_example_openapi_matches_golden_files(request, example_documents):
    fx.check_golden(request, GOLDEN / "openapi", {Path(p).name: c for p, c in example_documents.items()})


def test_example_openapi_is_valid(example_documents):
    assert sorted(example_documents) == [f"openapi/{s}.openapi.yaml"
                                         for s in ("billing", "crm", "erp", "support", "warehouse")]
    for content in example_documents.values():
        osv_validate(load(content))


def test_example_operation_ids_and_paths(example_documents):
    crm = load(example_documents["openapi/crm.openapi.yaml"])
    ids = sorted(op["operationId"] for _, _, op in ops(crm))
    assert ids == sorted(["listCustomers", "getCustomer", "createCustomer", "updateCustomer", "patchCustomer",
                          "deleteCustomer", "listCases", "getCase", "createCase", "mergeCustomers",
                          "searchCustomers"])
    assert crm["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["scopes"] == {
        "api": "The `api` scope.", "refresh_token": "The `refresh_token` scope."}
    billing = load(example_documents["openapi/billing.openapi.yaml"])
    amount = schemas(billing)["Money"]["properties"]["amount"]
    assert amount["type"] == "string" and amount["format"] == "decimal" and amount["examples"] == ["129.99"]


@pytest.mark.parametrize("value, text", [("1E+3", "1000"), ("1E-7", "0.0000001"), (1e-07, "0.0000001"),
                                         (129.99, "129.99"), (5, "5"), ("12.50", "12.50")])
def test_decimal_wire_values_have_no_exponent(value, text):
    assert sc.wire_value(fx.t("decimal"), value) == text


@pytest.mark.parametrize("pattern", [r"(?P<cc>[A-Z]{2})", r"^[a-z]+\Z", r"(?i)^abc$"])
def test_python_only_patterns_are_reported_at_the_field(pattern):
    pytest.importorskip("jsonschema_rs")
    from integc.targets import jsonschema as js

    bad = fx.fld("code", "string", pattern=pattern)
    svc = fx.system("svc", owner="o@acme.example",
                    entities=(fx.entity("svc", "Thing", fx.fld("id", "string", key=True), bad),),
                    exposes=(fx.expose("Thing", "/things", "get"),))
    project = fx.project(svc)
    out, diagnostics = emit(project)
    assert out == {}
    assert [d.code for d in diagnostics.items] == ["E0204"]
    assert diagnostics.items[0].span == bad.origin and "ECMA-262" in diagnostics.items[0].message
    more = Diagnostics()
    js.TARGET.emit(project, {}, more)
    assert [d.code for d in more.items] == ["E0204"]


@pytest.mark.parametrize("text", ["a\u2028b\n", "a\x85b\nc", "x\u2029\ny", "line\nbreak \u2028 here\n"])
def test_text_with_yaml11_only_line_breaks_round_trips_in_yaml_1_1_and_1_2(text):
    from ruamel.yaml import YAML

    content = serialise.dump_yaml({"k": text, text: 1})
    assert yaml.safe_load(content) == {"k": text, text: 1}
    assert YAML(typ="safe", pure=True).load(content) == {"k": text, text: 1}
