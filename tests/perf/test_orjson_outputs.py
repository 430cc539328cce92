"""What integc writes with orjson: integc-manifest.json, whose bytes are the json.dumps(indent=2,
ensure_ascii=False) text they replace, for any path (control characters, non-ASCII, lone
surrogates, which neither can encode: the build never has such a path, and both refuse it alike),
and the build cache's record."""
from __future__ import annotations

import json

import orjson

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


@given(st.dictionaries(paths, st.one_of(st.integers(0, 2**64 - 1), digests, st.floats(allow_nan=False, allow_infinity=False)), max_size=6))
def test_cache_record_reads_back_or_is_not_trusted(record) -> None:
    """The build cache's record (orjson) reads back as it was written; a path orjson cannot write
    is written by json and then not read back (the next build is cold), never a crash."""
    from integc.cache import _record_bytes

    payload = _record_bytes(record)
    try:
        assert orjson.loads(payload) == record
    except orjson.JSONDecodeError:
        assert any(0xD800 <= ord(c) < 0xE000 for path in record for c in path)
