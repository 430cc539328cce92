"""The flow bundle: flow.json exactly as the runtime reads it, for every trigger and auth kind."""
from __future__ import annotations

import json

import pytest

from integc.runtime.bundle import load_bundle
from integc.targets.bundle import bundle_digest, bundle_files, flow_json, flow_settings

LANGUAGE_EXAMPLE = """
package acme.order_to_cash version "1.4.0"

enum Tier { free, pro, enterprise }

type Address {
  line1: string
  city: string
  country: string @pattern("^[A-Z]{2}$")
}

system crm {
  owner "sales-ops@acme.example"
  base_url "https://crm.acme.example/api"
  auth bearer { secret "crm-token" }
  handles pii

  entity Customer {
    id: uuid @key @readonly
    email: email @pii
    name: string @length(1, 200)
    tier: Tier = free
    address: Address?
  }
  expose Customer at "/customers" { list, get }
  event customer_updated: Customer
}

system billing {
  owner "finance-eng@acme.example"
  base_url "https://billing.acme.example/v2"
  auth api_key { header "X-Api-Key" secret "billing-api-key" }
  handles pii

  entity Account {
    account_id: string @key
    email: email
    plan: string
    country: string
  }
  expose Account at "/accounts" { list, get, create, update }
}

flow sync_customers {
  from crm.Customer
  to billing.Account
  trigger event crm.customer_updated
  map {
    account_id = to_string(id)
    email = email
    plan = match tier { free -> "basic", pro -> "standard", enterprise -> "premium" }
    country = address.country ?? "US"
  }
  retry 5 backoff exponential 2s max 5m
  on_error dead_letter
}
"""


def test_flow_json_of_the_language_example(compile_text):
    project = compile_text(LANGUAGE_EXAMPLE)
    settings = flow_settings(project, project.flows[0])
    assert settings == {
        "format": 1, "flow": "sync_customers", "package": "acme.order_to_cash", "version": "1.4.0",
        "trigger": {"kind": "event", "every_seconds": None, "cron": None, "path": None,
                    "event": "customer_updated", "note": None},
        "write": "upsert",
        "retry": {"attempts": 5, "backoff": "exponential", "initial_ms": 2000, "max_ms": 300000},
        "on_error": "dead_letter",
        "source": {"system": "crm", "entity": "Customer", "base_url": "https://crm.acme.example/api",
                   "auth": {"kind": "bearer", "secret": "crm-token"},
                   "collection_path": "/customers", "key_field": "id"},
        "target": {"system": "billing", "entity": "Account", "base_url": "https://billing.acme.example/v2",
                   "auth": {"kind": "api_key", "header": "X-Api-Key", "secret": "billing-api-key"},
                   "collection_path": "/accounts", "item_path": "/accounts/{account_id}",
                   "key_field": "account_id"},
    }
    # key order is the documented one; bytes are stable
    assert list(settings) == ["format", "flow", "package", "version", "trigger", "write", "retry",
                              "on_error", "source", "target"]
    raw = flow_json(project, project.flows[0])
    assert raw.endswith(b"}\n") and json.loads(raw) == settings and raw.isascii()


