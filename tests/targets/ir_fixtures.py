"""Hand-built IR projects for the target tests (no front end needed).

`rich_project()` covers every construct the OpenAPI and JSON Schema targets
map: all auth kinds, all operation kinds, custom operations with path, query
and body parameters, nested and recursive types, enums with wire values,
lists, maps, optional references, defaults, examples, deprecated and PII
fields. `big_project(n, m)` is a landscape of n systems with m entities each,
for timing. `HOSTILE` is text that must survive YAML and JSON unchanged.
"""
from __future__ import annotations

from pathlib import Path

from integc.diagnostics import Span
from integc.ir import (
    Auth, EnumDef, EnumMember, Entity, Expose, Field, Operation, Param, Project, SourceFile,
    System, TypeDef, TypeRef,
)

SPAN = Span("f.integ", 1, 1, 1, 1)
_MISSING = object()

# Text that YAML would mangle if it were not quoted and escaped correctly.
HOSTILE = (
    'He said "hi" & \'bye\' # not a comment: {{ jinja }} ${SHELL} $(rm -rf /) &anchor *alias '
    "!!python/object:os.system [a, b] {k: v} | > - ? @ ` % \\ \t tab\nsecond line\n  indented\n"
    "trailing spaces   \n\u202eevil bidi\u202c \u2066isolate\u2069 \u200b zero-width "
    "\u2028line-sep\u2029para-sep \u0085nel \ufeffbom \x7f del \U0001F600 emoji \u00e9\u00e8 "
    "\u4e2d\u6587 --- ... <script>alert(1)</script>"
)
# Strings that YAML 1.1 readers would take for another type when left unquoted.
YAML_LOOKALIKES = ("yes", "No", "on", "OFF", "y", "n", "~", "null", "NULL", "true", "False", "1.0",
                   "0x1F", "0o17", "1e3", "012", "2024-05-13", "2024-05-13T10:00:00Z", ".inf",
                   "-.nan", "12:30:00", "1_000", "=", "<<", "", " ", "-", "#", "@x", "`x`", "'", '"')


def t(kind: str, ref: str | None = None, item: TypeRef | None = None) -> TypeRef:
    return TypeRef(kind, ref, item)


def lst(item: TypeRef | str) -> TypeRef:
    return TypeRef("list", None, TypeRef(item) if isinstance(item, str) else item)


def mp(item: TypeRef | str) -> TypeRef:
    return TypeRef("map", None, TypeRef(item) if isinstance(item, str) else item)


def fld(name: str, type: TypeRef | str, *, optional: bool = False, default: object = _MISSING,
        key: bool = False, readonly: bool = False, pii: bool = False, deprecated: str | None = None,
        length: tuple | None = None, range: tuple | None = None, pattern: str | None = None,
        example: object = _MISSING, doc: str | None = None) -> Field:
    if isinstance(type, str):
        type = TypeRef(type)
    return Field(
        name=name, type=type, optional=optional, has_default=default is not _MISSING,
        default=None if default is _MISSING else default, key=key, readonly=readonly, pii=pii,
        deprecated=deprecated, min_length=length[0] if length else None,
        max_length=length[1] if length else None, minimum=range[0] if range else None,
        maximum=range[1] if range else None, pattern=pattern, has_example=example is not _MISSING,
        example=None if example is _MISSING else example, description=doc, origin=SPAN)


def typedef(name: str, *fields: Field, doc: str | None = None) -> TypeDef:
    return TypeDef(name, tuple(fields), doc, SPAN)


def enumdef(name: str, *members: str | tuple, doc: str | None = None) -> EnumDef:
    out = []
    for m in members:
        if isinstance(m, str):
            out.append(EnumMember(m, m, None, SPAN))
        else:
            out.append(EnumMember(m[0], m[1], m[2] if len(m) > 2 else None, SPAN))
    return EnumDef(name, tuple(out), doc, SPAN)


def entity(system: str, name: str, *fields: Field, doc: str | None = None) -> Entity:
    key = next((f.name for f in fields if f.key), None)
    return Entity(system, name, tuple(fields), key, doc, SPAN)


def auth(kind: str, *, secret: str | None = "a-secret", header: str | None = None,
         token_url: str | None = None, scopes: tuple[str, ...] = ()) -> Auth:
    return Auth(kind, None if kind == "none" else secret, header, token_url, scopes, SPAN)


