"""The `k8s` target: least-privilege Kubernetes manifests for every flow.

Output (docs/deploy.md is the reviewer's guide): under `deploy/k8s/`, one
folder per flow that has a workload, named after the flow's DNS-1123 name
(`sync_customers` -> `sync-customers/`), one file per resource:

    <name>/serviceaccount.yaml   ServiceAccount, no API token
    <name>/configmap.yaml        ConfigMap <name>-bundle: flow.json + mapping.py
    <name>/networkpolicy.yaml    NetworkPolicy: ingress only to the receiving port,
                                 egress only to DNS and the flow's two systems
    <name>/cronjob.yaml          schedule triggers
    <name>/deployment.yaml       event and webhook triggers ...
    <name>/service.yaml          ... with the Service that receives
    kustomization.yaml           lists every file above

`manual` flows get nothing (the kustomization names them in a comment). All
YAML is written from data, never from text templates, by targets/serialise.py
(libyaml's emitter) and is safe for YAML 1.1 readers (kubectl) and YAML 1.2
readers: a string either would take for a bool, number or null (`on`, `yes`,
`0755`, `12:30`) is quoted, and every string reads back exactly (dump_yaml).
"""
from __future__ import annotations

import functools
import hashlib
import ipaddress
import itertools
import re
from dataclasses import dataclass
from urllib.parse import urlsplit


from integc import __version__
from integc.diagnostics import Diagnostics, Note
from integc.ir import Flow, Project, System
from integc.targets import Artifact, serialise
from integc.targets.bundle import bundle_digest, bundle_files, release_mappings

OUT_DIR = "deploy/k8s"

# ---------------------------------------------------------------- options

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
_CIDR = r"^[0-9A-Fa-f:.]+/[0-9]{1,3}$"

DEFAULT_IMAGE = f"integc-runtime:{__version__}"
PRIVATE_RANGES = (
    "10.0.0.0/8",       # RFC 1918
    "100.64.0.0/10",    # carrier-grade NAT, used for pod/service ranges by some clusters
    "169.254.0.0/16",   # link-local, including cloud metadata endpoints
    "172.16.0.0/12",    # RFC 1918
    "192.168.0.0/16",   # RFC 1918
    "fc00::/7",         # IPv6 unique local
    "fe80::/10",        # IPv6 link-local
)

_QUANTITY_VALUE = {"anyOf": [{"type": "string", "pattern": _QUANTITY},
                             {"type": "integer", "minimum": 0}]}
_RESOURCE_LIST = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"cpu": _QUANTITY_VALUE, "memory": _QUANTITY_VALUE,
                   "ephemeral-storage": _QUANTITY_VALUE},
}

OPTIONS_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "[targets.k8s]",
    "description": "Options of the k8s target (docs/deploy.md).",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "enabled": {"type": "boolean", "default": True,
                    "description": "false: the build skips this target."},
        "namespace": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63,
                      "default": "integrations",
                      "description": "Namespace of every resource (a DNS-1123 label)."},
        "image": {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": r"^[^\s]+$",
                  "default": DEFAULT_IMAGE,
                  "description": "The flow runtime image."},
        "image_pull_policy": {"enum": ["Always", "IfNotPresent", "Never"], "default": "IfNotPresent"},
        "port": {"type": "integer", "minimum": 1024, "maximum": 65535, "default": 8080,
                 "description": "The runtime's HTTP port (health, webhooks, events); >= 1024 "
                                "because the container runs as non-root without capabilities."},
        "replicas": {"type": "integer", "minimum": 1, "maximum": 100, "default": 1,
                     "description": "Replicas of each event/webhook Deployment."},
        "time_zone": {"type": "string", "minLength": 1, "maxLength": 64,
                      "pattern": r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$", "default": "Etc/UTC",
                      "description": "IANA time zone of every CronJob schedule."},
        "resources": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"requests": _RESOURCE_LIST, "limits": _RESOURCE_LIST},
            "description": "Container resource requests and limits (merged over the defaults).",
        },
        "external_egress": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "cidrs": {"type": "array", "minItems": 1,
                          "items": {"type": "string", "pattern": _CIDR}},
                "except": {"type": "array", "items": {"type": "string", "pattern": _CIDR}},
            },
            "description": "Where systems outside the cluster may be (default: anywhere but "
                           "private, link-local and CGNAT ranges).",
        },
        "dead_letter_claim": {"type": "string", "pattern": DNS_SUBDOMAIN, "maxLength": 253,
                              "description": "A PersistentVolumeClaim for dead letters instead "
                                             "of an emptyDir."},
    },
}

