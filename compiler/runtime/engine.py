"""The record pipeline: map, write with retries, and on_error handling.

Every record handed to :meth:`FlowEngine.process` (or read by
:meth:`FlowEngine.run_once`) ends in exactly one outcome, logged with its key:
``written``, ``dead_lettered``, ``skipped``, ``halted`` (the record that
stopped a ``halt`` flow) or ``not_processed`` (read before a halt, never
attempted).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Mapping

from .auth import Authenticator, AuthError, make_authenticator
from .bundle import Bundle, Endpoint
from .deadletter import DeadLetterFile
from .errors import ConfigError, DeadLetterError, SourceError
from .httpclient import HttpClient, HttpResponse, TransportError, fill_path
from .logs import get_logger, log_event, redact
from .metrics import FlowMetrics
from .retry import backoff_delay, is_retryable_status, parse_retry_after
from .secrets import SecretStore, system_env_name

log = get_logger("flow")

WRITTEN = "written"
DEAD_LETTERED = "dead_lettered"
SKIPPED = "skipped"
HALTED = "halted"
NOT_PROCESSED = "not_processed"

_KEY_STRIPES = 256
_QUEUE_DEPTH = 64


@dataclass
class RunSummary:
    """Counts for one scheduled run (or, for a server, since start)."""

    flow: str
    read: int = 0
    written: int = 0
    failed: int = 0
    dead_lettered: int = 0
    skipped: int = 0
    halted: int = 0
    not_processed: int = 0
    retries: int = 0
    source_error: str | None = None
    interrupted: bool = False
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        """No halt, the source was read to the end, and the run was not cut short."""
        return self.halted == 0 and self.source_error is None and not self.interrupted

    @property
    def accounted(self) -> int:
        return self.written + self.dead_lettered + self.skipped + self.halted + self.not_processed

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["records_per_s"] = round(self.read / self.duration_s, 1) if self.duration_s > 0 else None
        return d


class _Attempt(Exception):
    """One failed attempt. ``retryable`` decides whether another is worth it."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None,
                 retry_after: float | None = None, ambiguous: bool = False):
        super().__init__(redact(message))
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        self.ambiguous = ambiguous


class _Failed(Exception):
    def __init__(self, message: str, *, attempts: int, status: int | None, stage: str):
        super().__init__(message)
        self.attempts = attempts
        self.status = status
        self.stage = stage


@dataclass
class Outcome:
    outcome: str
    key: Any = None
    attempts: int = 0
    error: str | None = None
    status: int | None = None


@dataclass
class _Prepared:
    record: Any
    received: float
    key: Any = None
    mapped: dict | None = None
    done: Outcome | None = None  # set when preparation already decided the outcome
    extra: dict = field(default_factory=dict)


class _Side:
    """A system the flow talks to: endpoint, HTTP client and authenticator."""

    def __init__(self, role: str, endpoint: Endpoint, store: SecretStore,
                 environ: Mapping[str, str], timeout_s: float, max_idle: int):
        self.role = role
        self.endpoint = endpoint
        self.system = endpoint.system
        env = system_env_name(endpoint.system, "BASE_URL")
        self.base_url = environ.get(env) or endpoint.base_url
        self.auth: Authenticator = make_authenticator(endpoint.auth, store, system=self.system,
                                                      timeout_s=timeout_s, environ=environ)
        try:
            self.client = HttpClient(self.base_url, timeout_s=timeout_s,
                                     ssl_context=self.auth.ssl_context(), max_idle=max_idle)
        except ValueError:
            raise ConfigError(f"{role} system {self.system}: base URL {self.base_url!r} "
                              f"(from {env if environ.get(env) else 'flow.json'}) is not an "
                              f"http(s) URL") from None

    def close(self) -> None:
        self.client.close()
        self.auth.close()


