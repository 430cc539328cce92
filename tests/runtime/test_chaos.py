"""Faults injected at random (seeded): every record is still accounted for, written once."""

from __future__ import annotations

import json
import random
import threading

import pytest

from integc.runtime import FlowRunner
from integc.runtime.standin import Fault


def chaos(seed: int, *, methods: tuple[str, ...], rate: float = 0.3):
    rng = random.Random(seed)
    lock = threading.Lock()

    def hook(req):
        if req.method not in methods:
            return None
        with lock:
            x = rng.random()
        if x >= rate:
            return None
        x /= rate
        if x < 0.30:
            return Fault(status=rng.choice((500, 502, 503, 504)))
        if x < 0.45:
            return Fault(status=429, headers={"Retry-After": "0"})
        if x < 0.55:
            return Fault(status=408)
        if x < 0.70:
            return Fault(drop=True)
        if x < 0.85:
            return Fault(drop_after=True)
        return Fault(delay_s=0.4)  # over the client timeout: the answer is lost

    return hook


@pytest.mark.parametrize("mode", ["upsert", "create"])
def test_random_faults_every_record_written_once(systems, bundle, environ, bounded, logs, h,
                                                 tmp_path, mode):
    n = 400
    src, tgt = systems(n, source_kw={"fault": chaos(1, methods=("GET",), rate=0.3)},
                       target_kw={"fault": chaos(2, methods=("PUT", "POST"))})
    doc = h.flow_doc(src.base_url, tgt.base_url, write=mode,
                     retry={"attempts": 12, "backoff": "exponential", "initial_ms": 1,
                            "max_ms": 8})
    runner = FlowRunner(bundle(doc), once=True, environ=environ, dead_letter_dir=tmp_path / "dl",
                        timeout_s=0.2, concurrency=8)
    assert bounded.run(runner, timeout=45) == 0
    s = runner.summary
    assert s.read == n and s.written == n and s.accounted == n, s
    assert s.retries > 50
    assert len(tgt.store) == n
    assert all(tgt.store[f"c-{i:05d}"] == h.expected_account(i) for i in range(n))
    if mode == "create":
        assert set(tgt.write_counts.values()) == {1}  # no duplicate creates
    outcomes = [d for d in logs.lines() if d.get("outcome") == "written"]
    assert sorted(d["key"] for d in outcomes) == sorted(f"c-{i:05d}" for i in range(n))


def test_faults_beyond_retries_are_dead_lettered_and_counted(systems, bundle, environ, bounded,
                                                             h, tmp_path):
    n = 200
    src, tgt = systems(n, target_kw={"fault": chaos(3, methods=("PUT", "POST"), rate=0.6)})
    doc = h.flow_doc(src.base_url, tgt.base_url,
                     retry={"attempts": 2, "backoff": "fixed", "initial_ms": 1, "max_ms": 1})
    runner = FlowRunner(bundle(doc), once=True, environ=environ, dead_letter_dir=tmp_path / "dl",
                        timeout_s=0.2, concurrency=8)
    assert bounded.run(runner, timeout=45) == 0
    s = runner.summary
    assert s.dead_lettered > 0 and s.written > 0
    assert s.written + s.dead_lettered == n == s.read
    letters = [json.loads(x) for x in
               (tmp_path / "dl" / "sync_customers.jsonl").read_text().splitlines()]
    dead = {d["key"] for d in letters}
    assert len(letters) == len(dead) == s.dead_lettered
    # everything not dead-lettered is in the target
    assert {f"c-{i:05d}" for i in range(n)} - dead <= set(tgt.store)


def test_http10_servers_without_keep_alive(systems, bundle, environ, bounded, h, tmp_path):
    src, tgt = systems(150)
    # make both stand-ins speak HTTP/1.0 (a close after every answer), Nagle on
    for s in (src, tgt):
        s._server.RequestHandlerClass.protocol_version = "HTTP/1.0"
        s._server.RequestHandlerClass.nagle = True
    runner = FlowRunner(bundle(h.flow_doc(src.base_url, tgt.base_url)), once=True,
                        environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0
    assert len(tgt.store) == 150
