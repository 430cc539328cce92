"""The build server: `integc build` answered by a process that stays between builds.

Most of an incremental build's time goes to what is the same from one build
to the next: starting Python and importing the compiler, loading every
unchanged file's resolved systems from the build cache, importing the OpenAPI
validators. After an incremental `integc build`, a server process is started
for that project (the same command line, folder and environment); it keeps
all of that in memory, as `integc build --watch` does (an
integc.cache.Session), and the next `integc build` there asks it to build
instead of building itself. It builds exactly as the command would (the same
`build_project`, into the same folders, with the same build cache); the
command prints what it answers.

Lifetime: a server leaves after `INTEGC_SERVER_IDLE` seconds without a build
(default 600, or 0 when the `CI` variable says true; 0 turns servers off:
`integc build` then always builds itself), when the build cache it would
build from is gone (then the build is a cold one: the command builds
itself), and after any failure of its own.
The command builds itself whenever no server answers. The server never
outlives a change of the compiler: its name covers the compiler's files,
Python, the working folder, the file mode mask, the environment and the
command's path and --out.

Safety: the server listens on a Unix socket in this user's private cache
folder (`~/.cache/integc/servers/`, mode 0700; the socket 0600), answers only
connections from this user (SO_PEERCRED, Linux; elsewhere there is no
server), and reads nothing but a small JSON request (no pickles). Its
standard streams are /dev/null; it runs in a session of its own, so the
terminal's Ctrl-C does not reach it (a build it started finishes).
"""
from __future__ import annotations

import gc
import hashlib
import json
import os
import socket
import stat
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from integc.config import UsageError, process_umask
from integc.diagnostics import Diagnostic, diagnostic_from_json, diagnostic_json

IDLE_VARIABLE = "INTEGC_SERVER_IDLE"
DEFAULT_IDLE_SECONDS = 600.0
_MAX_IDLE_SECONDS = 7 * 24 * 3600.0
_CONNECT_TIMEOUT = 2.0
_REQUEST_TIMEOUT = 10.0  # a client sends its request at once; one that does not is let go
_MAX_REQUEST_BYTES = 1 << 16
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux
# Variables that differ between two runs of the same command without changing what it builds.
_VOLATILE_VARIABLES = frozenset({"_", "OLDPWD", "PWD", "SHLVL", "COLUMNS", "LINES", "TERM", "COLORTERM",
                                 "NO_COLOR", "FORCE_COLOR", "CLICOLOR", "CLICOLOR_FORCE", IDLE_VARIABLE})


@dataclass
class BuildReport:
    """What `integc build` prints about a build, wherever the build ran."""

    diagnostics: list[Diagnostic]  # sorted, as reported
    sources: dict[str, str]  # display path -> text, of the files the diagnostics point into
    max_diagnostics: int | None
    out: Path | None  # the output folder written, None when nothing was written
    written: int

    @classmethod
    def of(cls, result) -> BuildReport:
        """The report of an integc.build.BuildResult."""
        found = result.diagnostics.sorted()
        config = result.compiled.config
        shown = {span.file for d in found for span in (d.span, *(n.span for n in d.notes)) if span is not None}
        return cls(found, {f: t for f, t in result.compiled.sources.items() if f in shown},
                   config.limits.max_diagnostics if config is not None else None, result.out, len(result.written))

    def to_json(self) -> dict:
        return {"diagnostics": [diagnostic_json(d) for d in self.diagnostics], "sources": self.sources,
                "max_diagnostics": self.max_diagnostics, "out": None if self.out is None else str(self.out),
                "written": self.written}

    @classmethod
    def from_json(cls, data: dict) -> BuildReport:
        """The report `to_json` gave `data` for (KeyError, TypeError or ValueError when it did not)."""
        sources = data["sources"]
        limit, written, out = data["max_diagnostics"], data["written"], data["out"]
        if not (isinstance(sources, dict) and all(isinstance(v, str) for v in sources.values())
                and (limit is None or type(limit) is int) and type(written) is int
                and (out is None or isinstance(out, str))):
            raise ValueError("not a build report")
        return cls([diagnostic_from_json(d) for d in data["diagnostics"]], sources, limit,
                   None if out is None else Path(out), written)


