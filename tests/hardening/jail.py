"""Run the integc CLI under a Python audit hook that enforces the security note.

    python jail.py POLICY.json -- check path ...      # one command, exit code as integc's
    python jail.py --serve                            # many commands: JSON lines on stdin/stdout

The hook sees every file open, mkdir, rename, remove, symlink, chmod, socket
and process start of the integc process. Anything outside the policy is a
violation: it is recorded (`JAIL VIOLATION ...` on stderr) and the process
stops at once with exit code 99, *before* the operation happens, so a
regression in integc's folder checks fails the test instead of damaging the
machine running it.

Policy (all paths absolute, resolved):
    write_roots   folders under which creating/changing files is allowed; for
                  an output folder OUT pass OUT itself and OUT's parent with
                  `write_prefixes` [".OUT.integc-", ".OUT.old-"]: the writer
                  stages and retires builds beside the output folder
    write_prefixes  names (in a write root's parent) that may be written
    forbid_read   paths that must never be opened or listed (files or folders)
    allow_write_globs  fnmatch patterns always allowed (e.g. a known cache)
Network and subprocesses are always violations, except the one child a build
starts to map the flows' examples under a time and memory bound
(`python -I -S -c "# integc-example-check ..."`, targets/mapping/testing.py),
and `os.fork` without exec: a build forks copies of itself to emit on every
core (compiler/workers.py); they inherit this hook, so whatever they do is
judged by the same policy.

Serve mode takes one JSON object per line: {"args": [...], "cwd": "...",
"policy": {...}, "timeout": seconds, "env": {...}} and answers one JSON line:
{"code": int, "stdout": str, "stderr": str, "violations": [...],
"seconds": float}. A command that runs past its timeout answers code 124
(the alarm interrupts it). The server is the real CLI entry point
(`integc.cli.main`), so exit codes and output are what users see.
"""
from __future__ import annotations

import fnmatch
import io
import json
import os
import signal
import sys
import time

_POLICY: dict = {"write_roots": [], "write_prefixes": [], "forbid_read": [], "allow_write_globs": []}
_VIOLATIONS: list[str] = []
_ARMED = False
_EXIT_ON_VIOLATION = True
_REAL_STDERR = sys.__stderr__

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _path(value) -> str | None:
    if isinstance(value, int) or value is None:
        return None
    try:
        value = os.fsdecode(os.fspath(value))
    except TypeError:
        return None
    return os.path.abspath(value)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _write_allowed(path: str) -> bool:
    if path == os.devnull:
        return True
    for pattern in _POLICY.get("allow_write_globs", ()):
        if fnmatch.fnmatch(path, pattern):
            return True
    for root in _POLICY.get("write_roots", ()):
        if _under(path, root):
            # Inside the parent of an output folder only the staging names are allowed.
            if root in _POLICY.get("parent_roots", ()):
                rest = path[len(root.rstrip("/")) + 1:]
                first = rest.split("/", 1)[0]
                if any(first.startswith(p) for p in _POLICY.get("write_prefixes", ())):
                    return True
                continue
            return True
    return False


def _read_forbidden(path: str) -> bool:
    return any(_under(path, root) for root in _POLICY.get("forbid_read", ()))


def _violation(what: str) -> None:
    _VIOLATIONS.append(what)
    if _EXIT_ON_VIOLATION:
        _REAL_STDERR.write(f"JAIL VIOLATION {what}\n")
        _REAL_STDERR.flush()
        os._exit(99)
    raise PermissionError(f"jail: {what}")


