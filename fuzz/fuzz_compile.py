#!/usr/bin/env python3
"""Coverage-guided fuzzing of integc with atheris (libFuzzer for Python).

Each input becomes the entry file of a project (raw bytes, so encoding damage
is fuzzed too) and goes through what `integc check` and `integc build` do,
in-process: compile (config, load, parse, resolve, check), render the
diagnostics in every format, and, when the project is clean, run every
target and parse what it emits. A crash is anything that escapes:

- an exception out of the compiler (the CLI would print E0001);
- a diagnostic with an unregistered code or without a usable location;
- an output file that does not parse (Python, YAML, JSON) or an output path
  that could leave the output folder.

Hangs are found with libFuzzer's `-timeout=`. See fuzz/README.md.

    python fuzz/fuzz_compile.py fuzz/corpus -max_total_time=3600 -timeout=20 -rss_limit_mb=4096
    python fuzz/fuzz_compile.py --make-corpus fuzz/corpus     # seed from examples/ and tests/data/
    python fuzz/fuzz_compile.py --replay crash-<hash>         # reproduce one finding, with a traceback

Without atheris the module still imports (tests use `run_one`), and
`--replay` works.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path, PurePosixPath

try:
    import atheris
except ImportError:  # the harness stays importable; only fuzzing needs atheris
    atheris = None

REPO = Path(__file__).resolve().parents[1]


def _import_integc():
    global CODES, UsageError, compile_project, emit_all, RENDERERS, render_text
    from integc.codes import CODES
    from integc.config import UsageError
    from integc.pipeline import compile_project
    from integc.build import emit_all
    from integc.render import RENDERERS, render_text


_FUZZING = atheris is not None and __name__ == "__main__" and not {"--replay", "--make-corpus"} & set(sys.argv)
if _FUZZING:
    with atheris.instrument_imports(include=["integc", "lark"]):
        _import_integc()
        # Modules the compiler imports lazily (targets, cache): load them now, instrumented.
        from integc.targets import load_targets
        load_targets()
        try:
            import integc.cache  # noqa: F401
        except ImportError:
            pass
else:
    _import_integc()

import yaml  # noqa: E402 - after the instrumented imports

_WORK: Path | None = None


def _project() -> Path:
    """One scratch project folder for the whole run (made on first use, removed at exit)."""
    global _WORK
    if _WORK is None:
        _WORK = Path(tempfile.mkdtemp(prefix="integc-fuzz-"))
        (_WORK / "p").mkdir()
        atexit.register(shutil.rmtree, _WORK, True)
    return _WORK / "p"


class Finding(AssertionError):
    """An input integc mishandled."""


# Known findings to step over in a long run (a regular expression on the message), so one open
# bug does not stop the search: INTEGC_FUZZ_IGNORE='is too short|RecursionError'.
_IGNORE = re.compile(os.environ["INTEGC_FUZZ_IGNORE"]) if os.environ.get("INTEGC_FUZZ_IGNORE") else None


def _finding(message: str) -> None:
    if _IGNORE is None or not _IGNORE.search(message):
        raise Finding(message)


def _check_diagnostics(result) -> None:
    items = result.diagnostics.sorted()
    for d in items:
        if d.code not in CODES:
            raise Finding(f"unregistered code {d.code}")
        if d.span is not None and (d.span.line < 1 or d.span.column < 1):
            raise Finding(f"{d.code} at line {d.span.line} column {d.span.column}")
    limit = result.config.limits.max_diagnostics if result.config else None
    text = render_text(items, result.sources, colour=False, limit=limit)
    for raw in ("\x1b", "\u202e", "\x00"):
        if raw in text:
            raise Finding(f"raw {raw!r} in the text diagnostics")
    for render in RENDERERS.values():
        render(items)


def _check_artifact(path: str, content: bytes) -> None:
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or "\\" in path or "\x00" in path:
        raise Finding(f"unsafe output path {path!r}")
    if path.endswith(".py"):
        compile(content, path, "exec")
    elif path.endswith((".yaml", ".yml")):
        list(yaml.safe_load_all(content))
    elif path.endswith(".json"):
        json.loads(content)


def run_one(data: bytes, build: bool = True) -> None:
    """One input through the compiler; raises on a finding (and only then)."""
    project = _project()
    (project / "main.integ").write_bytes(data)
    try:
        result = compile_project(project)
    except UsageError:
        return
    except Exception as error:  # noqa: BLE001 - what the CLI would report as E0001
        _finding(f"{type(error).__name__}: {error}")
        return
    _check_diagnostics(result)
    if not build or result.project is None or result.config is None:
        return
    from integc.diagnostics import Diagnostics
    diagnostics = Diagnostics()
    artifacts = emit_all(result.project, result.config, diagnostics)
    for d in diagnostics.items:
        if d.code not in CODES or d.code == "E0001":
            _finding(f"target reported {d.code}: {d.message}")
    for artifact in artifacts:
        _check_artifact(artifact.path, artifact.content)


def fuzz_one_input(data: bytes) -> None:
    """The atheris entry point: any exception is a finding (libFuzzer saves the input)."""
    run_one(data)


def make_corpus(folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted((REPO / "examples").rglob("*.integ")) + sorted((REPO / "tests" / "data").rglob("*.integ"))
    for source in sources:
        data = source.read_bytes()
        (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)
    return len(sources)


def main(argv: list[str]) -> int:
    if argv[1:2] == ["--make-corpus"]:
        count = make_corpus(Path(argv[2] if len(argv) > 2 else REPO / "fuzz" / "corpus"))
        print(f"wrote {count} seeds")
        return 0
    if argv[1:2] == ["--replay"]:
        for name in argv[2:]:
            run_one(Path(name).read_bytes())
            print(f"{name}: handled")
        return 0
    if atheris is None:
        print("atheris is not installed (pip install atheris); see fuzz/README.md", file=sys.stderr)
        return 2
    atheris.Setup(argv, fuzz_one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
