"""Running a flow: the trigger loop, the HTTP server and the process exit code."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

from .bundle import Bundle, load_bundle
from .deadletter import DeadLetterFile
from .engine import FlowEngine, RunSummary
from .errors import BundleError, ConfigError, DeadLetterError, SecretError
from .logs import configure_logging, get_logger, log_event
from .metrics import FlowMetrics
from .secrets import SecretStore

log = get_logger("runner")

EXIT_OK = 0
EXIT_FAILED = 1   # halted, source unreadable in --once, dead-letter unwritable
EXIT_CONFIG = 2   # bad bundle, missing secret, bad option, port in use

DEFAULT_PORT = 8080
DEFAULT_DEAD_LETTER_DIR = "./integc-dead-letter"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_CONCURRENCY = 4
DEFAULT_PAGE_SIZE = 100
DRAIN_TIMEOUT_S = 30.0

__all__ = ["FlowRunner", "RunSummary", "run_flow"]


def _env_number(environ: Mapping[str, str], name: str, default: float, *, integer: bool,
                minimum: float, maximum: float) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a {'whole ' if integer else ''}number") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name}={raw!r} must be between {minimum:g} and {maximum:g}")
    return value


class FlowRunner:
    """Runs one flow. :meth:`run` blocks and returns the exit code.

    Set ``stop_event`` to stop it (a signal handler does that in
    :func:`run_flow`). ``ready`` is set once the HTTP server listens
    (``port`` then holds the bound port, useful with ``port=0``).
    """

    def __init__(self, bundle: Bundle | Path | str, *, once: bool = False, port: int | None = None,
                 host: str | None = None, dead_letter_dir: Path | str | None = None,
                 stop_event: threading.Event | None = None,
                 environ: Mapping[str, str] | None = None, concurrency: int | None = None,
                 page_size: int | None = None, timeout_s: float | None = None,
                 expect_flow: str | None = None):
        self.expect_flow = expect_flow
        self.environ = os.environ if environ is None else environ
        self._bundle_arg = bundle
        self.once = once
        self._port_arg = port
        self.host = host
        self._dl_arg = dead_letter_dir
        self.stop_event = stop_event or threading.Event()
        self._concurrency_arg = concurrency
        self._page_size_arg = page_size
        self._timeout_arg = timeout_s
        self.ready = threading.Event()
        self.port: int | None = None
        self.engine: FlowEngine | None = None
        self.summary: RunSummary | None = None
        self.runs: list[RunSummary] = []
        self.bundle: Bundle | None = None
        self._server = None

    # -- configuration ---------------------------------------------------------------
    def _configure(self) -> None:
        env = self.environ
        b = self._bundle_arg
        self.bundle = b if isinstance(b, Bundle) else load_bundle(Path(b))
        if self.expect_flow is not None and self.expect_flow != self.bundle.flow:
            raise ConfigError(f"the bundle in {self.bundle.directory} is flow "
                              f"{self.bundle.flow!r}, not {self.expect_flow!r}")
        if self._port_arg is not None:
            port = int(self._port_arg)
            if not 0 <= port <= 65535:
                raise ConfigError(f"port {port} is out of range")
        else:
            port = int(_env_number(env, "INTEGC_PORT", DEFAULT_PORT, integer=True, minimum=0,
                                   maximum=65535))
        self._want_port = port
        self.host = self.host or env.get("INTEGC_HOST") or "0.0.0.0"
        dl = self._dl_arg or env.get("INTEGC_DEAD_LETTER_DIR") or DEFAULT_DEAD_LETTER_DIR
        self.dead_letter_dir = Path(dl)
        self.concurrency = self._concurrency_arg or int(_env_number(
            env, "INTEGC_CONCURRENCY", DEFAULT_CONCURRENCY, integer=True, minimum=1, maximum=256))
        self.page_size = self._page_size_arg or int(_env_number(
            env, "INTEGC_PAGE_SIZE", DEFAULT_PAGE_SIZE, integer=True, minimum=1, maximum=1000))
        self.timeout_s = self._timeout_arg or _env_number(
            env, "INTEGC_HTTP_TIMEOUT", DEFAULT_TIMEOUT_S, integer=False, minimum=0.001,
            maximum=3600)

    def _build(self) -> FlowEngine:
        assert self.bundle is not None
        b = self.bundle
        metrics = FlowMetrics(b.flow, package=b.package, version=b.version, trigger=b.trigger.kind)
        dead_letter = DeadLetterFile(self.dead_letter_dir, b.flow)
        if b.on_error == "dead_letter":
            dead_letter.check_writable()
        store = SecretStore(self.environ)
        return FlowEngine(b, environ=self.environ, dead_letter=dead_letter, metrics=metrics,
                          stop_event=self.stop_event, timeout_s=self.timeout_s,
                          page_size=self.page_size, concurrency=self.concurrency, store=store)

    # -- running -----------------------------------------------------------------
    def run(self) -> int:
        try:
            return self._run()
        except Exception as exc:  # noqa: BLE001 - one JSON line, never a traceback
            log_event(log, logging.ERROR, "internal error", error=f"{type(exc).__name__}: {exc}",
                      flow=getattr(self.bundle, "flow", None))
            return EXIT_FAILED

    def _run(self) -> int:
        try:
            self._configure()
            assert self.bundle is not None
            self.engine = self._build()
        except BundleError as exc:
            log_event(log, logging.ERROR, "bad bundle", bundle=exc.bundle_dir,
                      problems=exc.problems)
            return EXIT_CONFIG
        except (ConfigError, SecretError, DeadLetterError) as exc:
            log_event(log, logging.ERROR, "cannot start the flow", error=str(exc),
                      flow=getattr(self.bundle, "flow", None))
            return EXIT_CONFIG
        b = self.bundle
        t = b.trigger
        log_event(log, logging.INFO, "flow starting", flow=b.flow, package=b.package,
                  version=b.version, trigger=t.kind, write=b.write, on_error=b.on_error,
                  attempts=b.retry.attempts, source=self.engine.source.base_url,
                  target=self.engine.target.base_url, once=self.once,
                  dead_letter_file=str(self.engine.dead_letter.path)
                  if b.on_error == "dead_letter" else None)
        try:
            if t.kind == "manual" or (t.kind == "schedule" and self.once):
                if t.kind == "manual":
                    log_event(log, logging.INFO, "manual flow: running it once", flow=b.flow,
                              note=t.note)
                return self._run_once_and_exit()
            if self.once:
                log_event(log, logging.ERROR, "--once runs a scheduled flow one time; a "
                          f"{t.kind} flow waits for requests (run it without --once)", flow=b.flow)
                return EXIT_CONFIG
            try:
                self._start_server()
            except OSError as exc:
                log_event(log, logging.ERROR, "cannot listen", flow=b.flow, host=self.host,
                          port=self._want_port, error=exc.strerror or str(exc))
                return EXIT_CONFIG
            try:
                if t.kind == "schedule":
                    return self._schedule_loop()
                return self._serve_until_stopped()
            finally:
                self._stop_server()
        finally:
            self.engine.close()
            self.engine.store.close()

    def _run_once_and_exit(self) -> int:
        assert self.engine is not None
        self.ready.set()
        summary = self.engine.run_once()
        self.summary = summary
        self.runs.append(summary)
        return EXIT_OK if summary.ok else EXIT_FAILED

    def _start_server(self) -> None:
        from .server import FlowServer

        assert self.engine is not None
        self._server = FlowServer((self.host or "0.0.0.0", self._want_port), self.engine)
        self.port = self._server.server_address[1]
        th = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="integc-http", daemon=True)
        th.start()
        self._server_thread = th
        b = self.bundle
        assert b is not None
        log_event(log, logging.INFO, "listening", flow=b.flow, host=self.host, port=self.port,
                  path=b.trigger.path if b.trigger.kind == "webhook" else None,
                  event_type=b.event_type if b.trigger.kind == "event" else None)
        self.ready.set()

    def _stop_server(self) -> None:
        srv = self._server
        if srv is None:
            return
        drained = srv.drain(DRAIN_TIMEOUT_S)
        if not drained:
            log_event(log, logging.WARNING, "shutdown: requests still in flight after drain "
                      "timeout", flow=self.engine.flow if self.engine else None)
        srv.shutdown()
        srv.server_close()
        self._server_thread.join(timeout=5)
        self._server = None

    def _serve_until_stopped(self) -> int:
        eng = self.engine
        assert eng is not None
        while not self.stop_event.is_set() and not eng.halted.is_set():
            self.stop_event.wait(0.2)
            if eng.halted.wait(0):
                break
        # let requests being processed finish before reporting
        if self._server is not None:
            self._server.drain(DRAIN_TIMEOUT_S)
        self.summary = eng.totals
        result = "halted" if eng.halted.is_set() else "stopped"
        log_event(log, logging.ERROR if eng.halted.is_set() else logging.INFO,
                  "flow stopped", result=result, reason=eng.halt_reason, **eng.totals.as_dict())
        return EXIT_FAILED if eng.halted.is_set() else EXIT_OK

    def _schedule_loop(self) -> int:
        eng = self.engine
        b = self.bundle
        assert eng is not None and b is not None
        t = b.trigger
        cron = None
        if t.cron:
            from croniter import croniter

            cron = croniter(t.cron, datetime.now(timezone.utc))
            next_at = cron.get_next(float)
        else:
            next_at = time.time()
        every = t.every_seconds
        while not self.stop_event.is_set():
            delay = next_at - time.time()
            if delay > 0:
                log_event(log, logging.DEBUG, "waiting for the next run", flow=b.flow,
                          next_run=datetime.fromtimestamp(next_at, timezone.utc).isoformat())
                if self.stop_event.wait(delay):
                    break
            summary = eng.run_once()
            self.summary = summary
            self.runs.append(summary)
            if eng.halted.is_set():
                log_event(log, logging.ERROR, "flow halted", flow=b.flow, reason=eng.halt_reason)
                return EXIT_FAILED
            now = time.time()
            if cron is not None:
                from croniter import croniter

                cron = croniter(t.cron, datetime.fromtimestamp(max(now, next_at), timezone.utc))
                next_at = cron.get_next(float)
            else:
                assert every
                next_at += every
                if next_at <= now:
                    missed = int((now - next_at) // every) + 1
                    next_at += missed * every
                    log_event(log, logging.WARNING, "run took longer than the schedule: "
                              "skipping missed runs", flow=b.flow, missed=missed)
        log_event(log, logging.INFO, "flow stopped", flow=b.flow, result="stopped",
                  runs=len(self.runs))
        return EXIT_OK


def run_flow(bundle_dir: Path, *, once: bool, port: int | None,
             dead_letter_dir: Path | None, stop_event: threading.Event | None = None,
             concurrency: int | None = None, flow: str | None = None) -> int:
    """Run the flow in ``bundle_dir`` until it ends (``--once``) or is stopped; return the exit code.

    0: finished or stopped cleanly (records may have been dead-lettered or
    skipped, as declared). 1: halted by ``on_error halt``, source unreadable in
    a one-off run, or the dead-letter file unwritable. 2: bad bundle, missing
    secret, bad option, port in use, or ``flow`` given and not the bundle's flow.
    SIGTERM and SIGINT stop it gracefully when called from the main thread.
    """
    configure_logging()
    stop = stop_event or threading.Event()
    runner = FlowRunner(bundle_dir, once=once, port=port, dead_letter_dir=dead_letter_dir,
                        stop_event=stop, concurrency=concurrency, expect_flow=flow)
    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        def _on_signal(signum, frame):  # noqa: ARG001
            log_event(log, logging.INFO, "signal received: stopping", signal=signum)
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                previous[sig] = signal.signal(sig, _on_signal)
            except (ValueError, OSError):
                pass
    try:
        return runner.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
