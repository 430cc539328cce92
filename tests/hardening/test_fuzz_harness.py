"""fuzz/fuzz_compile.py stays importable without atheris and its oracle accepts
every seed (so a finding in a long run is a real one)."""
from __future__ import annotations

import importlib.util
import random

from hsupport import REPO

HARNESS = REPO / "fuzz" / "fuzz_compile.py"


def _load():
    spec = importlib.util.spec_from_file_location("integc_fuzz_compile", HARNESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_harness_accepts_the_seeds_and_junk(tmp_path):
    harness = _load()
    assert harness.make_corpus(tmp_path / "corpus") > 50
    seeds = sorted((tmp_path / "corpus").iterdir())
    generator = random.Random(8)
    for seed in seeds[::10]:
        harness.run_one(seed.read_bytes())
    for _ in range(10):
        harness.run_one(bytes(generator.randrange(256) for _ in range(300)))
    harness.run_one(b"\xef\xbb\xbf" + seeds[0].read_bytes().replace(b"\n", b"\r\n"))


def test_dictionary_is_valid_for_libfuzzer():
    for line in (REPO / "fuzz" / "integ.dict").read_text(encoding="utf-8").splitlines():
        assert line.startswith("#") or (line.startswith('"') and line.endswith('"') and len(line) > 2), line
