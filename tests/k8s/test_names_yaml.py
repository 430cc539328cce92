"""Names, labels, YAML safety, options and name collisions (E0801)."""
from __future__ import annotations

import re

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes_validate import utils as kv
from ruamel.yaml import YAML

from integc.targets.k8s import (
    DEFAULT_IMAGE, OPTIONS_SCHEMA, TARGET, dns_name, dump_yaml, label_value, package_label,
)

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
IDENT = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,120}", fullmatch=True)


@given(IDENT)
def test_dns_names_are_valid_for_every_resource_kind(name):
    result = dns_name(name)
    assert DNS_1035.match(result) and len(result) <= 52  # CronJob limit, Service DNS-1035


@given(st.text(max_size=200))
def test_label_values_are_valid(value):
    result = label_value(value)
    assert LABEL_VALUE.match(result) and len(result) <= 63


def test_names():
    assert dns_name("sync_customers") == "sync-customers"
    assert dns_name("Sync__Customers_") == "sync-customers"
    assert dns_name("_1st_flow") == "x-1st-flow"
    long = "a" * 80
    assert len(dns_name(long)) == 52 and dns_name(long) != dns_name(long + "b")
    assert package_label("acme.order_to_cash") == "acme.order-to-cash"
    assert label_value("1.4.0+build.7") == "1.4.0-build.7"


def test_flows_that_become_one_name_are_e0801(compile_text, kh):
    project = compile_text("""
        package demo.names version "1.0.0"
        system a { owner "a@x.example" base_url "https://a.example" auth none
          entity E { id: string @key } expose E at "/e" { list, get, create, update } }
        flow sync_a { from a.E to a.E trigger schedule every 1h map { id = id } retry 2 }
        flow sync__a { from a.E to a.E trigger schedule every 1h map { id = id } retry 2 }
        flow sync_a_ { from a.E to a.E trigger manual "by hand" map { id = id } }
    """)
    _, diagnostics = kh.emit(TARGET, project)
    (error,) = diagnostics.items
    assert error.code == "E0801" and "`sync__a`" in error.message and "`sync_a`" in error.message
    second = next(f for f in project.flows if f.name == "sync__a")
    first = next(f for f in project.flows if f.name == "sync_a")
    assert error.span == second.origin and error.notes[0].span == first.origin


HOSTILE = ('He said "hi" & \'bye\' # not a comment\n  kind: Secret\n---\n{{ jinja }} ${SHELL} '
           "&anchor *alias !!python/object:os.system | > ? @ ` % \\ \t tab\ntrailing   \n"
           "\u202eevil\u202c \u2028sep\u2029 \u0085nel \ufeffbom \x7f \U0001F600 \u00e9 "
           "\u4e2d\u6587 --- ... <script>alert(1)</script>")
LOOKALIKES = ("yes", "No", "on", "OFF", "y", "n", "~", "null", "true", "1.0", "0755", "12:30",
              "1e3", "0x1F", "2024-05-13", "=", "<<", ".inf", "-", "*/15 * * * *", "")


@pytest.mark.parametrize("text", [HOSTILE, *LOOKALIKES])
def test_strings_survive_yaml_1_1_and_1_2_readers(text):
    """kubectl reads YAML 1.1 (yes/on/0755 are not strings there); every string must come back."""
    import yaml as pyyaml  # YAML 1.1, as kubectl and kubernetes-validate read

    doc = {"metadata": {"annotations": {"a": text, "b": text + "\n"}}, "data": {"k": text}}
    content = dump_yaml(doc, header=f"header {text}")
    assert pyyaml.safe_load(content) == doc
    assert YAML(typ="safe", pure=True).load(content) == doc


def test_hostile_declarations_stay_inside_their_strings(compile_text, kh):
    project = compile_text('''
        package demo.hostile version "1.0.0"
        /// on
        /// kind: Secret
        /// --- # "quoted" \\ backslash
        system a { owner "a@x.example" base_url "https://a.example" auth none
          entity E { id: string @key } expose E at "/e" { list, get, create, update } }
        /// yes
        flow f { from a.E to a.E trigger webhook "/hooks/on" map { id = id } retry 2 }
    ''')
    artifacts, diagnostics = kh.emit(TARGET, project)
    assert not diagnostics.has_errors
    import yaml as pyyaml
    for artifact in artifacts:
        docs = list(pyyaml.safe_load_all(artifact.content))
        assert len(docs) == 1
        if artifact.path.endswith("kustomization.yaml"):
            continue
        kv.validate(docs[0], "1.33.0", strict=True)
        assert docs[0]["metadata"]["annotations"]["kubernetes.io/description"] == "yes"
        assert docs[0]["metadata"]["annotations"]["integc.dev/trigger"] == "webhook /hooks/on"


