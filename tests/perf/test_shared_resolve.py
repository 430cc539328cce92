"""`integc check` (a compilation that stores no trees) shares resolve with the worker that parses
part of the files: the worker keeps its trees, sends their outlines, and later resolves their
systems (integc.workers.Keeper, integc.loader.ResolutionReuse.start_sharing). The result is what
one process gives: the same IR, the same diagnostics, whatever the worker does."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from integc import loader, workers
from integc.pipeline import compile_project
from integc.resolve import Resolver

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")

SYSTEM = """\
system s{i} {{
  owner "team@example.com"
  base_url "https://s{i}.example.com"
  entity Thing{i} {{
    id: string @key
    name: string? @length(1, 40)
    state: State{i} = open
    where: Place?
  }}
  expose Thing{i} at "/things" {{ list, get }}
}}
enum State{i} {{ open, closed }}
"""

# Files with problems, on both sides of the split (the worker parses the last files).
ODD = {
    2: "system s2 {\n  base_url \"https://s2.example.com\"\n  entity A { id: string @key  x: Nowhere }\n}\n",
    5: "system s5 {\n  base_url \"https://s5.example.com\"\n  entity A { id: string @key }\n  entity A { id: int @key }\n}\n",
    7: 'import "../extra/more.integ"\nenum Seven { seven }\n',  # a second wave of files
    31: "system s31 {\n  base_url \"https://s31.example.com\"\n  entity B { id: string @key  p: Place = { zip: \"12\" } }\n}\n"
        "enum Twice { a, b, a }\n",
    33: "system s1 {\n  base_url \"https://dup.example.com\"\n}\n",  # s1 again: E0202 across the split
    36: "system s36 {\n  base_url \"https://s36.example.com\"\n  entity C { id: string @key  s: Deep = deep1 }\n"
        "  expose C at \"/c\" { list }\n}\n",
    38: "system s38 {\n  base_url 'not a string'\n}\n",  # a syntax error: no tree, no resolve
}


def _project(folder: Path, n: int, odd: dict[int, str]) -> Path:
    (folder / "systems").mkdir(parents=True)
    (folder / "extra").mkdir()
    imports = "".join(f'import "systems/s{i:02}.integ"\n' for i in range(n)) + 'import "extra/deep.integ"\n'
    (folder / "main.integ").write_text('package p.q version "1.0.0"\n\n' + imports, encoding="utf-8")
    for i in range(n):
        (folder / "systems" / f"s{i:02}.integ").write_text(odd.get(i, SYSTEM.format(i=i)), encoding="utf-8")
    (folder / "extra" / "deep.integ").write_text(
        'enum Deep { deep1, deep2 }\ntype Place {\n  street: string\n  zip: string? @pattern("^[0-9]+$")\n}\n',
        encoding="utf-8")
    (folder / "extra" / "more.integ").write_text("enum More { more }\n", encoding="utf-8")
    return folder


def _key(d) -> tuple:
    return d.code, d.message, d.span, d.help, d.notes


def _compile(folder: Path, monkeypatch, jobs: int):
    monkeypatch.setenv("INTEGC_JOBS", str(jobs))
    forked = _forked(monkeypatch)
    result = compile_project(folder)
    for keeper in forked:
        with pytest.raises(ChildProcessError):
            os.waitpid(keeper.pid, os.WNOHANG)  # reaped: no worker left behind
    return result.project, [_key(d) for d in result.diagnostics.sorted()]


def _forked(monkeypatch) -> list:
    forked: list = []
    real = workers.Keeper._fork.__func__
    monkeypatch.setattr(workers.Keeper, "_fork", classmethod(
        lambda cls, *args: (lambda keeper: (keeper is not None and forked.append(keeper)) or keeper)(real(cls, *args))))
    return forked


def _shares(monkeypatch) -> list:
    keepers: list = []
    real = workers.Keeper.share.__func__

    def share(cls, *args, **kwargs):
        results, keeper = real(cls, *args, **kwargs)
        keepers.append(keeper)
        return results, keeper
    monkeypatch.setattr(workers.Keeper, "share", classmethod(share))
    return keepers


def _resolved_here(monkeypatch) -> list[str]:
    names: list[str] = []
    real, me = Resolver._resolve_system, os.getpid()
    monkeypatch.setattr(Resolver, "_resolve_system",
                        lambda self, decl: (names.append(decl.name.text) if os.getpid() == me else None)
                        or real(self, decl))
    return names


def test_a_shared_resolve_gives_what_one_process_gives(tmp_path, monkeypatch):
    odd = {i: text for i, text in ODD.items() if i != 38}
    folder = _project(tmp_path / "p", 40, odd)
    serial = _compile(folder, monkeypatch, 1)
    keepers, here = _shares(monkeypatch), _resolved_here(monkeypatch)
    shared = _compile(folder, monkeypatch, 2)
    assert keepers and keepers[0] is not None, "the worker did not keep its files"
    assert shared == serial
    assert serial[0] is None  # errors: no IR, but every diagnostic, from both processes
    codes = {key[0] for key in serial[1]}
    assert {"E0201", "E0202", "E0205"} <= codes
    assert "s39" not in here and 0 < len(here) < 30  # the worker resolved the systems of its files

    for i in (2, 5, 31, 33, 36):  # now without errors: the IR too
        (folder / "systems" / f"s{i:02}.integ").write_text(SYSTEM.format(i=i), encoding="utf-8")
    assert _compile(folder, monkeypatch, 2) == _compile(folder, monkeypatch, 1)
    assert _compile(folder, monkeypatch, 1)[0] is not None


def test_a_file_that_does_not_parse_ends_the_worker_unasked(tmp_path, monkeypatch):
    folder = _project(tmp_path / "p", 40, ODD)  # s38 has a syntax error: nothing is resolved
    serial = _compile(folder, monkeypatch, 1)
    keepers = _shares(monkeypatch)
    assert _compile(folder, monkeypatch, 2) == serial
    assert keepers[0] is not None and "E0101" in {key[0] for key in serial[1]}


@pytest.mark.parametrize("where", ["parsing", "resolving"])
def test_a_worker_that_dies_changes_nothing(tmp_path, monkeypatch, where):
    folder = _project(tmp_path / "p", 40, {})
    serial = _compile(folder, monkeypatch, 1)
    assert serial[0] is not None
    target = "_outline_result" if where == "parsing" else "_resolve_kept"
    real, parent = getattr(loader, target), os.getpid()
    monkeypatch.setattr(loader, target, lambda *args: os._exit(3) if os.getpid() != parent else real(*args))
    here = _resolved_here(monkeypatch)
    assert _compile(folder, monkeypatch, 2) == serial
    assert len(here) == 40  # this process resolved every system itself


def test_shared_with_files_from_the_build_cache(tmp_path, monkeypatch):
    """`integc check` after a build and many edits: unchanged files come from the build cache (read
    only), the changed ones are parsed on two cores and resolved on both."""
    from integc.build import build_project

    folder = _project(tmp_path / "p", 40, {})
    monkeypatch.setenv("INTEGC_JOBS", "2")
    if build_project(folder).diagnostics.has_errors:
        pytest.fail("the project does not build")
    for i in range(5, 40, 2):  # 18 files: a wave worth parsing on two cores
        text = SYSTEM.format(i=i).replace("closed }", "closed, reopened }").replace("@length(1, 40)", "@length(2, 9)")
        (folder / "systems" / f"s{i:02}.integ").write_text(text, encoding="utf-8")
    keepers = _shares(monkeypatch)
    monkeypatch.setenv("INTEGC_JOBS", "2")
    checked = compile_project(folder, reuse_parsed=True)
    monkeypatch.setenv("INTEGC_JOBS", "1")
    fresh = compile_project(folder)
    assert keepers and keepers[0] is not None
    assert checked.project == fresh.project and checked.project is not None
    assert [_key(d) for d in checked.diagnostics.sorted()] == [_key(d) for d in fresh.diagnostics.sorted()]


def test_the_deepest_nesting_allowed_resolves_alike(tmp_path, monkeypatch):
    folder = _project(tmp_path / "p", 40, {})
    (folder / "integc.toml").write_text("[limits]\nmax_depth = 200\n", encoding="utf-8")
    deep = "list<" * 199 + "string" + ">" * 199
    for i in (0, 39):  # one file on each side of the split
        (folder / "systems" / f"s{i:02}.integ").write_text(SYSTEM.format(i=i) + f"type Deep{i} {{\n  a: {deep}\n}}\n",
                                                           encoding="utf-8")
    serial = _compile(folder, monkeypatch, 1)
    assert serial[0] is not None
    assert _compile(folder, monkeypatch, 2) == serial


def test_a_request_that_cannot_be_pickled_changes_nothing(tmp_path, monkeypatch):
    folder = _project(tmp_path / "p", 40, {})
    serial = _compile(folder, monkeypatch, 1)
    real = workers._send

    def send(stream, message, dispatch_table):
        if dispatch_table is None:  # the request to the worker
            raise RecursionError("maximum recursion depth exceeded while pickling an object")
        real(stream, message, dispatch_table)
    monkeypatch.setattr(workers, "_send", send)
    here = _resolved_here(monkeypatch)
    assert _compile(folder, monkeypatch, 2) == serial
    assert len(here) == 40  # unasked, the worker resolved nothing: this process did it all
