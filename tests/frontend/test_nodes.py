"""`integc.nodes.node` behaves exactly as `dataclass(frozen=True, slots=True)`, with a faster `__init__`."""
from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle

import pytest
from hypothesis import given, strategies as st

from integc import diagnostics, ir, syntax
from integc.nodes import node


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class Plain:
    name: str
    count: int
    tags: tuple = ()
    note: str | None = None


@node(order=True)
class Fast:
    name: str
    count: int
    tags: tuple = ()
    note: str | None = None


values = st.tuples(st.text(max_size=5), st.integers(), st.tuples(st.integers()), st.none() | st.text(max_size=3))


@given(values, values)
def test_a_node_is_a_plain_frozen_dataclass(a, b):
    plain, fast = (Plain(*a), Plain(*b)), (Fast(*a), Fast(*b))
    assert repr(fast[0]) == repr(plain[0]).replace("Plain", "Fast", 1)
    assert (fast[0] == fast[1]) == (plain[0] == plain[1])
    assert (fast[0] < fast[1]) == (plain[0] < plain[1])
    assert hash(fast[0]) == hash(plain[0])
    assert dataclasses.astuple(fast[0]) == dataclasses.astuple(plain[0])
    assert pickle.loads(pickle.dumps(fast[0])) == fast[0]
    assert copy.deepcopy(fast[0]) == fast[0]
    assert dataclasses.replace(fast[0], count=7) == Fast(a[0], 7, *a[2:])


def test_defaults_keywords_and_signature_are_the_dataclasses():
    assert Fast("a", 1) == Fast(name="a", count=1, tags=(), note=None)
    assert str(inspect.signature(Fast)) == str(inspect.signature(Plain))
    with pytest.raises(TypeError):
        Fast("a")
    with pytest.raises(TypeError):
        Fast("a", 1, (), None, "extra")
    with pytest.raises(dataclasses.FrozenInstanceError):
        Fast("a", 1).count = 2
    assert not hasattr(Fast("a", 1), "__dict__")


def test_a_factory_default_is_refused():
    with pytest.raises(TypeError):
        @node
        class Bad:
            items: list = dataclasses.field(default_factory=list)


@pytest.mark.parametrize("module", [syntax, ir, diagnostics])
def test_every_frozen_node_of_the_compiler_gets_the_fast_constructor(module):
    classes = [c for c in vars(module).values() if isinstance(c, type) and dataclasses.is_dataclass(c)
               and c.__module__ == module.__name__ and c.__dataclass_params__.frozen and hasattr(c, "__slots__")]
    assert classes
    assert all(c.__init__.__code__.co_filename == "<string>" and "_set0" in c.__init__.__code__.co_names
               for c in classes if dataclasses.fields(c))
