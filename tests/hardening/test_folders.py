"""Folders: imports stay in the project (E0402), output names cannot escape or
collide (E0801), `--out` cannot point at the sources or at `/`, and nothing is
ever written outside the output folder.

Every command runs jailed (jail.py): reading the `outside` folder or writing
anywhere but the output folder stops the process before it happens, so a
regression fails here instead of damaging the machine.
"""
from __future__ import annotations

import json
import os
import shutil
import stat

import pytest

from bugs import BUGS
from hsupport import (EXAMPLES, assert_handled, policy_build, policy_check, read_tree, run_integc, snapshot,
                      write_project)

GOOD = """
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
    n = n }
  retry 3
}
"""


@pytest.fixture
def landscape(tmp_path):
    """tmp/project (the project), tmp/outside (must never be read), tmp/elsewhere (must never change)."""
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    for path in (outside / "evil.integ", outside / "dir" / "evil.integ"):
        path.write_text("type Stolen { x: int }\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "keep.txt").write_text("keep\n")
    project = write_project(tmp_path / "project", GOOD)
    return tmp_path, project, outside


# ---------------------------------------------------------------- imports

IMPORTS = {
    "dotdot": '"../outside/evil.integ"',
    "dotdot_after_normalisation": '"sub/../../outside/evil.integ"',
    "dotdot_deep": '"./././sub/x/../../../outside/evil.integ"',
    "absolute": '"{outside}/evil.integ"',
    "absolute_with_dotdot": '"{outside}/../project/main.integ"',
    "symlink_to_outside_file": '"link.integ"',
    "relative_symlink_to_outside_file": '"rellink.integ"',
    "symlinked_folder": '"linkdir/evil.integ"',
    "symlink_chain_out": '"chain1.integ"',
    "windows_drive": '"C:\\\\x.integ"',
    "windows_drive_relative": '"c:x.integ"',
    "windows_backslash_dotdot": '"sub\\\\..\\\\..\\\\outside\\\\evil.integ"',
    "windows_unc": '"\\\\\\\\server\\\\share\\\\x.integ"',
    "mixed_slashes": '"sub/..\\\\..\\\\outside/evil.integ"',
    "empty": '""',
    "nul_escape": '"\\u{{0}}../outside/evil.integ"',
}


def _links(project, outside):
    os.symlink(outside / "evil.integ", project / "link.integ")
    os.symlink(os.path.relpath(outside / "evil.integ", project), project / "rellink.integ")
    os.symlink(outside / "dir", project / "linkdir")
    os.symlink("chain2.integ", project / "chain1.integ")
    os.symlink(outside / "evil.integ", project / "chain2.integ")
    (project / "sub" / "x").mkdir(parents=True)


@pytest.mark.parametrize("name", IMPORTS)
def test_imports_cannot_leave_the_project(jail, landscape, name):
    tmp_path, project, outside = landscape
    _links(project, outside)
    (project / "main.integ").write_text(f"import {IMPORTS[name].format(outside=outside)}\n" + GOOD)
    before = snapshot(tmp_path)
    for command in (["check", project], ["build", project, "--out", project / "build"]):
        policy = (policy_check if command[0] == "check" else
                  lambda forbid_read: policy_build(project / "build", forbid_read))(forbid_read=[outside])
        outcome = jail.run(command, cwd=tmp_path, policy=policy, timeout=60)
        assert_handled(outcome)
        assert outcome.codes() == ["E0402"], outcome.describe()
        assert "Stolen" not in outcome.output
    assert snapshot(tmp_path) == before


def test_dotdot_that_stays_inside_is_fine(jail, landscape):
    tmp_path, project, outside = landscape
    write_project(project, files={"sub/a.integ": 'import "../sub/../b.integ"\ntype Aa { x: int }\n',
                                  "b.integ": "type Bb { x: int }\n"})
    (project / "main.integ").write_text('import "sub/a.integ"\n' + GOOD)
    outcome = jail.run(["check", project], cwd=tmp_path, policy=policy_check([outside]), timeout=60)
    assert_handled(outcome)
    assert outcome.code == 0, outcome.describe()


@pytest.mark.parametrize("name", ["symlink_loop", "name_too_long", "path_too_long"])
def test_unusual_import_paths(jail, landscape, name):
    tmp_path, project, outside = landscape
    os.symlink("loop2.integ", project / "loop1.integ")
    os.symlink("loop1.integ", project / "loop2.integ")
    target = {"symlink_loop": "loop1.integ", "name_too_long": "a" * 300 + ".integ",
              "path_too_long": "x/" * 3000 + "y.integ"}[name]
    (project / "main.integ").write_text(f'import "{target}"\n' + GOOD)
    outcome = jail.run(["check", project], cwd=tmp_path, policy=policy_check([outside]), timeout=60)
    assert_handled(outcome)
    assert outcome.code == 1 and set(outcome.codes()) <= {"E0401", "E0402", "E0103"}


def test_import_of_something_that_is_not_a_file(jail, landscape):
    tmp_path, project, outside = landscape
    os.mkfifo(project / "fifo.integ")
    (project / "folder.integ").mkdir()
    (project / "main.integ").write_text('import "fifo.integ"\nimport "folder.integ"\n' + GOOD)
    outcome = jail.run(["check", project], cwd=tmp_path, policy=policy_check([outside]), timeout=30)
    assert_handled(outcome)
    assert outcome.code == 1 and set(outcome.codes()) <= {"E0401", "E0103"}


ENTRIES = {
    "toml_entry_dotdot": ('entry = "../outside/evil.integ"\n', None),
    "toml_entry_absolute": ('entry = "{outside}/evil.integ"\n', None),
    "main_symlinked_out": (None, "evil"),
    "toml_entry_symlink_out": ('entry = "link.integ"\n', "link"),
}


@pytest.mark.parametrize("name", ENTRIES)
def test_entry_file_cannot_leave_the_project(jail, landscape, name):
    """integc.toml comes with the pull request: its `entry` is confined like an import."""
    tmp_path, project, outside = landscape
    toml, link = ENTRIES[name]
    if toml is not None:
        (project / "integc.toml").write_text(toml.format(outside=outside))
    if link == "evil":
        (project / "main.integ").unlink()
        os.symlink(outside / "evil.integ", project / "main.integ")
    elif link == "link":
        os.symlink(outside / "evil.integ", project / "link.integ")
    outcome = jail.run(["check", project], cwd=tmp_path, policy=policy_check([outside]), timeout=60)
    assert_handled(outcome)
    assert outcome.code == 1 and set(outcome.codes()) <= {"E0402", "E0403"}, outcome.describe()


def test_integc_toml_symlinked_out_is_not_read(jail, landscape):
    tmp_path, project, outside = landscape
    (outside / "netrc").write_text("machine github.com login ci password ghs_topsecretvalue1234\n")
    os.symlink(outside / "netrc", project / "integc.toml")
    outcome = jail.run(["check", project], cwd=tmp_path, policy=policy_check([outside]), timeout=60)
    assert not outcome.violations, outcome.describe()
    assert "topsecret" not in outcome.output
    assert_handled(outcome)


@pytest.mark.parametrize("how", ["default_build_folder", "toml_out"])
def test_output_folder_symlinked_out_of_the_project(jail, landscape, how):
    """The pull request brings `build -> ../elsewhere`: the build must not write through it."""
    tmp_path, project, outside = landscape
    elsewhere = tmp_path / "elsewhere"
    name = "build" if how == "default_build_folder" else "generated"
    os.symlink(elsewhere, project / name)
    if how == "toml_out":
        (project / "integc.toml").write_text(f'out = "{name}"\n')
    before = snapshot(elsewhere)
    # (The jail resolves links, so it allows the target: the snapshot is what checks this case.)
    outcome = jail.run(["build", project], cwd=tmp_path, policy=policy_build(project / name), timeout=60)
    assert not outcome.violations, outcome.describe()
    assert snapshot(elsewhere) == before
    assert outcome.code in (1, 2)


def test_build_cache_symlinked_out_of_the_project(jail, landscape):
    tmp_path, project, outside = landscape
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "README.txt").write_text("mine\n")
    os.symlink(elsewhere, project / ".build.integc-cache")
    before = snapshot(elsewhere)
    outcome = jail.run(["build", project], cwd=tmp_path, policy=policy_build(project / "build"), timeout=60)
    assert_handled(outcome)
    assert snapshot(elsewhere) == before


