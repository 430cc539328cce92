"""Incremental builds write exactly what a cold build writes.

Each scenario builds the same sources twice -- once cold (`incremental=False`,
a fresh output folder) and once through the build cache -- and compares the
output folders byte for byte, file for file (the manifest included), and the
diagnostics the two builds report.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from integc.build import build_project
from integc.cache import BuildCache, cache_folder

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT.parent / "shared" / "bench" / "gen_integ.py"


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _diagnostics(result) -> list[tuple]:
    return [(d.code, d.message, d.span, d.help, d.notes) for d in result.diagnostics.sorted()]


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "landscape"
    if GENERATOR.is_file():
        subprocess.run([sys.executable, str(GENERATOR), "3", str(folder), "--flows"], check=True)
    else:  # pragma: no cover -- outside the shared workspace
        shutil.copytree(ROOT / "examples" / "order-to-cash", folder)
    # a warning, so that reports are compared too
    (folder / "extra.integ").write_text(
        'system noowner {\n  base_url "https://x.example"\n  entity Thing { id: string @key }\n'
        '  expose Thing at "/things" { list, get }\n}\n', encoding="utf-8")
    main = folder / "main.integ"
    main.write_text(main.read_text(encoding="utf-8") + 'import "extra.integ"\n', encoding="utf-8")
    return folder


def _system_file(project: Path) -> Path:
    files = sorted((project / "systems").glob("*.integ")) if (project / "systems").is_dir() else []
    return files[0] if files else project / "extra.integ"


def _built_then_edited(project: Path, out: Path) -> Path:
    """Build into `out`, then change one system's file (its title): the file changed."""
    build_project(project, out)
    target = _system_file(project)
    target.write_bytes(target.read_bytes().replace(b'title "', b'title "Renamed ', 1))
    return target


def _cold(project: Path, out: Path):
    if out.exists():
        shutil.rmtree(out)
    return build_project(project, out, incremental=False)


def assert_same_as_cold(project: Path, out: Path, tmp_path: Path, expect_reused: bool | None = None) -> None:
    warm = build_project(project, out)
    if expect_reused is not None:
        assert warm.reused is expect_reused
    cold_out = tmp_path / "cold"
    cold = _cold(project, cold_out)
    assert _diagnostics(warm) == _diagnostics(cold)
    assert warm.written == cold.written
    assert _tree(out) == _tree(cold_out)