DEFAULT_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "128Mi", "ephemeral-storage": "64Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi", "ephemeral-storage": "512Mi"},
}

# ---------------------------------------------------------------- runtime contract

RUN_AS = 10001
BUNDLE_ROOT = "/etc/integc"
SECRETS_ROOT = "/var/run/secrets/integc"
DEAD_LETTER_DIR = "/var/lib/integc/dead-letter"
HEALTH_PATH = "/healthz"  # liveness
READY_PATH = "/readyz"  # readiness
EXIT_CONFIG = 2  # the runtime's exit code for a bad bundle, a missing secret or a bad option
ANNOTATION = "integc.dev/"
LABEL = "app.kubernetes.io/"
CONTAINER = "flow"

# Kubernetes resource names of a flow: a DNS-1123 label that also fits a
# CronJob (52 characters: the Job controller appends 11) and a Service
# (DNS-1035: starts with a letter).
NAME_MAX = 52


# ---------------------------------------------------------------- names and labels

def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def dns_name(name: str, max_length: int = NAME_MAX) -> str:
    """A DNS-1123 label (that starts with a letter) for `name`: `sync_customers` -> `sync-customers`.

    Lower case, every run of other characters becomes `-`; names that had to be
    cut to `max_length` end in a hash of the full name so they stay distinct.
    """
    label = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not label or not label[0].isalpha():
        label = ("x-" + label).rstrip("-")
    if len(label) > max_length:
        label = label[: max_length - 9].rstrip("-") + "-" + _short_hash(name)
    return label


