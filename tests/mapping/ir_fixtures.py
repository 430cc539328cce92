"""Hand-built IR for the mapping target tests (no front end needed).

`hostile_project()` puts text that would break or subvert naive code
generation everywhere user text can go: field names, enum wire values,
string constants, patterns, descriptions, flow and entity names.
`recursive_project()` has a recursive type read in full (validators that
call themselves) and an `each` nested in an `each`.
"""
from __future__ import annotations

from integc.diagnostics import Span
from integc.ir import (
    Assignment, Auth, Binary, Call, Coalesce, Const, Each, EnumDef, EnumMember, Entity, Expose, Field,
    Flow, FlowTest, Get, If, Match, MatchArm, Project, Record, Retry, System, Trigger, TypeDef, TypeRef,
    Unary, Var,
)

SPAN = Span("f.integ", 1, 1, 1, 1)
_MISSING = object()

STRING = TypeRef("string")
INT = TypeRef("int")
BOOL = TypeRef("bool")
DECIMAL = TypeRef("decimal")

# Text aimed at the generator: quotes of every kind, code, template syntax, newlines, unicode.
INJECTIONS = (
    '"); import os; os.system("touch /tmp/integc-pwned") #',
    "'''; __import__('os').system('touch /tmp/integc-pwned'); '''",
    '"""\nimport os\nos.system("touch /tmp/integc-pwned")\n"""',
    "{{ 7 * 7 }} {% for x in y %}${HOME}",
    "\\x00\\u0000 back\\slash \\",
    "line\nbreak\r\nand\ttab \u2028sep",
    "\u202etxt.exe\u202c \U0001F600 \u00e9\u00e8 \u4e2d\u6587",
)
HOSTILE_FIELDS = (
    "first-name", '"); import os #', "class", "__import__('os')", "source", "_s0", "map_record",
    "MappingError", "na\u00efve \u4e2d", "'''", "a.b[0]", "", " ", "return",
)


def t(kind: str, ref: str | None = None, item: TypeRef | None = None) -> TypeRef:
    return TypeRef(kind, ref, item)


def lst(item: TypeRef) -> TypeRef:
    return TypeRef("list", None, item)


def fld(name: str, type: TypeRef | str, *, optional: bool = False, default: object = _MISSING,
        key: bool = False, readonly: bool = False, length: tuple | None = None, range: tuple | None = None,
        pattern: str | None = None, example: object = _MISSING, doc: str | None = None) -> Field:
    if isinstance(type, str):
        type = TypeRef(type)
    return Field(
        name=name, type=type, optional=optional, has_default=default is not _MISSING,
        default=None if default is _MISSING else default, key=key, readonly=readonly, pii=False,
        deprecated=None, min_length=length[0] if length else None, max_length=length[1] if length else None,
        minimum=range[0] if range else None, maximum=range[1] if range else None, pattern=pattern,
        has_example=example is not _MISSING, example=None if example is _MISSING else example,
        description=doc, origin=SPAN)


def const(value: object, type: TypeRef | str = STRING) -> Const:
    return Const(value, TypeRef(type) if isinstance(type, str) else type, value is None, SPAN)


def get(field: str, type: TypeRef | str, *, obj=None, optional: bool = False) -> Get:
    return Get(obj, field, TypeRef(type) if isinstance(type, str) else type, optional, SPAN)


def call(func: str, type: TypeRef | str, *args, optional: bool = False) -> Call:
    return Call(func, tuple(args), TypeRef(type) if isinstance(type, str) else type, optional, SPAN)


def assign(field: str, expr) -> Assignment:
    return Assignment(field, expr, SPAN)


def entity(system: str, name: str, *fields: Field, doc: str | None = None) -> Entity:
    key = next((f.name for f in fields if f.key), None)
    return Entity(system, name, tuple(fields), key, doc, SPAN)


def system(name: str, *entities: Entity) -> System:
    exposes = tuple(Expose(e.name, f"/{e.name.lower()}", ("list", "get", "create", "update"), None, SPAN)
                    for e in entities)
    return System(name, None, "team@example.com", "https://example.com", Auth("none", None, None, None, (), SPAN),
                  True, tuple(entities), exposes, (), (), None, None, SPAN)


def flow(name: str, source: str, target: str, *assignments: Assignment, tests=(), doc=None) -> Flow:
    return Flow(name, source, target, Trigger("schedule", None, 3_600_000, None, None, None, SPAN), "upsert",
                tuple(assignments), Retry(3, "exponential", 1000, 60000, SPAN), "dead_letter", tuple(tests), doc,
                SPAN)


def project(types=(), enums=(), systems=(), flows=()) -> Project:
    return Project("fixtures", "1.0.0", tuple(types), tuple(enums), tuple(systems), tuple(flows), ())


