"""Project configuration: where the project is, its entry file, `integc.toml`.

integc.toml is validated against specs/integc-toml.schema.json; problems are
E0403 diagnostics pointing into the file.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from integc.diagnostics import Diagnostics, Span

CONFIG_NAME = "integc.toml"
DEFAULT_ENTRY = "main.integ"
DEFAULT_OUT = "build"


@dataclass(frozen=True)
class Limits:
    max_depth: int = 128
    max_file_bytes: int = 2 * 1024 * 1024
    max_project_bytes: int = 16 * 1024 * 1024
    max_files: int = 10_000
    max_diagnostics: int = 200


@dataclass(frozen=True)
class ProjectConfig:
    root: Path  # the project folder, resolved
    entry: Path  # the entry file, resolved, inside root
    out: Path  # the output folder, resolved
    config_file: Path | None
    targets: dict[str, dict] = field(default_factory=dict)  # [targets.<name>] tables
    limits: Limits = Limits()


def process_umask() -> int:
    """This process's file mode creation mask (reading it means setting it: set back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def display_path(path: Path) -> str:
    """Paths in diagnostics: relative to the current folder when under it."""
    try:
        return str(path.relative_to(_resolved(os.getcwd())))
    except ValueError:
        return str(path)


@lru_cache(maxsize=4)
def _resolved(folder: str) -> Path:
    """`Path(folder).resolve()`, once per folder: a load shows every file's path (three times each)."""
    return Path(folder).resolve()


class UsageError(Exception):
    """A command-line mistake (exit 2): no such path, an entry that is not a file."""


def _schema() -> dict:
    from importlib import resources  # ~10 ms, and only an integc.toml needs it

    text = resources.files("integc.specs").joinpath("integc-toml.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def locate_project(path: str | Path) -> tuple[Path, Path | None]:
    """(project folder, entry file named on the command line or None)."""
    given = Path(path)
    if not given.exists():
        raise UsageError(f"no such file or folder: {path}")
    resolved = given.resolve()
    if resolved.is_dir():
        return resolved, None
    return resolved.parent, resolved


def load_config(path: str | Path, diagnostics: Diagnostics, out: str | Path | None = None) -> ProjectConfig | None:
    """Read the project's configuration; None when it is unusable (diagnostics say why).

    Everything integc.toml names (itself, the entry file, the default output
    folder) must stay inside the project folder, links included; only an
    explicit --out may point elsewhere.
    """
    root, entry_arg = locate_project(path)
    config_file = root / CONFIG_NAME
    raw: dict = {}
    if config_file.is_symlink() or (config_file.exists() and not config_file.is_file()):
        diagnostics.report("E0403", f"{CONFIG_NAME} must be a regular file inside the project, not a link or "
                                    f"a special file", Span(display_path(config_file), 1, 1, 1, 1))
        return None
    if config_file.is_file():
        raw = _read_toml(config_file, diagnostics)
        if raw is None:
            return None
    else:
        config_file = None
    entry = entry_arg or _inside(root, raw.get("entry", DEFAULT_ENTRY))
    if entry is None:
        diagnostics.report("E0402", f"entry file `{raw['entry']}` is outside the project folder",
                           key_span(config_file, "entry"))
        return None
    if entry_arg is None and not entry.is_file():
        if config_file is not None and "entry" in raw:
            diagnostics.report("E0403", f"entry file `{raw['entry']}` does not exist",
                               key_span(config_file, "entry"))
            return None
        raise UsageError(f"{root} has no {DEFAULT_ENTRY} (name an entry file, or set `entry` in {CONFIG_NAME})")
    if entry_arg is None and not _is_within(entry.resolve(), root):
        diagnostics.report("E0402", f"entry file `{entry.name}` links outside the project folder",
                           Span(display_path(entry), 1, 1, 1, 1))
        return None
    if out is not None:
        out_dir = Path(out)
    else:
        out_dir = _inside(root, raw.get("out", DEFAULT_OUT))
        if out_dir is None or out_dir.resolve() != out_dir:
            diagnostics.report("E0403", "the output folder must be inside the project folder and not reached "
                                        "through a symbolic link", key_span(config_file, "out")
                               if config_file is not None and "out" in raw else Span(display_path(root), 1, 1, 1, 1),
                               help="use --out to write elsewhere")
            return None
    limits = Limits(**raw.get("limits", {}))
    return ProjectConfig(root, entry.resolve(), out_dir.resolve(), config_file,
                         dict(raw.get("targets", {})), limits)


def _inside(root: Path, relative: str) -> Path | None:
    """root/relative normalised lexically, or None when it leaves root or is absolute."""
    if Path(relative).is_absolute() or "\x00" in relative:
        return None
    candidate = Path(os.path.normpath(root / relative))
    return candidate if _is_within(candidate, root) and candidate != root else None


def _is_within(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


MAX_CONFIG_BYTES = 1024 * 1024


def _read_toml(config_file: Path, diagnostics: Diagnostics) -> dict | None:
    if config_file.stat().st_size > MAX_CONFIG_BYTES:
        diagnostics.report("E0403", f"{CONFIG_NAME} is larger than {MAX_CONFIG_BYTES} bytes",
                           Span(display_path(config_file), 1, 1, 1, 1))
        return None
    import tomllib  # only a project with an integc.toml needs it

    text = config_file.read_text(encoding="utf-8", errors="replace")
    try:
        raw = tomllib.loads(text)
    except RecursionError:
        diagnostics.report("E0403", f"{CONFIG_NAME} nests too deeply", Span(display_path(config_file), 1, 1, 1, 1))
        return None
    except tomllib.TOMLDecodeError as error:
        line, column = _toml_error_position(str(error))
        diagnostics.report("E0403", f"integc.toml is not valid TOML: {_strip_position(str(error))}",
                           Span(display_path(config_file), line, column, line, column + 1))
        return None
    import jsonschema  # only a project with an integc.toml pays for importing it

    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
    for error in errors:
        key_path = ".".join(str(p) for p in error.absolute_path)
        where = f"`{key_path}`: " if key_path else ""
        last_key = str(error.absolute_path[-1]) if error.absolute_path else None
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            unexpected = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            last_key = unexpected[0] if unexpected else last_key
        diagnostics.report("E0403", f"invalid integc.toml: {where}{error.message}",
                           key_span(config_file, last_key, text))
    return None if errors else raw


def _toml_error_position(message: str) -> tuple[int, int]:
    match = re.search(r"at line (\d+), column (\d+)", message)
    return (int(match.group(1)), int(match.group(2))) if match else (1, 1)


def _strip_position(message: str) -> str:
    return re.sub(r"\s*\(at line \d+, column \d+\)", "", message)


def key_span(config_file: Path, key: str | None, text: str | None = None) -> Span:
    """The line that sets `key` (best effort: TOML parsers keep no positions)."""
    if text is None:
        text = config_file.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    if key is not None:
        pattern = re.compile(rf"^\s*(\[.*\b{re.escape(key)}\b.*\]|\"?{re.escape(key)}\"?\s*=)")
        for number, line in enumerate(lines, start=1):
            if pattern.match(line):
                start = len(line) - len(line.lstrip()) + 1
                return Span(display_path(config_file), number, start, number, len(line) + 1)
    return Span(display_path(config_file), 1, 1, 1, max(2, len(lines[0]) + 1))
