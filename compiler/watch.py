"""`integc build --watch`: rebuild whenever a source changes.

The project folder is watched with watchdog (inotify, FSEvents, ...).
Changes to `*.integ` files and `integc.toml` trigger a rebuild once things
have been quiet for a short while (200 ms), so an editor's save (write,
rename, chmod) or a `git checkout` rebuilds once. The output folder, hidden
folders and other files are ignored. A failed build prints its diagnostics
and the watch goes on; Ctrl-C stops it (exit 0). Each build says how long it
took. The builds share a session (integc.cache.Session): what one build
resolved and digested is taken from memory by the next.
"""
from __future__ import annotations

import gc
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Callable

import click

DEBOUNCE_SECONDS = 0.2
_WATCHED_NAMES = ("integc.toml",)


def _relevant(path: str, root: Path, ignored: list[Path]) -> bool:
    p = Path(path)
    if not (p.suffix == ".integ" or p.name in _WATCHED_NAMES):
        return False
    try:
        relative = p.resolve().relative_to(root) if p.is_absolute() else p
    except ValueError:
        return False
    if any(part.startswith(".") for part in relative.parts[:-1]):
        return False
    for folder in ignored:
        try:
            p.resolve().relative_to(folder)
            return False
        except ValueError:
            continue
    return True


class Watcher:
    """Calls `on_change(paths)` after sources under `root` change and then settle."""

    def __init__(self, root: Path, on_change: Callable[[list[str]], None], ignored: Callable[[], list[Path]],
                 debounce: float = DEBOUNCE_SECONDS):
        self.root = root.resolve()
        self.on_change = on_change
        self.ignored = ignored
        self.debounce = debounce
        self._lock = threading.Lock()
        self._changed: list[str] = []
        self._last = 0.0

    def notice(self, *paths: str) -> None:
        ignored = self.ignored()
        hits = [p for p in paths if p and _relevant(p, self.root, ignored)]
        if not hits:
            return
        with self._lock:
            self._changed.extend(hits)
            self._last = time.monotonic()

    def run(self, stop: threading.Event, first: Callable[[], None] | None = None) -> None:
        """Watch until `stop` is set; `first` runs once the observer is watching (the initial build)."""
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event):
                if event.event_type in ("opened", "closed_no_write"):
                    return
                watcher.notice(getattr(event, "src_path", ""), getattr(event, "dest_path", ""))

        observer = Observer()
        observer.schedule(Handler(), str(self.root), recursive=True)
        observer.start()
        try:
            if first is not None:
                first()
            while not stop.is_set():
                stop.wait(0.05)
                with self._lock:
                    due = self._changed and time.monotonic() - self._last >= self.debounce
                    changed, self._changed = (self._changed, []) if due else (None, self._changed)
                if changed:
                    self.on_change(sorted({str(Path(p)) for p in changed}))
        finally:
            observer.stop()
            observer.join(timeout=5)


def _output_folders(path: Path, out: Path | None) -> list[Path]:
    """Folders whose changes never trigger a build: the output folder (as configured now)."""
    from integc.config import DEFAULT_OUT, load_config, locate_project
    from integc.diagnostics import Diagnostics

    root = locate_project(path)[0]
    folders = [(Path(out) if out is not None else root / DEFAULT_OUT).resolve()]
    try:
        config = load_config(path, Diagnostics(), out)
    except Exception:  # an unreadable config is reported by the build itself
        config = None
    if config is not None:
        folders.append(config.out)
    return folders


def watch_and_rebuild(path: Path, out: Path | None, build_once: Callable[[], int],
                      stop: threading.Event | None = None) -> int:
    """Build now, then after every change until Ctrl-C (or `stop`). Returns the exit code (0)."""
    from integc.cache import end_session, start_session
    from integc.config import UsageError, locate_project

    root = locate_project(path)[0]
    stop = stop or threading.Event()

    def build(reason: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        click.echo(f"[{stamp}] {reason}: building {root.name}", err=True)
        with _collected_afterwards():
            started = time.perf_counter()
            try:
                code = build_once()
            except UsageError as error:
                click.echo(f"error: {error}", err=True)
                code = 2
            except Exception as error:  # keep watching: the next save may fix it
                click.echo(f"error[E0001]: internal compiler error: {type(error).__name__}: {error}", err=True)
                code = 3
            verdict = "build ok" if code == 0 else "build failed" if code == 1 else "build stopped"
            click.echo(f"[{datetime.now().strftime('%H:%M:%S')}] {verdict} in {time.perf_counter() - started:.2f} s; "
                       f"watching {root} for changes (Ctrl-C to stop)", err=True)

    def changed(paths: list[str]) -> None:
        shown = ", ".join(_shown(p, root) for p in paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        build(f"changed {shown}")

    watcher = Watcher(root, changed, lambda: _output_folders(path, out))
    start_session()  # each build takes what the last one loaded and digested from memory
    try:
        watcher.run(stop, first=lambda: build("start"))
    except KeyboardInterrupt:
        pass
    finally:
        end_session()
    click.echo("stopped watching", err=True)
    return 0


@contextmanager
def _collected_afterwards():
    """Hold the cyclic garbage collector through a build and its report, and collect once they
    are out: a build leaves hundreds of thousands of new objects (the session keeps many), and
    the first collection after it walks them all (~0.2 s at N=200), which belongs to the time
    the user reads the report, not to the build's."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
            gc.collect()


def _shown(path: str, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return path
