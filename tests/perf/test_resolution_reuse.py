"""A file unchanged since the last build is not resolved again: its systems come from the build
cache (integc.loader.ResolutionReuse), and only while nothing they could depend on changed.

Every step compares a compilation through the cache with a fresh one (no cache): the same IR
and the same diagnostics. The spy says which systems were resolved again.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integc.cache import BuildCache, cache_folder
from integc.pipeline import compile_project
from integc.resolve import Resolver

FILES = {
    "main.integ": 'package reuse.test version "1.0.0"\n\nimport "a.integ"\nimport "b.integ"\nimport "c.integ"\n',
    "a.integ": (
        "system alpha {\n"
        '  title "Alpha"\n'
        '  owner "a@example.com"\n'
        '  base_url "https://alpha.example.com"\n'
        "  entity Order {\n"
        "    id: string @key\n"
        "    status: Status = active\n"
        '    ship_to: Address = { street: "Main 1" }\n'
        "    lines: list<Line>?\n"
        "  }\n"
        '  expose Order at "/orders" { list, get }\n'
        "}\n"
    ),
    "b.integ": (
        "system beta {\n"
        '  base_url "https://beta.example.com"\n'
        "  entity Item { id: string @key }\n"
        '  expose Item at "/items" { list }\n'
        "}\n"
        "enum Status { active, retired }\n"
    ),
    "c.integ": (
        "type Address {\n"
        "  street: string\n"
        "  zip: string?\n"
        "}\n"
        "type Line { sku: string }\n"
    ),
}

# Edits: (file, old, new). Each is applied only where `old` occurs, so any sequence is valid.
EDITS = {
    "retitle alpha": ("a.integ", 'title "Alpha"', 'title "Alpha, renamed"'),
    "shift b's lines": ("b.integ", "system beta {", "\n\n/// Beta.\nsystem beta {"),
    "drop enum member": ("b.integ", "enum Status { active, retired }", "enum Status { retired }"),
    "wire the enum member": ("b.integ", "{ active, retired }", '{ active = "ACTIVE", retired }'),
    "require zip": ("c.integ", "zip: string?", "zip: string"),
    "rename Address": ("c.integ", "type Address {", "type Adress {"),
    "alpha twice": ("c.integ", "type Line { sku: string }", "type Line { sku: string }\nsystem alpha { }"),
    "bad annotation": ("a.integ", "id: string @key", "id: string @key @bogus"),
    "beta without key": ("b.integ", "entity Item { id: string @key }", "entity Item { id: string }"),
    "Line is an enum": ("c.integ", "type Line { sku: string }", "enum Line { sku }"),
    "Status member twice": ("b.integ", "{ active, retired }", "{ active, retired, active }"),
    "undo everything": ("", "", ""),
}


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def _new_project(tmp_path: Path) -> tuple[Path, Path]:
    """The project of FILES, and its output folder."""
    project = tmp_path / "p"
    project.mkdir()
    _write(project, FILES)
    return project, project / "build"


def _apply(files: dict[str, str], edit: str) -> dict[str, str]:
    name, old, new = EDITS[edit]
    if not name:
        return dict(FILES)
    return {**files, name: files[name].replace(old, new, 1)}


def _key(diagnostic) -> tuple:
    return diagnostic.code, diagnostic.message, diagnostic.span, diagnostic.help, diagnostic.notes


@pytest.fixture()
def resolved_again(monkeypatch) -> list[str]:
    names: list[str] = []
    real = Resolver._resolve_system
    monkeypatch.setattr(Resolver, "_resolve_system", lambda self, decl: names.append(decl.name.text) or real(self, decl))
    return names


def _through_cache(project: Path, out: Path):
    cache = BuildCache.open(out)
    if cache is None:
        pytest.skip("no build cache here (no signing key)")
    result = compile_project(project, out, cache=cache)
    cache.commit()
    return result


def _assert_same_as_fresh(project: Path, out: Path):
    warm = _through_cache(project, out)
    fresh = compile_project(project)
    assert [_key(d) for d in warm.diagnostics.sorted()] == [_key(d) for d in fresh.diagnostics.sorted()]
    assert warm.project == fresh.project
    return warm


def test_only_the_changed_files_systems_are_resolved_again(tmp_path: Path, resolved_again: list[str]) -> None:
    project, out = _new_project(tmp_path)
    _assert_same_as_fresh(project, out)
    resolved_again.clear()
    files = _apply(FILES, "retitle alpha")
    _write(project, files)
    warm = _assert_same_as_fresh(project, out)
    assert resolved_again == ["alpha", "alpha", "beta"]  # through the cache, then fresh
    assert any(d.code == "W0601" for d in warm.diagnostics.items)  # beta's warning, from the cache

    # Lines moved in b.integ: beta is resolved again, alpha (which uses b's enum) is not.
    resolved_again.clear()
    _write(project, _apply(files, "shift b's lines"))
    _assert_same_as_fresh(project, out)
    assert resolved_again == ["beta", "alpha", "beta"]


def test_enums_of_unchanged_files_are_not_resolved_again(tmp_path: Path, monkeypatch) -> None:
    resolved: list[str] = []
    real = Resolver._enum
    monkeypatch.setattr(Resolver, "_enum", lambda self, decl: resolved.append(decl.name.text) or real(self, decl))
    project, out = _new_project(tmp_path)
    files = _apply(_apply(FILES, "Status member twice"), "Line is an enum")  # c.integ: no system
    _write(project, files)
    _assert_same_as_fresh(project, out)
    resolved.clear()
    _write(project, _apply(files, "require zip"))  # c.integ changed, and with it the environment
    warm = _assert_same_as_fresh(project, out)
    assert resolved == ["Line", "Status", "Line"]  # through the cache (b.integ unchanged), then fresh
    assert [d.code for d in warm.diagnostics.items if d.code == "E0202"] == ["E0202"]  # Status's, replayed


def test_a_changed_declaration_others_use_resolves_them_again(tmp_path: Path, resolved_again: list[str]) -> None:
    project, out = _new_project(tmp_path)
    _assert_same_as_fresh(project, out)
    resolved_again.clear()
    _write(project, _apply(FILES, "drop enum member"))
    warm = _assert_same_as_fresh(project, out)
    assert resolved_again == ["alpha", "beta", "alpha", "beta"]  # the environment changed: all again
    assert any(d.code == "E0201" and "active" in d.message for d in warm.diagnostics.items)


def test_a_tree_missing_from_the_cache_is_parsed_again(tmp_path: Path) -> None:
    project, out = _new_project(tmp_path)
    _assert_same_as_fresh(project, out)
    for entry in (cache_folder(out) / "modules").iterdir():
        entry.unlink()
    _write(project, _apply(FILES, "require zip"))  # a.integ must be resolved again, from its text
    warm = _assert_same_as_fresh(project, out)
    assert any(d.code == "E0205" and "zip" in d.message for d in warm.diagnostics.items)


def test_a_damaged_entry_is_not_used(tmp_path: Path) -> None:
    project, out = _new_project(tmp_path)
    _assert_same_as_fresh(project, out)
    entries = sorted((cache_folder(out) / "resolved").iterdir())
    assert len(entries) == 2  # a.integ and b.integ declare systems
    for entry in entries:
        entry.write_bytes(entry.read_bytes()[:-20] + b"x" * 20)
    _write(project, _apply(FILES, "retitle alpha"))
    _assert_same_as_fresh(project, out)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(sorted(EDITS)), min_size=1, max_size=6))
def test_any_sequence_of_edits_compiles_as_a_fresh_compilation_does(tmp_path_factory, edits: list[str]) -> None:
    project = tmp_path_factory.mktemp("p")
    out = project / "build"
    files = dict(FILES)
    _write(project, files)
    _assert_same_as_fresh(project, out)
    for edit in edits:
        files = _apply(files, edit)
        _write(project, files)
        _assert_same_as_fresh(project, out)


# ---------------------------------------------------------------- a session (integc build --watch)

@pytest.fixture()
def kept():
    from integc.cache import end_session, start_session

    yield start_session()
    end_session()


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _build_as_cold(project: Path, out: Path, tmp_path: Path):
    from integc.build import build_project

    warm = build_project(project, out)
    cold_out = tmp_path / "cold"
    cold = build_project(project, cold_out, incremental=False)
    assert [_key(d) for d in warm.diagnostics.sorted()] == [_key(d) for d in cold.diagnostics.sorted()]
    if not cold.diagnostics.has_errors:
        assert warm.written == cold.written and _tree(out) == _tree(cold_out)
    shutil.rmtree(cold_out, ignore_errors=True)
    return warm


def test_a_session_takes_resolved_files_from_memory(tmp_path: Path, kept, resolved_again: list[str]) -> None:
    project, out = _new_project(tmp_path)
    _build_as_cold(project, out, tmp_path)
    if not (cache_folder(out) / "resolved").is_dir():
        pytest.skip("no build cache here (no signing key)")
    assert len(kept.resolved) == 2
    for entry in (cache_folder(out) / "resolved").iterdir():
        entry.unlink()  # only memory can lend beta now
    resolved_again.clear()
    _write(project, _apply(FILES, "retitle alpha"))
    _build_as_cold(project, out, tmp_path)
    assert resolved_again[:1] == ["alpha"] and resolved_again.count("beta") == 1  # the cold build's
    assert len(kept.resolved) == 2  # alpha's old entry is gone from memory


def test_a_session_does_not_digest_reused_systems_again(tmp_path: Path, kept, monkeypatch) -> None:
    from integc import ir
    from integc.cache import DigestMemo

    project, out = _new_project(tmp_path)
    _build_as_cold(project, out, tmp_path)
    _write(project, _apply(FILES, "retitle alpha"))
    _build_as_cold(project, out, tmp_path)  # digests every unit's inputs into the session
    digested: list[str] = []
    real = DigestMemo.put
    monkeypatch.setattr(DigestMemo, "put", lambda self, value, digest: (
        digested.append(value.name) if isinstance(value, (ir.System, ir.EnumDef)) else None)
        or real(self, value, digest))
    _write(project, FILES)
    _build_as_cold(project, out, tmp_path)
    assert digested == ["alpha"]  # beta and Status, unchanged, came from memory with their digests


def test_builds_in_a_session_write_what_cold_builds_write(tmp_path: Path, kept) -> None:
    project, out = _new_project(tmp_path)
    files = dict(FILES)
    _build_as_cold(project, out, tmp_path)
    for edit in sorted(EDITS):
        files = _apply(files, edit)
        _write(project, files)
        _build_as_cold(project, out, tmp_path)


def test_a_cold_build_stores_many_resolved_files_in_a_worker(tmp_path: Path, monkeypatch,
                                                             resolved_again: list[str]) -> None:
    import os

    from integc.build import build_project
    from integc.workers import processes_for

    if processes_for(16) < 2:
        pytest.skip("one core: no worker")
    project, out = tmp_path / "p", tmp_path / "p" / "build"
    project.mkdir()
    names = [f"s{i:02d}" for i in range(20)]
    (project / "main.integ").write_text('package many version "1.0.0"\n' + "".join(
        f'import "{name}.integ"\n' for name in names), encoding="utf-8")
    for name in names:
        (project / f"{name}.integ").write_text(
            f'system {name} {{\n  owner "o@example.com"\n  base_url "https://{name}.example.com"\n'
            f'  entity Thing {{ id: string @key }}\n  expose Thing at "/things" {{ list }}\n}}\n', encoding="utf-8")
    pids = tmp_path / "pids"
    real = BuildCache.store_new_resolved

    def store(self):
        stored = real(self)
        with open(pids, "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()} {len(stored)}\n")
        return stored

    monkeypatch.setattr(BuildCache, "store_new_resolved", store)
    build_project(project, out)
    if not (cache_folder(out) / "resolved").is_dir():
        pytest.skip("no build cache here (no signing key)")
    stores = [line.split() for line in pids.read_text(encoding="utf-8").splitlines()]
    assert [count for pid, count in stores if int(pid) != os.getpid()] == ["20"]  # all 20, in a worker
    assert len(list((cache_folder(out) / "resolved").iterdir())) == 20
    resolved_again.clear()
    (project / "s03.integ").write_text((project / "s03.integ").read_text(encoding="utf-8").replace(
        "o@example.com", "p@example.com"), encoding="utf-8")
    build_project(project, out)
    assert resolved_again == ["s03"]