class FlowEngine:
    def __init__(self, bundle: Bundle, *, environ: Mapping[str, str], dead_letter: DeadLetterFile,
                 metrics: FlowMetrics, stop_event: threading.Event, timeout_s: float = 30.0,
                 page_size: int = 100, concurrency: int = 4, store: SecretStore | None = None):
        self.bundle = bundle
        self.flow = bundle.flow
        self.environ = environ
        self.dead_letter = dead_letter
        self.metrics = metrics
        self.stop_event = stop_event
        self.page_size = page_size
        self.concurrency = max(1, concurrency)
        self.store = store or SecretStore(environ)
        self.halted = threading.Event()
        self.halt_reason: str | None = None
        idle = self.concurrency + 4
        self.source = _Side("source", bundle.source, self.store, environ, timeout_s, idle)
        try:
            self.target = _Side("target", bundle.target, self.store, environ, timeout_s, idle)
        except BaseException:
            self.source.close()
            raise
        self._key_locks = [threading.Lock() for _ in range(_KEY_STRIPES)]
        self._lock = threading.Lock()
        self.totals = RunSummary(flow=self.flow)
        self._run: RunSummary | None = None

    def close(self) -> None:
        self.source.close()
        self.target.close()
        self.dead_letter.close()

    # -- counting -------------------------------------------------------------
    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.totals, name, getattr(self.totals, name) + n)
            if self._run is not None:
                setattr(self._run, name, getattr(self._run, name) + n)

    def note_read(self, n: int = 1) -> None:
        self._count("read", n)
        self.metrics.read.inc(n)

    # -- keys -----------------------------------------------------------------
    def source_key(self, record: Any) -> Any:
        kf = self.bundle.source.key_field
        if kf and isinstance(record, dict):
            return record.get(kf)
        return None

    def _target_key(self, mapped: dict) -> Any:
        kf = self.bundle.target.key_field
        return mapped.get(kf) if kf else None

    # -- the pipeline -----------------------------------------------------------
    def process(self, record: Any, *, received: float | None = None,
                extra: dict | None = None) -> Outcome:
        """Map and write one record (already counted by :meth:`note_read`)."""
        prepared = self.prepare(record, received=received, extra=extra)
        return self.deliver(prepared)

    def prepare(self, record: Any, *, received: float | None = None,
                extra: dict | None = None) -> _Prepared:
        p = _Prepared(record=record, received=received or time.monotonic(),
                      key=self.source_key(record), extra=extra or {})
        if self.halted.is_set() or self.stop_event.is_set():
            p.done = self._not_processed(p)
            return p
        if not isinstance(record, dict):
            p.done = self._fail(p, f"record is not a JSON object (got {type(record).__name__})",
                                attempts=0, status=None, stage="map")
            return p
        try:
            mapped = self.bundle.map_record(record)
        except self.bundle.mapping_error as exc:
            p.done = self._fail(p, f"mapping failed: {exc}", attempts=0, status=None, stage="map")
            return p
        except Exception as exc:  # noqa: BLE001 - a mapping bug must not lose the record
            p.done = self._fail(p, f"mapping raised {type(exc).__name__}: {exc}", attempts=0,
                                status=None, stage="map")
            return p
        if not isinstance(mapped, dict):
            p.done = self._fail(p, f"map_record returned {type(mapped).__name__}, not an object",
                                attempts=0, status=None, stage="map")
            return p
        p.mapped = mapped
        tkey = self._target_key(mapped)
        if tkey is not None:
            p.key = tkey
        if self.bundle.write in ("update", "upsert") and (tkey is None or tkey == ""):
            p.done = self._fail(p, f"mapped record has no value for key field "
                                   f"{self.bundle.target.key_field!r}", attempts=0, status=None,
                                stage="map")
        return p

    def deliver(self, p: _Prepared) -> Outcome:
        if p.done is not None:
            return p.done
        if self.halted.is_set() or self.stop_event.is_set():
            return self._not_processed(p)
        assert p.mapped is not None
        lock = self._key_locks[zlib.crc32(str(p.key).encode("utf-8", "replace")) % _KEY_STRIPES]
        self.metrics.in_flight.inc()
        try:
            with lock:
                try:
                    attempts, status, note = self._write(p)
                except _Failed as exc:
                    return self._fail(p, str(exc), attempts=exc.attempts, status=exc.status,
                                      stage=exc.stage)
        finally:
            self.metrics.in_flight.dec()
        latency = time.monotonic() - p.received
        self._count("written")
        self.metrics.written.inc()
        self.metrics.record_latency.observe(latency)
        log_event(log, logging.INFO, "record written", flow=self.flow, key=p.key,
                  outcome=WRITTEN, attempt=attempts, status=status, note=note,
                  latency_ms=round(latency * 1000, 1), **p.extra)
        return Outcome(WRITTEN, key=p.key, attempts=attempts, status=status)

    def _not_processed(self, p: _Prepared) -> Outcome:
        self._count("not_processed")
        if self.halted.is_set():
            msg, reason = "record not processed: the flow halted before it", self.halt_reason
        else:
            msg, reason = "record not processed: the flow is stopping", "shutdown"
        log_event(log, logging.WARNING, msg, flow=self.flow, key=p.key, outcome=NOT_PROCESSED,
                  reason=reason, **p.extra)
        return Outcome(NOT_PROCESSED, key=p.key)

    def _fail(self, p: _Prepared, error: str, *, attempts: int, status: int | None,
              stage: str) -> Outcome:
        error = redact(error)
        latency = time.monotonic() - p.received
        self._count("failed")
        self.metrics.failed(stage)
        self.metrics.record_latency.observe(latency)
        fields = dict(flow=self.flow, key=p.key, attempt=attempts, status=status, stage=stage,
                      error=error, latency_ms=round(latency * 1000, 1), **p.extra)
        mode = self.bundle.on_error
        if mode == "dead_letter":
            try:
                self.dead_letter.append(record=p.record, error=error, attempts=attempts, key=p.key,
                                        stage=stage, status=status, mapped=p.mapped,
                                        package=self.bundle.package, version=self.bundle.version,
                                        extra={k: v for k, v in p.extra.items()} or None)
            except DeadLetterError as exc:
                self._halt(f"{exc}")
                self._count("halted")
                log_event(log, logging.ERROR, "record lost its dead letter: halting", outcome=HALTED,
                          dead_letter_error=str(exc), **fields)
                return Outcome(HALTED, key=p.key, attempts=attempts, error=error, status=status)
            self._count("dead_lettered")
            self.metrics.dead_lettered.inc()
            log_event(log, logging.WARNING, "record dead-lettered", outcome=DEAD_LETTERED,
                      dead_letter_file=str(self.dead_letter.path), **fields)
            return Outcome(DEAD_LETTERED, key=p.key, attempts=attempts, error=error, status=status)
        if mode == "skip":
            self._count("skipped")
            self.metrics.skipped.inc()
            log_event(log, logging.WARNING, "record skipped", outcome=SKIPPED, **fields)
            return Outcome(SKIPPED, key=p.key, attempts=attempts, error=error, status=status)
        self._halt(f"record {p.key!r}: {error}")
        self._count("halted")
        log_event(log, logging.ERROR, "record failed: halting the flow", outcome=HALTED, **fields)
        return Outcome(HALTED, key=p.key, attempts=attempts, error=error, status=status)

    def _halt(self, reason: str) -> None:
        with self._lock:
            if self.halt_reason is None:
                self.halt_reason = reason
        self.halted.set()

    # -- HTTP with retries ----------------------------------------------------------
    def _send(self, side: _Side, method: str, path: str, *, body: bytes | None = None,
              query: Mapping[str, Any] | None = None,
              headers: Mapping[str, str] | None = None) -> HttpResponse:
        """One request with auth (a 401 refreshes oauth2 credentials once). Raises _Attempt."""
        for refreshed in (False, True):
            try:
                auth_headers, used = side.auth.headers()
            except AuthError as exc:
                raise _Attempt(str(exc), retryable=exc.retryable, status=exc.status) from None
            hdrs = dict(headers or {})
            hdrs.update(auth_headers)
            start = time.monotonic()
            try:
                resp = side.client.request(method, path, query=query, body=body, headers=hdrs)
            except TransportError as exc:
                self.metrics.http(side.system, method, exc.kind, time.monotonic() - start)
                raise _Attempt(f"{side.system}: {exc}", retryable=exc.retryable,
                               ambiguous=exc.sent) from None
            self.metrics.http(side.system, method, str(resp.status), resp.elapsed_s)
            if resp.status == 401 and side.auth.refreshable and not refreshed:
                try:
                    side.auth.refresh(used)
                except AuthError as exc:
                    raise _Attempt(str(exc), retryable=exc.retryable, status=exc.status) from None
                continue
            return resp
        return resp  # pragma: no cover - loop always returns

    def _error(self, side: _Side, method: str, path: str, resp: HttpResponse) -> _Attempt:
        retryable = is_retryable_status(resp.status)
        retry_after = parse_retry_after(resp.header("retry-after")) if retryable else None
        # A request re-sent after its keep-alive connection dropped may have been
        # applied by the first send: that makes the write ambiguous too.
        return _Attempt(f"HTTP {resp.status} from {side.system} {method} {path}: "
                        f"{resp.problem_text()}", retryable=retryable, status=resp.status,
                        retry_after=retry_after, ambiguous=resp.resent_on_new_connection)

    def _with_retries(self, side: _Side, what: str, fn: Callable[[int, bool], Any], *,
                      stage: str, log_fields: dict) -> tuple[Any, int]:
        """Run ``fn(attempt, ambiguous)`` until it returns, per the flow's retry policy."""
        policy = self.bundle.retry
        attempt = 0
        ambiguous = False
        while True:
            attempt += 1
            if not side.client.wait_turn(self.stop_event):
                raise _Failed(f"{what}: stopped before attempt {attempt} (shutdown)",
                              attempts=attempt - 1, status=None, stage=stage)
            try:
                return fn(attempt, ambiguous), attempt
            except _Attempt as exc:
                ambiguous = ambiguous or exc.ambiguous
                if not exc.retryable:
                    raise _Failed(str(exc), attempts=attempt, status=exc.status, stage=stage) from None
                if attempt >= policy.attempts:
                    suffix = f" (after {attempt} attempts)" if attempt > 1 else ""
                    raise _Failed(f"{exc}{suffix}", attempts=attempt, status=exc.status,
                                  stage=stage) from None
                if exc.retry_after is not None:
                    delay = exc.retry_after
                    side.client.defer(delay)
                else:
                    delay = backoff_delay(policy, attempt)
                self._count("retries")
                self.metrics.retry(side.system)
                log_event(log, logging.INFO, "retrying", flow=self.flow, system=side.system,
                          attempt=attempt, status=exc.status, error=str(exc),
                          delay_ms=round(delay * 1000, 1),
                          retry_after=exc.retry_after is not None or None, **log_fields)
                if self.stop_event.wait(delay):
                    raise _Failed(f"{exc} (stopped while waiting to retry: shutdown)",
                                  attempts=attempt, status=exc.status, stage=stage) from None

    def _write(self, p: _Prepared) -> tuple[int, int, str | None]:
        side = self.target
        ep = side.endpoint
        mapped = p.mapped
        assert mapped is not None
        body = json.dumps(mapped, ensure_ascii=False, separators=(",", ":"),
                          default=str).encode("utf-8")
        mode = self.bundle.write
        item_path = fill_path(ep.item_path, mapped, p.key) if ep.item_path else None
        collection = ep.collection_path
        idem = {"Idempotency-Key": str(uuid.uuid4())}
        note: list[str] = []

        def post(ambiguous: bool) -> int:
            assert collection
            resp = self._send(side, "POST", collection, body=body, headers=idem)
            if 200 <= resp.status < 300:
                return resp.status
            if resp.status == 409 and (ambiguous or resp.resent_on_new_connection):
                note.append("409 after an attempt whose answer was lost: already written")
                return resp.status
            raise self._error(side, "POST", collection, resp)

        def put() -> HttpResponse:
            assert item_path
            return self._send(side, "PUT", item_path, body=body)

        def attempt_fn(attempt: int, ambiguous: bool) -> int:
            if mode == "create":
                return post(ambiguous)
            resp = put()
            if 200 <= resp.status < 300:
                return resp.status
            if mode == "upsert" and resp.status == 404:
                try:
                    return post(ambiguous)
                except _Attempt as exc:
                    if exc.status != 409:
                        raise
                # Created by someone else between our PUT and POST: update it.
                resp = put()
                if 200 <= resp.status < 300:
                    return resp.status
            raise self._error(side, "PUT", item_path or "", resp)

        status, attempts = self._with_retries(side, f"write {p.key!r}", attempt_fn, stage="write",
                                              log_fields={"key": p.key, **p.extra})
        return attempts, status, (note[0] if note else None)

    # -- reading the source ---------------------------------------------------------
    def iter_source_pages(self) -> Iterator[list]:
        """Pages of source records via the list operation, following next_cursor to the end."""
        side = self.source
        path = side.endpoint.collection_path
        assert path
        cursor: str | None = None
        seen: set[str] = set()
        page_no = 0
        while not self.stop_event.is_set() and not self.halted.is_set():
            page_no += 1
            query = {"limit": self.page_size}
            if cursor is not None:
                query["cursor"] = cursor

            def fetch(attempt: int, ambiguous: bool) -> Any:
                resp = self._send(side, "GET", path, query=query)
                if not 200 <= resp.status < 300:
                    raise self._error(side, "GET", path, resp)
                try:
                    return resp.json()
                except (ValueError, UnicodeDecodeError):
                    raise _Attempt(f"{side.system} GET {path}: answer is not JSON",
                                   retryable=False, status=resp.status) from None

            try:
                doc, _ = self._with_retries(side, f"read page {page_no}", fetch, stage="read",
                                            log_fields={"page": page_no})
            except _Failed as exc:
                raise SourceError(f"reading {side.system} {path} page {page_no}: {exc}") from None
            if isinstance(doc, list):  # a bare array: one page, no cursor
                yield doc
                return
            if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
                raise SourceError(f"{side.system} GET {path} page {page_no}: expected "
                                  f'{{"items": [...], "next_cursor": ...}}')
            log_event(log, logging.DEBUG, "page read", flow=self.flow, page=page_no,
                      items=len(doc["items"]))
            yield doc["items"]
            nxt = doc.get("next_cursor")
            if nxt is None or nxt == "":
                return
            nxt = str(nxt)
            if nxt in seen or nxt == cursor:
                raise SourceError(f"{side.system} GET {path}: next_cursor {nxt!r} was already "
                                  f"followed (the source is looping)")
            seen.add(nxt)
            cursor = nxt

    def run_once(self) -> RunSummary:
        """Read every source record, write each, and return the run's summary."""
        run = RunSummary(flow=self.flow)
        with self._lock:
            self._run = run
        started = time.monotonic()
        lanes = 1 if self.bundle.on_error == "halt" else self.concurrency
        log_event(log, logging.INFO, "run started", flow=self.flow, lanes=lanes,
                  source=self.source.system, target=self.target.system)
        queues: list[queue.Queue] = []
        workers: list[threading.Thread] = []
        if lanes > 1:
            for i in range(lanes):
                q: queue.Queue = queue.Queue(maxsize=_QUEUE_DEPTH)
                t = threading.Thread(target=self._lane, args=(q,), name=f"integc-lane-{i}",
                                     daemon=True)
                t.start()
                queues.append(q)
                workers.append(t)
        rr = 0
        try:
            for page in self.iter_source_pages():
                now = time.monotonic()
                self.note_read(len(page))
                for record in page:
                    p = self.prepare(record, received=now)
                    if not queues or p.done is not None:
                        self.deliver(p)
                        continue
                    if p.key is None:
                        lane = rr % lanes
                        rr += 1
                    else:
                        lane = zlib.crc32(str(p.key).encode("utf-8", "replace")) % lanes
                    queues[lane].put(p)
        except SourceError as exc:
            run.source_error = redact(str(exc))
            log_event(log, logging.ERROR, "source read failed", flow=self.flow,
                      system=self.source.system, error=run.source_error)
        except Exception as exc:  # noqa: BLE001 - report, never a traceback
            run.source_error = redact(f"internal error while reading: {type(exc).__name__}: {exc}")
            log_event(log, logging.ERROR, "source read failed", flow=self.flow,
                      system=self.source.system, error=run.source_error)
        finally:
            for q in queues:
                q.put(None)
            for t in workers:
                t.join()
            with self._lock:
                self._run = None
        run.duration_s = round(time.monotonic() - started, 3)
        if self.stop_event.is_set() and not run.halted:
            run.interrupted = True
        result = ("halted" if run.halted else "source_error" if run.source_error
                  else "interrupted" if run.interrupted else "ok")
        self.metrics.run(result)
        if result == "ok":
            self.metrics.last_success.set_to_current_time()
        level = logging.INFO if result == "ok" else logging.ERROR
        log_event(log, level, "run finished", result=result, **run.as_dict())
        if run.accounted != run.read:  # pragma: no cover - an invariant, logged loudly if broken
            log_event(log, logging.ERROR, "records unaccounted for", flow=self.flow,
                      read=run.read, accounted=run.accounted)
        return run

    def _lane(self, q: queue.Queue) -> None:
        while True:
            p = q.get()
            if p is None:
                return
            try:
                self.deliver(p)
            except Exception as exc:  # noqa: BLE001 - never lose a record to a bug
                self._fail(p, f"internal error {type(exc).__name__}: {exc}", attempts=0,
                           status=None, stage="write")