def _hook(event: str, args: tuple) -> None:
    if not _ARMED:
        return
    if event == "open":
        path = _path(args[0])
        if path is None:
            return
        mode, flags = args[1], args[2]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                  (isinstance(flags, int) and flags & _WRITE_FLAGS)
        if writing and not _write_allowed(path):
            _violation(f"write {path}")
        elif _read_forbidden(path):
            _violation(f"read {path}")
    elif event in ("os.listdir", "os.scandir"):
        path = _path(args[0]) if args else None
        if path is not None and _read_forbidden(path):
            _violation(f"list {path}")
    elif event in _ONE_PATH:
        if args and _relative_to_fd(event, args):
            return  # inside a folder already opened (shutil.rmtree): its top was checked
        path = _path(args[0]) if args else None
        if path is not None and not _write_allowed(path):
            _violation(f"{event} {path}")
    elif event in _TWO_PATHS:
        if _relative_to_fd(event, args):
            return
        source = _path(args[0]) if args else None
        destination = _path(args[1]) if len(args) > 1 else None
        if event in ("os.rename", "shutil.move") and source is not None and not _write_allowed(source):
            _violation(f"{event} from {source}")
        if destination is not None and not _write_allowed(destination):
            _violation(f"{event} to {destination}")
        if source is not None and event.startswith("shutil.copy") and _read_forbidden(source):
            _violation(f"{event} from {source}")
    elif event == "urllib.Request" and isinstance(args[0], str) and args[0].startswith("file:"):
        path = _path(args[0][5:].lstrip("/").join(("/", ""))) if args[0].startswith("file:") else None
        if path is not None and _read_forbidden(path):
            _violation(f"read {path}")
    elif event == "subprocess.Popen" and _example_check_child(args):
        return  # the bounded E0307 example check (targets/mapping/testing.py): isolated python, no site
    elif event.startswith(_FORBIDDEN_PREFIXES):
        _violation(f"{event} {args[:2]!r}"[:300])


def _example_check_child(args: tuple) -> bool:
    """The one process a build may start: `python -I -S -c <example-check child>`."""
    argv = list(args[1]) if len(args) > 1 and isinstance(args[1], (list, tuple)) else []
    return (len(argv) >= 5 and argv[0] == sys.executable and argv[1:4] == ["-I", "-S", "-c"]
            and isinstance(argv[4], str) and argv[4].startswith("# integc-example-check\n"))


# Events that change one path / two paths, and where their dir_fd argument is.
_ONE_PATH = {"os.mkdir": 2, "os.remove": 1, "os.rmdir": 1, "os.chmod": 2, "os.chown": 3, "os.truncate": None,
             "os.utime": 3, "shutil.rmtree": 1, "os.chflags": None, "os.lchmod": None, "os.lchown": None,
             "os.mkfifo": 2, "os.mknod": 3}
_TWO_PATHS = {"os.rename": 2, "os.link": 2, "os.symlink": 2, "shutil.move": None, "shutil.copyfile": None,
              "shutil.copymode": None, "shutil.copystat": None, "shutil.copytree": None}
_FORBIDDEN_PREFIXES = ("socket.", "subprocess.", "os.exec", "os.spawn", "os.posix_spawn", "os.system",
                       "os.forkpty", "os.startfile", "os.kill", "os.killpg", "webbrowser.",
                       "urllib.Request", "http.client.", "ftplib.", "smtplib.", "ctypes.dlopen", "pty.spawn")


def _relative_to_fd(event: str, args: tuple) -> bool:
    where = {**_ONE_PATH, **_TWO_PATHS}.get(event)
    return where is not None and len(args) > where and isinstance(args[where], int)


def _normalise(policy: dict) -> dict:
    policy = {key: list(value) for key, value in policy.items()}
    for key in ("write_roots", "forbid_read", "parent_roots"):
        policy[key] = [os.path.realpath(p) for p in policy.get(key, [])]
    policy.setdefault("write_prefixes", [])
    policy.setdefault("allow_write_globs", [])
    return policy


def policy_for_output(out: str, forbid_read=(), extra_roots=()) -> dict:
    """The policy of a build into `out`: OUT itself and its staging siblings."""
    out = os.path.realpath(out)
    parent, name = os.path.split(out)
    return {"write_roots": [out, parent, *extra_roots], "parent_roots": [parent],
            "write_prefixes": [f".{name}.integc-", f".{name}.old-"],
            "forbid_read": list(forbid_read)}


