"""`integc build --watch`: rebuilds on change, debounced, keeps going after errors, Ctrl-C exits 0."""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from integc.watch import Watcher, watch_and_rebuild

STARTER_FIX = "retry 3 backoff exponential 1s max 1m"


def _wait_for(predicate, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def watched(tmp_path):
    (tmp_path / "main.integ").write_text("enum E { a }\n")
    (tmp_path / "build").mkdir()
    calls: list[list[str]] = []
    stop = threading.Event()
    watcher = Watcher(tmp_path, calls.append, lambda: [(tmp_path / "build").resolve()], debounce=0.2)
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    time.sleep(0.5)  # let the observer start
    yield tmp_path, calls
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_sources_and_config_trigger_one_debounced_rebuild(watched):
    folder, calls = watched
    for i in range(5):  # a burst of saves: one rebuild
        (folder / "main.integ").write_text(f"enum E {{ a{i} }}\n")
        time.sleep(0.02)
    assert _wait_for(lambda: len(calls) == 1)
    time.sleep(0.6)
    assert len(calls) == 1
    assert [Path(p).name for p in calls[0]] == ["main.integ"]
    (folder / "integc.toml").write_text('out = "build"\n')
    assert _wait_for(lambda: len(calls) == 2)
    (folder / "sub").mkdir()
    (folder / "sub" / "more.integ").write_text("enum F { b }\n")
    assert _wait_for(lambda: len(calls) == 3)


def test_output_folder_hidden_folders_and_other_files_are_ignored(watched):
    folder, calls = watched
    (folder / "build" / "x.integ").write_text("enum E { a }\n")
    (folder / "notes.txt").write_text("x\n")
    (folder / ".git").mkdir()
    (folder / ".git" / "y.integ").write_text("x\n")
    (folder / "build" / "openapi.yaml").write_text("x\n")
    time.sleep(1.0)
    assert calls == []


def test_the_output_folder_is_not_watched_at_all(tmp_path, monkeypatch):
    """A build makes thousands of files there: their events would cost the next build time."""
    seen: list[str] = []
    real = Watcher.notice
    monkeypatch.setattr(Watcher, "notice", lambda self, *paths: seen.extend(paths) or real(self, *paths))
    (tmp_path / "main.integ").write_text("enum E { a }\n")
    (tmp_path / "build" / "openapi").mkdir(parents=True)
    stop = threading.Event()
    watcher = Watcher(tmp_path, lambda paths: None, lambda: [(tmp_path / "build").resolve()], debounce=0.2)
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    time.sleep(0.5)
    for i in range(300):
        (tmp_path / "build" / "openapi" / f"s{i}.yaml").write_text("x\n")
    (tmp_path / ".build.integc-1234").mkdir()  # a staging folder: hidden
    (tmp_path / ".build.integc-1234" / "a.integ").write_text("x\n")
    (tmp_path / "notes.txt").write_text("x\n")
    assert _wait_for(lambda: any(p.endswith("notes.txt") for p in seen))
    stop.set()
    thread.join(timeout=10)
    assert not [p for p in seen if Path(p).parent.name in ("openapi", ".build.integc-1234")]  # nothing inside


def test_folders_that_appear_later_are_watched(watched, tmp_path_factory):
    folder, calls = watched
    (folder / "sub").mkdir()
    (folder / "sub" / "a.integ").write_text("enum A { a }\n")
    assert _wait_for(lambda: len(calls) == 1)
    # removed and made again: watched again
    (folder / "sub" / "a.integ").unlink()
    (folder / "sub").rmdir()
    assert _wait_for(lambda: len(calls) == 2)
    time.sleep(0.3)
    (folder / "sub").mkdir()
    time.sleep(0.3)
    (folder / "sub" / "b.integ").write_text("enum B { b }\n")
    assert _wait_for(lambda: len(calls) == 3 and any(p.endswith("b.integ") for p in calls[-1]))
    # moved in from elsewhere with a source already in it: that source counts as changed
    outside = tmp_path_factory.mktemp("outside") / "more"
    (outside / "deeper").mkdir(parents=True)
    (outside / "deeper" / "c.integ").write_text("enum C { c }\n")
    os.rename(outside, folder / "more")
    assert _wait_for(lambda: len(calls) == 4 and any(p.endswith("c.integ") for p in calls[-1]))
    time.sleep(0.3)
    (folder / "more" / "deeper" / "c.integ").write_text("enum C { d }\n")
    assert _wait_for(lambda: len(calls) == 5)


def test_watch_and_rebuild_keeps_going_after_errors(tmp_path, capsys):
    (tmp_path / "main.integ").write_text("enum E { a }\n")
    results = iter([1, RuntimeError("boom"), 0])
    built = []

    def build_once() -> int:
        built.append(time.monotonic())
        outcome = next(results)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    stop = threading.Event()
    thread = threading.Thread(target=watch_and_rebuild, args=(tmp_path, None, build_once, stop), daemon=True)
    thread.start()
    assert _wait_for(lambda: len(built) == 1)
    time.sleep(0.5)
    (tmp_path / "main.integ").write_text("enum E { b }\n")
    assert _wait_for(lambda: len(built) == 2)
    time.sleep(0.3)
    (tmp_path / "main.integ").write_text("enum E { c }\n")
    assert _wait_for(lambda: len(built) == 3)
    stop.set()
    thread.join(timeout=10)
    err = capsys.readouterr().err
    assert re.search(r"build failed in \d+\.\d\d s; watching", err)
    assert "internal compiler error: RuntimeError: boom" in err
    assert len(re.findall(r"build ok in \d+\.\d\d s; watching", err)) == 1
    assert "changed main.integ: building" in err


def test_cli_build_watch_end_to_end(tmp_path):
    project = tmp_path / "proj"
    subprocess.run([sys.executable, "-m", "integc", "init", str(project)], check=True, capture_output=True)
    main = project / "main.integ"
    good = main.read_text()
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    # Ctrl-C is SIGINT; a test run started in the background (`nohup ... &`) ignores it, and a
    # child inherits that, so the watch gets it back at its default (Python turns it into Ctrl-C).
    process = subprocess.Popen([sys.executable, "-m", "integc", "build", "--watch"], cwd=project, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env={**os.environ, "NO_COLOR": "1"},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def pump():
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()

    def expect(text: str, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            seen.append(line)
            if text in line:
                return
        raise AssertionError(f"never saw {text!r}; output:\n{''.join(seen)}")

    try:
        expect("build ok in ")
        manifest = project / "build" / "integc-manifest.json"
        assert manifest.is_file()
        first = manifest.stat().st_mtime_ns
        main.write_text(good + "\nflow broken {\n  from nowhere.Thing\n}\n")
        expect("build failed in ")
        assert any("error[E0201]" in line for line in seen), "".join(seen)
        main.write_text(good.replace("sales-ops", "sales-team") if "sales-ops" in good else good + "\n")
        expect("build ok in ")
        assert manifest.stat().st_mtime_ns != first
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        expect("stopped watching", timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_each_rebuild_of_a_watch_emits_only_what_changed(tmp_path, capsys):
    """Edits back and forth: every rebuild links the unchanged files (the same inodes). Whatever the
    watch does after a build (removing the previous output changes its files' link counts, and so
    their ctimes), the next build must still trust them."""
    from integc.build import build_project

    for name, text in (("main.integ", 'package w version "1.0.0"\nimport "a.integ"\nimport "b.integ"\n'),
                       ("a.integ", 'system alpha {\n  title "Alpha"\n  base_url "https://a.example.com"\n'
                                   '  entity T { id: string @key }\n  expose T at "/t" { list }\n}\n'),
                       ("b.integ", 'system beta {\n  base_url "https://b.example.com"\n'
                                   '  entity U { id: string @key }\n  expose U at "/u" { list }\n}\n')):
        (tmp_path / name).write_text(text)
    built: list[int] = []
    stop = threading.Event()
    thread = threading.Thread(target=watch_and_rebuild, daemon=True, args=(
        tmp_path, None, lambda: built.append(1) or (1 if build_project(tmp_path).diagnostics.has_errors else 0),
        stop))
    thread.start()
    beta = tmp_path / "build" / "openapi" / "beta.openapi.yaml"
    assert _wait_for(lambda: len(built) == 1 and "build ok" in capsys.readouterr().err)
    original = (tmp_path / "a.integ").read_text()
    for round_ in range(4):
        before = beta.stat().st_ino
        time.sleep(0.3)
        (tmp_path / "a.integ").write_text(original if round_ % 2 else original.replace("Alpha", "Alpha 2"))
        assert _wait_for(lambda: len(built) == round_ + 2)
        assert _wait_for(lambda: "build ok" in capsys.readouterr().err)
        time.sleep(0.3)  # whatever the watch does after its report
        assert beta.stat().st_ino == before, f"beta's document emitted again in rebuild {round_ + 1}"
    stop.set()
    thread.join(timeout=10)
