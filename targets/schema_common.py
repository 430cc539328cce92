"""Field -> JSON Schema 2020-12, shared by the `openapi` and `jsonschema` targets.

Both targets call the same functions, so one field always gets the same
schema; they differ only in where a `$ref` points (`#/components/schemas/X`
in OpenAPI, `#/$defs/X` in a self-contained schema file), which each target
supplies as a `RefFn`. The mapping rules are documented in docs/openapi.md.

Key order inside a schema is fixed (see `_ORDER`), so output is deterministic
whatever order the keys were added in.
"""
from __future__ import annotations

from typing import Callable, Iterable

from integc.ir import EnumDef, Field, Project, System, TypeRef

# A RefFn turns a named type (`kind` is "type", "enum" or "entity"; `name` the
# type's or enum's name or the entity's qualified name) into a `$ref` string.
RefFn = Callable[[str, str], str]

# Decimals travel as JSON strings: an optional sign, digits, an optional
# fraction. No exponent, no leading "+", no thousands separators.
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
UNSIGNED_DECIMAL_PATTERN = r"^[0-9]+(\.[0-9]+)?$"

# The wire format of each primitive. `json` is the empty schema: any JSON value.
PRIMITIVE_SCHEMAS: dict[str, dict] = {
    "string": {"type": "string"},
    "int": {"type": "integer", "format": "int64"},
    "decimal": {"type": "string", "format": "decimal"},
    "float": {"type": "number", "format": "double"},
    "bool": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "duration": {"type": "string", "format": "duration"},
    "uuid": {"type": "string", "format": "uuid"},
    "email": {"type": "string", "format": "email"},
    "url": {"type": "string", "format": "uri"},
    "bytes": {"type": "string", "contentEncoding": "base64"},
    "json": {},
}
_STRING_KINDS = frozenset({"string", "date", "datetime", "duration", "uuid", "email", "url"})
_NUMBER_KINDS = frozenset({"int", "float"})
_NAMED_KINDS = frozenset({"type", "enum", "entity"})

# The order keys are written in; keys not listed keep their insertion order after these.
_ORDER = (
    "$schema", "$id", "$ref", "title", "description", "anyOf", "type", "format", "contentEncoding",
    "enum", "x-enum-varnames", "x-enum-descriptions", "items", "additionalProperties",
    "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties",
    "minimum", "maximum", "x-integc-minimum", "x-integc-maximum", "pattern",
    "required", "properties", "default", "examples", "readOnly", "deprecated", "x-integc-pii",
    "$defs",
)
_RANK = {key: i for i, key in enumerate(_ORDER)}


def ordered(schema: dict) -> dict:
    """The same schema with its keys in the canonical order (not recursive)."""
    return dict(sorted(schema.items(), key=lambda kv: _RANK.get(kv[0], len(_RANK))))


# ------------------------------------------------------------------ wire values

