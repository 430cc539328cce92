"""A project that puts hostile text in every place the language allows text.

`PAYLOADS` are strings that mean something to one of the output languages or
to a terminal: quotes, backslashes, line breaks, template syntax ({{ }}, {% %},
${ }), YAML anchors/aliases/tags/comments/document markers, Python that would
run if pasted unquoted, bidi controls, zero-width characters, control
characters, very long strings. `project_text()` writes each payload (as a
.integ string literal with escapes) into titles, owners, enum wire values,
defaults, @example, @deprecated, @pattern-compatible places, webhook paths,
manual notes, flow test names, map literals and match arms; raw (without
line breaks) into /// doc comments; and into backticked field names.

`expected_strings()` is what must come back out of the outputs exactly.
"""
from __future__ import annotations

PAYLOADS = {
    "quotes": "He said \"hi\" and 'bye' `tick`",
    "backslashes": "C:\\new\\table \\\\ \\u0041 \\x41 \\",
    "newlines": "line1\nline2\r\nline3\rline4",
    "tabs": "a\tb\t\tc",
    "jinja": "{{ 7*7 }} {% if true %}x{% endif %} {# c #} {{ lipsum.__globals__ }}",
    "dollar": "${HOME} $(id) $$ ${{ secrets.TOKEN }} %(x)s {0}",
    "yaml_anchor": "&anchor *alias <<: *alias",
    "yaml_tag": "!!python/object/apply:os.system ['id']",
    "yaml_tag2": "!<tag:yaml.org,2002:python/object/apply:os.system> [id]",
    "yaml_syntax": "? key : value - item | > [a, b] {c: d} % @ `",
    "yaml_doc": "---\nkey: value\n...\n--- !!str",
    "yaml_bool_like": "yes",
    "yaml_null_like": "~",
    "yaml_number_like": "0o777",
    "comment": "# not a comment",
    "python": "\"\"\"); import os; os.system('id') #",
    "python2": "'''\\'; __import__('os').system('id'); '",
    "html": "</script><script>alert(1)</script><!--",
    "json_ref": "{\"$ref\": \"http://evil.example/x\"}",
    "bidi": "\u202eevil\u202c \u2066isolate\u2069 \u200fRLM",
    "zero_width": "zero\u200bwidth\u200c\u200d\ufeffjoin",
    "controls": "\x01\x07\x08\x1b[31mred\x1b[0m\x7f",
    "nul": "before\x00after",
    "c1_and_separators": "\x85nel\u2028ls\u2029ps",
    "noncharacters": "\ufffe\uffff",
    "astral": "\U0001F600\U0010FFFD",
    "k8s_env": "$(POD_NAME) ${VAR}",
    "long": "L" * 100_000,
}

# Doc comments are raw lines: no line breaks (the comment ends at one), no NUL (E0103).
# base_url: an absolute http(s) URL without white space or control/format characters; its path and query may hold the rest.
BASE_URL = "https://src.example/api/{{x}}/${y}/&a/*b/!!str/'q'/%7B%7D/\\/?q=1&r=---&t=%23x&s=%22#frag"

# Webhook paths refuse white space, control and format characters and {}?#; the rest is hostile enough.
# (Control and bidi characters in paths and URLs are E0209: test_inert_outputs.py.)
WEBHOOK = "/hooks/$(id)/$x/&a/*a/!!str/'\"\\/%7B%7D/../-[2J"
PATTERN = "^(?:[{}$#&*!'\"\\\\]|---|\\{\\{)*$"
PATTERN_EXAMPLE = "{{$#&*!'\"---"

DOC_PAYLOADS = {name: value for name, value in PAYLOADS.items()
                if not any(c in value for c in "\n\r\x00\x85\u2028\u2029")}

FIELD_NAMES = [
    '"); import os #', "'; import os; '", "{{ x }}", "${x}", "&a", "*a", "!!python/object", "# c", "---",
    "a\u202eb", "\\", 'a"b', "__class__", "__import__", "None", "$ref", "<script>", "key: value", "- item",
    "x\u200by", "\t tab", "%", "@", "{", "}", "[", "]",
]


def lit(text: str) -> str:
    """A .integ string literal with the value `text`."""
    out = ['"']
    for c in text:
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f or c in "\u2028\u2029\ufeff\ufffe\uffff":
            out.append("\\u{%x}" % ord(c))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def doc(name: str) -> str:
    return f"/// {DOC_PAYLOADS[name]}\n" if name in DOC_PAYLOADS else "/// plain\n"


