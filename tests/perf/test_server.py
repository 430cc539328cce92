"""The build server (integc.server): it builds what the command would, and only when it should.

The scenarios run `integc build` as the program (a subprocess: only the
program starts and asks servers), with a private cache folder short enough
for a socket path, and ask the server from this process with the same
environment and working folder.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from integc import server
from integc.build import build_project
from integc.cache import cache_folder
from integc.diagnostics import Diagnostic, Note, Span

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT.parent / "shared" / "bench" / "gen_integ.py"


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _wait_until(condition, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())


class Scene:
    """A project, its output folder, and `integc build` run as the program with servers on."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch, idle: str):
        self.folder = folder
        self.project = folder / "landscape"
        self.out = folder / "out"
        if GENERATOR.is_file():
            subprocess.run([sys.executable, str(GENERATOR), "3", str(self.project)], check=True)
        else:  # pragma: no cover -- outside the shared workspace
            shutil.copytree(ROOT / "examples" / "order-to-cash", self.project)
        # A warning, so that what the command prints is compared too.
        (self.project / "extra.integ").write_text(
            'system noowner {\n  base_url "https://x.example"\n  entity Thing { id: string @key }\n'
            '  expose Thing at "/things" { list, get }\n}\n', encoding="utf-8")
        main = self.project / "main.integ"
        main.write_text(main.read_text(encoding="utf-8") + 'import "extra.integ"\n', encoding="utf-8")
        # A short private cache home: a socket's path must fit in 108 bytes.
        self.home = Path(tempfile.mkdtemp(prefix="ic", dir="/tmp"))
        # The environment names the server: one fixed environment for the commands and for this
        # process's questions (pytest changes PYTEST_CURRENT_TEST from one phase to the next).
        self.env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
        self.env.update({"XDG_CACHE_HOME": str(self.home), server.IDLE_VARIABLE: idle})
        monkeypatch.chdir(folder)
        self.edits = 0

    def build(self, idle: str | None = None) -> subprocess.CompletedProcess:
        env = self.env if idle is None else {**self.env, server.IDLE_VARIABLE: idle}
        return subprocess.run([sys.executable, "-m", "integc", "build", "landscape", "--out", "out"],
                              cwd=self.folder, env=env, capture_output=True, text=True, timeout=300)

    def _here(self, question):
        """`question()` asked with the commands' environment."""
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self.env)
        try:
            return question()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def edit(self) -> None:
        """Change one system's title."""
        self.edits += 1
        target = sorted((self.project / "systems").glob("*.integ"))[0] if (self.project / "systems").is_dir() \
            else self.project / "extra.integ"
        text = target.read_text(encoding="utf-8")
        target.write_text(text.replace('title "', f'title "Edit {self.edits} ', 1), encoding="utf-8")

    def key(self) -> str:
        return self._here(lambda: server._server_key(Path("landscape"), Path("out")))

    def socket(self) -> Path | None:
        return self._here(lambda: server._socket_path(self.key()))

    def ask(self) -> server.BuildReport | None:
        return self._here(lambda: server._ask(self.key(), False, False))

    def listening(self) -> bool:
        where = self.socket()
        return where is not None and where.exists()

    def with_a_server(self) -> None:
        """Build cold, then once after an edit: that build starts the server."""
        assert self.build().returncode == 0
        assert not self.listening()  # a cold build starts none
        self.edit()
        assert self.build().returncode == 0
        assert _wait_until(self.listening)

    def close(self) -> None:
        """Let the server go (it leaves when the build cache it builds from is gone), then clean up."""
        shutil.rmtree(cache_folder(self.out), ignore_errors=True)
        if self.listening():
            self.ask()
            _wait_until(lambda: not self.listening(), 10)
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture()
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    made = Scene(tmp_path, monkeypatch, "60")
    yield made
    made.close()


def test_the_server_builds_what_the_command_would(scene: Scene, tmp_path: Path) -> None:
    scene.with_a_server()
    scene.edit()
    served = scene.ask()
    assert served is not None  # built by the server
    cold = build_project(scene.project, tmp_path / "cold", incremental=False)
    assert _tree(scene.out) == _tree(tmp_path / "cold")
    assert served.diagnostics == cold.diagnostics.sorted() and served.diagnostics
    assert served.written == len(cold.written)
    assert served.sources == {f: t for f, t in cold.compiled.sources.items()
                              if f in {d.span.file for d in served.diagnostics}}
    # What the command prints through the server is what it prints when it builds itself.
    scene.edit()
    through_server = scene.build()
    assert scene.listening()
    on_its_own = scene.build(idle="0")  # nothing changed since: the same report
    assert (through_server.returncode, through_server.stdout, through_server.stderr) == \
        (on_its_own.returncode, on_its_own.stdout, on_its_own.stderr)
    assert "wrote" in through_server.stderr and "warning" in through_server.stderr


def test_a_deleted_build_cache_makes_the_build_cold_and_the_server_leave(scene: Scene, tmp_path: Path) -> None:
    scene.with_a_server()
    shutil.rmtree(cache_folder(scene.out))
    assert scene.ask() is None  # declined: that build is a cold one, the command's own
    assert _wait_until(lambda: not scene.listening())
    assert scene.build().returncode == 0
    assert not scene.listening()  # a cold build starts none
    build_project(scene.project, tmp_path / "cold", incremental=False)
    assert _tree(scene.out) == _tree(tmp_path / "cold")


