"""`integc build`: compile, run every enabled target, write the output atomically."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING, Callable

from integc.config import ProjectConfig, UsageError, key_span, load_config
from integc.diagnostics import Diagnostic, Diagnostics, Span, diagnostic_from_json, diagnostic_json
from integc.pipeline import CompileResult, compile_config, gc_paused

if TYPE_CHECKING:  # the targets and the writer are imported when a build needs them, not when
    from integc import ir  # nothing changed since the last one
    from integc.targets import Artifact

IR_FILE = "ir.json"


@dataclass
class BuildResult:
    compiled: CompileResult
    written: list[str] = field(default_factory=list)
    out: Path | None = None
    # True when nothing had changed since the previous build of this output folder: its output was
    # kept as it is, its diagnostics reported again, and nothing was compiled (compiled.project is None).
    reused: bool = False
    # True when it compiled with the last build of this output folder to reuse from (its record).
    incremental: bool = False

    @property
    def diagnostics(self) -> Diagnostics:
        return self.compiled.diagnostics


def build_project(path: str | Path, out: str | Path | None = None, emit_ir: bool = False,
                  strict: bool = False, incremental: bool = True) -> BuildResult:
    """Compile, emit every target, write the output folder atomically.

    With `incremental` (the default) the build uses the cache beside the
    output folder (integc.cache): when nothing changed since the last build it
    reports that build's diagnostics and keeps its output (`reused`); else
    files parsed before are not parsed again. The output is byte for byte
    what a cold build writes.
    """
    with gc_paused():
        return _build(path, out, emit_ir, strict, incremental)


def _build(path: str | Path, out: str | Path | None, emit_ir: bool, strict: bool,
           incremental: bool) -> BuildResult:
    diagnostics = Diagnostics()
    config = load_config(path, diagnostics, out)
    cache = None
    preparation = _Preparation(config)
    fingerprint = ""
    previous: dict[str, tuple] = {}
    if incremental and config is not None and _out_folder_problem(config) is None:
        from integc import cache as build_cache

        cache = build_cache.BuildCache.open(config.out)
        if cache is not None:
            fingerprint = _record_key(config, emit_ir, strict)
            reused = _reuse(cache, fingerprint, path, config, diagnostics)
            if reused is not None:
                return reused
            previous = _previous_outputs(cache, fingerprint, config)
            if previous and _session(cache) is None:
                preparation.start_helper()  # (a session has prepared them in its first build)
    try:
        return _compile_and_emit(path, config, diagnostics, cache, fingerprint, previous, emit_ir, strict,
                                 preparation)
    finally:
        preparation.close()


def _compile_and_emit(path: str | Path, config: ProjectConfig | None, diagnostics: Diagnostics, cache,
                      fingerprint: str, previous: dict[str, tuple], emit_ir: bool, strict: bool,
                      preparation: _Preparation) -> BuildResult:
    """The build after the check that nothing changed: `previous` is the last build's outputs
    (`_previous_outputs`; {} without a build cache)."""
    # The targets are prepared here while other cores parse, if they do (then the helper is not needed).
    compiled = compile_config(path, config, diagnostics, cache, meanwhile=preparation.here)
    result = BuildResult(compiled, incremental=bool(previous))
    from integc.targets import Artifact
    from integc.writer import OutputError, StagedOutput

    project = compiled.project
    staged = None
    try:
        if project is None or config is None:
            return result
        _check_out_folder(config)
        try:
            staged = StagedOutput(config.out, previous)
        except (OutputError, OSError) as error:
            raise UsageError(f"cannot write {config.out}: {error}") from None
        emitted, emitted_units = _emit_staged(project, config, diagnostics, staged, cache, previous, preparation)
        if emit_ir:
            staged.adopt(staged.write([Artifact(IR_FILE, ir_json_bytes(project, config.root))]))
            emitted.append(IR_FILE)
        _check_collisions(emitted, diagnostics)
        if diagnostics.has_errors or (strict and diagnostics.items):
            return result
        inputs = {source.path: source.sha256 for source in project.sources}
        if config.config_file is not None:
            inputs["integc.toml"] = hashlib.sha256(config.config_file.read_bytes()).hexdigest()
        try:
            result.written = staged.commit(inputs)
            sha256s = staged.sha256s()
        except (OutputError, OSError) as error:
            raise UsageError(f"cannot write {config.out}: {error}") from None
        staged = None
        result.out = config.out
        if cache is not None:
            record = _record(fingerprint, config, compiled, result, sha256s)
            _remember_units(cache, record, emitted_units)
            cache.commit(record)
            cache = None
        return result
    finally:
        if staged is not None:
            staged.discard()
        if cache is not None:
            cache.commit()  # the parsed files, for the next build


# ---------------------------------------------------------------- reusing the previous build

def _record_key(config: ProjectConfig, emit_ir: bool, strict: bool) -> str:
    """Everything besides the sources that decides what a build writes and reports."""
    from integc.cache import compiler_fingerprint
    from integc.targets import plugin_entry_points

    plugins = sorted((e.name, e.value, getattr(getattr(e, "dist", None), "version", None) or "")
                     for e in plugin_entry_points())
    settings = config.config_file.read_bytes() if config.config_file is not None else b""
    parts = [compiler_fingerprint(), os.getcwd(), str(config.root), str(config.entry), str(config.out),
             repr((emit_ir, strict)), hashlib.sha256(settings).hexdigest(), repr(plugins)]
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def _record(fingerprint: str, config: ProjectConfig, compiled: CompileResult, result: BuildResult,
            sha256s: dict[str, str]) -> dict:
    """What the next build checks to know that nothing changed, and what it then reports."""
    from integc.cache import output_stamp

    loaded = compiled.loaded
    out = str(config.out)
    outputs = []
    for relative in result.written:
        outputs.append([relative, *output_stamp(os.stat(f"{out}/{relative}")), sha256s[relative]])
    return {
        "key": fingerprint,
        "inputs": [[str(path), shown, digest] for path, shown, digest in loaded.files],
        "imports": [[str(importer), raw, str(target)] for importer, raw, target in loaded.imports],
        "outputs": outputs,
        "written": list(result.written),
        "diagnostics": [diagnostic_json(d) for d in compiled.diagnostics.items],
    }


def _reuse(cache, fingerprint: str, path: str | Path, config: ProjectConfig,
           diagnostics: Diagnostics) -> BuildResult | None:
    """The previous build's result when nothing it depends on changed, else None."""
    from integc.cache import output_stamp
    from integc.loader import decode_source, import_target
    from integc.pipeline import config_sources

    record = cache.load_record()
    if record is None or record.get("key") != fingerprint or diagnostics.items:
        return None
    texts: dict[str, str] = {}
    try:
        for real, shown, digest in record["inputs"]:
            data = Path(real).read_bytes()
            if hashlib.sha256(data).hexdigest() != digest:
                return None
            texts[shown] = decode_source(data)
        for importer, raw, target in record["imports"]:
            if str(import_target(raw, Path(importer), config.root)) != target:
                return None
        for relative, size, inode, mtime, ctime, digest in record["outputs"]:
            target = config.out / relative
            stat = os.stat(target)
            if output_stamp(stat) != (size, inode, mtime, ctime) \
                    and (stat.st_size != size or hashlib.sha256(target.read_bytes()).hexdigest() != digest):
                return None
        replayed = [diagnostic_from_json(d) for d in record["diagnostics"]]
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    diagnostics.items.extend(replayed)
    compiled = CompileResult(None, diagnostics, config, {**config_sources(path), **texts})
    return BuildResult(compiled, list(record["written"]), config.out, reused=True)


