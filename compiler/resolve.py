"""Resolve names: one namespace for all files, declarations to IR declarations.

This stage gathers every top-level declaration (E0202 on a second one),
resolves field types, annotations, defaults and examples, and turns systems
into `ir.System`. Flows and mappings are left to `check`.

Enums and systems are resolved file by file. With a build cache, a file
unchanged since an earlier build is not resolved again: its enums (which
depend on nothing else) come from that build, and so do its systems and
their diagnostics while its environment (the names, enums and types they
could look at) is the same (`Resolved`, `EarlierResolutions`). Values taken
over are the very objects of that build in a process that builds again and
again, so their digests (integc.cache) need not be computed again.
"""
from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import re
import unicodedata
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Callable, Protocol
from urllib.parse import urlsplit

from integc import ir
from integc import syntax as s
from integc.diagnostics import Diagnostic, Diagnostics, Note, Span
from integc.naming import operation_id
from integc.suggest import did_you_mean
from integc.typerules import NUMERIC, STRINGLIKE

AUTH_SETTINGS = {
    "none": {},
    "api_key": {"header": True, "secret": True},
    "bearer": {"secret": True},
    "basic": {"secret": True},
    "oauth2": {"token_url": True, "scopes": False, "secret": True},
    "mtls": {"secret": True},
}
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
ANNOTATIONS = ("key", "readonly", "length", "range", "pattern", "pii", "deprecated", "example")
_ARITY = {"key": 0, "readonly": 0, "pii": 0, "length": 2, "range": 2, "pattern": 1, "example": 1}
_PATH_PARAM = re.compile(r"\{([^{}]*)\}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# One TypeRef per primitive, shared by every field of that type (they are frozen): tens of
# thousands fewer objects to build, pickle and digest in a large project.
_PRIMITIVE_TYPES = {name: ir.TypeRef(name) for name in ir.PRIMITIVES}
MAX_NAME_LENGTH = 100
_WINDOWS_DEVICES = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                              *(f"lpt{i}" for i in range(1, 10))})


@dataclass
class Symbols:
    """Every top-level declaration by name, and the resolved IR declarations."""

    package: s.Package | None = None
    declarations: dict[str, object] = field(default_factory=dict)
    types: dict[str, ir.TypeDef] = field(default_factory=dict)
    enums: dict[str, ir.EnumDef] = field(default_factory=dict)
    systems: dict[str, ir.System] = field(default_factory=dict)
    flows: list[s.Flow] = field(default_factory=list)

    def entity(self, qualified: str) -> ir.Entity | None:
        system_name, _, entity_name = qualified.partition(".")
        system = self.systems.get(system_name)
        if system is None:
            return None
        return next((e for e in system.entities if e.name == entity_name), None)

    def record_fields(self, ref: ir.TypeRef) -> tuple[ir.Field, ...]:
        if ref.kind == "entity":
            entity = self.entity(ref.ref)
            return entity.fields if entity else ()
        typedef = self.types.get(ref.ref)
        return typedef.fields if typedef else ()


def _declared_name(declaration) -> s.Name | None:
    return getattr(declaration, "name", None) if not isinstance(declaration, (s.Package, s.Import)) else None


class WireValues:
    """Literal values (defaults, examples, flow tests) to their JSON wire form, checked against a type."""

    def __init__(self, symbols: Symbols, diagnostics: Diagnostics):
        self._symbols = symbols
        self._diagnostics = diagnostics
        self._require_all = True


    def to_wire(self, value: s.Value, type_ref: ir.TypeRef, optional: bool, role: str,
                require_all: bool = True) -> object:
        """The JSON wire form of a default/example, or INVALID after reporting E0205/E0201."""
        self._require_all = require_all
        problem = self._wire_problem(value, type_ref, optional)
        if isinstance(problem, _Problem):
            self._diagnostics.report(problem.code, f"{role} {problem.message}", problem.span or value.span,
                           help=problem.help)
            return INVALID
        return problem

    def _wire_problem(self, value: s.Value, t: ir.TypeRef, optional: bool):
        if value.kind == "null":
            return None if optional else _Problem("E0205", f"is null, but the field is not optional (`{t}`)")
        kind = t.kind
        bad = _Problem("E0205", f"{_describe_value(value)} does not fit a `{t}` field")
        if kind == "json":
            return value.to_python() if value.kind != "symbol" else value.value
        if kind == "enum":
            enum = self._symbols.enums.get(t.ref)
            if value.kind not in ("symbol", "string") or enum is None:
                return bad
            for member in enum.members:
                if value.value in (member.name, member.wire):
                    return member.wire
            return _Problem("E0201", f"`{value.value}` is not a member of enum `{t.ref}`",
                            help=did_you_mean(str(value.value), [m.name for m in enum.members]))
        if kind in ("type", "entity"):
            if value.kind != "object":
                return bad
            return self._record_wire(value, t)
        if kind in ("list", "map"):
            if kind == "list" and value.kind == "list":
                items = [self._wire_problem(v, t.item, False) for v in value.value]
            elif kind == "map" and value.kind == "object":
                items = [self._wire_problem(v, t.item, False) for _, v in value.value]
            else:
                return bad
            problem = next((i for i in items if isinstance(i, _Problem)), None)
            if problem is not None:
                return problem
            return items if kind == "list" else dict(zip((k for k, _ in value.value), items))
        return _scalar_wire(value, kind, bad)

    def _record_wire(self, value: s.Value, t: ir.TypeRef):
        fields = {f.name: f for f in self._symbols.record_fields(t)}
        out = {}
        for key, item in value.value:
            f = fields.get(key)
            if f is None:
                return _Problem("E0201", f"has no field `{key}` in `{t}`", item.span,
                                help=did_you_mean(key, fields))
            wire = self._wire_problem(item, f.type, f.optional)
            if isinstance(wire, _Problem):
                return wire
            out[key] = wire
        missing = [name for name, f in fields.items() if f.required and name not in out]
        if missing and self._require_all:
            return _Problem("E0205", f"lacks required field `{missing[0]}` of `{t}`")
        return out


