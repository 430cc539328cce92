"""Stand-in systems: small in-memory HTTP services with the ``expose`` API shapes.

For local runs, tests and the benchmark: a :class:`StandIn` serves one
collection (``list`` with ``limit``/``cursor``, ``get``, ``create``,
``update``, ``delete``) on 127.0.0.1, can demand credentials, and can inject
faults (error statuses, Retry-After, slow answers, dropped connections) through
a hook. :class:`TokenServer` is an OAuth 2.0 client-credentials token endpoint.

    source = StandIn("/customers", "id", records=[...]).start()
    ...
    source.stop()
"""

from __future__ import annotations

import base64
import json
import secrets as _secrets
import socket
import ssl
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Mapping
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes
    key: str | None = None

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Fault:
    """What a fault hook asks for. ``status``: answer it (with ``headers``/``body``)
    instead of serving; ``drop``: close the connection without an answer;
    ``drop_after``: serve the request, then drop the answer; ``delay_s``: wait first."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    drop: bool = False
    drop_after: bool = False
    delay_s: float = 0.0


FaultHook = Callable[[Request], "Fault | None"]
AuthCheck = Callable[[Mapping[str, str]], bool]


def _problem(status: int, title: str, detail: str = "") -> dict:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def handle_error(self, request, client_address):  # noqa: ANN001
        pass  # a client that went away (timeouts, dropped connections) is expected here


class _BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    nagle = False  # a subclass may set True to mimic servers that leave Nagle on

    def setup(self):
        super().setup()
        if not self.nagle:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def _read(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _reply(self, status: int, doc: Any = None, headers: Mapping[str, str] | None = None,
               content_type: str = "application/json") -> None:
        body = b"" if doc is None else (doc if isinstance(doc, bytes)
                                        else json.dumps(doc).encode("utf-8"))
        if status >= 400 and content_type == "application/json" and doc is not None:
            content_type = "application/problem+json"
        self.send_response(status)
        if body or status not in (204, 304):
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass


class StandIn:
    """An in-memory system exposing one entity collection at ``collection_path``."""

    def __init__(self, collection_path: str, key_field: str, *, records: list[dict] | None = None,
                 auth: AuthCheck | None = None, fault: FaultHook | None = None,
                 max_limit: int = 1000, base_path: str = "",
                 ssl_context: "ssl.SSLContext | None" = None):
        self.ssl_context = ssl_context
        self.collection_path = collection_path.rstrip("/")
        self.key_field = key_field
        self.base_path = base_path.rstrip("/")
        self.auth = auth
        self.fault = fault
        self.max_limit = max_limit
        self.lock = threading.Lock()
        self.store: OrderedDict[str, dict] = OrderedDict()
        for r in records or []:
            self.store[str(r[key_field])] = r
        self.writes: list[tuple[str, str]] = []      # (method, key) of each applied write
        self.write_counts: Counter[str] = Counter()  # key -> applied writes (POST/PUT)
        self.request_count = 0
        self.requests_by_method: Counter[str] = Counter()
        self.seen_headers: list[dict[str, str]] = []
        self.keep_headers = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> "StandIn":
        outer = self

        class Handler(_BaseHandler):
            def do_GET(self):
                outer._handle(self, "GET")

            def do_POST(self):
                outer._handle(self, "POST")

            def do_PUT(self):
                outer._handle(self, "PUT")

            def do_DELETE(self):
                outer._handle(self, "DELETE")

        self._server = _Server(("127.0.0.1", 0), Handler)
        if self.ssl_context is not None:
            self._server.socket = self.ssl_context.wrap_socket(self._server.socket,
                                                               server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="standin")
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}{self.base_path}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "StandIn":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- serving -----------------------------------------------------------------
    def _handle(self, h: _BaseHandler, method: str) -> None:
        parts = urlsplit(h.path)
        path = unquote(parts.path)
        body = h._read()
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self.lock:
            self.request_count += 1
            self.requests_by_method[method] += 1
            if self.keep_headers:
                self.seen_headers.append(dict(h.headers.items()))
        if self.base_path:
            if not path.startswith(self.base_path + "/"):
                return h._reply(404, _problem(404, "not found", path))
            path = path[len(self.base_path):]
        coll = self.collection_path
        key = None
        if path.startswith(coll + "/") and "/" not in path[len(coll) + 1:]:
            key = path[len(coll) + 1:]
        elif path.rstrip("/") != coll:
            return h._reply(404, _problem(404, "not found", path))
        req = Request(method, path, query, h.headers, body, key)
        if self.auth is not None and not self.auth(h.headers):
            return h._reply(401, _problem(401, "unauthorized"), {"WWW-Authenticate": "Bearer"})
        fault = self.fault(req) if self.fault else None
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            if fault.drop:
                return h._drop()
            if fault.status is not None:
                doc = fault.body if fault.body is not None else _problem(fault.status, "injected")
                return h._reply(fault.status, doc, fault.headers)
        status, doc, headers = self._serve(req)
        if fault is not None and fault.drop_after:
            return h._drop()
        h._reply(status, doc, headers)

    def _serve(self, req: Request) -> tuple[int, Any, dict]:
        m = req.method
        if req.key is None:
            if m == "GET":
                try:
                    limit = int(req.query.get("limit", "100"))
                    offset = int(req.query.get("cursor") or 0)
                except ValueError:
                    return 400, _problem(400, "bad query"), {}
                if not 1 <= limit <= self.max_limit:
                    return 400, _problem(400, "limit out of range"), {}
                with self.lock:
                    items = list(self.store.values())[offset:offset + limit]
                    more = offset + limit < len(self.store)
                return 200, {"items": items, "next_cursor": str(offset + limit) if more else None}, {}
            if m == "POST":
                try:
                    doc = req.json()
                    k = str(doc[self.key_field])
                except (ValueError, KeyError, TypeError):
                    return 400, _problem(400, "bad record"), {}
                with self.lock:
                    if k in self.store:
                        return 409, _problem(409, "conflict", f"{k} exists"), {}
                    self.store[k] = doc
                    self.writes.append(("POST", k))
                    self.write_counts[k] += 1
                return 201, doc, {"Location": f"{self.base_path}{self.collection_path}/{k}"}
            return 405, _problem(405, "method not allowed"), {}
        k = req.key
        with self.lock:
            if m == "GET":
                if k not in self.store:
                    return 404, _problem(404, "not found"), {}
                return 200, self.store[k], {}
            if m == "PUT":
                if k not in self.store:
                    return 404, _problem(404, "not found"), {}
                try:
                    doc = req.json()
                except ValueError:
                    return 400, _problem(400, "bad record"), {}
                self.store[k] = doc
                self.writes.append(("PUT", k))
                self.write_counts[k] += 1
                return 200, doc, {}
            if m == "DELETE":
                if self.store.pop(k, None) is None:
                    return 404, _problem(404, "not found"), {}
                return 204, None, {}
        return 405, _problem(405, "method not allowed"), {}


class TokenServer:
    """An OAuth 2.0 token endpoint (client credentials) at ``/oauth/token``.

    Accepts the client's id/secret by HTTP Basic or in the form. Issues random
    bearer tokens; :meth:`valid` checks an ``Authorization`` header;
    :meth:`revoke_all` makes every issued token invalid (the next API call gets 401).
    """

    path = "/oauth/token"

    def __init__(self, client_id: str, client_secret: str, *, expires_in: float | None = 3600,
                 accept: tuple[str, ...] = ("basic", "post")):
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in
        self.accept = accept
        self.lock = threading.Lock()
        self.tokens: dict[str, float | None] = {}
        self.issued = 0
        self.refused = 0
        self.scopes_seen: list[str] = []
        self._server: _Server | None = None

    def start(self) -> "TokenServer":
        outer = self

        class Handler(_BaseHandler):
            def do_POST(self):
                outer._handle(self)

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True, name="tokenserver").start()
        return self

    @property
    def token_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def valid(self, headers: Mapping[str, str]) -> bool:
        value = headers.get("Authorization") or ""
        if not value.startswith("Bearer "):
            return False
        token = value[7:]
        with self.lock:
            if token not in self.tokens:
                return False
            exp = self.tokens[token]
            return exp is None or time.monotonic() < exp

    def revoke_all(self) -> None:
        with self.lock:
            self.tokens.clear()

    def _handle(self, h: _BaseHandler) -> None:
        body = h._read()
        if urlsplit(h.path).path != self.path:
            return h._reply(404, _problem(404, "not found"))
        form = {k: v[-1] for k, v in parse_qs(body.decode("ascii", "replace")).items()}
        ok = False
        auth = h.headers.get("Authorization") or ""
        if "basic" in self.accept and auth.startswith("Basic "):
            try:
                raw = base64.b64decode(auth[6:]).decode("utf-8")
                cid, _, csec = raw.partition(":")
                ok = unquote(cid) == self.client_id and unquote(csec) == self.client_secret
            except ValueError:
                ok = False
        elif "post" in self.accept and "client_id" in form:
            ok = form.get("client_id") == self.client_id and \
                form.get("client_secret") == self.client_secret
        if form.get("grant_type") != "client_credentials":
            return h._reply(400, {"error": "unsupported_grant_type"})
        if not ok:
            with self.lock:
                self.refused += 1
            return h._reply(401, {"error": "invalid_client"})
        token = "at-" + _secrets.token_urlsafe(16)
        with self.lock:
            self.issued += 1
            self.scopes_seen.append(form.get("scope", ""))
            self.tokens[token] = (time.monotonic() + self.expires_in
                                  if self.expires_in is not None else None)
        doc: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            doc["expires_in"] = self.expires_in
        h._reply(200, doc)
