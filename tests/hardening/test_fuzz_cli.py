"""Fuzzing through the CLI: grammar-aware programs, mutated examples, random
bytes. Each input goes through `integc check` (and `integc build` when it
checks clean) in the jailed CLI: exit 0 or 1, no traceback, no hang, nothing
written outside the output folder, and every output file of a clean build
parses (Python compiles, YAML and JSON load).

tests/frontend/test_fuzz.py already mutates tokens in-process through
`compile_project`; this file adds the CLI, the build and its targets,
grammar-aware generation, line-level mutations of the multi-file example,
and encoding damage.
"""
from __future__ import annotations

import json
import shutil

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hsupport import EXAMPLES, assert_handled, example_sources, policy_build, policy_check, write_project
from integ_strategies import coherent_program, program

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
SOURCES = example_sources()
# Read once: other people edit the examples while tests run, and a strategy must not see them change.
EXAMPLE_FILES = {p.relative_to(EXAMPLES / "order-to-cash").as_posix(): p.read_text(encoding="utf-8")
                 for p in sorted((EXAMPLES / "order-to-cash").rglob("*")) if p.is_file()}


def _compile_everything(jail, root, files: dict, build: bool = True):
    project = write_project(root / "p", files=files)
    checked = jail.run(["check", project], cwd=root, policy=policy_check(), timeout=60)
    assert_handled(checked)
    if checked.code != 0 or not build:
        return checked
    out = root / "out"
    built = jail.run(["build", project, "--out", out], cwd=root, policy=policy_build(out), timeout=90)
    assert_handled(built)
    assert built.code == 0, f"check was clean but build failed\n{built.describe()}"
    _outputs_parse(out)
    return built


def _outputs_parse(out):
    for path in sorted(out.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.suffix == ".py":
            compile(data, str(path), "exec")
        elif path.suffix in (".yaml", ".yml"):
            list(yaml.safe_load_all(data))
        elif path.suffix == ".json":
            json.loads(data)


def _fresh(tmp_path, name):
    root = tmp_path / name
    if root.exists():
        shutil.rmtree(root)
    root.mkdir()
    return root


@FUZZ
@given(program())
def test_grammar_programs(jail, tmp_path, text):
    _compile_everything(jail, _fresh(tmp_path, "g"), {"main.integ": text, "other.integ": "type Other { x: int }"})


@settings(FUZZ, max_examples=15)
@given(coherent_program())
def test_coherent_programs_build(jail, tmp_path, text):
    _compile_everything(jail, _fresh(tmp_path, "c"), {"main.integ": text})


@st.composite
def line_mutation(draw):
    """The order-to-cash example (many files, imports) with lines deleted, duplicated,
    swapped, spliced in from other examples, cut mid-way or damaged."""
    files = dict(EXAMPLE_FILES)
    names = sorted(n for n in files if n.endswith(".integ"))
    donors = sorted(SOURCES)
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(names))
        lines = files[name].split("\n")
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "swap", "splice", "cut", "damage", "indent"]))
        if action == "delete":
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "splice":
            donor = SOURCES[draw(st.sampled_from(donors))].split("\n")
            start = draw(st.integers(0, len(donor) - 1))
            lines[i:i] = donor[start:start + draw(st.integers(1, 8))]
        elif action == "cut":
            lines = lines[:i] + [lines[i][: draw(st.integers(0, len(lines[i])))]]
        elif action == "damage":
            position = draw(st.integers(0, len(lines[i])))
            junk = draw(st.sampled_from(["\x00", "\ufeff", "\u202e", "\\", '"', "`", "{", "}", "((", "<", "?",
                                         "@", "->", "\t", "\r", "é", "\U0001f600", "\x1b[31m", "9" * 30]))
            lines[i] = lines[i][:position] + junk + lines[i][position:]
        else:
            lines[i] = "    " * 40 + lines[i]
        files[name] = "\n".join(lines)
    return files


@settings(FUZZ, max_examples=8)
@given(line_mutation())
def test_mutated_multi_file_example(jail, tmp_path, files):
    _compile_everything(jail, _fresh(tmp_path, "m"), files)


ENCODING_DAMAGE = st.sampled_from([b"\xff", b"\xfe\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                                   b"\xe2\x82", b"\x00", b"\xef\xbb\xbf", b"\r", b"\r\n", b"\x85", b"\xe2\x80\xa8"])


@settings(FUZZ, max_examples=30)
@given(st.sampled_from(sorted(SOURCES)), st.lists(st.tuples(st.floats(0, 1), ENCODING_DAMAGE), min_size=1,
                                                   max_size=3))
def test_encoding_damage(jail, tmp_path, name, damage):
    data = SOURCES[name].encode("utf-8")
    for where, junk in damage:
        cut = int(where * len(data))
        data = data[:cut] + junk + data[cut:]
    _compile_everything(jail, _fresh(tmp_path, "e"), {"main.integ": data}, build=False)


@settings(FUZZ, max_examples=30)
@given(st.binary(min_size=0, max_size=2000))
def test_random_bytes(jail, tmp_path, data):
    _compile_everything(jail, _fresh(tmp_path, "b"), {"main.integ": data}, build=False)