def test_entry_file_that_is_a_fifo(tmp_path):
    """Named on the command line, a FIFO must not block integc (E0103, not a hang)."""
    os.mkfifo(tmp_path / "main.integ")
    outcome = run_integc(["check", tmp_path / "main.integ"], cwd=tmp_path, timeout=4)
    assert_handled(outcome)
    assert outcome.code == 1


# ---------------------------------------------------------------- output names

NAMES = {
    "types_differing_in_case": "type Money { a: int }\ntype money { a: int }\n",
    "type_and_enum_differing_in_case": "type Tier { a: int }\nenum TIER { x }\n",
    "systems_differing_in_case": 'system crm { owner "o" }\nsystem CRM { owner "o" }\n',
    "flows_differing_in_case": GOOD + GOOD.split("flow f")[1].join(["flow F", ""]),
    "entities_differing_in_case": 'system s { owner "o"\n entity Item { id: string @key }\n'
                                  ' entity ITEM { id: string @key } }\n',
    "backticked_dotdot_system": 'system `../x` { owner "o" }\n',
    "backticked_slash_type": "type `a/b` { a: int }\n",
    "backticked_backslash_type": "type `a\\b` { a: int }\n",
    "backticked_dot_type": "type `.` { a: int }\n",
    "backticked_dotdot_type": "type `..` { a: int }\n",
    "backticked_dotted_entity": 'system s { owner "o"\n entity `x.y` { id: string @key } }\n',
    "backticked_absolute_flow": GOOD.replace("flow f", "flow `/etc/cron.d/x`"),
    "backticked_space_enum": "enum `a b` { x }\n",
    "backticked_hidden_type": "type `.hidden` { a: int }\n",
    "backticked_nul_escape": "type `a\x01b` { a: int }\n",
}


