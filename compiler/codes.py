"""The registry of every diagnostic code integc can report.

Codes are public API: CI scripts match on them. Add, never renumber.
`integc explain CODE` prints an entry; docs/errors.md is generated from it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CodeInfo:
    code: str
    severity: str  # "error" | "warning"
    title: str
    explanation: str
    example: str


def _entry(code: str, title: str, explanation: str, example: str) -> CodeInfo:
    severity = "warning" if code.startswith("W") else "error"
    return CodeInfo(code, severity, title, explanation.strip(), example.strip("\n"))


_ENTRIES = [
    _entry("E0001", "internal compiler error", """
integc hit a bug of its own. The message names what failed; please report it
with the input that caused it. The previous build output is left untouched.
""", ""),
    _entry("E0101", "syntax error", """
The source does not follow the grammar of LANGUAGE.md. The message says, in
words, what integc expected at that point and what it found instead.
""", """
system crm {
  owner "sales-ops@acme.example"
  entity Customer { id: uuid @key     # the closing brace is missing
"""),
    _entry("E0102", "nesting too deep", """
An expression or type is nested deeper than the compiler's limit (128 levels
by default, `[limits] max_depth` in integc.toml). Deep nesting is almost
always generated input; split the expression into several target fields.
""", """
map { total = ((((((((((((((((((((amount)))))))))))))))))))) }   # x 200
"""),
    _entry("E0103", "unreadable source file", """
A source file is not valid UTF-8, contains a NUL byte, or could not be read.
integc reads `.integ` files as UTF-8 text only (a leading byte-order mark is
accepted and ignored).
""", ""),
    _entry("E0104", "input limit exceeded", """
The project exceeds one of the compiler's input limits: the size of one file
(`[limits] max_file_bytes`, default 2 MiB), all files together
(`max_project_bytes`, default 16 MiB), the number of files
(`max_files`, default 10,000). The limits keep a hostile pull request from
exhausting a CI machine; raise them in integc.toml if a real project needs it.
""", ""),
    _entry("E0105", "invalid literal", """
A string escape, number or duration is malformed or out of range: only
`\\" \\\\ \\n \\t \\r \\u{...}` escapes exist, `int` is 64-bit, a `\\u{...}`
escape must name a Unicode scalar value.
""", """
name: string = "tab\\q"     # \\q is not an escape
"""),
    _entry("E0201", "unknown name", """
A name does not refer to anything declared: a field, entity, system, type,
enum member, event, operation kind, auth setting or annotation. The help line
suggests the closest declared name.
""", """
flow f { from crm.Custmer ... }   # did you mean `Customer`?
"""),
    _entry("E0202", "duplicate declaration", """
A name is declared twice in the same namespace: two top-level declarations
(across all files of the project), two fields of one entity or type, two
members of one enum, two operations with one operationId in a system, or a
clause given twice in a system or flow. The note points at the first one.
""", """
type Money { amount: int }
type Money { cents: int }       # error: `Money` is declared twice
"""),
    _entry("E0203", "key misdeclared", """
An entity that is exposed needs exactly one `@key` field: it names the
`/path/{key}` parameter of get, update, patch and delete. No entity may have
more than one `@key`, and only entities have keys.
""", """
entity Customer { email: email }
expose Customer at "/customers" { get }   # Customer has no @key
"""),
    _entry("E0204", "invalid constraint", """
A constraint annotation is malformed: a regular expression in `@pattern`
that does not compile, `@length`/`@range` with a minimum above the maximum or
a negative length.
""", """
code: string @pattern("[A-Z")   # unterminated character set
"""),
    _entry("E0205", "annotation or default does not fit the field", """
An annotation is applied to a field whose type it cannot constrain (`@length`
on an `int`, `@range` on a `string`, `@key` on a list), is given the wrong
arguments, or a default value / `@example` does not have the field's type.
""", """
count: int @length(1, 5)        # @length applies to strings, lists and maps
"""),
    _entry("E0206", "undeclared path parameter", """
Every `{param}` in a custom operation's path must be declared in its
parameter list, and a parameter named `body` is the request body.
""", """
operation merge POST "/customers/{id}/merge" (body: MergeRequest) -> Customer   # {id}?
"""),
    _entry("E0207", "flow endpoint not available", """
A flow needs operations its systems do not expose: the target must be
exposed with `create` (write create), `update` (write update) or both
(write upsert); a scheduled flow's source must be exposed with `list`; an
event trigger must name an event of the source system that carries the
source entity.
""", """
expose Account at "/accounts" { list, get }
flow f { to billing.Account  write upsert ... }   # needs create and update
"""),
    _entry("E0208", "unknown function", """
The mapping calls a function that is not one of the built-ins of
LANGUAGE.md section 4. The help line suggests the closest built-in.
""", """
email = lowr(email)     # did you mean `lower`?
"""),
    _entry("E0209", "invalid setting", """
A system or flow clause has a value integc cannot use: an unknown auth kind
or a missing auth setting, an invalid HTTP method, a malformed URL or path,
an unknown write / on_error / backoff mode, an invalid cron expression, a
schedule interval of zero, a retry count outside 1..100.
""", """
trigger schedule cron "61 * * * *"   # minute 61 does not exist
"""),
    _entry("E0301", "type mismatch", """
The expression's type cannot be assigned to the target field (or used where
it appears). `int` widens to `decimal` and `float`; `email`, `url` and
`uuid` are strings where a `string` is expected, but a plain `string` is not
an `email`, `url` or `uuid`. An enum target takes the same enum or a string
literal naming one of its members.
""", """
plan = tier_count      # int cannot be assigned to string field `plan`
"""),
    _entry("E0302", "required field not assigned", """
