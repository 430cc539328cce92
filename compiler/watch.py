"""`integc build --watch`: rebuild whenever a source changes.

The project's folders are watched with watchdog (inotify, FSEvents, ...).
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
import os
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
    """Calls `on_change(paths)` after sources under `root` change and then settle.

    Each folder of the project is watched on its own (not the tree at once),
    and the output folder and hidden folders (the build's staging folder and
    cache among them) are not watched at all: a build creates and removes
    thousands of files there, and each event would cost this process time
    while the next build runs. A folder that appears is watched from then on;
    the sources already in it count as changed (they may have been written
    before its watch began).
    """

    def __init__(self, root: Path, on_change: Callable[[list[str]], None], ignored: Callable[[], list[Path]],
                 debounce: float = DEBOUNCE_SECONDS):
        self.root = root.resolve()
        self.on_change = on_change
        self.ignored = ignored
        self.debounce = debounce
        self._lock = threading.Lock()
        self._changed: list[str] = []
        self._folders: list[tuple[str, bool]] = []  # (folder, gone) from the observer, for `run`
        self._last = 0.0

    def notice(self, *paths: str) -> None:
        candidates = [p for p in paths if p and (p.endswith(".integ") or Path(p).name in _WATCHED_NAMES)]
        if not candidates:
            return
        ignored = self.ignored()
        hits = [p for p in candidates if _relevant(p, self.root, ignored)]
        if not hits:
            return
        with self._lock:
            self._changed.extend(hits)
            self._last = time.monotonic()

    def notice_folder(self, path: str, gone: bool = False) -> None:
        """A folder appeared (made or moved in) or went away: `run` watches it, or stops."""
        with self._lock:
            self._folders.append((path, gone))

    def run(self, stop: threading.Event, first: Callable[[], None] | None = None) -> None:
        """Watch until `stop` is set; `first` runs once the observer is watching (the initial build)."""
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event):
                if event.event_type in ("opened", "closed_no_write"):
                    return
                if event.is_directory and event.event_type in ("deleted", "moved"):
                    watcher.notice_folder(event.src_path, gone=True)
                if event.is_directory and event.event_type in ("created", "moved"):
                    watcher.notice_folder(getattr(event, "dest_path", "") or event.src_path)
                watcher.notice(getattr(event, "src_path", ""), getattr(event, "dest_path", ""))

        self._observer, self._handler, self._watches = Observer(), Handler(), {}
        self._follow(str(self.root))
        self._observer.start()
        try:
            if first is not None:
                first()
            while not stop.is_set():
                stop.wait(0.05)
                with self._lock:
                    folders, self._folders = self._folders, []
                for folder, gone in folders:
                    if gone:
                        self._forget(folder)
                    else:
                        self.notice(*self._follow(folder))
                with self._lock:
                    due = self._changed and time.monotonic() - self._last >= self.debounce
                    changed, self._changed = (self._changed, []) if due else (None, self._changed)
                if changed:
                    self.on_change(sorted({str(Path(p)) for p in changed}))
        finally:
            self._observer.stop()
            self._observer.join(timeout=5)

    def _follow(self, folder: str) -> list[str]:
        """Watch `folder` and the folders under it, skipping hidden and ignored ones; the files
        found in them (listed after their watch began, so nothing falls in between)."""
        ignored = self.ignored()
        if not self._watchable(Path(folder), ignored):
            return []
        found: list[str] = []
        for current, folders, files in os.walk(folder):
            if current not in self._watches:
                try:
                    self._watches[current] = self._observer.schedule(self._handler, current, recursive=False)
                except OSError:  # gone already (its removal is noticed), or no more watches allowed
                    folders[:] = []
                    continue
            folders[:] = sorted(name for name in folders if self._watchable(Path(current) / name, ignored))
            found.extend(os.path.join(current, name) for name in files)
        return found

    def _forget(self, folder: str) -> None:
        """Stop watching `folder` and the folders under it (it was removed or moved away)."""
        for path in [p for p in self._watches if p == folder or p.startswith(folder.rstrip(os.sep) + os.sep)]:
            try:
                self._observer.unschedule(self._watches.pop(path))
            except (KeyError, OSError):
                pass

    def _watchable(self, folder: Path, ignored: list[Path]) -> bool:
        try:
            resolved = folder.resolve()
            relative = resolved.relative_to(self.root)
        except (OSError, ValueError):
            return False
        if any(part.startswith(".") for part in relative.parts):
            return False
        return not any(resolved == other or resolved.is_relative_to(other) for other in ignored)


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
