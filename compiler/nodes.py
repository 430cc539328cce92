"""`node`: a frozen, slotted dataclass whose constructor is about twice as fast.

The AST, the IR and spans are frozen dataclasses: a compilation builds
hundreds of thousands of them (280k AST nodes at N=200), and so does loading
them from the build cache or from a worker. A frozen dataclass's generated
`__init__` assigns each field through `object.__setattr__` (its own
`__setattr__` refuses); the one installed here calls each slot's descriptor
directly, which does the same assignment in about 60 % of the time. Nothing
else changes: same fields, defaults, equality, hash, order, repr, pickling
(tests/frontend/test_nodes.py compares them with plain dataclasses).
"""
from __future__ import annotations

import dataclasses


def node(cls=None, /, *, order: bool = False):
    """`@dataclass(frozen=True, slots=True, order=order)` with the faster `__init__` (written
    here instead of the dataclass's: one `__init__` to generate per class, not two)."""
    def wrap(cls):
        return _with_fast_init(dataclasses.dataclass(frozen=True, slots=True, order=order, init=False)(cls))
    return wrap if cls is None else wrap(cls)


def _with_fast_init(cls):
    fields = dataclasses.fields(cls)
    namespace: dict[str, object] = {}
    parameters, body = [], []
    for position, f in enumerate(fields):
        if f.default_factory is not dataclasses.MISSING or not f.init or f.kw_only:
            raise TypeError(f"{cls.__qualname__}.{f.name}: node fields take a plain default, if any")
        # Names in the generated source are our own identifiers (field names are Python
        # identifiers from this package's class bodies); values are passed in the namespace.
        namespace[f"_set{position}"] = cls.__dict__[f.name].__set__
        if f.default is dataclasses.MISSING:
            parameters.append(f.name)
        else:
            namespace[f"_default{position}"] = f.default
            parameters.append(f"{f.name}=_default{position}")
        body.append(f"    _set{position}(self, {f.name})")
    source = f"def __init__(self, {', '.join(parameters)}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(source, namespace)  # noqa: S102 - see above: no outside text reaches the source
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = {**{f.name: f.type for f in fields}, "return": None}
    cls.__init__ = init
    return cls