@dataclass(frozen=True)
class Resolved:
    """What resolving one file gave, reusable by a later build while the file is unchanged: its
    enums (by name, each with its diagnostics), and its systems while the `environment`
    (`Resolver.environment`: every other declaration they could have looked at) is unchanged."""

    environment: str
    systems: tuple[ir.System, ...]
    diagnostics: tuple[Diagnostic, ...]
    enums: tuple[tuple[ir.EnumDef, tuple[Diagnostic, ...]], ...] = ()


class EarlierResolutions(Protocol):
    """What a build cache, or a worker that resolved part of the project, lends the resolver
    (integc.loader.ResolutionReuse)."""

    def earlier(self, index: int) -> Resolved | None:
        """What resolving module `index` gave in an earlier build (or a worker), if that is known."""

    def enums(self, index: int) -> tuple[tuple[ir.EnumDef, tuple[Diagnostic, ...]], ...] | None:
        """The enums of module `index` from an earlier build, if known without waiting."""

    def full(self, index: int) -> s.Module:
        """Module `index` with its systems' bodies (the loader may have lent only its outline)."""

    def keep(self, index: int, resolved: Resolved) -> None:
        """What resolving module `index` gave now, for later builds."""


def resolve_share(modules: tuple[s.Module, ...], entry_file: str, indices: set[int],
                  answer: Callable[[int, Resolved], None]) -> None:
    """Resolve the systems of each module in `indices` (a worker's share of resolve; the other
    modules may be outlines, integc.loader.outline), giving `answer` each module's `Resolved`."""
    Resolver(modules, entry_file, Diagnostics(), _Share(modules, answer), only=frozenset(indices)).run()


class _Share:
    """EarlierResolutions for `resolve_share`: nothing earlier, the modules as given; hands on what it got."""

    def __init__(self, modules: tuple[s.Module, ...], answer: Callable[[int, Resolved], None]):
        self._modules = modules
        self._answer = answer

    def earlier(self, index: int) -> None:
        return None

    def enums(self, index: int) -> None:
        return None

    def full(self, index: int) -> s.Module:
        return self._modules[index]

    def keep(self, index: int, resolved: Resolved) -> None:
        self._answer(index, resolved)


