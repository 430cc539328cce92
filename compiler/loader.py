"""Load a project: the entry file and everything it imports, each file once.

Imports are relative to the importing file and may form cycles. A path that
leaves the project folder (`..`, absolute, a symlink out) is E0402 and is
checked before anything touches the file system at that path.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from typing import TYPE_CHECKING, Callable

from integc.config import ProjectConfig, display_path
from integc.diagnostics import Diagnostics, Span

if TYPE_CHECKING:  # imported when a project is loaded: the build cache's checks need none of it
    from integc import syntax as s


@dataclass(frozen=True)
class LoadedProject:
    modules: tuple[s.Module, ...]  # in load order, entry first
    texts: dict[str, str]  # display path -> source text (for rendering diagnostics)
    hashes: dict[str, str]  # project-relative POSIX path -> sha256 of the bytes
    complete: bool  # every file was read and parsed
    # For the build cache: each file read (resolved path, display path, sha256 of its raw bytes) and
    # each import followed (importing file, the path as written, the file it resolved to).
    files: tuple[tuple[Path, str, str], ...] = ()
    imports: tuple[tuple[Path, str, Path], ...] = ()
    # With a build cache: what earlier builds resolved; some modules are then only outlines. With
    # a worker that resolves part of the project, too (`load_project(..., share_resolve=True)`).
    reuse: ResolutionReuse | None = field(default=None, compare=False, repr=False)

    def release(self) -> None:
        """Let go of the workers that kept parsed files for resolve (asked or not)."""
        if self.reuse is not None:
            self.reuse.release()


def load_project(config: ProjectConfig, diagnostics: Diagnostics, cache=None,
                 meanwhile: Callable[[], object] | None = None, share_resolve: bool = False) -> LoadedProject:
    """Read and parse the entry file and everything it imports.

    `cache` (an integc.cache.BuildCache) supplies files parsed by an earlier
    build from the same text, and keeps the ones parsed now. `meanwhile` (work
    a later stage needs, such as preparing the targets) runs in this process
    while other cores parse, if the files are parsed on several cores.

    With `share_resolve` (a compilation that stores no trees), the worker that
    parses part of the first wave keeps those trees and sends their outlines;
    it resolves their systems later (ResolutionReuse.start_sharing), so those
    modules are outlines here. The caller ends it with `LoadedProject.release`.
    """
    from integc import syntax as s

    modules: list[s.Module] = []
    texts: dict[str, str] = {}
    hashes: dict[str, str] = {}
    files: list[tuple[Path, str, str]] = []
    imports: list[tuple[Path, str, Path]] = []
    complete = True
    total_bytes = 0
    seen: set[Path] = set()
    queue: list[Path] = [config.entry]
    prefetched: dict[Path, _Prefetched | None] = {}
    reuse = ResolutionReuse(cache, config) if cache is not None or share_resolve else None
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        if path not in prefetched:
            keeping = reuse if share_resolve and not reuse.keepers else None  # the first wave only
            wave = _prefetch([path] + queue, seen, config, cache, total_bytes, meanwhile, keeping)
            if wave is not None:
                prefetched, meanwhile = wave, None  # run by the first wave, if it is parsed on several cores
        shown = display_path(path)
        if len(seen) > config.limits.max_files:
            diagnostics.report("E0104", f"the project has more than {config.limits.max_files} files",
                               Span(shown, 1, 1, 1, 1), help="raise `[limits] max_files` in integc.toml")
            return LoadedProject(tuple(modules), texts, hashes, False, tuple(files), tuple(imports), reuse)
        early = prefetched.pop(path, None)
        read = early.read if early is not None else _read_source(path, shown, config, diagnostics)
        if read is None:
            complete = False
            continue
        text, raw_digest, digest = read
        total_bytes += len(text)
        if total_bytes > config.limits.max_project_bytes:
            diagnostics.report("E0104", f"the project's sources are over {config.limits.max_project_bytes} bytes",
                               Span(shown, 1, 1, 1, 1), help="raise `[limits] max_project_bytes` in integc.toml")
            return LoadedProject(tuple(modules), texts, hashes, False, tuple(files), tuple(imports), reuse)
        files.append((path, shown, raw_digest))
        texts[shown] = text
        hashes[path.relative_to(config.root).as_posix()] = digest
        module = _parse(text, shown, digest, config, diagnostics, cache, early, reuse, len(modules))
        if module is None:
            complete = False
            continue
        modules.append(module)
        for declaration in module.declarations:
            if isinstance(declaration, s.Import):
                target = _resolve_import(declaration, path, config.root, diagnostics)
                if target is None:
                    complete = False
                else:
                    imports.append((path, declaration.path.value, target))
                    if target not in seen:
                        queue.append(target)
    return LoadedProject(tuple(modules), texts, hashes, complete, tuple(files), tuple(imports), reuse)


def _parse(text: str, shown: str, digest: str, config: ProjectConfig, diagnostics: Diagnostics,
           cache, early: _Prefetched | None = None, reuse: ResolutionReuse | None = None,
           index: int = 0) -> s.Module | None:
    """The module (or, from the build cache, its outline: see ResolutionReuse) of one file."""
    parsed = early.parsed if early is not None else None
    if early is not None and early.kept is not None:  # an outline: a worker kept the tree
        diagnostics.items.extend(parsed[1])
        if parsed[0] is not None:
            key = cache.module_key(shown, digest, config.limits.max_depth) if cache is not None else ""
            reuse.shared(index, early.kept, key, text, shown, parsed[1])
        return parsed[0]
    if cache is None:
        if parsed is not None:
            module, found = parsed
        else:
            parse_diagnostics = Diagnostics()
            module, found = _parse_text(text, shown, config, parse_diagnostics), parse_diagnostics.items
        diagnostics.items.extend(found)
        if module is not None and reuse is not None:  # resolve is shared with a worker
            reuse.loaded(index, "", module, found)
        return module
    key = cache.module_key(shown, digest, config.limits.max_depth)
    outlined = reuse.outline(index, key, text, shown) if reuse is not None and parsed is None else None
    if outlined is not None:
        diagnostics.items.extend(outlined[1])
        return outlined[0]
    cached = cache.load_module(key) if parsed is None else None
    if cached is not None:
        module, found = cached
    else:
        found = Diagnostics()
        if parsed is None:
            module = _parse_text(text, shown, config, found)
        else:
            module, found.items = parsed[0], list(parsed[1])
        found = found.items
        if module is not None:
            cache.remember_module(key, module, found)
    diagnostics.items.extend(found)
    if module is not None and reuse is not None:
        reuse.loaded(index, key, module, found)
    return module


def _parse_text(text: str, shown: str, config: ProjectConfig, diagnostics: Diagnostics) -> s.Module | None:
    from integc.parser import parse_module

    return parse_module(text, shown, diagnostics, config.limits.max_depth)


# ---------------------------------------------------------------- reusing what earlier builds resolved

def outline(module: s.Module) -> s.Module:
    """The module with each system's body left out: what the resolver needs of a file whose
    systems it does not resolve again (names, types, enums, flows, imports)."""
    from integc import syntax as s

    return s.Module(module.path, tuple(s.System(d.name, (), d.doc, d.span) if isinstance(d, s.System) else d
                                       for d in module.declarations), module.span)


class ResolutionReuse:
    """The resolver's view of the build cache (integc.resolve.EarlierResolutions).

    A file unchanged since a build that resolved it is loaded as its outline,
    with what resolving its systems gave then (integc.resolve.Resolved): far
    fewer objects to load than its tree. The resolver takes that when nothing
    it depends on changed, and asks for the whole tree otherwise.
    """

    def __init__(self, cache, config: ProjectConfig):
        self._cache = cache  # None: no build cache, only a worker's share (`shared`)
        self._config = config
        self._files: dict[int, tuple[str, str, str]] = {}  # index -> (module key, text, display path)
        self._parse_diagnostics: dict[int, list] = {}
        self._trees: dict[int, s.Module] = {}
        self._earlier: dict = {}
        self.keepers: list = []  # integc.workers.Keeper: workers keeping trees of files they parsed
        self._shared: dict[int, tuple[object, int]] = {}  # index -> (keeper, its unit index)

    def outline(self, index: int, key: str, text: str, shown: str) -> tuple[s.Module, list] | None:
        """(outline, parse diagnostics) of the file, when an earlier build resolved it."""
        entry = self._cache.load_resolved(key)
        if entry is None:
            return None
        module, found, self._earlier[index] = entry
        self._files[index] = (key, text, shown)
        self._parse_diagnostics[index] = found
        return module, found

    def loaded(self, index: int, key: str, module: s.Module, found: list) -> None:
        """The loader parsed the file (or took its tree from the cache)."""
        self._files[index] = (key, "", "")
        self._parse_diagnostics[index] = found
        self._trees[index] = module

    def shared(self, index: int, kept: tuple[object, int], key: str, text: str, shown: str, found: list) -> None:
        """Module `index` is the outline of a file a worker parsed and kept (`kept`: the worker
        and the file's unit there)."""
        self._shared[index] = kept
        self._files[index] = (key, text, shown)
        self._parse_diagnostics[index] = found

    def start_sharing(self, modules: tuple[s.Module, ...]) -> None:
        """Ask each worker to resolve the systems of the files it kept, in this project (the other
        modules sent as outlines), while this process resolves the rest."""
        for keeper in self.keepers:
            units = {index: unit for index, (owner, unit) in self._shared.items() if owner is keeper}
            request = (tuple(None if i in units else outline(m) for i, m in enumerate(modules)),
                       display_path(self._config.entry), units)
            keeper.send(request)

    def earlier(self, index: int):
        if index in self._shared:  # waits for the worker's answer
            return self._shared[index][0].answer(index)
        return self._earlier.get(index)

    def enums(self, index: int):
        earlier = self._earlier.get(index)
        return earlier.enums if earlier is not None else None

    def release(self) -> None:
        for keeper in self.keepers:
            keeper.close()

    def full(self, index: int) -> s.Module:
        tree = self._trees.get(index)
        if tree is None:
            key, text, shown = self._files[index]
            cached = self._cache.load_module(key) if self._cache is not None and key else None
            if cached is not None:
                tree = cached[0]
            else:  # the tree's entry is gone: parse again (the diagnostics were reported already)
                tree = _parse_text(text, shown, self._config, Diagnostics())
                if self._cache is not None and key:
                    self._cache.remember_module(key, tree, self._parse_diagnostics[index])
            self._trees[index] = tree
        return tree

    def keep(self, index: int, resolved) -> None:
        if self._cache is not None and self._files[index][0]:
            self._cache.remember_resolved(self._files[index][0],
                                          (outline(self.full(index)), self._parse_diagnostics[index], resolved))


# ---------------------------------------------------------------- parsing a wave of files on every core

# Fewer files than this are parsed one by one: forking costs more than it saves.
PREFETCH_MIN_FILES = 16


@dataclass(frozen=True)
class _Prefetched:
    """A file read (and, unless the build cache has it, parsed) ahead of the loader's loop."""
    read: tuple[str, str, str]  # (text, SHA-256 of the bytes, of the text), as `_read_source` returns them
    parsed: tuple | None  # (module or None, parse diagnostics), or None: not parsed here
    kept: tuple[object, int] | None = None  # (worker, unit): `parsed` holds an outline, the worker the tree


def _prefetch(paths: list[Path], seen: set[Path], config: ProjectConfig, cache, total_bytes: int,
              meanwhile: Callable[[], object] | None,
              keeping: ResolutionReuse | None = None) -> dict[Path, _Prefetched | None] | None:
    """Read the files waiting in the loader's queue and parse them on every core, or None when
    they are too few (or there is one core). The loader then takes each file from here instead
    of reading and parsing it: the same text, the same tree and diagnostics, in its own order.

    Files are taken in order while the limits on files and bytes allow. A file that cannot be
    read is None here: the loader reads it again and reports why. A file the build cache has
    is read, not parsed. With `keeping`, the worker parses the last files of the wave and keeps
    their trees, sending outlines (integc.workers.Keeper); `keeping` then holds the worker.
    """
    from integc.workers import processes_for

    if len(paths) < PREFETCH_MIN_FILES or processes_for(len(paths)) < 2:
        return None
    room = config.limits.max_files - len(seen) + 1  # the loader's E0104 limit, counting paths[0]
    wanted = list(dict.fromkeys(p for i, p in enumerate(paths) if i == 0 or p not in seen))[:max(room, 0)]
    if len(wanted) < PREFETCH_MIN_FILES:
        return None
    reads: dict[Path, tuple[str, str] | None] = {}
    for path in wanted:
        read = _read_source(path, display_path(path), config, Diagnostics())
        if read is not None:
            total_bytes += len(read[0])
            if total_bytes > config.limits.max_project_bytes:
                break
        reads[path] = read
    to_parse = [path for path, read in reads.items()
                if read is not None and not _cached(cache, path, read[2], config)]
    prefetched = {path: None if read is None else _Prefetched(read, None) for path, read in reads.items()}
    if len(to_parse) < PREFETCH_MIN_FILES:
        return prefetched
    from integc.cache import ast_dispatch_table
    from integc.workers import Keeper, run_units

    jobs = [_ParseJob(reads[path][0], display_path(path), config) for path in to_parse]
    if keeping is None:
        results, _ = run_units(jobs, dispatch_table=ast_dispatch_table(), meanwhile=meanwhile)
        keeper = None
    else:
        from integc.cache import resolved_dispatch_table

        results, keeper = Keeper.share(jobs, [len(job.text) for job in jobs], _outline_result, _resolve_kept,
                                       resolved_dispatch_table(), meanwhile)
        if keeper is not None:
            keeping.keepers.append(keeper)
    for i, (path, (modules, found)) in enumerate(zip(to_parse, results)):
        kept = (keeper, i) if keeper is not None and i in keeper.indices else None
        prefetched[path] = _Prefetched(reads[path], (modules[0], found), kept)
    return prefetched


def _outline_result(result: tuple[list, list]) -> tuple[list, list]:
    """What a worker that keeps a parsed file sends back: its outline (and parse diagnostics)."""
    modules, found = result
    return [outline(modules[0]) if modules[0] is not None else None], found


def _resolve_kept(kept: dict[int, tuple[list, list]], request: tuple, answer: Callable[[int, object], None]) -> None:
    """In the worker: resolve the systems of the files it kept (`request`: every module of the
    project, None where it has the tree; the entry file; module index -> its unit index),
    answering each module's integc.resolve.Resolved by its index as soon as it is made."""
    from integc.resolve import resolve_share

    modules, entry_file, units = request
    modules = tuple(kept[units[i]][0][0] if m is None else m for i, m in enumerate(modules))
    resolve_share(modules, entry_file, set(units), answer)


def _cached(cache, path: Path, text_digest: str, config: ProjectConfig) -> bool:
    if cache is None:
        return False
    return cache.has_module(cache.module_key(display_path(path), text_digest, config.limits.max_depth))


@dataclass(frozen=True)
class _ParseJob:
    """One file to parse, as a unit of work for `integc.workers` (its one "artifact" is the tree)."""
    text: str
    shown: str
    config: ProjectConfig

    def emit(self, diagnostics: Diagnostics) -> list:
        return [_parse_text(self.text, self.shown, self.config, diagnostics)]


def decode_source(data: bytes) -> str:
    """The text of a source file that `_read_source` accepted (BOM dropped, newlines normalised)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


def _read_source(path: Path, shown: str, config: ProjectConfig,
                 diagnostics: Diagnostics) -> tuple[str, str, str] | None:
    """(text, SHA-256 of the file's bytes, SHA-256 of the text in UTF-8), or None after reporting why
    the file cannot be used."""
    origin = Span(shown, 1, 1, 1, 1)
    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):
            diagnostics.report("E0103", "not a regular file (a device, pipe or socket cannot be a source)", origin)
            return None
        limit = config.limits.max_file_bytes
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)  # the size may change between stat and read
        if len(data) > limit:
            diagnostics.report("E0104", f"file is over the limit of {limit} bytes",
                               origin, help="raise `[limits] max_file_bytes` in integc.toml")
            return None
    except OSError as error:
        diagnostics.report("E0103", f"cannot read file: {error.strerror or error}", origin)
        return None
    raw_digest = hashlib.sha256(data).hexdigest()
    bom = data.startswith(b"\xef\xbb\xbf")
    if bom:
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        diagnostics.report("E0103", f"file is not valid UTF-8 (byte 0x{data[error.start]:02x})",
                           Span(shown, line, column, line, column + 1), help="save the file as UTF-8")
        return None
    if "\x00" in text:
        offset = text.index("\x00")
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        diagnostics.report("E0103", "file contains a NUL byte", Span(shown, line, column, line, column + 1))
        return None
    if not bom and b"\r" not in data:  # the text is the bytes read (strict UTF-8 encodes back to them)
        return text, raw_digest, raw_digest
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, raw_digest, hashlib.sha256(text.encode("utf-8")).hexdigest()


def _resolve_import(declaration: s.Import, importer: Path, root: Path, diagnostics: Diagnostics) -> Path | None:
    """The file an import names, or None after reporting E0401/E0402."""
    raw = declaration.path.value
    span = declaration.path.span
    relative = PurePosixPath(raw.replace("\\", "/"))
    if not raw or relative.is_absolute() or (len(raw) > 1 and raw[1] == ":") or "\x00" in raw:
        diagnostics.report("E0402", f"import `{raw}` is not a path relative to the importing file", span,
                           help="imports are relative to the importing file and stay inside the project folder")
        return None
    # Normalise lexically first: `..` that climbs above the project is refused
    # without asking the file system anything about that path.
    candidate = Path(os.path.normpath(importer.parent / Path(*relative.parts)))
    if not _is_within(candidate, root):
        diagnostics.report("E0402", f"import `{raw}` leaves the project folder", span,
                           help=f"keep imported files under {root.name}/")
        return None
    try:
        real = candidate.resolve()
        is_file = real.is_file()
    except (OSError, RuntimeError) as error:  # a link loop, a name too long for the file system
        diagnostics.report("E0401", f"cannot read imported file `{raw}`: {getattr(error, 'strerror', None) or error}",
                           span)
        return None
    if not _is_within(real, root):
        diagnostics.report("E0402", f"import `{raw}` resolves outside the project folder (through a symbolic link)",
                           span, help=f"keep imported files under {root.name}/")
        return None
    if not is_file:
        diagnostics.report("E0401", f"cannot find imported file `{raw}`", span,
                           help=_missing_help(candidate))
        return None
    return real


def import_target(raw: str, importer: Path, root: Path) -> Path | None:
    """The file `import "raw"` in `importer` loads, or None where `_resolve_import` would report
    E0401/E0402 (the same steps, without diagnostics: the build cache re-checks recorded imports)."""
    relative = PurePosixPath(raw.replace("\\", "/"))
    if not raw or relative.is_absolute() or (len(raw) > 1 and raw[1] == ":") or "\x00" in raw:
        return None
    candidate = Path(os.path.normpath(importer.parent / Path(*relative.parts)))
    if not _is_within(candidate, root):
        return None
    try:
        real = candidate.resolve()
        if not _is_within(real, root) or not real.is_file():
            return None
    except (OSError, RuntimeError):
        return None
    return real


def _missing_help(candidate: Path) -> str | None:
    from integc.suggest import closest

    names = _integ_files_in(candidate.parent)
    if not names or len(names) > 1000:  # a suggestion is help, not worth a slow build
        return None
    match = closest(candidate.name, names)
    return f"did you mean `{match}`?" if match else None


@lru_cache(maxsize=256)
def _integ_files_in(folder: Path) -> tuple[str, ...]:
    try:
        return tuple(sorted(p.name for p in folder.iterdir() if p.suffix == ".integ"))
    except OSError:
        return ()


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True
