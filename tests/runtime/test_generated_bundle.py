"""The runtime on bundles the compiler itself generates (LANGUAGE.md section 8 example)."""

from __future__ import annotations

import uuid

import pytest

from integc.runtime import FlowRunner, load_bundle

EXAMPLE = """
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
  trigger TRIGGER
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

TIERS = ("free", "pro", "enterprise")
PLANS = {"free": "basic", "pro": "standard", "enterprise": "premium"}


def crm_customer(i: int) -> dict:
    rec = {"id": str(uuid.UUID(int=i + 1)), "email": f"user{i}@example.com",
           "name": f"Customer {i}", "tier": TIERS[i % 3]}
    if i % 2:
        rec["address"] = {"line1": "1 Main St", "city": "Leeds", "country": "GB"}
    return rec


def generated_bundle(tmp_path, trigger: str):
    from integc.pipeline import compile_project
    from integc.targets.bundle import bundle_files

    project_dir = tmp_path / "project"
    project_dir.mkdir()
    (project_dir / "main.integ").write_text(EXAMPLE.replace("TRIGGER", trigger), encoding="utf-8")
    result = compile_project(project_dir)
    assert result.project is not None, [d.message for d in result.diagnostics.sorted()]
    flow = result.project.flows[0]
    out = tmp_path / "bundle"
    out.mkdir()
    for name, data in bundle_files(result.project, flow).items():
        (out / name).write_bytes(data)
    return out


@pytest.fixture
def crm_billing(systems, environ, h):
    from integc.runtime.standin import StandIn

    started = []

    def make(n: int):
        src = StandIn("/customers", "id", records=[crm_customer(i) for i in range(n)],
                      auth=h.bearer_check(h.SECRETS["INTEGC_SECRET_CRM_TOKEN_TOKEN"]),
                      base_path="/api").start()
        tgt = StandIn("/accounts", "account_id", base_path="/v2",
                      auth=h.api_key_check(h.SECRETS["INTEGC_SECRET_BILLING_API_KEY_API_KEY"])).start()
        started.extend([src, tgt])
        environ["INTEGC_CRM_BASE_URL"] = src.base_url
        environ["INTEGC_BILLING_BASE_URL"] = tgt.base_url
        return src, tgt

    yield make
    for s in started:
        s.stop()


def test_generated_scheduled_bundle_end_to_end(crm_billing, environ, bounded, tmp_path):
    src, tgt = crm_billing(1200)
    b = generated_bundle(tmp_path, "schedule every 15m")
    bundle = load_bundle(b)
    assert bundle.trigger.every_seconds == 900
    runner = FlowRunner(bundle, once=True, environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0
    assert runner.summary.written == 1200 and len(tgt.store) == 1200
    for i in (0, 1, 2, 1199):
        c = crm_customer(i)
        assert tgt.store[c["id"]] == {"account_id": c["id"], "email": c["email"],
                                      "plan": PLANS[c["tier"]],
                                      "country": "GB" if i % 2 else "US"}


def test_generated_event_bundle_end_to_end(crm_billing, environ, bounded, tmp_path):
    import http.client
    import json

    src, tgt = crm_billing(0)
    runner = FlowRunner(generated_bundle(tmp_path, "event crm.customer_updated"), port=0,
                        host="127.0.0.1", environ=environ, dead_letter_dir=tmp_path / "dl")
    box = bounded.start(runner)
    bounded.wait_ready(runner)
    conn = http.client.HTTPConnection("127.0.0.1", runner.port, timeout=10)
    for i in range(20):
        conn.request("POST", "/", body=json.dumps(crm_customer(i)),
                     headers={"Content-Type": "application/json", "ce-specversion": "1.0",
                              "ce-id": f"e{i}", "ce-source": "//crm",
                              "ce-type": "acme.order_to_cash.crm.customer_updated"})
        r = conn.getresponse()
        assert r.status == 202, r.read()
        r.read()
    # a record the generated mapping rejects (bad enum value) is dead-lettered
    bad = dict(crm_customer(99), tier="platinum")
    conn.request("POST", "/", body=json.dumps(bad),
                 headers={"Content-Type": "application/json", "ce-specversion": "1.0",
                          "ce-id": "bad", "ce-source": "//crm", "ce-type": "customer_updated"})
    r = conn.getresponse()
    assert r.status == 202 and json.loads(r.read())["dead_lettered"] == 1
    conn.close()
    runner.stop_event.set()
    assert bounded.wait(runner, box, 15) == 0
    assert len(tgt.store) == 20
    letters = (tmp_path / "dl" / "sync_customers.jsonl").read_text().splitlines()
    assert len(letters) == 1 and json.loads(letters[0])["stage"] == "map"
