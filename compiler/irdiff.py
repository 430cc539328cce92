"""Compare two versions of a project's IR: what changed, what breaks, and for whom.

`diff_projects(old, new)` lists every change to the API surface (systems,
entities, fields, operations, events, types, enums, auth) and classifies it
as breaking or not for API consumers; every breaking change names the flows
that read or write what changed, so a reviewer sees who breaks.

The rules (docs/ci.md, "Breaking changes", has the table):

- removing anything a consumer can name is breaking (a system, entity, type,
  enum, field, exposed operation, custom operation, event, enum value);
- a field made required (optional -> required, or a default removed so it
  becomes required) breaks writers; a new required field breaks writers;
  neither applies to `@readonly` fields, which writers never send;
- a field made optional breaks readers (they may now get null);
- any change of a field's type (narrowed, widened or different, list items
  included) is breaking; so is a new `@readonly`, a different `@key`;
- constraints: a lower max / higher min length, a narrower range, a new or
  different pattern are breaking; the reverse is not;
- auth (kind, header, token_url, scopes), base_url, paths, methods and
  operationIds of operations: any change is breaking;
- additions (an optional field, entity, operation, event, enum value),
  loosened constraints, documentation, examples, `@deprecated`, `@pii`,
  owner and title are not breaking. A new enum value is reported as
  non-breaking with a caution: consumers that match the enum exhaustively
  must handle it (integc's own `match` without `_` is checked, E0304).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from integc import ir
from integc.naming import operation_id

# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Use:
    """One place a flow touches what changed."""

    how: str  # "reads", "writes", "source", "target", "trigger", ...
    file: str
    line: int


@dataclass(frozen=True)
class FlowRef:
    name: str
    file: str
    line: int
    version: str  # "new" or "old": which project the flow is in
    uses: tuple[Use, ...] = ()


@dataclass(frozen=True)
class Change:
    kind: str  # a stable identifier such as "field-removed"
    breaking: bool
    subject: str  # what changed: "billing.Account.plan"
    message: str  # what happened, e.g. "removed", "type changed from string to email"
    old: object = None
    new: object = None
    note: str | None = None
    flows: tuple[FlowRef, ...] = ()

    def to_json(self) -> dict:
        return {
            "kind": self.kind, "breaking": self.breaking, "subject": self.subject, "message": self.message,
            "old": self.old, "new": self.new, "note": self.note,
            "flows": [{"name": f.name, "file": f.file, "line": f.line, "project": f.version,
                       "uses": [{"how": u.how, "file": u.file, "line": u.line} for u in f.uses]}
                      for f in self.flows],
        }


@dataclass
class Report:
    old_label: str
    new_label: str
    changes: list[Change] = field(default_factory=list)

    @property
    def breaking(self) -> list[Change]:
        return [c for c in self.changes if c.breaking]

    @property
    def non_breaking(self) -> list[Change]:
        return [c for c in self.changes if not c.breaking]


# ---------------------------------------------------------------- who uses what


def _type_names(t: ir.TypeRef | None) -> set[str]:
    """Record and enum names a type refers to directly (through list/map)."""
    if t is None:
        return set()
    if t.kind in ("list", "map"):
        return _type_names(t.item)
    if t.kind in ("type", "entity", "enum"):
        return {t.ref}
    return set()


class Usage:
    """Which flows of one project read, write or call what (with source lines)."""

    def __init__(self, project: ir.Project, locate: Callable[[object], tuple[str, int]], version: str):
        self.project = project
        self.version = version
        self._locate = locate
        # (owner, field) -> flow -> [Use]; owner is "system.Entity" or a type name
        self.field_reads: dict[tuple[str, str], dict[str, list[Use]]] = {}
        self.field_writes: dict[tuple[str, str], dict[str, list[Use]]] = {}
        # record/enum name -> flow -> [Use] for values copied whole (all fields at once)
        self.whole_reads: dict[str, dict[str, list[Use]]] = {}
        self.whole_writes: dict[str, dict[str, list[Use]]] = {}
        self.flows = {f.name: f for f in project.flows}
        for flow in project.flows:
            self._index(flow)

    # -- indexing

    def _use(self, how: str, origin) -> Use:
        file, line = self._locate(origin)
        return Use(how, file, line)

    @staticmethod
    def _add(table: dict, key, flow: str, use: Use) -> None:
        table.setdefault(key, {}).setdefault(flow, []).append(use)

    def _contained(self, names: set[str]) -> set[str]:
        """Every record or enum reachable from `names` through fields."""
        seen: set[str] = set()
        stack = list(names)
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            for f in self._fields_of(name):
                stack.extend(_type_names(f.type) - seen)
        return seen

    def _fields_of(self, name: str) -> tuple[ir.Field, ...]:
        if "." in name:
            try:
                return self.project.entity(name).fields
            except KeyError:
                return ()
        try:
            return self.project.type(name).fields
        except KeyError:
            return ()

    def _whole(self, name: str) -> str:
        """How a value of record or enum `name` is used when it is not taken apart."""
        return "" if any(e.name == name for e in self.project.enums) else " whole"

    def _index(self, flow: ir.Flow) -> None:
        for assignment in flow.assignments:
            self._assignment(flow, flow.target, assignment)

    def _assignment(self, flow: ir.Flow, owner: str, assignment: ir.Assignment) -> None:
        use = self._use(f"writes `{assignment.field}`", assignment.origin)
        self._add(self.field_writes, (owner, assignment.field), flow.name, use)
        expr = assignment.expr
        if not isinstance(expr, (ir.Each, ir.Record)):
            target_field = next((f for f in self._fields_of(owner) if f.name == assignment.field), None)
            if target_field is not None:
                for name in self._contained(_type_names(target_field.type)):
                    self._add(self.whole_writes, name, flow.name,
                              self._use(f"writes `{assignment.field}`{self._whole(name)}", assignment.origin))
        self._expr(flow, expr, is_obj=False)

    def _expr(self, flow: ir.Flow, expr, is_obj: bool) -> None:
        if expr is None:
            return
        if isinstance(expr, ir.Get):
            owner = flow.source if expr.obj is None else (expr.obj.type.ref if expr.obj.type.kind in
                                                          ("type", "entity") else None)
            if owner is not None:
                self._add(self.field_reads, (owner, expr.field), flow.name,
                          self._use(f"reads `{_path(expr)}`", expr.origin))
            if not is_obj:
                for name in self._contained(_type_names(expr.type)):
                    self._add(self.whole_reads, name, flow.name,
                              self._use(f"reads `{_path(expr)}`{self._whole(name)}", expr.origin))
            self._expr(flow, expr.obj, is_obj=True)
            return
        if isinstance(expr, ir.Var):
            if not is_obj:
                for name in self._contained(_type_names(expr.type)):
                    self._add(self.whole_reads, name, flow.name,
                              self._use(f"reads `{expr.name}`{self._whole(name)}", expr.origin))
            return
        if isinstance(expr, ir.Each):
            self._expr(flow, expr.source, is_obj=True)
            item = expr.type.item.ref if expr.type.item is not None else None
            for assignment in expr.fields:
                if item is not None:
                    self._assignment(flow, item, assignment)
            return
        if isinstance(expr, ir.Record):
            for assignment in expr.fields:
                self._assignment(flow, expr.type.ref, assignment)
            return
        if isinstance(expr, ir.Const) and expr.type.kind == "enum":
            self._add(self.whole_reads, expr.type.ref, flow.name,
                      self._use(f"uses the value {json.dumps(expr.value)}", expr.origin))
        for child in _children(expr):
            self._expr(flow, child, is_obj=False)

    # -- queries

    def flow_ref(self, name: str, uses: Iterable[Use]) -> FlowRef:
        flow = self.flows[name]
        file, line = self._locate(flow.origin)
        unique = tuple(dict.fromkeys(uses))
        return FlowRef(name, file, line, self.version, unique)

    def _collect(self, found: dict[str, list[Use]]) -> list[FlowRef]:
        return [self.flow_ref(name, found[name]) for name in sorted(found)]

    def _merge(self, *tables: dict[str, list[Use]]) -> dict[str, list[Use]]:
        out: dict[str, list[Use]] = {}
        for table in tables:
            for name, uses in table.items():
                out.setdefault(name, []).extend(uses)
        return out

    def readers(self, owner: str, name: str) -> list[FlowRef]:
        return self._collect(self._merge(self.field_reads.get((owner, name), {}), self.whole_reads.get(owner, {})))

    def writers(self, owner: str, name: str | None = None, all_writers: bool = False) -> list[FlowRef]:
        """Flows that write `owner.name` (or, with all_writers, anything of `owner`)."""
        tables = [self.whole_writes.get(owner, {})]
        if name is not None:
            tables.append(self.field_writes.get((owner, name), {}))
        if all_writers:
            tables.extend(v for (o, _), v in self.field_writes.items() if o == owner)
            tables.append({f.name: [self._use("writes to it (target)", f.origin)]
                           for f in self.project.flows if f.target == owner})
        return self._collect(self._merge(*tables))

    def users_of_field(self, owner: str, name: str) -> list[FlowRef]:
        return self._collect(self._merge(self.field_reads.get((owner, name), {}),
                                         self.field_writes.get((owner, name), {}),
                                         self.whole_reads.get(owner, {}), self.whole_writes.get(owner, {})))

    def users_of_record(self, name: str) -> list[FlowRef]:
        """Flows that touch any field of a record or enum, or copy one whole."""
        tables = [self.whole_reads.get(name, {}), self.whole_writes.get(name, {})]
        tables += [v for (o, _), v in self.field_reads.items() if o == name]
        tables += [v for (o, _), v in self.field_writes.items() if o == name]
        for f in self.project.flows:
            if name in (f.source, f.target):
                role = "source" if f.source == name else "target"
                tables.append({f.name: [self._use(f"{role} `{name}`", f.origin)]})
        return self._collect(self._merge(*tables))

    def endpoint_flows(self, entity: str, ops: set[str] | None = None) -> list[FlowRef]:
        """Flows whose source or target is `entity` (only those calling one of `ops`, if given)."""
        found: dict[str, list[Use]] = {}
        for f in self.project.flows:
            uses: list[Use] = []
            if f.source == entity:
                called = {"list"} if f.trigger.kind == "schedule" else set()
                if ops is None or called & ops:
                    how = "lists it on a schedule" if called else f"its source ({f.trigger.kind} trigger)"
                    uses.append(self._use(how, f.origin))
            if f.target == entity:
                called = {"create": {"create"}, "update": {"update"}}.get(f.write, {"create", "update"})
                if ops is None or called & ops:
                    uses.append(self._use(f"writes it ({f.write}: {', '.join(sorted(called))})", f.origin))
            if uses:
                found[f.name] = uses
        return self._collect(found)

    def system_flows(self, system: str) -> list[FlowRef]:
        found: dict[str, list[Use]] = {}
        for f in self.project.flows:
            uses: list[Use] = []
            if f.source.split(".")[0] == system:
                how = f"reads `{f.source}` from it on a schedule" if f.trigger.kind == "schedule" else \
                    f"its source `{f.source}` lives there ({f.trigger.kind} trigger)"
                uses.append(self._use(how, f.origin))
            if f.target.split(".")[0] == system:
                uses.append(self._use(f"writes `{f.target}` to it", f.origin))
            if uses:
                found[f.name] = uses
        return self._collect(found)

    def event_flows(self, system: str, event: str) -> list[FlowRef]:
        key = f"{system}.{event}"
        return self._collect({f.name: [self._use(f"triggered by `{key}`", f.origin)]
                              for f in self.project.flows if f.trigger.kind == "event"
                              and f.trigger.event in (event, key) and f.source.split(".")[0] == system})


def _children(node) -> list:
    if isinstance(node, ir.Call):
        return list(node.args)
    if isinstance(node, ir.Unary):
        return [node.operand]
    if isinstance(node, (ir.Binary, ir.Coalesce)):
        return [node.left, node.right]
    if isinstance(node, ir.If):
        return [node.cond, node.then, node.otherwise]
    if isinstance(node, ir.Match):
        return [node.subject] + [a.expr for a in node.arms] + ([node.default] if node.default is not None else [])
    return []


def _path(get: ir.Get) -> str:
    parts = []
    node = get
    while isinstance(node, ir.Get):
        parts.append(node.field)
        node = node.obj
    if isinstance(node, ir.Var):
        parts.append(node.name)
    return ".".join(reversed(parts))


# ---------------------------------------------------------------- comparing


_STRINGLIKE = {"email", "url", "uuid", "date", "datetime", "duration", "bytes"}
_NARROWER = {("string", k) for k in _STRINGLIKE} | {("float", "int"), ("decimal", "int"), ("float", "decimal")} \
    | {("json", k) for k in ir.PRIMITIVES if k != "json"}


def _type_change_word(old: ir.TypeRef, new: ir.TypeRef) -> str:
    if old.kind == new.kind and old.kind in ("list", "map") and old.item is not None and new.item is not None:
        return _type_change_word(old.item, new.item)
    if (old.kind, new.kind) in _NARROWER:
        return "narrowed"
    if (new.kind, old.kind) in _NARROWER:
        return "widened"
    return "changed"


def _shown_type(t: ir.TypeRef | None, optional: bool = False) -> str:
    if t is None:
        return "nothing"
    return f"{t}{'?' if optional else ''}"


class _Differ:
    def __init__(self, old: ir.Project, new: ir.Project, old_usage: Usage, new_usage: Usage):
        self.old, self.new = old, new
        self.ou, self.nu = old_usage, new_usage
        self.changes: list[Change] = []

    def both(self, query: str, *args, **kwargs) -> list[FlowRef]:
        """Flows of the new version that `query` finds, and those of the old version that no longer do.

        A flow that had to stop using something because of a change is broken by it too.
        """
        found = getattr(self.nu, query)(*args, **kwargs)
        names = {f.name for f in found}
        before = [f for f in getattr(self.ou, query)(*args, **kwargs) if f.name not in names]
        return sorted(found + before, key=lambda f: f.name)

    def add(self, kind: str, breaking: bool, subject: str, message: str, old=None, new=None,
            note: str | None = None, flows: Iterable[FlowRef] = (), show: bool = False) -> None:
        """Record a change; `show` appends "(old -> new)" to the message."""
        if show:
            message += f" ({_value(old)} -> {_value(new)})"
        self.changes.append(Change(kind, breaking, subject, message, _jsonable(old), _jsonable(new), note,
                                   tuple(flows) if breaking else ()))

    # -- the project

    def run(self) -> list[Change]:
        if self.old.package != self.new.package:
            self.add("package-renamed", False, "package", "renamed", self.old.package, self.new.package, show=True)
        if self.old.version != self.new.version:
            self.add("version-changed", False, "package version", "changed", self.old.version, self.new.version, show=True)
        self._enums()
        self._types()
        self._systems()
        self._flows()
        breaking = [c for c in self.changes if c.breaking]
        return breaking + [c for c in self.changes if not c.breaking]

    @staticmethod
    def _by_name(items) -> dict:
        return {i.name: i for i in items}

    def _enums(self) -> None:
        old, new = self._by_name(self.old.enums), self._by_name(self.new.enums)
        for name in sorted(old.keys() - new.keys()):
            self.add("enum-removed", True, name, "enum removed", flows=self.ou.users_of_record(name))
        for name in sorted(new.keys() - old.keys()):
            self.add("enum-added", False, name, "enum added")
        for name in sorted(old.keys() & new.keys()):
            a, b = old[name], new[name]
            self._doc(name, a.description, b.description)
            wa, wb = {m.wire: m for m in a.members}, {m.wire: m for m in b.members}
            for wire in [m.wire for m in a.members if m.wire not in wb]:
                member = wa[wire]
                shown = member.name if member.name == wire else f"{member.name} (\"{wire}\")"
                self.add("enum-value-removed", True, f"{name}.{member.name}", f"enum value {shown} removed",
                         old=wire, flows=self.ou.users_of_record(name))
            for wire in [m.wire for m in b.members if m.wire not in wa]:
                member = wb[wire]
                users = self.nu.users_of_record(name)
                note = "consumers that match every value of the enum must handle it"
                if users:
                    note += "; used by " + ", ".join(f"{u.name} ({u.file}:{u.line})" for u in users)
                self.add("enum-value-added", False, f"{name}.{member.name}", "enum value added", new=wire, note=note)
            for wire in wa.keys() & wb.keys():
                if wa[wire].name != wb[wire].name:
                    self.add("enum-member-renamed", False, f"{name}.{wa[wire].name}",
                             f"member renamed to {wb[wire].name} (same wire value)", wa[wire].name, wb[wire].name)
                self._doc(f"{name}.{wb[wire].name}", wa[wire].description, wb[wire].description)

    def _types(self) -> None:
        old, new = self._by_name(self.old.types), self._by_name(self.new.types)
        for name in sorted(old.keys() - new.keys()):
            self.add("type-removed", True, name, "type removed", flows=self.ou.users_of_record(name))
        for name in sorted(new.keys() - old.keys()):
            self.add("type-added", False, name, "type added")
        for name in sorted(old.keys() & new.keys()):
            self._doc(name, old[name].description, new[name].description)
            self._fields(name, old[name].fields, new[name].fields, readable=True, writable=True)

    # -- systems

    def _systems(self) -> None:
        old, new = self._by_name(self.old.systems), self._by_name(self.new.systems)
        for name in sorted(old.keys() - new.keys()):
            self.add("system-removed", True, name, "system removed", flows=self.ou.system_flows(name))
        for name in sorted(new.keys() - old.keys()):
            self.add("system-added", False, name, "system added")
        for name in sorted(old.keys() & new.keys()):
            self._system(old[name], new[name])

    def _system(self, a: ir.System, b: ir.System) -> None:
        name = a.name
        for attr in ("title", "owner"):
            if getattr(a, attr) != getattr(b, attr):
                self.add(f"system-{attr}-changed", False, name, f"{attr} changed", getattr(a, attr), getattr(b, attr), show=True)
        self._doc(name, a.description, b.description)
        if a.base_url != b.base_url:
            breaking = a.base_url is not None
            self.add("base-url-changed", breaking, name, "base_url changed" if b.base_url else "base_url removed",
                     a.base_url, b.base_url, flows=self.both("system_flows", name), show=True)
        self._auth(name, a.auth, b.auth)
        if a.handles_pii != b.handles_pii:
            self.add("handles-pii-changed", False, name,
                     "now handles personal data" if b.handles_pii else "no longer declares `handles pii`",
                     a.handles_pii, b.handles_pii)
        if a.deploy != b.deploy and (_strip(a.deploy) != _strip(b.deploy)):
            self.add("deploy-changed", False, name, "k8s placement changed", _strip(a.deploy), _strip(b.deploy))
        ea, eb = self._by_name(a.entities), self._by_name(b.entities)
        for entity in sorted(ea.keys() - eb.keys()):
            qualified = f"{name}.{entity}"
            self.add("entity-removed", True, qualified, "entity removed", flows=self.ou.users_of_record(qualified))
        for entity in sorted(eb.keys() - ea.keys()):
            self.add("entity-added", False, f"{name}.{entity}", "entity added")
        for entity in sorted(ea.keys() & eb.keys()):
            self._entity(a, b, ea[entity], eb[entity])
        self._exposes(a, b)
        self._operations(a, b)
        self._events(a, b)

    def _auth(self, system: str, a: ir.Auth, b: ir.Auth) -> None:
        flows = self.both("system_flows", system)
        subject = f"{system} auth"
        if a.kind != b.kind:
            self.add("auth-kind-changed", True, subject, f"auth changed from {a.kind} to {b.kind}", a.kind, b.kind,
                     flows=flows)
            return
        if a.header != b.header:
            self.add("auth-header-changed", True, subject, "API key header changed", a.header, b.header, flows=flows, show=True)
        if a.token_url != b.token_url:
            self.add("auth-token-url-changed", True, subject, "token_url changed", a.token_url, b.token_url,
                     flows=flows, show=True)
        if tuple(sorted(a.scopes)) != tuple(sorted(b.scopes)):
            added = sorted(set(b.scopes) - set(a.scopes))
            removed = sorted(set(a.scopes) - set(b.scopes))
            parts = ([f"added {', '.join(added)}"] if added else []) + ([f"removed {', '.join(removed)}"]
                                                                         if removed else [])
            self.add("auth-scopes-changed", True, subject, f"scopes changed ({'; '.join(parts)})",
                     list(a.scopes), list(b.scopes), flows=flows)
        if a.secret != b.secret:
            self.add("auth-secret-renamed", False, subject, "secret renamed", a.secret, b.secret, show=True,
                     note=f"deployments must provide the secret `{b.secret}`")

    def _entity(self, sa: ir.System, sb: ir.System, a: ir.Entity, b: ir.Entity) -> None:
        qualified = a.qualified_name
        self._doc(qualified, a.description, b.description)
        if a.key != b.key:
            self.add("key-changed", True, qualified, f"key changed from {a.key} to {b.key}", a.key, b.key,
                     flows=self.both("endpoint_flows", qualified))
        readable, writable = _directions(sb, b.name)
        old_r, old_w = _directions(sa, a.name)
        self._fields(qualified, a.fields, b.fields, readable=readable or old_r, writable=writable or old_w)

    # -- fields

    def _fields(self, owner: str, old: tuple[ir.Field, ...], new: tuple[ir.Field, ...],
                readable: bool, writable: bool) -> None:
        fa, fb = {f.name: f for f in old}, {f.name: f for f in new}
        for name in [f.name for f in old if f.name not in fb]:
            f = fa[name]
            note = f"was deprecated: {f.deprecated}" if f.deprecated else (
                "was deprecated" if f.deprecated == "" else None)
            message = "removed" + (f" (was deprecated: {f.deprecated})" if f.deprecated else
                                   " (was deprecated)" if f.deprecated == "" else "")
            self.add("field-removed", True, f"{owner}.{name}", message, old=_shown_type(f.type, f.optional),
                     note=note, flows=self.ou.users_of_field(owner, name))
        for name in [f.name for f in new if f.name not in fa]:
            f = fb[name]
            if f.required and not f.readonly and writable:
                self.add("required-field-added", True, f"{owner}.{name}", "required field added",
                         new=_shown_type(f.type), note="writers must now send it",
                         flows=self.both("writers", owner, all_writers=True))
            else:
                what = "optional" if f.optional else "with a default" if f.has_default else "read-only" \
                    if f.readonly else "required"
                self.add("field-added", False, f"{owner}.{name}", f"field added ({what})",
                         new=_shown_type(f.type, f.optional))
        for name in [f.name for f in new if f.name in fa]:
            self._field(owner, fa[name], fb[name], readable, writable)

    def _field(self, owner: str, a: ir.Field, b: ir.Field, readable: bool, writable: bool) -> None:
        subject = f"{owner}.{a.name}"
        if a.type != b.type:
            word = _type_change_word(a.type, b.type)
            self.add(f"type-{word}", True, subject, f"type {word} from {a.type} to {b.type}", str(a.type),
                     str(b.type), flows=self.both("users_of_field", owner, a.name))
        if not a.required and b.required and not b.readonly:
            how = "default removed" if a.has_default and not b.has_default and not a.optional else \
                "optional -> required"
            self.add("field-made-required", True, subject, f"made required ({how})",
                     _shown_type(a.type, a.optional), _shown_type(b.type, b.optional),
                     note="writers must now send it",
                     flows=_union(self.both("writers", owner, a.name, all_writers=True),
                                  self.both("users_of_field", owner, a.name)))
        elif not a.required and b.required:
            self.add("field-made-required", False, subject, "made required (read-only: always present now)")
        if not a.optional and b.optional:
            self.add("field-made-optional", readable, subject, "made optional",
                     _shown_type(a.type, a.optional), _shown_type(b.type, b.optional),
                     note="readers may now get null" if readable else "only written, never read back",
                     flows=self.both("users_of_field", owner, a.name))
        elif a.optional and not b.optional and b.has_default:
            self.add("field-made-not-optional", False, subject, "no longer optional (has a default)")
        if a.has_default and b.has_default and a.default != b.default:
            self.add("default-changed", False, subject, "default changed", a.default, b.default, show=True,
                     note="writers that omit it get the new value")
        elif a.has_default and not b.has_default and not b.required:
            self.add("default-removed", False, subject, "default removed (it stays optional)", a.default)
        elif not a.has_default and b.has_default:
            self.add("default-added", False, subject, "default added", new=b.default)
        if not a.readonly and b.readonly:
            self.add("field-made-readonly", True, subject, "made @readonly",
                     note="flows and clients can no longer write it",
                     flows=self.both("writers", owner, a.name))
        elif a.readonly and not b.readonly:
            self.add("field-made-writable", False, subject, "no longer @readonly")
        self._constraints(owner, subject, a, b)
        if a.pii != b.pii:
            self.add("pii-changed", False, subject, "marked @pii" if b.pii else "no longer @pii")
        if a.deprecated != b.deprecated:
            if b.deprecated is not None and a.deprecated is None:
                self.add("deprecated", False, subject, "deprecated" + (f": {b.deprecated}" if b.deprecated else ""))
            elif b.deprecated is None:
                self.add("undeprecated", False, subject, "no longer deprecated")
            else:
                self.add("deprecation-changed", False, subject, "deprecation reason changed", a.deprecated,
                         b.deprecated, show=True)
        if (a.has_example, a.example) != (b.has_example, b.example):
            self.add("example-changed", False, subject, "example changed", a.example, b.example, show=True)
        self._doc(subject, a.description, b.description)

    def _constraints(self, owner: str, subject: str, a: ir.Field, b: ir.Field) -> None:
        def flows():
            return self.both("users_of_field", owner, a.name)

        def bound(kind: str, label: str, old, new, tighter) -> None:
            if old == new:
                return
            if new is None:
                self.add(f"{kind}-removed", False, subject, f"{label} removed (loosened)", old, new)
            elif old is None or tighter(old, new):
                what = "added" if old is None else "tightened"
                self.add(f"{kind}-tightened", True, subject, f"{label} {what}: {_num(old)} -> {_num(new)}",
                         old, new, note="values that were valid may now be rejected", flows=flows())
            else:
                self.add(f"{kind}-loosened", False, subject, f"{label} loosened: {_num(old)} -> {_num(new)}", old, new)

        bound("min-length", "minimum length", a.min_length, b.min_length, lambda o, n: n > o)
        bound("max-length", "maximum length", a.max_length, b.max_length, lambda o, n: n < o)
        bound("minimum", "minimum", a.minimum, b.minimum, lambda o, n: n > o)
        bound("maximum", "maximum", a.maximum, b.maximum, lambda o, n: n < o)
        if a.pattern != b.pattern:
            if b.pattern is None:
                self.add("pattern-removed", False, subject, "pattern removed (loosened)", a.pattern, None)
            else:
                what = "added" if a.pattern is None else "changed"
                self.add(f"pattern-{what}", True, subject, f"pattern {what}", a.pattern, b.pattern,
                         note="values that were valid may now be rejected", flows=flows())

    # -- operations and events

    def _exposes(self, a: ir.System, b: ir.System) -> None:
        xa, xb = {x.entity: x for x in a.exposes}, {x.entity: x for x in b.exposes}
        for entity in sorted(xa.keys() | xb.keys()):
            qualified = f"{a.name}.{entity}"
            old_ops = set(xa[entity].operations) if entity in xa else set()
            new_ops = set(xb[entity].operations) if entity in xb else set()
            for op in [o for o in ir.OPERATION_KINDS if o in old_ops - new_ops]:
                self.add("operation-removed", True, f"{qualified} {op}",
                         f"`{op}` no longer exposed (operationId {operation_id(op, entity)})",
                         flows=self.ou.endpoint_flows(qualified, {op}))
            for op in [o for o in ir.OPERATION_KINDS if o in new_ops - old_ops]:
                self.add("operation-added", False, f"{qualified} {op}",
                         f"`{op}` exposed (operationId {operation_id(op, entity)})")
            if entity in xa and entity in xb:
                if xa[entity].path != xb[entity].path:
                    self.add("path-changed", True, qualified, "path changed", xa[entity].path, xb[entity].path, show=True,
                             flows=self.both("endpoint_flows", qualified, {"list", "create", "update"}))
                self._doc(f"{qualified} expose", xa[entity].description, xb[entity].description)

    def _operations(self, a: ir.System, b: ir.System) -> None:
        oa, ob = self._by_name(a.operations), self._by_name(b.operations)
        removed = sorted(oa.keys() - ob.keys())
        added = sorted(ob.keys() - oa.keys())
        for name in list(removed):
            same = next((n for n in added if (ob[n].method, ob[n].path) == (oa[name].method, oa[name].path)), None)
            if same is not None:
                removed.remove(name)
                added.remove(same)
                self.add("operation-id-changed", True, f"{a.name}.{name}", f"operationId changed to {same}",
                         name, same)
                self._operation(a.name, oa[name], ob[same])
        for name in removed:
            self.add("operation-removed", True, f"{a.name}.{name}", "custom operation removed",
                     f"{oa[name].method} {oa[name].path}")
        for name in added:
            self.add("operation-added", False, f"{a.name}.{name}", "custom operation added",
                     new=f"{ob[name].method} {ob[name].path}")
        for name in sorted(oa.keys() & ob.keys()):
            self._operation(a.name, oa[name], ob[name])

    def _operation(self, system: str, a: ir.Operation, b: ir.Operation) -> None:
        subject = f"{system}.{b.name}"
        if a.method != b.method:
            self.add("method-changed", True, subject, "HTTP method changed", a.method, b.method, show=True)
        if a.path != b.path:
            self.add("path-changed", True, subject, "path changed", a.path, b.path, show=True)
        pa, pb = self._by_name(a.params), self._by_name(b.params)
        for name in [p.name for p in a.params if p.name not in pb]:
            self.add("parameter-removed", True, f"{subject}({name})", "parameter removed",
                     _shown_type(pa[name].type, pa[name].optional))
        for name in [p.name for p in b.params if p.name not in pa]:
            p = pb[name]
            self.add("parameter-added", not p.optional, f"{subject}({name})",
                     f"{'optional' if p.optional else 'required'} {p.location} parameter added",
                     new=_shown_type(p.type, p.optional))
        for name in [p.name for p in b.params if p.name in pa]:
            x, y = pa[name], pb[name]
            if x.type != y.type:
                word = _type_change_word(x.type, y.type)
                self.add(f"type-{word}", True, f"{subject}({name})", f"parameter type {word} from {x.type} to {y.type}",
                         str(x.type), str(y.type))
            if x.optional and not y.optional:
                self.add("parameter-made-required", True, f"{subject}({name})", "parameter made required")
            elif not x.optional and y.optional:
                self.add("parameter-made-optional", False, f"{subject}({name})", "parameter made optional")
            if x.location != y.location:
                self.add("parameter-moved", True, f"{subject}({name})", f"parameter moved from {x.location} to "
                                                                        f"{y.location}", x.location, y.location)
        if a.returns != b.returns:
            word = _type_change_word(a.returns, b.returns) if a.returns and b.returns else "changed"
            self.add(f"type-{word}", True, f"{subject} response", f"response type {word}",
                     _shown_type(a.returns), _shown_type(b.returns))
        elif not a.returns_optional and b.returns_optional:
            self.add("response-made-optional", True, f"{subject} response", "response may now be empty")
        self._doc(subject, a.description, b.description)

    def _events(self, a: ir.System, b: ir.System) -> None:
        ea, eb = self._by_name(a.events), self._by_name(b.events)
        for name in sorted(ea.keys() - eb.keys()):
            self.add("event-removed", True, f"{a.name}.{name}", "event removed",
                     flows=self.ou.event_flows(a.name, name))
        for name in sorted(eb.keys() - ea.keys()):
            self.add("event-added", False, f"{a.name}.{name}", "event added", new=str(eb[name].type))
        for name in sorted(ea.keys() & eb.keys()):
            if ea[name].type != eb[name].type:
                self.add("event-type-changed", True, f"{a.name}.{name}", f"payload changed from {ea[name].type} "
                                                                         f"to {eb[name].type}",
                         str(ea[name].type), str(eb[name].type), flows=self.both("event_flows", a.name, name))
            self._doc(f"{a.name}.{name}", ea[name].description, eb[name].description)

    # -- flows (not part of any API: reported for the record, never breaking)

    def _flows(self) -> None:
        old, new = self._by_name(self.old.flows), self._by_name(self.new.flows)
        for name in sorted(old.keys() - new.keys()):
            self.add("flow-removed", False, f"flow {name}", "flow removed")
        for name in sorted(new.keys() - old.keys()):
            self.add("flow-added", False, f"flow {name}", "flow added", new=f"{new[name].source} -> {new[name].target}")
        for name in sorted(old.keys() & new.keys()):
            a, b = old[name], new[name]
            what = []
            if (a.source, a.target) != (b.source, b.target):
                what.append("source/target")
            if _strip(a.trigger) != _strip(b.trigger):
                what.append("trigger")
            if a.write != b.write:
                what.append("write mode")
            if _strip(a.assignments) != _strip(b.assignments):
                what.append("mapping")
            if _strip(a.retry) != _strip(b.retry) or a.on_error != b.on_error:
                what.append("error handling")
            if _strip(a.tests) != _strip(b.tests):
                what.append("tests")
            if what:
                self.add("flow-changed", False, f"flow {name}", f"{', '.join(what)} changed")
            self._doc(f"flow {name}", a.description, b.description)

    def _doc(self, subject: str, old: str | None, new: str | None) -> None:
        if (old or None) != (new or None):
            self.add("docs-changed", False, subject, "documentation changed", old, new)


def _union(*groups: list[FlowRef]) -> list[FlowRef]:
    """Flow references merged by flow (uses combined), sorted by name."""
    merged: dict[str, FlowRef] = {}
    for group in groups:
        for ref in group:
            if ref.name in merged:
                known = merged[ref.name]
                merged[ref.name] = FlowRef(known.name, known.file, known.line, known.version,
                                           tuple(dict.fromkeys(known.uses + ref.uses)))
            else:
                merged[ref.name] = ref
    return [merged[name] for name in sorted(merged)]


def _directions(system: ir.System, entity: str) -> tuple[bool, bool]:
    """(readable, writable) through the API: exposed ops, events, custom operations."""
    ops = {op for x in system.exposes if x.entity == entity for op in x.operations}
    qualified = f"{system.name}.{entity}"
    readable = bool(ops & {"list", "get"}) or any(qualified in _type_names(e.type) or entity in _type_names(e.type)
                                                  for e in system.events)
    writable = bool(ops & {"create", "update", "patch"})
    for op in system.operations:
        if op.returns is not None and (qualified in _type_names(op.returns)):
            readable = True
        if any(p.location == "body" and qualified in _type_names(p.type) for p in op.params):
            writable = True
    if not ops and not system.events and not system.operations:
        return True, True  # not exposed at all: be conservative
    return readable, writable


def _strip(node):
    """JSON form without source positions, for equality."""
    data = ir.to_json(node)

    def walk(x):
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items() if k != "origin"}
        if isinstance(x, list):
            return [walk(v) for v in x]
        return x
    return walk(data)


def _num(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


# ---------------------------------------------------------------- entry point


def locator(root: Path) -> Callable[[object], tuple[str, int]]:
    """A span -> (file relative to the project folder, line)."""
    root = root.resolve()

    def locate(span) -> tuple[str, int]:
        path = Path(span.file)
        if not path.is_absolute():
            path = Path.cwd() / path
        try:
            shown = path.resolve().relative_to(root).as_posix()
        except (ValueError, OSError):
            shown = span.file
        return shown, span.line
    return locate


def diff_projects(old: ir.Project, new: ir.Project, old_root: Path, new_root: Path,
                  old_label: str = "old", new_label: str = "new") -> Report:
    old_usage = Usage(old, locator(old_root), "old")
    new_usage = Usage(new, locator(new_root), "new")
    changes = _Differ(old, new, old_usage, new_usage).run()
    return Report(old_label, new_label, changes)


# ---------------------------------------------------------------- rendering


def _flow_text(f: FlowRef, markdown: bool = False) -> str:
    name = f"`{f.name}`" if markdown else f"flow {f.name}"
    where = f"{f.file}:{f.line}"
    how = ["in the old version"] if f.version == "old" else []
    for u in f.uses:
        if (u.file, u.line) == (f.file, f.line):
            how.append(u.how)
        elif u.file == f.file:
            how.append(f"{u.how} at line {u.line}")
        else:
            how.append(f"{u.how} at {u.file}:{u.line}")
    detail = f" ({'; '.join(how)})" if how else ""
    return f"{name} ({where}){detail}" if markdown else f"{name} at {where}{detail}"


def _flows_text(change: Change) -> str:
    if not change.flows:
        return ""
    return ": breaks " + ", ".join(_flow_text(f) for f in change.flows)


def _line(change: Change) -> str:
    return f"`{change.subject}` {change.message}"


def _value(v) -> str:
    if v is None:
        return "none"
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False)


def render_text(report: Report) -> str:
    lines = []
    for c in report.breaking:
        line = f"breaking: {_line(c)}{_flows_text(c)}"
        if not c.flows:
            line += " (no flow in the project uses it)"
        lines.append(line)
        if c.note and c.kind != "field-removed":
            lines.append(f"  note: {c.note}")
    for c in report.non_breaking:
        lines.append(f"non-breaking: {_line(c)}")
        if c.note:
            lines.append(f"  note: {c.note}")
    lines.append(_summary(report))
    return "\n".join(lines) + "\n"


def _summary(report: Report) -> str:
    b, n = len(report.breaking), len(report.non_breaking)
    if not report.changes:
        return f"no changes between {report.old_label} and {report.new_label}"
    return f"{b} breaking change{'s' if b != 1 else ''}, {n} non-breaking change{'s' if n != 1 else ''} " \
           f"({report.old_label} -> {report.new_label})"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report) -> str:
    out = [f"## integc diff: {report.old_label} → {report.new_label}", ""]
    b, n = len(report.breaking), len(report.non_breaking)
    if not report.changes:
        out += ["No changes to systems, APIs or flows.", ""]
        return "\n".join(out)
    verdict = f"**{b} breaking change{'s' if b != 1 else ''}**" if b else "**No breaking changes**"
    out += [f"{verdict}, {n} non-breaking change{'s' if n != 1 else ''}.", ""]
    if b:
        out += ["### Breaking", "", "| what | change | flows it breaks |", "| --- | --- | --- |"]
        for c in report.breaking:
            change = c.message
            if c.note and c.kind != "field-removed":
                change += f" ({c.note})"
            flows = "<br>".join(_flow_text(f, markdown=True) for f in c.flows) or "none in this project"
            out.append(f"| `{_md(c.subject)}` | {_md(change)} | {_md(flows)} |")
        out.append("")
    if n:
        out += ["<details><summary>Non-breaking changes</summary>", ""]
        for c in report.non_breaking:
            line = f"- `{c.subject}`: {c.message}"
            if c.note:
                line += f" ({c.note})"
            out.append(_md(line))
        out += ["", "</details>", ""]
    return "\n".join(out)


def render_json(report: Report) -> str:
    data = {"old": report.old_label, "new": report.new_label,
            "breaking": len(report.breaking), "non_breaking": len(report.non_breaking),
            "changes": [c.to_json() for c in report.changes]}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}
