"""Bundle loading/validation, the run_flow entry point, and small units."""

from __future__ import annotations

import json
import random
import time
from email.utils import formatdate

import pytest

from integc.runtime import BundleError, load_bundle, run_flow, write_bundle
from integc.runtime.bundle import RetryPolicy
from integc.runtime.httpclient import fill_path
from integc.runtime.retry import backoff_delay, is_retryable_status, parse_retry_after


def test_load_bundle_reads_everything(tmp_path, h):
    b = load_bundle(write_bundle(h.flow_doc("http://a.example/api", "https://b.example/v2"),
                                 h.MAPPING_SOURCE, tmp_path / "b"))
    assert b.flow == "sync_customers" and b.write == "upsert" and b.on_error == "dead_letter"
    assert b.retry == RetryPolicy(5, "exponential", 1, 5)
    assert b.event_type is None
    assert b.target.auth.header == "X-Api-Key"
    assert b.map_record(h.customer(1)) == h.expected_account(1)
    assert issubclass(b.mapping_error, Exception)
    assert b.module.__name__ == "integc_bundle_sync_customers"


def test_missing_retry_means_one_attempt(tmp_path, h):
    doc = h.flow_doc("http://a.example", "http://b.example", retry=None)
    assert load_bundle(write_bundle(doc, h.MAPPING_SOURCE, tmp_path)).retry.attempts == 1


@pytest.mark.parametrize("mutate, fragment", [
    (lambda d: d.update(format=2), "format"),
    (lambda d: d.update(flow="not a name"), "flow.json.flow"),
    (lambda d: d.update(write="merge"), "flow.json.write"),
    (lambda d: d.update(on_error="ignore"), "flow.json.on_error"),
    (lambda d: d["trigger"].update(kind="poll"), "trigger.kind"),
    (lambda d: d["trigger"].update(every_seconds=None), "every_seconds or cron"),
    (lambda d: d["trigger"].update(every_seconds=None, cron="61 * * * *"), "trigger.cron"),
    (lambda d: d["trigger"].update(kind="webhook", path="hooks"), "trigger.path"),
    (lambda d: d["trigger"].update(kind="event", event=None), "trigger.event"),
    (lambda d: d.update(retry={"attempts": 0, "backoff": "exponential", "initial_ms": 1,
                                "max_ms": 1}), "retry.attempts"),
    (lambda d: d["retry"].update(backoff="linear"), "retry.backoff"),
    (lambda d: d["source"].update(base_url="ftp://x"), "source.base_url"),
    (lambda d: d["source"].update(collection_path=None), "source.collection_path"),
    (lambda d: d["target"].update(item_path="/accounts"), "placeholder"),
    (lambda d: d["target"].update(key_field=None), "target.key_field"),
    (lambda d: d["target"]["auth"].update(kind="magic"), "target.auth.kind"),
    (lambda d: d["target"]["auth"].update(secret="../etc"), "target.auth.secret"),
    (lambda d: d["source"].update(auth={"kind": "oauth2", "secret": "s"}), "token_url"),
    (lambda d: d.pop("target"), "flow.json.target"),
])
def test_bad_flow_json_is_reported(tmp_path, h, mutate, fragment):
    doc = h.flow_doc("http://a.example", "http://b.example")
    mutate(doc)
    with pytest.raises(BundleError) as err:
        load_bundle(write_bundle(doc, h.MAPPING_SOURCE, tmp_path))
    assert fragment in str(err.value)


def test_every_problem_is_listed(tmp_path, h):
    doc = h.flow_doc("http://a.example", "http://b.example", write="merge", on_error="x")
    with pytest.raises(BundleError) as err:
        load_bundle(write_bundle(doc, h.MAPPING_SOURCE, tmp_path))
    assert len(err.value.problems) == 2


@pytest.mark.parametrize("source, fragment", [
    ("def map_record(:\n", "syntax error"),
    ("raise RuntimeError('boom')\n", "import failed: RuntimeError: boom"),
    ("SOURCE_SCHEMA = {}\nTARGET_SCHEMA = {}\nclass MappingError(Exception): pass\n",
     "map_record"),
    ("SOURCE_SCHEMA = {}\nTARGET_SCHEMA = {}\ndef map_record(s): return s\n", "MappingError"),
    ("class MappingError(Exception): pass\ndef map_record(s): return s\n", "SOURCE_SCHEMA"),
])
def test_bad_mapping_module_is_reported(tmp_path, h, source, fragment):
    with pytest.raises(BundleError) as err:
        load_bundle(write_bundle(h.flow_doc("http://a.example", "http://b.example"), source,
                                 tmp_path))
    assert fragment in str(err.value)


def test_missing_files_and_bad_json(tmp_path):
    with pytest.raises(BundleError, match="not a directory"):
        load_bundle(tmp_path / "nope")
    with pytest.raises(BundleError) as err:
        load_bundle(tmp_path)
    assert err.value.problems == ["flow.json: missing", "mapping.py: missing"]
    (tmp_path / "flow.json").write_text("{\n  \"flow\": ,\n}")
    (tmp_path / "mapping.py").write_text("")
    with pytest.raises(BundleError, match="invalid JSON at line 2"):
        load_bundle(tmp_path)