def label_value(value: str) -> str:
    """A valid label value: <= 63 of [A-Za-z0-9._-], starting and ending alphanumeric."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", value)
    text = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", text)
    if len(text) > 63:
        text = re.sub(r"[^A-Za-z0-9]+$", "", text[:54]) + "-" + _short_hash(value)
    return text


def package_label(package: str) -> str:
    """The part-of label: the package name made DNS-safe (`acme.order_to_cash` -> `acme.order-to-cash`)."""
    return label_value(re.sub(r"[^a-z0-9.]+", "-", package.lower()))


def format_duration(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0 and ms >= size:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def trigger_text(flow: Flow) -> str:
    """`event crm.customer_updated`, `schedule every 15m`, ... as written in the source."""
    t = flow.trigger
    if t.kind == "event":
        event = t.event or ""
        if "." not in event:
            event = f"{flow.source.split('.', 1)[0]}.{event}"
        return f"event {event}"
    if t.kind == "schedule":
        if t.cron is not None:
            return f"schedule cron {t.cron}"
        return f"schedule every {format_duration(t.every_ms or 0)}"
    if t.kind == "webhook":
        return f"webhook {t.path}"
    return "manual"


# ---------------------------------------------------------------- schedules

def cron_for_every(every_ms: int) -> str | None:
    """The cron expression that fires every `every_ms`, or None when none exists (E0701).

    Expressible: whole minutes that divide an hour (1m..30m, and 60m), whole
    hours that divide a day (1h..12h, and 24h), 1d and 7d; aligned to the
    start of the hour, day or week (Sunday 00:00, as cron's @weekly).
    """
    if every_ms <= 0 or every_ms % 60_000:
        return None
    minutes = every_ms // 60_000
    if minutes < 60:
        if 60 % minutes:
            return None
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    if minutes % 60:
        return None
    hours = minutes // 60
    if hours < 24:
        if 24 % hours:
            return None
        return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    if hours == 24:
        return "0 0 * * *"
    if hours == 24 * 7:
        return "0 0 * * 0"
    return None


def _shortest_cron_gap(cron: str) -> int | None:
    """Seconds between the closest two of the next firings of `cron` (from a fixed date)."""
    try:
        from datetime import datetime, timezone

        from croniter import croniter

        it = croniter(cron, datetime(2024, 1, 1, tzinfo=timezone.utc))
        times = [it.get_next(float) for _ in range(48)]
    except Exception:  # noqa: BLE001 - the front end checks cron syntax (E0209)
        return None
    return int(min(b - a for a, b in zip(times, times[1:])))


def starting_deadline(flow: Flow) -> int:
    """startingDeadlineSeconds: a run that could not start within min(5 min, interval) is skipped."""
    gap = (flow.trigger.every_ms // 1000 if flow.trigger.every_ms
           else _shortest_cron_gap(flow.trigger.cron or ""))
    return max(10, min(300, gap or 300))


def backoff_limit(flow: Flow) -> int:
    """How often a failed run of a scheduled flow is retried by the Job (docs/deploy.md).

    The runtime retries every call itself (`retry`), so Kubernetes adds at most
    one fresh pod, and none when that would be wrong: `on_error halt` (the run
    fails and stays failed for a person), no `retry` (the flow asked for none),
    or `write create` (a re-run would create its records again).
    """
    if flow.on_error == "halt" or flow.retry is None or flow.write == "create":
        return 0
    return 1


# ---------------------------------------------------------------- egress

@dataclass(frozen=True)
class _Endpoint:
    scheme: str
    host: str
    port: int


def _parse_url(url: str | None) -> _Endpoint | None:
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return _Endpoint(parts.scheme, parts.hostname.lower(),
                     port if port is not None else (443 if parts.scheme == "https" else 80))


def _networks(cidrs: list[str]) -> list:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def _ip_blocks(host: str, options: dict) -> list[dict]:
    """ipBlocks for a system outside the cluster: its own address, or the internet."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    if address is not None:
        return [{"ipBlock": {"cidr": str(ipaddress.ip_network(address))}}]
    egress = options["external_egress"]
    return [{"ipBlock": {"cidr": cidr, **({"except": list(inner)} if inner else {})}}
            for cidr, inner in _internet(tuple(egress["cidrs"]), tuple(egress["except"]))]


@functools.lru_cache(maxsize=64)
def _internet(cidrs: tuple[str, ...], excepts: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(cidr, the excepted networks inside it) for each of `cidrs` (the same for every flow)."""
    excluded = _networks(list(excepts))
    blocks = []
    for net in _networks(list(cidrs)):
        inner = sorted({str(e) for e in excluded
                        if e.version == net.version and e != net and e.subnet_of(net)},
                       key=lambda c: (ipaddress.ip_network(c).network_address, c))
        blocks.append((str(net), tuple(inner)))
    return tuple(blocks)


def _tcp(port: int) -> list[dict]:
    return [{"protocol": "TCP", "port": port}]


def _system_rules(system: System, options: dict) -> list[tuple[str, dict]]:
    """(comment, egress rule) pairs for calls to one system (and its oauth2 token endpoint)."""
    rules: list[tuple[str, dict]] = []
    base = _parse_url(system.base_url)
    deploy = system.deploy
    if deploy is not None:
        peer: dict = {}
        if deploy.namespace:
            peer["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": deploy.namespace}}
        peer["podSelector"] = {"matchLabels": dict(deploy.labels)} if deploy.labels else {}
        rule: dict = {"to": [peer]}
        port = deploy.port if deploy.port is not None else (base.port if base else None)
        if port is not None:
            rule["ports"] = _tcp(port)
        where = f"namespace {deploy.namespace}" if deploy.namespace else "this namespace"
        labels = ", ".join(f"{k}={v}" for k, v in deploy.labels) or "any pod"
        rules.append((f"{system.name}: in the cluster ({where}, {labels}), "
                      f"port {port if port is not None else 'any'}", rule))
    elif base is not None:
        rules.append((f"{system.name}: {base.scheme}://{base.host}:{base.port}, outside the cluster",
                      {"to": _ip_blocks(base.host, options), "ports": _tcp(base.port)}))
    if system.auth.kind == "oauth2":
        token = _parse_url(system.auth.token_url)
        if token is not None and not (deploy is not None and base is not None and token.host == base.host):
            rules.append((f"{system.name} token endpoint: {token.scheme}://{token.host}:{token.port}, "
                          f"outside the cluster",
                          {"to": _ip_blocks(token.host, options), "ports": _tcp(token.port)}))
    return rules


DNS_RULE = {
    "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}


def flow_systems(flow: Flow) -> list[str]:
    """The flow's source and target system names, once each, source first."""
    names = [flow.source.split(".", 1)[0], flow.target.split(".", 1)[0]]
    return list(dict.fromkeys(names))


def _port_key(port: dict) -> tuple:
    return (port["protocol"], port["port"])


def egress_rules(project: Project, flow: Flow, options: dict) -> list[tuple[str, dict]]:
    """(comment, rule) for DNS and each destination of the flow.

    Destinations with the same peers (e.g. two systems on the internet) share
    one rule whose ports are the union of theirs; the comment names each.
    """
    merged: dict[str, tuple[list[str], dict]] = {}
    pairs = [("DNS: kube-dns in kube-system", DNS_RULE)]
    pairs += [pair for name in flow_systems(flow) for pair in _system_rules(project.system(name), options)]
    for comment, rule in pairs:
        key = repr(rule["to"])
        if key not in merged:
            merged[key] = ([comment], {k: (list(v) if k == "ports" else v) for k, v in rule.items()})
            continue
        comments, existing = merged[key]
        comments.append(comment)
        if "ports" not in rule or "ports" not in existing:
            existing.pop("ports", None)  # one destination takes any port: so does the rule
        else:
            ports = {_port_key(p): p for p in existing["ports"] + rule["ports"]}
            existing["ports"] = [ports[k] for k in sorted(ports)]
    return [("\n".join(comment_text(c) for c in comments), rule) for comments, rule in merged.values()]


# ---------------------------------------------------------------- YAML

def comment_text(text: str) -> str:
    """One comment line: control characters (a newline would end the comment) become `?`."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else "?" for c in text)


def dump_yaml(document: dict, header: str | None = None,
              item_comments: dict[str, list[str]] | None = None, *, shortcut: bool = True) -> bytes:
    """One manifest as YAML: targets/serialise.py's writer (libyaml's emitter, strings
    quoted where a YAML 1.1 or 1.2 reader would take them for something else, exact
    literal blocks for multi-line text), `header` lines as comments on top, and
    `item_comments` (key under `spec` -> one comment per item) above the items of those
    lists. Comment text is made printable (comment_text)."""
    lines = tuple(comment_text(line) for line in header.split("\n")) if header else ()
    swapped, blocks = _swap_blocks(document) if shortcut else (document, {})
    content = serialise.dump_yaml(swapped, header=lines)
    if blocks:
        content = _put_blocks(content, blocks)
        if content is None:  # a placeholder was not where it should be: no shortcut
            return dump_yaml(document, header, item_comments, shortcut=False)
    if item_comments:
        content = _comment_items(content, item_comments)
    return content


# ConfigMap data (a flow's bundle: flow.json, mapping.py) is most of the YAML. Where a text is
# printable ASCII lines, its literal block is written here, as the same bytes libyaml writes
# (tests/k8s/test_yaml_text.py compares them), without the emitter's pass over every character.
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F)) + b"\n"
_BLOCK_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")


def literal_block(text: str) -> bytes | None:
    """`text` as a literal block scalar (`|` and its lines) for a key at column 2, exactly as
    serialise.dump_yaml writes it there; None unless `text` is lines of printable ASCII, none
    ending in a space, the first not starting with one, and one line break at its end."""
    if not text.isascii():
        return None
    raw = text.encode("ascii")
    if raw.translate(None, _PRINTABLE_ASCII) or not raw.endswith(b"\n") or raw.endswith(b"\n\n") \
            or raw[:1] in (b" ", b"\n"):
        return None
    lines = raw[:-1].split(b"\n")
    if any(map(bytes.endswith, lines, itertools.repeat(b" "))):
        return None
    return b"|\n" + b"".join([b"    " + line + b"\n" if line else b"\n" for line in lines])


def _swap_blocks(document: dict) -> tuple[dict, dict[bytes, bytes]]:
    """A ConfigMap with a placeholder for each data text literal_block can write: (the document
    to emit, {placeholder line: the line with its literal block})."""
    data = document.get("data") if document.get("kind") == "ConfigMap" else None
    if not isinstance(data, dict):
        return document, {}
    swapped_data, blocks = {}, {}
    for key, value in data.items():
        block = literal_block(value) if isinstance(value, str) and _BLOCK_KEY.fullmatch(key) else None
        if block is None:
            swapped_data[key] = value
            continue
        placeholder = f"integc-literal-block-{len(blocks)}"
        swapped_data[key] = placeholder
        blocks[f"  {key}: {placeholder}\n".encode()] = f"  {key}: ".encode() + block
    if not blocks:
        return document, {}
    return {**document, "data": swapped_data}, blocks


def _put_blocks(content: bytes, blocks: dict[bytes, bytes]) -> bytes | None:
    if content.endswith(b"\n...\n"):
        # an earlier `|+` block left the document open-ended; a literal block in place of the
        # placeholder would have closed it (libyaml then writes no `...`): let libyaml write all
        return None
    for line, replacement in blocks.items():
        placeholder = line[line.index(b": ") + 2:-1]
        if content.count(placeholder) != 1 or content.count(b"\n" + line) != 1:
            return None
        content = content.replace(line, replacement)
    return content


def _comment_items(content: bytes, comments: dict[str, list[str]]) -> bytes:
    """Each comment (lines) above its item of the list `spec.<key>`.

    serialise.dump_yaml writes such a list as `  <key>:` then one `  - ` line per item;
    everything inside an item is indented further, so a line that starts `  - ` under
    the key is the start of the next item. The items counted must be the comments given.
    """
    out: list[str] = []
    key: str | None = None
    counts = {name: 0 for name in comments}
    for line in content.decode("utf-8").split("\n"):
        if line.startswith("  - ") and key is not None:
            index = counts[key]
            if index < len(comments[key]):
                out.extend("  # " + comment_text(c) for c in comments[key][index].split("\n"))
            counts[key] = index + 1
        elif line[:4].strip():  # another key at the top or under spec: the list ended
            key = line[2:-1] if line.startswith("  ") and line[2:-1] in comments and line.endswith(":") else None
        out.append(line)
    if counts != {name: len(items) for name, items in comments.items()}:
        raise RuntimeError(f"comments for {counts} list items do not match {comments}")
    return "\n".join(out).encode("utf-8")


# ---------------------------------------------------------------- resources

def _merge_options(options: dict) -> dict:
    merged = {prop: schema["default"] for prop, schema in OPTIONS_SCHEMA["properties"].items()
              if "default" in schema}
    merged.update({k: v for k, v in options.items() if k not in ("resources", "external_egress")})
    resources = {kind: dict(values) for kind, values in DEFAULT_RESOURCES.items()}
    for kind, values in (options.get("resources") or {}).items():
        resources[kind].update({k: str(v) for k, v in values.items()})
    merged["resources"] = resources
    egress = {"cidrs": ["0.0.0.0/0", "::/0"], "except": list(PRIVATE_RANGES)}
    egress.update(options.get("external_egress") or {})
    merged["external_egress"] = egress
    return merged


def _check_options(options: dict, diagnostics: Diagnostics) -> bool:
    """What OPTIONS_SCHEMA cannot say (the build has validated the options against it)."""
    ok = True
    for key in ("cidrs", "except"):
        for cidr in (options.get("external_egress") or {}).get(key, []):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                diagnostics.report("E0403", f"invalid [targets.k8s] option `external_egress.{key}`: "
                                            f"{cidr!r} is not an IP network in CIDR notation", None)
                ok = False
    return ok


class _FlowResources:
    """The manifests of one flow."""

    def __init__(self, project: Project, flow: Flow, name: str, options: dict):
        self.project, self.flow, self.name, self.options = project, flow, name, options
        self.namespace = options["namespace"]
        self.receives = flow.trigger.kind in ("event", "webhook")
        self.selector = {
            LABEL + "name": label_value(name),
            LABEL + "part-of": package_label(project.package),
            LABEL + "component": "flow",
        }
        self.labels = {
            **self.selector,
            LABEL + "managed-by": "integc",
            LABEL + "version": label_value(project.version),
        }
        self.files = bundle_files(project, flow)

    # -- helpers

    def annotations(self) -> dict:
        notes = {}
        if self.flow.description:
            notes["kubernetes.io/description"] = self.flow.description
        notes[ANNOTATION + "flow"] = self.flow.name
        notes[ANNOTATION + "source"] = self.flow.source
        notes[ANNOTATION + "target"] = self.flow.target
        notes[ANNOTATION + "trigger"] = trigger_text(self.flow)
        return notes

    def metadata(self, name: str | None = None, **extra_annotations: str) -> dict:
        return {
            "name": name or self.name,
            "namespace": self.namespace,
            "labels": dict(self.labels),
            "annotations": {**self.annotations(), **extra_annotations},
        }

    def secrets(self) -> list[tuple[str, str]]:
        """(secret name, auth kind) of the flow's systems, sorted, once each."""
        found: dict[str, str] = {}
        for system_name in flow_systems(self.flow):
            auth = self.project.system(system_name).auth
            if auth.kind != "none" and auth.secret:
                found.setdefault(auth.secret, auth.kind)
        return sorted(found.items())

    @staticmethod
    def secret_volume(secret: str) -> str:
        name = dns_name("secret-" + secret, 63)
        if name != "secret-" + secret:  # made safe or cut: keep it distinct
            name = name[:54].rstrip("-") + "-" + _short_hash(secret)
        return name

    # -- resources

    def service_account(self) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": self.metadata(),
            "automountServiceAccountToken": False,
        }

    def config_map(self) -> dict:
        data = {}
        for file_name in sorted(self.files):
            text = self.files[file_name].decode("utf-8")
            data[file_name] = text  # a literal block where that is exact (dump_yaml)
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": self.metadata(self.name + "-bundle"),
            "data": data,
        }

    def network_policy(self) -> tuple[dict, dict[str, list[str]]]:
        """The NetworkPolicy, and the comment above each of its ingress and egress rules."""
        port = self.options["port"]
        ingress: list[dict] = []
        comments: dict[str, list[str]] = {"ingress": [], "egress": []}
        if self.receives:
            ingress.append({"ports": _tcp(port)})
            what = "webhook" if self.flow.trigger.kind == "webhook" else "CloudEvents"
            comments["ingress"].append(f"{what} deliveries to the runtime's port; nothing else")
        egress: list[dict] = []
        for comment, rule in egress_rules(self.project, self.flow, self.options):
            egress.append(rule)
            comments["egress"].append(comment)
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": self.metadata(),
            "spec": {
                "podSelector": {"matchLabels": dict(self.selector)},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": ingress,
                "egress": egress,
            },
        }, comments

    def container(self) -> dict:
        options = self.options
        args = ["run", self.flow.name, "--bundle", f"{BUNDLE_ROOT}/{self.flow.name}"]
        if not self.receives:
            args.append("--once")
        container: dict = {
            "name": CONTAINER,
            "image": options["image"],
            "imagePullPolicy": options["image_pull_policy"],
            "args": args,
        }
        if self.receives:
            container["ports"] = [{"name": "http", "containerPort": options["port"], "protocol": "TCP"}]
        container["env"] = [
            {"name": "INTEGC_PORT", "value": str(options["port"])},
            {"name": "INTEGC_DEAD_LETTER_DIR", "value": DEAD_LETTER_DIR},
            {"name": "INTEGC_SECRETS_DIR", "value": SECRETS_ROOT},
        ]
        container["resources"] = {kind: dict(values) for kind, values in options["resources"].items()}
        container["securityContext"] = {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        }
        if self.receives:
            container["livenessProbe"] = {"httpGet": {"path": HEALTH_PATH, "port": "http"},
                                          "timeoutSeconds": 2, "initialDelaySeconds": 5,
                                          "periodSeconds": 10, "failureThreshold": 3}
            container["readinessProbe"] = {"httpGet": {"path": READY_PATH, "port": "http"},
                                           "timeoutSeconds": 2, "periodSeconds": 5, "failureThreshold": 2}
        mounts = [
            {"name": "bundle", "mountPath": f"{BUNDLE_ROOT}/{self.flow.name}", "readOnly": True},
            {"name": "dead-letter", "mountPath": DEAD_LETTER_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
        ]
        for secret, _kind in self.secrets():
            mounts.append({"name": self.secret_volume(secret), "mountPath": f"{SECRETS_ROOT}/{secret}",
                           "readOnly": True})
        container["volumeMounts"] = mounts
        return container

    def volumes(self) -> list[dict]:
        claim = self.options.get("dead_letter_claim")
        volumes = [
            {"name": "bundle", "configMap": {"name": self.name + "-bundle", "defaultMode": 0o444}},
            {"name": "dead-letter",
             **({"persistentVolumeClaim": {"claimName": claim}} if claim
                else {"emptyDir": {"sizeLimit": "256Mi"}})},
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        ]
        for secret, _kind in self.secrets():
            volumes.append({"name": self.secret_volume(secret),
                            "secret": {"secretName": secret, "defaultMode": 0o440}})
        return volumes

    def pod_template(self, restart_policy: str | None) -> dict:
        spec: dict = {
            "serviceAccountName": self.name,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
        }
        if restart_policy:
            spec["restartPolicy"] = restart_policy
        spec["securityContext"] = {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        spec["containers"] = [self.container()]
        spec["volumes"] = self.volumes()
        return {
            "metadata": {
                "labels": dict(self.labels),
                "annotations": {ANNOTATION + "bundle-sha256": bundle_digest(self.files)},
            },
            "spec": spec,
        }

    def cron_job(self, schedule: str) -> dict:
        return {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": self.metadata(),
            "spec": {
                "schedule": schedule,
                "timeZone": self.options["time_zone"],
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": starting_deadline(self.flow),
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "metadata": {"labels": dict(self.labels)},
                    "spec": {
                        "backoffLimit": backoff_limit(self.flow),
                        "podFailurePolicy": {"rules": [
                            # a configuration error does not fix itself by running again
                            {"action": "FailJob",
                             "onExitCodes": {"containerName": CONTAINER, "operator": "In",
                                             "values": [EXIT_CONFIG]}},
                            # an evicted or preempted pod does not count as a failed run
                            {"action": "Ignore",
                             "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                        ]},
                        "template": self.pod_template("Never"),
                    },
                },
            },
        }

    def deployment(self) -> dict:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": self.metadata(),
            "spec": {
                "replicas": self.options["replicas"],
                "revisionHistoryLimit": 3,
                "selector": {"matchLabels": dict(self.selector)},
                "strategy": {"type": "RollingUpdate",
                             "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "template": self.pod_template(None),
            },
        }

    def service(self) -> dict:
        extra = {}
        if self.flow.trigger.kind == "webhook":
            extra[ANNOTATION + "webhook-path"] = self.flow.trigger.path or "/"
        else:
            extra[ANNOTATION + "cloudevents-type"] = ".".join(
                [self.project.package, self.flow.source.split(".", 1)[0],
                 (self.flow.trigger.event or "").rsplit(".", 1)[-1]])
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self.metadata(**extra),
            "spec": {
                "type": "ClusterIP",
                "selector": dict(self.selector),
                "ports": [{"name": "http", "port": self.options["port"], "targetPort": "http",
                           "protocol": "TCP"}],
            },
        }

    def documents(self, schedule: str | None) -> list[tuple[str, dict, dict[str, list[str]] | None]]:
        """(file name, document, comments above list items (dump_yaml)) of each resource."""
        policy, comments = self.network_policy()
        docs = [("serviceaccount.yaml", self.service_account(), None),
                ("configmap.yaml", self.config_map(), None),
                ("networkpolicy.yaml", policy, comments)]
        if schedule is not None:
            docs.append(("cronjob.yaml", self.cron_job(schedule), None))
        else:
            docs.append(("deployment.yaml", self.deployment(), None))
            docs.append(("service.yaml", self.service(), None))
        return docs


def _header(project: Project, flow: Flow | None = None) -> str:
    what = f"flow {flow.name} of " if flow is not None else ""
    return (f"Generated by integc {__version__} from {what}{project.package} {project.version}. "
            f"Do not edit: change the .integ sources and rebuild.")


def _schedule(flow: Flow, diagnostics: Diagnostics) -> tuple[bool, str | None]:
    """(ok, cron expression or None for a Deployment)."""
    trigger = flow.trigger
    if trigger.kind != "schedule":
        return True, None
    if trigger.cron is not None:
        return True, trigger.cron
    cron = cron_for_every(trigger.every_ms or 0)
    if cron is None:
        diagnostics.report(
            "E0701",
            f"flow `{flow.name}`: `schedule every {format_duration(trigger.every_ms or 0)}` "
            f"cannot be expressed as a cron expression for its Kubernetes CronJob",
            trigger.origin,
            help="use an interval that divides an hour (1m, 2m, 5m, 10m, 15m, 30m, ...) or a day "
                 "(1h, 2h, 3h, 4h, 6h, 8h, 12h), or 1d or 7d; or say exactly when with "
                 "`schedule cron \"...\"`")
        return False, None
    return True, cron


_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def _dns_subdomain(text: str) -> bool:
    return len(text) <= 253 and re.fullmatch(DNS_SUBDOMAIN, text) is not None


def _label_key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if "/" in key and not _dns_subdomain(prefix):
        return f"its prefix `{prefix}` is not a DNS subdomain"
    if len(name) > 63 or not _LABEL_NAME.match(name):
        return "a label name is 1 to 63 letters, digits, `-`, `_` and `.`, starting and ending alphanumeric"
    return None


def check_systems(project: Project, diagnostics: Diagnostics) -> None:
    """Report (E0209) what the sources allow but Kubernetes cannot name: Secret names of the
    systems that flows with a workload call, and every `k8s { ... }` location."""
    used = {name for flow in project.flows if flow.trigger.kind != "manual" for name in flow_systems(flow)}
    for system in project.systems:
        secret = system.auth.secret
        if system.name in used and system.auth.kind != "none" and secret and not _dns_subdomain(secret):
            diagnostics.report(
                "E0209", f"system `{system.name}`: secret `{secret}` cannot be the name of a Kubernetes Secret",
                system.auth.origin,
                help="a Secret name is lower-case letters, digits, `-` and `.` (a DNS subdomain), "
                     "e.g. " + f"`{dns_name(secret, 253)}`")
        deploy = system.deploy
        if deploy is None:
            continue
        if deploy.namespace is not None and (len(deploy.namespace) > 63
                                             or not re.fullmatch(DNS_LABEL, deploy.namespace)):
            diagnostics.report(
                "E0209", f"system `{system.name}`: `{deploy.namespace}` is not a Kubernetes namespace name",
                deploy.origin, help="a namespace is 1 to 63 lower-case letters, digits and `-` (a DNS label)")
        for key, value in deploy.labels:
            problem = _label_key_problem(key)
            if problem is not None:
                diagnostics.report("E0209", f"system `{system.name}`: `{key}` is not a Kubernetes label key: "
                                            f"{problem}", deploy.origin)
            if len(value) > 63 or not _LABEL_VALUE.match(value):
                diagnostics.report(
                    "E0209", f"system `{system.name}`: label `{key}` has a value Kubernetes does not accept: "
                             f"`{value}`", deploy.origin,
                    help="a label value is at most 63 letters, digits, `-`, `_` and `.`, "
                         "starting and ending alphanumeric")


def manifests(project: Project, options: dict,
              diagnostics: Diagnostics) -> dict[str, tuple[dict, str, dict[str, list[str]] | None]]:
    """(document, header comment, comments above list items) of every file under deploy/k8s/
    by its path, kustomization included: dump_yaml's arguments."""
    options = _merge_options(options)
    check_systems(project, diagnostics)
    out: dict[str, tuple[dict, str, dict[str, list[str]] | None]] = {}
    taken: dict[str, Flow] = {}
    manual: list[str] = []
    for flow in project.flows:
        if flow.trigger.kind == "manual":
            manual.append(flow.name)
            continue
        name = dns_name(flow.name)
        if name in taken:
            first = taken[name]
            diagnostics.report(
                "E0801",
                f"flows `{first.name}` and `{flow.name}` both become the Kubernetes name `{name}`",
                flow.origin, help="rename one of the flows",
                notes=(Note(first.origin, f"`{first.name}` is declared here"),))
            continue
        ok, schedule = _schedule(flow, diagnostics)
        if not ok:
            continue
        taken[name] = flow
        resources = _FlowResources(project, flow, name, options)
        header = _header(project, flow)
        for file_name, doc, comments in resources.documents(schedule):
            out[f"{name}/{file_name}"] = (doc, header, comments)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(out),
    }
    header = _header(project)
    if manual:
        header += ("\nManual flows (no workload, see W0603): " + ", ".join(sorted(manual)))
    out["kustomization.yaml"] = (kustomization, header, None)
    return out


class K8sTarget:
    name = "k8s"
    options_schema = OPTIONS_SCHEMA

    def emit(self, project: Project, options: dict, diagnostics: Diagnostics) -> list[Artifact]:
        if not _check_options(options, diagnostics):
            return []
        files = manifests(project, options, diagnostics)
        release_mappings(project)  # every bundle is in `files`
        return [Artifact(f"{OUT_DIR}/{path}", dump_yaml(*files[path])) for path in sorted(files)]


TARGET = K8sTarget()