def expose(entity_name: str, path: str, *ops: str, doc: str | None = None) -> Expose:
    return Expose(entity_name, path, tuple(ops), doc, SPAN)


def param(name: str, type: TypeRef | str, location: str, optional: bool = False) -> Param:
    return Param(name, TypeRef(type) if isinstance(type, str) else type, optional, location, SPAN)


def operation(name: str, method: str, path: str, params: tuple[Param, ...] = (),
              returns: TypeRef | None = None, returns_optional: bool = False,
              doc: str | None = None) -> Operation:
    return Operation(name, method, path, params, returns, returns_optional, doc, SPAN)


def system(name: str, *, title: str | None = None, owner: str | None = None,
           base_url: str | None = None, auth_: Auth | None = None, handles_pii: bool = False,
           entities: tuple[Entity, ...] = (), exposes: tuple[Expose, ...] = (),
           operations: tuple[Operation, ...] = (), doc: str | None = None) -> System:
    return System(name=name, title=title, owner=owner, base_url=base_url,
                  auth=auth_ or auth("none"), handles_pii=handles_pii, entities=entities,
                  exposes=exposes, operations=operations, events=(), deploy=None,
                  description=doc, origin=SPAN)


def project(*systems: System, types: tuple[TypeDef, ...] = (), enums: tuple[EnumDef, ...] = (),
            package: str = "acme.fixture", version: str = "2.3.0") -> Project:
    return Project(package=package, version=version, types=types, enums=enums,
                   systems=systems, flows=(), sources=(SourceFile("main.integ", "0" * 64),))


# ---------------------------------------------------------------- the rich fixture

def shared_types() -> tuple[tuple[TypeDef, ...], tuple[EnumDef, ...]]:
    types = (
        typedef(
            "Address",
            fld("line1", "string", length=(1, 200), example="1 Market Street",
                doc="First address line: building and street."),
            fld("line2", "string", optional=True, length=(0, 200)),
            fld("city", "string", length=(1, 100), example="London"),
            fld("postcode", "string", optional=True, length=(1, 16), example="EC1A 1BB"),
            fld("country", "string", pattern="^[A-Z]{2}$", default="GB", example="GB",
                doc="ISO 3166-1 alpha-2 country code."),
            doc="A postal address."),
        typedef(
            "Money",
            fld("amount", "decimal", range=(0, 1000000000), example="129.99",
                doc="The amount in major units, e.g. 129.99."),
            fld("currency", "string", pattern="^[A-Z]{3}$", default="GBP", example="GBP"),
            doc="An amount of money. Amounts are exact decimals, never floats."),
        typedef(
            "LineItem",
            fld("sku", "string", pattern="^[A-Z0-9-]{3,32}$", example="WID-0042"),
            fld("quantity", "int", range=(1, 100000), example=3),
            fld("unit_price", t("type", "Money")),
            fld("discount_pct", "decimal", optional=True, range=(0, 100), example="12.5"),
            fld("weight_kg", "float", optional=True, range=(0, 1000.5), example=1.25),
            doc="One priced line of an order."),
        typedef(
            "MergeRequest",
            fld("duplicate_id", "uuid", doc="The duplicate that disappears."),
            fld("reason", "string", optional=True, length=(0, 500)),
            doc="Fold a duplicate into a surviving record."),
        typedef(
            "Category",
            fld("label", "string", length=(1, 80)),
            fld("children", lst(t("type", "Category")), doc="Sub-categories (recursive)."),
            fld("parent", t("type", "Category"), optional=True),
            doc="A node of the product category tree."),
        typedef(
            "Attachment",
            fld("file_name", "string"),
            fld("content", "bytes", length=(1, 10485760)),
            fld("meta", "json", optional=True),
            fld("checksum", "string", optional=True, deprecated="use content digests"),
            doc=None),
    )
    enums = (
        enumdef("Tier", "free", "pro", "enterprise", doc="Commercial tier of a customer."),
        enumdef("OrderStatus", ("pending", "PENDING", "Placed, not yet confirmed."),
                ("confirmed", "CONFIRMED"), ("shipped", "SHIPPED"), ("cancelled", "CANCELLED"),
                doc="Lifecycle of a sales order."),
        enumdef("Channel", "portal", "phone", "chat", ("yes", "yes"), ("no", "no")),
        enumdef("Unused", "a", "b", doc="Referenced by nothing."),
    )
    return types, enums


