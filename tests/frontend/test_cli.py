"""The command line: exit codes, output formats, exact diagnostic text."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from integc import __version__
from integc.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

BROKEN = """\
package t.cli version "1.0.0"

system a {
  owner "a@example.com"
  entity Thing {
    id: string @key
    count: int
  }
  expose Thing at "/things" { list, get, create, update }
}

flow copy {
  from a.Thing
  to a.Thing
  trigger schedule every 15m
  map {
    id = id
    count = id
  }
  retry 3
}
"""


def run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "integc", *args], capture_output=True, text=True, cwd=cwd,
                          env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"}, timeout=120)


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    (tmp_path / "main.integ").write_text(BROKEN)
    return tmp_path


def test_check_reports_rustc_style_text_and_exits_1(broken: Path) -> None:
    result = run(["check", "."], cwd=broken)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "error[E0301]: `string` cannot be assigned to `a.Thing.count` (`int`)\n"
        "  --> main.integ:18:13\n"
        "   |\n"
        "18 |     count = id\n"
        "   |             ^^\n"
        "help: convert it with to_int(...)\n"
        "\n"
        "1 error found\n")


def test_check_json_format_lists_every_field(broken: Path) -> None:
    result = run(["check", ".", "--format", "json"], cwd=broken)
    assert result.returncode == 1
    assert json.loads(result.stdout) == [{
        "code": "E0301", "severity": "error",
        "message": "`string` cannot be assigned to `a.Thing.count` (`int`)",
        "file": "main.integ", "line": 18, "column": 13, "end_line": 18, "end_column": 15,
        "help": "convert it with to_int(...)", "notes": []}]


def test_paths_outside_the_current_folder_stay_absolute(broken: Path, tmp_path_factory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    result = run(["check", str(broken), "--format", "json"], cwd=elsewhere)
    assert json.loads(result.stdout)[0]["file"] == str(broken / "main.integ")


def test_clean_project_exits_0_and_warnings_fail_only_when_strict(tmp_path: Path) -> None:
    source = BROKEN.replace("count = id", "count = 1")
    (tmp_path / "main.integ").write_text(source.replace("owner \"a@example.com\"\n", ""))
    relaxed = run(["check", "."], cwd=tmp_path)
    assert relaxed.returncode == 0
    assert "warning[W0601]: system `a` has no owner" in relaxed.stderr
    assert run(["check", ".", "--strict"], cwd=tmp_path).returncode == 1


def test_all_problems_of_all_files_are_reported_in_file_and_line_order(tmp_path: Path) -> None:
    (tmp_path / "main.integ").write_text('import "b.integ"\nimport "a.integ"\n')
    (tmp_path / "a.integ").write_text("type A { x: Strin }\ntype B { y: Nope }\n")
    (tmp_path / "b.integ").write_text("enum E { a, a }\n")
    found = json.loads(run(["check", ".", "--format", "json"], cwd=tmp_path).stdout)
    assert [(d["file"], d["line"], d["code"]) for d in found] == [
        ("a.integ", 1, "E0201"), ("a.integ", 2, "E0201"), ("b.integ", 1, "E0202")]
    assert found[0]["help"] == "did you mean `string`?"


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run(["check", str(tmp_path / "missing")]).returncode == 2
    assert run(["check", str(tmp_path)]).returncode == 2  # a folder without main.integ
    assert run(["check", ".", "--format", "xml"], cwd=tmp_path).returncode == 2
    assert run(["explain", "E9999"]).returncode == 2


def test_internal_error_is_short_and_exits_3(monkeypatch, broken: Path) -> None:
    def explode(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr("integc.pipeline.compile_project", explode)
    result = CliRunner().invoke(main, ["check", str(broken)])
    assert result.exit_code == 3
    assert "error[E0001]: internal compiler error: RuntimeError: boom" in result.output
    assert "Traceback" not in result.output


def test_explain_prints_the_catalogue_entry() -> None:
    result = run(["explain", "e0301"])
    assert result.returncode == 0
    assert result.stdout.startswith("E0301: type mismatch (error)\n")
    assert "Example:" in result.stdout


def test_version() -> None:
    assert run(["--version"]).stdout.strip() == f"integc, version {__version__}"


def test_init_writes_a_project_that_checks_cleanly_and_never_overwrites(tmp_path: Path) -> None:
    assert run(["init", "starter"], cwd=tmp_path).returncode == 0
    assert run(["check", "starter", "--strict"], cwd=tmp_path).returncode == 0
    assert run(["init", "starter"], cwd=tmp_path).returncode == 2


def test_github_format_annotates_lines(broken: Path) -> None:
    result = run(["check", ".", "--format", "github"], cwd=broken)
    assert result.stdout == ("::error file=main.integ,line=18,col=13,endLine=18,endColumn=15,"
                             "title=E0301 type mismatch::`string` cannot be assigned to `a.Thing.count` (`int`)"
                             "%0Ahelp: convert it with to_int(...)\n")


def test_examples_check_cleanly() -> None:
    for example in ("order-to-cash", "quickstart"):
        result = run(["check", str(EXAMPLES / example), "--format", "json"])
        assert result.returncode == 0, result.stdout
        assert all(d["severity"] == "warning" for d in json.loads(result.stdout))


def test_config_errors_point_into_integc_toml(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "quickstart" / "main.integ", tmp_path / "main.integ")
    (tmp_path / "integc.toml").write_text('entry = "main.integ"\nbogus = 1\n')
    found = json.loads(run(["check", ".", "--format", "json"], cwd=tmp_path).stdout)
    assert [(d["code"], d["file"], d["line"]) for d in found] == [("E0403", "integc.toml", 2)]
    assert "bogus" in found[0]["message"]


def test_credential_diagnostics_never_show_the_value(tmp_path: Path) -> None:
    (tmp_path / "main.integ").write_text(
        '# old key: sk_live_abcdefghijklmnop1234\n'
        'system a { owner "o" base_url "https://admin:hunter2@x.example/api" title "AKIAABCDEFGHIJKLMNOP" }\n')
    for output_format in ("text", "json", "github", "sarif"):
        result = run(["check", ".", "--format", output_format], cwd=tmp_path)
        assert result.returncode == 1
        shown = result.stdout + result.stderr
        assert shown.count("E0502") >= 3
        for secret in ("abcdefghijklmnop1234", "hunter2", "ABCDEFGHIJKLMNOP"):
            assert secret not in shown, (output_format, shown)