def ir_json_bytes(project: ir.Project, root: Path) -> bytes:
    """ir.json, with span files relative to the project folder."""
    from integc import ir

    def relative(file: str) -> str:
        path = Path(file).resolve()
        return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name

    document = ir.to_json(project, relative)
    # ASCII with \u escapes: bidi and invisible characters from the sources stay visible in reviews.
    return (json.dumps(document, indent=2, ensure_ascii=True, sort_keys=False) + "\n").encode("utf-8")


def emit_all(project: ir.Project, config: ProjectConfig, diagnostics: Diagnostics) -> list[Artifact]:
    """Every enabled target's artifacts, in memory, in unit order; the units emitted on every core.
    (A build does not hold them: `_emit_staged` has each worker write its own.)"""
    from integc.workers import run_units

    units = [unit for _, _, unit in target_units(project, config, diagnostics)]
    artifacts: list[Artifact] = []
    for unit_artifacts, unit_diagnostics in run_units(units)[0]:
        artifacts.extend(unit_artifacts)
        diagnostics.items.extend(unit_diagnostics)
    return artifacts


def _emit_staged(project: ir.Project, config: ProjectConfig, diagnostics: Diagnostics, staged, cache, previous: dict,
                 preparation: _Preparation) -> tuple[list[str], list[tuple[str, list[str], list[Diagnostic]]]]:
    """Emit every unit into `staged`, or link its files from the previous build when its inputs
    and those files are unchanged. Returns the paths, in unit order, and the units emitted now
    (cache key, paths, diagnostics) for the cache."""
    from integc.cache import STORE_AHEAD_MIN_MODULES, DigestMemo
    from integc.workers import run_units

    entries = target_units(project, config, diagnostics)
    kept = _session(cache)
    memo = cache.digests if cache is not None else DigestMemo()

    def keys_of(indices) -> dict[int, str]:
        return {i: cache.unit_key(entries[i][0], entries[i][1], entries[i][2].key, entries[i][2].inputs, memo)
                for i in indices if cache is not None and entries[i][2].inputs is not None}

    # With a previous build to reuse from, the keys decide what to emit; without one (a cold build)
    # they are only stored for next time, and a worker computes them while the others emit. The
    # systems and enums of the files resolved before come with their digests (integc.cache), so
    # that only what changed is digested here. In a session the memo is kept for the next build.
    keys = keys_of(range(len(entries))) if kept is not None or previous else {}
    if kept is not None:
        kept.digests = memo
    paths: list[list[str]] = [[] for _ in entries]
    todo = []
    links: list[tuple[str, str, str, int]] = []
    out = str(config.out)
    for i in range(len(entries)):
        reused = _reuse_unit(cache, keys[i], previous, links, out) if i in keys else None
        if reused is None:
            todo.append(i)
        else:
            paths[i], found = reused
            diagnostics.items.extend(found)
    preparation.before_emitting(len(todo))
    linked = staged.link(links)  # many files: a worker links them while the changed units are emitted
    first_of_target = tuple(position for position, i in enumerate(todo)
                            if position == 0 or entries[todo[position - 1]][0] != entries[i][0])
    # In a cold build the units' keys are only stored for next time: a worker computes them while
    # the others emit (with a previous build they were needed first). The same worker stores the
    # files resolved now, when there are many.
    side_jobs: dict[str, Callable[[], object]] = {}
    if cache is not None and not previous and kept is None:
        side_jobs["keys"] = lambda: keys_of(todo)
    if cache is not None and cache.resolved_to_store() >= STORE_AHEAD_MIN_MODULES:
        side_jobs["resolved"] = cache.store_new_resolved
    try:
        results, side = run_units([entries[i][2] for i in todo], on_result=staged.adopt, first=first_of_target,
                                  side_jobs=tuple(side_jobs.values()), sink=staged.write)
    finally:
        linked()
    done = dict(zip(side_jobs, side))
    if "keys" in done:
        keys = done["keys"]
    if "resolved" in done:
        cache.adopt_resolved(done["resolved"])
    emitted = []
    for i, (written, found) in zip(todo, results):
        paths[i] = [path for path, _, _ in written]
        diagnostics.items.extend(found)
        if i in keys:
            emitted.append((keys[i], paths[i], found))
    return [path for unit_paths in paths for path in unit_paths], emitted


