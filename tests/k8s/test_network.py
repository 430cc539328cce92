"""NetworkPolicy: ingress only where a flow receives, egress only to DNS and the flow's two systems."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from kubernetes_validate import utils as kv
from ruamel.yaml import YAML

from integc.targets.k8s import DNS_RULE, PRIVATE_RANGES, TARGET, dns_name

SYSTEMS = """
package demo.net version "2.0.0"

system crm {
  owner "crm@acme.example"
  base_url "http://crm.crm.svc.cluster.local:8080/api"
  auth bearer { secret "crm-token" }
  k8s { namespace "crm" port 8443 labels { app: "crm", tier: "api" } }
  entity Customer { id: string @key  name: string }
  expose Customer at "/customers" { list, get }
  event changed: Customer
}

system billing {
  owner "billing@acme.example"
  base_url "https://billing.acme.example:9443/v1"
  auth mtls { secret "billing-client-cert" }
  entity Account { account_id: string @key  name: string }
  expose Account at "/accounts" { list, get, create, update }
}

system ledger {
  owner "ledger@acme.example"
  base_url "http://10.20.30.40/ledger"
  auth none
  entity Entry { entry_id: string @key  name: string }
  expose Entry at "/entries" { list, get, create, update }
}

system sso_app {
  owner "idp@acme.example"
  base_url "https://app.acme.example"
  auth oauth2 { token_url "https://login.acme.example:8443/token" scopes ["read"] secret "app-oauth" }
  entity Thing { thing_id: string @key  name: string }
  expose Thing at "/things" { list, get, create, update }
}

system local {
  owner "local@acme.example"
  base_url "http://local-api:8000"
  auth none
  k8s { }
  entity Item { item_id: string @key  name: string }
  expose Item at "/items" { list, get, create, update }
}

flow crm_to_billing { from crm.Customer  to billing.Account  trigger event crm.changed
  map { account_id = id  name = name }  retry 3 backoff exponential 1s max 1m }
flow crm_to_ledger { from crm.Customer  to ledger.Entry  trigger schedule every 15m
  map { entry_id = id  name = name }  retry 3 backoff exponential 1s max 1m }
flow billing_to_app { from billing.Account  to sso_app.Thing  trigger webhook "/hooks/accounts"
  map { thing_id = account_id  name = name }  retry 3 backoff exponential 1s max 1m }
flow billing_to_local { from billing.Account  to local.Item  trigger schedule cron "0 3 * * *"
  map { item_id = account_id  name = name }  retry 3 backoff exponential 1s max 1m }
flow crm_by_hand { from crm.Customer  to billing.Account  trigger manual "someone copies it"
  map { account_id = id  name = name } }
