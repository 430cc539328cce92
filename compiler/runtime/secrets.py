"""Secret resolution: environment variable first, then the mounted secret file.

``INTEGC_SECRET_<SECRET>_<KEY>`` (upper-cased, every non-alphanumeric
character replaced by ``_``), then ``$INTEGC_SECRETS_DIR/<secret>/<key>``
(default ``/var/run/secrets/integc``, where the Kubernetes manifests mount
each Secret). Values are registered for log redaction as soon as they are read
and never appear in an error message.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Mapping

from .errors import SecretError
from .logs import register_secret

DEFAULT_SECRETS_DIR = "/var/run/secrets/integc"
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")

# Keys each auth kind reads from its secret.
AUTH_SECRET_KEYS: dict[str, tuple[str, ...]] = {
    "bearer": ("token",),
    "api_key": ("api-key",),
    "basic": ("username", "password"),
    "oauth2": ("client-id", "client-secret"),
    "mtls": ("tls.crt", "tls.key"),
}
OPTIONAL_SECRET_KEYS: dict[str, tuple[str, ...]] = {"mtls": ("ca.crt",)}

# Keys whose value is used verbatim (PEM); others lose trailing whitespace,
# which is almost always an accidental newline from `echo > file`.
_VERBATIM_KEYS = frozenset({"tls.crt", "tls.key", "ca.crt"})


def env_name(secret: str, key: str) -> str:
    """The environment variable consulted for ``key`` of ``secret``."""
    return f"INTEGC_SECRET_{_NON_ALNUM.sub('_', secret).upper()}_{_NON_ALNUM.sub('_', key).upper()}"


def system_env_name(system: str, what: str) -> str:
    return f"INTEGC_{_NON_ALNUM.sub('_', system).upper()}_{what}"


class SecretStore:
    """Looks secrets up (env, then file) with a short cache so rotated files are picked up."""

    def __init__(self, environ: Mapping[str, str] | None = None, *,
                 secrets_dir: str | os.PathLike | None = None, ttl_s: float = 30.0):
        self.environ = os.environ if environ is None else environ
        self.secrets_dir = Path(secrets_dir or self.environ.get("INTEGC_SECRETS_DIR")
                                or DEFAULT_SECRETS_DIR)
        self.ttl_s = ttl_s
        self._cache: dict[tuple[str, str], tuple[float, str]] = {}
        self._lock = threading.Lock()
        self._tmpdir: tempfile.TemporaryDirectory | None = None

    def describe(self, secret: str, key: str) -> str:
        return f"environment variable {env_name(secret, key)} or file {self.secrets_dir / secret / key}"

    def lookup(self, secret: str, key: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get((secret, key))
            if hit and now - hit[0] < self.ttl_s:
                return hit[1]
        value = self.environ.get(env_name(secret, key))
        if value is None:
            path = self.secrets_dir / secret / key
            try:
                value = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                return None
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or type(exc).__name__
                raise SecretError(f"secret {secret!r} key {key!r}: cannot read {path} ({reason})") from None
        if key not in _VERBATIM_KEYS:
            value = value.rstrip("\r\n")
        register_secret(value)
        with self._lock:
            self._cache[(secret, key)] = (now, value)
        return value

    def get(self, secret: str, key: str) -> str:
        value = self.lookup(secret, key)
        if value is None or value == "":
            raise SecretError(f"secret {secret!r} key {key!r} not found: set {self.describe(secret, key)}")
        return value

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()

    def file_for(self, secret: str, key: str, *, required: bool = True) -> str | None:
        """A file path holding the value (the mounted file, or a private temp copy of an env value)."""
        env_value = self.environ.get(env_name(secret, key))
        if env_value is None:
            path = self.secrets_dir / secret / key
            if path.is_file():
                self.lookup(secret, key)  # registers the value for redaction
                return str(path)
            if required:
                raise SecretError(f"secret {secret!r} key {key!r} not found: set {self.describe(secret, key)}")
            return None
        register_secret(env_value)
        if self._tmpdir is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="integc-secret-")
        path = Path(self._tmpdir.name) / f"{_NON_ALNUM.sub('_', secret)}-{_NON_ALNUM.sub('_', key)}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(env_value)
        return str(path)

    def check(self, kind: str, secret: str | None) -> list[str]:
        """Problems (no values) for the keys an auth kind needs; empty when all are present."""
        if not secret:
            return []
        problems = []
        for key in AUTH_SECRET_KEYS.get(kind, ()):
            try:
                if not self.lookup(secret, key):
                    problems.append(f"secret {secret!r} key {key!r} not found: set {self.describe(secret, key)}")
            except SecretError as exc:
                problems.append(str(exc))
        return problems

    def close(self) -> None:
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None