def build_report(path: Path, out: Path | None, emit_ir: bool, strict: bool, use_server: bool) -> BuildReport:
    """Build (through this project's server when `use_server` and one answers) and report. After an
    incremental build of its own, with `use_server`, start a server for the next one."""
    key = _server_key(path, out) if use_server and idle_seconds() > 0 else None
    if key is not None:
        served = _ask(key, emit_ir, strict)
        if served is not None:
            return served
    from integc.build import build_project

    result = build_project(path, out, emit_ir=emit_ir, strict=strict)
    if key is not None and result.incremental:
        _start(key, path, out)
    return BuildReport.of(result)


def idle_seconds() -> float:
    """How long a server waits for the next build (INTEGC_SERVER_IDLE; 0: no servers). Unset, it is
    600 s, or 0 under CI (`CI` set to true, 1 or yes, as CI services set it): a CI job builds once,
    and a server would only outlive it."""
    raw = os.environ.get(IDLE_VARIABLE, "").strip()
    if not raw and os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        return 0.0
    try:
        seconds = float(raw) if raw else DEFAULT_IDLE_SECONDS
    except ValueError:
        return DEFAULT_IDLE_SECONDS
    if seconds != seconds or seconds <= 0:  # NaN, zero or less: off
        return 0.0
    return min(seconds, _MAX_IDLE_SECONDS)


# ---------------------------------------------------------------- where a server listens

