"""The k8s target on the examples: valid, hardened, one workload kind per trigger, golden bytes."""
from __future__ import annotations

import os

import pytest
from kubernetes_validate import utils as kv
from ruamel.yaml import YAML

from integc.pipeline import compile_project
from integc.runtime.secrets import AUTH_SECRET_KEYS, OPTIONAL_SECRET_KEYS, env_name
from integc.targets import bundle
from integc.targets.k8s import TARGET, dns_name

# A current Kubernetes release and the newest one kubernetes-validate bundles.
K8S_VERSIONS = sorted({"1.33.0", kv.latest_version() + ".0"})
EXAMPLE_NAMES = ("order-to-cash", "quickstart")
WORKLOAD_FILES = {"schedule": {"cronjob.yaml"}, "event": {"deployment.yaml", "service.yaml"},
                  "webhook": {"deployment.yaml", "service.yaml"}}
COMMON_FILES = {"serviceaccount.yaml", "configmap.yaml", "networkpolicy.yaml"}


def load_all(content: bytes) -> list[dict]:
    return [d for d in YAML(typ="safe", pure=True).load_all(content.decode("utf-8")) if d]


def example(kh, name):
    result = compile_project(kh.EXAMPLES / name)
    assert result.project is not None, [f"{d.code} {d.message}" for d in result.diagnostics.sorted()]
    options = dict((result.config.targets.get("k8s") or {}) if result.config else {})
    options.pop("enabled", None)
    artifacts, diagnostics = kh.emit(TARGET, result.project, options)
    assert not diagnostics.has_errors, [d.message for d in diagnostics.items]
    return result.project, {a.path: a.content for a in artifacts}


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_validates_strictly(kh, name, version):
    _, files = example(kh, name)
    checked = 0
    for path, content in sorted(files.items()):
        for doc in load_all(content):
            if doc["kind"] == "Kustomization":
                continue  # kustomize's own file: no Kubernetes schema exists for it
            try:
                kv.validate(doc, version, strict=True)
            except kv.ValidationError as error:
                pytest.fail(f"{path}: {doc['kind']} {doc['metadata']['name']}: {error}")
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_kustomization_lists_every_resource_file(kh, name):
    _, files = example(kh, name)
    kustomization = load_all(files["deploy/k8s/kustomization.yaml"])[0]
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    listed = kustomization["resources"]
    assert listed == sorted(listed)
    assert {f"deploy/k8s/{p}" for p in listed} == set(files) - {"deploy/k8s/kustomization.yaml"}


def test_one_workload_kind_per_trigger_and_none_for_manual(kh):
    project, files = example(kh, "order-to-cash")
    folders: dict[str, set[str]] = {}
    for path in files:
        parts = path.split("/")
        if len(parts) == 4:
            folders.setdefault(parts[2], set()).add(parts[3])
    kinds = {flow.trigger.kind for flow in project.flows}
    assert {"schedule", "event", "webhook", "manual"} <= kinds  # the example covers every trigger
    for flow in project.flows:
        name = dns_name(flow.name)
        if flow.trigger.kind == "manual":
            assert name not in folders
            assert not any(name in path for path in files)
            assert flow.name in files["deploy/k8s/kustomization.yaml"].decode()  # named in a comment
            continue
        assert folders[name] == COMMON_FILES | WORKLOAD_FILES[flow.trigger.kind], flow.name


def _resources(files):
    out = {}
    for path, content in files.items():
        for doc in load_all(content):
            out[(doc["kind"], doc.get("metadata", {}).get("name"))] = doc
    return out


def _pod(doc):
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]
    return doc["spec"]["template"]