class Resolver:
    def __init__(self, modules: tuple[s.Module, ...], entry_file: str, diagnostics: Diagnostics,
                 reuse: EarlierResolutions | None = None, only: frozenset[int] | None = None):
        self._modules = modules
        self._entry_file = entry_file
        self._d = diagnostics
        self._reuse = reuse
        self._only = only  # resolve the systems of these modules only (`resolve_share`)
        self.symbols = Symbols()
        self._wire = WireValues(self.symbols, diagnostics)

    # ------------------------------------------------------------ driver

    def run(self) -> Symbols:
        self._gather()
        type_decls = [d for d in self.symbols.declarations.values() if isinstance(d, s.TypeDecl)]
        module_enums = [self._module_enums(index, module) for index, module in enumerate(self._modules)]
        # Fields first (types may refer to each other), then values that need the types.
        raw_types = {d.name.text: self._fields(d.fields, None, f"type {d.name.text}") for d in type_decls}
        for decl in type_decls:  # placeholders: defaults of nested records look at their fields
            self.symbols.types[decl.name.text] = ir.TypeDef(
                decl.name.text, tuple(f for f, _ in raw_types[decl.name.text]), decl.doc, decl.span)
        for decl in type_decls:
            fields = self._finish_fields(raw_types[decl.name.text])
            self._check_no_key(decl, fields)
            self.symbols.types[decl.name.text] = ir.TypeDef(decl.name.text, fields, decl.doc, decl.span)
        environment = self.environment() if self._reuse is not None else ""
        for index, module in enumerate(self._modules):
            positions = [i for i, d in enumerate(module.declarations)
                         if isinstance(d, s.System) and self.symbols.declarations.get(d.name.text) is d]
            if (positions or module_enums[index]) and (self._only is None or index in self._only):
                self._module_systems(index, positions, environment, module_enums[index])
        if self._only is None:
            self.check_required_cycles()
        return self.symbols

    def _module_enums(self, index: int, module: s.Module) -> tuple[tuple[ir.EnumDef, tuple[Diagnostic, ...]], ...]:
        """Resolve the enums module `index` declares (those that took their name), or take what an
        earlier build got for them: an enum depends on its declaration only."""
        decls = [d for d in module.declarations
                 if isinstance(d, s.EnumDecl) and self.symbols.declarations.get(d.name.text) is d]
        earlier = self._reuse.enums(index) if self._reuse is not None and decls else None
        known = {enum.name: (enum, found) for enum, found in earlier} if earlier is not None else {}
        resolved = []
        for decl in decls:
            entry = known.get(decl.name.text)
            if entry is None:
                with self._collected() as found:
                    entry = (self._enum(decl), tuple(found.items))
            self.symbols.enums[decl.name.text] = entry[0]
            self._d.items.extend(entry[1])
            resolved.append(entry)
        return tuple(resolved)

    def environment(self) -> str:
        """A digest of all that resolving a system can look at outside its own declaration: every
        declared name and kind, in order (which of them are taken, E0202/E0801), each enum's members
        and each type's fields as field types and defaults see them. Spans are left out: moving
        a declaration does not change what a system resolves to."""
        digest = hashlib.sha256()
        for module in self._modules:
            for d in module.declarations:
                if not isinstance(d, (s.Package, s.Import)):
                    digest.update(repr((type(d).__name__, d.name.text)).encode())
        for enum in self.symbols.enums.values():
            digest.update(repr((enum.name, [(m.name, m.wire) for m in enum.members])).encode())
        for typedef in self.symbols.types.values():
            digest.update(repr((typedef.name, [(f.name, _type_path(f.type), f.optional, f.has_default)
                                               for f in typedef.fields])).encode())
        return digest.hexdigest()

    def _module_systems(self, index: int, positions: list[int], environment: str,
                        enums: tuple[tuple[ir.EnumDef, tuple[Diagnostic, ...]], ...]) -> None:
        """Resolve the systems declared at `positions` of module `index`, or take what an earlier
        build got for them when the module and the environment are the same (a module without
        systems does not depend on the environment). Keep the module's enums with them."""
        earlier = self._reuse.earlier(index) if self._reuse is not None else None
        if earlier is not None and (earlier.environment == environment or not (positions or earlier.systems)):
            for system in earlier.systems:
                self.symbols.systems[system.name] = system
            self._d.items.extend(earlier.diagnostics)
            return
        module = self._reuse.full(index) if self._reuse is not None else self._modules[index]
        with self._collected() as found:
            systems = tuple(self._resolve_system(module.declarations[i]) for i in positions)
        self._d.items.extend(found.items)
        if self._reuse is not None:
            self._reuse.keep(index, Resolved(environment, systems, tuple(found.items), enums))

    @contextmanager
    def _collected(self):
        """Within the block, diagnostics go to the Diagnostics it yields: to be kept with what the
        block made (a file's enums, its systems) and reported again when that is reused."""
        found = Diagnostics()
        outer, self._d, self._wire._diagnostics = self._d, found, found
        try:
            yield found
        finally:
            self._d = self._wire._diagnostics = outer

    def _resolve_system(self, decl: s.System) -> ir.System:
        name = decl.name.text
        raw_entities = {e.name.text: self._fields(e.fields, decl, f"entity {name}.{e.name.text}")
                        for e in self._unique_members(decl, s.Entity)}
        # A placeholder: defaults of the system's own nested records look at their fields.
        self.symbols.systems[name] = ir.System(
            name, None, None, None, ir.Auth("none", None, None, None, (), decl.span), False,
            tuple(ir.Entity(name, entity, tuple(f for f, _ in fields), None, None, decl.span)
                  for entity, fields in raw_entities.items()), (), (), (), None, decl.doc, decl.span)
        system = self.symbols.systems[name] = self._system(decl, raw_entities)
        return system

    def _gather(self) -> None:
        folded: dict[str, s.Name] = {}
        for module in self._modules:
            for declaration in module.declarations:
                if isinstance(declaration, s.Package):
                    self._package(declaration, module)
                    continue
                if isinstance(declaration, s.Import):
                    continue
                name = declaration.name
                if name.text in ir.PRIMITIVES:
                    self._d.report("E0202", f"`{name.text}` is a built-in type and cannot be declared again",
                                   name.span)
                    continue
                first = self.symbols.declarations.get(name.text)
                if first is not None:
                    self._duplicate(name, first.name, "declared")
                    continue
                if not self._usable_as_file_name(name, folded):
                    continue
                self.symbols.declarations[name.text] = declaration
                if isinstance(declaration, s.Flow):
                    self.symbols.flows.append(declaration)

    def _usable_as_file_name(self, name: s.Name, folded: dict[str, s.Name]) -> bool:
        """Declarations name output files: plain identifiers, distinct ignoring case."""
        if not _IDENTIFIER.match(name.text):
            self._d.report("E0801", f"`{name.text}` cannot name an output file", name.span,
                           help="declarations are named with letters, digits and `_`")
            return False
        if len(name.text) > MAX_NAME_LENGTH:
            self._d.report("E0801", f"a name of {len(name.text)} characters cannot name an output file "
                                    f"(the limit is {MAX_NAME_LENGTH})", name.span,
                           help="file systems limit names to about 255 bytes, with room for suffixes")
            return False
        if name.text.casefold() in _WINDOWS_DEVICES:
            self._d.report("E0801", f"`{name.text}` cannot name an output file: it is a device name on Windows",
                           name.span, help="rename it (for example with a suffix)")
            return False
        other = folded.get(name.text.casefold())
        if other is not None:
            self._d.report("E0801", f"`{name.text}` and `{other.text}` differ only in letter case; their output "
                                    f"files would collide on case-insensitive file systems", name.span,
                           notes=(Note(other.span, f"`{other.text}` declared here"),))
            return False
        folded[name.text.casefold()] = name
        return True

    def _package(self, declaration: s.Package, module: s.Module) -> None:
        if self.symbols.package is not None:
            self._d.report("E0202", "the package is declared twice", declaration.span,
                           notes=(Note(self.symbols.package.span, "first declared here"),))
            return
        if not declaration.version.value.strip():
            self._d.report("E0209", "the package version is empty", declaration.version.span,
                           help='e.g. version "1.0.0"')
        if module.path != self._entry_file:
            self._d.report("E0209", "the package is declared in the entry file only", declaration.span,
                           help=f"move this line to {self._entry_file}")
        self.symbols.package = declaration

    def _duplicate(self, name: s.Name, first: s.Name, what: str = "declared") -> None:
        self._d.report("E0202", f"`{name.text}` is {what} twice", name.span,
                       notes=(Note(first.span, f"`{first.text}` first {what} here"),),
                       help="rename one of them")

    def _unique_members(self, system: s.System, cls) -> list:
        """The members of one kind, a second one with the same name reported."""
        seen: dict[str, s.Name] = {}
        folded: dict[str, s.Name] = {}
        unique = []
        for member in system.members:
            if not isinstance(member, cls):
                continue
            if member.name.text in seen:
                self._duplicate(member.name, seen[member.name.text])
                continue
            seen[member.name.text] = member.name
            if cls is s.Entity and not self._usable_as_file_name(member.name, folded):
                continue
            if cls is s.Event and not _IDENTIFIER.match(member.name.text):
                self._d.report("E0209", f"event name `{member.name.text}` must be an identifier",
                               member.name.span)
                continue
            unique.append(member)
        return unique

    # ------------------------------------------------------------ enums

    def _enum(self, decl: s.EnumDecl) -> ir.EnumDef:
        members = []
        names: dict[str, s.Name] = {}
        wires: dict[str, s.EnumMember] = {}
        for member in decl.members:
            if member.name.text in names:
                self._duplicate(member.name, names[member.name.text])
                continue
            wire = member.wire.value if member.wire is not None else member.name.text
            if wire in wires:
                self._d.report("E0202", f"wire value {wire!r} is used by two members of `{decl.name.text}`",
                               (member.wire or member.name).span,
                               notes=(Note(wires[wire].span, "first used here"),))
                continue
            names[member.name.text] = member.name
            wires[wire] = member
            members.append(ir.EnumMember(member.name.text, wire, member.doc, member.span))
        if not members:
            self._d.report("E0209", f"enum `{decl.name.text}` has no members", decl.name.span)
        return ir.EnumDef(decl.name.text, tuple(members), decl.doc, decl.span)

    # ------------------------------------------------------------ types and fields

    def resolve_type(self, ref: s.TypeRef, system: s.System | None) -> ir.TypeRef | None:
        if ref.kind in ("list", "map"):
            item = self.resolve_type(ref.item, system)
            if item is None:
                return None
            if ref.item.optional:
                self._d.report("E0205", f"{ref.kind} items cannot be optional", ref.item.span,
                               help=f"use `{ref.kind}<T>`; make the field itself optional with `?` if needed")
            return ir.TypeRef(ref.kind, None, item)
        parts = ref.name.parts
        text = ref.name.text
        if len(parts) == 1:
            primitive = _PRIMITIVE_TYPES.get(text)
            if primitive is not None:
                return primitive
            declaration = self.symbols.declarations.get(text)
            if isinstance(declaration, s.TypeDecl):
                return ir.TypeRef("type", text)
            if isinstance(declaration, s.EnumDecl):
                return ir.TypeRef("enum", text)
            if system is not None and any(isinstance(m, s.Entity) and m.name.text == text for m in system.members):
                return ir.TypeRef("entity", f"{system.name.text}.{text}")
        elif len(parts) == 2 and system is not None and parts[0].text == system.name.text:
            if any(isinstance(m, s.Entity) and m.name.text == parts[1].text for m in system.members):
                return ir.TypeRef("entity", text)
        candidates = list(ir.PRIMITIVES) + [n for n, d in self.symbols.declarations.items()
                                            if isinstance(d, (s.TypeDecl, s.EnumDecl))]
        if system is not None:
            candidates += [m.name.text for m in system.members if isinstance(m, s.Entity)]
        help_text = did_you_mean(text, candidates)
        if len(parts) == 2 and parts[0].text in self.symbols.declarations and system is not None \
                and parts[0].text != system.name.text:
            help_text = "a field can refer to an entity of its own system only; use a shared `type`"
        self._d.report("E0201", f"unknown type `{text}`", ref.name.span, help=help_text)
        return None

    def _fields(self, fields: tuple[s.Field, ...], system: s.System | None, owner: str):
        """[(provisional ir.Field, syntax Field)]: types and flags, values not yet checked."""
        out = []
        seen: dict[str, s.Name] = {}
        for f in fields:
            if f.name.text in seen:
                self._duplicate(f.name, seen[f.name.text])
                continue
            seen[f.name.text] = f.name
            type_ref = self.resolve_type(f.type, system)
            if type_ref is None:
                type_ref = ir.TypeRef("json")  # keeps checking going; the error is reported
            out.append((self._field_flags(f, type_ref), f))
        return out

    def _field_flags(self, f: s.Field, type_ref: ir.TypeRef) -> ir.Field:
        if not f.annotations:  # most fields: nothing to check, every flag at its default
            return ir.Field(f.name.text, type_ref, f.type.optional, f.default is not None, None, False, False, False,
                            None, None, None, None, None, None, False, None, f.doc, f.span)
        values: dict[str, object] = {"key": False, "readonly": False, "pii": False, "deprecated": None,
                                     "min_length": None, "max_length": None, "minimum": None, "maximum": None,
                                     "pattern": None}
        seen: dict[str, s.Annotation] = {}
        for annotation in f.annotations:
            name = annotation.name.text
            if name not in ANNOTATIONS:
                self._d.report("E0201", f"unknown annotation `@{name}`", annotation.name.span,
                               help=did_you_mean(name, ANNOTATIONS))
                continue
            if name in seen:
                self._d.report("E0202", f"`@{name}` is given twice", annotation.name.span,
                               notes=(Note(seen[name].name.span, "first given here"),), help="remove one of them")
                continue
            seen[name] = annotation
            self._annotation(annotation, f, type_ref, values)
        return ir.Field(f.name.text, type_ref, f.type.optional, f.default is not None, None,
                        values["key"], values["readonly"], values["pii"], values["deprecated"],
                        values["min_length"], values["max_length"], values["minimum"], values["maximum"],
                        values["pattern"], False, None, f.doc, f.span)

    def _annotation(self, annotation: s.Annotation, f: s.Field, type_ref: ir.TypeRef, values: dict) -> None:
        name = annotation.name.text
        args = annotation.args
        span = annotation.span
        if name == "deprecated":
            if len(args) > 1 or (args and args[0].kind != "string"):
                self._d.report("E0205", "`@deprecated` takes an optional reason string", span)
                return
            values["deprecated"] = args[0].value if args else ""
            return
        if len(args) != _ARITY[name]:
            shape = {0: "no arguments", 1: "one argument", 2: "two arguments (min, max)"}[_ARITY[name]]
            self._d.report("E0205", f"`@{name}` takes {shape}", span)
            return
        kind = type_ref.kind
        if name in ("key", "readonly", "pii"):
            if name == "key" and (kind not in STRINGLIKE | {"int"} or f.type.optional):
                self._d.report("E0205", f"`@key` needs a required string, uuid, email, url or int field, "
                                        f"not `{type_ref}{'?' if f.type.optional else ''}`", span)
                return
            values[name] = True
        elif name == "length":
            if kind not in STRINGLIKE | {"bytes", "list", "map"}:
                self._d.report("E0205", f"`@length` applies to strings, lists and maps, not `{type_ref}`", span,
                               help="use `@range(min, max)` for numbers" if kind in NUMERIC else None)
                return
            low, high = self._bounds(annotation, integer=True)
            if low is not None and low < 0:
                self._d.report("E0204", "`@length` cannot be negative", args[0].span)
                return
            values["min_length"], values["max_length"] = low, high
        elif name == "range":
            if kind not in NUMERIC:
                self._d.report("E0205", f"`@range` applies to int, decimal and float fields, not `{type_ref}`",
                               span, help="use `@length(min, max)` for strings and lists"
                               if kind in STRINGLIKE | {"list", "map"} else None)
                return
            values["minimum"], values["maximum"] = self._bounds(annotation, integer=kind == "int")
        elif name == "pattern":
            if kind not in STRINGLIKE:
                self._d.report("E0205", f"`@pattern` applies to string fields, not `{type_ref}`", span)
                return
            if args[0].kind != "string":
                self._d.report("E0205", "`@pattern` takes a regular expression string", args[0].span)
                return
            try:
                re.compile(args[0].value)
            except (re.error, RecursionError, OverflowError) as error:
                self._d.report("E0204", f"invalid regular expression: {getattr(error, 'msg', error)}",
                               args[0].span)
                return
            if not _is_ecma_regex(args[0].value):
                self._d.report("E0204", "not an ECMA-262 regular expression, the dialect JSON Schema and "
                                        "OpenAPI use", args[0].span,
                               help="Python-only syntax such as (?P<name>...), \\A, \\Z, (?i) or a++ is not "
                                    "portable; write the pattern in plain ECMA-262 syntax")
                return
            values["pattern"] = args[0].value

    def _bounds(self, annotation: s.Annotation, integer: bool) -> tuple:
        low, high = annotation.args
        kinds = ("int",) if integer else ("int", "float")
        for arg in (low, high):
            if arg.kind not in kinds:
                self._d.report("E0205", f"`@{annotation.name.text}` takes {'whole ' if integer else ''}numbers",
                               arg.span)
                return None, None
        if low.value > high.value:
            self._d.report("E0204", f"`@{annotation.name.text}` minimum {low.value} is above maximum {high.value}",
                           annotation.span)
            return None, None
        return low.value, high.value

    def _finish_fields(self, raw) -> tuple[ir.Field, ...]:
        """Check defaults and examples now that every type is known."""
        finished = []
        for provisional, f in raw:
            example_annotation = next((a for a in f.annotations if a.name.text == "example" and len(a.args) == 1),
                                      None) if f.annotations else None
            if f.default is None and example_annotation is None:
                finished.append(provisional)  # no value to check: already what it will be
                continue
            default = example = None
            has_example = False
            if f.default is not None:
                default = self._wire.to_wire(f.default, provisional.type, provisional.optional, "default")
                default = self._within_constraints(provisional, default, f.default, "default")
            if example_annotation is not None:
                example = self._wire.to_wire(example_annotation.args[0], provisional.type, provisional.optional,
                                       "example")
                example = self._within_constraints(provisional, example, example_annotation.args[0], "example")
                has_example = example is not INVALID
            finished.append(ir.Field(
                provisional.name, provisional.type, provisional.optional, provisional.has_default,
                None if default is INVALID else default, provisional.key, provisional.readonly, provisional.pii,
                provisional.deprecated, provisional.min_length, provisional.max_length, provisional.minimum,
                provisional.maximum, provisional.pattern, has_example, None if example is INVALID else example,
                provisional.description, provisional.origin))
        return tuple(finished)

    def _within_constraints(self, f: ir.Field, wire: object, value: s.Value, role: str) -> object:
        """`wire` if it satisfies the field's own @length/@range/@pattern, else INVALID after E0205."""
        if wire is INVALID or wire is None:
            return wire
        problem = constraint_problem(f, wire)
        if problem is None:
            return wire
        self._d.report("E0205", f"{role} {problem}", value.span,
                       help=f"the {role} must satisfy the field's own constraints")
        return INVALID

    def check_required_cycles(self) -> None:
        """E0205 at each required record field that leads back to its own record: no finite value."""
        graph: dict[str, list[tuple[str, ir.Field]]] = {}
        for name, typedef in self.symbols.types.items():
            graph[f"type {name}"] = _required_records(typedef.fields)
        for system in self.symbols.systems.values():
            for entity in system.entities:
                graph[f"entity {system.name}.{entity.name}"] = _required_records(entity.fields)
        reaches: dict[str, set[str]] = {}

        def reach(start: str) -> set[str]:
            if start not in reaches:
                seen: set[str] = set()
                stack = [start]
                while stack:
                    node = stack.pop()
                    for target, _ in graph.get(node, ()):
                        if target not in seen:
                            seen.add(target)
                            stack.append(target)
                reaches[start] = seen
            return reaches[start]

        for node, edges in graph.items():
            for target, f in edges:
                if target == node or node in reach(target):
                    record = node.split(" ", 1)[1]
                    self._d.report("E0205", f"`{f.name}` requires a `{f.type}` inside every `{record}`, so no "
                                            f"value of `{record}` is finite", f.origin,
                                   help=f"make `{f.name}` optional (`{f.type}?`) or a list")

    # ------------------------------------------------------------ systems

    def _check_no_key(self, decl: s.TypeDecl, fields: tuple[ir.Field, ...]) -> None:
        for f, syntax_field in zip(fields, decl.fields):
            if f.key:
                self._d.report("E0203", "only entities have keys; a shared type has no `@key`",
                               syntax_field.name.span)

    def _system(self, decl: s.System, raw_entities: dict) -> ir.System:
        clauses = self._system_clauses(decl)
        if not clauses.get("owner"):
            self._d.report("W0601", f"system `{decl.name.text}` has no owner", decl.name.span,
                           help='add `owner "team@example.com"`: who a broken integration is escalated to')
        entities = []
        for entity_decl in self._unique_members(decl, s.Entity):
            fields = self._finish_fields(raw_entities[entity_decl.name.text])
            keys = [f for f in fields if f.key]
            for extra in keys[1:]:
                self._d.report("E0203", f"entity `{entity_decl.name.text}` has a second `@key` field",
                               extra.origin, notes=(Note(keys[0].origin, "first key here"),),
                               help="an entity has exactly one @key field")
            entities.append(ir.Entity(decl.name.text, entity_decl.name.text, fields,
                                      keys[0].name if keys else None, entity_decl.doc, entity_decl.span))
        by_name = {e.name: e for e in entities}
        exposes = self._exposes(decl, by_name)
        operations = self._operations(decl, exposes)
        events = tuple(ir.Event(e.name.text, t, e.doc, e.span)
                       for e in self._unique_members(decl, s.Event)
                       if (t := self.resolve_type(e.type, decl)) is not None)
        return ir.System(decl.name.text, clauses.get("title"), clauses.get("owner"), clauses.get("base_url"),
                         clauses["auth"], clauses.get("handles") is not None, tuple(entities), exposes,
                         operations, events, clauses.get("deploy"), decl.doc, decl.span)

    def _system_clauses(self, decl: s.System) -> dict:
        out: dict[str, object] = {}
        first: dict[str, s.Clause | s.Auth | s.Deploy] = {}
        for member in decl.members:
            if isinstance(member, s.Clause):
                key = member.keyword
            elif isinstance(member, s.Auth):
                key = "auth"
            elif isinstance(member, s.Deploy):
                key = "deploy"
            else:
                continue
            if key in first:
                self._d.report("E0202", f"`{key}` is given twice in system `{decl.name.text}`", member.span,
                               notes=(Note(first[key].span, "first given here"),))
                continue
            first[key] = member
            if key == "auth":
                out["auth"] = self._auth(member)
            elif key == "deploy":
                out["deploy"] = self._deploy(member)
            elif key == "handles":
                if member.value.text != "pii":
                    self._d.report("E0201", f"unknown `handles` category `{member.value.text}`",
                                   member.value.span, help="the only category is `handles pii`")
                out["handles"] = True
            else:
                out[key] = member.value.value
                if key == "base_url":
                    self._check_url(member.value, "base_url")
        out.setdefault("auth", ir.Auth("none", None, None, None, (), decl.name.span))
        return out

    def _check_url(self, value: s.Value, key: str) -> None:
        problem = url_problem(value.value)
        if problem is not None:
            self._d.report("E0209", f"`{key}` must be an absolute http(s) URL: {problem}", value.span,
                           help='e.g. "https://crm.example.com/api"')

    def _auth(self, auth: s.Auth) -> ir.Auth:
        kind = auth.kind.text
        if kind not in AUTH_SETTINGS:
            self._d.report("E0209", f"unknown auth kind `{kind}`", auth.kind.span,
                           help=did_you_mean(kind, AUTH_SETTINGS) or
                           "auth is none, api_key, bearer, basic, oauth2 or mtls")
            return ir.Auth("none", None, None, None, (), auth.span)
        allowed = AUTH_SETTINGS[kind]
        values: dict[str, object] = {}
        for setting in auth.settings:
            key = setting.key.text
            if key not in allowed:
                self._d.report("E0201", f"`auth {kind}` has no setting `{key}`", setting.key.span,
                               help=did_you_mean(key, allowed) or
                               (f"its settings are {', '.join(allowed)}" if allowed else "it takes no settings"))
                continue
            if key in values:
                self._d.report("E0202", f"`{key}` is given twice", setting.key.span)
                continue
            if key == "scopes":
                if setting.value.kind != "list" or any(v.kind != "string" for v in setting.value.value):
                    self._d.report("E0209", "`scopes` is a list of strings", setting.value.span)
                    continue
                values[key] = tuple(v.value for v in setting.value.value)
            elif setting.value.kind != "string":
                self._d.report("E0209", f"`{key}` takes a string", setting.value.span)
            else:
                values[key] = setting.value.value
                if key == "token_url":
                    self._check_url(setting.value, "token_url")
        for key, required in allowed.items():
            if required and key not in values:
                self._d.report("E0209", f"`auth {kind}` needs `{key}`", auth.span,
                               help='e.g. secret "crm-token" names a secret; its value is supplied at run time'
                               if key == "secret" else None)
        return ir.Auth(kind, values.get("secret"), values.get("header"), values.get("token_url"),
                       values.get("scopes", ()), auth.span)

    def _deploy(self, deploy: s.Deploy) -> ir.Deploy:
        namespace = port = None
        labels: tuple[tuple[str, str], ...] = ()
        for setting in deploy.settings:
            key, value = setting.key.text, setting.value
            if key == "namespace" and value.kind == "string":
                namespace = value.value
            elif key == "port" and value.kind == "int" and 1 <= value.value <= 65535:
                port = value.value
            elif key == "labels" and value.kind == "object" and all(v.kind == "string" for _, v in value.value):
                labels = tuple(sorted((k, v.value) for k, v in value.value))
            elif key in ("namespace", "port", "labels"):
                self._d.report("E0209", {"namespace": "`namespace` takes a string",
                                         "port": "`port` takes a number from 1 to 65535",
                                         "labels": "`labels` takes { key: \"value\" } pairs"}[key], value.span)
            else:
                self._d.report("E0201", f"`k8s` has no setting `{key}`", setting.key.span,
                               help=did_you_mean(key, ("namespace", "port", "labels")))
        return ir.Deploy(namespace, labels, port, deploy.span)

    def _exposes(self, decl: s.System, entities: dict[str, ir.Entity]) -> tuple[ir.Expose, ...]:
        exposes = []
        exposed: dict[str, s.Expose] = {}
        for expose in (m for m in decl.members if isinstance(m, s.Expose)):
            entity = entities.get(expose.entity.text)
            if entity is None:
                self._d.report("E0201", f"system `{decl.name.text}` has no entity `{expose.entity.text}`",
                               expose.entity.span, help=did_you_mean(expose.entity.text, entities))
                continue
            if expose.entity.text in exposed:
                self._d.report("E0202", f"`{expose.entity.text}` is exposed twice in system `{decl.name.text}`",
                               expose.entity.span, notes=(Note(exposed[expose.entity.text].span,
                                                               "first exposed here"),),
                               help="expose an entity once, listing all its operations")
                continue
            exposed[expose.entity.text] = expose
            ops: dict[str, s.Name] = {}
            for op in expose.ops:
                if op.text not in ir.OPERATION_KINDS:
                    self._d.report("E0201", f"unknown operation `{op.text}`", op.span,
                                   help=did_you_mean(op.text, ir.OPERATION_KINDS) or
                                   "the operations are list, get, create, update, patch, delete")
                elif op.text in ops:
                    self._duplicate(op, ops[op.text], "listed")
                else:
                    ops[op.text] = op
            if entity.key is None:
                self._d.report("E0203", f"entity `{entity.name}` is exposed but has no `@key` field",
                               expose.entity.span, notes=(Note(entity.origin, "declared here"),),
                               help="mark its identity field with @key, e.g. `id: uuid @key @readonly`")
            path = expose.path.value
            if not path.startswith("/") or "{" in path or "}" in path or unsafe_characters(path):
                self._d.report("E0209", f"expose path must start with `/` and have no parameters, spaces or "
                                        f"control characters: {path!r}", expose.path.span)
            ordered = tuple(k for k in ir.OPERATION_KINDS if k in ops)
            exposes.append(ir.Expose(entity.name, path.rstrip("/") or "/", ordered, expose.doc, expose.span))
        return tuple(exposes)

    def _operations(self, decl: s.System, exposes: tuple[ir.Expose, ...]) -> tuple[ir.Operation, ...]:
        ids: dict[str, Span] = {}
        for expose in exposes:
            for kind in expose.operations:
                op_id = operation_id(kind, expose.entity)
                if op_id in ids:
                    self._d.report("E0202", f"operationId `{op_id}` is defined twice in system `{decl.name.text}`",
                                   expose.origin, notes=(Note(ids[op_id], "first defined here"),))
                ids.setdefault(op_id, expose.origin)
        routes: dict[tuple[str, str], str] = {}
        for expose in exposes:
            for kind in expose.operations:
                method, suffix = _EXPOSED_ROUTES[kind]
                routes.setdefault((method, _route_shape(expose.path.rstrip("/") + suffix)), operation_id(kind, expose.entity))
        operations = []
        for op in (m for m in decl.members if isinstance(m, s.Operation)):
            route = (op.method.text.upper(), _route_shape(op.path.value))
            if route in routes:
                self._d.report("E0202", f"`{route[0]} {op.path.value}` is already served by `{routes[route]}` in "
                                        f"system `{decl.name.text}`", op.path.span,
                               help="two operations cannot share a method and path (parameter names aside)")
                continue
            routes[route] = op.name.text
            if not _IDENTIFIER.match(op.name.text):
                self._d.report("E0209", f"operation name `{op.name.text}` must be an identifier", op.name.span)
                continue
            if op.name.text in ids:
                self._d.report("E0202", f"operationId `{op.name.text}` is defined twice in system "
                                        f"`{decl.name.text}`", op.name.span,
                               notes=(Note(ids[op.name.text], "first defined here"),))
                continue
            ids[op.name.text] = op.span
            resolved = self._operation(decl, op)
            if resolved is not None:
                operations.append(resolved)
        return tuple(operations)

    def _operation(self, decl: s.System, op: s.Operation) -> ir.Operation | None:
        method = op.method.text.upper()
        ok = True
        if method not in HTTP_METHODS:
            self._d.report("E0209", f"unknown HTTP method `{op.method.text}`", op.method.span,
                           help=did_you_mean(method, HTTP_METHODS))
            ok = False
        path = op.path.value
        if not path.startswith("/") or unsafe_characters(path):
            self._d.report("E0209", f"operation path must start with `/` and have no spaces or control "
                                    f"characters: {path!r}", op.path.span)
            ok = False
        elif "{" in _PATH_PARAM.sub("", path) or "}" in _PATH_PARAM.sub("", path):
            self._d.report("E0209", f"operation path has a brace outside a `{{name}}` parameter: {path!r}",
                           op.path.span, help="write parameters as `{name}`, one pair of braces each")
            ok = False
        in_path = _PATH_PARAM.findall(path)
        declared: dict[str, s.Param] = {}
        for param in op.params:
            if param.name.text in declared:
                self._duplicate(param.name, declared[param.name.text].name)
                continue
            declared[param.name.text] = param
        for name in in_path:
            if not _IDENTIFIER.match(name):
                self._d.report("E0209", f"`{{{name}}}` is not a valid path parameter name", op.path.span)
                ok = False
            elif name not in declared or name == "body":
                self._d.report("E0206", f"path parameter `{{{name}}}` is not declared", op.path.span,
                               help=f"add `{name}: string` (or its real type) to the parameter list")
                ok = False
        params = []
        for name, param in declared.items():
            type_ref = self.resolve_type(param.type, decl)
            if type_ref is None:
                ok = False
                continue
            location = "body" if name == "body" else "path" if name in in_path else "query"
            if location == "path" and param.type.optional:
                self._d.report("E0209", f"path parameter `{name}` cannot be optional", param.span)
                ok = False
            if location != "body" and type_ref.kind in ("type", "entity", "map", "json"):
                self._d.report("E0205", f"{location} parameter `{name}` must be a scalar or a list, not "
                                        f"`{type_ref}`", param.type.span,
                               help="pass records as `body: T`")
                ok = False
            params.append(ir.Param(name, type_ref, param.type.optional, location, param.span))
        returns = self.resolve_type(op.returns, decl) if op.returns is not None else None
        if op.returns is not None and returns is None:
            ok = False
        if not ok:
            return None
        return ir.Operation(op.name.text, method, path, tuple(params), returns,
                            bool(op.returns and op.returns.optional), op.doc, op.span)