def _session(cache):
    """The session of this process (integc.cache.Session) when the build uses a cache, else None."""
    if cache is None:
        return None
    from integc.cache import session

    return session()


def _previous_outputs(cache, fingerprint: str, config: ProjectConfig) -> dict[str, tuple]:
    """The last build's outputs (path -> size, inode, mtime, ctime, SHA-256), when it was made by
    this compiler with these settings into this folder; else {}."""
    record = cache.load_record()
    if record is None or record.get("key") != fingerprint:
        return {}
    try:
        return {relative: (size, inode, mtime, ctime, digest)
                for relative, size, inode, mtime, ctime, digest in record["outputs"]}
    except (KeyError, TypeError, ValueError):
        return {}


def _reuse_unit(cache, key: str, previous: dict, links: list, out: str) -> tuple[list[str], list[Diagnostic]] | None:
    """A unit's files from the last build, when they are exactly what it wrote (added to `links`:
    path, source, SHA-256, size); else None."""
    from integc.cache import intact_output

    entry = cache.load_unit(key)
    if entry is None:
        return None
    try:
        outputs = [(str(path), str(digest), int(size)) for path, digest, size in entry["outputs"]]
        found = [diagnostic_from_json(d) for d in entry["diagnostics"]]
    except (KeyError, TypeError, ValueError):
        return None
    if any(intact_output(previous, out, path, digest, size) is None for path, digest, size in outputs):
        return None
    links.extend((path, f"{out}/{path}", digest, size) for path, digest, size in outputs)
    cache.remember_unit(key, entry)
    return [path for path, _, _ in outputs], found


