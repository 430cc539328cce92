"""The loader takes the SHA-256 of a source's text from that of its bytes when they are the same."""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from integc import loader
from integc.config import Limits
from integc.diagnostics import Diagnostics

CONFIG = SimpleNamespace(limits=Limits())


@settings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from(["a", "\n", "\r", "\r\n", "é", "\u2028", "\ufeff", "𝄞", " "])).map("".join),
       bom=st.booleans())
def test_each_digest_is_that_of_its_own_bytes(text: str, bom: bool) -> None:
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.integ"
        path.write_bytes(data)
        read = loader._read_source(path, "s.integ", CONFIG, Diagnostics())
    assert read is not None
    shown, raw_digest, text_digest = read
    assert shown == loader.decode_source(data)
    assert raw_digest == hashlib.sha256(data).hexdigest()
    assert text_digest == hashlib.sha256(shown.encode("utf-8")).hexdigest()
