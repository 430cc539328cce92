"""Fixtures for the runtime tests: a hand-written bundle, stand-in systems, bounded runs."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from integc.runtime import FlowRunner, write_bundle
from integc.runtime.logs import LOGGER_NAME, JsonFormatter
from integc.runtime.standin import StandIn

# What the mapping generator will emit for the LANGUAGE.md example flow
# (crm.Customer -> billing.Account), written by hand until it exists.
MAPPING_SOURCE = '''\
"""Mapping for flow sync_customers: crm.Customer -> billing.Account."""

SOURCE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["id", "email", "name"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "email": {"type": "string", "format": "email"},
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "tier": {"enum": ["free", "pro", "enterprise"], "default": "free"},
        "address": {"type": ["object", "null"]},
    },
}

TARGET_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["account_id", "email", "plan", "country"],
    "properties": {
        "account_id": {"type": "string"},
        "email": {"type": "string", "format": "email"},
        "plan": {"type": "string"},
        "country": {"type": "string"},
    },
}


class MappingError(Exception):
    """The source record cannot be mapped."""


_PLAN = {"free": "basic", "pro": "standard", "enterprise": "premium"}


def map_record(source):
    if not isinstance(source, dict):
        raise MappingError("the source record is not an object")
    if "id" not in source or source["id"] is None:
        raise MappingError("missing required field 'id'")
    email = source.get("email")
    if not isinstance(email, str):
        raise MappingError("field 'email' must be a string")
    tier = source.get("tier", "free")
    if tier not in _PLAN:
        raise MappingError(f"field 'tier': {tier!r} is not a Tier")
    address = source.get("address")
    country = address.get("country") if isinstance(address, dict) else None
    return {
        "account_id": str(source["id"]),
        "email": email.lower(),
        "plan": _PLAN[tier],
        "country": country if country is not None else "US",
    }
'''

TIERS = ("free", "pro", "enterprise")
PLANS = {"free": "basic", "pro": "standard", "enterprise": "premium"}

SECRETS = {
    "INTEGC_SECRET_CRM_TOKEN_TOKEN": "crm-bearer-Zq81xYt0pLmN",
    "INTEGC_SECRET_BILLING_API_KEY_API_KEY": "billing-key-K7u2VbQe9sWd",
}


def customer(i: int) -> dict:
    rec = {"id": f"c-{i:05d}", "email": f"User{i}@Example.COM", "name": f"Customer {i}",
           "tier": TIERS[i % 3]}
    if i % 4:
        rec["address"] = {"line1": f"{i} Main St", "city": "Leeds", "country": "GB"}
    return rec


def expected_account(i: int) -> dict:
    c = customer(i)
    return {"account_id": c["id"], "email": c["email"].lower(), "plan": PLANS[c["tier"]],
            "country": "GB" if i % 4 else "US"}


def flow_doc(source_url: str, target_url: str, **over: Any) -> dict:
    doc = {
        "format": 1,
        "flow": "sync_customers",
        "package": "acme.order_to_cash",
        "version": "1.4.0",
        "trigger": {"kind": "schedule", "every_seconds": 900, "cron": None, "path": None,
                    "event": None, "note": None},
        "write": "upsert",
        "retry": {"attempts": 5, "backoff": "exponential", "initial_ms": 1, "max_ms": 5},
        "on_error": "dead_letter",
        "source": {"system": "crm", "entity": "Customer", "base_url": source_url,
                   "auth": {"kind": "bearer", "secret": "crm-token"},
                   "collection_path": "/customers", "key_field": "id"},
        "target": {"system": "billing", "entity": "Account", "base_url": target_url,
                   "auth": {"kind": "api_key", "header": "X-Api-Key", "secret": "billing-api-key"},
                   "collection_path": "/accounts", "item_path": "/accounts/{account_id}",
                   "key_field": "account_id"},
    }
    for k, v in over.items():
        doc[k] = v
    return doc


def bearer_check(token: str) -> Callable:
    return lambda h: h.get("Authorization") == f"Bearer {token}"


def api_key_check(key: str) -> Callable:
    return lambda h: h.get("X-Api-Key") == key


@pytest.fixture
def environ(tmp_path: Path) -> dict:
    env = dict(SECRETS)
    env["INTEGC_SECRETS_DIR"] = str(tmp_path / "secrets")
    return env


@pytest.fixture
def systems():
    """Start stand-ins: ``systems(source_records=..., **kw)`` -> (source, target); stopped after."""
    started: list[StandIn] = []

    def make(n: int = 0, *, source_kw: dict | None = None, target_kw: dict | None = None,
             target_records: list | None = None):
        skw = {"auth": bearer_check(SECRETS["INTEGC_SECRET_CRM_TOKEN_TOKEN"]),
               **(source_kw or {})}
        src = StandIn("/customers", "id", records=[customer(i) for i in range(n)], **skw).start()
        started.append(src)
        tkw = {"auth": api_key_check(SECRETS["INTEGC_SECRET_BILLING_API_KEY_API_KEY"]),
               **(target_kw or {})}
        tgt = StandIn("/accounts", "account_id", records=target_records, base_path="/v2",
                      **tkw).start()
        started.append(tgt)
        return src, tgt

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def bundle(tmp_path: Path):
    """``bundle(doc, mapping=MAPPING_SOURCE)`` writes a bundle and returns its directory."""
    counter = [0]

    def make(doc: dict, mapping: str = MAPPING_SOURCE) -> Path:
        counter[0] += 1
        return write_bundle(doc, mapping, tmp_path / f"bundle{counter[0]}")

    return make


class LogCapture:
    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(JsonFormatter())
        self._lock = threading.Lock()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def where(self, **match: Any) -> list[dict]:
        return [d for d in self.lines() if all(d.get(k) == v for k, v in match.items())]


@pytest.fixture
def logs():
    cap = LogCapture()
    logger = logging.getLogger(LOGGER_NAME)
    old_level = logger.level
    logger.addHandler(cap.handler)
    logger.setLevel(logging.DEBUG)
    yield cap
    logger.removeHandler(cap.handler)
    logger.setLevel(old_level)


class Bounded:
    """Runs a FlowRunner in a thread; every wait has a deadline, and cleanup stops it."""

    def __init__(self) -> None:
        self.items: list[tuple[FlowRunner, threading.Thread, dict]] = []

    def start(self, runner: FlowRunner) -> dict:
        box: dict = {}

        def target() -> None:
            box["code"] = runner.run()

        th = threading.Thread(target=target, daemon=True, name="flow-under-test")
        th.start()
        self.items.append((runner, th, box))
        return box

    def run(self, runner: FlowRunner, timeout: float = 30.0) -> int:
        box = self.start(runner)
        return self.wait(runner, box, timeout)

    def wait(self, runner: FlowRunner, box: dict, timeout: float = 30.0) -> int:
        th = next(t for r, t, b in self.items if b is box)
        th.join(timeout)
        if th.is_alive():
            runner.stop_event.set()
            th.join(10)
            pytest.fail(f"flow did not finish within {timeout}s")
        return box["code"]

    def wait_ready(self, runner: FlowRunner, timeout: float = 10.0) -> None:
        if not runner.ready.wait(timeout):
            runner.stop_event.set()
            pytest.fail("flow server did not start in time")

    def stop_all(self) -> None:
        for runner, th, _ in self.items:
            runner.stop_event.set()
        for runner, th, _ in self.items:
            th.join(15)


@pytest.fixture
def bounded():
    b = Bounded()
    yield b
    b.stop_all()


def wait_for(pred: Callable[[], bool], timeout: float = 10.0, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


@pytest.fixture
def h():
    """Helpers for test modules (importlib import mode: tests cannot import conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(customer=customer, expected_account=expected_account,
                           flow_doc=flow_doc, wait_for=wait_for, SECRETS=SECRETS,
                           MAPPING_SOURCE=MAPPING_SOURCE, bearer_check=bearer_check,
                           api_key_check=api_key_check)
