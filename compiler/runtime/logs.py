"""Structured JSON logging with secret redaction.

Every log line is one JSON object on stderr: ``ts``, ``level``, ``logger``,
``msg`` and the event's fields (``flow``, ``key``, ``outcome``, ``attempt``,
``latency_ms`` ...). Secret values registered with :func:`register_secret`
are replaced by ``***`` in every line, whatever field they hit.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from typing import Any

LOGGER_NAME = "integc.runtime"
_FIELDS_ATTR = "integc_fields"

_secrets_lock = threading.Lock()
_secrets: set[str] = set()
_secrets_sorted: tuple[str, ...] = ()

# Values shorter than this are not redacted (they would mangle every line and
# are not credentials anyone should use).
_MIN_SECRET_LEN = 4


def register_secret(value: str | bytes | None) -> None:
    """Remember a secret value so it is scrubbed from every log line and error text."""
    global _secrets_sorted
    if value is None:
        return
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return
    candidates = {value, value.strip()}
    # PEM material: also scrub each long line of it.
    for line in value.splitlines():
        line = line.strip()
        if len(line) >= 16 and not line.startswith("-----"):
            candidates.add(line)
    with _secrets_lock:
        changed = False
        for c in candidates:
            if len(c) >= _MIN_SECRET_LEN and c not in _secrets:
                _secrets.add(c)
                changed = True
        if changed:
            _secrets_sorted = tuple(sorted(_secrets, key=len, reverse=True))


def redact(text: str) -> str:
    """Replace every registered secret value in ``text`` by ``***``."""
    secrets = _secrets_sorted
    if not secrets or not text:
        return text
    for s in secrets:
        if s in text:
            text = text.replace(s, "***")
    return text


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    return str(value)


class JsonFormatter(logging.Formatter):
    """Formats a record as a single JSON line, redacting secrets."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, _FIELDS_ATTR, None)
        if fields:
            for k, v in fields.items():
                if k not in doc:
                    doc[k] = _jsonable(v)
        if record.exc_info and record.exc_info[0] is not None:
            exc = record.exc_info[1]
            doc["exception"] = f"{type(exc).__name__}: {exc}"
        line = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str)
        return redact(line)


def get_logger(name: str = "") -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)


def log_event(logger: logging.Logger, level: int, msg: str, **fields: Any) -> None:
    """Log ``msg`` with structured ``fields`` (None values are dropped)."""
    if not logger.isEnabledFor(level):
        return
    clean = {k: v for k, v in fields.items() if v is not None}
    logger.log(level, msg, extra={_FIELDS_ATTR: clean})


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001
        pass


_configured = False
_configure_lock = threading.Lock()


def configure_logging(level: str | int | None = None, stream: Any = None) -> None:
    """Install the JSON handler on the ``integc.runtime`` logger (once).

    ``level`` defaults to ``$INTEGC_LOG_LEVEL`` or ``INFO``. Called by
    :func:`integc.runtime.run_flow`; an application that configured logging
    itself (or a test that attached its own handler) keeps its handlers.
    """
    global _configured
    import os

    root = logging.getLogger(LOGGER_NAME)
    lvl = level or os.environ.get("INTEGC_LOG_LEVEL", "INFO")
    if isinstance(lvl, str):
        lvl = logging.getLevelName(lvl.upper())
        if not isinstance(lvl, int):
            lvl = logging.INFO
    with _configure_lock:
        root.setLevel(lvl)
        if _configured:
            return
        _configured = True
        if any(getattr(h, "_integc_json", False) for h in root.handlers):
            return
        handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
        handler.setFormatter(JsonFormatter())
        handler._integc_json = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.propagate = False