def _remember_units(cache, record: dict, emitted: list[tuple[str, list[str], list[Diagnostic]]]) -> None:
    written = {relative: (size, digest) for relative, size, _, _, _, digest in record["outputs"]}
    for key, paths, found in emitted:
        cache.remember_unit(key, {"outputs": [[path, written[path][1], written[path][0]] for path in paths],
                                  "diagnostics": [diagnostic_json(d) for d in found]})


def target_units(project: ir.Project, config: ProjectConfig, diagnostics: Diagnostics) -> list[tuple]:
    """(target name, options, unit) for every unit of every enabled target whose options are
    valid, in target order. A target without `units` is one unit (its whole `emit`), never cached.
    """
    import functools

    from integc.targets import Unit, load_targets

    targets = load_targets()
    for name in sorted(set(config.targets) - set(targets)):
        diagnostics.report("E0403", f"integc.toml configures unknown target `{name}`",
                           _config_span(config, name), help=f"the targets are {', '.join(sorted(targets))}")
    units = []
    for name, target in targets.items():
        options = target_options(name, target, config, diagnostics)
        if options is None:
            continue
        if hasattr(target, "units"):
            units.extend((name, options, unit) for unit in target.units(project, options))
        else:
            units.append((name, options, Unit(name, None, functools.partial(target.emit, project, options))))
    return units


class _Preparation:
    """Who loads what the targets' emit needs (their `prepare`), once a build: this process,
    before it forks the workers that emit (they inherit it), or a helper process
    (integc.workers.Helper) forked before the build compiles, which prepares every enabled
    target meanwhile and is lent to the targets that can use one (`use_helper`)."""

    def __init__(self, config: ProjectConfig | None):
        self._config = config
        self._helper = None
        self._done = False

    def start_helper(self) -> None:
        from integc.workers import Helper

        config = self._config
        users = [target for target in _enabled_targets(config) if hasattr(target, "use_helper")]
        self._helper = Helper.start(lambda: prepare_targets(config)) if users else None
        for target in users if self._helper is not None else ():
            target.use_helper(self._helper)

    def here(self) -> None:
        """Prepare the targets in this process (once), and end the helper."""
        self.close()
        if not self._done:
            self._done = True
            prepare_targets(self._config)

    def before_emitting(self, units: int) -> None:
        """The helper serves the units this process emits alone; workers need the targets prepared here."""
        from integc.workers import processes_for

        helped = self._helper is not None and self._helper.alive and processes_for(units) == 1
        if units and not helped:
            self.here()

    def close(self) -> None:
        if self._helper is not None:
            self._helper.close()


def _enabled_targets(config: ProjectConfig) -> list:
    """The targets integc.toml does not disable (`enabled = false`)."""
    from integc.targets import load_targets

    return [target for name, target in load_targets().items() if config.targets.get(name, {}).get("enabled", True)]


