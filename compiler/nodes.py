"""`node`: a frozen, slotted dataclass, quicker to build and to create.

The AST, the IR and spans are frozen dataclasses: a compilation builds
hundreds of thousands of them (280k AST nodes at N=200), and so does loading
them from the build cache or from a worker. Two costs of the stock
`dataclass(frozen=True, slots=True)` are avoided here:

- Constructing: a frozen dataclass's generated `__init__` assigns each field
  through `object.__setattr__` (its own `__setattr__` refuses); the one
  installed here calls each slot's descriptor directly, which does the same
  assignment in about 60 % of the time.
- Defining: `dataclass` compiles source for each generated method (`__repr__`,
  `__eq__`, `__hash__`, `__setattr__`, `__delattr__`, the order methods) of
  each class: importing the diagnostics, syntax and IR modules took 51 ms at
  every start, 26 ms now. Here `dataclass` makes the fields and slots only;
  `__init__` (the hot method, with the class's own signature) is compiled, and
  the others are closures over the field names (equality and hash cost about
  0.1 µs more a call; a build calls them a few thousand times at most).

Nothing else changes: same fields, defaults, equality, hash, order, repr,
frozenness, pickling and copying (tests/frontend/test_nodes.py compares them
with plain dataclasses); `dataclasses.fields`, `replace` and `asdict` work as
before. Only `__dataclass_params__` tells the difference: it records what
`dataclass` itself was asked to make (the fields and slots).
"""
from __future__ import annotations

import dataclasses
import operator
import reprlib


def node(cls=None, /, *, order: bool = False):
    """`@dataclass(frozen=True, slots=True, order=order)`, built as described above."""
    def wrap(cls):
        return _with_methods(dataclasses.dataclass(init=False, repr=False, eq=False, slots=True)(cls), order)
    return wrap if cls is None else wrap(cls)


def _with_methods(cls, order: bool):
    fields = dataclasses.fields(cls)
    names = tuple(f.name for f in fields)
    for f in fields:
        if f.default_factory is not dataclasses.MISSING or not f.init or f.kw_only or not f.repr \
                or not f.compare or f.hash is not None:
            raise TypeError(f"{cls.__qualname__}.{f.name}: node fields take a plain default, if any")
    methods = {"__init__": _fast_init(cls, fields), **_shared_methods(cls, names, order)}
    for name, function in methods.items():
        function.__qualname__ = f"{cls.__qualname__}.{name}"
        function.__module__ = cls.__module__
        setattr(cls, name, function)
    return cls


def _fast_init(cls, fields):
    """The one method compiled per class: its signature is the class's own, and it is the hot one."""
    namespace: dict[str, object] = {}
    parameters, assignments = [], []
    for position, f in enumerate(fields):
        # Names in the generated source are our own identifiers (field names are Python
        # identifiers from this package's class bodies); values are passed in the namespace.
        namespace[f"_set{position}"] = cls.__dict__[f.name].__set__
        if f.default is dataclasses.MISSING:
            parameters.append(f.name)
        else:
            namespace[f"_default{position}"] = f.default
            parameters.append(f"{f.name}=_default{position}")
        assignments.append(f"    _set{position}(self, {f.name})")
    source = f"def __init__(self, {', '.join(parameters)}):\n" + ("\n".join(assignments) or "    pass") + "\n"
    exec(source, namespace)  # noqa: S102 - see above: no outside text reaches the source
    init = namespace["__init__"]
    init.__annotations__ = {**{f.name: f.type for f in fields}, "return": None}
    return init


def _shared_methods(cls, names: tuple[str, ...], order: bool) -> dict:
    """repr, equality, hash, order, frozenness and pickling as `dataclass` writes them, as closures over
    the field names (nothing to compile)."""
    if len(names) > 1:
        values = operator.attrgetter(*names)
    elif names:
        one = operator.attrgetter(names[0])
        values = lambda obj: (one(obj),)  # noqa: E731 - a tuple, as the dataclass compares and hashes
    else:
        values = lambda obj: ()  # noqa: E731

    @reprlib.recursive_repr()
    def __repr__(self):
        return f"{self.__class__.__qualname__}({', '.join(f'{name}={getattr(self, name)!r}' for name in names)})"

    def __hash__(self):
        return hash(values(self))

    def __setattr__(self, name, value):
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    def __reduce__(self):
        return self.__class__, values(self)

    methods = {"__repr__": __repr__, "__hash__": __hash__, "__setattr__": __setattr__, "__delattr__": __delattr__,
               "__reduce__": __reduce__}
    comparisons = (("__eq__", operator.eq),) + ((("__lt__", operator.lt), ("__le__", operator.le),
                                                 ("__gt__", operator.gt), ("__ge__", operator.ge)) if order else ())
    for name, compare in comparisons:
        methods[name] = _comparison(values, compare)
    return methods


def _comparison(values, compare):
    def method(self, other):
        if other.__class__ is self.__class__:
            return compare(values(self), values(other))
        return NotImplemented
    return method