# ---------------------------------------------------------------- value helpers

_EXPOSED_ROUTES = {"list": ("GET", ""), "get": ("GET", "/{}"), "create": ("POST", ""),
                   "update": ("PUT", "/{}"), "patch": ("PATCH", "/{}"), "delete": ("DELETE", "/{}")}


def _type_path(t: ir.TypeRef) -> tuple[tuple[str, str | None], ...]:
    """A type as (kind, ref) from the outside in, without recursion (lists nest as deep as written)."""
    path = []
    while t is not None:
        path.append((t.kind, t.ref))
        t = t.item
    return tuple(path)


def _route_shape(path: str) -> str:
    """A path with its parameter names erased: `/a/{id}` and `/a/{key}` are one route."""
    return _PATH_PARAM.sub("{}", path.rstrip("/") or "/")


class _Invalid:
    def __repr__(self) -> str:
        return "<invalid>"


INVALID = _Invalid()


@dataclass(frozen=True)
class _Problem:
    code: str
    message: str
    span: Span | None = None
    help: str | None = None


def unsafe_characters(text: str) -> bool:
    """Whether text holds whitespace, control characters or Unicode format (bidi, zero-width) characters."""
    return any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in text)


def url_problem(text: str) -> str | None:
    """Why text is not an absolute http(s) URL with a host (and a valid port), or None."""
    if unsafe_characters(text):
        return "it contains spaces, control or invisible characters"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        return f"it cannot be parsed ({error})"
    if parts.scheme not in ("http", "https"):
        return "the scheme must be http or https"
    if not parts.hostname:
        return "it has no host"
    if port is not None and port == 0:
        return "the port must be from 1 to 65535"
    del port
    return None


