"""Authentication for calls to source and target systems, from secrets."""

from __future__ import annotations

import base64
import ssl
import threading
import time
from typing import Mapping
from urllib.parse import quote, urlencode, urlsplit

from .bundle import Auth
from .errors import SecretError
from .httpclient import HttpClient, TransportError
from .logs import get_logger, log_event, redact, register_secret
from .secrets import SecretStore, system_env_name

log = get_logger("auth")


class AuthError(Exception):
    """Credentials could not be obtained (e.g. the oauth2 token endpoint refused)."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None):
        super().__init__(redact(message))
        self.retryable = retryable
        self.status = status


class Authenticator:
    """No authentication. Subclasses add headers or a TLS client certificate."""

    kind = "none"
    refreshable = False

    def headers(self) -> tuple[dict[str, str], str | None]:
        """Headers to add to a request, and an opaque token id for :meth:`refresh`."""
        return {}, None

    def refresh(self, used: str | None) -> bool:
        """Called after a 401; True when new credentials are worth one more try."""
        return False

    def ssl_context(self) -> ssl.SSLContext | None:
        return None

    def close(self) -> None:
        pass


class BearerAuth(Authenticator):
    kind = "bearer"

    def __init__(self, store: SecretStore, secret: str):
        self.store, self.secret = store, secret
        store.get(secret, "token")

    def headers(self):
        return {"Authorization": f"Bearer {self.store.get(self.secret, 'token')}"}, None


class ApiKeyAuth(Authenticator):
    kind = "api_key"

    def __init__(self, store: SecretStore, secret: str, header: str):
        self.store, self.secret, self.header = store, secret, header
        store.get(secret, "api-key")

    def headers(self):
        return {self.header: self.store.get(self.secret, "api-key")}, None


class BasicAuth(Authenticator):
    kind = "basic"

    def __init__(self, store: SecretStore, secret: str):
        self.store, self.secret = store, secret
        self.headers()

    def headers(self):
        user = self.store.get(self.secret, "username")
        password = self.store.get(self.secret, "password")
        value = base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")
        register_secret(value)
        return {"Authorization": f"Basic {value}"}, None


class MtlsAuth(Authenticator):
    kind = "mtls"

    def __init__(self, store: SecretStore, secret: str):
        cert = store.file_for(secret, "tls.crt")
        key = store.file_for(secret, "tls.key")
        ca = store.file_for(secret, "ca.crt", required=False)
        ctx = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
        try:
            ctx.load_cert_chain(cert, key)  # type: ignore[arg-type]
        except (ssl.SSLError, OSError) as exc:
            raise SecretError(f"secret {secret!r}: tls.crt/tls.key do not form a usable client "
                              f"certificate ({type(exc).__name__})") from None
        self._ctx = ctx

    def ssl_context(self):
        return self._ctx


class OAuth2ClientCredentials(Authenticator):
    """OAuth 2.0 client credentials grant (RFC 6749 section 4.4).

    The token is cached until shortly before ``expires_in`` runs out, and
    fetched again once when an API answers 401. The client authenticates with
    HTTP Basic first; if the token endpoint refuses that (400/401) it retries
    with ``client_id``/``client_secret`` in the form, and keeps what worked.
    """

    kind = "oauth2"
    refreshable = True

    def __init__(self, store: SecretStore, secret: str, token_url: str, scopes: tuple[str, ...],
                 *, timeout_s: float, system: str):
        self.store, self.secret = store, secret
        self.token_url = token_url
        self.scopes = scopes
        self.system = system
        store.get(secret, "client-id")
        store.get(secret, "client-secret")
        parts = urlsplit(token_url)
        base = f"{parts.scheme}://{parts.netloc}"
        self._path = parts.path or "/"
        if parts.query:
            self._path += "?" + parts.query
        self._client = HttpClient(base, timeout_s=timeout_s, max_idle=2)
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at: float | None = None
        self._client_auth = "basic"
        self.fetch_count = 0

    def _valid(self) -> bool:
        return self._token is not None and (self._expires_at is None
                                            or time.monotonic() < self._expires_at)

    def headers(self):
        with self._lock:
            if not self._valid():
                self._fetch()
            token = self._token
        return {"Authorization": f"Bearer {token}"}, token

    def refresh(self, used: str | None) -> bool:
        with self._lock:
            if self._token is not None and self._token != used and self._valid():
                return True  # another thread already refreshed
            self._token = None
            self.store.invalidate()
            self._fetch()
            return True

    def _fetch(self) -> None:
        client_id = self.store.get(self.secret, "client-id")
        client_secret = self.store.get(self.secret, "client-secret")
        modes = [self._client_auth] + [m for m in ("basic", "post") if m != self._client_auth]
        last: AuthError | None = None
        for mode in modes:
            form = {"grant_type": "client_credentials"}
            if self.scopes:
                form["scope"] = " ".join(self.scopes)
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            if mode == "basic":
                raw = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
                value = base64.b64encode(raw.encode("utf-8")).decode("ascii")
                register_secret(value)
                headers["Authorization"] = f"Basic {value}"
            else:
                form["client_id"] = client_id
                form["client_secret"] = client_secret
            start = time.monotonic()
            try:
                resp = self._client.request("POST", self._path, body=urlencode(form).encode("ascii"),
                                            headers=headers)
            except TransportError as exc:
                raise AuthError(f"oauth2 token request to {self.token_url} failed: {exc}",
                                retryable=True) from None
            if resp.status in (400, 401) and mode != modes[-1]:
                last = AuthError(f"token endpoint refused client auth {mode}", retryable=False,
                                 status=resp.status)
                continue
            if resp.status >= 300:
                retryable = resp.status in (408, 429) or resp.status >= 500
                raise AuthError(f"oauth2 token request to {self.token_url} answered HTTP "
                                f"{resp.status}: {resp.problem_text()}", retryable=retryable,
                                status=resp.status)
            try:
                doc = resp.json()
                token = doc["access_token"]
                if not isinstance(token, str) or not token:
                    raise ValueError
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                raise AuthError(f"oauth2 token response from {self.token_url} has no access_token",
                                retryable=False) from None
            register_secret(token)
            expires_in = doc.get("expires_in")
            try:
                expires_in = float(expires_in) if expires_in is not None else None
            except (TypeError, ValueError):
                expires_in = None
            self._token = token
            if expires_in is not None:
                skew = min(30.0, expires_in * 0.1)
                self._expires_at = time.monotonic() + max(0.0, expires_in - skew)
            else:
                self._expires_at = None
            self._client_auth = mode
            self.fetch_count += 1
            log_event(log, 20, "oauth2 token fetched", system=self.system, client_auth=mode,
                      expires_in=expires_in,
                      latency_ms=round((time.monotonic() - start) * 1000, 1))
            return
        assert last is not None
        raise last

    def close(self) -> None:
        self._client.close()


def make_authenticator(auth: Auth, store: SecretStore, *, system: str, timeout_s: float,
                       environ: Mapping[str, str]) -> Authenticator:
    """Build the authenticator for a system; raises SecretError when a secret is missing."""
    if auth.kind == "none":
        return Authenticator()
    assert auth.secret is not None
    if auth.kind == "bearer":
        return BearerAuth(store, auth.secret)
    if auth.kind == "api_key":
        return ApiKeyAuth(store, auth.secret, auth.header or "X-Api-Key")
    if auth.kind == "basic":
        return BasicAuth(store, auth.secret)
    if auth.kind == "mtls":
        return MtlsAuth(store, auth.secret)
    if auth.kind == "oauth2":
        token_url = environ.get(system_env_name(system, "TOKEN_URL")) or auth.token_url
        assert token_url
        return OAuth2ClientCredentials(store, auth.secret, token_url, auth.scopes,
                                       timeout_s=timeout_s, system=system)
    raise ValueError(f"unknown auth kind {auth.kind!r}")
