"""targets/mapping/pretty.py writes exactly what pprint.pformat(width=100, sort_dicts=False) writes."""
from __future__ import annotations

import math
import pprint

from hypothesis import given, settings
from hypothesis import strategies as st

from integc.targets.mapping.pretty import WIDTH, Pretty


def reference(value: object) -> str:
    return pprint.pformat(value, width=WIDTH, sort_dicts=False)


# Strings with spaces, line breaks and other whitespace where pprint splits long ones.
_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.sampled_from(list("ab c\n\t\r\x0b\x85\u2028 '\"\\é€")), max_size=260),
    st.lists(st.sampled_from(["word", "longer-word ", " ", "\n", "  ", "x" * 40, "'", "é"]), max_size=40)
    .map("".join),
)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-10**30, max_value=10**30),
                     st.floats(allow_nan=False, allow_infinity=False), _text)
_keys = st.one_of(st.text(max_size=12), st.sampled_from(["type", "properties", "$defs", "description", "x" * 60]))
_json = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=6),
                                                       st.dictionaries(_keys, inner, max_size=6)),
                     max_leaves=60)


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.lists(_json, max_size=8), st.dictionaries(_keys, _json, max_size=8)))
def test_same_text_as_pprint(value):
    printer = Pretty()
    assert printer.pformat(value) == reference(value)
    assert printer.pformat(value) == reference(value)  # from the caches


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_keys, _json, min_size=1, max_size=5), st.lists(_keys, min_size=1, max_size=6))
def test_shared_parts_at_other_places(part, keys):
    """One object under keys of other lengths, first and last, nested deeper: the cache keeps them apart."""
    printer = Pretty()
    for value in ({k: part for k in keys}, [part, {"k": [part]}, part], {"a": {"bb": part, "c": [part, 1]}}):
        assert printer.pformat(value) == reference(value)


def test_other_values_go_to_pprint():
    class Text(str):
        pass

    printer = Pretty()
    for value in ({"t": (1, 2)}, [Text("x" * 120)], {1: "a"}, {"f": math.inf}, {"s": {1, 2}}, "x" * 300, 5,
                  [{"b": b"x" * 200}]):
        assert printer.pformat(value) == reference(value)


def test_a_value_inside_itself_is_left_to_pprint():
    value: list = [1]
    value.append(value)
    assert Pretty().pformat(value) == reference(value)


def test_long_strings_and_deep_nesting():
    words = " ".join(f"word{i}" for i in range(80))
    value = {"description": words, "lines": "first line\n" + words + "\n" + "x" * 150,
             "deep": [[[[[[[[{"k": words}]]]]]]]], "empty": ["", {}, []],
             "wide": {"x" * 90: "y" * 20, "z": ""}}
    assert Pretty().pformat(value) == reference(value)
    nested: object = "end " * 40
    for i in range(120):  # deeper than the width: every line starts past column 100
        nested = {f"k{i}": nested, "e": ""}
    assert Pretty().pformat(nested) == reference(nested)


def test_large_parts_are_written_again_not_kept():
    part = {f"key{i}": {"description": "word " * 30, "type": "string", "n": i} for i in range(200)}
    value = {"a": part, "b": [part], "c": {"d": part}}
    assert len(repr(part)) > 16_384
    printer = Pretty()
    assert printer.pformat(value) == reference(value)
    assert printer.pformat(value) == reference(value)
