"""docs/errors.md is generated from integc.codes.CODES and must never drift from it."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from integc.codes import CODES, CodeInfo

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "docs" / "gen_errors.py"
ERRORS_MD = REPO / "docs" / "errors.md"


def _generator():
    spec = importlib.util.spec_from_file_location("integc_docs_gen_errors", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_errors_md_is_what_the_script_generates() -> None:
    expected = _generator().render()
    actual = ERRORS_MD.read_text(encoding="utf-8")
    assert actual == expected, "docs/errors.md is out of date: run `python docs/gen_errors.py`"


def test_every_code_is_documented_with_its_title_and_explanation() -> None:
    text = ERRORS_MD.read_text(encoding="utf-8")
    for code, info in CODES.items():
        assert f"### {code}: {info.title}" in text
        assert info.explanation in text
        if info.example:
            assert info.example in text


def test_a_changed_catalogue_changes_the_document() -> None:
    """So the comparison above can fail: an edited title or a new code shows up in the output."""
    generator = _generator()
    changed = dict(CODES)
    first = next(iter(changed))
    changed[first] = CodeInfo(first, "error", "a renamed title", "explained", "")
    changed["E0999"] = CodeInfo("E0999", "error", "a brand new code", "new", "x = y")
    text = generator.render(changed)
    assert text != generator.render()
    assert "a renamed title" in text and "### E0999: a brand new code" in text


def test_check_mode_exit_codes(tmp_path: Path, monkeypatch) -> None:
    generator = _generator()
    assert generator.main(["--check"]) == 0
    stale = tmp_path / "errors.md"
    stale.write_text("# stale\n", encoding="utf-8")
    monkeypatch.setattr(generator, "OUTPUT", stale)
    assert generator.main(["--check"]) == 1


def test_script_runs_as_a_command() -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), "--check"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
