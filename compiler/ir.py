"""The intermediate representation: resolved, checked, target-neutral.

Targets see only this. Every name is resolved (entities as "system.Entity"),
every expression carries its type, every default and example is already in
its JSON wire form (enums by wire value, decimals as strings without an
exponent, durations as ISO 8601 strings, dates as RFC 3339 strings); trigger
and retry timings are whole milliseconds. Every node keeps the span it came from.
`to_json` gives the form described by specs/ir.schema.json.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Union

from integc.diagnostics import Span
from integc.nodes import node

PRIMITIVES = ("string", "int", "decimal", "float", "bool", "date", "datetime", "duration",
              "uuid", "email", "url", "bytes", "json")
OPERATION_KINDS = ("list", "get", "create", "update", "patch", "delete")


@node
class TypeRef:
    """kind: a primitive name, or enum | type | entity (with `ref`), or list | map (with `item`)."""

    kind: str
    ref: str | None = None
    item: "TypeRef | None" = None

    def __str__(self) -> str:
        if self.kind in ("list", "map"):
            return f"{self.kind}<{self.item}>"
        return self.ref if self.ref is not None else self.kind


# ---------------------------------------------------------------- declarations

@node
class Field:
    name: str
    type: TypeRef
    optional: bool
    has_default: bool
    default: object
    key: bool
    readonly: bool
    pii: bool
    deprecated: str | None
    min_length: int | None
    max_length: int | None
    minimum: int | float | None
    maximum: int | float | None
    pattern: str | None
    has_example: bool
    example: object
    description: str | None
    origin: Span

    @property
    def required(self) -> bool:
        """Must be present in a record: neither optional nor defaulted."""
        return not self.optional and not self.has_default


@node
class TypeDef:
    name: str
    fields: tuple[Field, ...]
    description: str | None
    origin: Span


@node
class EnumMember:
    name: str
    wire: str
    description: str | None
    origin: Span


@node
class EnumDef:
    name: str
    members: tuple[EnumMember, ...]
    description: str | None
    origin: Span


@node
class Entity:
    system: str
    name: str
    fields: tuple[Field, ...]
    key: str | None
    description: str | None
    origin: Span

    @property
    def qualified_name(self) -> str:
        return f"{self.system}.{self.name}"


@node
class Auth:
    """kind: none | api_key | bearer | basic | oauth2 | mtls."""

    kind: str
    secret: str | None
    header: str | None
    token_url: str | None
    scopes: tuple[str, ...]
    origin: Span


@node
class Expose:
    entity: str  # the entity's bare name within its system
    path: str
    operations: tuple[str, ...]  # in OPERATION_KINDS order
    description: str | None
    origin: Span


@node
class Param:
    name: str
    type: TypeRef
    optional: bool
    location: str  # path | query | body
    origin: Span


@node
class Operation:
    name: str
    method: str  # upper case
    path: str
    params: tuple[Param, ...]
    returns: TypeRef | None
    returns_optional: bool
    description: str | None
    origin: Span


@node
class Event:
    name: str
    type: TypeRef
    description: str | None
    origin: Span


@node
class Deploy:
    """Where an in-cluster system runs (`k8s { ... }`), to narrow egress."""

    namespace: str | None
    labels: tuple[tuple[str, str], ...]
    port: int | None
    origin: Span


@node
class System:
    name: str
    title: str | None
    owner: str | None
    base_url: str | None
    auth: Auth
    handles_pii: bool
    entities: tuple[Entity, ...]
    exposes: tuple[Expose, ...]
    operations: tuple[Operation, ...]
    events: tuple[Event, ...]
    deploy: Deploy | None
    description: str | None
    origin: Span


# ---------------------------------------------------------------- expressions

@node
class Const:
    value: object  # JSON wire form
    type: TypeRef
    optional: bool
    origin: Span


@node
class Var:
    """The record or value an `each` is at."""

    name: str
    type: TypeRef
    optional: bool
    origin: Span


@node
class Get:
    """A field read; `obj` None reads the flow's source record."""

    obj: "Expr | None"
    field: str
    type: TypeRef
    optional: bool
    origin: Span


@node
class Call:
    func: str
    args: tuple["Expr", ...]
    type: TypeRef
    optional: bool
    origin: Span


@node
class Unary:
    op: str  # "-" | "not"
    operand: "Expr"
    type: TypeRef
    optional: bool
    origin: Span


@node
class Binary:
    op: str  # + - * / == != < <= > >= and or
    left: "Expr"
    right: "Expr"
    type: TypeRef
    optional: bool
    origin: Span