def crm_system() -> System:
    customer = entity(
        "crm", "Customer",
        fld("id", "uuid", key=True, readonly=True, example="5f0c8a9e-2b1d-4c3e-9f6a-7b8c9d0e1f2a",
            doc="Salesforce record id."),
        fld("email", "email", pii=True, example="jane.doe@example.com"),
        fld("name", "string", pii=True, length=(1, 200), example="Jane Doe"),
        fld("tier", t("enum", "Tier"), default="free"),
        fld("billing_address", t("type", "Address"), optional=True, pii=True),
        fld("shipping_addresses", lst(t("type", "Address")), length=(0, 5)),
        fld("tags", lst("string"), pattern="^[a-z-]+$"),
        fld("scores", lst("int"), range=(0, 100)),
        fld("attributes", mp("string"), length=(0, 50)),
        fld("marketing_opt_in", "bool", default=False),
        fld("credit_limit", t("type", "Money"), optional=True),
        fld("website", "url", optional=True, example="https://doe.example/"),
        fld("birthday", "date", optional=True, pii=True, example="1990-04-01"),
        fld("retention", "duration", default=900000, example=5400000),
        fld("risk_score", "float", optional=True, range=(0, 1)),
        fld("balance", "decimal", default="0.00", readonly=True),
        fld("legacy_code", "string", optional=True, deprecated="replaced by account ids; removed in 2.0"),
        fld("interests", lst(t("type", "Category")), optional=True),
        fld("primary_case", t("entity", "crm.Case"), optional=True),
        fld("created_at", "datetime", readonly=True, example="2024-05-13T10:00:00Z"),
        doc="A buying organisation or person.")
    case = entity(
        "crm", "Case",
        fld("case_id", "string", key=True, readonly=True, example="5003000000D8cuI"),
        fld("customer_id", "uuid", optional=True),
        fld("subject", "string", length=(1, 255)),
        fld("channel", t("enum", "Channel")),
        fld("opened_at", "datetime"),
        doc="A support escalation logged against a customer.")
    note = entity("crm", "Note", fld("text", "string"), doc="Not exposed: no schema in OpenAPI.")
    return system(
        "crm", title="Salesforce CRM", owner="sales-ops@acme.example",
        base_url="https://acme.my.salesforce.com/services/apexrest/v1/",
        auth_=auth("oauth2", token_url="https://login.salesforce.com/services/oauth2/token",
                   scopes=("api", "refresh_token")),
        handles_pii=True, entities=(customer, case, note),
        exposes=(expose("Customer", "/customers", "list", "get", "create", "update", "patch", "delete",
                        doc="Customers, the system of record."),
                 expose("Case", "/cases", "list", "get", "create")),
        operations=(
            operation("mergeCustomers", "POST", "/customers/{id}/merge",
                      (param("id", "uuid", "path"), param("body", t("type", "MergeRequest"), "body")),
                      t("entity", "crm.Customer"), doc="Fold a duplicate customer into this one."),
            operation("searchCustomers", "GET", "/customers/search",
                      (param("q", "string", "query"), param("limit", "int", "query", optional=True),
                       param("tier", t("enum", "Tier"), "query", optional=True),
                       param("tags", lst("string"), "query", optional=True),
                       param("since", "datetime", "query", optional=True)),
                      lst(t("entity", "crm.Customer")), doc="Full-text search over name and email."),
            operation("ping", "GET", "/health", doc=None),
            operation("categoryTree", "GET", "/categories/{root}",
                      (param("root", "string", "path"), param("depth", "int", "query", optional=True)),
                      t("type", "Category"), returns_optional=True),
            operation("replaceTags", "PUT", "/customers/{id}/tags",
                      (param("id", "uuid", "path"), param("body", lst("string"), "body"))),
        ),
        doc="Salesforce, the sales team's CRM. System of record for customers.")


