"""Validation of the OpenAPI documents the `openapi` target writes.

`validation_problem(doc)` answers what openapi-spec-validator (OpenAPI 3.1,
its per-schema meta-schema check on jsonschema-rs: `_spec_validator_class`)
answers: None for a valid document, else its first complaint. The verdict is
always that validator's; this module only avoids running it when it cannot
object:

- `_fast_verdict(doc)` redoes, on plain dicts, every check the validator makes
  for OpenAPI 3.1 (openapi-spec-validator 0.9.0, `validation/validators.py`
  and `validation/keywords.py`; `$ref`s resolved as jsonschema-path 0.5.0
  resolves them) and says True only when it is certain that none of them
  fails: the whole-document check against the OAS 3.1 schema (the very
  validator object the stock one calls), the keyword walk (duplicate tags and
  operationIds, parameters, path templates against path parameters, the
  schemas of responses, parameters and components), and per Schema Object the
  meta-schema check (the very jsonschema-rs validator), the recursion through
  allOf/anyOf/oneOf/not/items/properties, `required` names missing under
  allOf, and `default` values (with the stock's own validator class).
  Anything it does not model (a `$schema`, `$id` or `jsonSchemaDialect`
  anywhere, a `$ref` that is not a plain local JSON pointer, an unusual path
  template, a `default` under a schema with references, ...) makes it say
  False, and so does every problem it finds.
- On False the stock validator runs and its verdict and message are returned.

So the fast path only ever has to be sound (True => the stock validator finds
nothing); being stricter than the stock costs a fallback, never a wrong
answer. tests/targets/test_openapi_check.py proves it on mutated documents.
The fast path is enabled only for the library versions it was written
against (`_AUDITED`); with any other version every document takes the stock
path (and the tests that expect the fast path fail, asking for a re-audit).
"""
from __future__ import annotations

import functools
import json
import re

# The versions whose behaviour `_FastCheck` replicates.
_AUDITED = {"openapi-spec-validator": "0.9.0", "jsonschema-path": "0.5.0", "pathable": "0.6.0"}

# openapi-spec-validator's PathValidator.OPERATIONS.
_OPERATIONS = frozenset(("get", "put", "post", "delete", "options", "head", "patch", "trace"))

_REF_LIKE = frozenset(("$ref", "$dynamicRef", "$recursiveRef", "$id", "$anchor", "$dynamicAnchor", "$schema"))

# A path template the fast path reads: literal text and `{name}` holes, no other braces.
# string.Formatter().parse (what the stock uses) reads such a template the same way.
_SIMPLE_TEMPLATE = re.compile(r"[^{}]*(?:\{[A-Za-z0-9_.\-]+\}[^{}]*)*")
_TEMPLATE_HOLE = re.compile(r"\{([A-Za-z0-9_.\-]+)\}")

_MAX_DEPTH = 64  # schema nesting the fast path follows (the stock recurses; far deeper would overflow)
_MAX_REF_CHAIN = 16  # $ref to $ref to ...
_MAX_COLLECT_STEPS = 10_000  # the stock's property collection under allOf has no memo


# The integc.workers.Helper that answers `validation_problem` for this process, while it has one.
_HELPER: list = []


def validation_problem(doc: dict) -> str | None:
    """None if `doc` is a valid OpenAPI 3.1 document, else openapi-spec-validator's first complaint."""
    if _HELPER:
        answered = _HELPER[0].call(_problem_here, doc)
        if answered is not None:
            return answered[0]
    return _problem_here(doc)


def prepare_validation() -> None:
    """Import and build the validators now rather than at the first document (about 0.3 s)."""
    _spec_validator_class()
    _fast_setup()
    _HELPER.clear()


def validate_in(helper) -> None:
    """Have `helper` (an integc.workers.Helper, which runs `prepare_validation` while this process
    compiles) validate this process's documents, until `prepare_validation` runs here. Pickling
    a document carries it exactly (types included), so the verdict is the one made here."""
    _HELPER[:] = [helper]


def _problem_here(doc: dict) -> str | None:
    if _fast_verdict(doc):
        return None
    return _stock_problem(doc)


def _stock_problem(doc: dict) -> str | None:
    """openapi-spec-validator's verdict: None, or its first complaint."""
    try:
        error = next(iter(_spec_validator_class()(doc).iter_errors()), None)
    except Exception as exc:  # noqa: BLE001 - the validator itself choked: report, never crash
        return f"{type(exc).__name__}: {exc}"
    if error is None:
        return None
    where = "/".join(str(p) for p in getattr(error, "absolute_path", ()) or ())
    message = getattr(error, "message", None) or str(error)
    return f"{message} (at /{where})" if where else message


