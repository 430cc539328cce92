"""Scheduled flows end to end against stand-in systems on loopback."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

from integc.runtime import FlowRunner
from integc.runtime.standin import Fault


def read_dead_letters(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_pages_2500_records_each_written_once(systems, bundle, environ, bounded, logs, h, tmp_path):
    src, tgt = systems(2500)
    b = bundle(h.flow_doc(src.base_url, tgt.base_url))
    runner = FlowRunner(b, once=True, environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0
    s = runner.summary
    assert (s.read, s.written, s.dead_lettered, s.skipped, s.failed) == (2500, 2500, 0, 0, 0)
    # every mapped record arrived exactly once, with the mapped content
    assert len(tgt.store) == 2500
    assert set(tgt.write_counts.values()) == {1}
    for i in (0, 1, 2, 3, 1234, 2499):
        assert tgt.store[f"c-{i:05d}"] == h.expected_account(i)
    # default page size 100: 25 list calls
    assert src.requests_by_method["GET"] == 25
    assert len(logs.where(msg="record written")) == 2500
    assert logs.where(msg="run finished")[0]["written"] == 2500


def test_existing_target_records_are_updated_not_created(systems, bundle, environ, bounded, h, tmp_path):
    existing = [{"account_id": f"c-{i:05d}", "email": "old@x", "plan": "x", "country": "FR"}
                for i in range(0, 50, 2)]
    src, tgt = systems(50, target_records=existing)
    runner = FlowRunner(bundle(h.flow_doc(src.base_url, tgt.base_url)), once=True,
                        environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0
    assert tgt.requests_by_method["POST"] == 25
    assert tgt.requests_by_method["PUT"] == 50
    assert all(tgt.store[f"c-{i:05d}"] == h.expected_account(i) for i in range(50))


def test_target_503_twice_then_success(systems, bundle, environ, bounded, logs, h, tmp_path):
    lock = threading.Lock()
    failures: dict[str, int] = {}

    def fault(req):
        if req.method != "PUT":
            return None
        with lock:
            n = failures.get(req.key, 0)
            if n < 2:
                failures[req.key] = n + 1
                return Fault(status=503)
        return None

    src, tgt = systems(300, target_kw={"fault": fault})
    runner = FlowRunner(bundle(h.flow_doc(src.base_url, tgt.base_url)), once=True,
                        environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0
    assert runner.summary.written == 300
    assert runner.summary.retries == 600
    assert len(tgt.store) == 300 and set(tgt.write_counts.values()) == {1}
    assert not (tmp_path / "dl" / "sync_customers.jsonl").exists()
    metrics = runner.engine.metrics.render().decode()
    assert 'integc_retries_total{flow="sync_customers",system="billing"} 600.0' in metrics


def test_target_always_500_dead_letters_every_record(systems, bundle, environ, bounded, logs, h, tmp_path):
    src, tgt = systems(120, target_kw={"fault": lambda req: Fault(status=500)})
    doc = h.flow_doc(src.base_url, tgt.base_url,
                     retry={"attempts": 3, "backoff": "exponential", "initial_ms": 1, "max_ms": 4})
    runner = FlowRunner(bundle(doc), once=True, environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0  # dead-lettering is the declared handling
    s = runner.summary
    assert (s.read, s.written, s.failed, s.dead_lettered) == (120, 0, 120, 120)
    assert tgt.requests_by_method["PUT"] == 360
    letters = read_dead_letters(tmp_path / "dl" / "sync_customers.jsonl")
    assert len(letters) == 120
    assert sorted(d["record"]["id"] for d in letters) == [f"c-{i:05d}" for i in range(120)]
    for d in letters:
        assert d["attempts"] == 3
        assert d["flow"] == "sync_customers"
        assert d["http_status"] == 500
        assert d["stage"] == "write"
        assert "HTTP 500" in d["error"]
        assert d["timestamp"].endswith("Z")
        assert d["mapped"]["account_id"] == d["record"]["id"]
    assert len(logs.where(outcome="dead_lettered")) == 120
    m = runner.engine.metrics.render().decode()
    assert 'integc_records_dead_lettered_total{flow="sync_customers"} 120.0' in m
    assert 'integc_records_failed_total{flow="sync_customers",stage="write"} 120.0' in m


def test_dead_letter_file_is_appended_across_runs(systems, bundle, environ, bounded, h, tmp_path):
    src, tgt = systems(5, target_kw={"fault": lambda req: Fault(status=400)})
    b = bundle(h.flow_doc(src.base_url, tgt.base_url))
    for _ in range(2):
        runner = FlowRunner(b, once=True, environ=environ, dead_letter_dir=tmp_path / "dl")
        assert bounded.run(runner) == 0
    letters = read_dead_letters(tmp_path / "dl" / "sync_customers.jsonl")
    assert len(letters) == 10
    assert all(d["attempts"] == 1 for d in letters)  # 400 is not retried


def test_4xx_not_retried_but_408_and_429_are(systems, bundle, environ, bounded, h, tmp_path):
    seen: dict[str, int] = {}
    lock = threading.Lock()
    codes = {"c-00000": 400, "c-00001": 409, "c-00002": 422, "c-00003": 408, "c-00004": 429,
             "c-00005": 502}

    def fault(req):
        if req.method != "PUT":
            return None
        with lock:
            seen[req.key] = seen.get(req.key, 0) + 1
        code = codes.get(req.key)
        return Fault(status=code) if code else None

    src, tgt = systems(7, target_kw={"fault": fault})
    doc = h.flow_doc(src.base_url, tgt.base_url,
                     retry={"attempts": 3, "backoff": "fixed", "initial_ms": 1, "max_ms": 1})
    runner = FlowRunner(bundle(doc), once=True, environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0
    assert seen["c-00000"] == seen["c-00001"] == seen["c-00002"] == 1
    assert seen["c-00003"] == seen["c-00004"] == seen["c-00005"] == 3
    assert runner.summary.written == 1 and runner.summary.dead_lettered == 6


def test_429_retry_after_is_honoured(systems, bundle, environ, bounded, logs, h, tmp_path):
    times: list[float] = []
    lock = threading.Lock()

    def fault(req):
        if req.method != "PUT":
            return None
        with lock:
            times.append(time.monotonic())
            if len(times) == 1:
                return Fault(status=429, headers={"Retry-After": "1"})
        return None

    src, tgt = systems(3, target_kw={"fault": fault})
    runner = FlowRunner(bundle(h.flow_doc(src.base_url, tgt.base_url)), once=True,
                        environ=environ, dead_letter_dir=tmp_path / "dl", concurrency=1)
    assert bounded.run(runner) == 0
    assert runner.summary.written == 3
    assert times[1] - times[0] >= 0.95  # waited the full Retry-After, not the 1 ms backoff
    retry = logs.where(msg="retrying")[0]
    assert retry["status"] == 429 and retry["retry_after"] is True and retry["delay_ms"] >= 990


def test_429_retry_after_http_date(systems, bundle, environ, bounded, h, tmp_path):
    from email.utils import formatdate

    times: list[float] = []

    def fault(req):
        if req.method == "PUT":
            times.append(time.time())
            if len(times) == 1:
                return Fault(status=429, headers={"Retry-After": formatdate(time.time() + 2,
                                                                             usegmt=True)})
        return None

    src, tgt = systems(1, target_kw={"fault": fault})
    runner = FlowRunner(bundle(h.flow_doc(src.base_url, tgt.base_url)), once=True,
                        environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0
    assert times[1] - times[0] >= 0.9  # HTTP-dates have 1 s resolution


def test_halt_exits_non_zero_and_stops_writing(systems, bundle, environ, bounded, logs, h, tmp_path):
    src, tgt = systems(40, target_kw={
        "fault": lambda req: Fault(status=400) if req.key == "c-00010" else None})
    doc = h.flow_doc(src.base_url, tgt.base_url, on_error="halt")
    runner = FlowRunner(bundle(doc), once=True, environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 1
    s = runner.summary
    assert s.written == 10 and s.halted == 1
    assert set(tgt.store) == {f"c-{i:05d}" for i in range(10)}  # nothing after the failure
    assert s.read == s.accounted
    halted = logs.where(outcome="halted")
    assert len(halted) == 1 and halted[0]["key"] == "c-00010"
    assert len(logs.where(outcome="not_processed")) == s.not_processed


def test_skip_logs_and_continues(systems, bundle, environ, bounded, logs, h, tmp_path):
    src, tgt = systems(20, target_kw={
        "fault": lambda req: Fault(status=422) if req.key in ("c-00003", "c-00007") else None})
    doc = h.flow_doc(src.base_url, tgt.base_url, on_error="skip")
    runner = FlowRunner(bundle(doc), once=True, environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0
    assert runner.summary.skipped == 2 and runner.summary.written == 18
    skipped = logs.where(outcome="skipped")
    assert sorted(d["key"] for d in skipped) == ["c-00003", "c-00007"]
    assert all(d["flow"] == "sync_customers" and "HTTP 422" in d["error"] for d in skipped)
    assert not (tmp_path / "dl").exists() or not any((tmp_path / "dl").iterdir())


def test_mapping_failure_follows_on_error(systems, bundle, environ, bounded, logs, h, tmp_path):
    src, tgt = systems(10)
    with src.lock:
        src.store["c-00004"]["tier"] = "platinum"
        del src.store["c-00006"]["email"]
    runner = FlowRunner(bundle(h.flow_doc(src.base_url, tgt.base_url)), once=True,
                        environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0
    assert runner.summary.written == 8 and runner.summary.dead_lettered == 2
    letters = read_dead_letters(tmp_path / "dl" / "sync_customers.jsonl")
    by_key = {d["key"]: d for d in letters}
    assert by_key["c-00004"]["stage"] == "map" and "platinum" in by_key["c-00004"]["error"]
    assert by_key["c-00004"]["attempts"] == 0
    assert "email" in by_key["c-00006"]["error"]
    assert tgt.requests_by_method["PUT"] == 8


def test_mapping_failure_with_halt(systems, bundle, environ, bounded, h, tmp_path):
    src, tgt = systems(10)
    with src.lock:
        src.store["c-00005"]["tier"] = "platinum"
    doc = h.flow_doc(src.base_url, tgt.base_url, on_error="halt")
    runner = FlowRunner(bundle(doc), once=True, environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 1
    assert len(tgt.store) == 5


def test_dropped_connections_and_slow_answers(systems, bundle, environ, bounded, h, tmp_path):
    state: dict[str, int] = {}
    lock = threading.Lock()

    def fault(req):
        if req.method != "PUT":
            return None
        with lock:
            n = state[req.key] = state.get(req.key, 0) + 1
        i = int(req.key[2:])
        if n == 1 and i % 5 == 0:
            return Fault(drop=True)            # dropped before writing
        if n == 1 and i % 5 == 1:
            return Fault(drop_after=True)      # written, answer lost
        if n == 1 and i % 5 == 2:
            return Fault(delay_s=1.0)          # slower than the client timeout
        return None

    src, tgt = systems(50, target_kw={"fault": fault})
    runner = FlowRunner(bundle(h.flow_doc(src.base_url, tgt.base_url)), once=True,
                        environ=environ, dead_letter_dir=tmp_path / "dl", timeout_s=0.3,
                        concurrency=8)
    assert bounded.run(runner) == 0
    assert runner.summary.written == 50
    assert len(tgt.store) == 50
    assert all(tgt.store[f"c-{i:05d}"] == h.expected_account(i) for i in range(50))


def test_create_mode_posts_and_409_after_lost_answer_counts_as_written(systems, bundle, environ,
                                                                       bounded, logs, h, tmp_path):
    state: dict[str, int] = {}

    def fault(req):
        if req.method != "POST":
            return None
        k = req.json()["account_id"]
        state[k] = state.get(k, 0) + 1
        if k == "c-00002" and state[k] == 1:
            return Fault(drop_after=True)
        return None

    src, tgt = systems(5, target_kw={"fault": fault},
                       target_records=[{"account_id": "c-00004", "email": "x", "plan": "x",
                                        "country": "x"}])
    doc = h.flow_doc(src.base_url, tgt.base_url, write="create")
    runner = FlowRunner(bundle(doc), once=True, environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0
    assert tgt.requests_by_method.get("PUT", 0) == 0
    assert runner.summary.written == 4  # c-00002 written once despite the lost answer
    assert runner.summary.dead_lettered == 1  # c-00004 existed already: 409, not retried
    assert tgt.write_counts["c-00002"] == 1
    letters = read_dead_letters(tmp_path / "dl" / "sync_customers.jsonl")
    assert [d["key"] for d in letters] == ["c-00004"] and letters[0]["http_status"] == 409


def test_update_mode_puts_and_404_is_a_failure(systems, bundle, environ, bounded, h, tmp_path):
    existing = [{"account_id": f"c-{i:05d}", "email": "x", "plan": "x", "country": "x"}
                for i in range(3)]
    src, tgt = systems(5, target_records=existing)
    doc = h.flow_doc(src.base_url, tgt.base_url, write="update")
    runner = FlowRunner(bundle(doc), once=True, environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0
    assert runner.summary.written == 3 and runner.summary.dead_lettered == 2
    assert tgt.requests_by_method.get("POST", 0) == 0


def test_source_5xx_burst_is_retried(systems, bundle, environ, bounded, h, tmp_path):
    calls = [0]

    def fault(req):
        calls[0] += 1
        return Fault(status=503) if calls[0] in (2, 3) else None

    src, tgt = systems(250, source_kw={"fault": fault})
    runner = FlowRunner(bundle(h.flow_doc(src.base_url, tgt.base_url)), once=True,
                        environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0
    assert runner.summary.read == 250 and len(tgt.store) == 250


def test_source_down_fails_the_one_off_run(systems, bundle, environ, bounded, logs, h, tmp_path):
    src, tgt = systems(10, source_kw={"fault": lambda req: Fault(status=500)})
    doc = h.flow_doc(src.base_url, tgt.base_url,
                     retry={"attempts": 2, "backoff": "fixed", "initial_ms": 1, "max_ms": 1})
    runner = FlowRunner(bundle(doc), once=True, environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 1
    assert runner.summary.source_error and "HTTP 500" in runner.summary.source_error
    assert logs.where(msg="source read failed")


def test_source_unreachable(bundle, environ, bounded, h, tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    doc = h.flow_doc(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}",
                     retry={"attempts": 2, "backoff": "fixed", "initial_ms": 1, "max_ms": 1})
    runner = FlowRunner(bundle(doc), once=True, environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 1
    assert "refused" in runner.summary.source_error


def test_looping_cursor_is_detected(bundle, environ, bounded, h, tmp_path):
    from integc.runtime.standin import StandIn

    class Loop(StandIn):
        def _serve(self, req):
            return 200, {"items": [], "next_cursor": "same"}, {}

    src = Loop("/customers", "id").start()
    try:
        doc = h.flow_doc(src.base_url, "http://127.0.0.1:9")
        doc["source"]["auth"] = {"kind": "none"}
        runner = FlowRunner(bundle(doc), once=True, environ=environ,
                            dead_letter_dir=tmp_path / "dl")
        assert bounded.run(runner) == 1
        assert "looping" in runner.summary.source_error
    finally:
        src.stop()


def test_base_url_override_from_environment(systems, bundle, environ, bounded, h, tmp_path):
    src, tgt = systems(7)
    doc = h.flow_doc("https://crm.acme.example/api", "https://billing.acme.example/v2")
    environ["INTEGC_CRM_BASE_URL"] = src.base_url
    environ["INTEGC_BILLING_BASE_URL"] = tgt.base_url
    runner = FlowRunner(bundle(doc), once=True, environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0
    assert len(tgt.store) == 7


def test_every_seconds_schedule_serves_health_and_metrics(systems, bundle, environ, bounded, h,
                                                           tmp_path):
    src, tgt = systems(30)
    doc = h.flow_doc(src.base_url, tgt.base_url)
    doc["trigger"]["every_seconds"] = 0.3
    runner = FlowRunner(bundle(doc), port=0, host="127.0.0.1", environ=environ,
                        dead_letter_dir=tmp_path / "dl")
    box = bounded.start(runner)
    bounded.wait_ready(runner)
    assert h.wait_for(lambda: len(runner.runs) >= 2, timeout=10)
    base = f"http://127.0.0.1:{runner.port}"
    with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
        assert r.status == 200 and json.load(r)["status"] == "ok"
    with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
        text = r.read().decode()
    assert 'integc_records_written_total{flow="sync_customers"}' in text
    assert "integc_record_latency_seconds_bucket" in text
    assert 'integc_runs_total{flow="sync_customers",result="ok"}' in text
    runner.stop_event.set()
    assert bounded.wait(runner, box, 10) == 0
    assert all(r.written == 30 for r in runner.runs)


def test_cron_schedule_waits_for_next_fire(systems, bundle, environ, bounded, h, tmp_path):
    src, tgt = systems(3)
    doc = h.flow_doc(src.base_url, tgt.base_url)
    doc["trigger"] = {"kind": "schedule", "every_seconds": None, "cron": "* * * * * */1",
                      "path": None, "event": None, "note": None}
    runner = FlowRunner(bundle(doc), port=0, host="127.0.0.1", environ=environ,
                        dead_letter_dir=tmp_path / "dl")
    box = bounded.start(runner)
    assert h.wait_for(lambda: len(runner.runs) >= 2, timeout=10)
    runner.stop_event.set()
    assert bounded.wait(runner, box, 10) == 0


def test_manual_flow_runs_once(systems, bundle, environ, bounded, h, tmp_path):
    src, tgt = systems(4)
    doc = h.flow_doc(src.base_url, tgt.base_url)
    doc["trigger"] = {"kind": "manual", "every_seconds": None, "cron": None, "path": None,
                      "event": None, "note": "finance runs an export every Monday"}
    runner = FlowRunner(bundle(doc), environ=environ, dead_letter_dir=tmp_path / "dl")
    assert bounded.run(runner) == 0
    assert len(tgt.store) == 4


def test_stop_during_backoff_still_accounts_for_every_record(systems, bundle, environ, bounded,
                                                              h, tmp_path):
    src, tgt = systems(6, target_kw={"fault": lambda req: Fault(status=503)})
    doc = h.flow_doc(src.base_url, tgt.base_url,
                     retry={"attempts": 5, "backoff": "fixed", "initial_ms": 60000,
                            "max_ms": 60000})
    runner = FlowRunner(bundle(doc), once=True, environ=environ, dead_letter_dir=tmp_path / "dl")
    box = bounded.start(runner)
    assert h.wait_for(lambda: tgt.requests_by_method["PUT"] >= 1, timeout=10)
    time.sleep(0.2)
    runner.stop_event.set()
    assert bounded.wait(runner, box, 10) == 1  # the one-off run did not finish
    s = runner.summary
    assert s.interrupted and s.read == 6 and s.accounted == 6
    # records that failed an attempt follow on_error; the ones not yet tried are
    # logged as not processed (the next run reads them again)
    assert s.dead_lettered >= 1 and s.dead_lettered + s.not_processed == 6
    letters = read_dead_letters(tmp_path / "dl" / "sync_customers.jsonl")
    assert len(letters) == s.dead_lettered and all("shutdown" in d["error"] for d in letters)
