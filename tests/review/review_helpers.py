"""Shared helpers for the review-workflow tests (formatter, diff, CI formats, watch)."""
from __future__ import annotations

import shutil
from pathlib import Path

from integc import ir
from integc.pipeline import compile_project

REPO = Path(__file__).resolve().parents[2]
SPAN_KEYS = {"origin", "span"}


def strip_spans(node):
    """The JSON form of an IR value without source positions."""
    if isinstance(node, dict):
        return {k: strip_spans(v) for k, v in node.items() if k not in SPAN_KEYS}
    if isinstance(node, list):
        return [strip_spans(v) for v in node]
    return node


def ir_fingerprint(project: ir.Project) -> dict:
    """`ir.to_json` without spans or source hashes; top-level declarations by name.

    Sorting `import` lines changes the order files are loaded in, hence the
    order declarations are listed in; nothing else depends on it.
    """
    data = strip_spans(ir.to_json(project))
    data.pop("sources", None)
    for key in ("types", "enums", "systems", "flows"):
        data[key] = sorted(data[key], key=lambda d: d["name"])
    return data


def compile_ok(path) -> ir.Project:
    result = compile_project(path)
    errors = [d for d in result.diagnostics.items if d.is_error]
    assert result.project is not None and not errors, [f"{d.code} {d.message} {d.span}" for d in errors]
    return result.project


def copy_project(src: Path, dst: Path) -> Path:
    if src.is_dir():
        shutil.copytree(src, dst)
        return dst
    dst.mkdir(parents=True)
    shutil.copy(src, dst / "main.integ")
    return dst


def valid_cases() -> list[Path]:
    """Projects that compile: the examples and tests/data/valid (files or folders)."""
    cases = sorted(p for p in (REPO / "examples").iterdir() if (p / "main.integ").is_file())
    valid = REPO / "tests" / "data" / "valid"
    cases += sorted(p for p in valid.iterdir() if p.suffix == ".integ" or (p / "main.integ").is_file())
    return cases