# ---------------------------------------------------------------- hostile names and text

def hostile_project() -> Project:
    """Every field name, enum value, constant and pattern is hostile; the mapping must stay inert."""
    wires = INJECTIONS[:3] + ("plain",)
    enum = EnumDef('Evil"Enum', tuple(EnumMember(f"m{i}", w, INJECTIONS[-1], SPAN) for i, w in enumerate(wires)),
                   INJECTIONS[2], SPAN)
    enum_ref = t("enum", enum.name)
    inner = TypeDef("Inner'''", (fld(INJECTIONS[0], STRING, doc=INJECTIONS[1]),
                                 fld("{{x}}", STRING, optional=True, default=INJECTIONS[3])), INJECTIONS[2], SPAN)
    inner_ref = t("type", inner.name)
    src_fields = [fld(name, STRING, optional=(i % 3 == 2), doc=INJECTIONS[i % len(INJECTIONS)])
                  for i, name in enumerate(HOSTILE_FIELDS)]
    src_fields += [
        fld("evil enum", enum_ref, default=wires[0]),
        fld("pattern'd", STRING, pattern=r"^[^'\"]*'''.*$|^x$", length=(1, 200)),
        fld("inner\n", inner_ref),
        fld("items\"", lst(inner_ref)),
        fld("id", STRING, key=True),
    ]
    src = entity("src\"sys", "Src'", *src_fields, doc=INJECTIONS[2])
    dst_fields = [fld(name, STRING, optional=True, doc=INJECTIONS[1]) for name in HOSTILE_FIELDS]
    dst_fields += [
        fld("const", STRING, pattern=r"^[\s\S]*$", length=(0, 500)),
        fld("evil enum", enum_ref, optional=True),
        fld("matched", STRING, optional=True),
        fld("inner\n", inner_ref, optional=True),
        fld("built", inner_ref, optional=True),
        fld("items\"", lst(inner_ref), optional=True),
        fld("id", STRING, key=True),
    ]
    dst = entity("dst'sys", "Dst\"", *dst_fields)
    assignments = [assign(name, get(name, STRING, optional=(i % 3 == 2))) for i, name in enumerate(HOSTILE_FIELDS)]
    inner_get = get("inner\n", inner_ref)
    assignments += [
        assign("const", call("concat", STRING, *[const(text) for text in INJECTIONS])),
        assign("evil enum", get("evil enum", enum_ref)),
        assign("matched", Match(get("evil enum", enum_ref), tuple(MatchArm(w, const(INJECTIONS[i]), SPAN)
                                                                  for i, w in enumerate(wires[:3])),
                                const(INJECTIONS[4]), STRING, False, SPAN)),
        assign("inner\n", inner_get),
        assign("built", Record((assign(INJECTIONS[0], call("upper", STRING, get(INJECTIONS[0], STRING,
                                                                                 obj=inner_get))),
                                assign("{{x}}", const(INJECTIONS[5]))), inner_ref, False, SPAN)),
        assign("items\"", Each(get("items\"", lst(inner_ref)), "it", (
            assign(INJECTIONS[0], call("trim", STRING, get(INJECTIONS[0], STRING,
                                                           obj=Var("it", inner_ref, False, SPAN)))),
        ), lst(inner_ref), False, SPAN)),
        assign("id", get("id", STRING)),
    ]
    test = FlowTest(INJECTIONS[0], {"id": "x"}, {"id": "x"}, SPAN)
    hostile_flow = flow(INJECTIONS[0], src.qualified_name, dst.qualified_name, *assignments, tests=(test,),
                        doc=INJECTIONS[2])
    return project(types=(inner,), enums=(enum,), systems=(system(src.system, src), system(dst.system, dst)),
                   flows=(hostile_flow,))


def hostile_record() -> dict:
    record = {name: f"value of {name!r} {INJECTIONS[i % len(INJECTIONS)]}" for i, name in enumerate(HOSTILE_FIELDS)}
    record.update({
        "evil enum": INJECTIONS[1],
        "pattern'd": "x",
        "inner\n": {INJECTIONS[0]: INJECTIONS[2]},
        "items\"": [{INJECTIONS[0]: "  padded  "}, {INJECTIONS[0]: INJECTIONS[5], "{{x}}": None}],
        "id": "the id",
    })
    return record


# ---------------------------------------------------------------- recursion and nesting

