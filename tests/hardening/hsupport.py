"""Helpers of the hardening suite: run integc as users do, jailed, with time bounds.

Two ways to run the CLI:

- `run_integc(...)`: a fresh `integc` process (or `python jail.py` when a jail
  policy is given), with `timeout=`: the real entry point, one process per call.
- `JailServer.run(...)`: one long-lived jailed process that runs many CLI
  invocations (the same `integc.cli.main`, in-process), each under an alarm.
  Fuzzing through a fresh process per example would cost a second each on a
  busy CI machine; the server keeps the CLI code path and the jail, and
  restarts itself if an invocation hangs or kills it.

Every outcome is checked with `assert_handled`: exit code 0 or 1, no
traceback, no internal error, no jail violation, every code registered.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from integc.codes import CODES

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
JAIL = HERE / "jail.py"
EXAMPLES = REPO / "examples"
VALID = REPO / "tests" / "data" / "valid"

# The integc entry point next to this interpreter (PATH may differ under CI).
_BIN = Path(sys.executable).with_name("integc")
INTEGC = [str(_BIN)] if _BIN.exists() else [sys.executable, "-m", "integc"]

ENV = {key: value for key, value in os.environ.items() if key not in ("INTEGC_TRACEBACK", "PYTHONSTARTUP")}
ENV.update({"PYTHONDONTWRITEBYTECODE": "1", "NO_COLOR": "1", "PYTHONHASHSEED": "0"})

CODE_LINE = re.compile(r"^(error|warning)\[([EW]\d{4})\]", re.M)


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def codes(self) -> list[str]:
        """Diagnostic codes printed, in order (text format on stderr, JSON on stdout)."""
        found = [m.group(2) for m in CODE_LINE.finditer(self.stderr)]
        stdout = self.stdout.lstrip()
        if stdout.startswith("["):  # --format json
            found += [d["code"] for d in json.loads(stdout)]
        elif stdout.startswith("{"):  # --format sarif
            found += [r["ruleId"] for run in json.loads(stdout)["runs"] for r in run["results"]]
        else:  # --format github
            found += re.findall(r"^::(?:error|warning) [^:]*title=([EW]\d{4}) ", stdout, re.M)
        return found

    def describe(self) -> str:
        return (f"exit {self.code} in {self.seconds:.1f}s\n--- violations: {self.violations}\n"
                f"--- stdout ({len(self.stdout)} chars):\n{self.stdout[:3000]}\n"
                f"--- stderr ({len(self.stderr)} chars):\n{self.stderr[:3000]}")


def assert_handled(outcome: Outcome, codes: tuple[int, ...] = (0, 1)) -> None:
    """Never a traceback, never a hang, never an internal error or a jail violation."""
    assert outcome.code in codes, outcome.describe()
    assert "Traceback" not in outcome.output, outcome.describe()
    assert "E0001" not in outcome.output, outcome.describe()
    assert not outcome.violations, outcome.describe()
    for code in outcome.codes():
        assert code in CODES, f"unregistered code {code}\n{outcome.describe()}"
    if outcome.code == 1:
        assert outcome.codes(), f"exit 1 without a coded diagnostic\n{outcome.describe()}"


# ---------------------------------------------------------------- jail policies

def policy_check(forbid_read=()) -> dict:
    """`integc check` writes nothing at all."""
    return {"write_roots": [], "forbid_read": [str(p) for p in forbid_read]}


def policy_build(out: Path, forbid_read=()) -> dict:
    """`integc build` writes only the output folder and its staging siblings."""
    out = Path(os.path.realpath(out))
    return {"write_roots": [str(out), str(out.parent)], "parent_roots": [str(out.parent)],
            "write_prefixes": [f".{out.name}.integc-", f".{out.name}.old-"],
            "forbid_read": [str(p) for p in forbid_read]}


# ---------------------------------------------------------------- one process per call

def run_integc(args: list[str], cwd: Path | str | None = None, timeout: float = 60,
               policy: dict | None = None, env: dict | None = None) -> Outcome:
    """Run `integc ARGS` in a new process; with a policy, jailed (see jail.py)."""
    command = list(INTEGC) + [str(a) for a in args]
    policy_file = None
    if policy is not None:
        handle, policy_file = tempfile.mkstemp(suffix=".json", prefix="integc-jail-")
        with os.fdopen(handle, "w") as stream:
            json.dump(policy, stream)
        command = [sys.executable, str(JAIL), policy_file, "--"] + [str(a) for a in args]
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, timeout=timeout, env=env or ENV)
    except subprocess.TimeoutExpired as expired:
        return Outcome(124, _text(expired.stdout), _text(expired.stderr) + f"\nTIMEOUT after {timeout}s",
                       seconds=time.monotonic() - started)
    finally:
        if policy_file:
            os.unlink(policy_file)
    stderr = _text(done.stderr)
    violations = [line for line in stderr.splitlines() if line.startswith("JAIL VIOLATION")]
    return Outcome(done.returncode, _text(done.stdout), stderr, violations, time.monotonic() - started)


def _text(data) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


# ---------------------------------------------------------------- many calls, one jailed process

class JailServer:
    """A jailed integc process that runs CLI invocations sent to it (see jail.py)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile()
        self.restarts = 0

    def _start(self) -> None:
        self._process = subprocess.Popen([sys.executable, str(JAIL), "--serve"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self._log, env=ENV, text=True,
                                         encoding="utf-8", bufsize=1)

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def run(self, args: list, cwd: Path | str, policy: dict | None = None, timeout: float = 30,
            env: dict | None = None) -> Outcome:
        """One CLI invocation; `env` sets environment variables for it alone (HOME...)."""
        if self._process is None or self._process.poll() is not None:
            self._start()
        request = {"args": [str(a) for a in args], "cwd": str(cwd), "policy": policy or policy_check(),
                   "timeout": timeout, "env": env or {}}
        answer: list[str] = []

        def read() -> None:
            answer.append(self._process.stdout.readline())

        started = time.monotonic()
        try:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            self.close()
            return Outcome(98, "", "jail server died before the request", seconds=0)
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout + 30)  # the server's own alarm fires first; this catches a stuck server
        if reader.is_alive() or not answer or not answer[0]:
            self.close()
            self.restarts += 1
            return Outcome(124, "", f"jail server gave no answer within {timeout + 30}s "
                                    f"(hang or crash; restarted)", seconds=time.monotonic() - started)
        data = json.loads(answer[0])
        return Outcome(data["code"], data["stdout"], data["stderr"], data["violations"], data["seconds"])


