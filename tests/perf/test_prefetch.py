"""The loader parses a wave of imported files on every core: the same project as one process loads."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from integc import loader
from integc.cache import BuildCache
from integc.config import Limits, load_config
from integc.diagnostics import Diagnostics

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")

SYSTEM = """\
system s{i} {{
  owner "team@example.com"
  base_url "https://s{i}.example.com"
  entity Thing{i} {{
    id: string @key
    name: string? @length(1, 40)
  }}
  expose Thing{i} at "/things" {{ list, get }}
}}
"""


def _project(folder: Path, n: int, broken: dict[int, str] | None = None) -> Path:
    imports = "".join(f'import "systems/s{i:02}.integ"\n' for i in range(n))
    (folder / "systems").mkdir(parents=True)
    (folder / "main.integ").write_text('package p.q version "1.0.0"\n\n' + imports, encoding="utf-8")
    for i in range(n):
        (folder / "systems" / f"s{i:02}.integ").write_text((broken or {}).get(i, SYSTEM.format(i=i)),
                                                            encoding="utf-8")
    return folder


def _load(folder: Path, monkeypatch, jobs: int, cache=None, limits: Limits | None = None):
    monkeypatch.setenv("INTEGC_JOBS", str(jobs))
    diagnostics = Diagnostics()
    config = load_config(folder, diagnostics)
    if limits is not None:
        config = dataclasses.replace(config, limits=limits)
    loaded = loader.load_project(config, diagnostics, cache)
    return loaded, diagnostics.items


def _forks(monkeypatch) -> list[int]:
    calls: list[int] = []
    real_fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: calls.append(1) or real_fork())
    return calls


def test_a_wave_parsed_on_two_cores_is_what_one_process_loads(tmp_path, monkeypatch):
    broken = {3: "system s3 {\n  base_url 42\n}\n",  # a syntax error
              7: b"system s7 { \xff }".decode("latin-1"),  # text the parser refuses
              11: "\ufeff" + SYSTEM.format(i=11)}  # a BOM
    folder = _project(tmp_path / "p", 40, broken)
    (folder / "systems" / "s20.integ").write_bytes(b"\xff\xfe not utf-8")  # E0103, left to the loader
    serial = _load(folder, monkeypatch, 1)
    forks = _forks(monkeypatch)
    parallel = _load(folder, monkeypatch, 2)
    assert forks, "the loader did not parse on a second core"
    assert parallel == serial
    assert {d.code for d in serial[1]} >= {"E0101", "E0103"}
    assert len(serial[0].modules) == 1 + 40 - 3  # main, then s20 unreadable, s3 and s7 without a tree


def test_the_limits_stop_a_parallel_load_where_they_stop_a_serial_one(tmp_path, monkeypatch):
    folder = _project(tmp_path / "p", 40)
    for limits in (Limits(max_files=25), Limits(max_project_bytes=2_500)):
        serial = _load(folder, monkeypatch, 1, limits=limits)
        parallel = _load(folder, monkeypatch, 2, limits=limits)
        assert parallel == serial
        assert not serial[0].complete and [d.code for d in serial[1]] == ["E0104"]


def test_files_the_build_cache_has_are_not_parsed_again(tmp_path, monkeypatch):
    folder = _project(tmp_path / "p", 40)
    config = load_config(folder, Diagnostics())
    cache = BuildCache.open(config.out)
    if cache is None:
        pytest.skip("no build cache here (no signing key)")
    _load(folder, monkeypatch, 2, cache)
    cache.commit()
    (folder / "systems" / "s05.integ").write_text(SYSTEM.format(i=5).replace("40", "39"), encoding="utf-8")
    parsed: list[str] = []
    real = loader._parse_text
    monkeypatch.setattr(loader, "_parse_text", lambda text, shown, *rest: parsed.append(shown) or real(text, shown, *rest))
    forks = _forks(monkeypatch)
    warm = _load(folder, monkeypatch, 2, BuildCache.open(config.out))
    assert [Path(shown).name for shown in parsed] == ["s05.integ"]
    assert not forks  # one file to parse: not worth a process
    assert warm == _load(folder, monkeypatch, 1)


def test_a_child_that_dies_while_parsing_changes_nothing(tmp_path, monkeypatch):
    folder = _project(tmp_path / "p", 30)
    serial = _load(folder, monkeypatch, 1)
    parent = os.getpid()
    real = loader._parse_text

    def dies_in_child(*args):
        if os.getpid() != parent:
            os._exit(9)
        return real(*args)

    monkeypatch.setattr(loader, "_parse_text", dies_in_child)
    assert _load(folder, monkeypatch, 2) == serial


def test_few_files_are_parsed_in_this_process(tmp_path, monkeypatch):
    folder = _project(tmp_path / "p", loader.PREFETCH_MIN_FILES - 2)
    forks = _forks(monkeypatch)
    _load(folder, monkeypatch, 2)
    assert not forks


def test_the_targets_are_prepared_while_other_cores_parse(tmp_path, monkeypatch):
    from integc.build import build_project
    from integc.targets.openapi import OpenAPITarget

    folder = _project(tmp_path / "p", 20)
    prepared: list[int] = []
    monkeypatch.setattr(OpenAPITarget, "prepare", lambda self: prepared.append(os.getpid()), raising=False)
    monkeypatch.setenv("INTEGC_JOBS", "2")
    assert not build_project(folder, incremental=False).diagnostics.has_errors
    assert prepared == [os.getpid()]


def test_a_target_whose_preparation_fails_still_builds(tmp_path, monkeypatch):
    from integc.build import build_project
    from integc.targets.openapi import OpenAPITarget

    def fails(self):
        raise RuntimeError("no validators today")

    folder = _project(tmp_path / "p", 20)
    monkeypatch.setattr(OpenAPITarget, "prepare", fails)
    monkeypatch.setenv("INTEGC_JOBS", "2")
    result = build_project(folder, incremental=False)
    assert not result.diagnostics.has_errors
    assert (folder / "build" / "openapi" / "s0.openapi.yaml").is_file()


def test_a_cold_build_stores_every_parsed_file_while_it_resolves(tmp_path, monkeypatch):
    from integc.build import build_project
    from integc.cache import cache_folder

    folder = _project(tmp_path / "p", 20)
    forks = _forks(monkeypatch)
    monkeypatch.setenv("INTEGC_JOBS", "2")
    build_project(folder)
    config = load_config(folder, Diagnostics())
    if BuildCache.open(config.out) is None:
        pytest.skip("no build cache here (no signing key)")
    assert len(list((cache_folder(config.out) / "modules").iterdir())) == 21
    assert len(forks) >= 3  # the parse, the cache, the targets
    parsed: list[str] = []
    real = loader._parse_text
    monkeypatch.setattr(loader, "_parse_text", lambda text, shown, *rest: parsed.append(shown) or real(text, shown, *rest))
    (folder / "main.integ").write_text((folder / "main.integ").read_text() + "\n", encoding="utf-8")
    build_project(folder)
    assert [Path(shown).name for shown in parsed] == ["main.integ"]


def test_unreadable_files_do_not_start_a_wave_each(tmp_path, monkeypatch):
    folder = _project(tmp_path / "p", 40)
    for i in range(0, 40, 4):
        (folder / "systems" / f"s{i:02}.integ").write_bytes(b"\xff not utf-8")
    serial = _load(folder, monkeypatch, 1)
    reads: list[Path] = []
    real = loader._read_source
    monkeypatch.setattr(loader, "_read_source", lambda path, *rest: reads.append(path) or real(path, *rest))
    assert _load(folder, monkeypatch, 2) == serial
    assert len(reads) == 41 + 10  # every file once, and the unreadable ones again by the loader, to report
