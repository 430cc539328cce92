"""integc-manifest.json is written with orjson; its bytes are the json.dumps(indent=2,
ensure_ascii=False) text they replace, for any path (control characters, non-ASCII, lone
surrogates, which neither can encode: the build never has such a path, and both refuse it alike)."""
from __future__ import annotations

import json

from hypothesis import given, strategies as st

from integc import __version__
from integc.writer import _manifest

paths = st.text(st.characters(codec=None, categories=None), max_size=20)  # surrogates too
digests = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


def _reference(files, inputs) -> bytes:
    manifest = {
        "compiler": {"name": "integc", "version": __version__},
        "inputs": {path: {"sha256": digest} for path, digest in sorted(inputs.items())},
        "outputs": {path: {"sha256": digest, "bytes": size} for path, digest, size in sorted(files)},
    }
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


@given(st.lists(st.tuples(paths, digests, st.integers(0, 2**63 - 1)), unique_by=lambda f: f[0], max_size=8),
       st.dictionaries(paths, digests, max_size=5))
def test_manifest_bytes_are_the_standard_librarys(files, inputs) -> None:
    try:
        expected = _reference(files, inputs)
    except UnicodeEncodeError:
        expected = None
    try:
        written = _manifest(files, inputs)
    except UnicodeEncodeError:
        written = None
    assert written == expected


def test_examples() -> None:
    files = [("openapi/crm.openapi.yaml", "a" * 64, 10), ("ctl\x01\u2028é", "b" * 64, 0)]
    assert _manifest(files, {}) == _reference(files, {})
    assert _manifest([], {}).endswith(b'"inputs": {},\n  "outputs": {}\n}\n')