def test_run_flow_bad_bundle_exit_2(tmp_path):
    assert run_flow(tmp_path / "missing", once=True, port=None, dead_letter_dir=None) == 2


def test_run_flow_once_end_to_end(systems, monkeypatch, tmp_path, h):
    src, tgt = systems(150)
    for k, v in h.SECRETS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("INTEGC_SECRETS_DIR", str(tmp_path / "secrets"))
    b = write_bundle(h.flow_doc(src.base_url, tgt.base_url), h.MAPPING_SOURCE, tmp_path / "b")
    start = time.monotonic()
    assert run_flow(b, once=True, port=None, dead_letter_dir=tmp_path / "dl") == 0
    assert time.monotonic() - start < 20
    assert len(tgt.store) == 150


def test_run_flow_server_stops_on_event(systems, monkeypatch, tmp_path, h):
    import threading

    src, tgt = systems(3)
    for k, v in h.SECRETS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("INTEGC_HOST", "127.0.0.1")
    b = write_bundle(h.flow_doc(src.base_url, tgt.base_url), h.MAPPING_SOURCE, tmp_path / "b")
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    assert run_flow(b, once=False, port=0, dead_letter_dir=tmp_path / "dl", stop_event=stop) == 0
    assert len(tgt.store) == 3


def test_run_flow_port_in_use_exit_2(systems, monkeypatch, tmp_path, h):
    src, tgt = systems(0)
    for k, v in h.SECRETS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("INTEGC_HOST", "127.0.0.1")
    b = write_bundle(h.flow_doc(src.base_url, tgt.base_url), h.MAPPING_SOURCE, tmp_path / "b")
    assert run_flow(b, once=False, port=src.port, dead_letter_dir=tmp_path / "dl") == 2


def test_unwritable_dead_letter_dir_exit_2(systems, monkeypatch, tmp_path, h):
    src, tgt = systems(1)
    for k, v in h.SECRETS.items():
        monkeypatch.setenv(k, v)
    blocker = tmp_path / "file"
    blocker.write_text("")
    b = write_bundle(h.flow_doc(src.base_url, tgt.base_url), h.MAPPING_SOURCE, tmp_path / "b")
    assert run_flow(b, once=True, port=None, dead_letter_dir=blocker / "dl") == 2


def test_bad_env_number_exit_2(systems, monkeypatch, tmp_path, h):
    src, tgt = systems(1)
    for k, v in h.SECRETS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("INTEGC_CONCURRENCY", "lots")
    b = write_bundle(h.flow_doc(src.base_url, tgt.base_url), h.MAPPING_SOURCE, tmp_path / "b")
    assert run_flow(b, once=True, port=None, dead_letter_dir=tmp_path / "dl") == 2


def test_backoff_full_jitter_and_cap():
    p = RetryPolicy(attempts=10, backoff="exponential", initial_ms=100, max_ms=1000)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        samples = [backoff_delay(p, attempt, rng) for _ in range(300)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.9 and min(samples) < ceiling * 0.1
    fixed = RetryPolicy(attempts=3, backoff="fixed", initial_ms=250, max_ms=250)
    assert backoff_delay(fixed, 1) == backoff_delay(fixed, 3) == 0.25


def test_retryable_statuses():
    assert all(is_retryable_status(s) for s in (408, 429, 500, 502, 503, 504))
    assert not any(is_retryable_status(s) for s in (400, 401, 403, 404, 409, 422))


def test_parse_retry_after():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("1e9") == 900.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = time.time()
    assert 9 <= parse_retry_after(formatdate(now + 10, usegmt=True), now=now) <= 10
    assert parse_retry_after(formatdate(now - 100, usegmt=True), now=now) == 0.0


def test_fill_path_quotes_values():
    assert fill_path("/accounts/{account_id}", {"account_id": "a/b c"}, None) == "/accounts/a%2Fb%20c"
    assert fill_path("/x/{id}/y", {}, 42) == "/x/42/y"


def test_write_bundle_round_trip(tmp_path, h):
    d = write_bundle(h.flow_doc("http://a.example", "http://b.example"), h.MAPPING_SOURCE,
                     tmp_path / "deep" / "b")
    assert json.loads((d / "flow.json").read_text())["flow"] == "sync_customers"
    assert (d / "mapping.py").read_text() == h.MAPPING_SOURCE


def test_run_flow_checks_the_flow_name(systems, monkeypatch, tmp_path, h):
    src, tgt = systems(1)
    for k, v in h.SECRETS.items():
        monkeypatch.setenv(k, v)
    b = write_bundle(h.flow_doc(src.base_url, tgt.base_url), h.MAPPING_SOURCE, tmp_path / "b")
    assert run_flow(b, once=True, port=None, dead_letter_dir=tmp_path / "dl", flow="other") == 2
    assert tgt.store == {}
    assert run_flow(b, once=True, port=None, dead_letter_dir=tmp_path / "dl",
                    flow="sync_customers") == 0