AUTH_KINDS = """
package demo.auth version "0.2.0"
system s_none { owner "o@x.example" base_url "https://none.example" auth none
  entity E { id: string @key } expose E at "/e/" { list, get, create, update } event changed: E }
system s_bearer { owner "o@x.example" base_url "https://bearer.example" auth bearer { secret "b-token" }
  entity E { id: string @key } expose E at "/e" { list, get, create, update } }
system s_basic { owner "o@x.example" base_url "https://basic.example" auth basic { secret "basic-creds" }
  entity E { id: string @key } expose E at "/e" { list, get, create, update } }
system s_oauth { owner "o@x.example" base_url "https://oauth.example"
  auth oauth2 { token_url "https://login.example/token" scopes ["a", "b"] secret "oauth-client" }
  entity E { id: string @key } expose E at "/e" { list, get, create, update } }
system s_mtls { owner "o@x.example" base_url "https://mtls.example" auth mtls { secret "client-cert" }
  entity E { id: string @key } expose E at "/e" { list, get, create, update } }

flow f_every { from s_none.E to s_bearer.E trigger schedule every 15m write update map { id = id } }
flow f_cron { from s_basic.E to s_oauth.E trigger schedule cron "0 2 * * 1" write create map { id = id }
  retry 2 backoff fixed 5s on_error halt }
flow f_hook { from s_mtls.E to s_none.E trigger webhook "/hooks/in" map { id = id } on_error skip }
flow f_event { from s_none.E to s_mtls.E trigger event s_none.changed map { id = id } }
flow f_manual { from s_oauth.E to s_basic.E trigger manual "monthly, by finance" map { id = id } }
"""


@pytest.fixture
def auth_project(compile_text):
    return compile_text(AUTH_KINDS)


def test_auth_objects(auth_project):
    auths = {}
    for flow in auth_project.flows:
        settings = flow_settings(auth_project, flow)
        for side in ("source", "target"):
            auths[settings[side]["system"]] = settings[side]["auth"]
    assert auths == {
        "s_none": {"kind": "none"},
        "s_bearer": {"kind": "bearer", "secret": "b-token"},
        "s_basic": {"kind": "basic", "secret": "basic-creds"},
        "s_oauth": {"kind": "oauth2", "token_url": "https://login.example/token", "scopes": ["a", "b"],
                    "secret": "oauth-client"},
        "s_mtls": {"kind": "mtls", "secret": "client-cert"},
    }


def test_triggers_write_retry_and_paths(auth_project):
    by_name = {f.name: flow_settings(auth_project, f) for f in auth_project.flows}
    assert by_name["f_every"]["trigger"] == {"kind": "schedule", "every_seconds": 900, "cron": None,
                                             "path": None, "event": None, "note": None}
    assert by_name["f_every"]["write"] == "update" and by_name["f_every"]["retry"] is None
    assert by_name["f_cron"]["trigger"]["cron"] == "0 2 * * 1"
    assert by_name["f_cron"]["trigger"]["every_seconds"] is None
    assert by_name["f_cron"]["retry"]["attempts"] == 2 and by_name["f_cron"]["retry"]["backoff"] == "fixed"
    assert by_name["f_cron"]["on_error"] == "halt"
    assert by_name["f_hook"]["trigger"]["path"] == "/hooks/in" and by_name["f_hook"]["on_error"] == "skip"
    assert by_name["f_event"]["trigger"]["event"] == "changed"
    assert by_name["f_manual"]["trigger"]["note"] == "monthly, by finance"
    # a trailing slash on the expose path does not double up in the item path
    assert by_name["f_hook"]["target"]["item_path"] == "/e/{id}"
    assert "item_path" not in by_name["f_hook"]["source"]


def test_every_bundle_loads_in_the_runtime(auth_project, tmp_path, kh, monkeypatch):
    from integc.targets import bundle

    monkeypatch.setattr(bundle, "_render_mapping", kh.stub_mapping)
    for flow in auth_project.flows:
        files = bundle_files(auth_project, flow)
        assert set(files) == {"flow.json", "mapping.py"}
        folder = tmp_path / flow.name
        folder.mkdir()
        for name, content in files.items():
            (folder / name).write_bytes(content)
        loaded = load_bundle(folder)
        assert loaded.flow == flow.name and loaded.trigger.kind == flow.trigger.kind


def test_bundle_digest_changes_with_content():
    a = {"flow.json": b"{}", "mapping.py": b"x"}
    assert bundle_digest(a) == bundle_digest(dict(reversed(list(a.items()))))
    assert bundle_digest(a) != bundle_digest({"flow.json": b"{}x", "mapping.py": b""})
