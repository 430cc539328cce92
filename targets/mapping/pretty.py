"""`pprint.pformat(value, width=100, sort_dicts=False)` for JSON-like values, fast.

The mapping modules carry SOURCE_SCHEMA and TARGET_SCHEMA pretty-printed;
at a few hundred flows that was most of the mapping target's time, because
pprint measures every container by repr-ing its whole subtree again at each
level, in Python. `Pretty` writes the same text:

- A container's repr length is computed once, bottom up, and kept.
- The text of a container at a given indent and allowance (all that its
  layout depends on, below the top level) is kept too, up to 16 KB. Schemas
  share their `$defs` entries between flows, so the text of a shared part
  is made once per build.

Both caches are keyed by the object's id and hold the object itself, so an
id is never reused for another object while its entry lives. The values must
not change once written (the mapping target's schemas are built for this and
never changed). Only exact dict (string keys), list, str, int, finite float,
bool and None are handled; anything else, at any depth, makes `pformat`
return plain pprint's text (tests/mapping/test_pretty.py checks that the two
agree).
"""
from __future__ import annotations

import itertools
import math
import pprint
import re

from integc.targets.mapping.codegen import py

WIDTH = 100

_PARTS = re.compile(r"\S*\s*")
_KEY_TYPES = frozenset({str})
# Texts longer than this are not kept: a whole schema or its `$defs` (a new object in every
# module) is not written twice, and keeping them would hold ~85 KB a flow.
_KEEP_TEXT = 16_384
_SCALAR_TYPES = frozenset({str, int, bool, type(None)})  # float: only when finite


class _Unsupported(Exception):
    """A value this printer leaves to pprint."""


class Pretty:
    """One cache of lengths and texts; keep one per build (its values hold the objects alive)."""

    def __init__(self) -> None:
        self._lengths: dict[int, tuple[object, int]] = {}
        self._texts: dict[tuple[int, int, int], tuple[object, str]] = {}

    def pformat(self, value: object) -> str:
        """Exactly `pprint.pformat(value, width=WIDTH, sort_dicts=False)`."""
        text = self._fast(value)
        return pprint.pformat(value, width=WIDTH, sort_dicts=False) if text is None else text

    def literal(self, value: object) -> str:
        """`value` as a Python literal for a generated module: `pformat`, after codegen's `py`
        check wherever the fast path did not itself see only plain JSON values."""
        text = self._fast(value)
        if text is None:
            py(value)  # raises GenerationError for what cannot be a constant
            text = pprint.pformat(value, width=WIDTH, sort_dicts=False)
        return text

    def _fast(self, value: object) -> str | None:
        if type(value) is dict or type(value) is list:
            try:
                out: list[str] = []
                self._format(value, 0, 0, out)
                return "".join(out)
            except (_Unsupported, RecursionError):
                pass
        return None

    # len(repr(value)) of a container, checking the types of everything in it on the way

    def _length(self, value: dict | list) -> int:
        hit = self._lengths.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        count = len(value)
        if not count:
            length = 2
        else:
            if type(value) is dict:
                if not set(map(type, value)) <= _KEY_TYPES:
                    raise _Unsupported
                length = 4 * count + sum(map(len, map(repr, value)))  # {}, ", " between, ": " after each key
                items = value.values()
            else:
                length = 2 * count  # [], ", " between
                items = value
            if set(map(type, items)) <= _SCALAR_TYPES:
                length += sum(map(len, map(repr, items)))
            else:
                for item in items:
                    length += self._item_length(item)
        self._lengths[id(value)] = (value, length)
        return length

    def _item_length(self, item: object) -> int:
        kind = type(item)
        if kind is dict or kind is list:
            return self._length(item)
        if kind in _SCALAR_TYPES or (kind is float and math.isfinite(item)):
            return len(repr(item))
        raise _Unsupported

    # the text, as pprint lays it out below the top level (the types are checked by then)

    def _format(self, value: object, indent: int, allowance: int, out: list[str]) -> None:
        kind = type(value)
        if kind is not dict and kind is not list:
            rep = repr(value)
            if kind is str and len(rep) > WIDTH - indent - allowance:
                self._str(value, indent, allowance, out)
            else:
                out.append(rep)
            return
        length = self._length(value)
        if length <= WIDTH - indent - allowance:
            out.append(repr(value))
            return
        key = (id(value), indent, allowance)
        hit = self._texts.get(key)
        if hit is not None and hit[0] is value:
            out.append(hit[1])
            return
        text = self._break(value, kind, indent, allowance)
        if len(text) <= _KEEP_TEXT:
            self._texts[key] = (value, text)
        out.append(text)

    def _break(self, value: dict | list, kind: type, indent: int, allowance: int) -> str:
        """pprint's layout of a container too long for its line: one item a line, a dict's
        items after their key (`'key': `), the last item with the container's allowance."""
        out: list[str] = []
        append = out.append
        indent += 1
        last = len(value) - 1
        delimiter = ",\n" + " " * indent
        if kind is dict:
            append("{")
            items = zip([repr(key) + ": " for key in value], value.values())
        else:
            append("[")
            items = zip(itertools.repeat(""), value)
        for i, (prefix, item) in enumerate(items):
            item_kind = type(item)
            if item_kind is dict or item_kind is list or item_kind is str:
                if prefix:
                    append(prefix)
                self._format(item, indent + len(prefix), allowance + 1 if i == last else 1, out)
            else:
                append(prefix + repr(item))  # a number, bool or None never breaks
            if i != last:
                append(delimiter)
        append("}" if kind is dict else "]")
        return "".join(out)

    @staticmethod
    def _str(value: str, indent: int, allowance: int, out: list[str]) -> None:
        """pprint's long string inside a container: chunks on lines of their own."""
        if not value:
            out.append(repr(value))
            return
        chunks: list[str] = []
        lines = value.splitlines(True)
        max_width1 = max_width = WIDTH - indent
        rep = ""
        for i, line in enumerate(lines):
            rep = repr(line)
            if i == len(lines) - 1:
                max_width1 -= allowance
            if len(rep) <= max_width1:
                chunks.append(rep)
                continue
            parts = _PARTS.findall(line)
            parts.pop()  # the empty match at the end
            max_width2 = max_width
            current = ""
            for j, part in enumerate(parts):
                candidate = current + part
                if j == len(parts) - 1 and i == len(lines) - 1:
                    max_width2 -= allowance
                if len(repr(candidate)) > max_width2:
                    if current:
                        chunks.append(repr(current))
                    current = part
                else:
                    current = candidate
            if current:
                chunks.append(repr(current))
        if len(chunks) == 1:
            out.append(rep)
            return
        out.append(("\n" + " " * indent).join(chunks))