@node
class Coalesce:
    left: "Expr"
    right: "Expr"
    type: TypeRef
    optional: bool
    origin: Span


@node
class If:
    cond: "Expr"
    then: "Expr"
    otherwise: "Expr"
    type: TypeRef
    optional: bool
    origin: Span


@node
class MatchArm:
    value: object  # the pattern's wire value (an enum member's wire string)
    expr: "Expr"
    origin: Span


@node
class Match:
    subject: "Expr"
    arms: tuple[MatchArm, ...]
    default: "Expr | None"
    type: TypeRef
    optional: bool
    origin: Span


@node
class Assignment:
    field: str
    expr: "Expr"
    origin: Span


@node
class Each:
    """Maps every item of `source` (a list) to a record of `type` (the item type)."""

    source: "Expr"
    var: str
    fields: tuple[Assignment, ...]
    type: TypeRef  # list<record>
    optional: bool
    origin: Span


@node
class Record:
    fields: tuple[Assignment, ...]
    type: TypeRef  # type | entity
    optional: bool
    origin: Span


Expr = Union[Const, Var, Get, Call, Unary, Binary, Coalesce, If, Match, Each, Record]


# ---------------------------------------------------------------- flows

@node
class Trigger:
    """kind: event | schedule | webhook | manual."""

    kind: str
    event: str | None
    every_ms: int | None
    cron: str | None
    path: str | None
    note: str | None
    origin: Span


@node
class Retry:
    attempts: int
    backoff: str  # exponential | fixed
    initial_ms: int
    max_ms: int
    origin: Span


@node
class FlowTest:
    name: str
    input: object
    expect: object
    origin: Span


@node
class Flow:
    name: str
    source: str  # "system.Entity"
    target: str
    trigger: Trigger
    write: str  # create | update | upsert
    assignments: tuple[Assignment, ...]
    retry: Retry | None
    on_error: str  # dead_letter | skip | halt
    tests: tuple[FlowTest, ...]
    description: str | None
    origin: Span


@node
class SourceFile:
    path: str  # relative to the project folder, POSIX separators
    sha256: str


@dataclass(frozen=True)
class Project:
    package: str
    version: str
    types: tuple[TypeDef, ...]
    enums: tuple[EnumDef, ...]
    systems: tuple[System, ...]
    flows: tuple[Flow, ...]
    sources: tuple[SourceFile, ...]

    @cached_property
    def _systems(self) -> dict[str, System]:
        return {s.name: s for s in self.systems}

    @cached_property
    def _entities(self) -> dict[str, Entity]:
        return {e.qualified_name: e for s in self.systems for e in s.entities}

    @cached_property
    def _types(self) -> dict[str, TypeDef]:
        return {t.name: t for t in self.types}

    @cached_property
    def _enums(self) -> dict[str, EnumDef]:
        return {e.name: e for e in self.enums}

    def system(self, name: str) -> System:
        return self._systems[name]

    def entity(self, qualified_name: str) -> Entity:
        return self._entities[qualified_name]

    def type(self, name: str) -> TypeDef:
        return self._types[name]

    def enum(self, name: str) -> EnumDef:
        return self._enums[name]

    def record_fields(self, ref: TypeRef) -> tuple[Field, ...]:
        """The fields of a `type` or `entity` TypeRef."""
        if ref.kind == "entity":
            return self.entity(ref.ref).fields
        return self.type(ref.ref).fields


# ---------------------------------------------------------------- JSON form

def to_json(node: object, file_name: Callable[[str], str] | None = None) -> object:
    """The JSON form of any IR value (specs/ir.schema.json); expression nodes get a `node` tag.

    `file_name` rewrites the file of every span (ir.json uses project-relative
    paths, so it does not depend on the folder integc ran in).
    """
    if isinstance(node, Span):
        data = node.to_json()
        if file_name is not None:
            data["file"] = file_name(node.file)
        return data
    if dataclasses.is_dataclass(node):
        out: dict[str, object] = {}
        if isinstance(node, _EXPR_CLASSES):
            out["node"] = type(node).__name__.lower()
        for f in dataclasses.fields(node):
            out[f.name] = to_json(getattr(node, f.name), file_name)
        return out
    if isinstance(node, (tuple, list)):
        return [to_json(item, file_name) for item in node]
    return node


_EXPR_CLASSES = (Const, Var, Get, Call, Unary, Binary, Coalesce, If, Match, Each, Record)