def _server_key(path: Path, out: Path | None) -> str:
    """Names the server of this command: whatever besides the sources decides what it builds."""
    from integc.cache import compiler_fingerprint

    environment = sorted((k, v) for k, v in os.environ.items() if k not in _VOLATILE_VARIABLES)
    parts = [compiler_fingerprint(), sys.executable, os.getcwd(), process_umask(), os.getuid(), environment,
             str(path), None if out is None else str(out)]
    return hashlib.sha256(json.dumps(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _socket_path(key: str) -> Path | None:
    """The socket of the server named `key`, in this user's private servers folder (made if need
    be); None where there can be no server (no such folder, no peer credentials, a path too long)."""
    from integc.cache import user_cache_dir

    if not hasattr(socket, "SO_PEERCRED") or not hasattr(socket, "AF_UNIX"):
        return None
    base = user_cache_dir()
    if base is None:
        return None
    folder = base / "servers"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    where = folder / f"{key[:40]}.sock"
    return where if len(os.fsencode(where)) <= _MAX_SOCKET_PATH else None


# ---------------------------------------------------------------- the command's side

def _ask(key: str, emit_ir: bool, strict: bool) -> BuildReport | None:
    """The report of a build made by the server named `key`; None when no server answers (or it
    declines: the command then builds itself)."""
    where = _socket_path(key)
    if where is None:
        return None
    try:
        info = os.lstat(where)
    except OSError:
        return None
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
        return None
    request = json.dumps({"key": key, "emit_ir": emit_ir, "strict": strict}).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(_CONNECT_TIMEOUT)
            connection.connect(os.fsencode(where))
            connection.settimeout(None)  # a build takes as long as it takes
            connection.sendall(request)
            connection.shutdown(socket.SHUT_WR)
            answer = _receive(connection, None)
    except OSError:
        return None
    try:
        data = json.loads(answer)
        if data["status"] == "usage":
            message = data["message"]
        elif data["status"] == "built":
            return BuildReport.from_json(data)
        else:
            return None
    except (ValueError, KeyError, TypeError):
        return None
    raise UsageError(str(message))


def _start(key: str, path: Path, out: Path | None) -> None:
    """Start the server named `key` for this command; it outlives this process. (`-P`: the working
    folder is not put on the server's import path: a project folder holding a module named like one
    of ours must not be imported.)"""
    from integc.cache import compiler_fingerprint

    if _socket_path(key) is None:
        return
    arguments = {"key": key, "compiler": compiler_fingerprint(), "path": str(path),
                 "out": None if out is None else str(out)}
    try:
        subprocess.Popen([sys.executable, "-P", "-m", "integc.server", json.dumps(arguments)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
    except OSError:
        pass


def _receive(connection: socket.socket, limit: int | None) -> bytes:
    """Everything the other side sends until it shuts its side (OSError past `limit` bytes)."""
    chunks, size = [], 0
    while chunk := connection.recv(1 << 16):
        chunks.append(chunk)
        size += len(chunk)
        if limit is not None and size > limit:
            raise OSError("request too large")
    return b"".join(chunks)


# ---------------------------------------------------------------- the server's side

def serve(arguments: dict) -> None:
    """The server process: listen, load the project, then answer builds until idle."""
    from integc.cache import compiler_fingerprint

    key, path = arguments["key"], Path(arguments["path"])
    out = None if arguments["out"] is None else Path(arguments["out"])
    idle = idle_seconds()
    if not idle or compiler_fingerprint() != arguments["compiler"] or _server_key(path, out) != key:
        return  # not the compiler, folder or environment the command named it for
    where = _socket_path(key)
    if where is None:
        return
    listener, identity = _listen(where)
    try:
        _load(path, out)
        listener.settimeout(idle)
        while True:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                return
            with connection:
                if not _answer(connection, key, path, out):
                    return
            _settle()
    finally:
        listener.close()
        try:
            if os.lstat(where).st_ino == identity:  # still ours: another server may have replaced it
                os.unlink(where)
        except OSError:
            pass


def _listen(where: Path) -> tuple[socket.socket, int]:
    """A socket listening at `where` (replacing a server's there, which then idles away): bound
    under a temporary name, made private, then renamed into place."""
    temporary = where.with_name(f".{where.name}.{os.getpid()}")
    try:
        os.unlink(temporary)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(os.fsencode(temporary))
    os.chmod(temporary, 0o600)
    listener.listen(16)
    os.replace(temporary, where)
    return listener, os.lstat(where).st_ino


def _load(path: Path, out: Path | None) -> None:
    """Load what the builds will reuse, before the first one: the resolved files and their digests
    (into a session, as `integc build --watch` keeps them) and the targets' validators."""
    from integc.build import prepare_targets
    from integc.cache import BuildCache, start_session
    from integc.config import load_config
    from integc.diagnostics import Diagnostics
    from integc.pipeline import compile_config

    kept = start_session()
    try:
        diagnostics = Diagnostics()
        config = load_config(path, diagnostics, out)
        if config is None:
            return
        cache = BuildCache.open(config.out, writable=False)
        if cache is not None:
            compile_config(path, config, diagnostics, cache)
            kept.digests = cache.digests
        prepare_targets(config)
    except Exception:  # noqa: BLE001 - only a head start: the first build meets any problem itself
        pass
    finally:
        _settle()


def _answer(connection: socket.socket, key: str, path: Path, out: Path | None) -> bool:
    """Answer one connection; False when the server should leave."""
    if not _from_this_user(connection):
        return True
    try:
        connection.settimeout(_REQUEST_TIMEOUT)
        request = json.loads(_receive(connection, _MAX_REQUEST_BYTES))
        connection.settimeout(None)
        emit_ir, strict = request["emit_ir"], request["strict"]
        if request["key"] != key or type(emit_ir) is not bool or type(strict) is not bool:
            return True
    except (OSError, ValueError, KeyError, TypeError):
        return True
    response, keep_serving = _build(path, out, emit_ir, strict)
    try:
        connection.sendall(json.dumps(response).encode("utf-8", "surrogatepass"))
    except OSError:
        pass
    return keep_serving


def _build(path: Path, out: Path | None, emit_ir: bool, strict: bool) -> tuple[dict, bool]:
    """(the response, whether to keep serving) to a build request."""
    from integc.build import build_project
    from integc.cache import RECORD, cache_folder
    from integc.config import load_config
    from integc.diagnostics import Diagnostics

    try:
        config = load_config(path, Diagnostics(), out)
        if config is not None and not (cache_folder(config.out) / RECORD).is_file():
            return {"status": "declined"}, False  # the cache was deleted: that build is a cold one
        result = build_project(path, out, emit_ir=emit_ir, strict=strict)
    except UsageError as error:
        return {"status": "usage", "message": str(error)}, True
    except Exception:  # noqa: BLE001 - the command builds itself, and reports what it meets
        return {"status": "declined"}, False
    return {"status": "built", **BuildReport.of(result).to_json()}, True


def _from_this_user(connection: socket.socket) -> bool:
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", credentials)[1] == os.getuid()


def _settle() -> None:
    """Collect once after a build, then keep what survives out of later collections' way: the
    session holds hundreds of thousands of objects that every collection would walk again."""
    gc.collect()
    gc.freeze()


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]))
