"""`integc diff`: every change classified, breaking changes attributed to the flows they break.

Each test derives a NEW version from the BASE project by text edits (keeping
it compilable: a flow that used something removed is edited too, as a real
change would be) and asserts the exact classification: the set of breaking
changes with the flows each names, and that the rest is non-breaking.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from integc.irdiff import diff_projects, render_json, render_markdown, render_text

from review_helpers import compile_ok

BASE = {
    "main.integ": '''\
package acme.base version "1.0.0"

import "types.integ"
import "crm.integ"
import "billing.integ"
import "flows.integ"
''',
    "types.integ": '''\
enum Tier { free, pro, enterprise }

enum Status { open = "OPEN", closed = "CLOSED" }

/// A postal address.
type Address {
  line1: string
  city: string
  country: string @pattern("^[A-Z]{2}$")
}

type Line {
  sku: string
  qty: int
}
''',
    "crm.integ": '''\
system crm {
  owner "sales@acme.example"
  base_url "https://crm.acme.example/api"
  auth oauth2 {
    token_url "https://login.acme.example/token"
    scopes ["api"]
    secret "crm-oauth"
  }
  handles pii

  /// A customer.
  entity Customer {
    id: uuid @key @readonly
    email: email @pii
    name: string @length(1, 200)
    nickname: string?
    tier: Tier = free
    status: Status
    address: Address?
    score: float
    legacy_code: string? @deprecated("use id")
    tags: list<string>
    lines: list<Line>
  }

  entity Lead {
    lead_id: string @key
  }

  expose Customer at "/customers" { list, get, create, update }
  expose Lead at "/leads" { list }
  operation merge POST "/customers/{id}/merge" (id: uuid, body: Address) -> Customer
  event customer_updated: Customer
}

system legacy {
  owner "old@acme.example"
  auth none
}
''',
    "billing.integ": '''\
system billing {
  owner "finance@acme.example"
  base_url "https://billing.acme.example/v2"
  auth api_key { header "X-Api-Key", secret "billing-key" }
  handles pii

  entity Account {
    account_id: string @key
    email: email
    plan: string @length(1, 50)
    country: string
    score: float
    note: string?
    items: list<Line>
    created_at: datetime @readonly
  }
  expose Account at "/accounts" { list, get, create, update }
}
''',
    "flows.integ": '''\
/// CRM customers to billing accounts.
flow sync_customers {
  from crm.Customer
  to billing.Account
  trigger event crm.customer_updated
  map {
    account_id = to_string(id)
    email = email
    plan = match tier { free -> "basic", pro -> "standard", enterprise -> "premium" }
    country = address.country ?? "US"
    score = score
    items = each lines as l {
      sku = upper(l.sku)
      qty = l.qty
    }
  }
  retry 3 backoff exponential 1s max 1m
}

/// Billing accounts back to the CRM, every hour.
flow nightly_accounts {
  from billing.Account
  to crm.Customer
  trigger schedule every 1h
  write update
  map {
    email = email
    name = plan
    status = "open"
    score = score
    tags = split(plan, ",")
    lines = items
  }
  retry 3 backoff exponential 1s max 1m
}
''',
}

FLOWS = BASE["flows.integ"].split("\n")
SYNC = FLOWS.index("flow sync_customers {") + 1
NIGHTLY = FLOWS.index("flow nightly_accounts {") + 1


def _line_of(text: str) -> int:
    return FLOWS.index(text) + 1


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def edit(edits: dict[str, list[tuple[str, str]]]) -> dict[str, str]:
    files = dict(BASE)
    for name, pairs in edits.items():
        for old, new in pairs:
            assert old in files[name], (name, old)
            files[name] = files[name].replace(old, new, 1)
    return files


def run_diff(tmp_path: Path, new_files: dict[str, str], old_files: dict[str, str] | None = None):
    old = write(tmp_path / "old", old_files or BASE)
    new = write(tmp_path / "new", new_files)
    return diff_projects(compile_ok(old), compile_ok(new), old, new)


def breaking(report) -> dict[tuple[str, str], set[str]]:
    """(kind, subject) -> names of the flows it breaks."""
    return {(c.kind, c.subject): {f.name for f in c.flows} for c in report.breaking}


def non_breaking(report) -> set[tuple[str, str]]:
    return {(c.kind, c.subject) for c in report.non_breaking}


# ---------------------------------------------------------------- removals

def test_removed_field_names_the_flows_that_used_it(tmp_path):
    new = edit({
        "billing.integ": [("    plan: string @length(1, 50)\n", "")],
        "flows.integ": [('    plan = match tier { free -> "basic", pro -> "standard", enterprise -> "premium" }\n', ""),
                        ("    name = plan\n", "    name = email\n"),
                        ('    tags = split(plan, ",")\n', '    tags = split(email, ",")\n')],
    })
    report = run_diff(tmp_path, new)
    assert breaking(report) == {("field-removed", "billing.Account.plan"): {"sync_customers", "nightly_accounts"}}
    assert non_breaking(report) == {("flow-changed", "flow sync_customers"), ("flow-changed", "flow nightly_accounts")}
    change = report.breaking[0]
    sync = next(f for f in change.flows if f.name == "sync_customers")
    assert (sync.file, sync.line, sync.version) == ("flows.integ", SYNC, "old")
    assert [(u.how, u.line) for u in sync.uses] == [
        ("writes `plan`", _line_of('    plan = match tier { free -> "basic", pro -> "standard", enterprise -> "premium" }'))]
    nightly = next(f for f in change.flows if f.name == "nightly_accounts")
    assert {(u.how, u.line) for u in nightly.uses} == {("reads `plan`", _line_of("    name = plan")),
                                                        ("reads `plan`", _line_of('    tags = split(plan, ",")'))}
    text = render_text(report)
    assert f"breaking: `billing.Account.plan` removed: breaks flow nightly_accounts at flows.integ:{NIGHTLY}" in text


def test_removed_deprecated_field_is_still_breaking_and_says_so(tmp_path):
    new = edit({"crm.integ": [('    legacy_code: string? @deprecated("use id")\n', "")]})
    report = run_diff(tmp_path, new)
    assert breaking(report) == {("field-removed", "crm.Customer.legacy_code"): set()}
    assert report.breaking[0].message == "removed (was deprecated: use id)"
    assert non_breaking(report) == set()


def test_removed_entity_system_event_enum_value_operation(tmp_path):
    new = edit({
        "crm.integ": [("  entity Lead {\n    lead_id: string @key\n  }\n\n", ""),
                      ('  expose Lead at "/leads" { list }\n', ""),
                      ("  event customer_updated: Customer\n", ""),
                      ("system legacy {\n  owner \"old@acme.example\"\n  auth none\n}\n", "")],
        "types.integ": [("enum Tier { free, pro, enterprise }", "enum Tier { free, pro }")],
        "billing.integ": [('{ list, get, create, update }', '{ list, create, update }')],
        "flows.integ": [("  trigger event crm.customer_updated\n", "  trigger schedule every 15m\n"),
                        (', enterprise -> "premium" }', " }")],
    })
    report = run_diff(tmp_path, new)
    assert breaking(report) == {
        ("entity-removed", "crm.Lead"): set(),
        ("operation-removed", "crm.Lead list"): set(),
        ("event-removed", "crm.customer_updated"): {"sync_customers"},
        ("system-removed", "legacy"): set(),
        ("enum-value-removed", "Tier.enterprise"): {"sync_customers"},
        ("operation-removed", "billing.Account get"): set(),
    }
    assert non_breaking(report) == {("flow-changed", "flow sync_customers")}


def test_removed_type_field_is_attributed_only_to_flows_touching_it(tmp_path):
    new = edit({"types.integ": [("  city: string\n", "")]})
    report = run_diff(tmp_path, new)
    # sync_customers reads address.country, never city, and copies no Address whole.
    assert breaking(report) == {("field-removed", "Address.city"): set()}


# ---------------------------------------------------------------- fields

def test_field_made_required_breaks_the_writers(tmp_path):
    new = edit({
        "billing.integ": [("    note: string?\n", "    note: string\n")],
        "crm.integ": [("    tier: Tier = free\n", "    tier: Tier\n")],
        "flows.integ": [("    score = score\n    items", "    score = score\n    note = name\n    items"),
                        ('    status = "open"\n', '    status = "open"\n    tier = "free"\n')],
    })
    report = run_diff(tmp_path, new)
    assert breaking(report) == {
        ("field-made-required", "billing.Account.note"): {"sync_customers"},
        # nightly_accounts writes crm.Customer (so must now send tier); sync_customers reads tier.
        ("field-made-required", "crm.Customer.tier"): {"nightly_accounts", "sync_customers"},
    }
    messages = {c.subject: c.message for c in report.breaking}
    assert messages["crm.Customer.tier"] == "made required (default removed)"
    assert messages["billing.Account.note"] == "made required (optional -> required)"
    assert ("default-removed", "crm.Customer.tier") not in non_breaking(report)


def test_new_required_field_breaks_writers_unless_read_only(tmp_path):
    new = edit({
        "billing.integ": [("    created_at: datetime @readonly\n",
                           "    created_at: datetime @readonly\n    currency: string\n    balance: int @readonly\n"
                           "    memo: string?\n    region: string = \"EU\"\n")],
        "flows.integ": [("    score = score\n    items", "    score = score\n    currency = \"EUR\"\n    items")],
    })
    report = run_diff(tmp_path, new)
    assert breaking(report) == {("required-field-added", "billing.Account.currency"): {"sync_customers"}}
    assert non_breaking(report) >= {("field-added", "billing.Account.balance"), ("field-added", "billing.Account.memo"),
                                    ("field-added", "billing.Account.region")}


def test_types_narrowed_widened_and_list_items(tmp_path):
    new = edit({
        "billing.integ": [("    score: float\n", "    score: int\n")],
        "types.integ": [("  qty: int\n", "  qty: decimal\n")],
        "flows.integ": [("    score = score\n    items", "    score = to_int(score)\n    items")],
    })
    report = run_diff(tmp_path, new)
    assert breaking(report) == {
        ("type-narrowed", "billing.Account.score"): {"sync_customers", "nightly_accounts"},
        ("type-widened", "Line.qty"): {"sync_customers", "nightly_accounts"},
    }
    qty = next(c for c in report.breaking if c.subject == "Line.qty")
    uses = {f.name: {u.how for u in f.uses} for f in qty.flows}
    assert uses == {"sync_customers": {"reads `l.qty`", "writes `qty`"},
                    "nightly_accounts": {"reads `items` whole", "writes `lines` whole"}}


def test_list_item_type_and_string_to_email(tmp_path):
    new = edit({
        "crm.integ": [("    tags: list<string>\n", "    tags: list<email>\n"),
                      ("    nickname: string?\n", "    nickname: email?\n")],
        "flows.integ": [('    tags = split(plan, ",")\n', "    tags = []\n")],
    })
    # `tags = []` is not valid mapping syntax; use a literal-free mapping instead
    new["flows.integ"] = new["flows.integ"].replace("    tags = []\n", "    tags = each split(plan, \",\") as t {}\n")
    new["crm.integ"] = new["crm.integ"].replace("    tags: list<email>\n", "    tags: list<Line>\n")
    new["flows.integ"] = new["flows.integ"].replace('    tags = each split(plan, ",") as t {}\n',
                                                    '    tags = each split(plan, ",") as t {\n      sku = t\n'
                                                    '      qty = 1\n    }\n')
    report = run_diff(tmp_path, new)
    assert breaking(report) == {
        ("type-changed", "crm.Customer.tags"): {"nightly_accounts"},
        ("type-narrowed", "crm.Customer.nickname"): set(),
    }
    assert [c.message for c in report.breaking if c.subject == "crm.Customer.tags"] == [
        "type changed from list<string> to list<Line>"]


def test_list_item_type_narrowed_names_flows_that_had_to_stop_using_it(tmp_path):
    new = edit({"crm.integ": [("    tags: list<string>\n", "    tags: list<email>?\n")],
                "flows.integ": [('    tags = split(plan, ",")\n', "")]})  # split() gives list<string>: dropped
    report = run_diff(tmp_path, new)
    assert breaking(report) == {("type-narrowed", "crm.Customer.tags"): {"nightly_accounts"},
                                ("field-made-optional", "crm.Customer.tags"): {"nightly_accounts"}}
    narrowed = next(c for c in report.breaking if c.kind == "type-narrowed")
    assert narrowed.message == "type narrowed from list<string> to list<email>"
    assert [(f.version, [u.how for u in f.uses]) for f in narrowed.flows] == [("old", ["writes `tags`"])]


def test_field_made_optional_breaks_readers(tmp_path):
    new = edit({
        "crm.integ": [("    score: float\n", "    score: float?\n")],
        "flows.integ": [("    score = score\n    items", "    score = score ?? 0.0\n    items")],
    })
    report = run_diff(tmp_path, new)
    # sync_customers reads score (now maybe null); nightly_accounts writes it.
    assert breaking(report) == {("field-made-optional", "crm.Customer.score"): {"sync_customers", "nightly_accounts"}}
    flows = {f.name: [u.how for u in f.uses] for f in report.breaking[0].flows}
    assert flows == {"sync_customers": ["reads `score`"], "nightly_accounts": ["writes `score`"]}


def test_field_made_readonly_breaks_its_old_writers(tmp_path):
    new = edit({
        "crm.integ": [("    status: Status\n", "    status: Status @readonly\n")],
        "flows.integ": [('    status = "open"\n', "")],
    })
    report = run_diff(tmp_path, new)
    assert breaking(report) == {("field-made-readonly", "crm.Customer.status"): {"nightly_accounts"}}


# ---------------------------------------------------------------- constraints

def test_constraints_tightened_are_breaking_loosened_are_not(tmp_path):
    new = edit({
        "billing.integ": [("    plan: string @length(1, 50)\n", "    plan: string @length(1, 20)\n"),
                          ("    country: string\n", "    country: string @pattern(\"^[A-Z]{2}$\")\n")],
        "types.integ": [("  qty: int\n", "  qty: int @range(0, 100)\n"),
                        ('  country: string @pattern("^[A-Z]{2}$")\n', "  country: string\n")],
        "crm.integ": [("    name: string @length(1, 200)\n", "    name: string @length(0, 500)\n")],
    })
    report = run_diff(tmp_path, new)
    assert breaking(report) == {
        ("max-length-tightened", "billing.Account.plan"): {"sync_customers", "nightly_accounts"},
        ("pattern-added", "billing.Account.country"): {"sync_customers"},
        ("minimum-tightened", "Line.qty"): {"sync_customers", "nightly_accounts"},
        ("maximum-tightened", "Line.qty"): {"sync_customers", "nightly_accounts"},
    }
    assert non_breaking(report) == {
        ("pattern-removed", "Address.country"),
        ("min-length-loosened", "crm.Customer.name"),
        ("max-length-loosened", "crm.Customer.name"),
    }


def test_range_narrowed_and_pattern_changed(tmp_path):
    old = edit({"types.integ": [("  qty: int\n", "  qty: int @range(0, 100)\n")]})
    new = edit({"types.integ": [("  qty: int\n", "  qty: int @range(1, 100)\n"),
                                ('@pattern("^[A-Z]{2}$")', '@pattern("^[A-Z]{3}$")')]})
    report = run_diff(tmp_path, new, old)
    assert breaking(report) == {
        ("minimum-tightened", "Line.qty"): {"sync_customers", "nightly_accounts"},
        ("pattern-changed", "Address.country"): {"sync_customers"},  # reads address.country
    }


# ---------------------------------------------------------------- systems and operations

def test_auth_changes_name_the_flows_of_the_system(tmp_path):
    new = edit({
        "billing.integ": [('header "X-Api-Key", secret "billing-key"', 'header "X-Billing-Key", secret "billing-key-2"')],
        "crm.integ": [('scopes ["api"]', 'scopes ["api", "write"]')],
    })
    report = run_diff(tmp_path, new)
    assert breaking(report) == {
        ("auth-header-changed", "billing auth"): {"sync_customers", "nightly_accounts"},
        ("auth-scopes-changed", "crm auth"): {"sync_customers", "nightly_accounts"},
    }
    assert non_breaking(report) == {("auth-secret-renamed", "billing auth")}


def test_auth_kind_change(tmp_path):
    new = edit({"billing.integ": [('auth api_key { header "X-Api-Key", secret "billing-key" }',
                                   'auth bearer { secret "billing-key" }')]})
    report = run_diff(tmp_path, new)
    assert breaking(report) == {("auth-kind-changed", "billing auth"): {"sync_customers", "nightly_accounts"}}
    assert report.breaking[0].message == "auth changed from api_key to bearer"


def test_paths_base_url_operation_id_and_key(tmp_path):
    new = edit({
        "billing.integ": [('expose Account at "/accounts"', 'expose Account at "/v3/accounts"'),
                          ("    account_id: string @key\n    email: email\n",
                           "    account_id: string\n    email: email @key\n")],
        "crm.integ": [('base_url "https://crm.acme.example/api"', 'base_url "https://crm.acme.example/api/v2"'),
                      ("operation merge POST", "operation mergeCustomers POST")],
    })
    report = run_diff(tmp_path, new)
    assert breaking(report) == {
        ("path-changed", "billing.Account"): {"sync_customers", "nightly_accounts"},
        ("key-changed", "billing.Account"): {"sync_customers", "nightly_accounts"},
        ("base-url-changed", "crm"): {"sync_customers", "nightly_accounts"},
        ("operation-id-changed", "crm.merge"): set(),
    }


def test_expose_path_change_names_only_flows_that_call_it(tmp_path):
    new = edit({"crm.integ": [('expose Customer at "/customers"', 'expose Customer at "/people"')]})
    report = run_diff(tmp_path, new)
    # sync_customers is triggered by an event (no list call); nightly_accounts writes with update.
    assert breaking(report) == {("path-changed", "crm.Customer"): {"nightly_accounts"}}
    flow = report.breaking[0].flows[0]
    assert [u.how for u in flow.uses] == ["writes it (update: update)"]


def test_custom_operation_changes(tmp_path):
    new = edit({"crm.integ": [('operation merge POST "/customers/{id}/merge" (id: uuid, body: Address) -> Customer',
                               'operation merge PUT "/customers/{id}/merge" (id: uuid, body: Address, force: bool, '
                               'dry_run: bool?) -> Lead')]})
    report = run_diff(tmp_path, new)
    assert breaking(report) == {
        ("method-changed", "crm.merge"): set(),
        ("parameter-added", "crm.merge(force)"): set(),
        ("type-changed", "crm.merge response"): set(),
    }
    assert non_breaking(report) == {("parameter-added", "crm.merge(dry_run)")}


def test_event_payload_change(tmp_path):
    old = edit({"crm.integ": [("  event customer_updated: Customer\n",
                               "  event customer_updated: Customer\n  event lead_seen: Lead\n")]})
    new = edit({"crm.integ": [("  event customer_updated: Customer\n",
                               "  event customer_updated: Customer\n  event lead_seen: Customer\n")]})
    report = run_diff(tmp_path, new, old)
    assert breaking(report) == {("event-type-changed", "crm.lead_seen"): set()}


# ---------------------------------------------------------------- non-breaking only

def test_additions_docs_and_deprecations_are_not_breaking(tmp_path):
    new = edit({
        "types.integ": [("enum Tier { free, pro, enterprise }", "enum Tier { free, pro, enterprise, trial }"),
                        ("/// A postal address.", "/// A postal address, as printed on the envelope."),
                        ("type Line {", "type Extra {\n  x: int\n}\n\ntype Line {")],
        "crm.integ": [("    nickname: string?\n", "    nickname: string? @deprecated(\"unused\") @example(\"Bob\")\n"
                                                  "    phone: string?\n"),
                      ('expose Lead at "/leads" { list }', 'expose Lead at "/leads" { list, get }'),
                      ("  event customer_updated: Customer\n",
                       "  event customer_updated: Customer\n  event lead_created: Lead\n"
                       "  entity Note {\n    id: string @key\n  }\n"),
                      ('owner "sales@acme.example"', 'owner "crm-team@acme.example"')],
        "billing.integ": [("    plan: string @length(1, 50)\n", "    plan: string @length(1, 80)\n")],
        "flows.integ": [(', enterprise -> "premium" }', ', enterprise -> "premium", trial -> "basic" }')],
        "main.integ": [('version "1.0.0"', 'version "1.1.0"')],
    })
    report = run_diff(tmp_path, new)
    assert report.breaking == []
    assert non_breaking(report) == {
        ("version-changed", "package version"),
        ("enum-value-added", "Tier.trial"),
        ("docs-changed", "Address"),
        ("type-added", "Extra"),
        ("field-added", "crm.Customer.phone"),
        ("deprecated", "crm.Customer.nickname"),
        ("example-changed", "crm.Customer.nickname"),
        ("operation-added", "crm.Lead get"),
        ("event-added", "crm.lead_created"),
        ("entity-added", "crm.Note"),
        ("system-owner-changed", "crm"),
        ("max-length-loosened", "billing.Account.plan"),
        ("flow-changed", "flow sync_customers"),
    }
    trial = next(c for c in report.changes if c.kind == "enum-value-added")
    assert "consumers that match every value of the enum must handle it" in trial.note
    assert f"sync_customers (flows.integ:{SYNC})" in trial.note


def test_identical_projects_have_no_changes(tmp_path):
    report = run_diff(tmp_path, dict(BASE))
    assert report.changes == []
    assert render_text(report).startswith("no changes between")


def test_reformatting_is_not_a_change(tmp_path):
    from integc.formatter import format_source

    new = {name: format_source(text.replace("  ", "    ").replace(" {", "{")) for name, text in BASE.items()}
    assert run_diff(tmp_path, new).changes == []


# ---------------------------------------------------------------- renderers

def test_markdown_and_json_reports(tmp_path):
    new = edit({
        "billing.integ": [("    plan: string @length(1, 50)\n", "    plan: string @length(1, 20)\n"),
                          ("    note: string?\n", "    note: string?\n    memo: string?\n")],
    })
    report = run_diff(tmp_path, new)
    markdown = render_markdown(report)
    assert "**1 breaking change**, 1 non-breaking change." in markdown
    assert "| `billing.Account.plan` | maximum length tightened: 50 -> 20" in markdown
    assert f"`sync_customers` (flows.integ:{SYNC}) (writes `plan` at line" in markdown
    assert "- `billing.Account.memo`: field added (optional)" in markdown
    data = json.loads(render_json(report))
    assert (data["breaking"], data["non_breaking"]) == (1, 1)
    change = data["changes"][0]
    assert (change["kind"], change["breaking"], change["subject"], change["old"], change["new"]) == (
        "max-length-tightened", True, "billing.Account.plan", 50, 20)
    assert [(f["name"], f["file"], f["line"], f["project"]) for f in change["flows"]] == [
        ("nightly_accounts", "flows.integ", NIGHTLY, "new"), ("sync_customers", "flows.integ", SYNC, "new")]


# ---------------------------------------------------------------- the command

def _integc(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "integc", *args], cwd=cwd, text=True, capture_output=True,
                          env={**os.environ, "NO_COLOR": "1"}, timeout=120)


def test_cli_exit_codes_and_formats(tmp_path):
    write(tmp_path / "old", BASE)
    write(tmp_path / "same", BASE)
    write(tmp_path / "new", edit({"crm.integ": [('    legacy_code: string? @deprecated("use id")\n', "")]}))
    write(tmp_path / "soft", edit({"crm.integ": [("    nickname: string?\n", "    nickname: string?\n    x: int?\n")]}))
    done = _integc("diff", "old", "new", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[0] == ("breaking: `crm.Customer.legacy_code` removed (was deprecated: use id) "
                                           "(no flow in the project uses it)")
    assert _integc("diff", "old", "new", "--allow-breaking", cwd=tmp_path).returncode == 0
    assert _integc("diff", "old", "soft", cwd=tmp_path).returncode == 0
    same = _integc("diff", "old", "same", "--format", "json", cwd=tmp_path)
    assert same.returncode == 0 and json.loads(same.stdout)["changes"] == []
    markdown = _integc("diff", "old", "new", "--format", "markdown", cwd=tmp_path)
    assert markdown.stdout.startswith("## integc diff: old → new\n")


def test_cli_a_version_that_does_not_compile_exits_2(tmp_path):
    write(tmp_path / "old", BASE)
    write(tmp_path / "new", edit({"flows.integ": [("    email = email\n    name", "    emial = email\n    name")]}))
    done = _integc("diff", "old", "new", cwd=tmp_path)
    assert done.returncode == 2
    assert "error: new does not compile" in done.stderr
    assert "error[E0201]" in done.stderr and "flows.integ" in done.stderr


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}).stdout


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    write(root / "integrations", BASE)
    (root / "README.md").write_text("x\n")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "base")
    changed = edit({"billing.integ": [("    plan: string @length(1, 50)\n", "    plan: string @length(1, 10)\n")]})
    (root / "integrations" / "billing.integ").write_text(changed["billing.integ"])
    _git(root, "commit", "-q", "-am", "tighten plan")
    return root


def test_cli_git_revisions_without_touching_the_work_tree(repo):
    (repo / "integrations" / "flows.integ").write_text("this is not valid integ, and is not committed")
    before = _git(repo, "status", "--porcelain")
    for args, cwd in [(("HEAD~1", "HEAD"), repo / "integrations"),
                      (("HEAD~1", "HEAD", "--project", "integrations"), repo),
                      (("HEAD~1:integrations", "HEAD:integrations"), repo / "integrations")]:
        done = _integc("diff", *args, cwd=cwd)
        assert done.returncode == 1, (args, done.stderr)
        assert done.stdout.startswith("breaking: `billing.Account.plan` maximum length tightened: 50 -> 10: breaks "
                                      f"flow nightly_accounts at flows.integ:{NIGHTLY} (reads `plan` at line"), done.stdout
        assert f"flow sync_customers at flows.integ:{SYNC} (writes `plan` at line" in done.stdout
    assert _git(repo, "status", "--porcelain") == before
    assert (repo / "integrations" / "flows.integ").read_text().startswith("this is not valid")


def test_cli_git_revision_against_a_folder_and_bad_revision(repo):
    (repo / "integrations" / "flows.integ").write_text(BASE["flows.integ"])
    done = _integc("diff", "HEAD", ".", cwd=repo / "integrations")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("no changes between HEAD:integrations and .")
    bad = _integc("diff", "no-such-branch", ".", cwd=repo / "integrations")
    assert bad.returncode == 2
    assert "'no-such-branch' is neither a folder nor a git revision" in bad.stderr


def test_cli_git_revision_that_does_not_compile_names_the_revision(repo):
    (repo / "integrations" / "flows.integ").write_text(BASE["flows.integ"].replace("email = email\n    name",
                                                                                     "emial = email\n    name"))
    _git(repo, "commit", "-q", "-am", "broken")
    done = _integc("diff", "HEAD~1", "HEAD", cwd=repo / "integrations")
    assert done.returncode == 2
    assert "--> HEAD:integrations/flows.integ:" in done.stderr
