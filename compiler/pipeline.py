"""The compiler's stages in order: config -> load+parse -> resolve -> check -> IR."""
from __future__ import annotations

import gc
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

from integc.config import CONFIG_NAME, MAX_CONFIG_BYTES, ProjectConfig, display_path, load_config, locate_project
from integc.diagnostics import Diagnostics
from integc.loader import LoadedProject, load_project

if TYPE_CHECKING:  # the stages import their modules when they run: `integc.build` stays light
    from integc import ir
    from integc.resolve import Symbols


@dataclass
class CompileResult:
    project: ir.Project | None  # None when there were errors
    diagnostics: Diagnostics
    config: ProjectConfig | None
    sources: dict[str, str] = field(default_factory=dict)  # display path -> text, for rendering
    loaded: LoadedProject | None = field(default=None, repr=False)  # the files read (for the build cache)


def compile_project(path: str | Path, out: str | Path | None = None, cache=None,
                    reuse_parsed: bool = False) -> CompileResult:
    """Compile the project at `path` (a folder or an entry file).

    Raises config.UsageError for command-line mistakes (no such path); every
    problem in the sources is a diagnostic in the result. `cache` (an
    integc.cache.BuildCache) lends files parsed by an earlier build; with
    `reuse_parsed`, the build cache of the project's output folder does, read
    only (`integc check` after a build parses only the files that changed).
    """
    with gc_paused():
        diagnostics = Diagnostics()
        config = load_config(path, diagnostics, out)
        if cache is None and reuse_parsed and config is not None:
            from integc.cache import BuildCache

            cache = BuildCache.open(config.out, writable=False)
        return compile_config(path, config, diagnostics, cache)


def compile_config(path: str | Path, config: ProjectConfig | None, diagnostics: Diagnostics,
                   cache=None, meanwhile=None) -> CompileResult:
    """Compile with a configuration already loaded by `load_config(path, diagnostics, ...)`;
    `meanwhile` as for `load_project`."""
    with gc_paused():
        settings = config_sources(path)
        if config is None:
            return CompileResult(None, diagnostics, None, settings)
        # A compilation that stores no trees (`integc check`) lets the worker that parses part of
        # the files resolve their systems too: outlines and IR cross the pipe instead of trees. (A
        # build's `meanwhile` would hold up this process's half of the files.)
        loaded = load_project(config, diagnostics, cache, meanwhile,
                              share_resolve=(cache is None or not cache.writable) and meanwhile is None)
        try:
            if cache is not None:
                cache.start_storing()
            result = CompileResult(None, diagnostics, config, {**settings, **loaded.texts})
            result.loaded = loaded
            if not loaded.complete:
                return result
            result.project = _analyse(loaded, config, diagnostics)
            return result
        finally:
            loaded.release()


def _analyse(loaded: LoadedProject, config: ProjectConfig, diagnostics: Diagnostics) -> ir.Project | None:
    symbols = resolve_stage(loaded, config, diagnostics)
    return check_stage(symbols, loaded, config, diagnostics)


# The stages one by one (bench/phases.py times them separately).

def resolve_stage(loaded: LoadedProject, config: ProjectConfig, diagnostics: Diagnostics) -> Symbols:
    from integc.resolve import Resolver

    if loaded.reuse is not None:
        loaded.reuse.start_sharing(loaded.modules)
    return Resolver(loaded.modules, display_path(config.entry), diagnostics, loaded.reuse).run()


def check_stage(symbols: Symbols, loaded: LoadedProject, config: ProjectConfig,
                diagnostics: Diagnostics) -> ir.Project | None:
    """Check the flows and assemble the IR (None when there were errors)."""
    from integc import ir
    from integc.check import Checker

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


def config_sources(path: str | Path) -> dict[str, str]:
    """{display path: text} of the project's integc.toml, if it has one (for rendering diagnostics)."""
    config_file = locate_project(path)[0] / CONFIG_NAME
    if config_file.is_symlink() or not config_file.is_file() or config_file.stat().st_size > MAX_CONFIG_BYTES:
        return {}  # never shown: a link may point at anything (load_config refuses it)
    return {display_path(config_file): config_file.read_text(encoding="utf-8", errors="replace")}


def _default_package(root: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", root.name) or "project"
