"""Webhook and CloudEvents receivers end to end."""

from __future__ import annotations

import http.client
import json
import threading

import pytest

from integc.runtime import FlowRunner
from integc.runtime.standin import Fault


def webhook_doc(h, src, tgt, **over):
    doc = h.flow_doc(src.base_url, tgt.base_url, **over)
    doc["trigger"] = {"kind": "webhook", "every_seconds": None, "cron": None,
                      "path": "/hooks/crm", "event": None, "note": None}
    doc["source"]["collection_path"] = None
    return doc


def event_doc(h, src, tgt, **over):
    doc = h.flow_doc(src.base_url, tgt.base_url, **over)
    doc["trigger"] = {"kind": "event", "every_seconds": None, "cron": None, "path": None,
                      "event": "customer_updated", "note": None}
    return doc


def post(port, path, body, headers=None, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn.request("POST", path, body=data, headers={"Content-Type": "application/json",
                                                   **(headers or {})})
    resp = conn.getresponse()
    payload = resp.read()
    if own:
        conn.close()
    return resp.status, (json.loads(payload) if payload else None)


@pytest.fixture
def serve(bundle, environ, bounded, tmp_path):
    def start(doc):
        runner = FlowRunner(bundle(doc), port=0, host="127.0.0.1", environ=environ,
                            dead_letter_dir=tmp_path / "dl")
        box = bounded.start(runner)
        bounded.wait_ready(runner)
        return runner, box
    return start


def test_webhook_forwards_1000_posts(systems, serve, bounded, logs, h):
    src, tgt = systems(0)
    runner, box = serve(webhook_doc(h, src, tgt))
    errors: list = []

    def sender(start: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", runner.port, timeout=10)
        try:
            for i in range(start, 1000, 8):
                status, doc = post(runner.port, "/hooks/crm", h.customer(i), conn=conn)
                if status != 202 or doc["written"] != 1:
                    errors.append((i, status, doc))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert len(tgt.store) == 1000 and set(tgt.write_counts.values()) == {1}
    assert all(tgt.store[f"c-{i:05d}"] == h.expected_account(i) for i in range(0, 1000, 37))
    runner.stop_event.set()
    assert bounded.wait(runner, box, 15) == 0
    assert runner.summary.read == 1000 and runner.summary.written == 1000


def test_webhook_array_bad_json_and_routing(systems, serve, bounded, h):
    src, tgt = systems(0)
    runner, box = serve(webhook_doc(h, src, tgt))
    status, doc = post(runner.port, "/hooks/crm", [h.customer(i) for i in range(5)])
    assert status == 202 and doc == {"accepted": 5, "written": 5, "dead_lettered": 0, "skipped": 0}
    assert post(runner.port, "/hooks/crm", b"{not json")[0] == 400
    assert post(runner.port, "/hooks/crm", b"\xff\xfe")[0] == 400
    assert post(runner.port, "/hooks/crm", b"42")[0] == 400
    assert post(runner.port, "/hooks/crm", [1, 2])[0] == 400
    assert post(runner.port, "/elsewhere", h.customer(9))[0] == 404
    conn = http.client.HTTPConnection("127.0.0.1", runner.port, timeout=5)
    conn.request("GET", "/hooks/crm")
    r = conn.getresponse()
    r.read()
    assert r.status == 405
    conn.request("GET", "/healthz")
    r = conn.getresponse()
    assert r.status == 200 and json.loads(r.read())["status"] == "ok"
    conn.close()
    # a record the mapping rejects is dead-lettered and still answered 202
    bad = dict(h.customer(7), tier="platinum")
    status, doc = post(runner.port, "/hooks/crm", bad)
    assert status == 202 and doc["dead_lettered"] == 1
    assert len(tgt.store) == 5


def test_webhook_halt_answers_500_and_exits_non_zero(systems, serve, bounded, h):
    src, tgt = systems(0, target_kw={"fault": lambda req: Fault(status=422)})
    runner, box = serve(webhook_doc(h, src, tgt, on_error="halt"))
    status, doc = post(runner.port, "/hooks/crm", h.customer(1))
    assert status == 500 and doc["title"] == "flow halted"
    assert bounded.wait(runner, box, 15) == 1


def test_webhook_payload_too_large(systems, serve, h):
    src, tgt = systems(0)
    runner, _ = serve(webhook_doc(h, src, tgt))
    runner._server.max_body = 1000
    assert post(runner.port, "/hooks/crm", [h.customer(i) for i in range(50)])[0] == 413


def binary_headers(**over):
    hdrs = {"ce-specversion": "1.0", "ce-id": "evt-1", "ce-source": "//crm.acme.example",
            "ce-type": "acme.order_to_cash.crm.customer_updated"}
    hdrs.update(over)
    return hdrs


def test_cloudevents_binary_and_structured(systems, serve, bounded, h):
    src, tgt = systems(0)
    runner, box = serve(event_doc(h, src, tgt))
    port = runner.port
    status, doc = post(port, "/", h.customer(1), binary_headers())
    assert status == 202 and doc["written"] == 1
    structured = {"specversion": "1.0", "id": "evt-2", "source": "//crm.acme.example",
                  "type": "acme.order_to_cash.crm.customer_updated",
                  "datacontenttype": "application/json", "data": h.customer(2)}
    status, doc = post(port, "/events", structured,
                       {"Content-Type": "application/cloudevents+json; charset=utf-8"})
    assert status == 202 and doc["written"] == 1
    batch = [dict(structured, id=f"evt-b{i}", data=h.customer(10 + i)) for i in range(3)]
    status, doc = post(port, "/", batch, {"Content-Type": "application/cloudevents-batch+json"})
    assert status == 202 and doc["written"] == 3
    # the bare event name is accepted as the type too
    status, _ = post(port, "/", h.customer(3), binary_headers(**{"ce-id": "evt-3",
                                                                   "ce-type": "customer_updated"}))
    assert status == 202
    assert set(tgt.store) == {"c-00001", "c-00002", "c-00003", "c-00010", "c-00011", "c-00012"}


def test_cloudevents_rejections(systems, serve, h):
    src, tgt = systems(0)
    runner, _ = serve(event_doc(h, src, tgt))
    port = runner.port
    assert post(port, "/", h.customer(1), binary_headers(**{"ce-type": "acme.crm.order_placed"}))[0] == 400
    assert post(port, "/", h.customer(1), binary_headers(**{"ce-type": "xcustomer_updated"}))[0] == 400
    assert post(port, "/", h.customer(1), binary_headers(**{"ce-specversion": "0.3"}))[0] == 400
    assert post(port, "/", h.customer(1))[0] == 400  # no ce-* headers: not a CloudEvent
    hdrs = binary_headers()
    del hdrs["ce-id"]
    assert post(port, "/", h.customer(1), hdrs)[0] == 400
    assert post(port, "/", b"nope", binary_headers())[0] == 400
    assert post(port, "/", [1], binary_headers())[0] == 400
    status, doc = post(port, "/", {"specversion": "1.0", "id": "x", "source": "s",
                                   "type": "customer_updated", "data": "text"},
                       {"Content-Type": "application/cloudevents+json"})
    assert status == 400 and "object" in doc["detail"]
    assert post(port, "/hooks/crm", h.customer(1), binary_headers())[0] == 404
    assert tgt.store == {}


def test_cloudevents_duplicate_delivery_written_once(systems, serve, logs, h):
    src, tgt = systems(0)
    runner, _ = serve(event_doc(h, src, tgt, write="create"))
    for _ in range(3):
        status, _ = post(runner.port, "/", h.customer(5), binary_headers(**{"ce-id": "dup-1"}))
        assert status == 202
    assert tgt.requests_by_method["POST"] == 1
    assert len(logs.where(msg="duplicate event ignored")) == 2


def test_once_with_webhook_is_a_usage_error(systems, bundle, environ, bounded, h, tmp_path):
    src, tgt = systems(0)
    runner = FlowRunner(bundle(webhook_doc(h, src, tgt)), once=True, environ=environ,
                        dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 2


def test_real_process_sigterm_and_json_only_stderr(systems, bundle, h, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    src, tgt = systems(0)
    b = bundle(webhook_doc(h, src, tgt))
    env = dict(os.environ, **h.SECRETS, INTEGC_PORT="0", INTEGC_HOST="127.0.0.1",
               INTEGC_SECRETS_DIR=str(tmp_path / "none"))
    code = ("import sys; from pathlib import Path; from integc.runtime import run_flow; "
            f"sys.exit(run_flow(Path({str(b)!r}), once=False, port=None, "
            f"dead_letter_dir=Path({str(tmp_path / 'dl')!r})))")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        port = None
        deadline = time.monotonic() + 20
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            doc = json.loads(line)
            if doc["msg"] == "listening":
                port = doc["port"]
        assert port, "".join(lines)
        assert post(port, "/hooks/crm", h.customer(3))[0] == 202
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)
    assert proc.returncode == 0
    assert out == ""
    lines += err.splitlines()
    docs = [json.loads(x) for x in lines if x.strip()]  # every stderr line is JSON
    assert any(d["msg"] == "record written" and d["key"] == "c-00003" for d in docs)
    assert docs[-1]["msg"] == "flow stopped" and docs[-1]["written"] == 1
    for secret in h.SECRETS.values():
        assert secret not in "".join(lines)
