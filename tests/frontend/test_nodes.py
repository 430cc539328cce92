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


def _outcome(compare):
    try:
        return compare()
    except TypeError:
        return TypeError


@given(values, values)
def test_a_node_is_a_plain_frozen_dataclass(a, b):
    plain, fast = (Plain(*a), Plain(*b)), (Fast(*a), Fast(*b))
    assert repr(fast[0]) == repr(plain[0]).replace("Plain", "Fast", 1)
    assert (fast[0] == fast[1]) == (plain[0] == plain[1])
    assert _outcome(lambda: fast[0] < fast[1]) == _outcome(lambda: plain[0] < plain[1])  # None < "" raises
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
def test_every_slotted_dataclass_of_the_compiler_is_a_node(module):
    classes = [c for c in vars(module).values() if isinstance(c, type) and dataclasses.is_dataclass(c)
               and c.__module__ == module.__name__ and hasattr(c, "__slots__")]
    assert classes
    assert all(c.__init__.__code__.co_filename == "<string>" and "_set0" in c.__init__.__code__.co_names
               for c in classes if dataclasses.fields(c))
    assert all(c.__setattr__.__qualname__ == f"{c.__qualname__}.__setattr__" and c.__hash__ is not None
               for c in classes)


def test_an_empty_node_and_the_methods_names():
    @node
    class Empty:
        pass

    @dataclasses.dataclass(frozen=True, slots=True)
    class PlainEmpty:
        pass

    assert Empty() == Empty() and hash(Empty()) == hash(PlainEmpty())
    assert repr(Empty()) == repr(PlainEmpty()).replace("PlainEmpty", "Empty")
    assert Fast.__eq__.__qualname__ == "Fast.__eq__" and Fast.__init__.__module__ == __name__
    with pytest.raises(dataclasses.FrozenInstanceError):
        del Fast("a", 1).count
    assert Fast("a", 1).__eq__(Plain("a", 1)) is NotImplemented and Fast("a", 1).__lt__(3) is NotImplemented