# ------------------------------------------------------------------ the stock validator

@functools.lru_cache(maxsize=1)
def _spec_validator_class():
    """openapi-spec-validator's OpenAPI 3.1 validator, with its per-schema meta-schema check on
    jsonschema-rs when that is installed.

    The validator checks every Schema Object against the OAS 3.1 base dialect
    meta-schema; in pure Python that is about three quarters of its time. The
    subclass runs that one check, against the very same meta-schema (read from
    openapi-schema-validator's package) with format assertions, in jsonschema-rs.
    Every other check is the library's own. Without jsonschema-rs, or if
    anything about the set-up is not as expected, the stock validator is used.
    """
    from openapi_spec_validator import OpenAPIV31SpecValidator

    meta = _rust_dialect_validator()
    if meta is None:
        return OpenAPIV31SpecValidator
    try:
        from openapi_spec_validator.validation import keywords
        from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
    except ImportError:
        return OpenAPIV31SpecValidator

    class SchemaValidator(keywords.OpenAPIV31SchemaValidator):
        def _validate_schema_meta(self, schema, schema_value):
            if isinstance(schema_value, dict) and "$schema" in schema_value:
                return super()._validate_schema_meta(schema, schema_value)  # another dialect
            error = next(iter(meta.iter_errors(schema_value)), None)
            if error is None:
                return None
            return OpenAPIValidationError(f"{error.message} (in a schema, at /"
                                          + "/".join(str(p) for p in error.instance_path) + ")")

    class SpecValidator(OpenAPIV31SpecValidator):
        keyword_validators = {**OpenAPIV31SpecValidator.keyword_validators, "schema": SchemaValidator}
        integc_meta_validator = meta  # what the fast path must use for the same check

    if SpecValidator.keyword_validators.get("schema") is not SchemaValidator:
        return OpenAPIV31SpecValidator
    return SpecValidator


@functools.lru_cache(maxsize=1)
def _rust_dialect_validator():
    """A jsonschema-rs validator of the OAS 3.1 base dialect meta-schema, or None."""
    try:
        import jsonschema_rs
        from importlib.resources import files

        from openapi_schema_validator._dialects import OAS31_BASE_DIALECT_ID

        root = files("openapi_schema_validator") / "schemas" / "oas3.1"
        dialect = json.loads((root / "metaschema.json").read_text(encoding="utf-8"))
        vocabulary = json.loads((root / "vocabularies" / "base").read_text(encoding="utf-8"))
        if dialect.get("$id") != OAS31_BASE_DIALECT_ID:
            return None
        registry = jsonschema_rs.Registry([(dialect["$id"], dialect), (vocabulary["$id"], vocabulary)])
        validator = jsonschema_rs.validator_for(dialect, registry=registry, validate_formats=True)
        # A quick self-test: it must tell a good schema from a bad one.
        if not validator.is_valid({"type": ["string", "null"], "pattern": "^a$"}) or \
                validator.is_valid({"type": "strin"}) or validator.is_valid({"pattern": "[a"}):
            return None
        return validator
    except Exception:  # noqa: BLE001 - any surprise: fall back to the stock validator
        return None


# ------------------------------------------------------------------ the fast path

@functools.lru_cache(maxsize=1)
def _fast_setup():
    """(whole-document validator, schema meta validator, default-value validator class and
    format checker), exactly the objects the stock validator uses; None when the fast
    path cannot be vouched for (other library versions, no jsonschema-rs)."""
    try:
        from importlib.metadata import version

        if any(version(name) != audited for name, audited in _AUDITED.items()):
            return None
        from openapi_schema_validator import OAS31Validator, oas31_format_checker
        from openapi_spec_validator import OpenAPIV31SpecValidator
        from openapi_spec_validator.validation import keywords

        cls = _spec_validator_class()
        meta = getattr(cls, "integc_meta_validator", None)
        if meta is None or meta is not _rust_dialect_validator():
            return None
        # The keyword walk replicated below, and nothing else.
        expected = {
            "__root__": keywords.RootValidator, "components": keywords.ComponentsValidator,
            "content": keywords.ContentValidator, "default": keywords.OpenAPIV31ValueValidator,
            "mediaType": keywords.MediaTypeValidator, "operation": keywords.OperationValidator,
            "parameter": keywords.ParameterValidator, "parameters": keywords.ParametersValidator,
            "paths": keywords.PathsValidator, "path": keywords.PathValidator,
            "response": keywords.OpenAPIV3ResponseValidator, "responses": keywords.ResponsesValidator,
            "schemas": keywords.SchemasValidator, "tags": keywords.TagsValidator,
        }
        validators = dict(cls.keyword_validators)
        schema_cls = validators.pop("schema")
        if validators != expected or not issubclass(schema_cls, keywords.OpenAPIV31SchemaValidator) \
                or dict(OpenAPIV31SpecValidator.keyword_validators, schema=schema_cls) != cls.keyword_validators:
            return None
        value_validator = keywords.OpenAPIV31ValueValidator
        if value_validator.value_validator_cls is not OAS31Validator or \
                value_validator.value_validator_format_checker is not oas31_format_checker:
            return None
        return cls.schema_validator, meta, OAS31Validator, oas31_format_checker
    except Exception:  # noqa: BLE001 - anything unexpected: the stock validator decides
        return None


