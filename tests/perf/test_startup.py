"""What a plain check, or a build with nothing changed, imports: nothing it does not use (each
import is paid at every start)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from integc.build import _accepts_empty_object
from integc.targets import load_targets

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(load_targets()))
def test_the_empty_options_shortcut_agrees_with_jsonschema(name):
    schema = load_targets()[name].options_schema
    if _accepts_empty_object(schema):
        assert jsonschema.Draft202012Validator(schema).is_valid({})


def test_the_shortcut_refuses_what_could_require_a_key():
    assert not _accepts_empty_object({"type": "object", "required": ["x"]})
    assert not _accepts_empty_object({"type": "object", "minProperties": 1})
    assert not _accepts_empty_object({"type": "object", "allOf": [{"required": ["x"]}]})
    assert not _accepts_empty_object({"type": "array"})


def _one_system_project(tmp_path) -> Path:
    project = tmp_path / "p"
    project.mkdir()
    (project / "main.integ").write_text(
        'system s {\n  owner "o@example.com"\n  base_url "https://s.example"\n  auth none\n'
        '  entity E { id: string @key }\n  expose E at "/e" { list, get }\n}\n', encoding="utf-8")
    return project


def _printed_by(script: str) -> str:
    """What `script` prints, run in a fresh interpreter (it must succeed)."""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_check_without_integc_toml_or_cron_imports_neither_jsonschema_nor_croniter(tmp_path):
    project = _one_system_project(tmp_path)
    script = ("import sys\nfrom integc.pipeline import compile_project\n"
              f"r = compile_project({str(project)!r})\n"
              "assert not r.diagnostics.has_errors, r.diagnostics.items\n"
              "print('jsonschema' in sys.modules, 'croniter' in sys.modules)\n")
    assert _printed_by(script) == "False False"


def test_a_build_with_nothing_changed_imports_no_front_end_or_ir(tmp_path):
    project = _one_system_project(tmp_path)
    script = ("import sys\nfrom integc.build import build_project\n"
              f"r = build_project({str(project)!r})\n"
              "assert r.reused and not r.diagnostics.has_errors, r.diagnostics.items\n"
              "print(sorted(m for m in ('integc.ir', 'integc.syntax', 'integc.parser', 'integc.resolve', 'lark')"
              " if m in sys.modules))\n")
    _printed_by(script.replace("r.reused and ", ""))  # the first build
    assert _printed_by(script) == "[]"