def billing_system() -> System:
    account = entity(
        "billing", "Account",
        fld("account_id", "string", key=True, pattern="^ACC-[0-9A-F]{32}$",
            example="ACC-5F0C8A9E2B1D4C3E9F6A7B8C9D0E1F2A"),
        fld("email", "email", pii=True),
        fld("plan", "string"),
        fld("currency", "string", pattern="^[A-Z]{3}$", default="GBP"),
        fld("invoice_address", t("type", "Address"), optional=True, pii=True),
        fld("metadata", mp("string")),
        fld("balance", t("type", "Money"), readonly=True),
        doc="A billing account, one per CRM customer.")
    invoice = entity(
        "billing", "Invoice",
        fld("invoice_number", "string", key=True, readonly=True, pattern="^INV-[0-9]{8}$",
            example="INV-00012345"),
        fld("account_id", "string"),
        fld("lines", lst(t("type", "LineItem")), length=(1, 500)),
        fld("total", t("type", "Money"), readonly=True),
        fld("attachments", lst(t("type", "Attachment")), optional=True),
        fld("extra", "json"),
        fld("due_on", "date"),
        doc="An invoice issued to an account.")
    return system(
        "billing", title="Billing service", owner="finance-eng@acme.example",
        base_url="https://billing.acme.example/v2",
        auth_=auth("api_key", header="X-Api-Key"), handles_pii=True,
        entities=(account, invoice),
        exposes=(expose("Account", "/accounts", "list", "get", "create", "update"),
                 expose("Invoice", "/invoices", "list", "get", "create")),
        operations=(operation("voidInvoice", "POST", "/invoices/{invoice_number}/void",
                              (param("invoice_number", "string", "path"),
                               param("body", t("type", "MergeRequest"), "body", optional=True)),
                              t("entity", "billing.Invoice"), doc="Void an open invoice."),),
        doc="The billing service.")


def erp_system() -> System:
    order = entity(
        "erp", "SalesOrder",
        fld("order_number", "int", key=True, readonly=True, range=(1, 99999999), example=4711),
        fld("status", t("enum", "OrderStatus"), default="PENDING"),
        fld("previous_status", t("enum", "OrderStatus"), optional=True),
        fld("lines", lst(t("type", "LineItem"))),
        fld("ship_to", t("type", "Address"), pii=True),
        fld("net_total", t("type", "Money")),
        fld("history", mp(t("enum", "OrderStatus")), optional=True),
        fld("placed_at", "datetime"),
        doc="A customer's sales order.")
    return system(
        "erp", title="SAP S/4HANA", owner="erp-team@acme.example",
        base_url="https://erp.acme.example/odata/v1",
        auth_=auth("mtls"), handles_pii=True, entities=(order,),
        exposes=(expose("SalesOrder", "/sales-orders", "list", "get", "update", "patch", "delete"),),
        doc="SAP S/4HANA: order management and finance.")


def support_system() -> System:
    ticket = entity(
        "support", "Ticket",
        fld("ticket_id", "int", key=True, readonly=True, example=48213),
        fld("subject", "string", length=(1, 255)),
        fld("channel", t("enum", "Channel"), default="yes"),
        fld("satisfaction", "int", optional=True, range=(1, 5), example=4),
        doc="A support ticket.")
    return system(
        "support", title="Zendesk Support", owner="cx-tooling@acme.example",
        base_url="https://acme.zendesk.com/api/v2",
        auth_=auth("basic"), handles_pii=True, entities=(ticket,),
        exposes=(expose("Ticket", "/tickets", "list", "get", "create", "update", "patch"),),
        doc="Zendesk, the customer support desk.")


def warehouse_system() -> System:
    fact = entity(
        "warehouse", "RevenueFact",
        fld("fact_id", "string", key=True, example="rev-inv-00012345"),
        fld("net", "decimal", example="100.10"),
        fld("loaded_at", "datetime"),
        fld("source", "string", default="billing"),
        doc=None)
    return system(
        "warehouse", owner="Data platform team", auth_=auth("bearer"),
        entities=(fact,),
        exposes=(expose("RevenueFact", "/revenue-facts/", "create", "get"),))


def public_system() -> System:
    status = entity(
        "status_page", "Status",
        fld("code", "string", key=True),
        fld("healthy", "bool"),
        doc="Health of one component.")
    return system("status_page", base_url="https://status.acme.example", entities=(status,),
                  exposes=(expose("Status", "/statuses", "list", "get"),))


def quiet_system() -> System:
    """Declares entities but neither exposes nor operations: no OpenAPI document."""
    return system("ledger", owner="finance@acme.example",
                  entities=(entity("ledger", "Entry", fld("id", "uuid", key=True)),))


def rich_project() -> Project:
    types, enums = shared_types()
    return project(crm_system(), billing_system(), erp_system(), support_system(),
                   warehouse_system(), public_system(), quiet_system(), types=types, enums=enums)