"""

INTERNET_V4 = {"cidr": "0.0.0.0/0", "except": sorted([r for r in PRIVATE_RANGES if ":" not in r])}
INTERNET_V6 = {"cidr": "::/0", "except": ["fc00::/7", "fe80::/10"]}
INTERNET = [{"ipBlock": INTERNET_V4}, {"ipBlock": INTERNET_V6}]
CRM_PEER = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "crm"}},
             "podSelector": {"matchLabels": {"app": "crm", "tier": "api"}}}]


def tcp(*ports):
    return [{"protocol": "TCP", "port": p} for p in ports]


@pytest.fixture
def policies(compile_text, kh):
    project = compile_text(SYSTEMS)
    artifacts, diagnostics = kh.emit(TARGET, project)
    assert not diagnostics.has_errors
    out = {}
    for artifact in artifacts:
        if artifact.path.endswith("/networkpolicy.yaml"):
            doc = YAML(typ="safe", pure=True).load(artifact.content.decode())
            kv.validate(doc, "1.33.0", strict=True)
            out[doc["metadata"]["name"]] = doc
    return project, out


def test_every_flow_with_a_workload_has_exactly_one_policy(policies):
    project, out = policies
    assert set(out) == {dns_name(f.name) for f in project.flows if f.trigger.kind != "manual"}
    for name, doc in out.items():
        assert doc["spec"]["policyTypes"] == ["Ingress", "Egress"]
        assert doc["spec"]["podSelector"]["matchLabels"] == {
            "app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "demo.net",
            "app.kubernetes.io/component": "flow"}
        assert doc["spec"]["egress"][0] == DNS_RULE


def test_ingress_is_denied_except_the_receiving_port(policies):
    project, out = policies
    for flow in project.flows:
        if flow.trigger.kind == "manual":
            continue
        ingress = out[dns_name(flow.name)]["spec"]["ingress"]
        if flow.trigger.kind in ("event", "webhook"):
            assert ingress == [{"ports": tcp(8080)}]
        else:
            assert ingress == []


def test_egress_to_an_in_cluster_and_an_external_system(policies):
    _, out = policies
    assert out["crm-to-billing"]["spec"]["egress"][1:] == [
        {"to": CRM_PEER, "ports": tcp(8443)},          # crm: the declared k8s location and port
        {"to": INTERNET, "ports": tcp(9443)},          # billing: outside, by the port of its base_url
    ]


def test_egress_to_a_system_at_an_ip_address_is_that_address(policies):
    _, out = policies
    assert out["crm-to-ledger"]["spec"]["egress"][1:] == [
        {"to": CRM_PEER, "ports": tcp(8443)},
        {"to": [{"ipBlock": {"cidr": "10.20.30.40/32"}}], "ports": tcp(80)},
    ]


def test_oauth2_token_endpoint_is_reachable_and_same_peers_share_a_rule(policies):
    _, out = policies
    # billing (9443) and sso_app (443) and its token endpoint (8443) are all on the internet
    assert out["billing-to-app"]["spec"]["egress"][1:] == [{"to": INTERNET, "ports": tcp(443, 8443, 9443)}]


def test_in_cluster_system_without_namespace_is_in_the_flows_namespace(policies):
    _, out = policies
    assert out["billing-to-local"]["spec"]["egress"][1:] == [
        {"to": INTERNET, "ports": tcp(9443)},
        {"to": [{"podSelector": {}}], "ports": tcp(8000)},
    ]


def _expected_ports(system):
    url = urlsplit(system.base_url)
    ports = {url.port or (443 if url.scheme == "https" else 80)}
    if system.auth.kind == "oauth2":
        token = urlsplit(system.auth.token_url)
        ports.add(token.port or (443 if token.scheme == "https" else 80))
    return ports


def test_example_egress_names_exactly_the_flows_two_systems(kh):
    """For every flow of the example: DNS, then exactly its source's and target's ports."""
    project = kh.compile_ok(kh.EXAMPLES / "order-to-cash")
    artifacts, _ = kh.emit(TARGET, project, {"namespace": "integrations"})
    policies, texts = {}, {}
    for artifact in artifacts:
        if artifact.path.endswith("/networkpolicy.yaml"):
            doc = YAML(typ="safe", pure=True).load(artifact.content.decode())
            policies[doc["metadata"]["name"]] = doc
            texts[doc["metadata"]["name"]] = artifact.content.decode()
    for flow in project.flows:
        if flow.trigger.kind == "manual":
            assert dns_name(flow.name) not in policies
            continue
        egress = policies[dns_name(flow.name)]["spec"]["egress"]
        assert egress[0] == DNS_RULE
        systems = {project.system(flow.source.split(".")[0]), project.system(flow.target.split(".")[0])}
        expected_ports = set().union(*(_expected_ports(s) for s in systems))
        rest = egress[1:]
        assert all(rule["to"] == INTERNET for rule in rest)  # every example system is outside the cluster
        assert {p["port"] for rule in rest for p in rule["ports"]} == expected_ports
        assert all(p["protocol"] == "TCP" for rule in rest for p in rule["ports"])
        # the comment over each rule names the systems it is for
        egress_text = texts[dns_name(flow.name)].split("  egress:\n", 1)[1]
        commented = {line.strip()[2:].split(":", 1)[0].removesuffix(" token endpoint")
                     for line in egress_text.splitlines() if line.strip().startswith("# ")}
        assert commented == {"DNS"} | {s.name for s in systems}