def recursive_project() -> Project:
    """A recursive tree read in full, and an each nested in an each over a partially read list."""
    tree = TypeDef("Tree", (fld("name", STRING, length=(1, 20)), fld("weight", DECIMAL, range=(0, 100)),
                            fld("children", lst(t("type", "Tree")))), None, SPAN)
    tree_ref = t("type", "Tree")
    line = TypeDef("Line", (fld("sku", STRING), fld("qty", INT, range=(1, 10)), fld("note", STRING, optional=True),
                            fld("parts", lst(STRING))), None, SPAN)
    line_ref = t("type", "Line")
    part = TypeDef("Part", (fld("code", STRING), fld("index", INT)), None, SPAN)
    out_line = TypeDef("OutLine", (fld("sku", STRING), fld("double", INT), fld("parts", lst(t("type", "Part"))),
                                   fld("note", STRING, optional=True)), None, SPAN)
    src = entity("a", "Order", fld("id", STRING, key=True), fld("tree", tree_ref, optional=True),
                 fld("lines", lst(line_ref)), fld("factor", INT, default=2))
    dst = entity("b", "Invoice", fld("id", STRING, key=True), fld("tree", tree_ref, optional=True),
                 fld("lines", lst(t("type", "OutLine"))), fld("count", INT))
    line_var = Var("l", line_ref, False, SPAN)
    each_parts = Each(get("parts", lst(STRING), obj=line_var), "p", (
        assign("code", call("upper", STRING, Var("p", STRING, False, SPAN))),
        assign("index", get("qty", INT, obj=line_var)),
    ), lst(t("type", "Part")), False, SPAN)
    each_lines = Each(get("lines", lst(line_ref)), "l", (
        assign("sku", get("sku", STRING, obj=line_var)),
        assign("double", Binary("*", get("qty", INT, obj=line_var), get("factor", INT), INT, False, SPAN)),
        assign("parts", each_parts),
        assign("note", get("note", STRING, obj=line_var, optional=True)),
    ), lst(t("type", "OutLine")), False, SPAN)
    f = flow("orders", "a.Order", "b.Invoice",
             assign("id", get("id", STRING)),
             assign("tree", get("tree", tree_ref, optional=True)),
             assign("lines", each_lines),
             assign("count", call("len", INT, get("lines", lst(line_ref)))))
    return project(types=(tree, line, part, out_line), systems=(system("a", src), system("b", dst)), flows=(f,))


# ---------------------------------------------------------------- a bit of everything, for python -I -S

def mixed_project() -> Project:
    """Decimals, enums, optional propagation, if / ?? / match / and / or, now() and uuid5."""
    tier = EnumDef("Tier", (EnumMember("free", "FREE", None, SPAN), EnumMember("pro", "PRO", None, SPAN)), None, SPAN)
    tier_ref = t("enum", "Tier")
    src = entity("a", "Customer", fld("id", "uuid", key=True), fld("name", STRING, length=(1, 50)),
                 fld("nick", STRING, optional=True), fld("tier", tier_ref, default="FREE"),
                 fld("price", DECIMAL), fld("qty", INT), fld("vip", BOOL, optional=True),
                 fld("seen", "datetime"))
    dst = entity("b", "Account", fld("id", STRING, key=True), fld("label", STRING), fld("plan", STRING),
                 fld("total", DECIMAL, range=(0, 1_000_000)), fld("half", DECIMAL), fld("vip", BOOL),
                 fld("loaded", "datetime"), fld("ref", "uuid"), fld("day", STRING), fld("later", BOOL, optional=True),
                 fld("nick", STRING, optional=True))
    nick = get("nick", STRING, optional=True)
    f = flow("customers", "a.Customer", "b.Account",
             assign("id", call("to_string", STRING, get("id", "uuid"))),
             assign("label", Coalesce(call("upper", STRING, nick, optional=True), get("name", STRING), STRING, False,
                                      SPAN)),
             assign("plan", Match(get("tier", tier_ref), (MatchArm("FREE", const("basic"), SPAN),
                                                          MatchArm("PRO", const("premium"), SPAN)), None, STRING,
                                  False, SPAN)),
             assign("total", Binary("*", get("price", DECIMAL), get("qty", INT), DECIMAL, False, SPAN)),
             assign("half", Binary("/", get("qty", INT), const(2, INT), DECIMAL, False, SPAN)),
             assign("vip", If(get("vip", BOOL, optional=True), const(True, BOOL), const(False, BOOL), BOOL, False,
                              SPAN)),
             assign("loaded", call("now", "datetime")),
             assign("ref", call("uuid5", "uuid", const("dns"), get("name", STRING))),
             assign("day", call("format_datetime", STRING, get("seen", "datetime"), const("%Y-%m-%d"))),
             assign("later", Binary("and", get("vip", BOOL, optional=True),
                                    Unary("not", Binary("==", get("qty", INT), const(0, INT), BOOL, False, SPAN),
                                          BOOL, False, SPAN), BOOL, True, SPAN)),
             assign("nick", call("trim", STRING, nick, optional=True)))
    return project(enums=(tier,), systems=(system("a", src), system("b", dst)), flows=(f,))
