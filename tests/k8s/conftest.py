"""Fixtures for the k8s, bundle and graph tests."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from integc.diagnostics import Diagnostics
from integc.pipeline import compile_project
from integc.targets import bundle

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def _have_mapping() -> bool:
    try:
        from integc.targets.mapping import render_module  # noqa: F401
    except ImportError:
        return False
    return True


HAVE_MAPPING = _have_mapping()


def stub_mapping(project, flow) -> str:
    """A stand-in mapping module: the k8s tests check manifests, not mappings."""
    return (f'"""Stand-in mapping for flow {flow.name}."""\n\n'
            f"SOURCE_SCHEMA = {{}}\nTARGET_SCHEMA = {{}}\n\n\n"
            f"class MappingError(Exception):\n    pass\n\n\n"
            f"def map_record(source: dict) -> dict:\n    return dict(source)\n")


@pytest.fixture
def stubbed_mapping(monkeypatch):
    """Bundles get the stand-in mapping, whether or not the mapping target exists."""
    monkeypatch.setattr(bundle, "_render_mapping", stub_mapping)


@pytest.fixture(autouse=True)
def _mapping_when_missing(monkeypatch):
    if not HAVE_MAPPING:
        monkeypatch.setattr(bundle, "_render_mapping", stub_mapping)


def compile_ok(path):
    result = compile_project(path)
    errors = [d for d in result.diagnostics.sorted() if d.is_error]
    assert result.project is not None and not errors, [f"{d.code} {d.message}" for d in errors]
    return result.project


@pytest.fixture(scope="session")
def example_project():
    return compile_ok(EXAMPLES / "order-to-cash")


@pytest.fixture
def compile_text(tmp_path):
    """Compile a one-file project from source text; returns (project, diagnostics)."""
    def run(source: str, toml: str | None = None):
        folder = tmp_path / "project"
        folder.mkdir(exist_ok=True)
        (folder / "main.integ").write_text(textwrap.dedent(source), encoding="utf-8")
        if toml is not None:
            (folder / "integc.toml").write_text(textwrap.dedent(toml), encoding="utf-8")
        result = compile_project(folder)
        errors = [d for d in result.diagnostics.sorted() if d.is_error]
        assert result.project is not None and not errors, [f"{d.code} {d.message}" for d in errors]
        return result.project
    return run


def emit(target, project, options=None):
    diagnostics = Diagnostics()
    artifacts = target.emit(project, dict(options or {}), diagnostics)
    return artifacts, diagnostics


class Helpers:
    """Helpers for the test modules (importing conftest is not possible under --import-mode=importlib)."""

    REPO = REPO
    EXAMPLES = EXAMPLES
    HAVE_MAPPING = HAVE_MAPPING
    compile_ok = staticmethod(compile_ok)
    emit = staticmethod(emit)
    stub_mapping = staticmethod(stub_mapping)


@pytest.fixture(scope="session")
def kh():
    return Helpers