def _source_fields() -> str:
    lines = ["    id: string @key"]
    for i, name in enumerate(FIELD_NAMES):
        lines.append(f"    {doc(list(DOC_PAYLOADS)[i % len(DOC_PAYLOADS)])}    `{name}`: string?")
    return "\n".join(lines)


def project_text() -> str:
    names = list(PAYLOADS)
    enum_members = "\n".join(f"  {doc(n)}  m{i} = {lit(PAYLOADS[n])}" for i, n in enumerate(names))
    type_fields = "\n".join(
        f"  {doc(n)}  f{i}: string? @example({lit(PAYLOADS[n])}) @deprecated({lit(PAYLOADS[n])})"
        f" = {lit(PAYLOADS[n])}" for i, n in enumerate(names))
    labels = "\n".join(f"    l{i} = {lit(PAYLOADS[n])}" for i, n in enumerate(names))
    target_fields = "\n".join(f"    l{i}: string" for i in range(len(names)))
    copied = "\n".join(f"    `{name}`: string?" for name in FIELD_NAMES)
    copies = "\n".join(f"    `{name}` = `{name}`" for name in FIELD_NAMES)
    arms = ", ".join(f"{lit(PAYLOADS[n])} -> {lit(PAYLOADS[n])}" for n in names if n != "long")
    pattern = f"@pattern({lit(PATTERN)}) @example({lit(PATTERN_EXAMPLE)})"
    scopes = ", ".join(lit(PAYLOADS[n]) for n in ("jinja", "yaml_tag", "quotes"))
    owners = {"src": lit(PAYLOADS["yaml_doc"]), "dst": lit(PAYLOADS["bidi"] + PAYLOADS["newlines"])}
    base_url = lit(BASE_URL)
    manual_note = lit(PAYLOADS["yaml_doc"] + PAYLOADS["jinja"] + PAYLOADS["python"])
    return f"""package hostile.names version "1.0.0"

{doc("jinja")}enum Wire {{
{enum_members}
}}

{doc("yaml_tag")}type Hostile {{
{type_fields}
  pattern: string {pattern}
}}

{doc("python")}system src {{
  title {lit(PAYLOADS["python"])}
  owner {owners["src"]}
  base_url {base_url}
  auth oauth2 {{
    token_url "https://login.src.example/oauth2/token"
    scopes [{scopes}]
    secret "src-oauth"
  }}
  handles pii

  {doc("bidi")}entity Item {{
{_source_fields()}
    wire: Wire = m0
    hostile: Hostile?
  }}
  {doc("html")}expose Item at "/items" {{ list, get }}
  {doc("comment")}event changed: Item
}}

{doc("dollar")}system dst {{
  title {lit(PAYLOADS["jinja"])}
  owner {owners["dst"]}
  base_url "https://dst.example/v2"
  auth api_key {{ header "X-Api-Key" secret "dst-api-key" }}
  handles pii

  {doc("yaml_anchor")}entity Row {{
    id: string @key
    wire: Wire
    choice: string
{target_fields}
{copied}
  }}
  expose Row at "/rows" {{ list, get, create, update }}
}}

{doc("quotes")}flow copy_items {{
  from src.Item
  to dst.Row
  trigger event src.changed
  map {{
    id = id
    wire = wire
    choice = match `{FIELD_NAMES[0]}` ?? "" {{ {arms}, _ -> {lit(PAYLOADS["yaml_tag"])} }}
{labels}
{copies}
  }}
  retry 3 backoff exponential 1s max 1m
  on_error dead_letter
}}

{doc("jinja")}flow hook_items {{
  from src.Item
  to dst.Row
  trigger webhook {lit(WEBHOOK)}
  map {{
    id = id
    wire = "m1"
    choice = {lit(PAYLOADS["quotes"])}
{labels}
{copies}
  }}
  retry 3
}}

flow manual_items {{
  from src.Item
  to dst.Row
  trigger manual {manual_note}
  map {{
    id = id
    wire = wire
    choice = {lit(PAYLOADS["long"])}
{labels}
{copies}
  }}
  retry 3
}}
"""


def sample_record() -> dict:
    """A source record for map_record: hostile values in hostile field names."""
    record = {"id": "item-1", "wire": PAYLOADS["quotes"]}
    for name, value in zip(FIELD_NAMES, PAYLOADS.values()):
        record[name] = value
    return record


def expected_strings() -> set[str]:
    """Text that must come out of the outputs exactly (as one whole string value or key)."""
    expected = set(PAYLOADS.values()) | set(FIELD_NAMES)
    expected |= set(DOC_PAYLOADS.values())
    return expected
