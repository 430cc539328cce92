"""Input limits: each one documented, configurable in `[limits]` of integc.toml,
reported with its own diagnostic when exceeded, and honoured when raised."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bugs import BUGS
from hsupport import REPO, assert_handled, policy_build, run_integc, write_project
from integc.config import Limits

FLOW = """
system a {
  owner "o"
  entity E { id: string @key
    n: int }
  expose E at "/e" { list, get, create, update }
}
system b {
  owner "o"
  entity F { id: string @key
    n: int }
  expose F at "/f" { list, get, create, update }
}
flow f {
  from a.E
  to b.F
  trigger schedule every 15m
  map { id = id
    n = EXPR }
  retry 3
}
"""


def parens(depth: int) -> str:
    return FLOW.replace("EXPR", "(" * depth + "n" + ")" * depth)


def limits(**values) -> str:
    return "[limits]\n" + "".join(f"{key} = {value}\n" for key, value in values.items())


def check(jail, tmp_path, text, toml=None, files=None, fmt="text"):
    project = write_project(tmp_path / "p", text, files=files, toml=toml)
    outcome = jail.run(["check", project, "--format", fmt], cwd=tmp_path, timeout=60)
    assert_handled(outcome)
    return outcome


# ---------------------------------------------------------------- max_depth

def test_default_depth(jail, tmp_path):
    assert Limits().max_depth == 128
    assert check(jail, tmp_path, parens(100)).code == 0
    outcome = check(jail, tmp_path, parens(140))
    assert outcome.codes() == ["E0102"] and "the limit is 128" in outcome.stderr


def test_depth_lowered(jail, tmp_path):
    outcome = check(jail, tmp_path, parens(20), limits(max_depth=16))
    assert outcome.codes() == ["E0102"] and "the limit is 16" in outcome.stderr
    assert "max_depth" in outcome.stderr  # the help names the setting


def test_depth_type_nesting_lowered(jail, tmp_path):
    text = "type X { v: " + "list<" * 20 + "int" + ">" * 20 + " }\n"
    assert check(jail, tmp_path, text, limits(max_depth=16)).codes() == ["E0102"]
    assert check(jail, tmp_path, text, limits(max_depth=64)).code == 0


def test_depth_raised_is_honoured(jail, tmp_path):
    assert check(jail, tmp_path, parens(190), limits(max_depth=200)).code == 0


SHAPES = {
    "parentheses": lambda n: "(" * n + "n" + ")" * n,
    "unary_minus": lambda n: "-" * n + "n",
    "calls": lambda n: "abs(" * n + "n" + ")" * n,
    "coalesce": lambda n: " ?? ".join(["n"] * n),
    "sum": lambda n: " + ".join(["n"] * n),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_depth_raised_to_the_schema_maximum(jail, tmp_path, shape):
    """integc.toml accepts max_depth up to 200; nesting within it must build, not crash."""
    project = write_project(tmp_path / "p", FLOW.replace("EXPR", SHAPES[shape](190)), toml=limits(max_depth=200))
    out = tmp_path / "out"
    outcome = jail.run(["build", project, "--out", out], cwd=tmp_path, policy=policy_build(out), timeout=90)
    assert_handled(outcome)
    assert outcome.code == 0, outcome.describe()


def test_depth_over_the_schema_maximum_is_a_config_error(jail, tmp_path):
    outcome = check(jail, tmp_path, parens(3), limits(max_depth=100000))
    assert outcome.codes() == ["E0403"]


# ---------------------------------------------------------------- max_file_bytes

def test_file_bytes_lowered(jail, tmp_path):
    text = FLOW.replace("EXPR", "n") + "#" * 3000 + "\n"
    outcome = check(jail, tmp_path, text, limits(max_file_bytes=2048))
    assert outcome.codes() == ["E0104"]
    assert "2048" in outcome.stderr and "max_file_bytes" in outcome.stderr


def test_file_bytes_raised_is_honoured(jail, tmp_path):
    text = "#" * (11 * 1024 * 1024) + "\n" + FLOW.replace("EXPR", "n")
    assert check(jail, tmp_path, text).codes() == ["E0104"]
    assert check(jail, tmp_path, text, limits(max_file_bytes=12 * 1024 * 1024)).code == 0


def test_file_bytes_counts_every_file(jail, tmp_path):
    files = {"big.integ": "#" * 5000 + "\n"}
    outcome = check(jail, tmp_path, 'import "big.integ"\n' + FLOW.replace("EXPR", "n"),
                    limits(max_file_bytes=4096), files=files)
    assert outcome.codes() == ["E0104"] and "big.integ" in outcome.stderr


# ---------------------------------------------------------------- max_files

def _chain(count: int) -> dict:
    files = {f"f{i}.integ": f'import "f{i + 1}.integ"\ntype T{i} {{ x: int }}\n' for i in range(count)}
    files[f"f{count}.integ"] = "type Last { x: int }\n"
    return files


def test_files_lowered(jail, tmp_path):
    outcome = check(jail, tmp_path, 'import "f0.integ"\n', limits(max_files=3), files=_chain(5))
    assert outcome.codes() == ["E0104"] and "3 files" in outcome.stderr and "max_files" in outcome.stderr


def test_files_raised_is_honoured(jail, tmp_path):
    assert check(jail, tmp_path, 'import "f0.integ"\n', limits(max_files=7), files=_chain(5)).code == 0
    assert check(jail, tmp_path, 'import "f0.integ"\n', limits(max_files=6), files=_chain(5)).codes() == ["E0104"]


def test_many_files_default_limit_is_fine(jail, tmp_path):
    """300 files importing each other in a chain (the loader is not recursive)."""
    assert check(jail, tmp_path, 'import "f0.integ"\n', files=_chain(300)).code == 0


# ---------------------------------------------------------------- max_diagnostics

def errors(count: int) -> str:
    return "type T { " + " ".join(f"f{i}: Unknown{i}" for i in range(count)) + " }\n"


def test_diagnostics_lowered(jail, tmp_path):
    outcome = check(jail, tmp_path, errors(10), limits(max_diagnostics=3))
    assert outcome.codes() == ["E0201"] * 3
    assert "... and 7 more problems" in outcome.stderr
    assert "10 errors found" in outcome.stderr
    assert outcome.code == 1


def test_diagnostics_default_and_raised(jail, tmp_path):
    assert Limits().max_diagnostics == 200
    outcome = check(jail, tmp_path, errors(230))
    assert len(outcome.codes()) == 200 and "... and 30 more problems" in outcome.stderr
    outcome = check(jail, tmp_path, errors(230), limits(max_diagnostics=500))
    assert len(outcome.codes()) == 230 and "more problems" not in outcome.stderr


def test_machine_formats_list_everything(jail, tmp_path):
    """The limit is for people reading a terminal; JSON and SARIF consumers get every problem."""
    outcome = check(jail, tmp_path, errors(10), limits(max_diagnostics=3), fmt="json")
    assert len(json.loads(outcome.stdout)) == 10


def test_max_project_bytes(jail, tmp_path):
    files = {f"f{i}.integ": f"type T{i} {{ a: string @example({'x' * 900!r}) }}\n".replace("'", '"')
             for i in range(3)}
    main = "".join(f'import "f{i}.integ"\n' for i in range(3))
    outcome = check(jail, tmp_path, main, limits(max_project_bytes=2048), files=files)
    assert outcome.codes() == ["E0104"] and "max_project_bytes" in outcome.stderr
    assert check(jail, tmp_path, main, limits(max_project_bytes=8192), files=files).code == 0


# ---------------------------------------------------------------- documented

def test_limits_are_documented():
    explained = {code: run_integc(["explain", code], timeout=60).stdout for code in ("E0102", "E0104")}
    assert "max_depth" in explained["E0102"]
    assert "max_file_bytes" in explained["E0104"] and "max_files" in explained["E0104"]
    security = (REPO / "docs" / "security.md").read_text(encoding="utf-8")
    defaults = Limits()
    for key in ("max_depth", "max_file_bytes", "max_project_bytes", "max_files", "max_diagnostics"):
        row = next((line for line in security.splitlines() if line.startswith(f"| `{key}`")), None)
        assert row is not None, f"docs/security.md has no row for {key}"
        number = re.sub(r"[ ,_]", "", row.split("|")[2])
        assert str(getattr(defaults, key)) in number, f"{key}: docs say {row!r}, default is {getattr(defaults, key)}"
    schema = json.loads((REPO / "specs" / "integc-toml.schema.json").read_text(encoding="utf-8"))
    assert set(schema["properties"]["limits"]["properties"]) == {"max_depth", "max_file_bytes", "max_project_bytes",
                                                                 "max_files", "max_diagnostics"}
    assert "max_project_bytes" in explained["E0104"]


def test_depth_over_200_is_a_config_error(jail, tmp_path):
    """The recursive checker has room for 200 levels with a wide margin; more is refused up front."""
    assert check(jail, tmp_path, parens(3), limits(max_depth=201)).codes() == ["E0403"]