def _required_records(fields: tuple[ir.Field, ...]) -> list[tuple[str, ir.Field]]:
    return [(f"{f.type.kind} {f.type.ref}", f) for f in fields
            if not f.optional and f.type.kind in ("type", "entity") and f.type.ref]


def constraint_problem(f: ir.Field, wire: object) -> str | None:
    """Why a wire value breaks the field's own @length/@range/@pattern, or None."""
    kind = f.type.kind
    if f.min_length is not None or f.max_length is not None:
        size = None
        if kind == "bytes" and isinstance(wire, str):
            try:
                size = len(base64.b64decode(wire, validate=True))
            except ValueError:
                size = None
        elif kind in ("list", "map") or (kind in STRINGLIKE and isinstance(wire, str)):
            size = len(wire) if isinstance(wire, (str, list, dict)) else None
        if size is not None:
            unit = "items" if kind in ("list", "map") else "bytes" if kind == "bytes" else "characters"
            if f.min_length is not None and size < f.min_length:
                return f"has {size} {unit}, fewer than the @length minimum {f.min_length}"
            if f.max_length is not None and size > f.max_length:
                return f"has {size} {unit}, more than the @length maximum {f.max_length}"
    if (f.minimum is not None or f.maximum is not None) and kind in NUMERIC:
        try:
            number = Decimal(str(wire)) if not isinstance(wire, bool) else None
        except InvalidOperation:
            number = None
        if number is not None and number.is_finite():
            if f.minimum is not None and number < Decimal(str(f.minimum)):
                return f"is below the @range minimum {f.minimum}"
            if f.maximum is not None and number > Decimal(str(f.maximum)):
                return f"is above the @range maximum {f.maximum}"
    if f.pattern is not None and kind in STRINGLIKE and isinstance(wire, str):
        if not _pattern_validator(f.pattern).is_valid(wire):
            return "does not match the field's @pattern"
    return None


