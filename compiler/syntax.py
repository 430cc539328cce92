"""The abstract syntax tree: frozen dataclasses, each node with its span.

The tree says what was written, not what it means: names are unresolved and
clauses keep their source order (duplicates included) so later stages can
report precisely.
"""
from __future__ import annotations

from typing import Union

from integc.diagnostics import Span
from integc.nodes import node


@node
class Name:
    text: str
    span: Span


@node
class QualName:
    parts: tuple[Name, ...]
    span: Span

    @property
    def text(self) -> str:
        parts = self.parts
        return parts[0].text if len(parts) == 1 else ".".join(p.text for p in parts)


# ---- values (defaults, annotation arguments, settings, match patterns)

@node
class Value:
    """A literal: kind is string|int|float|bool|null|duration|list|object|symbol.

    `symbol` is a bare name (an enum member in a default or pattern); list and
    object hold Values (object as ((key, Value), ...)); duration is in ms.
    A number keeps its source `text`, so a decimal default loses no digits.
    """

    kind: str
    value: object
    span: Span
    text: str | None = None

    def to_python(self) -> object:
        if self.kind == "list":
            return [v.to_python() for v in self.value]
        if self.kind == "object":
            return {k: v.to_python() for k, v in self.value}
        return self.value


# ---- declarations

@node
class TypeRef:
    """`Name`, `sys.Entity`, `list<T>`, `map<T>`, each optionally followed by `?`."""

    kind: str  # "named" | "list" | "map"
    name: QualName | None
    item: "TypeRef | None"
    optional: bool
    span: Span


@node
class Annotation:
    name: Name
    args: tuple[Value, ...]
    span: Span


@node
class Field:
    name: Name
    type: TypeRef
    annotations: tuple[Annotation, ...]
    default: Value | None
    doc: str | None
    span: Span


@node
class Package:
    name: QualName
    version: Value
    span: Span


@node
class Import:
    path: Value
    span: Span


@node
class TypeDecl:
    name: Name
    fields: tuple[Field, ...]
    doc: str | None
    span: Span


@node
class EnumMember:
    name: Name
    wire: Value | None
    doc: str | None
    span: Span


@node
class EnumDecl:
    name: Name
    members: tuple[EnumMember, ...]
    doc: str | None
    span: Span


@node
class Setting:
    """`key value` inside a settings block (auth, k8s)."""

    key: Name
    value: Value
    span: Span


@node
class Clause:
    """A one-value clause of a system or flow: title, owner, base_url, handles,
    write, on_error, from, to. `value` is a Value or a QualName."""

    keyword: str
    value: Union[Value, QualName, Name]
    span: Span


@node
class Auth:
    kind: Name
    settings: tuple[Setting, ...]
    span: Span


@node
class Entity:
    name: Name
    fields: tuple[Field, ...]
    doc: str | None
    span: Span


@node
class Expose:
    entity: Name
    path: Value
    ops: tuple[Name, ...]
    doc: str | None
    span: Span


@node
class Param:
    name: Name
    type: TypeRef
    span: Span


@node
class Operation:
    name: Name
    method: Name
    path: Value
    params: tuple[Param, ...]
    returns: TypeRef | None
    doc: str | None
    span: Span


@node
class Event:
    name: Name
    type: TypeRef
    doc: str | None
    span: Span


@node
class Deploy:
    """`k8s { namespace "billing" port 8443 labels { app = "billing" } }`:
    where an in-cluster system runs, to narrow NetworkPolicy egress."""

    settings: tuple[Setting, ...]
    span: Span


SystemMember = Union[Clause, Auth, Entity, Expose, Operation, Event, Deploy]


@node
class System:
    name: Name
    members: tuple[SystemMember, ...]
    doc: str | None
    span: Span


# ---- expressions (the mapping language)

@node
class Literal:
    value: Value
    span: Span


@node
class Ref:
    """A bare name in an expression: a source field or an `each` variable."""

    name: Name
    span: Span


@node
class Member:
    """`obj.field`."""

    obj: "Expr"
    name: Name
    span: Span


@node
class Call:
    func: Name
    args: tuple["Expr", ...]
    span: Span


@node
class Unary:
    op: str  # "-" | "not"
    operand: "Expr"
    span: Span


@node
class Binary:
    op: str  # + - * / == != < <= > >= and or ??
    left: "Expr"
    right: "Expr"
    span: Span


@node
class IfExpr:
    cond: "Expr"
    then: "Expr"
    otherwise: "Expr"
    span: Span


@node
class MatchArm:
    pattern: Value | None  # None is the `_` wildcard
    expr: "Expr"
    span: Span


@node
class Match:
    subject: "Expr"
    arms: tuple[MatchArm, ...]
    span: Span


@node
class Assignment:
    target: Name
    expr: "Expr"
    span: Span


@node
class Each:
    source: "Expr"
    var: Name
    body: tuple[Assignment, ...]
    span: Span


@node
class Record:
    """`{ field = expr ... }`: builds a value of the target field's record type."""

    body: tuple[Assignment, ...]
    span: Span


Expr = Union[Literal, Ref, Member, Call, Unary, Binary, IfExpr, Match, Each, Record]


# ---- flows

@node
class Trigger:
    """kind: event (ref) | every (value: duration ms) | cron (value) | webhook (value) | manual (value?)."""

    kind: str
    ref: QualName | None
    value: Value | None
    span: Span


@node
class MapBlock:
    body: tuple[Assignment, ...]
    span: Span


@node
class Retry:
    attempts: Value
    backoff: Name | None
    initial: Value | None
    maximum: Value | None
    span: Span


@node
class FlowTest:
    """`test "name" { input { ... } expect { ... } }`: an example run of the mapping."""

    name: Value
    input: Value
    expect: Value
    span: Span


FlowMember = Union[Clause, Trigger, MapBlock, Retry, FlowTest]


@node
class Flow:
    name: Name
    members: tuple[FlowMember, ...]
    doc: str | None
    span: Span


Declaration = Union[Package, Import, TypeDecl, EnumDecl, System, Flow]


@node
class Module:
    """One parsed source file."""

    path: str
    declarations: tuple[Declaration, ...]
    span: Span