_WARM_UP = """
system a {
  owner "o"
  base_url "https://a.example/api"
  auth bearer { secret "a-token" }
  entity E { id: string @key
    n: int @range(0, 10) }
  expose E at "/e" { list, get, create, update }
  event changed: E
}
system b {
  owner "o"
  entity F { id: string @key
    n: int }
  expose F at "/f" { list, get, create, update }
}
flow f {
  from a.E
  to b.F
  trigger schedule every 15m
  map { id = id
    n = n }
  retry 3
}
flow g {
  from a.E
  to b.F
  trigger schedule cron "0 2 * * 1"
  map { id = lower(id)
    n = n }
  retry 3
}
flow h {
  from a.E
  to b.F
  trigger event a.changed
  map { id = id
    n = n }
  retry 3
}
"""


def _prepare() -> None:
    """Import everything integc needs, and build once, before arming: third-party
    modules do things at import time (croniter runs `file -b`, urllib3 binds a
    loopback socket to probe IPv6) that are not integc's doing."""
    import tempfile
    import integc.cli  # noqa: F401
    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, "main.integ"), "w", encoding="utf-8") as handle:
            handle.write(_WARM_UP)
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
        try:
            for command in (["check", folder], ["build", folder, "--out", os.path.join(folder, "out")]):
                _run_one(command)
        finally:
            sys.stdout, sys.stderr = saved


def _run_one(args: list[str]) -> int:
    from integc.cli import main
    try:
        main.main(args=args, prog_name="integc", standalone_mode=True)
    except SystemExit as stop:
        code = stop.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


class _Timeout(BaseException):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def serve() -> None:
    global _ARMED, _POLICY, _EXIT_ON_VIOLATION
    _EXIT_ON_VIOLATION = False
    _prepare()
    sys.addaudithook(_hook)
    signal.signal(signal.SIGALRM, _alarm)
    channel_in, channel_out = sys.stdin, sys.__stdout__
    for line in channel_in:
        if not line.strip():
            continue
        request = json.loads(line)
        _POLICY = _normalise(request.get("policy") or {})
        _VIOLATIONS.clear()
        out, err = io.StringIO(), io.StringIO()
        saved = sys.stdout, sys.stderr
        cwd = os.getcwd()
        saved_env = {key: os.environ.get(key) for key in request.get("env", {})}
        os.environ.update(request.get("env", {}))
        started = time.monotonic()
        sys.stdout, sys.stderr = out, err
        try:
            os.chdir(request.get("cwd") or cwd)
            _ARMED = True
            signal.setitimer(signal.ITIMER_REAL, float(request.get("timeout", 30)))
            try:
                code = _run_one(request["args"])
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                _ARMED = False
        except _Timeout:
            code = 124
        except BaseException as error:  # noqa: BLE001 - the report must always be sent
            err.write(f"jail: escaped {type(error).__name__}: {error}\nTraceback (escaped the CLI)\n")
            code = 98
        finally:
            sys.stdout, sys.stderr = saved
            os.chdir(cwd)
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        if _VIOLATIONS:
            code = 99
        answer = {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue(),
                  "violations": list(_VIOLATIONS), "seconds": round(time.monotonic() - started, 3)}
        channel_out.write(json.dumps(answer) + "\n")
        channel_out.flush()


def main() -> None:
    global _ARMED, _POLICY
    if sys.argv[1:2] == ["--serve"]:
        serve()
        return
    policy_file, separator, *args = sys.argv[1:]
    assert separator == "--", "usage: jail.py POLICY.json -- integc-args..."
    with open(policy_file, encoding="utf-8") as handle:
        _POLICY = _normalise(json.load(handle))
    _prepare()
    sys.addaudithook(_hook)
    _ARMED = True
    sys.exit(_run_one(args))


if __name__ == "__main__":
    main()