def hostile_project() -> Project:
    """Hostile text in every place text goes: docs, titles, owner, examples, defaults."""
    lookalike_fields = tuple(
        fld(f"s{i}", "string", default=v, example=v, doc=v or None) for i, v in enumerate(YAML_LOOKALIKES))
    thing = entity(
        "hostile", "Thing",
        fld("id", "string", key=True, example=HOSTILE, doc=HOSTILE),
        fld("note", "string", default=HOSTILE, pattern="^[^\\n]*$|" + "\\{\\{"),
        fld("deprecated_field", "string", optional=True, deprecated=HOSTILE),
        *lookalike_fields,
        doc=HOSTILE)
    kinds = enumdef("Kind", ("yes", "yes"), ("no", "no"), ("null", "null"), ("on", "on"),
                    ("weird", "#{{ x }}: &a *b"), doc=HOSTILE)
    sys = system("hostile", title=HOSTILE, owner=HOSTILE, base_url="https://h.acme.example/api",
                 auth_=auth("api_key", header="X-Key"),
                 entities=(entity("hostile", "Thing", *thing.fields,
                                  fld("kind", t("enum", "Kind"), default="null"), doc=HOSTILE),),
                 exposes=(expose("Thing", "/things", "list", "get", "create", doc=HOSTILE),),
                 operations=(operation("doThing", "POST", "/things/{id}/do", (param("id", "string", "path"),),
                                       doc=HOSTILE),),
                 doc=HOSTILE)
    return project(sys, enums=(kinds,), package="hostile.pkg", version="0.0.1-rc.1+build.5")


# ---------------------------------------------------------------- a large landscape

def big_project(n_systems: int = 200, n_entities: int = 10) -> Project:
    """n systems with m entities each, every entity exposed with all operations."""
    types, enums = shared_types()
    auth_kinds = ("oauth2", "api_key", "bearer", "basic", "mtls", "none")
    systems = []
    for s in range(n_systems):
        name = f"sys{s:03d}"
        entities = []
        exposes = []
        for e in range(n_entities):
            ename = f"Thing{e:02d}"
            entities.append(entity(
                name, ename,
                fld("id", "uuid", key=True, readonly=True, doc="Identity."),
                fld("name", "string", length=(1, 200), example="Widget", doc="Display name."),
                fld("email", "email", pii=True, optional=True),
                fld("tier", t("enum", "Tier"), default="free"),
                fld("status", t("enum", "OrderStatus")),
                fld("address", t("type", "Address"), optional=True),
                fld("lines", lst(t("type", "LineItem"))),
                fld("price", t("type", "Money")),
                fld("tags", lst("string")),
                fld("attributes", mp("string")),
                fld("amount", "decimal", range=(0, 1000)),
                fld("count", "int", range=(0, 100), default=0),
                fld("ratio", "float", optional=True),
                fld("active", "bool", default=True),
                fld("created_at", "datetime", readonly=True),
                doc=f"Entity {ename} of {name}."))
            exposes.append(expose(ename, f"/things-{e:02d}", "list", "get", "create", "update",
                                  "patch", "delete"))
        kind = auth_kinds[s % len(auth_kinds)]
        systems.append(system(
            name, title=f"System {s}", owner=f"team{s}@acme.example",
            base_url=f"https://{name}.acme.example/api",
            auth_=auth(kind, header="X-Api-Key" if kind == "api_key" else None,
                       token_url="https://login.acme.example/token" if kind == "oauth2" else None,
                       scopes=("read", "write") if kind == "oauth2" else ()),
            entities=tuple(entities), exposes=tuple(exposes),
            operations=(operation("mergeThings", "POST", "/things-00/{id}/merge",
                                  (param("id", "uuid", "path"),
                                   param("body", t("type", "MergeRequest"), "body")),
                                  t("entity", f"{name}.Thing00"), doc="Merge two things."),),
            doc=f"System number {s}."))
    return project(*systems, types=types, enums=enums, package="acme.big", version="1.0.0")


# ---------------------------------------------------------------- golden files

def check_golden(request, folder: Path, outputs: dict[str, bytes]) -> None:
    """Compare `outputs` (file name -> bytes) with the files in `folder`; rewrite with --update-golden."""
    if request.config.getoption("--update-golden"):
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.iterdir():
            if stale.name not in outputs:
                stale.unlink()
        for name, content in outputs.items():
            (folder / name).write_bytes(content)
        return
    assert folder.is_dir(), f"no golden files in {folder}: run pytest with --update-golden"
    assert sorted(p.name for p in folder.iterdir()) == sorted(outputs)
    for name, content in outputs.items():
        assert (folder / name).read_bytes() == content, f"{name} differs from its golden file"
