"""`integc map`, `integc test`, and the build-time example check (E0307)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mapping_support as ms  # noqa: E402

from integc.cli import main  # noqa: E402
from integc.diagnostics import Diagnostics  # noqa: E402
from integc.targets.mapping import TARGET  # noqa: E402

PROJECT = """
package t.cli version "1.0.0"

enum Tier { free, pro, enterprise }

system a {
  owner "x@y.example"
  base_url "https://a.example"
  auth none
  handles pii
  entity Customer {
    id: uuid @key @example("5f0c8a9e-2b1d-4c3e-9f6a-7b8c9d0e1f2a")
    email: email @example("jane@example.com")
    name: string @length(1, 100) @example("Jane")
    tier: Tier = free
    price: decimal @example(12.5)
    qty: int @example(3)
  }
  expose Customer at "/customers" { list, get }
  event changed: Customer
}

system b {
  owner "x@y.example"
  base_url "https://b.example"
  auth none
  handles pii
  entity Account {
    account_id: string @key
    email: email
    plan: string
    total: decimal
    label: string @length(1, LABEL_MAX)
  }
  expose Account at "/accounts" { list, get, create, update }
}

flow sync {
  from a.Customer
  to b.Account
  trigger event a.changed
  map {
    account_id = upper(to_string(id))
    email = email
    plan = match tier { free -> "basic", pro -> "standard", enterprise -> "premium" }
    total = price * qty
    label = name
  }
  retry 3 backoff exponential 1s max 1m
  test "a free customer" {
    input { id: "5f0c8a9e-2b1d-4c3e-9f6a-7b8c9d0e1f2a", email: "a@b.example", name: "Al", price: 2.5, qty: 4 }
    expect { account_id: "5F0C8A9E-2B1D-4C3E-9F6A-7B8C9D0E1F2A", email: "a@b.example", plan: "basic",
             total: 10, label: "Al" }
  }
  test "decimals compare by value" {
    input { id: "5f0c8a9e-2b1d-4c3e-9f6a-7b8c9d0e1f2a", email: "a@b.example", name: "Al", price: "1.5", qty: 2,
            tier: "enterprise" }
    expect { account_id: "5F0C8A9E-2B1D-4C3E-9F6A-7B8C9D0E1F2A", email: "a@b.example", plan: "premium",
             total: 3, label: "Al" }
  }
  test "TEST_NAME" {
    input { id: "5f0c8a9e-2b1d-4c3e-9f6a-7b8c9d0e1f2a", email: "a@b.example", name: "Al", price: "2.5", qty: 4,
            tier: "pro" }
    expect { account_id: "5F0C8A9E-2B1D-4C3E-9F6A-7B8C9D0E1F2A", email: "a@b.example", plan: "EXPECTED_PLAN",
             total: "10.0", label: "Al" }
  }
}
"""

UUID = "5f0c8a9e-2b1d-4c3e-9f6a-7b8c9d0e1f2a"


def write_project(tmp_path: Path, label_max: int = 100, plan: str = "standard", test_name: str = "a pro customer"):
    text = PROJECT.replace("LABEL_MAX", str(label_max)).replace("EXPECTED_PLAN", plan).replace("TEST_NAME", test_name)
    (tmp_path / "main.integ").write_text(text, encoding="utf-8")
    return tmp_path


def invoke(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def line(**changes):
    record = {"id": UUID, "email": "a@b.example", "name": "Al", "price": "2.50", "qty": 4, **changes}
    return json.dumps(record)


# ---------------------------------------------------------------- integc map

def test_map_writes_json_lines_and_reports_bad_lines_with_numbers(tmp_path):
    project = write_project(tmp_path)
    data = "\n".join([line(), "", line(email=5), "{not json", line(name="x" * 101), line(tier="pro")]) + "\n"
    result = invoke("map", "sync", str(project), input=data)
    assert result.exit_code == 1
    out = [json.loads(x) for x in result.stdout.splitlines()]
    assert out == [
        {"account_id": UUID.upper(), "email": "a@b.example", "plan": "basic", "total": "10.00", "label": "Al"},
        {"account_id": UUID.upper(), "email": "a@b.example", "plan": "standard", "total": "10.00", "label": "Al"},
    ]
    assert result.stderr.splitlines() == [
        "line 3: sync: source.email: expected email address, got int",
        "line 4: invalid JSON: Expecting property name enclosed in double quotes (column 2)",
        "line 5: sync: source.name: length 101 is outside 1..100",
    ]


def test_map_reads_a_file_and_stops_early_with_fail_fast(tmp_path):
    project = write_project(tmp_path)
    records = tmp_path / "in.jsonl"
    records.write_text("\n".join([line(qty="x"), line(), line(email=None)]) + "\n", encoding="utf-8")
    result = invoke("map", "sync", str(project), "--input", str(records), "--fail-fast")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "line 1: sync: source.qty: expected int, got string\n"
    result = invoke("map", "sync", str(project), "-i", str(records))
    assert result.exit_code == 1 and len(result.stdout.splitlines()) == 1 and len(result.stderr.splitlines()) == 2


def test_map_exits_0_when_everything_maps(tmp_path):
    project = write_project(tmp_path)
    result = invoke("map", "sync", str(project), "--input", "-", input=line() + "\n" + line(qty=1) + "\n")
    assert result.exit_code == 0, result.stderr
    assert [json.loads(x)["total"] for x in result.stdout.splitlines()] == ["10.00", "2.50"]


def test_map_unknown_flow_is_a_usage_error_listing_the_flows(tmp_path):
    project = write_project(tmp_path)
    result = invoke("map", "synk", str(project), input="")
    assert result.exit_code == 2
    assert "unknown flow 'synk'" in result.stderr and "did you mean `sync`" in result.stderr
    assert "the flows are: sync" in result.stderr


def test_map_missing_input_file_is_a_usage_error(tmp_path):
    project = write_project(tmp_path)
    result = invoke("map", "sync", str(project), "--input", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2 and "cannot read" in result.stderr


def test_map_on_a_broken_project_reports_diagnostics(tmp_path):
    (tmp_path / "main.integ").write_text("flow f {", encoding="utf-8")
    result = invoke("map", "f", str(tmp_path), input="")
    assert result.exit_code == 1 and "error[E0101]" in result.stderr


def test_map_with_a_fixed_now(tmp_path):
    text = PROJECT.replace("LABEL_MAX", "100").replace("EXPECTED_PLAN", "x").replace("TEST_NAME", "t")
    text = text.replace("label: string @length(1, 100)", "label: string @length(1, 100)\n    at: datetime")
    text = text.replace("label = name\n", "label = name\n    at = now()\n")
    (tmp_path / "main.integ").write_text(text, encoding="utf-8")
    result = invoke("map", "sync", str(tmp_path), "--now", "2024-02-03T04:05:06Z", input=line() + "\n")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["at"] == "2024-02-03T04:05:06Z"
    assert invoke("map", "sync", str(tmp_path), "--now", "yesterday", input="").exit_code == 2


def test_map_runs_the_example_project():
    records = [{"ticket_id": 48213, "requester_email": "a@b.example", "subject": "  Scratched widgets ",
                "body": "They arrive scratched.", "priority": "high", "channel": "mail",
                "opened_at": "2024-05-13T09:30:00Z"}]
    result = invoke("map", "escalations_to_crm", str(ms.EXAMPLES / "order-to-cash"),
                    input="".join(json.dumps(r) + "\n" for r in records))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "subject": "Scratched widgets", "priority": "high", "origin": "mail",
        "description": "Escalated from support ticket #48213:\nThey arrive scratched.",
        "opened_at": "2024-05-13T09:30:00Z", "external_ref": "ZD-48213"}


# ---------------------------------------------------------------- integc test

def test_flow_tests_pass(tmp_path):
    project = write_project(tmp_path)
    result = invoke("test", str(project))
    assert result.exit_code == 0, result.stdout
    assert result.stdout.splitlines() == [
        "PASS sync: a free customer", "PASS sync: decimals compare by value",
        "PASS sync: a pro customer", "3 passed, 0 failed"]


def test_a_failing_flow_test_names_the_field_and_exits_1(tmp_path):
    project = write_project(tmp_path, plan="basic", test_name="wrong plan")
    result = invoke("test", str(project), "--flow", "sync")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "PASS sync: a free customer"
    assert lines[2] == "FAIL sync: wrong plan"
    assert lines[3].strip() == "target.plan: expected 'basic', got 'standard'"
    assert lines[4].strip().startswith("--> ") and "main.integ:" in lines[4]
    assert lines[-1] == "2 passed, 1 failed"


def test_test_unknown_flow_and_no_tests(tmp_path):
    project = write_project(tmp_path)
    assert invoke("test", str(project), "--flow", "nope").exit_code == 2
    result = invoke("test", str(ms.EXAMPLES / "quickstart"))
    assert result.exit_code == 0 and "no flow tests" in result.stdout


# ---------------------------------------------------------------- E0307

def test_an_example_that_does_not_map_is_e0307_at_the_flow(tmp_path):
    project = ms.compile_path(write_project(tmp_path, label_max=3))
    diagnostics = Diagnostics()
    TARGET.emit(project, {}, diagnostics)
    assert [(d.code, d.message) for d in diagnostics.items] == [
        ("E0307", "sync: the source example does not map: target.label: length 4 is outside 1..3")]
    assert diagnostics.items[0].span == project.flows[0].origin


def test_e0307_fails_the_build(tmp_path):
    project = write_project(tmp_path, label_max=3)
    result = invoke("build", str(project), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "error[E0307]: sync: the source example does not map" in result.stderr


def test_flows_without_a_complete_example_are_not_checked(tmp_path):
    text = PROJECT.replace('@example("Jane")', "").replace("LABEL_MAX", "3").replace("EXPECTED_PLAN", "x")
    (tmp_path / "main.integ").write_text(text.replace("TEST_NAME", "t"), encoding="utf-8")
    project = ms.compile_path(tmp_path)
    diagnostics = Diagnostics()
    TARGET.emit(project, {}, diagnostics)
    assert diagnostics.items == []
    diagnostics = Diagnostics()
    TARGET.emit(project, {"check_examples": False}, diagnostics)
    assert diagnostics.items == []


@pytest.mark.parametrize("example", ["order-to-cash", "quickstart"])
def test_the_examples_build_clean(example, tmp_path):
    result = invoke("build", str(ms.EXAMPLES / example), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    assert "E0307" not in result.stderr
    assert (tmp_path / "out" / "mappings" / "__init__.py").is_file()


def test_compare_rules(tmp_path):
    from integc import ir
    from integc.targets.mapping.testing import compare
    project = ms.compile_path(write_project(tmp_path))
    account = ir.TypeRef("entity", "b.Account")
    got = {"account_id": "A", "email": "a@b.example", "plan": "basic", "total": "10.50", "label": "x"}
    assert compare(project, account, got, {**got, "total": 10.5}, "target") is None
    assert compare(project, account, got, {**got, "total": "10.5000", "nope": None}, "target") is None
    assert compare(project, account, got, {**got, "total": "10.51"}, "target") == (
        "target.total: expected '10.51', got '10.50'")
    assert compare(project, account, got, {**got, "label": None}, "target") == "target.label: expected absent, got 'x'"
    assert compare(project, account, got, {"total": "10.50"}, "target") == (
        "target.account_id: expected absent, got 'A'")
    assert compare(project, account, got, {**got, "email": "A@b.example"}, "target").startswith(
        "target.email: expected")