def _fast_verdict(doc) -> bool:
    """True only if the stock validator certainly finds nothing wrong with `doc`."""
    setup = _fast_setup()
    if setup is None:
        return False
    document_validator, meta, value_validator, format_checker = setup
    try:
        if type(doc) is not dict or "$ref" in doc or "jsonSchemaDialect" in doc:
            return False
        # (1) The whole document against the OAS 3.1 schema: the stock's own validator object.
        for _ in document_validator.iter_errors(doc):
            return False
        # (2) + (3) The keyword walk and the Schema Object checks.
        _FastCheck(doc, meta, value_validator, format_checker).run()
    except Exception:  # noqa: BLE001 - _Unsure, or anything unexpected: ask the stock validator
        return False
    return True


class _Unsure(Exception):
    """The fast path cannot vouch for the document."""


def _is_ref(node) -> bool:
    """jsonschema-path's test: a dict whose `$ref` is a string is replaced by its target."""
    return isinstance(node, dict) and "$ref" in node and isinstance(node["$ref"], str)


def _mentions_references(schema) -> bool:
    """Whether a schema has a key that makes its validation depend on the resolver."""
    stack = [schema]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is dict:
            if not _REF_LIKE.isdisjoint(node):
                return True
            stack.extend(node.values())
        elif kind is list:
            stack.extend(node)
        elif kind not in (str, int, float, bool) and node is not None:
            return True
    return False


# Small flat schemas that passed the meta-schema check (documents repeat them: path
# parameters, enums), by a key that tells apart every value of a different type.
_META_VALID: set[tuple] = set()


def _flat_key(schema: dict) -> tuple | None:
    """A hashable key exactly as discriminating as the schema's content, or None (not flat)."""
    items = []
    for key, value in schema.items():
        kind = type(value)
        if type(key) is not str:
            return None
        if kind is str or kind is int or kind is bool or value is None:
            items.append((key, kind, value))
        elif kind is list and all(type(x) is str for x in value):
            items.append((key, kind, tuple(value)))
        elif kind is dict and all(type(k) is str and type(v) is str for k, v in value.items()):
            items.append((key, kind, tuple(value.items())))
        else:
            return None
    return tuple(items)