def iso_duration(ms: int) -> str:
    """Milliseconds as an ISO 8601 duration: 900000 -> "PT15M", 86400000 -> "P1D"."""
    sign = "-" if ms < 0 else ""
    ms = abs(int(ms))
    days, rest = divmod(ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    out = sign + "P" + (f"{days}D" if days else "")
    time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds or millis:
        time += f"{seconds}.{millis:03d}".rstrip("0").rstrip(".") + "S"
    if time:
        out += "T" + time
    return out if out not in ("P", "-P") else "PT0S"


def wire_value(ref: TypeRef, value: object) -> object:
    """A default or example (already in the IR's wire form) as it appears in a schema.

    The IR holds durations as milliseconds; on the wire (and in schemas) they
    are ISO 8601 strings. A decimal that arrived as a number is written as its
    string. Lists and maps convert item by item.
    """
    if value is None:
        return None
    kind = ref.kind
    if kind == "duration" and isinstance(value, int) and not isinstance(value, bool):
        return iso_duration(value)
    if kind == "decimal" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _decimal_text(value)
    if kind == "decimal" and isinstance(value, str) and ("e" in value or "E" in value):
        return _plain_decimal(value)
    if kind == "list" and isinstance(value, (list, tuple)) and ref.item is not None:
        return [wire_value(ref.item, v) for v in value]
    if kind == "map" and isinstance(value, dict) and ref.item is not None:
        return {k: wire_value(ref.item, v) for k, v in value.items()}
    if isinstance(value, tuple):
        return list(value)
    return value


def _decimal_text(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    text = repr(value)
    return _plain_decimal(text) if "e" in text or "E" in text else text


def _plain_decimal(text: str) -> str:
    """"1E+3" -> "1000", "1e-07" -> "0.0000001": decimals on the wire have no exponent."""
    from decimal import Decimal, InvalidOperation

    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    return format(number, "f") if number.is_finite() else text


# ------------------------------------------------------------------ schemas

def type_schema(ref: TypeRef, ref_fn: RefFn) -> dict:
    """The schema of a (non-optional) type reference, without field annotations."""
    kind = ref.kind
    if kind in _NAMED_KINDS:
        return {"$ref": ref_fn(kind, ref.ref)}
    if kind == "list":
        return {"type": "array", "items": type_schema(ref.item, ref_fn)}
    if kind == "map":
        return {"type": "object", "additionalProperties": type_schema(ref.item, ref_fn)}
    schema = dict(PRIMITIVE_SCHEMAS[kind])
    if kind == "decimal":
        schema["pattern"] = DECIMAL_PATTERN
    return schema


def nullable(schema: dict) -> dict:
    """`schema` or null: `type: [T, "null"]` where there is a type, else `anyOf` with null."""
    if not schema:
        return schema  # the any-value schema already admits null
    if "$ref" in schema or "type" not in schema:
        inner = dict(schema)
        return {"anyOf": [inner, {"type": "null"}]}
    out = dict(schema)
    t = out["type"]
    if isinstance(t, list):
        if "null" not in t:
            out["type"] = [*t, "null"]
    else:
        out["type"] = [t, "null"]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def _apply_constraints(schema: dict, ref: TypeRef, f: Field) -> None:
    """Carry @length / @range / @pattern into `schema` (the non-null form of the field)."""
    kind = ref.kind
    if f.min_length is not None or f.max_length is not None:
        if kind in _STRING_KINDS:
            _put(schema, "minLength", f.min_length)
            _put(schema, "maxLength", f.max_length)
        elif kind == "list":
            _put(schema, "minItems", f.min_length)
            _put(schema, "maxItems", f.max_length)
        elif kind == "map":
            _put(schema, "minProperties", f.min_length)
            _put(schema, "maxProperties", f.max_length)
        elif kind == "bytes":  # a length in bytes, carried as padded base64 characters
            _put(schema, "minLength", None if f.min_length is None else 4 * -(-f.min_length // 3))
            _put(schema, "maxLength", None if f.max_length is None else 4 * -(-f.max_length // 3))
    if f.minimum is not None or f.maximum is not None:
        target = schema
        item_kind = kind
        if kind == "list" and ref.item is not None and ref.item.kind in (_NUMBER_KINDS | {"decimal"}):
            target = schema["items"]
            item_kind = ref.item.kind
        if item_kind in _NUMBER_KINDS:
            _put(target, "minimum", f.minimum)
            _put(target, "maximum", f.maximum)
        elif item_kind == "decimal":
            # A string cannot carry minimum/maximum: the bounds are an extension,
            # and a non-negative lower bound forbids the sign in the pattern.
            _put(target, "x-integc-minimum", f.minimum)
            _put(target, "x-integc-maximum", f.maximum)
            if f.minimum is not None and f.minimum >= 0:
                target["pattern"] = UNSIGNED_DECIMAL_PATTERN
    if f.pattern is not None:
        if kind in _STRING_KINDS or kind == "decimal":
            schema["pattern"] = f.pattern
        elif kind == "list" and ref.item is not None and ref.item.kind in _STRING_KINDS:
            schema["items"]["pattern"] = f.pattern


def _put(schema: dict, key: str, value: object) -> None:
    if value is not None:
        schema[key] = value


def field_schema(f: Field, ref_fn: RefFn, *, readonly: bool = True, annotations: bool = True) -> dict:
    """The schema of one field: its type, constraints, nullability and annotations.

    `readonly` False leaves out `readOnly: true`. `annotations` False gives
    only the type, constraints and nullability (used for path parameters).
    """
    base = type_schema(f.type, ref_fn)
    _apply_constraints(base, f.type, f)
    schema = nullable(base) if f.optional else base
    if not annotations:
        return ordered(schema)
    description = f.description
    if f.deprecated is not None:
        note = f"Deprecated: {f.deprecated}" if f.deprecated else "Deprecated."
        description = f"{description}\n\n{note}" if description else note
        schema["deprecated"] = True
    if description:
        schema["description"] = description
    if f.has_default:
        schema["default"] = wire_value(f.type, f.default)
    if f.has_example:
        schema["examples"] = [wire_value(f.type, f.example)]
    if readonly and f.readonly:
        schema["readOnly"] = True
    if f.pii:
        schema["x-integc-pii"] = True
    return ordered(schema)


def record_schema(fields: Iterable[Field], ref_fn: RefFn, *, description: str | None = None,
                  include_readonly: bool = True, all_optional: bool = False,
                  mark_readonly: bool = True) -> dict:
    """An object schema over `fields`.

    `include_readonly` False leaves out @readonly fields (input schemas);
    `all_optional` lists no field as required (merge-patch bodies).
    """
    properties: dict[str, dict] = {}
    required: list[str] = []
    for f in fields:
        if f.readonly and not include_readonly:
            continue
        properties[f.name] = field_schema(f, ref_fn, readonly=mark_readonly)
        if f.required and not all_optional:
            required.append(f.name)
    schema: dict = {"type": "object"}
    if description:
        schema["description"] = description
    if required:
        schema["required"] = required
    schema["properties"] = properties
    return ordered(schema)


def enum_schema(enum: EnumDef) -> dict:
    """A string schema listing the wire values, with the member names as `x-enum-varnames`."""
    schema: dict = {"type": "string", "enum": [m.wire for m in enum.members],
                    "x-enum-varnames": [m.name for m in enum.members]}
    if enum.description:
        schema["description"] = enum.description
    if any(m.description for m in enum.members):
        schema["x-enum-descriptions"] = [m.description or "" for m in enum.members]
    return ordered(schema)


# ------------------------------------------------------------------ patterns

def regex_problem(pattern: str) -> str | None:
    """Why `pattern` is not a portable JSON Schema regular expression, or None.

    JSON Schema patterns are ECMA-262 regular expressions, and the tools that
    read the outputs (JavaScript linters, code generators, jsonschema-rs) use
    that dialect: Python-only syntax such as `(?P<name>...)`, `\\Z`, `\\A`,
    inline flags `(?i)` or possessive quantifiers is refused there. Checked
    with jsonschema-rs's `regex` format when it is installed; without it,
    nothing is reported (Python's `re` has already accepted the pattern).
    """
    validator = _regex_format_validator()
    if validator is None or validator.is_valid(pattern):
        return None
    return ("not an ECMA-262 regular expression, the dialect JSON Schema uses "
            "(Python-only syntax such as (?P<name>...), \\A, \\Z, (?i) or a++ is not portable)")


_REGEX_VALIDATOR: list = []


def _regex_format_validator():
    if not _REGEX_VALIDATOR:
        try:
            import jsonschema_rs

            _REGEX_VALIDATOR.append(jsonschema_rs.validator_for({"format": "regex"}, validate_formats=True))
        except Exception:  # noqa: BLE001 - not installed or not usable: no check
            _REGEX_VALIDATOR.append(None)
    return _REGEX_VALIDATOR[0]


def pattern_problems(project: Project, items: Iterable[tuple[str, str]]) -> list[tuple[Field, str]]:
    """(field, problem) for every field of the named types `items` whose @pattern is not portable."""
    out = []
    for kind, name in items:
        if kind == "enum":
            continue
        fields = project.entity(name).fields if kind == "entity" else project.type(name).fields
        for f in fields:
            if f.pattern is not None:
                problem = regex_problem(f.pattern)
                if problem is not None:
                    out.append((f, problem))
    return out


# ------------------------------------------------------------------ references

def named_refs(ref: TypeRef) -> Iterable[tuple[str, str]]:
    """The named types a type reference mentions directly: (kind, name) pairs."""
    while ref.kind in ("list", "map"):
        ref = ref.item
    if ref.kind in _NAMED_KINDS:
        yield (ref.kind, ref.ref)


def closure(project: Project, roots: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Every named type reachable from `roots` (roots included), in discovery order."""
    seen: dict[tuple[str, str], None] = {}
    stack = list(roots)
    stack.reverse()
    while stack:
        item = stack.pop()
        if item in seen:
            continue
        seen[item] = None
        kind, name = item
        if kind == "enum":
            continue
        fields = project.entity(name).fields if kind == "entity" else project.type(name).fields
        children = [r for f in fields for r in named_refs(f.type)]
        children.reverse()
        stack.extend(children)
    return list(seen)


def definitions(project: Project, items: Iterable[tuple[str, str]], within: System | None = None) -> tuple:
    """The IR definitions (entities, types, enums) named by `items`, in order: a unit's inputs.
    Entities of `within` are left out (a unit that has the system among its inputs has them)."""
    lookup = {"entity": project.entity, "type": project.type, "enum": project.enum}
    own = {("entity", e.qualified_name) for e in within.entities} if within is not None else set()
    return tuple(lookup[kind](name) for kind, name in items if (kind, name) not in own)