def test_incremental_builds_match_cold_builds(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = build_project(project, out)
    assert not first.reused and first.written
    assert "W0601" in [d.code for d in first.diagnostics.items]
    assert cache_folder(out).is_dir() and (cache_folder(out) / "record").is_file()
    assert_same_as_cold(project, out, tmp_path, expect_reused=True)

    # touch without changing: still nothing to do
    target = _system_file(project)
    original = target.read_bytes()
    os.utime(target)
    assert_same_as_cold(project, out, tmp_path, expect_reused=True)

    # change one system's file: rebuilt (the other files come from the cache), same bytes as cold
    target.write_bytes(original.replace(b'title "', b'title "Renamed ', 1))
    assert_same_as_cold(project, out, tmp_path, expect_reused=False)
    assert_same_as_cold(project, out, tmp_path, expect_reused=True)

    # revert it
    target.write_bytes(original)
    assert_same_as_cold(project, out, tmp_path, expect_reused=False)


def test_a_changed_or_missing_output_file_is_rebuilt(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_project(project, out)
    victim = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "integc-manifest.json")[0]
    content = victim.read_bytes()
    victim.write_bytes(content[:-1] + (b"X" if content[-1:] != b"X" else b"Y"))
    assert_same_as_cold(project, out, tmp_path, expect_reused=False)
    victim.unlink()
    assert_same_as_cold(project, out, tmp_path, expect_reused=False)
    # a file the user put there is kept, as a cold build keeps it
    (out / "NOTES.txt").write_text("mine", encoding="utf-8")
    warm = build_project(project, out)
    assert warm.reused and (out / "NOTES.txt").read_text(encoding="utf-8") == "mine"


def test_options_and_settings_are_part_of_the_key(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_project(project, out)
    with_ir = build_project(project, out, emit_ir=True)
    assert not with_ir.reused and "ir.json" in with_ir.written
    assert build_project(project, out, emit_ir=True).reused
    (project / "integc.toml").write_text("[targets.k8s]\nenabled = false\n", encoding="utf-8")
    changed = build_project(project, out, emit_ir=True)
    assert not changed.reused
    assert not any(p.startswith("deploy/") for p in changed.written)
    cold_out = tmp_path / "cold"
    if cold_out.exists():
        shutil.rmtree(cold_out)
    build_project(project, cold_out, emit_ir=True, incremental=False)
    assert _tree(out) == _tree(cold_out)


def test_a_failed_build_keeps_the_last_good_record(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_project(project, out)
    target = _system_file(project)
    original = target.read_bytes()
    target.write_bytes(original + b"\nthis is not valid\n")
    broken = build_project(project, out)
    assert broken.diagnostics.has_errors and not broken.reused
    cold = build_project(project, tmp_path / "cold-broken", incremental=False)
    assert _diagnostics(broken) == _diagnostics(cold)
    target.write_bytes(original)
    assert build_project(project, out).reused  # the output is still the last good build's


def test_parse_diagnostics_come_back_from_the_module_cache(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "main.integ").write_text('import "a.integ"\nimport "b.integ"\n', encoding="utf-8")
    (project / "a.integ").write_text('type A {\n  s: string = "bad \\q escape"\n  n: int = 99999999999999999999\n}\n',
                                     encoding="utf-8")
    (project / "b.integ").write_text("type B { x: int }\n", encoding="utf-8")
    out = tmp_path / "out"
    first = build_project(project, out)
    (project / "b.integ").write_text("type B { y: int }\n", encoding="utf-8")
    second = build_project(project, out)  # a.integ comes from the cache, with its two E0105
    cold = build_project(project, tmp_path / "cold", incremental=False)
    assert [d.code for d in first.diagnostics.sorted()].count("E0105") == 2
    assert _diagnostics(second) == _diagnostics(cold)


def test_a_cache_that_is_not_ours_is_ignored(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_project(project, out)
    folder = cache_folder(out)
    for entry in [folder / "record", *sorted((folder / "modules").iterdir())]:
        data = bytearray(entry.read_bytes())
        data[-1] ^= 1  # any change breaks the signature
        entry.write_bytes(bytes(data))
    again = build_project(project, out)
    assert not again.reused
    assert_same_as_cold(project, out, tmp_path, expect_reused=True)


def test_imports_are_checked_again(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / "v1").mkdir(parents=True)
    (project / "v2").mkdir()
    (project / "v1" / "t.integ").write_text("type T { a: int }\n", encoding="utf-8")
    (project / "v2" / "t.integ").write_text("type T { a: int }\n", encoding="utf-8")
    (project / "current").symlink_to("v1")
    (project / "main.integ").write_text('import "current/t.integ"\n', encoding="utf-8")
    out = tmp_path / "out"
    build_project(project, out)
    assert build_project(project, out).reused
    (project / "current").unlink()
    (project / "current").symlink_to("v2")  # the same bytes, but another file
    assert not build_project(project, out).reused


def test_only_the_output_folder_and_its_cache_are_written(project: Path, tmp_path: Path) -> None:
    before = {p for p in project.rglob("*")}
    out = tmp_path / "out"
    build_project(project, out)
    target = _system_file(project)
    target.write_bytes(target.read_bytes() + b"\n")
    build_project(project, out)
    assert {p for p in project.rglob("*")} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "landscape") == [".out.integc-cache", "out"]


def test_unused_module_entries_are_pruned(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_project(project, out)
    modules = cache_folder(out) / "modules"
    count = len(list(modules.iterdir()))
    target = _system_file(project)
    for i in range(3):
        target.write_bytes(target.read_bytes() + f"\n# edit {i}\n".encode())
        build_project(project, out)
    assert len(list(modules.iterdir())) == count


def test_import_target_agrees_with_the_loader(tmp_path: Path) -> None:
    from integc.diagnostics import Diagnostics
    from integc.loader import _resolve_import, import_target
    from integc import syntax as s
    from integc.diagnostics import Span

    root = tmp_path / "p"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "x.integ").write_text("", encoding="utf-8")
    (root / "link.integ").symlink_to(tmp_path)  # a symlink out
    importer = root / "main.integ"
    for raw in ["sub/x.integ", "./sub/../sub/x.integ", "../x.integ", "/etc/passwd", "missing.integ", "sub",
                "link.integ", "C:/x", "", "sub\\x.integ", "a\x00b"]:
        span = Span("main.integ", 1, 1, 1, 2)
        declaration = s.Import(s.Value("string", raw, span), span)
        assert import_target(raw, importer, root) == _resolve_import(declaration, importer, root, Diagnostics())


def test_no_cache_without_a_signing_key(project: Path, tmp_path: Path, monkeypatch) -> None:
    import integc.cache as cache

    monkeypatch.setattr(cache, "_signing_key", lambda create=True: None)
    assert BuildCache.open(tmp_path / "out") is None
    out = tmp_path / "out"
    assert not build_project(project, out).reused
    assert not build_project(project, out).reused
    assert not cache_folder(out).exists()


def test_cli_reports_the_same_when_nothing_changed(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    runs = []
    for _ in range(2):
        for fmt in ("text", "json"):
            done = subprocess.run([sys.executable, "-m", "integc", "build", str(project), "--out", str(out),
                                   "--format", fmt], capture_output=True, text=True, cwd=tmp_path)
            runs.append((fmt, done.returncode, done.stdout, done.stderr))
    assert runs[0] == runs[2] and runs[1] == runs[3]
    assert json.loads(runs[1][2])  # the JSON report


def test_very_deep_nesting_is_built_without_the_cache_failing(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    depth = 199  # the most integc.toml allows
    (project / "integc.toml").write_text("[limits]\nmax_depth = 200\n", encoding="utf-8")
    (project / "main.integ").write_text(
        "type T {\n  a: " + "list<" * depth + "string" + ">" * depth + "\n}\n", encoding="utf-8")
    out = tmp_path / "out"
    first = build_project(project, out)
    second = build_project(project, out)
    cold = build_project(project, tmp_path / "cold", incremental=False)
    assert first.written and second.reused
    assert _diagnostics(first) == _diagnostics(second) == _diagnostics(cold)
    assert _tree(out) == _tree(tmp_path / "cold")


def test_the_output_folder_scan_agrees_with_rglob(tmp_path: Path) -> None:
    from integc.build import _holds_sources

    def rglob(folder: Path) -> bool:
        return any(p.suffix == ".integ" for p in folder.rglob("*.integ"))

    cases = {
        "empty": [],
        "plain": ["a/b/c.txt", "x.json"],
        "source": ["a/b/c.integ"],
        "dot name": ["a/.integ"],
        "dot dot": ["a/..integ"],
        "hidden source": [".hidden/x.integ"],
        "upper case": ["A.INTEG", "b.Integ"],
        "folder named like a source": ["d.integ/file.txt"],
        "double suffix": ["x.integ.bak", "y.tar.integ"],
    }
    for name, files in cases.items():
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        for relative in files:
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_text("", encoding="utf-8")
        assert _holds_sources(folder) == rglob(folder), name
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "s.integ").write_text("", encoding="utf-8")
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "to-outside").symlink_to(outside)  # listed, not entered
    (linked / "dangling.integ").symlink_to(tmp_path / "nowhere")
    assert _holds_sources(linked) == rglob(linked)
    (linked / "dangling.integ").unlink()
    assert _holds_sources(linked) == rglob(linked)


def test_a_planted_symbolic_link_never_redirects_the_cache(project: Path, tmp_path: Path) -> None:
    """H28: `.build.integc-cache -> /elsewhere` (or a link inside a real cache folder) is not followed."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "record").write_text("precious", encoding="utf-8")
    (elsewhere / "README.txt").write_text("precious", encoding="utf-8")
    (elsewhere / "keep").write_text("precious", encoding="utf-8")

    def untouched() -> bool:
        return sorted(p.name for p in elsewhere.iterdir()) == ["README.txt", "keep", "record"] and all(
            p.read_text(encoding="utf-8") == "precious" for p in elsewhere.iterdir())

    out = tmp_path / "out"
    cache_folder(out).symlink_to(elsewhere)
    assert build_project(project, out).written
    assert not build_project(project, out).reused  # no cache at all
    assert untouched()
    cache_folder(out).unlink()

    cache_folder(out).mkdir()
    (cache_folder(out) / "modules").symlink_to(elsewhere)
    (cache_folder(out) / "README.txt").symlink_to(elsewhere / "README.txt")
    build_project(project, out)
    build_project(project, out)
    assert untouched()
    (cache_folder(out) / "record").unlink()
    (cache_folder(out) / "record").symlink_to(elsewhere / "record")
    assert not build_project(project, out).reused
    assert untouched()
    assert_same_as_cold(project, out, tmp_path)


def test_check_can_reuse_what_a_build_parsed(project: Path, tmp_path: Path) -> None:
    from integc.pipeline import compile_project

    out = tmp_path / "out"
    build_project(project, out)
    target = _system_file(project)
    target.write_bytes(target.read_bytes().replace(b'title "System', b'title "Checked system', 1))
    before = sorted(p.name for p in cache_folder(out).rglob("*"))
    reused = compile_project(project, out, reuse_parsed=True)
    fresh = compile_project(project, out)
    assert _diagnostics(reused) == _diagnostics(fresh)
    assert reused.project == fresh.project
    assert sorted(p.name for p in cache_folder(out).rglob("*")) == before  # read only


def _check_command(project: Path) -> tuple[int, str]:
    from click.testing import CliRunner

    from integc.cli import main

    result = CliRunner().invoke(main, ["check", str(project), "--format", "json"])
    return result.exit_code, result.output


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


def test_integc_check_parses_only_the_files_changed_since_the_build(project: Path, monkeypatch) -> None:
    from integc import loader

    build_project(project)  # into the default output folder, where `integc check` looks for the cache
    cache = cache_folder(project / "build")
    target = _system_file(project)
    target.write_bytes(target.read_bytes() + b"# edited\n")
    parsed = []
    parse = loader._parse_text
    monkeypatch.setattr(loader, "_parse_text", lambda text, shown, *rest: parsed.append(shown) or parse(text, shown, *rest))
    before = _snapshot(cache)
    reusing = _check_command(project)
    assert [Path(shown).name for shown in parsed] == [target.name]
    assert _snapshot(cache) == before  # read only
    shutil.rmtree(cache)
    parsed.clear()
    assert _check_command(project) == reusing
    assert len(parsed) > 1 and '"W0601"' in reusing[1]


def test_integc_check_makes_no_signing_key(project: Path, tmp_path: Path, monkeypatch) -> None:
    from integc import cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    cache._signing_key.cache_clear()
    try:
        assert _check_command(project)[0] == 0
        assert not (tmp_path / "user-cache" / "integc" / "cache-key").exists()
        build_project(project)
        assert (tmp_path / "user-cache" / "integc" / "cache-key").is_file()
    finally:
        cache._signing_key.cache_clear()


def _inodes(out: Path) -> dict[str, int]:
    return {p.relative_to(out).as_posix(): p.stat().st_ino for p in out.rglob("*") if p.is_file()}


def test_a_changed_file_re_emits_only_the_units_it_feeds(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_project(project, out)
    before = _inodes(out)
    target = _system_file(project)
    name = target.stem
    target.write_bytes(target.read_bytes().replace(b'title "', b'title "Renamed ', 1))
    assert_same_as_cold(project, out, tmp_path, expect_reused=False)
    after = _inodes(out)
    renewed = sorted(p for p in after if after[p] != before.get(p))
    # the changed system's document is written again; other systems' files are the same files (linked)
    assert f"openapi/{name}.openapi.yaml" in renewed
    kept = [p for p in after if p.startswith("openapi/") and name not in p]
    assert kept and all(after[p] == before[p] for p in kept)
    assert "integc-manifest.json" in renewed


def _mapping_made(monkeypatch) -> list:
    """A list that gets an entry each time the mapping target makes its output."""
    from integc.targets.mapping import MappingTarget

    made: list = []
    emit = MappingTarget._emit
    monkeypatch.setattr(MappingTarget, "_emit", lambda self, *args: made.append(1) or emit(self, *args))
    return made


def _mapping_made_again_after_an_edit(project: Path, out: Path, tmp_path: Path, monkeypatch) -> bool:
    """Build, edit one system's file, build again (checked against a cold build): whether the
    mapping target made its output again."""
    _built_then_edited(project, out)
    made = _mapping_made(monkeypatch)
    build_project(project, out)
    again = bool(made)
    monkeypatch.undo()
    assert_same_as_cold(project, out, tmp_path, expect_reused=True)
    return again


def test_the_mapping_output_of_a_project_without_flows_is_reused(tmp_path: Path, monkeypatch) -> None:
    """Without flows the mapping target writes only its registry, which reads the package's name and
    version: a change elsewhere does not make it again; a new version does."""
    folder = tmp_path / "landscape"
    (folder / "systems").mkdir(parents=True)
    (folder / "main.integ").write_text('package p.q version "1.0.0"\n' + "".join(
        f'import "systems/s{i}.integ"\n' for i in range(2)), encoding="utf-8")
    for i in range(2):
        (folder / "systems" / f"s{i}.integ").write_text(
            f'system s{i} {{\n  title "System {i}"\n  owner "team@example.com"\n'
            f'  base_url "https://s{i}.example.com"\n  entity Thing {{ id: string @key }}\n'
            f'  expose Thing at "/things" {{ list, get }}\n}}\n', encoding="utf-8")
    out = tmp_path / "out"
    assert not _mapping_made_again_after_an_edit(folder, out, tmp_path, monkeypatch)
    main = folder / "main.integ"
    main.write_bytes(main.read_bytes().replace(b'version "', b'version "9', 1))
    made = _mapping_made(monkeypatch)
    build_project(folder, out)
    assert made and b"91.0.0" in (out / "mappings" / "__init__.py").read_bytes()


def test_the_mapping_output_of_a_project_with_flows_is_made_every_time(project: Path, tmp_path: Path,
                                                                       monkeypatch) -> None:
    assert _mapping_made_again_after_an_edit(project, tmp_path / "out", tmp_path, monkeypatch)


def test_a_file_made_again_with_the_same_bytes_is_the_same_file(project: Path, tmp_path: Path,
                                                               monkeypatch) -> None:
    """A unit emitted again (the mapping target's, with flows) whose files come out byte for byte
    as before links them from the last build: nothing new to flush, nothing to free."""
    out = tmp_path / "out"
    build_project(project, out)
    before = _inodes(out)
    target = _system_file(project)
    target.write_bytes(target.read_bytes().replace(b'title "', b'title "Renamed ', 1))
    made = _mapping_made(monkeypatch)
    build_project(project, out)
    assert made  # made again ...
    mappings = [p for p in _inodes(out) if p.startswith("mappings/")]
    assert mappings and all(_inodes(out)[p] == before[p] for p in mappings)  # ... and linked
    monkeypatch.undo()
    assert_same_as_cold(project, out, tmp_path, expect_reused=True)


def test_a_file_edited_since_the_last_build_is_written_again_even_with_the_same_bytes(project: Path,
                                                                                     tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_project(project, out)
    registry = out / "mappings" / "__init__.py"
    content = registry.read_bytes()
    registry.write_bytes(b"x" * len(content))  # the same size, other bytes, same inode
    registry.write_bytes(content)  # and back: the bytes the build makes, but not as it left them
    before = registry.stat().st_ino
    target = _system_file(project)
    target.write_bytes(target.read_bytes().replace(b'title "', b'title "Renamed ', 1))
    build_project(project, out)
    assert registry.stat().st_ino != before and registry.read_bytes() == content


def test_an_edited_output_file_is_emitted_again_not_linked(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    target = _built_then_edited(project, out)
    others = sorted(p for p in (out / "openapi").iterdir() if target.stem not in p.name)
    victim = others[0]
    victim.write_bytes(victim.read_bytes() + b"# edited\n")  # same inode, new size and mtime
    assert_same_as_cold(project, out, tmp_path, expect_reused=False)
    assert not victim.read_bytes().endswith(b"# edited\n")


def _side_job_spy(monkeypatch, events: list) -> None:
    """Append ("start",) when a side job starts, and (pid, value) when its value is taken: the
    process that ran it (a forked worker's, or this one's) and what it returned."""
    from integc import workers

    start = workers.start_side_job

    def spy(job):
        events.append(("start",))
        wait = start(lambda: (os.getpid(), job()))
        def taken():
            pid, value = wait()
            events.append((pid, value))
            return value
        return taken
    monkeypatch.setattr(workers, "start_side_job", spy)


def _linkers(events: list) -> list:
    """The pids of the processes that made the links of a build (its side jobs that return None)."""
    return [event[0] for event in events if len(event) == 2 and event[1] is None]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_worker_links_many_unchanged_files_while_the_changed_ones_are_emitted(project: Path, tmp_path: Path,
                                                                                monkeypatch) -> None:
    from integc import writer

    monkeypatch.setattr(writer, "LINK_AHEAD_MIN_FILES", 2)
    monkeypatch.setenv("INTEGC_JOBS", "2")
    out = tmp_path / "out"
    build_project(project, out)
    before = _inodes(out)
    target = _system_file(project)
    target.write_bytes(target.read_bytes().replace(b'title "', b'title "Renamed ', 1))
    events: list = []
    _side_job_spy(monkeypatch, events)
    assert_same_as_cold(project, out, tmp_path, expect_reused=False)
    linkers = _linkers(events)
    assert linkers and os.getpid() not in linkers
    after = _inodes(out)
    kept = [p for p in after if p.startswith("openapi/") and target.stem not in p]
    assert kept and all(after[p] == before[p] for p in kept)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_links_a_dying_worker_left_half_made_are_made_here(project: Path, tmp_path: Path, monkeypatch) -> None:
    from integc import writer

    parent, take = os.getpid(), writer._take_files

    def dies_halfway(pending):
        if os.getpid() != parent:
            take(pending[: len(pending) // 2])
            source, target = pending[-1]
            Path(target).write_bytes(b"half a copy")
            os._exit(9)
        take(pending)
    monkeypatch.setattr(writer, "LINK_AHEAD_MIN_FILES", 2)
    monkeypatch.setattr(writer, "_take_files", dies_halfway)
    monkeypatch.setenv("INTEGC_JOBS", "2")
    out = tmp_path / "out"
    _built_then_edited(project, out)
    events: list = []
    _side_job_spy(monkeypatch, events)
    assert_same_as_cold(project, out, tmp_path, expect_reused=False)
    assert _linkers(events) == [parent]  # the worker delivered nothing: this process made them all again


def test_making_the_links_again_keeps_the_previous_files_intact(tmp_path: Path) -> None:
    from integc.writer import _take_files

    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    for name in "abc":
        (old / name).write_bytes(name.encode() * 3)
    pending = [(str(old / name), str(new / name)) for name in "abc"]
    _take_files(pending[:1])
    (new / "b").write_bytes(b"half")  # a copy a worker did not finish
    _take_files(pending)
    assert {p.name: p.read_bytes() for p in new.iterdir()} == {"a": b"aaa", "b": b"bbb", "c": b"ccc"}
    assert {p.name: p.read_bytes() for p in old.iterdir()} == {"a": b"aaa", "b": b"bbb", "c": b"ccc"}
    assert all((new / name).stat().st_ino == (old / name).stat().st_ino for name in "abc")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_helper_prepares_the_targets_and_validates_the_documents_of_a_small_change(project: Path, tmp_path: Path,
                                                                                    monkeypatch) -> None:
    from integc import workers
    from integc.targets import openapi_check

    # two cores, as on a machine with them (INTEGC_JOBS would force two processes on 5 units too)
    monkeypatch.setattr(workers, "processes_for", lambda units: 2 if units >= 2 * workers.MIN_UNITS_PER_PROCESS else 1)
    out = tmp_path / "out"
    _built_then_edited(project, out)
    calls: list = []
    call = workers.Helper.call

    def spy(helper, function, *args):
        answered = call(helper, function, *args)
        calls.append((helper, function, args, answered))
        return answered
    monkeypatch.setattr(workers.Helper, "call", spy)
    assert_same_as_cold(project, out, tmp_path, expect_reused=False)
    # the edited system's document, validated by the helper, with the verdict this process gives
    assert [function for _, function, _, _ in calls] == [openapi_check._problem_here]
    helper, _, (document,), answered = calls[0]
    assert answered == (None,) == (openapi_check._problem_here(document),)
    assert document["info"]["title"].startswith("Renamed ")
    assert not helper.alive  # the build let it go


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_change_to_many_units_prepares_the_targets_here_for_the_workers(project: Path, tmp_path: Path,
                                                                         monkeypatch) -> None:
    import integc.build as build
    from integc import workers

    monkeypatch.setenv("INTEGC_JOBS", "2")  # two processes for any number of units
    out = tmp_path / "out"
    _built_then_edited(project, out)
    events: list = []
    prepare, start = build.prepare_targets, workers.Helper.start
    monkeypatch.setattr(build, "prepare_targets", lambda config: (events.append("prepare here"), prepare(config)))
    started = classmethod(lambda cls, setup: events.append("helper") or start(setup))
    monkeypatch.setattr(workers.Helper, "start", started)
    monkeypatch.setattr(workers.Helper, "call", lambda *args: events.append("call"))
    assert_same_as_cold(project, out, tmp_path, expect_reused=False)
    assert events[:2] == ["helper", "prepare here"] and "call" not in events


def test_a_small_change_digests_only_what_changed(project: Path, tmp_path: Path, monkeypatch) -> None:
    """The systems and enums of the files resolved before come with their digests: the unit keys
    of a one-file change digest that file's systems and enums alone."""
    from integc import cache, ir

    out = tmp_path / "out"
    target = _built_then_edited(project, out)
    missed: list = []
    get = cache.DigestMemo.get

    def spy(memo, value):
        known = get(memo, value)
        if known is None and isinstance(value, (ir.System, ir.EnumDef)):
            missed.append(value)
        return known
    monkeypatch.setattr(cache.DigestMemo, "get", spy)
    build_project(project, out)
    edited = {d.name.text for d in _declarations(target) if getattr(d, "name", None) is not None}
    assert missed and {value.name for value in missed} <= edited
    monkeypatch.undo()
    assert_same_as_cold(project, out, tmp_path, expect_reused=True)


def _declarations(path: Path) -> list:
    from integc.diagnostics import Diagnostics
    from integc.parser import parse_module

    return list(parse_module(path.read_text(encoding="utf-8"), path.name, Diagnostics()).declarations)


def test_stored_digests_are_those_of_the_values_stored(project: Path, tmp_path: Path) -> None:
    from integc.cache import DigestMemo, _digested_values, _value_digest

    out = tmp_path / "out"
    build_project(project, out)
    reader = BuildCache.open(out, writable=False)
    entries = [reader.load_resolved(path.name) for path in (cache_folder(out) / "resolved").iterdir()]
    values = [value for entry in entries if entry is not None for value in _digested_values(entry[2])]
    assert values and all(reader.digests.get(value) == _value_digest(value, DigestMemo()) for value in values)