def test_options_schema():
    validator = jsonschema.Draft202012Validator(OPTIONS_SCHEMA)
    jsonschema.Draft202012Validator.check_schema(OPTIONS_SCHEMA)
    assert not list(validator.iter_errors({}))
    assert not list(validator.iter_errors({
        "namespace": "integrations", "image": "ghcr.io/acme/integc-runtime:1.0.0", "port": 8080,
        "enabled": True, "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": 1}},
        "replicas": 2, "time_zone": "Europe/London", "image_pull_policy": "Always",
        "external_egress": {"cidrs": ["0.0.0.0/0"], "except": ["10.0.0.0/8"]},
        "dead_letter_claim": "dead-letters"}))
    for bad in ({"namespace": "Integrations"}, {"namespace": "a_b"}, {"namespace": "x" * 64},
                {"port": 80}, {"port": "8080"}, {"unknown": 1}, {"image": "has space"},
                {"resources": {"requests": {"gpu": "1"}}}, {"resources": {"limits": {"cpu": "lots"}}},
                {"enabled": "yes"}):
        assert list(validator.iter_errors(bad)), bad


def test_option_defaults_and_overrides(compile_text, kh):
    source = """
        package demo.opts version "3.2.1"
        system a { owner "a@x.example" base_url "https://a.example" auth none
          entity E { id: string @key } expose E at "/e" { list, get, create, update } event changed: E }
        flow f { from a.E to a.E trigger event a.changed map { id = id } retry 2 }
    """
    project = compile_text(source)

    def deployment(options):
        artifacts, diagnostics = kh.emit(TARGET, project, options)
        assert not diagnostics.has_errors
        docs = {a.path.rsplit("/", 1)[1]: YAML(typ="safe", pure=True).load(a.content.decode())
                for a in artifacts}
        return docs

    docs = deployment({})
    pod = docs["deployment.yaml"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == DEFAULT_IMAGE
    assert all(d["metadata"]["namespace"] == "integrations" for k, d in docs.items() if k != "kustomization.yaml")
    docs = deployment({"namespace": "team-x", "port": 9090, "replicas": 3, "dead_letter_claim": "dl",
                       "resources": {"limits": {"memory": "1Gi"}}})
    spec = docs["deployment.yaml"]["spec"]
    container = spec["template"]["spec"]["containers"][0]
    assert docs["deployment.yaml"]["metadata"]["namespace"] == "team-x" and spec["replicas"] == 3
    assert container["ports"][0]["containerPort"] == 9090
    assert {"name": "INTEGC_PORT", "value": "9090"} in container["env"]
    assert docs["service.yaml"]["spec"]["ports"][0]["port"] == 9090
    assert docs["networkpolicy.yaml"]["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 9090}]}]
    assert container["resources"]["limits"]["memory"] == "1Gi"
    assert container["resources"]["requests"]["memory"] == "128Mi"  # defaults kept
    volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    assert volumes["dead-letter"] == {"name": "dead-letter", "persistentVolumeClaim": {"claimName": "dl"}}


def test_bad_cidr_option_is_e0403(compile_text, kh):
    project = compile_text("""
        package demo.opts version "1.0.0"
        system a { owner "a@x.example" base_url "https://a.example" auth none
          entity E { id: string @key } expose E at "/e" { list, get, create, update } }
        flow f { from a.E to a.E trigger schedule every 1h map { id = id } retry 2 }
    """)
    artifacts, diagnostics = kh.emit(TARGET, project, {"external_egress": {"cidrs": ["300.1.1.1/8"]}})
    assert [d.code for d in diagnostics.items] == ["E0403"] and artifacts == []


def test_names_kubernetes_cannot_use_are_e0209(compile_text, kh):
    project = compile_text("""
        package demo.bad version "1.0.0"
        system a { owner "a@x.example" base_url "http://a:8080" auth bearer { secret "A_Token" }
          k8s { namespace "Bad_NS" labels { "a b": "c d", "example.com/ok": "fine" } }
          entity E { id: string @key } expose E at "/e" { list, get, create, update } }
        system unused { owner "u@x.example" base_url "https://u.example" auth bearer { secret "Not_Used" }
          entity U { id: string @key } expose U at "/u" { list, get, create, update } }
        flow f { from a.E to a.E trigger schedule every 1h map { id = id } retry 2 }
        flow g { from unused.U to unused.U trigger manual "by hand" map { id = id } }
    """)
    _, diagnostics = kh.emit(TARGET, project)
    messages = sorted(d.message for d in diagnostics.items)
    assert {d.code for d in diagnostics.items} == {"E0209"}
    assert messages == sorted([
        "system `a`: secret `A_Token` cannot be the name of a Kubernetes Secret",
        "system `a`: `Bad_NS` is not a Kubernetes namespace name",
        "system `a`: `a b` is not a Kubernetes label key: a label name is 1 to 63 letters, digits, "
        "`-`, `_` and `.`, starting and ending alphanumeric",
        "system `a`: label `a b` has a value Kubernetes does not accept: `c d`",
    ])
    a = project.system("a")
    spans = {d.span for d in diagnostics.items}
    assert spans == {a.auth.origin, a.deploy.origin}