A target field that is required (not optional, no default, not @readonly) is
not assigned by the flow's mapping (or by an `each` / record block).
""", """
map { email = email }   # billing.Account.account_id is never assigned
"""),
    _entry("E0303", "optional value to required field", """
The expression may be absent or null (it reads an optional field, or a path
through one) but the target field is required. Give a fallback with `??`.
""", """
country = address.country            # address is optional
country = address.country ?? "US"    # fine
"""),
    _entry("E0304", "match not exhaustive", """
A `match` over an enum does not cover every member and has no `_` arm; a
`match` over a string, number or bool needs a `_` arm unless it covers both
`true` and `false`.
""", """
plan = match tier { free -> "basic", pro -> "standard" }   # enterprise?
"""),
    _entry("E0305", "read-only field assigned", """
A `@readonly` target field is set by its owning system and is never written
by a flow.
""", """
created_at = now()     # billing.Account.created_at is @readonly
"""),
    _entry("E0306", "field assigned twice", """
A target field is assigned more than once in one mapping block.
""", """
map { email = email  email = lower(email) }
"""),
    _entry("E0307", "example does not map", """
`integc build` maps the source entity's example record (from `@example`
values and defaults) through every flow; the result must be valid against the
target entity's schema. The message says which field failed and why.
""", ""),
    _entry("E0401", "import not found", """
An `import` names a file that does not exist (relative to the importing
file).
""", """
import "systems/crm.integ"     # no such file
"""),
    _entry("E0402", "import leaves the project", """
An `import` resolves outside the project folder: `..` that climbs above it,
an absolute path, or a symbolic link that points out. integc never reads or
probes a path outside the project.
""", """
import "../../etc/passwd.integ"
"""),
    _entry("E0403", "invalid project configuration", """
`integc.toml` is not valid TOML or does not match the schema in
specs/integc-toml.schema.json: an unknown key, a value of the wrong type, an
unknown target, or an entry file that does not exist.
""", """
[targets.openapi]
format = "xml"     # must be "yaml" or "json"
"""),
    _entry("E0501", "personal data flows to a system not cleared for it", """
A field marked `@pii` is read by a flow whose target system is not declared
`handles pii`. Declare `handles pii` on the target (after checking that it
may hold personal data), or do not map the field.
""", """
system warehouse { ... }         # no `handles pii`
flow f { to warehouse.Fact  map { contact = email } }   # email is @pii
"""),
    _entry("E0502", "credential in source", """
A string in the source looks like a credential: a private key, an API key
(`sk_live_...`, `AKIA...`, `ghp_...`, `xoxb-...`), a JSON Web Token or a
password inside a URL. Sources are reviewed and committed, so credentials do
not belong there: reference a secret by name (`secret "crm-token"`) and
provide its value at run time. The diagnostic never repeats the value.
""", """
base_url "https://admin:hunter2@crm.example/api"
"""),
    _entry("E0701", "schedule not expressible", """
`schedule every D` becomes a Kubernetes CronJob, and a cron expression fires
exactly every D only when D divides an hour evenly in whole minutes (1m..30m,
60m), divides a day evenly in whole hours (1h..12h, 24h), or is 1d or 7d
(aligned to the start of the hour, the day, or Sunday 00:00). Other intervals
(90m, 7h, 2d, under a minute) are refused; use `schedule cron "..."` to say
exactly when.
""", """
trigger schedule every 90m
"""),
    _entry("E0801", "output path conflict", """
Two outputs would be written to the same file, or to names that differ only
in letter case (which collide on case-insensitive file systems), or a
declared name cannot be used as a file name. Rename one of the declarations.
""", """
system crm { ... }
system CRM { ... }    # openapi/crm.openapi.yaml and openapi/CRM.openapi.yaml collide
"""),
    _entry("W0601", "system without owner", """
Every system should name an accountable owner (`owner "team@example"`): the
owner is who a broken integration is escalated to.
""", """
system crm { base_url "https://crm.example" }   # who owns it?
"""),
    _entry("W0602", "flow without retry", """
A flow without `retry` gives up on the first transient failure (timeouts,
429, 5xx). Declare `retry N backoff exponential 2s max 5m`.
""", ""),
    _entry("W0603", "manual flow", """
A `manual` trigger documents a flow people run by hand: it compiles to no
workload and is listed as integration debt. The warning keeps it visible.
""", """
trigger manual "finance exports a spreadsheet every Monday"
"""),
]

CODES: dict[str, CodeInfo] = {entry.code: entry for entry in _ENTRIES}
