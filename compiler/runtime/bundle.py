"""Loading and validating a flow bundle (``flow.json`` + ``mapping.py``)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable
from urllib.parse import urlsplit

from .errors import BundleError

FORMAT_VERSION = 1
TRIGGER_KINDS = ("schedule", "event", "webhook", "manual")
WRITE_MODES = ("create", "update", "upsert")
ON_ERROR = ("dead_letter", "skip", "halt")
BACKOFFS = ("exponential", "fixed")
AUTH_KINDS = ("none", "bearer", "api_key", "basic", "oauth2", "mtls")

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class Auth:
    kind: str
    secret: str | None = None
    header: str | None = None
    token_url: str | None = None
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Endpoint:
    """One side of a flow: the source or the target system."""

    system: str
    entity: str
    base_url: str
    auth: Auth
    collection_path: str | None
    item_path: str | None
    key_field: str | None


@dataclass(frozen=True)
class Trigger:
    kind: str
    every_seconds: float | None = None
    cron: str | None = None
    path: str | None = None
    event: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 1
    backoff: str = "exponential"
    initial_ms: int = 0
    max_ms: int = 0


@dataclass
class Bundle:
    directory: Path
    flow: str
    package: str | None
    version: str | None
    trigger: Trigger
    write: str
    retry: RetryPolicy
    on_error: str
    source: Endpoint
    target: Endpoint
    map_record: Callable[[dict], dict]
    mapping_error: type[BaseException]
    source_schema: Any = None
    target_schema: Any = None
    raw: dict = field(default_factory=dict, repr=False)
    module: ModuleType | None = field(default=None, repr=False)

    @property
    def event_type(self) -> str | None:
        """The full CloudEvents type: ``<package>.<source system>.<event>``."""
        if not self.trigger.event:
            return None
        parts = [p for p in (self.package, self.source.system, self.trigger.event) if p]
        return ".".join(parts)


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    def obj(self, doc: Any, where: str) -> dict:
        if not isinstance(doc, dict):
            self.fail(where, f"expected an object, got {_kind(doc)}")
            return {}
        return doc

    def string(self, doc: dict, key: str, where: str, *, required: bool = True,
               choices: tuple[str, ...] | None = None) -> str | None:
        value = doc.get(key)
        if value is None:
            if required:
                self.fail(f"{where}.{key}", "is required")
            return None
        if not isinstance(value, str) or not value:
            self.fail(f"{where}.{key}", f"expected a non-empty string, got {_kind(value)}")
            return None
        if choices and value not in choices:
            self.fail(f"{where}.{key}", f"must be one of {', '.join(choices)}, got {value!r}")
            return None
        return value

    def integer(self, doc: dict, key: str, where: str, *, minimum: int) -> int | None:
        value = doc.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"{where}.{key}", f"expected an integer, got {_kind(value)}")
            return None
        if value < minimum:
            self.fail(f"{where}.{key}", f"must be >= {minimum}, got {value}")
            return None
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _check_path(c: _Checker, value: str | None, where: str) -> None:
    if value is not None and not value.startswith("/"):
        c.fail(where, f"must start with '/', got {value!r}")


def _parse_auth(c: _Checker, doc: Any, where: str) -> Auth:
    d = c.obj(doc, where)
    kind = c.string(d, "kind", where, choices=AUTH_KINDS) or "none"
    secret = None
    if kind != "none":
        secret = c.string(d, "secret", where)
        if secret is not None and not _SECRET_NAME.match(secret):
            c.fail(f"{where}.secret", "must be a secret name (letters, digits, '.', '_', '-')")
            secret = None
    header = None
    if kind == "api_key":
        header = c.string(d, "header", where)
        if header is not None and not _HEADER_NAME.match(header):
            c.fail(f"{where}.header", f"{header!r} is not a valid HTTP header name")
    token_url = None
    scopes: tuple[str, ...] = ()
    if kind == "oauth2":
        token_url = c.string(d, "token_url", where)
        if token_url is not None:
            _check_url(c, token_url, f"{where}.token_url")
        raw_scopes = d.get("scopes") or []
        if not isinstance(raw_scopes, list) or not all(isinstance(s, str) for s in raw_scopes):
            c.fail(f"{where}.scopes", "expected an array of strings")
        else:
            scopes = tuple(raw_scopes)
    return Auth(kind=kind, secret=secret, header=header, token_url=token_url, scopes=scopes)


def _check_url(c: _Checker, url: str, where: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        c.fail(where, f"expected an http(s) URL, got {url!r}")


def _parse_endpoint(c: _Checker, doc: Any, where: str) -> Endpoint:
    d = c.obj(doc, where)
    system = c.string(d, "system", where) or "?"
    entity = c.string(d, "entity", where) or "?"
    base_url = c.string(d, "base_url", where) or ""
    if base_url:
        _check_url(c, base_url, f"{where}.base_url")
    auth = _parse_auth(c, d.get("auth", {"kind": "none"}), f"{where}.auth")
    collection_path = c.string(d, "collection_path", where, required=False)
    item_path = c.string(d, "item_path", where, required=False)
    key_field = c.string(d, "key_field", where, required=False)
    _check_path(c, collection_path, f"{where}.collection_path")
    _check_path(c, item_path, f"{where}.item_path")
    return Endpoint(system=system, entity=entity, base_url=base_url, auth=auth,
                    collection_path=collection_path, item_path=item_path, key_field=key_field)


def _parse_flow(c: _Checker, doc: dict) -> dict[str, Any]:
    fmt = doc.get("format")
    if fmt != FORMAT_VERSION:
        c.fail("flow.json: format", f"this runtime reads format {FORMAT_VERSION}, got {fmt!r}")
    w = "flow.json"
    flow = c.string(doc, "flow", w)
    if flow is not None and not _IDENT.match(flow):
        c.fail(f"{w}.flow", f"{flow!r} is not an identifier")
        flow = None
    package = c.string(doc, "package", w, required=False)
    version = c.string(doc, "version", w, required=False)

    t = c.obj(doc.get("trigger"), f"{w}.trigger")
    kind = c.string(t, "kind", f"{w}.trigger", choices=TRIGGER_KINDS)
    every = t.get("every_seconds")
    cron = t.get("cron")
    path = t.get("path")
    event = t.get("event")
    note = t.get("note")
    if kind == "schedule":
        if every is None and cron is None:
            c.fail(f"{w}.trigger", "a schedule needs every_seconds or cron")
        if every is not None and (isinstance(every, bool) or not isinstance(every, (int, float))
                                  or every <= 0):
            c.fail(f"{w}.trigger.every_seconds", f"expected a positive number, got {every!r}")
            every = None
        if cron is not None:
            if not isinstance(cron, str):
                c.fail(f"{w}.trigger.cron", f"expected a string, got {_kind(cron)}")
                cron = None
            else:
                from croniter import croniter

                if not croniter.is_valid(cron):
                    c.fail(f"{w}.trigger.cron", f"{cron!r} is not a valid cron expression")
                    cron = None
        if every is not None and cron is not None:
            c.fail(f"{w}.trigger", "give every_seconds or cron, not both")
    elif kind == "webhook":
        if not isinstance(path, str) or not path.startswith("/"):
            c.fail(f"{w}.trigger.path", f"a webhook needs a path starting with '/', got {path!r}")
            path = None
    elif kind == "event":
        if not isinstance(event, str) or not event:
            c.fail(f"{w}.trigger.event", "an event trigger needs the event name")
            event = None
    trigger = Trigger(kind=kind or "manual", every_seconds=float(every) if every else None,
                      cron=cron if isinstance(cron, str) else None,
                      path=path if isinstance(path, str) else None,
                      event=event if isinstance(event, str) else None,
                      note=note if isinstance(note, str) else None)

    write = doc.get("write", "upsert")
    if write not in WRITE_MODES:
        c.fail(f"{w}.write", f"must be one of {', '.join(WRITE_MODES)}, got {write!r}")
        write = "upsert"

    retry_doc = doc.get("retry")
    retry = RetryPolicy()
    if retry_doc is not None:
        r = c.obj(retry_doc, f"{w}.retry")
        attempts = c.integer(r, "attempts", f"{w}.retry", minimum=1)
        backoff = c.string(r, "backoff", f"{w}.retry", choices=BACKOFFS)
        initial = c.integer(r, "initial_ms", f"{w}.retry", minimum=0)
        maximum = c.integer(r, "max_ms", f"{w}.retry", minimum=0)
        if None not in (attempts, backoff, initial, maximum):
            retry = RetryPolicy(attempts=attempts, backoff=backoff,  # type: ignore[arg-type]
                                initial_ms=initial, max_ms=max(maximum, initial))  # type: ignore[type-var]

    on_error = doc.get("on_error", "dead_letter")
    if on_error not in ON_ERROR:
        c.fail(f"{w}.on_error", f"must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
        on_error = "dead_letter"

    source = _parse_endpoint(c, doc.get("source"), f"{w}.source")
    target = _parse_endpoint(c, doc.get("target"), f"{w}.target")

    if kind in ("schedule", "manual") and not source.collection_path:
        c.fail(f"{w}.source.collection_path",
               f"a {kind} flow reads the source's list operation: collection_path is required")
    if write in ("create", "upsert") and not target.collection_path:
        c.fail(f"{w}.target.collection_path", f"write {write} needs the target's collection_path")
    if write in ("update", "upsert"):
        if not target.item_path:
            c.fail(f"{w}.target.item_path", f"write {write} needs the target's item_path")
        elif not _PLACEHOLDER.search(target.item_path):
            c.fail(f"{w}.target.item_path",
                   f"{target.item_path!r} has no {{key}} placeholder")
        if not target.key_field:
            c.fail(f"{w}.target.key_field", f"write {write} needs the target's key_field")

    return dict(flow=flow, package=package, version=version, trigger=trigger, write=write,
                retry=retry, on_error=on_error, source=source, target=target)


def load_mapping(path: Path, flow: str) -> ModuleType:
    """Import ``mapping.py`` from its file path as ``integc_bundle_<flow>``."""
    name = f"integc_bundle_{flow}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(name)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if previous is not None:
            sys.modules[name] = previous
        else:
            sys.modules.pop(name, None)
        raise
    return module


def load_bundle(bundle_dir: Path | str) -> Bundle:
    """Read and check a bundle directory; raise :class:`BundleError` listing every problem."""
    directory = Path(bundle_dir)
    if not directory.is_dir():
        raise BundleError(directory, [f"{directory}: not a directory"])
    flow_path = directory / "flow.json"
    mapping_path = directory / "mapping.py"
    problems: list[str] = []
    if not flow_path.is_file():
        problems.append("flow.json: missing")
    if not mapping_path.is_file():
        problems.append("mapping.py: missing")
    if problems:
        raise BundleError(directory, problems)
    try:
        doc = json.loads(flow_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise BundleError(directory, [f"flow.json: not UTF-8 ({exc.reason})"]) from None
    except json.JSONDecodeError as exc:
        raise BundleError(directory, [f"flow.json: invalid JSON at line {exc.lineno} "
                                      f"column {exc.colno}: {exc.msg}"]) from None
    except OSError as exc:
        raise BundleError(directory, [f"flow.json: cannot read ({exc.strerror})"]) from None
    c = _Checker()
    if not isinstance(doc, dict):
        raise BundleError(directory, [f"flow.json: expected an object, got {_kind(doc)}"])
    parsed = _parse_flow(c, doc)
    if c.problems:
        raise BundleError(directory, c.problems)

    try:
        module = load_mapping(mapping_path, parsed["flow"])
    except SyntaxError as exc:
        raise BundleError(directory, [f"mapping.py:{exc.lineno}: syntax error: {exc.msg}"]) from None
    except Exception as exc:  # noqa: BLE001 - any import failure is a bad bundle
        raise BundleError(directory, [f"mapping.py: import failed: {type(exc).__name__}: {exc}"]) from None
    map_record = getattr(module, "map_record", None)
    if not callable(map_record):
        problems.append("mapping.py: does not define map_record(source) -> dict")
    mapping_error = getattr(module, "MappingError", None)
    if not (isinstance(mapping_error, type) and issubclass(mapping_error, Exception)):
        problems.append("mapping.py: does not define class MappingError(Exception)")
    for name in ("SOURCE_SCHEMA", "TARGET_SCHEMA"):
        if not isinstance(getattr(module, name, None), dict):
            problems.append(f"mapping.py: does not define {name} (a JSON Schema object)")
    if problems:
        raise BundleError(directory, problems)
    return Bundle(directory=directory, raw=doc, module=module, map_record=map_record,  # type: ignore[arg-type]
                  mapping_error=mapping_error,  # type: ignore[arg-type]
                  source_schema=module.SOURCE_SCHEMA, target_schema=module.TARGET_SCHEMA,
                  **parsed)


def write_bundle(flow_json: dict, mapping_source: str, dest: Path | str) -> Path:
    """Write a bundle (``flow.json`` + ``mapping.py``) into ``dest``; for tests and tools."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "flow.json").write_text(json.dumps(flow_json, indent=2, sort_keys=True) + "\n",
                                    encoding="utf-8")
    (dest / "mapping.py").write_text(mapping_source, encoding="utf-8")
    return dest
