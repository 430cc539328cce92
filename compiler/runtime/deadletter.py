"""The dead-letter file: one JSON line per failed record, appended, flushed and fsync'd."""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import DeadLetterError
from .logs import redact


class DeadLetterFile:
    """``<dir>/<flow>.jsonl``. Opened lazily (in append mode) at the first dead letter."""

    def __init__(self, directory: Path, flow: str):
        self.directory = Path(directory)
        self.path = self.directory / f"{flow}.jsonl"
        self.flow = flow
        self._lock = threading.Lock()
        self._fh = None

    def check_writable(self) -> None:
        """Fail early when the directory cannot be created or written."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DeadLetterError(f"dead-letter directory {self.directory}: {exc.strerror}") from None
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise DeadLetterError(f"dead-letter directory {self.directory} is not writable")

    def _open(self):
        if self._fh is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            self._fh = open(self.path, "a", encoding="utf-8")
            if created:
                try:
                    dfd = os.open(self.directory, os.O_RDONLY)
                    try:
                        os.fsync(dfd)
                    finally:
                        os.close(dfd)
                except OSError:
                    pass
        return self._fh

    def append(self, *, record: Any, error: str, attempts: int, key: Any = None,
               stage: str, status: int | None = None, mapped: Any = None,
               package: str | None = None, version: str | None = None,
               extra: dict[str, Any] | None = None) -> None:
        entry: dict[str, Any] = {
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "flow": self.flow,
            "key": key,
            "stage": stage,
            "error": redact(error),
            "attempts": attempts,
            "http_status": status,
            "record": record,
        }
        if mapped is not None:
            entry["mapped"] = mapped
        if package:
            entry["package"] = package
        if version:
            entry["version"] = version
        if extra:
            entry.update(extra)
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            try:
                fh = self._open()
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
            except OSError as exc:
                raise DeadLetterError(f"cannot append to dead-letter file {self.path}: "
                                      f"{exc.strerror}") from None

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
