"""A small keep-alive HTTP client over ``http.client`` with a connection pool.

One :class:`HttpClient` per base URL. Thread-safe: each request takes an idle
connection from the pool (or opens one) and gives it back when the response
was read completely and the server keeps the connection open.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import quote, urlencode, urlsplit

from . import __version__ as _runtime_version

USER_AGENT = f"integc-runtime/{_runtime_version}"
MAX_BODY_BYTES = 64 * 1024 * 1024

# Errors that on a *reused* keep-alive connection usually mean the server
# closed it while it sat idle; the request is re-sent once on a new connection.
_STALE_ERRORS = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                 ConnectionAbortedError, http.client.BadStatusLine)


_TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def _quickack(conn: http.client.HTTPConnection) -> None:
    """Ask Linux to ACK the answer's first segment at once.

    Many servers write the status line/headers and the body in two writes with
    Nagle's algorithm on; against our delayed ACK that costs ~40 ms per
    request on a keep-alive connection. Quick-ack removes the stall.
    """
    sock = conn.sock
    if _TCP_QUICKACK is None or sock is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
    except OSError:
        pass


class _Conn(http.client.HTTPConnection):
    """HTTPConnection with TCP_NODELAY that sends headers and a bytes body in one write."""

    def connect(self) -> None:
        super().connect()
        _nodelay(self.sock)

    def _send_output(self, message_body=None, encode_chunked=False):  # noqa: ANN001
        if isinstance(message_body, bytes) and not encode_chunked:
            self._buffer.extend((b"", b""))
            msg = b"\r\n".join(self._buffer) + message_body
            del self._buffer[:]
            self.send(msg)
            return
        super()._send_output(message_body, encode_chunked=encode_chunked)


class _TlsConn(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _nodelay(self.sock)

    _send_output = _Conn._send_output


def _nodelay(sock) -> None:  # noqa: ANN001
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


class TransportError(Exception):
    """No HTTP response: connection refused/reset/dropped, timeout, TLS or protocol error.

    ``sent`` is True when the request may have reached the server (so a write
    may have happened even though no answer came back).
    """

    def __init__(self, kind: str, message: str, *, sent: bool, retryable: bool = True):
        super().__init__(message)
        self.kind = kind
        self.sent = sent
        self.retryable = retryable


@dataclass
class HttpResponse:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    elapsed_s: float
    resent_on_new_connection: bool = False
    _json: Any = field(default=None, repr=False)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        if self._json is None:
            self._json = json.loads(self.body.decode("utf-8"))
        return self._json

    def problem_text(self, limit: int = 300) -> str:
        """A short description of an error body (problem+json title/detail, or text)."""
        text = ""
        try:
            doc = self.json()
            if isinstance(doc, dict):
                parts = [str(doc[k]) for k in ("title", "detail") if doc.get(k)]
                text = ": ".join(parts)
        except (ValueError, UnicodeDecodeError):
            pass
        if not text:
            text = self.body[:limit].decode("utf-8", "replace").strip()
        text = " ".join(text.split())
        return text[:limit] + ("..." if len(text) > limit else "")


def join_path(base_path: str, path: str) -> str:
    base = base_path.rstrip("/")
    if not path.startswith("/"):
        path = "/" + path
    return base + path


def fill_path(template: str, values: Mapping[str, Any], default: Any) -> str:
    """Substitute ``{name}`` placeholders, URL-quoting each value."""
    out = []
    i = 0
    while i < len(template):
        j = template.find("{", i)
        if j < 0:
            out.append(template[i:])
            break
        k = template.find("}", j)
        if k < 0:
            out.append(template[i:])
            break
        out.append(template[i:j])
        name = template[j + 1:k]
        value = values.get(name, default)
        out.append(quote(str(value), safe=""))
        i = k + 1
    return "".join(out)


class HttpClient:
    def __init__(self, base_url: str, *, timeout_s: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None, max_idle: int = 32,
                 default_headers: Mapping[str, str] | None = None):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base_path = parts.path.rstrip("/")
        self.timeout_s = timeout_s
        self.ssl_context = ssl_context
        if self.scheme == "https" and self.ssl_context is None:
            self.ssl_context = ssl.create_default_context()
        self.max_idle = max_idle
        self.default_headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        self.default_headers.update(default_headers or {})
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False
        # Monotonic time before which no request is sent (set from Retry-After).
        self._not_before = 0.0

    # -- pool ---------------------------------------------------------------
    def _new_connection(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return _TlsConn(self.host, self.port, timeout=self.timeout_s, context=self.ssl_context)
        return _Conn(self.host, self.port, timeout=self.timeout_s)

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._new_connection(), False

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- pacing -------------------------------------------------------------
    def defer(self, seconds: float) -> None:
        """Hold every request of this client for ``seconds`` (a server's Retry-After)."""
        until = time.monotonic() + seconds
        with self._lock:
            if until > self._not_before:
                self._not_before = until

    def wait_turn(self, stop_event: threading.Event | None) -> bool:
        """Sleep until the Retry-After hold passes; False if stopped meanwhile."""
        while True:
            delay = self._not_before - time.monotonic()
            if delay <= 0:
                return True
            if stop_event is not None:
                if stop_event.wait(delay):
                    return False
            else:
                time.sleep(delay)

    # -- requests -----------------------------------------------------------
    def url_for(self, path: str, query: Mapping[str, Any] | None = None) -> str:
        full = join_path(self.base_path, path)
        if query:
            q = urlencode({k: v for k, v in query.items() if v is not None})
            if q:
                full += ("&" if "?" in full else "?") + q
        return full

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None,
                body: bytes | None = None, headers: Mapping[str, str] | None = None,
                max_body: int = MAX_BODY_BYTES) -> HttpResponse:
        target = self.url_for(path, query)
        hdrs = dict(self.default_headers)
        if headers:
            hdrs.update(headers)
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        resent = False
        while True:
            conn, reused = self._take()
            start = time.monotonic()
            sent = False
            try:
                conn.request(method, target, body=body, headers=hdrs)
                sent = True
                _quickack(conn)
                resp = conn.getresponse()
                data = resp.read(max_body + 1)
                if len(data) > max_body:
                    conn.close()
                    raise TransportError("protocol", f"{method} {target}: response body over "
                                         f"{max_body} bytes", sent=True)
                elapsed = time.monotonic() - start
                out = HttpResponse(status=resp.status, reason=resp.reason or "",
                                   headers={k.lower(): v for k, v in resp.getheaders()},
                                   body=data, elapsed_s=elapsed,
                                   resent_on_new_connection=resent)
                if resp.will_close:
                    conn.close()
                else:
                    self._give_back(conn)
                return out
            except TransportError:
                raise
            except _STALE_ERRORS as exc:
                conn.close()
                if reused and not resent:
                    resent = True
                    continue
                raise TransportError("dropped", f"{method} {target}: connection dropped "
                                     f"({type(exc).__name__})", sent=sent) from None
            except (TimeoutError, socket.timeout):
                conn.close()
                raise TransportError("timeout", f"{method} {target}: no answer within "
                                     f"{self.timeout_s:g}s", sent=sent) from None
            except ssl.SSLCertVerificationError as exc:
                conn.close()
                raise TransportError("tls", f"{method} {target}: TLS certificate not accepted "
                                     f"({exc.verify_message or exc.reason})", sent=False,
                                     retryable=False) from None
            except ssl.SSLError as exc:
                conn.close()
                raise TransportError("tls", f"{method} {target}: TLS error ({exc.reason or exc})",
                                     sent=sent) from None
            except ConnectionRefusedError:
                conn.close()
                raise TransportError("connect", f"{method} {target}: connection refused by "
                                     f"{self.host}:{self.port}", sent=False) from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                detail = getattr(exc, "strerror", None) or type(exc).__name__
                raise TransportError("connect" if not sent else "dropped",
                                     f"{method} {target}: {detail}", sent=sent) from None
