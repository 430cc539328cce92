"""The same sources give byte-identical output, whatever the hash seed or the
folder integc runs in; a failed build leaves the previous output alone."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "order-to-cash"


def _build(project: Path, out: Path, cwd: Path, seed: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONHASHSEED=seed, INTEGC_JOBS="1")
    return subprocess.run([sys.executable, "-m", "integc", "build", str(project), "--out", str(out), "--emit-ir"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_builds_are_byte_identical_across_hash_seeds_and_working_folders(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    first = _build(project, tmp_path / "a", cwd=tmp_path, seed="1")
    second = _build(project, tmp_path / "b", cwd=project, seed="4242")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert sorted(a) == sorted(b)
    assert [name for name in a if a[name] != b[name]] == []
    assert "ir.json" in a and b"/tmp" not in a["ir.json"]


def test_a_failed_build_leaves_the_previous_output_untouched(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    out = tmp_path / "out"
    assert _build(project, out, cwd=tmp_path, seed="0").returncode == 0
    (out / "notes.txt").write_text("mine")
    before = _tree(out)
    flows = project / "flows" / "customers.integ"
    flows.write_text(flows.read_text() + "\nflow broken { from crm.Nope }\n")
    failed = _build(project, out, cwd=tmp_path, seed="0")
    assert failed.returncode == 1
    assert "E0201" in failed.stderr
    assert _tree(out) == before


def test_a_rebuild_removes_what_the_previous_build_wrote_and_keeps_other_files(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    out = tmp_path / "out"
    assert _build(project, out, cwd=tmp_path, seed="0").returncode == 0
    (out / "notes.txt").write_text("mine")
    assert (out / "mappings" / "tickets_to_warehouse.py").exists()
    analytics = project / "flows" / "analytics.integ"
    text = analytics.read_text()
    start = text.index("flow tickets_to_warehouse")
    end = text.index("\n}\n", start) + 3
    analytics.write_text(text[:start] + text[end:])
    assert _build(project, out, cwd=tmp_path, seed="0").returncode == 0
    assert not (out / "mappings" / "tickets_to_warehouse.py").exists()
    assert (out / "notes.txt").read_text() == "mine"