@pytest.mark.parametrize("name", NAMES)
def test_output_names_cannot_escape_or_collide(jail, landscape, name):
    tmp_path, project, outside = landscape
    (project / "main.integ").write_text(NAMES[name])
    out = tmp_path / "out"
    before = snapshot(tmp_path)
    outcome = jail.run(["build", project, "--out", out], cwd=tmp_path, policy=policy_build(out), timeout=60)
    assert_handled(outcome)
    assert "E0801" in outcome.codes(), outcome.describe()
    assert outcome.code == 1 and not out.exists()
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", ["con", "AUX", "nul", "com1", "lpt9", "prn"])
def test_windows_device_names(jail, landscape, name):
    tmp_path, project, outside = landscape
    (project / "main.integ").write_text(f"type {name} {{ a: int }}\n")
    outcome = jail.run(["check", project], cwd=tmp_path, timeout=60)
    assert_handled(outcome)
    assert "E0801" in outcome.codes()


# ---------------------------------------------------------------- --out

def _refused(outcome, before, tmp_path):
    assert outcome.code == 2, outcome.describe()
    assert "Traceback" not in outcome.output and not outcome.violations, outcome.describe()
    assert snapshot(tmp_path) == before, "a refused build changed files"


@pytest.mark.parametrize("where", ["/", "project", "project/.", "project/sub/..", "parent", "parent/.",
                                   "symlink_to_project", "sources_folder", "symlink_to_root"])
def test_out_folder_refused(jail, landscape, where):
    tmp_path, project, outside = landscape
    write_project(project, files={"sources/x.integ": "type X { a: int }\n"})
    (project / "main.integ").write_text('import "sources/x.integ"\n' + GOOD)
    os.symlink(project, tmp_path / "to-project")
    os.symlink("/", tmp_path / "to-root")
    out = {"/": "/", "project": project, "project/.": f"{project}/.", "project/sub/..": f"{project}/sub/..",
           "parent": tmp_path, "parent/.": f"{tmp_path}/.", "symlink_to_project": tmp_path / "to-project",
           "sources_folder": project / "sources", "symlink_to_root": tmp_path / "to-root"}[where]
    before = snapshot(tmp_path)
    # No write is allowed at all: a regression stops at its first write (exit 99).
    outcome = jail.run(["build", project, "--out", out], cwd=tmp_path, policy=policy_check(), timeout=60)
    _refused(outcome, before, tmp_path)


@pytest.mark.parametrize("value", [".", "..", "/", "sources"])
def test_out_in_integc_toml_refused(jail, landscape, value):
    tmp_path, project, outside = landscape
    write_project(project, files={"sources/x.integ": "type X { a: int }\n"})
    (project / "main.integ").write_text('import "sources/x.integ"\n' + GOOD)
    (project / "integc.toml").write_text(f'out = "{value}"\n')
    before = snapshot(tmp_path)
    outcome = jail.run(["build", project], cwd=tmp_path, policy=policy_check(), timeout=60)
    if value == "sources":  # inside the project, but it holds sources: a usage error, like --out
        _refused(outcome, before, tmp_path)
        return
    # a setting in a file is a coded diagnostic pointing at it (E0403, exit 1)
    assert outcome.code == 1 and outcome.codes() == ["E0403"], outcome.describe()
    assert "Traceback" not in outcome.output and not outcome.violations, outcome.describe()
    assert snapshot(tmp_path) == before, "a refused build changed files"


def test_out_home_refused(jail, landscape):
    tmp_path, project, outside = landscape
    home = tmp_path / "home"
    home.mkdir()
    before = snapshot(tmp_path)
    outcome = jail.run(["build", project, "--out", home], cwd=tmp_path, policy=policy_check(), timeout=60,
                       env={"HOME": str(home)})
    _refused(outcome, before, tmp_path)


@pytest.mark.parametrize("case", ["existing_folder_not_an_output", "toml_out_outside_project",
                                  "toml_out_absolute"])
