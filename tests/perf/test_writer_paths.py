"""The writer's string tests on output paths agree with the path-object definitions they replace
(they run for every file a build writes, so they avoid building a path object per file)."""
from __future__ import annotations

from pathlib import PurePosixPath

from hypothesis import given, strategies as st

from integc.writer import _parent, _safe_relative

# Paths made of the characters that matter: separators, dots, a drive colon, a backslash, NUL.
paths = st.text(alphabet="/.\\:\x00ab", max_size=12)


def _safe_relative_by_path(path: str) -> bool:
    pure = PurePosixPath(path)
    return bool(path) and not pure.is_absolute() and ".." not in pure.parts and "\\" not in path \
        and "\x00" not in path and not (len(path) > 1 and path[1] == ":")


@given(paths)
def test_safe_relative_agrees_with_purepath(path: str) -> None:
    assert _safe_relative(path) == _safe_relative_by_path(path)


@given(paths.filter(_safe_relative_by_path))
def test_parent_agrees_with_purepath(path: str) -> None:
    assert _parent(path) == str(PurePosixPath(path).parent)


def test_examples() -> None:
    assert _safe_relative("openapi/crm.openapi.yaml") and not _safe_relative("a/../b")
    assert not _safe_relative("/etc/passwd") and not _safe_relative("c:x") and not _safe_relative("")
    assert _parent("openapi/crm.openapi.yaml") == "openapi" and _parent("ir.json") == "."
