"""The compiler's stages in order: config -> load+parse -> resolve -> check -> IR."""
from __future__ import annotations

import gc
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from integc import ir
from integc.check import Checker
from integc.config import CONFIG_NAME, ProjectConfig, display_path, load_config, locate_project
from integc.diagnostics import Diagnostics
from integc.loader import LoadedProject, load_project
from integc.resolve import Resolver


@dataclass
class CompileResult:
    project: ir.Project | None  # None when there were errors
    diagnostics: Diagnostics
    config: ProjectConfig | None
    sources: dict[str, str] = field(default_factory=dict)  # display path -> text, for rendering


def compile_project(path: str | Path, out: str | Path | None = None) -> CompileResult:
    """Compile the project at `path` (a folder or an entry file).

    Raises config.UsageError for command-line mistakes (no such path); every
    problem in the sources is a diagnostic in the result.
    """
    with gc_paused():
        return _compile(path, out)


def _compile(path: str | Path, out: str | Path | None) -> CompileResult:
    diagnostics = Diagnostics()
    config = load_config(path, diagnostics, out)
    config_sources = _config_source(path)
    if config is None:
        return CompileResult(None, diagnostics, None, config_sources)
    loaded = load_project(config, diagnostics)
    result = CompileResult(None, diagnostics, config, {**config_sources, **loaded.texts})
    if not loaded.complete:
        return result
    result.project = _analyse(loaded, config, diagnostics)
    return result


def _analyse(loaded: LoadedProject, config: ProjectConfig, diagnostics: Diagnostics) -> ir.Project | None:
    symbols = Resolver(loaded.modules, display_path(config.entry), diagnostics).run()
    flows = Checker(symbols, diagnostics).check_flows()
    if diagnostics.has_errors:
        return None
    package = symbols.package
    name = package.name.text if package else _default_package(config.root)
    version = package.version.value if package else "0.0.0"
    return ir.Project(
        name, version,
        tuple(symbols.types.values()), tuple(symbols.enums.values()), tuple(symbols.systems.values()), flows,
        tuple(ir.SourceFile(path, digest) for path, digest in sorted(loaded.hashes.items())))


@contextmanager
def gc_paused():
    """Hold the cyclic garbage collector while a compilation allocates.

    A compilation builds hundreds of thousands of small acyclic objects (AST,
    IR), all alive until it ends: the collector would walk them again and
    again as they accumulate (over a third of the front end's time at N=200)
    and find nothing to free. Reference counting still frees everything as
    usual; the collector is back on as soon as the block ends.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _config_source(path: str | Path) -> dict[str, str]:
    config_file = locate_project(path)[0] / CONFIG_NAME
    if not config_file.is_file():
        return {}
    return {display_path(config_file): config_file.read_text(encoding="utf-8", errors="replace")}


def _default_package(root: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", root.name) or "project"
