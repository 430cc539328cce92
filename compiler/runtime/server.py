"""HTTP server: webhook and CloudEvents receivers, ``/healthz`` and ``/metrics``."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .engine import DEAD_LETTERED, HALTED, NOT_PROCESSED, SKIPPED, WRITTEN, FlowEngine
from .logs import get_logger, log_event

log = get_logger("server")

MAX_BODY_BYTES = 10 * 1024 * 1024
EVENT_PATHS = ("/", "/events")
_DEDUP_SIZE = 10000


class _BadRequest(Exception):
    def __init__(self, status: int, title: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


def _norm_path(path: str) -> str:
    path = urlsplit(path).path or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return path


class FlowServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], engine: FlowEngine, *,
                 max_body: int = MAX_BODY_BYTES):
        self.engine = engine
        self.bundle = engine.bundle
        self.max_body = max_body
        self.accepting = True
        self._inflight = 0
        self._cond = threading.Condition()
        self._seen_events: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._seen_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A failure outside a handler (usually a client that went away): one JSON log line."""
        import sys

        exc = sys.exc_info()[1]
        level = logging.DEBUG if isinstance(exc, (ConnectionError, TimeoutError)) else logging.ERROR
        log_event(log, level, "connection error", client=str(client_address[0]),
                  error=f"{type(exc).__name__}: {exc}")

    # in-flight accounting, so a shutdown waits for records being processed
    def enter(self) -> bool:
        with self._cond:
            if not self.accepting:
                return False
            self._inflight += 1
            return True

    def leave(self) -> None:
        with self._cond:
            self._inflight -= 1
            self._cond.notify_all()

    def drain(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            self.accepting = False
            while self._inflight > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def event_seen(self, ident: tuple[str, str]) -> bool:
        with self._seen_lock:
            if ident in self._seen_events:
                self._seen_events.move_to_end(ident)
                return True
            return False

    def remember_event(self, ident: tuple[str, str]) -> None:
        with self._seen_lock:
            self._seen_events[ident] = None
            while len(self._seen_events) > _DEDUP_SIZE:
                self._seen_events.popitem(last=False)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "integc-runtime"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this
    server: FlowServer

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log_event(log, logging.DEBUG, "http access", client=self.client_address[0],
                  line=format % args)

    # -- responses ----------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(doc, separators=(",", ":")).encode("utf-8"),
                   "application/json", headers)

    def _problem(self, status: int, title: str, detail: str,
                 headers: dict[str, str] | None = None) -> None:
        doc = {"type": "about:blank", "title": title, "status": status, "detail": detail}
        self._send(status, json.dumps(doc, separators=(",", ":")).encode("utf-8"),
                   "application/problem+json", headers)

    # -- body -------------------------------------------------------------------
    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(65537)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    self.close_connection = True
                    raise _BadRequest(400, "bad request", "malformed chunked body") from None
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > self.server.max_body:
                    self.close_connection = True
                    raise _BadRequest(413, "payload too large",
                                      f"body over {self.server.max_body} bytes")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            raise _BadRequest(400, "bad request", "invalid Content-Length") from None
        if n > self.server.max_body:
            self.close_connection = True
            raise _BadRequest(413, "payload too large", f"body over {self.server.max_body} bytes")
        return self.rfile.read(n)

    # -- routing ----------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802
        path = _norm_path(self.path)
        if path in ("/healthz", "/readyz"):
            # Liveness stays 200 while the process runs: restarting a halted flow
            # would undo `on_error halt`. Readiness reports halted or stopping.
            eng = self.server.engine
            if eng.halted.is_set():
                status = "halted"
            elif not self.server.accepting or eng.stop_event.is_set():
                status = "stopping"
            else:
                status = "ok"
            code = 503 if path == "/readyz" and status != "ok" else 200
            self._json(code, {"status": status, "flow": eng.flow})
            return
        if path == "/metrics":
            m = self.server.engine.metrics
            self._send(200, m.render(), m.content_type)
            return
        if path in self._post_paths():
            self._problem(405, "method not allowed", f"{path} accepts POST", {"Allow": "POST"})
            return
        self._problem(404, "not found", f"no resource at {path}")

    do_HEAD = do_GET

    def _post_paths(self) -> tuple[str, ...]:
        t = self.server.bundle.trigger
        if t.kind == "webhook" and t.path:
            return (_norm_path(t.path),)
        if t.kind == "event":
            return EVENT_PATHS
        return ()

    def do_POST(self) -> None:  # noqa: N802
        path = _norm_path(self.path)
        if path not in self._post_paths():
            try:
                self._read_body()
            except _BadRequest:
                pass
            self._problem(404, "not found", f"no receiver at {path}")
            return
        if not self.server.enter():
            self.close_connection = True
            self._problem(503, "unavailable", "the flow is shutting down", {"Retry-After": "5"})
            return
        try:
            try:
                body = self._read_body()
            except _BadRequest as exc:
                self._problem(exc.status, exc.title, exc.detail)
                return
            if self.server.engine.halted.is_set():
                self._problem(503, "flow halted", "the flow halted after a failed record; "
                              "nothing was processed", {"Retry-After": "30"})
                return
            try:
                if self.server.bundle.trigger.kind == "webhook":
                    self._webhook(body)
                else:
                    self._event(body)
            except _BadRequest as exc:
                log_event(log, logging.INFO, "request rejected", flow=self.server.engine.flow,
                          status=exc.status, error=exc.detail, path=path)
                self._problem(exc.status, exc.title, exc.detail)
            except (ConnectionError, TimeoutError):
                raise
            except Exception as exc:  # noqa: BLE001 - answer, never hang up silently
                log_event(log, logging.ERROR, "internal error", flow=self.server.engine.flow,
                          error=f"{type(exc).__name__}: {exc}", path=path)
                self.close_connection = True
                self._problem(500, "internal error", f"{type(exc).__name__}")
        finally:
            self.server.leave()

    def do_PUT(self) -> None:  # noqa: N802
        self._problem(405, "method not allowed", "use POST", {"Allow": "POST"})

    do_DELETE = do_PATCH = do_PUT

    # -- webhook ------------------------------------------------------------------
    def _webhook(self, body: bytes) -> None:
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _BadRequest(400, "bad request", "the body is not JSON") from None
        if isinstance(doc, dict):
            records = [doc]
        elif isinstance(doc, list) and all(isinstance(r, dict) for r in doc):
            records = doc
        else:
            raise _BadRequest(400, "bad request",
                              "expected a JSON object (one record) or an array of objects")
        self._process(records, [{} for _ in records])

    def _process(self, records: list, extras: list[dict],
                 on_done: list | None = None) -> None:
        eng = self.server.engine
        received = time.monotonic()
        eng.note_read(len(records))
        counts = {WRITTEN: 0, DEAD_LETTERED: 0, SKIPPED: 0, HALTED: 0, NOT_PROCESSED: 0}
        for i, (record, extra) in enumerate(zip(records, extras)):
            out = eng.process(record, received=received, extra=extra)
            counts[out.outcome] += 1
            if on_done is not None and out.outcome in (WRITTEN, DEAD_LETTERED, SKIPPED):
                on_done[i]()
        body = {"accepted": len(records), "written": counts[WRITTEN],
                "dead_lettered": counts[DEAD_LETTERED], "skipped": counts[SKIPPED]}
        if counts[NOT_PROCESSED] and not counts[HALTED] and not eng.halted.is_set():
            self._problem(503, "unavailable",
                          f"{counts[NOT_PROCESSED]} of {len(records)} record(s) were not processed: "
                          "the flow is shutting down; send them again", {"Retry-After": "5"})
            return
        if counts[HALTED] or counts[NOT_PROCESSED]:
            self._problem(500, "flow halted",
                          f"{counts[HALTED] + counts[NOT_PROCESSED]} of {len(records)} record(s) "
                          f"were not written and the flow halted: {eng.halt_reason or ''}".strip())
            return
        self._json(202, body)

    # -- CloudEvents ----------------------------------------------------------------
    def _event(self, body: bytes) -> None:
        ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if ctype == "application/cloudevents+json":
            events = [self._structured(_parse_json(body, "the CloudEvent"))]
        elif ctype == "application/cloudevents-batch+json":
            doc = _parse_json(body, "the CloudEvents batch")
            if not isinstance(doc, list):
                raise _BadRequest(400, "bad request", "a CloudEvents batch must be a JSON array")
            events = [self._structured(e) for e in doc]
        else:
            events = [self._binary(body, ctype)]
        srv = self.server
        fresh = []
        for ev in events:
            ident = (ev["source"], ev["id"])
            if srv.event_seen(ident):
                log_event(log, logging.INFO, "duplicate event ignored", flow=srv.engine.flow,
                          event_id=ev["id"], event_source=ev["source"], outcome="duplicate")
                continue
            fresh.append(ev)
        self._process([e["data"] for e in fresh],
                      [{"event_id": e["id"], "event_type": e["type"]} for e in fresh],
                      on_done=[(lambda ident=(e["source"], e["id"]): srv.remember_event(ident))
                               for e in fresh])

    def _check(self, attrs: dict) -> None:
        spec = attrs.get("specversion")
        if spec is None:
            raise _BadRequest(400, "not a CloudEvent", "missing specversion (ce-specversion)")
        if spec != "1.0":
            raise _BadRequest(400, "unsupported CloudEvent", f"specversion {spec!r}: only 1.0")
        for name in ("id", "source", "type"):
            if not isinstance(attrs.get(name), str) or not attrs.get(name):
                raise _BadRequest(400, "bad CloudEvent", f"missing required attribute {name!r}")
        want = self.server.bundle.trigger.event or ""
        etype = attrs["type"]
        if not (etype == want or etype.endswith("." + want)):
            raise _BadRequest(400, "unexpected event type",
                              f"type {etype!r} is not {self.server.bundle.event_type!r}")

    def _structured(self, doc: Any) -> dict:
        if not isinstance(doc, dict):
            raise _BadRequest(400, "bad CloudEvent", "a structured CloudEvent is a JSON object")
        self._check(doc)
        if "data_base64" in doc and "data" not in doc:
            try:
                raw = base64.b64decode(doc["data_base64"], validate=True)
            except (ValueError, TypeError):
                raise _BadRequest(400, "bad CloudEvent", "data_base64 is not base64") from None
            data = _parse_json(raw, "the event data")
        else:
            data = doc.get("data")
        return self._event_record(doc, data)

    def _binary(self, body: bytes, ctype: str) -> dict:
        attrs = {k[3:].lower(): v for k, v in self.headers.items() if k.lower().startswith("ce-")}
        self._check(attrs)
        if ctype and not (ctype == "application/json" or ctype.endswith("+json")
                          or ctype == "text/json"):
            raise _BadRequest(415, "unsupported media type",
                              f"event data must be JSON, got {ctype!r}")
        return self._event_record(attrs, _parse_json(body, "the event data"))

    @staticmethod
    def _event_record(attrs: dict, data: Any) -> dict:
        if not isinstance(data, dict):
            raise _BadRequest(400, "bad CloudEvent", "the event data must be a JSON object "
                              "(the record)")
        return {"id": attrs["id"], "source": attrs["source"], "type": attrs["type"], "data": data}


def _parse_json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _BadRequest(400, "bad request", f"{what} is not JSON") from None
