"""@pattern at run time: a `@length` maximum is checked before the pattern, so a
backtracking-prone pattern never sees a long hostile string (docs/security.md,
"Regular-expression denial of service")."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from hsupport import HERE, assert_handled, policy_build, write_project

pytest.importorskip("integc.targets.mapping")

PROJECT = """
system a {
  owner "o"
  entity E { id: string @key
    code: string @length(0, 64) @pattern("^(a+)+$") }
  expose E at "/e" { list, get }
}
system b {
  owner "o"
  entity F { id: string @key
    code: string @length(0, 64) @pattern("^(a|aa)+$") }
  expose F at "/f" { list, get, create, update }
}
flow f {
  from a.E
  to b.F
  trigger schedule every 15m
  map { id = id
    code = code }
  retry 3
}
"""


def test_length_is_checked_before_the_pattern(jail, tmp_path):
    project = write_project(tmp_path / "p", PROJECT)
    out = tmp_path / "out"
    outcome = jail.run(["build", project, "--out", out], cwd=tmp_path, policy=policy_build(out), timeout=60)
    assert_handled(outcome)
    assert outcome.code == 0, outcome.describe()
    records = [{"id": "1", "code": "a" * 100_000 + "!"}, {"id": "2", "code": "a" * 12 + "!"}, {"id": "3", "code": "aaa"}]
    (tmp_path / "records.json").write_text(json.dumps(records))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-I", "-S", "-B", str(HERE / "run_mapping.py"), str(out / "mappings" / "f.py"),
                           str(tmp_path / "records.json")], capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    long_, short_bad, good = answer["results"]
    assert "mapping_error" in long_ and "length" in long_["mapping_error"].lower()
    assert "mapping_error" in short_bad  # 12 a's and a "!" fail the pattern (within the length)
    assert good == {"record": {"id": "3", "code": "aaa"}}
    assert elapsed < 30, f"{elapsed:.1f}s: the pattern ran on a long string"