@functools.lru_cache(maxsize=256)
def _pattern_validator(pattern: str):
    """ECMA-262 semantics (what the schemas say), in a linear-time/backtrack-limited engine: a
    backtracking pattern cannot hang the compiler on a default or example."""
    import jsonschema_rs

    return jsonschema_rs.validator_for({"type": "string", "pattern": pattern})


def _describe_value(value: s.Value) -> str:
    return {"string": "a string", "int": "a whole number", "float": "a number", "bool": "a boolean",
            "duration": "a duration", "list": "a list", "object": "an object",
            "symbol": f"`{value.value}`"}.get(value.kind, value.kind)


def _scalar_wire(value: s.Value, kind: str, bad: _Problem):
    v = value.value
    if kind in ("string", "email", "url", "uuid", "date", "datetime", "bytes"):
        if value.kind != "string":
            return bad
        return v if _scalar_text_ok(kind, v) else _Problem("E0205", f"{v!r} is not a valid {kind}")
    if kind == "int":
        return v if value.kind == "int" else bad
    if kind == "float":
        return float(v) if value.kind in ("int", "float") else bad
    if kind == "decimal":
        if value.kind in ("int", "float", "string"):
            try:
                number = Decimal(value.text if value.text is not None else str(v))
            except InvalidOperation:
                return bad
            return format(number, "f") if number.is_finite() else bad
        return bad
    if kind == "bool":
        return v if value.kind == "bool" else bad
    if kind == "duration":
        if value.kind == "duration":
            return duration_iso(v)
        return bad
    return bad