def test_out_cannot_take_over_other_folders(jail, landscape, case):
    """An existing folder that integc did not create (no integc-manifest.json) is not an output folder,
    and integc.toml (part of the pull request) cannot send the output outside the project."""
    tmp_path, project, outside = landscape
    elsewhere = tmp_path / "elsewhere"
    args = ["build", project]
    if case == "existing_folder_not_an_output":
        args += ["--out", elsewhere]
    elif case == "toml_out_outside_project":
        (project / "integc.toml").write_text('out = "../elsewhere"\n')
    else:
        (project / "integc.toml").write_text(f'out = "{elsewhere}"\n')
    before = snapshot(tmp_path)
    outcome = jail.run(args, cwd=tmp_path, policy=policy_build(elsewhere), timeout=60)
    assert outcome.code in (1, 2), outcome.describe()
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------- nothing written outside the output folder

def test_build_writes_only_the_output_folder(landscape):
    """Snapshot everything around the project, build the big example jailed, compare."""
    tmp_path, project, outside = landscape
    shutil.rmtree(project)
    shutil.copytree(EXAMPLES / "order-to-cash", project)
    out = project / "build"
    before = snapshot(tmp_path)
    outcome = run_integc(["build", project], cwd=tmp_path, policy=policy_build(out, [outside]), timeout=120)
    assert_handled(outcome)
    assert outcome.code == 0, outcome.describe()
    after = snapshot(tmp_path)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed and all(k == "project/build" or k.startswith("project/build/") for k in changed), \
        sorted(k for k in changed if not k.startswith("project/build"))[:20]
    manifest = json.loads((out / "integc-manifest.json").read_text())
    assert set(read_tree(out)) == set(manifest["outputs"]) | {"integc-manifest.json"}


def test_no_cache_written_outside_the_output_folder(landscape):
    """A first run on a clean machine (empty HOME, cache and temp folders) writes nothing in the shared
    temp folder or HOME; the parser tables go only into a private (0700) `$XDG_CACHE_HOME/integc`."""
    tmp_path, project, outside = landscape
    places = {name: tmp_path / name for name in ("home", "cache", "tmp")}
    for place in places.values():
        place.mkdir()
    env = {**os.environ, "HOME": str(places["home"]), "XDG_CACHE_HOME": str(places["cache"]),
           "TMPDIR": str(places["tmp"]), "PYTHONDONTWRITEBYTECODE": "1"}
    (project / "bad.integ").write_text("type {\n")  # a syntax error: Lark's error path runs too
    outcome = run_integc(["check", project / "bad.integ"], cwd=tmp_path, env=env, timeout=120)
    assert_handled(outcome)
    for name in ("home", "tmp"):
        assert not any(places[name].rglob("*")), f"{name}: {[str(p) for p in places[name].rglob('*')][:5]}"
    assert [p.name for p in places["cache"].iterdir()] in ([], ["integc"])
    for entry in places["cache"].iterdir():
        assert entry.stat().st_mode & 0o077 == 0, oct(entry.stat().st_mode)


def test_output_folder_permissions(jail, landscape):
    """The output folder gets the usual permissions (umask), not mkdtemp's 0700."""
    tmp_path, project, outside = landscape
    out = tmp_path / "out"
    outcome = jail.run(["build", project, "--out", out], cwd=tmp_path, policy=policy_build(out), timeout=60)
    assert_handled(outcome)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask


@pytest.mark.parametrize("foreign", ["file_named_openapi", "symlink_named_schemas"])
def test_foreign_entries_named_like_output_folders(jail, landscape, foreign):
    tmp_path, project, outside = landscape
    out = tmp_path / "out"
    out.mkdir()
    (out / "integc-manifest.json").write_text('{"outputs": {}}')
    if foreign == "file_named_openapi":
        (out / "openapi").write_text("mine\n")
    else:
        os.symlink(tmp_path / "elsewhere", out / "schemas")
    outcome = jail.run(["build", project, "--out", out], cwd=tmp_path, policy=policy_build(out), timeout=60)
    assert "Traceback" not in outcome.output and not outcome.violations, outcome.describe()
    assert outcome.code == 2 and "is in the way" in outcome.output, outcome.describe()  # refused, untouched
    assert not (out / "openapi" / "openapi").exists()
    assert (out / "openapi").is_file() if foreign == "file_named_openapi" else (out / "schemas").is_symlink()


def test_fmt_does_not_write_through_symlinks(jail, landscape):
    """`integc fmt` rewrites files in place: only files inside the folders it was given."""
    tmp_path, project, outside = landscape
    (outside / "evil.integ").write_text("type   Stolen {x:int}\n")
    os.symlink(outside / "evil.integ", project / "link.integ")
    (project / "main.integ").write_text("type   T {x:int}\n")
    before = snapshot(outside)
    outcome = jail.run(["fmt", project], cwd=tmp_path,
                       policy={"write_roots": [str(project)], "forbid_read": []}, timeout=60)
    assert not outcome.violations, outcome.describe()
    assert snapshot(outside) == before
