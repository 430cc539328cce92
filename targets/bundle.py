"""The flow bundle: what the flow runtime (`integc run`) reads for one flow.

A bundle is two files, mounted from a ConfigMap at `/etc/integc/<flow>` by the
k8s target (and usable from any folder): `flow.json`, the flow's settings in
the format below, and `mapping.py`, the flow's mapping module
(`integc.targets.mapping.render_module`, made once per project and flow by
`module_source`).

flow.json, format 1 (the runtime's `integc.runtime.bundle` checks it):

    {"format": 1, "flow": "...", "package": "...", "version": "...",
     "trigger": {"kind", "every_seconds", "cron", "path", "event", "note"},
     "write": "create|update|upsert",
     "retry": {"attempts", "backoff", "initial_ms", "max_ms"} | null,
     "on_error": "dead_letter|skip|halt",
     "source": {"system", "entity", "base_url", "auth", "collection_path", "key_field"},
     "target": {"system", "entity", "base_url", "auth", "collection_path", "item_path", "key_field"}}

Secrets appear by name only: `auth.secret` names a Kubernetes Secret (or the
`INTEGC_SECRET_<NAME>_<KEY>` environment variables of a local run).
"""
from __future__ import annotations

import hashlib
import json

import orjson

from integc.ir import Auth, Flow, Project

FORMAT = 1
FLOW_JSON = "flow.json"
MAPPING_PY = "mapping.py"


def auth_settings(auth: Auth) -> dict:
    """The `auth` object of an endpoint: kind and secret name, never a value."""
    if auth.kind == "none":
        return {"kind": "none"}
    if auth.kind == "api_key":
        return {"kind": "api_key", "header": auth.header, "secret": auth.secret}
    if auth.kind == "oauth2":
        return {"kind": "oauth2", "token_url": auth.token_url, "scopes": list(auth.scopes),
                "secret": auth.secret}
    return {"kind": auth.kind, "secret": auth.secret}  # bearer | basic | mtls


def _expose(project: Project, qualified: str):
    system_name, entity_name = qualified.split(".", 1)
    system = project.system(system_name)
    entity = project.entity(qualified)
    expose = next((e for e in system.exposes if e.entity == entity_name), None)
    return system, entity, expose


def _item_path(collection_path: str, key: str) -> str:
    return collection_path.rstrip("/") + "/{" + key + "}"


def _endpoint(project: Project, qualified: str, *, with_item_path: bool) -> dict:
    system, entity, expose = _expose(project, qualified)
    collection_path = expose.path if expose is not None else None
    doc: dict = {
        "system": system.name,
        "entity": entity.name,
        "base_url": system.base_url,
        "auth": auth_settings(system.auth),
        "collection_path": collection_path,
    }
    if with_item_path:
        doc["item_path"] = (_item_path(collection_path, entity.key)
                            if collection_path is not None and entity.key else None)
    doc["key_field"] = entity.key
    return doc


def _event_name(event: str | None) -> str | None:
    """The bare event name (`customer_updated`), also when the IR qualifies it."""
    if event is None:
        return None
    return event.rsplit(".", 1)[-1]


def flow_settings(project: Project, flow: Flow) -> dict:
    """The content of the flow's `flow.json`, as a dict in the documented key order."""
    trigger = flow.trigger
    retry = flow.retry
    return {
        "format": FORMAT,
        "flow": flow.name,
        "package": project.package,
        "version": project.version,
        "trigger": {
            "kind": trigger.kind,
            "every_seconds": trigger.every_ms // 1000 if trigger.every_ms is not None else None,
            "cron": trigger.cron,
            "path": trigger.path,
            "event": _event_name(trigger.event),
            "note": trigger.note,
        },
        "write": flow.write,
        "retry": None if retry is None else {
            "attempts": retry.attempts,
            "backoff": retry.backoff,
            "initial_ms": retry.initial_ms,
            "max_ms": retry.max_ms,
        },
        "on_error": flow.on_error,
        "source": _endpoint(project, flow.source, with_item_path=False),
        "target": _endpoint(project, flow.target, with_item_path=True),
    }


def flow_json(project: Project, flow: Flow) -> bytes:
    """flow.json's bytes: two-space indented, ASCII only, one trailing newline.

    That is `json.dumps(settings, indent=2, ensure_ascii=True)`; orjson writes the same
    bytes, faster, wherever nothing needs an escape (ASCII, no backslash) and there is
    no float, which is the case for almost every flow.
    """
    settings = flow_settings(project, flow)
    try:
        fast = orjson.dumps(settings, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # an integer beyond 64 bits
        fast = b"\\"
    if fast.isascii() and b"\\" not in fast and not _has_float(settings):
        return fast
    text = json.dumps(settings, indent=2, ensure_ascii=True)
    return (text + "\n").encode("utf-8")


def _has_float(value: object) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_float(v) for v in value)
    return False


def _render_mapping(project: Project, flow: Flow) -> str | bytes:
    from integc.targets.mapping import module_source

    return module_source(project, flow)  # made once per project, also for the mapping target


def release_mappings(project: Project) -> None:
    """Every bundle of `project` is made: free the modules and schemas kept for them."""
    import sys

    if "integc.targets.mapping.schemas" in sys.modules:  # nothing to free if no module was rendered
        from integc.targets.mapping.schemas import release

        release(project, modules=True)


def bundle_files(project: Project, flow: Flow) -> dict[str, bytes]:
    """{"flow.json": ..., "mapping.py": ...}: the files of the flow's bundle."""
    mapping = _render_mapping(project, flow)
    if isinstance(mapping, str):
        mapping = mapping.encode("utf-8")
    return {FLOW_JSON: flow_json(project, flow), MAPPING_PY: mapping}


def bundle_digest(files: dict[str, bytes]) -> str:
    """sha256 over the bundle's files (names and contents), for rollout annotations."""
    digest = hashlib.sha256()
    for name in sorted(files):
        content = files[name]
        digest.update(name.encode("utf-8") + b"\0" + str(len(content)).encode("ascii") + b"\0")
        digest.update(content)
    return digest.hexdigest()