def _is_ecma_regex(pattern: str) -> bool:
    """Whether JSON Schema tools (ECMA-262 dialect) accept the pattern; jsonschema-rs decides."""
    return _ecma_regex_validator().is_valid(pattern)


@functools.lru_cache(maxsize=1)
def _ecma_regex_validator():
    import jsonschema_rs  # only projects with @pattern pay for the import

    return jsonschema_rs.validator_for({"format": "regex"}, validate_formats=True)


def duration_iso(ms: int) -> str:
    """ISO 8601 duration text for a millisecond count (durations travel as strings)."""
    seconds, millis = divmod(ms, 1000)
    text = f"PT{seconds}.{millis:03d}S" if millis else f"PT{seconds}S"
    return text


def _scalar_text_ok(kind: str, text: str) -> bool:
    try:
        if kind == "uuid":
            uuid.UUID(text)
        elif kind == "email":
            return re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text) is not None
        elif kind == "url":
            parts = urlsplit(text)
            return bool(parts.scheme and parts.netloc)
        elif kind == "date":
            dt.date.fromisoformat(text)
            return re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) is not None
        elif kind == "datetime":
            return re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", text) \
                is not None and dt.datetime.fromisoformat(text.replace("z", "Z")) is not None
        elif kind == "bytes":
            base64.b64decode(text, validate=True)
    except ValueError:
        return False
    return True