class _FastCheck:
    """openapi-spec-validator 0.9.0's keyword walk for OpenAPI 3.1, on plain dicts.

    Each method mirrors the keyword validator it is named after and raises
    _Unsure where that one would report an error or raise, and wherever the
    document is not what the walk models. Traversal order is the stock's, so
    the depth at which a schema is first reached is the same.
    """

    def __init__(self, doc: dict, meta, value_validator, format_checker):
        self.doc = doc
        self.meta = meta
        self.value_validator = value_validator
        self.format_checker = format_checker
        self.meta_checked: set[int] = set()
        self.visited: set[int] = set()
        self.operation_ids: set[str] = set()
        self.targets: dict[str, object] = {}  # $ref -> its target
        # Objects already checked whole, by role and id (the document does not change
        # meanwhile); the stock checks them again where they recur, with the same outcome.
        self.done_responses: set[int] = set()
        self.done_parameters: set[int] = set()
        self.done_schemas: set[int] = set()
        self.collect_steps = 0

    # -------------------------------------------------------------- references

    def deref(self, node):
        """What jsonschema-path reads at a node: a `$ref` (chain) replaced by its target."""
        chain = 0
        while isinstance(node, dict) and "$ref" in node:  # jsonschema-path's is_ref ...
            ref = node["$ref"]
            if not isinstance(ref, str):  # ... wants a string
                return node
            target = self.targets.get(ref, self)
            if target is self:
                target = self.targets[ref] = self.lookup(ref)
            node = target
            chain += 1
            if chain > _MAX_REF_CHAIN:
                raise _Unsure  # a long chain, or a cycle (the stock recurses until it overflows)
        return node

    def lookup(self, ref: str):
        """A local JSON pointer, resolved as `referencing` resolves it for jsonschema-path.

        Only pointers into `components` or `paths`: walking down from there,
        `referencing` never enters a subresource (those start at schema keywords),
        so no `$id` on the way changes the base URI of later lookups.
        """
        if not ref.startswith(("#/components/", "#/paths/")) or "%" in ref:  # %-escapes: not modelled
            raise _Unsure
        node = self.doc
        for segment in ref[2:].split("/"):
            if type(node) is not dict:  # list indices: not modelled
                raise _Unsure
            key = segment.replace("~1", "/").replace("~0", "~")
            if key not in node:
                raise _Unsure
            node = node[key]
        return node

    def dict_at(self, node) -> dict:
        node = self.deref(node)
        if type(node) is not dict:
            raise _Unsure
        return node

    # -------------------------------------------------------------- the document (RootValidator)

    def run(self) -> None:
        doc = self.doc
        if "tags" in doc:
            self.tags(self.deref(doc["tags"]))
        if "paths" in doc:
            self.paths(self.dict_at(doc["paths"]))
        if "components" in doc:
            components = self.dict_at(doc["components"])
            if "schemas" in components:  # ComponentsValidator -> SchemasValidator
                for schema in self.dict_at(components["schemas"]).values():
                    self.schema(schema)

    def tags(self, tags) -> None:
        """TagsValidator: tag names are strings, no two alike."""
        if type(tags) is not list:
            raise _Unsure
        seen: set[str] = set()
        for tag in tags:
            name = self.deref(self.dict_at(tag).get("name"))
            if type(name) is not str or name in seen:
                raise _Unsure
            seen.add(name)

    def paths(self, paths: dict) -> None:
        """PathsValidator -> PathValidator."""
        for url, item in paths.items():
            item = self.dict_at(item)
            if type(url) is not str:  # the stock asserts str keys here and below
                raise _Unsure
            shared = self.parameters(self.deref(item["parameters"])) if "parameters" in item else ()
            for field, operation in item.items():
                if type(field) is not str:
                    raise _Unsure
                if field in _OPERATIONS:
                    self.operation(url, self.dict_at(operation), shared)

    def operation(self, url, operation: dict, shared) -> None:
        """OperationValidator: unique operationId, responses, parameters, path template."""
        if "operationId" in operation:
            operation_id = self.deref(operation["operationId"])
            if type(operation_id) is not str or operation_id in self.operation_ids:
                raise _Unsure
            self.operation_ids.add(operation_id)
        if "responses" in operation:  # ResponsesValidator -> ResponseValidator -> Content -> MediaType
            for code, response in self.dict_at(operation["responses"]).items():
                response = self.dict_at(response)
                if type(code) is not str:
                    raise _Unsure
                if id(response) in self.done_responses:
                    continue
                self.done_responses.add(id(response))
                if "content" in response:
                    for name, media_type in self.dict_at(response["content"]).items():
                        media_type = self.dict_at(media_type)
                        if type(name) is not str:
                            raise _Unsure
                        if "schema" in media_type:
                            self.schema(media_type["schema"])
        own = self.parameters(self.deref(operation["parameters"])) if "parameters" in operation else ()
        declared = {name for name, where in (*own, *shared) if where == "path"}
        if not _SIMPLE_TEMPLATE.fullmatch(url):
            raise _Unsure
        if set(_TEMPLATE_HOLE.findall(url)) != declared:  # UnresolvableParameterError, both ways
            raise _Unsure

    def parameters(self, parameters) -> list[tuple[str, str]]:
        """ParametersValidator -> ParameterValidator: each parameter's schema, no (name, in) twice."""
        if type(parameters) is not list:
            raise _Unsure
        keys: list[tuple[str, str]] = []
        for parameter in parameters:
            parameter = self.dict_at(parameter)
            if "schema" in parameter and id(parameter) not in self.done_parameters:
                self.done_parameters.add(id(parameter))
                self.schema(parameter["schema"])
            key = (parameter.get("name"), parameter.get("in"))
            if type(key[0]) is not str or type(key[1]) is not str or key in keys:
                raise _Unsure
            keys.append(key)
        return keys

    # -------------------------------------------------------------- Schema Objects (SchemaValidator)

    def schema(self, node) -> None:
        """A Schema Object the walk reaches at the top: meta-schema check, then the recursion."""
        value = self.deref(node)
        if id(value) in self.done_schemas:
            return
        self.meta_check(value)
        self.walk(value, True, 0)
        self.done_schemas.add(id(value))

    def meta_check(self, value) -> None:
        if type(value) is dict:
            if "$schema" in value:  # checked against another dialect by the stock: not modelled
                raise _Unsure
        elif type(value) is not bool:
            raise _Unsure  # "... is not of type 'object', 'boolean'"
        key = id(value)
        if key in self.meta_checked:
            return
        self.meta_checked.add(key)
        flat = _flat_key(value) if type(value) is dict and len(value) <= 8 else None
        if flat is not None and flat in _META_VALID:
            return
        for _ in self.meta.iter_errors(value):
            raise _Unsure
        if flat is not None:
            if len(_META_VALID) >= 4096:
                _META_VALID.clear()
            _META_VALID.add(flat)

    def child(self, node, depth: int) -> None:
        """A subschema the stock recurses into (without a meta-schema check of its own)."""
        value = self.deref(node)
        if value is not node:
            # Behind a $ref: outside the schema the meta-schema check covered. Checking it
            # too is stricter than the stock (whose other checks then cannot trip on it).
            self.meta_check(value)
        self.walk(value, False, depth + 1)

    def walk(self, value, top: bool, depth: int) -> None:
        kind = type(value)
        if kind is bool:
            return
        if kind is not dict or depth > _MAX_DEPTH:
            raise _Unsure
        key = id(value)
        if key in self.visited:
            if top and "allOf" in value:  # the stock skips a schema it has seen; checking is stricter
                self.required_check(value, self.nested_properties(value))
            return
        self.visited.add(key)
        nested: set[str] = set()
        if "allOf" in value:
            for inner in self.subschemas(value["allOf"]):
                self.child(inner, depth)
                nested |= self.collect(inner, [])
        for keyword in ("anyOf", "oneOf"):
            if keyword in value:
                for inner in self.subschemas(value[keyword]):
                    self.child(inner, depth)
        for keyword in ("not", "items"):
            if keyword in value:
                self.child(value[keyword], depth)
        if "properties" in value:
            for inner in self.properties(value).values():
                self.child(inner, depth)
        if "required" in value:
            required = value["required"]
            if type(required) is not list or any(type(name) is not str for name in required):
                raise _Unsure
        if top:
            self.required_check(value, nested)
        if "default" in value:
            self.default_check(value)

    def subschemas(self, node) -> list:
        if type(node) is not list:
            raise _Unsure
        return node

    def properties(self, value: dict) -> dict:
        properties = value["properties"]
        if type(properties) is not dict or _is_ref(properties):
            raise _Unsure
        return properties

    def nested_properties(self, value: dict) -> set[str]:
        nested: set[str] = set()
        if "allOf" in value:
            for inner in self.subschemas(value["allOf"]):
                nested |= self.collect(inner, [])
        return nested

    def collect(self, node, stack: list[int]) -> set[str]:
        """SchemaValidator._collect_properties: property names reachable without `properties`."""
        self.collect_steps += 1
        value = self.deref(node)
        if type(value) is bool:
            return set()
        if type(value) is not dict or len(stack) > _MAX_DEPTH or id(value) in stack \
                or self.collect_steps > _MAX_COLLECT_STEPS:
            raise _Unsure  # a cycle: the stock recurses until it overflows
        stack.append(id(value))
        names = set(self.properties(value)) if "properties" in value else set()
        for keyword in ("allOf", "anyOf", "oneOf"):
            if keyword in value:
                for inner in self.subschemas(value[keyword]):
                    names |= self.collect(inner, stack)
        for keyword in ("items", "not"):
            if keyword in value:
                names |= self.collect(value[keyword], stack)
        stack.pop()
        return names

    def required_check(self, value: dict, nested: set[str]) -> None:
        """ExtraParametersError: under allOf, a required name no (nested) `properties` has."""
        if "allOf" not in value:
            return
        required = value.get("required") or []
        if type(required) is not list or any(type(name) is not str for name in required):
            raise _Unsure
        own = set(self.properties(value)) if "properties" in value else set()
        if set(required) - own - nested:
            raise _Unsure

    def default_check(self, value: dict) -> None:
        """OpenAPIV31ValueValidator: the default must be valid against its own schema."""
        default = value["default"]
        if isinstance(default, dict) and "$ref" in default:  # the stock reads it through the $ref
            raise _Unsure
        nullable = value.get("nullable", False)
        if isinstance(nullable, (dict, list)):
            raise _Unsure
        if default is None and nullable is True:
            return  # the stock does not check it
        if _mentions_references(value):  # the stock resolves them in the document: not modelled
            raise _Unsure
        for _ in self.value_validator(value, format_checker=self.format_checker).iter_errors(default):
            raise _Unsure