def prepare_targets(config: ProjectConfig) -> None:
    """Let each enabled target load what its emit needs (`prepare`, optional): in this process or
    in a helper, as `_Preparation` decides."""
    try:
        for target in _enabled_targets(config):
            if hasattr(target, "prepare"):
                target.prepare()
    except Exception:  # noqa: BLE001 - only a head start: the build meets (and reports) any problem itself
        pass


def emit_target(name: str, target, project: ir.Project, config: ProjectConfig,
                diagnostics: Diagnostics) -> list[Artifact]:
    """One target's artifacts ([] when it is disabled or its options are invalid)."""
    options = target_options(name, target, config, diagnostics)
    return [] if options is None else list(target.emit(project, options, diagnostics))


def target_options(name: str, target, config: ProjectConfig, diagnostics: Diagnostics) -> dict | None:
    """The target's options from integc.toml, validated; None when it is disabled or they are invalid."""
    options = dict(config.targets.get(name, {}))
    if not options.pop("enabled", True):
        return None
    if not options and _accepts_empty_object(target.options_schema):
        return options  # nothing to validate (and no need to import jsonschema)
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(target.options_schema).iter_errors(options),
                    key=lambda e: list(e.absolute_path))
    for error in errors:
        where = ".".join(str(p) for p in error.absolute_path)
        diagnostics.report("E0403", f"invalid option for target `{name}`{f' `{where}`' if where else ''}: "
                                    f"{error.message}", _config_span(config, name))
    return None if errors else options


def _accepts_empty_object(schema: dict) -> bool:
    """True when `{}` is valid for `schema` on its face: an object schema with nothing that could
    require a key (no required, minProperties, combinators, conditionals...)."""
    harmless = {"$schema", "$id", "title", "description", "type", "properties", "additionalProperties"}
    return schema.get("type") == "object" and set(schema) <= harmless


def _check_out_folder(config: ProjectConfig) -> None:
    problem = _out_folder_problem(config)
    if problem is not None:
        raise UsageError(problem)


def _out_folder_problem(config: ProjectConfig) -> str | None:
    from integc.writer import MANIFEST

    out, root = config.out, config.root
    if out == Path(out.anchor) or out == Path.home():
        return f"refusing to use {out} as the output folder"
    if out == root or root.is_relative_to(out):
        return f"the output folder {out} would replace the project's own sources"
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        return f"the output folder {out} is a link or a file; choose another --out"
    if out.is_dir() and _holds_sources(out):
        return f"the output folder {out} holds .integ sources; choose another --out"
    if _foreign_folder(out, MANIFEST):
        return (f"refusing to replace {out}: it is not empty and has no {MANIFEST}, so integc did not make it; "
                f"choose an empty or new --out")
    return None


def _foreign_folder(out: Path, manifest: str) -> bool:
    """A non-empty folder without an integc manifest. One listing of one folder: a concurrent
    build swapping `out` cannot make the answer mix two folders."""
    try:
        entries = os.listdir(out)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return bool(entries) and manifest not in entries


def _holds_sources(folder: Path) -> bool:
    """`any(p.suffix == ".integ" for p in folder.rglob("*.integ"))`, without a Path per file: every
    name below `folder` (symbolic links to folders are listed, not entered), files and folders alike."""
    for _, folders, files in os.walk(folder):
        for name in (*folders, *files):
            if name.endswith(".integ") and len(name) > len(".integ"):
                return True
    return False


def _check_collisions(paths: list[str], diagnostics: Diagnostics) -> None:
    seen: dict[str, str] = {}
    for path in paths:
        folded = path.casefold()
        if folded in seen:
            diagnostics.report("E0801", f"two outputs would be written to `{path}`"
                                        + (f" and `{seen[folded]}`" if seen[folded] != path else ""),
                               None, help="rename one of the declarations they come from")
            continue
        seen[folded] = path


def _config_span(config: ProjectConfig, key: str) -> Span:
    if config.config_file is None:
        return Span("integc.toml", 1, 1, 1, 1)
    return key_span(config.config_file, key)