# ---------------------------------------------------------------- projects and trees

def write_project(root: Path, main: str | bytes | None = None, files: dict | None = None,
                  toml: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    everything = dict(files or {})
    if main is not None:
        everything["main.integ"] = main
    for name, content in everything.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    if toml is not None:
        (root / "integc.toml").write_text(toml, encoding="utf-8")
    return root


def snapshot(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple]:
    """Every entry under `root` (not following symlinks): kind, mode and content hash or link target.

    The build cache (`.<out>.integc-cache/` beside an output folder, compiler/cache.py) is left
    out: it is the one thing a build writes outside its output folder, by design, and it is
    written by failed builds too."""
    entries: dict[str, tuple] = {}
    root = Path(root)
    if not root.exists():
        return entries
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            relative = path.relative_to(root).as_posix()
            if relative.split("/", 1)[0] in skip or any(part.endswith(".integc-cache")
                                                        for part in relative.split("/")):
                continue
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                entries[relative] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                entries[relative] = ("dir", stat.S_IMODE(info.st_mode))
            elif stat.S_ISREG(info.st_mode):
                entries[relative] = ("file", stat.S_IMODE(info.st_mode), hashlib.sha256(path.read_bytes()).hexdigest())
            else:
                entries[relative] = ("other", stat.S_IFMT(info.st_mode))
    return entries


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}


def example_sources() -> dict[str, str]:
    """Every single-file example and valid test program, by name."""
    sources = {}
    for path in sorted(VALID.glob("*.integ")):
        sources[path.stem] = path.read_text(encoding="utf-8")
    for path in sorted(EXAMPLES.rglob("*.integ")):
        sources[path.relative_to(EXAMPLES).as_posix()] = path.read_text(encoding="utf-8")
    return sources


def have(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True