def test_pods_are_hardened_and_run_the_runtime_contract(kh):
    project, files = example(kh, "order-to-cash")
    resources = _resources(files)
    workloads = [d for (kind, _), d in resources.items() if kind in ("CronJob", "Deployment")]
    assert len(workloads) == sum(f.trigger.kind != "manual" for f in project.flows)
    flows = {dns_name(f.name): f for f in project.flows}
    for doc in workloads:
        name = doc["metadata"]["name"]
        flow = flows[name]
        labels = doc["metadata"]["labels"]
        assert labels == {
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/part-of": "acme.order-to-cash",
            "app.kubernetes.io/component": "flow",
            "app.kubernetes.io/managed-by": "integc",
            "app.kubernetes.io/version": "1.4.0",
        }
        assert doc["metadata"]["namespace"] == "integrations"
        pod = _pod(doc)
        spec = pod["spec"]
        assert spec["serviceAccountName"] == name
        assert spec["automountServiceAccountToken"] is False
        assert resources[("ServiceAccount", name)]["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        (container,) = spec["containers"]
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert set(container["resources"]) == {"requests", "limits"}
        assert container["image"] == "ghcr.io/acme/integc-runtime:1.0.0"
        bundle_dir = f"/etc/integc/{flow.name}"
        expected_args = ["run", flow.name, "--bundle", bundle_dir]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["INTEGC_DEAD_LETTER_DIR"] == "/var/lib/integc/dead-letter"
        assert env["INTEGC_PORT"] == "8080"
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes[mounts[bundle_dir]["name"]]["configMap"]["name"] == f"{name}-bundle"
        assert "emptyDir" in volumes[mounts["/var/lib/integc/dead-letter"]["name"]]
        assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
        config_map = resources[("ConfigMap", f"{name}-bundle")]
        assert set(config_map["data"]) == {"flow.json", "mapping.py"}
        if doc["kind"] == "CronJob":
            assert flow.trigger.kind == "schedule"
            assert doc["spec"]["concurrencyPolicy"] == "Forbid"
            assert container["args"] == expected_args + ["--once"]
            assert spec["restartPolicy"] == "Never"
            assert "livenessProbe" not in container and "ports" not in container
        else:
            assert flow.trigger.kind in ("event", "webhook")
            assert container["args"] == expected_args
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            assert container["readinessProbe"]["httpGet"]["port"] == "http"
            assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
            service = resources[("Service", name)]
            assert service["spec"]["ports"][0]["name"] == "http"
            assert service["spec"]["ports"][0]["port"] == 8080
            assert service["spec"]["selector"] == doc["spec"]["selector"]["matchLabels"]
        # every secret of the flow's two systems, mounted read-only where the runtime reads it
        for system_name in {flow.source.split(".")[0], flow.target.split(".")[0]}:
            secret = project.system(system_name).auth.secret
            mount = mounts[f"/var/run/secrets/integc/{secret}"]
            assert mount["readOnly"] is True
            assert volumes[mount["name"]]["secret"]["secretName"] == secret


def test_no_secret_resource_is_ever_written(kh):
    _, files = example(kh, "order-to-cash")
    kinds = {doc["kind"] for content in files.values() for doc in load_all(content)}
    assert kinds == {"ServiceAccount", "ConfigMap", "NetworkPolicy", "CronJob", "Deployment", "Service",
                     "Kustomization"}


def test_output_is_deterministic(kh):
    _, first = example(kh, "order-to-cash")
    _, second = example(kh, "order-to-cash")
    assert first == second


def _secret_env(project):
    """An environment with a distinctive value for every key of every secret of the project."""
    env = {"INTEGC_SECRET_CRM_TOKEN_TOKEN": "supersecret123"}
    for i, system in enumerate(project.systems):
        auth = system.auth
        if not auth.secret:
            continue
        keys = AUTH_SECRET_KEYS.get(auth.kind, ()) + OPTIONAL_SECRET_KEYS.get(auth.kind, ())
        for j, key in enumerate(keys):
            env[env_name(auth.secret, key)] = f"s3cr3t-value-{i}-{j}-do-not-leak"
    return env


def _set_secret_env(kh, monkeypatch):
    project = kh.compile_ok(kh.EXAMPLES / "order-to-cash")
    env = _secret_env(project)
    assert len(env) > 5
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def _assert_no_secret(env, files):
    for where, content in files.items():
        for value in env.values():
            assert value.encode() not in content, f"{where} contains a secret value"


def test_no_manifest_contains_a_secret_value_from_the_environment(kh, monkeypatch):
    from integc.targets.graph import TARGET as GRAPH

    env = _set_secret_env(kh, monkeypatch)
    project, files = example(kh, "order-to-cash")
    graph, _ = kh.emit(GRAPH, project)
    _assert_no_secret(env, {**files, **{a.path: a.content for a in graph}})
    # the secrets are there by name
    assert any(b"secretName: crm-oauth-client" in c for c in files.values())


def test_no_built_file_contains_a_secret_value_from_the_environment(kh, monkeypatch, tmp_path):
    """A whole `integc build` with every target, secrets set in the environment."""
    from integc.build import build_project

    env = _set_secret_env(kh, monkeypatch)
    result = build_project(kh.EXAMPLES / "order-to-cash", tmp_path / "out")
    assert not result.diagnostics.has_errors, [f"{d.code} {d.message}" for d in result.diagnostics.items]
    written = {str(p): p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert any("deploy/k8s" in p for p in written)
    _assert_no_secret(env, written)


# ---------------------------------------------------------------- golden files

def test_golden_manifests(kh, request, stubbed_mapping):
    """The example's manifests, byte for byte (with a stand-in mapping.py: the mapping
    target has its own golden files). Regenerate with `pytest --update-golden`."""
    golden = kh.REPO / "tests" / "golden" / "k8s"
    _, files = example(kh, "order-to-cash")
    actual = {path.removeprefix("deploy/k8s/"): content for path, content in files.items()}
    update = request.config.getoption("--update-golden", default=False) or os.environ.get(
        "INTEGC_UPDATE_GOLDEN") == "1"
    if update:
        if golden.exists():
            for old in sorted(golden.rglob("*"), reverse=True):
                old.unlink() if old.is_file() else old.rmdir()
        for path, content in actual.items():
            (golden / path).parent.mkdir(parents=True, exist_ok=True)
            (golden / path).write_bytes(content)
    stored = {p.relative_to(golden).as_posix(): p.read_bytes() for p in golden.rglob("*") if p.is_file()}
    assert sorted(stored) == sorted(actual), "golden files differ in names; run pytest --update-golden"
    for path in sorted(actual):
        assert actual[path] == stored[path], f"{path} differs from tests/golden/k8s; run pytest --update-golden"


def test_bundle_holds_the_mapping_target_module(kh, monkeypatch):
    if not kh.HAVE_MAPPING:
        pytest.skip("the mapping target (integc.targets.mapping.render_module) is not there yet")
    from integc.targets.mapping import render_module

    monkeypatch.setattr(bundle, "_render_mapping", lambda p, f: render_module(p, f))
    project, files = example(kh, "order-to-cash")
    flow = next(f for f in project.flows if f.trigger.kind == "event")
    config_map = load_all(files[f"deploy/k8s/{dns_name(flow.name)}/configmap.yaml"])[0]
    expected = render_module(project, flow)
    expected = expected.decode() if isinstance(expected, bytes) else expected
    assert config_map["data"]["mapping.py"] == expected


def test_every_configmap_is_a_bundle_the_runtime_loads(kh, tmp_path):
    """The ConfigMap's files, as mounted at /etc/integc/<flow>, load in the runtime."""
    from integc.runtime.bundle import load_bundle

    if not kh.HAVE_MAPPING:
        pytest.skip("the mapping target (integc.targets.mapping.render_module) is not there yet")
    project, files = example(kh, "order-to-cash")
    loaded = 0
    for path, content in files.items():
        if not path.endswith("/configmap.yaml"):
            continue
        config_map = load_all(content)[0]
        flow = config_map["metadata"]["annotations"]["integc.dev/flow"]
        folder = tmp_path / flow
        folder.mkdir()
        for name, text in config_map["data"].items():
            (folder / name).write_text(text, encoding="utf-8")
        bundle_ = load_bundle(folder)
        assert bundle_.flow == flow
        loaded += 1
    assert loaded == sum(f.trigger.kind != "manual" for f in project.flows)