def test_usage_errors_come_back_as_the_command_reports_them(scene: Scene) -> None:
    scene.with_a_server()
    (scene.out / "stray.integ").write_text("", encoding="utf-8")
    through_server = scene.build()
    assert scene.listening()
    on_its_own = scene.build(idle="0")
    assert through_server.returncode == on_its_own.returncode == 2
    assert through_server.stderr == on_its_own.stderr
    assert "holds .integ sources" in through_server.stderr


def test_a_stale_socket_is_passed_over_and_replaced(scene: Scene) -> None:
    assert scene.build().returncode == 0
    where = scene.socket()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(os.fsencode(where))
    stale.close()  # the file stays; nothing listens
    assert scene.ask() is None
    scene.edit()
    assert scene.build().returncode == 0
    assert _wait_until(lambda: scene.ask() is not None)


def test_an_idle_server_leaves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    idle = Scene(tmp_path, monkeypatch, "1")
    try:
        idle.with_a_server()
        assert _wait_until(lambda: not idle.listening())
    finally:
        idle.close()


def test_no_server_when_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    off = Scene(tmp_path, monkeypatch, "0")
    try:
        assert off.build().returncode == 0
        off.edit()
        assert off.build().returncode == 0
        time.sleep(1)
        servers = off.home / "integc" / "servers"
        assert not servers.exists() or not list(servers.iterdir())
        assert off._here(server.idle_seconds) == 0
    finally:
        off.close()


def test_a_request_for_another_server_is_not_answered(scene: Scene) -> None:
    scene.with_a_server()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(os.fsencode(scene.socket()))
        connection.sendall(json.dumps({"key": "0" * 64, "emit_ir": False, "strict": False}).encode())
        connection.shutdown(socket.SHUT_WR)
        assert connection.recv(1) == b""
    assert scene.ask() is not None  # and it still serves its own


def test_only_this_user_is_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX)
    with ours, theirs:
        assert server._from_this_user(ours)
        monkeypatch.setattr(os, "getuid", lambda: os.geteuid() + 1)
        assert not server._from_this_user(ours)


def test_the_servers_folder_must_be_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = Path(tempfile.mkdtemp(prefix="ic", dir="/tmp"))
    try:
        monkeypatch.setenv("XDG_CACHE_HOME", str(home))
        assert server._socket_path("a" * 64) == home / "integc" / "servers" / f"{'a' * 40}.sock"
        os.chmod(home / "integc" / "servers", 0o755)
        assert server._socket_path("a" * 64) is None
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ("x" * 120)))
        assert server._socket_path("a" * 64) is None  # too long for a socket
    finally:
        shutil.rmtree(home)


def test_the_server_is_named_by_what_decides_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = server._server_key(Path("p"), None)
    assert server._server_key(Path("p"), None) == key
    assert server._server_key(Path("q"), None) != key
    assert server._server_key(Path("p"), Path("out")) != key
    monkeypatch.setenv("INTEGC_JOBS", "1")
    jobs = server._server_key(Path("p"), None)
    assert jobs != key
    for volatile in ("OLDPWD", "COLUMNS", "NO_COLOR", server.IDLE_VARIABLE):
        monkeypatch.setenv(volatile, "anything")
    assert server._server_key(Path("p"), None) == jobs
    monkeypatch.chdir(tmp_path)
    assert server._server_key(Path("p"), None) != jobs


@pytest.mark.parametrize(("raw", "seconds"), [("", 600.0), ("0", 0.0), ("-3", 0.0), ("nan", 0.0), ("2.5", 2.5),
                                              ("soon", 600.0), ("1e12", 7 * 24 * 3600.0)])
def test_idle_seconds(raw: str, seconds: float, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv(server.IDLE_VARIABLE, raw)
    assert server.idle_seconds() == seconds


@pytest.mark.parametrize(("ci", "idle", "seconds"), [("true", "", 0.0), ("1", None, 0.0), ("YES", "", 0.0),
                                                     ("true", "30", 30.0), ("false", "", 600.0), ("", None, 600.0)])
def test_no_server_under_ci_unless_asked_for(ci: str, idle: str | None, seconds: float,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", ci)
    if idle is None:
        monkeypatch.delenv(server.IDLE_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(server.IDLE_VARIABLE, idle)
    assert server.idle_seconds() == seconds


def test_a_report_survives_the_wire() -> None:
    span = Span("a.integ", 1, 2, 3, 4)
    found = [Diagnostic("E0301", "bad \ud800 thing", span, "help", (Note(Span("b.integ", 5, 6, 5, 9), "here"),)),
             Diagnostic("W0101", "no span", None)]
    report = server.BuildReport(found, {"a.integ": "text \u202e"}, 50, Path("/x/out"), 7)
    wire = json.dumps(report.to_json()).encode("utf-8", "surrogatepass")
    assert server.BuildReport.from_json(json.loads(wire)) == report
    with pytest.raises((KeyError, TypeError, ValueError)):
        server.BuildReport.from_json({**report.to_json(), "written": "7"})
