"""`integc build`: compile, run every enabled target, write the output atomically."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema

from integc import ir
from integc.config import ProjectConfig, UsageError, key_span
from integc.diagnostics import Diagnostics, Span
from integc.pipeline import CompileResult, compile_project
from integc.targets import Artifact, load_targets
from integc.writer import OutputError, write_build

IR_FILE = "ir.json"


@dataclass
class BuildResult:
    compiled: CompileResult
    written: list[str] = field(default_factory=list)
    out: Path | None = None

    @property
    def diagnostics(self) -> Diagnostics:
        return self.compiled.diagnostics


def build_project(path: str | Path, out: str | Path | None = None, emit_ir: bool = False,
                  strict: bool = False) -> BuildResult:
    compiled = compile_project(path, out)
    result = BuildResult(compiled)
    config, project, diagnostics = compiled.config, compiled.project, compiled.diagnostics
    if project is None or config is None:
        return result
    _check_out_folder(config)
    artifacts = emit_all(project, config, diagnostics)
    if emit_ir:
        artifacts.append(Artifact(IR_FILE, ir_json_bytes(project)))
    _check_collisions(artifacts, diagnostics)
    if diagnostics.has_errors or (strict and diagnostics.items):
        return result
    inputs = {source.path: source.sha256 for source in project.sources}
    if config.config_file is not None:
        inputs["integc.toml"] = hashlib.sha256(config.config_file.read_bytes()).hexdigest()
    try:
        result.written = write_build(config.out, artifacts, inputs)
    except (OutputError, OSError) as error:
        raise UsageError(f"cannot write {config.out}: {error}") from None
    result.out = config.out
    return result


def ir_json_bytes(project: ir.Project) -> bytes:
    return (json.dumps(ir.to_json(project), indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")


def emit_all(project: ir.Project, config: ProjectConfig, diagnostics: Diagnostics) -> list[Artifact]:
    targets = load_targets()
    for name in sorted(set(config.targets) - set(targets)):
        diagnostics.report("E0403", f"integc.toml configures unknown target `{name}`",
                           _config_span(config, name), help=f"the targets are {', '.join(sorted(targets))}")
    artifacts: list[Artifact] = []
    for name, target in targets.items():
        options = dict(config.targets.get(name, {}))
        if not options.pop("enabled", True):
            continue
        errors = sorted(jsonschema.Draft202012Validator(target.options_schema).iter_errors(options),
                        key=lambda e: list(e.absolute_path))
        for error in errors:
            where = ".".join(str(p) for p in error.absolute_path)
            diagnostics.report("E0403", f"invalid option for target `{name}`{f' `{where}`' if where else ''}: "
                                        f"{error.message}", _config_span(config, name))
        if errors:
            continue
        artifacts.extend(target.emit(project, options, diagnostics))
    return artifacts


def _check_out_folder(config: ProjectConfig) -> None:
    out, root = config.out, config.root
    if out == Path(out.anchor) or out == Path.home():
        raise UsageError(f"refusing to use {out} as the output folder")
    if out == root or root.is_relative_to(out):
        raise UsageError(f"the output folder {out} would replace the project's own sources")
    if out.is_dir() and any(p.suffix == ".integ" for p in out.rglob("*.integ")):
        raise UsageError(f"the output folder {out} holds .integ sources; choose another --out")


def _check_collisions(artifacts: list[Artifact], diagnostics: Diagnostics) -> None:
    seen: dict[str, str] = {}
    for artifact in artifacts:
        folded = artifact.path.casefold()
        if folded in seen:
            diagnostics.report("E0801", f"two outputs would be written to `{artifact.path}`"
                                        + (f" and `{seen[folded]}`" if seen[folded] != artifact.path else ""),
                               None, help="rename one of the declarations they come from")
            continue
        seen[folded] = artifact.path


def _config_span(config: ProjectConfig, key: str) -> Span:
    if config.config_file is None:
        return Span("integc.toml", 1, 1, 1, 1)
    return key_span(config.config_file, key)
