"""Concurrent and failed builds: the output folder always ends up holding one
complete build (every file matches that build's manifest, nothing of the
other), a failed build leaves the previous output byte-identical, and a
killed build leaves the previous or the new output, never a mix."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from hsupport import ENV, JAIL, assert_handled, policy_build, read_tree, snapshot, write_project

BASE = """
package concurrent.TAG version "1.0.0"
system a {
  owner "o"
  title "TITLE"
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
"""
FLOW = """
flow NAME {
  from a.E
  to b.F
  trigger schedule every 15m
  map { id = id
    n = n }
  retry 3
}
"""


def variant(tag: str, flows: int) -> str:
    """Projects whose outputs differ in content and in the set of files."""
    return BASE.replace("TAG", tag).replace("TITLE", f"title {tag}") + "".join(
        FLOW.replace("NAME", f"{tag}_flow{i}") for i in range(flows))


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    root = tmp_path_factory.mktemp("concurrent")
    made = {"a": write_project(root / "a", variant("alpha", 2)), "b": write_project(root / "b", variant("beta", 5)),
            "broken": write_project(root / "broken", variant("alpha", 2) + "flow {\n")}
    references = {}
    for name in ("a", "b"):
        out = root / f"ref-{name}"
        done = _start(made[name], out).wait(timeout=180)
        assert done == 0
        references[name] = read_tree(out)
    return root, made, references


def _start(project, out, policy=True) -> subprocess.Popen:
    args = ["build", str(project), "--out", str(out)]
    if policy:
        handle, policy_file = tempfile.mkstemp(suffix=".json")
        with os.fdopen(handle, "w") as stream:
            json.dump(policy_build(out), stream)
        command = [sys.executable, str(JAIL), policy_file, "--"] + args
    else:
        command = [sys.executable, "-m", "integc"] + args
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)


def _whole(tree: dict[str, bytes], references: dict, foreign: dict[str, bytes]) -> str:
    """Which reference build `tree` is, exactly (plus the user's own files); fails on a mix."""
    manifest = json.loads(tree["integc-manifest.json"])
    for path, entry in manifest["outputs"].items():
        assert hashlib.sha256(tree[path]).hexdigest() == entry["sha256"], f"{path} does not match the manifest"
    ours = {path: data for path, data in tree.items() if path not in foreign}
    for name, reference in references.items():
        if ours == reference:
            for path, data in foreign.items():
                assert tree.get(path) == data, f"the user's {path} was lost"
            return name
    pytest.fail("the output is not one complete build: "
                f"{sorted(set(ours) ^ set(references['a']))[:5]} / {sorted(set(ours) ^ set(references['b']))[:5]}")


@pytest.mark.parametrize("round_", range(2))
def test_two_builds_at_once_leave_one_complete_output(projects, round_):
    root, made, references = projects
    out = root / f"shared-{round_}"
    # integc replaces only its own output folders (a folder with files but no
    # integc-manifest.json is refused), so the shared folder starts as a build.
    assert _start(made["a"], out).wait(timeout=180) == 0
    foreign = {"NOTES.md": b"the user's own file\n"}
    (out / "NOTES.md").write_bytes(foreign["NOTES.md"])
    first, second = (("a", "b"), ("b", "a"))[round_]
    processes = [_start(made[first], out)]
    time.sleep(0.05 * round_)
    processes.append(_start(made[second], out))
    for process in processes:
        stdout, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, stderr.decode(errors="replace")
        assert b"Traceback" not in stderr and b"JAIL VIOLATION" not in stderr
    _whole(read_tree(out), references, foreign)
    leftovers = [p.name for p in root.iterdir() if p.name.startswith(f".{out.name}.")
                 and p.name != f".{out.name}.integc-cache"]  # the build cache (compiler/cache.py) stays
    assert not leftovers, f"staging folders left behind: {leftovers}"


def test_many_builds_at_once(projects):
    root, made, references = projects
    out = root / "shared-many"
    processes = [_start(made["a" if i % 2 else "b"], out) for i in range(3)]
    for process in processes:
        process.communicate(timeout=240)
        assert process.returncode == 0
    _whole(read_tree(out), references, {})


def test_failed_builds_leave_previous_output_untouched(projects, jail):
    """A syntax error, a bad target option, an error only the build finds: the output stays byte-identical."""
    root, made, references = projects
    out = root / "kept"
    assert _start(made["a"], out).wait(timeout=180) == 0
    before = snapshot(out)
    failing = [made["broken"],
               write_project(root / "config-error", variant("alpha", 2), toml="[targets.openapi]\nformat = 1\n"),
               write_project(root / "build-only-error", variant("alpha", 2), toml="[targets.nope]\n")]
    for project in failing:
        outcome = jail.run(["build", project, "--out", out], cwd=root, policy=policy_build(out), timeout=120)
        assert_handled(outcome)
        assert outcome.code == 1, outcome.describe()
        assert snapshot(out) == before, project.name


def test_killed_build_leaves_previous_or_new_output(projects):
    root, made, references = projects
    out = root / "killed"
    assert _start(made["a"], out).wait(timeout=180) == 0
    for delay in (0.4, 1.2, 2.4):
        process = _start(made["b"], out)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        _whole(read_tree(out), references, {})
    # whatever staging folders the killed builds left are not the output; the next build still works
    assert _start(made["a"], out).wait(timeout=180) == 0
    assert _whole(read_tree(out), references, {}) == "a"


def _read_at(folder) -> dict[str, bytes] | None:
    """The files of `folder`, read through one open handle on it; None when the folder vanished or
    was swapped out while we read (the retired build is deleted as soon as it is swapped out)."""
    try:
        top = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    tree = {}
    try:
        for dirpath, dirnames, filenames, dirfd in os.fwalk(".", dir_fd=top):
            for name in filenames:
                handle = os.open(name, os.O_RDONLY, dir_fd=dirfd)
                with os.fdopen(handle, "rb") as stream:
                    tree[os.path.normpath(os.path.join(dirpath, name))] = stream.read()
        inode = os.fstat(top).st_ino
    except FileNotFoundError:
        return None  # the retired build is being deleted under us
    finally:
        os.close(top)
    try:
        current = os.stat(folder).st_ino
    except FileNotFoundError:
        return None
    # A folder that was swapped out while we read it is being deleted: not an observation of the output.
    return tree if current == inode else None


def test_readers_never_see_a_mix(projects):
    """While builds replace the output, a reader that opens the folder sees the old build or the
    new one (or, for an instant between two renames, no folder): never some files of each."""
    root, made, references = projects
    out = root / "watched"
    assert _start(made["a"], out).wait(timeout=180) == 0
    processes = [_start(made[name], out) for name in ("b", "a")]
    seen, absent = [], 0
    while any(p.poll() is None for p in processes):
        tree = _read_at(out)
        if tree is None or "integc-manifest.json" not in tree:
            absent += 1
            continue
        seen.append(_whole(tree, references, {}))
    for process in processes:
        assert process.wait(timeout=60) == 0
    assert seen and set(seen) <= {"a", "b"}
