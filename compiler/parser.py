"""Source text -> AST. The only module that imports Lark.

One grammar (grammar/integ.lark), compiled by Lark (LALR, contextual lexer,
`cache=True`), drives two parsers:

- The fast path (`_FastParser`): Lark's own LALR parse table and its
  per-state contextual-lexer regexes, run by a small loop in this module that
  builds the AST while it parses: no parse tree, no Token objects, no
  separate transform pass. Each reduction calls a function generated from the
  Lark rule (which children Lark's tree builder keeps, which `_rules` it
  inlines, which `?rule` alternatives it passes through), so the builders see
  exactly the children a Lark Transformer would; node spans and the nesting
  depth are computed from the children's positions, as Lark's
  `propagate_positions` does.
- Lark itself, with the keyword-aware lexer below: run only when the fast
  path meets input it does not accept (a syntax error, nesting deeper than
  the limit), so every E0101/E0102 comes from the same Lark exception data as
  always and reads exactly the same.

LALR merges states, so the contextual lexer alone would still turn a field
named `from` into the FROM keyword when a keyword could follow the *merged*
state; both paths ask the parse table whether the keyword can really be
shifted and fall back to a plain name when it cannot (`_KeywordLexer`).
"""
from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

from integc import syntax as s
from integc.diagnostics import Diagnostics, Span
from integc.secrets_scan import _PATTERNS as _CREDENTIAL_PATTERNS, scan_credentials

DEFAULT_MAX_DEPTH = 128

# Nodes that nest: the depth limit counts only these, so it measures how deep
# an expression or type is, whatever the file's structure around it.
_NESTING_RULES = frozenset({
    "binary", "unary", "member", "call", "if_expr", "match_expr", "match_arm", "each_expr",
    "record_expr", "type_ref", "list_value", "object_value", "assignment", "paren",
})

# Words for terminals whose names Lark gives stably (named in the grammar, or punctuation Lark names
# itself: LPAR, MORETHAN, ...). Anonymous terminals (`__ANON_<n>`: `"at"`, `"->"`, numbered in the
# order Lark meets them, so the numbers move when the grammar changes) are described by their
# pattern instead (_describe_terminal), as are keywords (`version`, `every`, ...).
_TERMINAL_WORDS = {
    "NAME": "a name", "QUOTED_NAME": "a `quoted name`", "STRING": "a string", "INT": "a number",
    "FLOAT": "a number", "DURATION": "a duration such as 15m", "LBRACE": "`{`", "RBRACE": "`}`",
    "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`", "LESSTHAN": "`<`", "MORETHAN": "`>`",
    "COLON": "`:`", "COMMA": "`,`", "DOT": "`.`", "EQUAL": "`=`", "AT": "`@`", "QMARK": "`?`",
    "CMP_OP": "a comparison", "COALESCE": "`??`", "ADD_OP": "`+` or `-`", "MUL_OP": "`*` or `/`",
    "$END": "the end of the file",
}


def _describe_terminal(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    pattern = _terminal_patterns().get(name)
    if pattern is not None:
        return f"`{pattern}`"
    return name.lower()


@lru_cache(maxsize=1)
def _grammar_text() -> str:
    return resources.files("integc.grammar").joinpath("integ.lark").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _lark():
    from lark import Lark

    # Lark's own cache=True keeps a pickle in the shared temp folder, where another user could plant
    # one; the grammar analysis is cached in the user's own private cache folder instead (or not at all).
    tables = _tables_cache_path()
    cache = str(tables.with_name(tables.stem + ".lark.pickle")) if tables is not None else False
    parser = Lark(_grammar_text(), parser="lalr", lexer="contextual", propagate_positions=True,
                  cache=cache, maybe_placeholders=False)
    frontend = parser.parser
    frontend.lexer = _KeywordLexer(frontend.lexer, frontend.parser.parser.parse_table, parser.terminals)
    return parser


@lru_cache(maxsize=1)
def _terminal_patterns() -> dict[str, str]:
    return {t.name: t.pattern.value for t in _lark().terminals if t.pattern.type == "str"}


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class _KeywordLexer:
    """Wraps Lark's contextual lexer; demotes keywords the parser cannot take to names."""

    _identifier = _IDENTIFIER

    def __init__(self, inner, parse_table, terminals):
        self._inner = inner
        self._states = parse_table.states
        self._keywords = frozenset(
            t.name for t in terminals if t.pattern.type == "str" and self._identifier.match(t.pattern.value))

    def lex(self, lexer_state, parser_state):
        from lark import Token
        from lark.exceptions import UnexpectedCharacters

        try:
            for token in self._inner.lex(lexer_state, parser_state):
                if token.type in self._keywords and not self._can_shift(parser_state.state_stack, token.type) \
                        and self._can_shift(parser_state.state_stack, "NAME"):
                    token = Token.new_borrow_pos("NAME", token.value, token)
                yield token
        except UnexpectedCharacters as error:
            error.allowed = self.acceptable(parser_state.state_stack)
            raise

    def acceptable(self, state_stack) -> set[str]:
        """The terminals the parser can really shift next (LALR's merged lookaheads filtered)."""
        return {t for t in self._states[state_stack[-1]] if t.isupper() and self._can_shift(state_stack, t)}

    def _can_shift(self, state_stack, terminal: str) -> bool:
        from lark.parsers.lalr_analysis import Shift

        stack = list(state_stack)
        while True:
            action = self._states[stack[-1]].get(terminal)
            if action is None:
                return False
            kind, arg = action
            if kind is Shift:
                return True
            size = len(arg.expansion)
            if size:
                del stack[-size:]
            goto = self._states[stack[-1]].get(arg.origin.name)
            if goto is None:
                return False
            stack.append(goto[1])


# ---------------------------------------------------------------- strings

_ESCAPE = re.compile(r'\\(u\{[0-9A-Fa-f]{1,6}\}|.)', re.S)
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


def decode_string(raw: str) -> tuple[str, str | None]:
    """The value of a string token (quotes included) and the first bad escape, if any."""
    body = raw[1:-1]
    if "\\" not in body:
        return body, None
    bad: list[str] = []

    def replace(match: re.Match) -> str:
        esc = match.group(1)
        if esc in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[esc]
        if esc.startswith("u{"):
            code = int(esc[2:-1], 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                bad.append("\\" + esc)
                return ""
            return chr(code)
        bad.append("\\" + esc)
        return ""

    value = _ESCAPE.sub(replace, body)
    return value, (bad[0] if bad else None)


_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"([0-9]+)(ms|s|m|h|d)")
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


# ---------------------------------------------------------------- AST builders
#
# A token is a tuple (line, column, end_line, end_column, 0, type, text); a
# position ("meta") is a tuple whose first five items are (line, column,
# end_line, end_column, nesting height) -- a token is its own position. The
# builders receive the children Lark's tree builder would keep, in order, and
# the rule's position (None for a rule that matched nothing).

_T_TYPE, _T_TEXT = 5, 6


class _Builder:
    def __init__(self, file: str, docs: dict[int, str], diagnostics: Diagnostics, text: str = ""):
        self._file = file
        self._docs = docs
        self._diagnostics = diagnostics
        self._text = text
        self._lines: list[str] | None = None

    def _starts_its_line(self, span: Span) -> bool:
        if self._lines is None:
            self._lines = self._text.split("\n")
        if span.line > len(self._lines):
            return True
        return not self._lines[span.line - 1][:span.column - 1].strip()

    # -- helpers

    def _span(self, meta) -> Span:
        if meta is None:
            return Span(self._file, 1, 1, 1, 1)
        return Span(self._file, meta[0], meta[1], meta[2], meta[3])

    def _tok_span(self, token) -> Span:
        return Span(self._file, token[0], token[1], token[2], token[3])

    def _doc(self, span: Span) -> str | None:
        docs = self._docs
        line = span.line - 1
        if line not in docs:
            return None
        if not self._starts_its_line(span):  # `enum T { a, b }`: the doc is T's, not a's
            return None
        lines = []
        while line in docs:
            lines.append(docs[line])
            line -= 1
        return "\n".join(reversed(lines))

    def _string(self, token) -> s.Value:
        value, bad = decode_string(token[_T_TEXT])
        span = self._tok_span(token)
        if bad is not None:
            self._diagnostics.report("E0105", f"invalid escape `{bad}` in string", span,
                                     help='the escapes are \\" \\\\ \\n \\t \\r and \\u{hex}')
        return s.Value("string", value, span)

    def _number(self, token, negative: bool = False) -> s.Value:
        span = self._tok_span(token)
        kind = token[_T_TYPE]
        text = ("-" if negative else "") + token[_T_TEXT]
        if kind == "INT":
            value = int(text) if len(text) <= 25 else INT_MAX + 1  # int() of 5,000 digits refuses
            if not INT_MIN <= value <= INT_MAX:
                self._diagnostics.report("E0105", "integer literal does not fit in 64 bits", span)
                value = 0
            return s.Value("int", value, span, text)
        if kind == "DURATION":
            amount, unit = _DURATION.fullmatch(token[_T_TEXT]).groups()
            value = (int(amount) if len(amount) <= 25 else INT_MAX) * _DURATION_MS[unit] * (-1 if negative else 1)
            if value > INT_MAX:
                self._diagnostics.report("E0105", "duration is too long", span)
                value = 0
            return s.Value("duration", value, span)
        value = float(text) if len(text) <= 400 else float("inf")
        if value in (float("inf"), float("-inf")):
            self._diagnostics.report("E0105", "number literal is out of range", span)
            value = 0.0
        return s.Value("float", value, span, text)

    def _token_value(self, token) -> s.Value:
        kind = token[_T_TYPE]
        if kind == "STRING":
            return self._string(token)
        if kind in ("INT", "FLOAT", "DURATION"):
            return self._number(token)
        span = self._tok_span(token)
        if kind == "TRUE":
            return s.Value("bool", True, span)
        if kind == "FALSE":
            return s.Value("bool", False, span)
        return s.Value("null", None, span)

    @staticmethod
    def _nodes(children, cls) -> list:
        return [c for c in children if isinstance(c, cls)]

    # -- names

    def name(self, c, meta):
        token = c[0]
        text = token[_T_TEXT]
        if token[_T_TYPE] == "QUOTED_NAME":
            text = text[1:-1]
        return s.Name(text, Span(self._file, token[0], token[1], token[2], token[3]))

    def qualname(self, c, meta):
        # one part: the same extent as that name's span, so the same (immutable) Span
        return s.QualName(tuple(c), c[0].span if len(c) == 1 else self._span(meta))

    # -- values

    def literal(self, c, meta):
        value = self._token_value(c[0])
        return s.Literal(value, value.span)  # one token: its span

    def negative_number(self, c, meta):
        sign, number = c
        value = self._number(number, negative=sign[_T_TEXT] == "-")
        return s.Literal(s.Value(value.kind, value.value, self._span(meta), value.text), self._span(meta))

    def symbol_value(self, c, meta):
        return s.Value("symbol", c[0].text, c[0].span)

    def list_value(self, c, meta):
        return s.Value("list", tuple(_as_value(x) for x in c), self._span(meta))

    def object_value(self, c, meta):
        pairs = []
        for key, value in zip(c[::2], c[1::2]):
            key_text = key.text if isinstance(key, s.Name) else self._string(key).value
            pairs.append((key_text, _as_value(value)))
        return s.Value("object", tuple(pairs), self._span(meta))

    # -- declarations

    def start(self, c, meta):
        return list(c)

    def package(self, c, meta):
        _, qualname, version = c
        return s.Package(qualname, self._string(version), self._span(meta))

    def import_decl(self, c, meta):
        return s.Import(self._string(c[1]), self._span(meta))

    def type_decl(self, c, meta):
        span = self._span(meta)
        return s.TypeDecl(c[1], tuple(self._nodes(c, s.Field)), self._doc(span), span)

    def enum_decl(self, c, meta):
        span = self._span(meta)
        return s.EnumDecl(c[1], tuple(self._nodes(c, s.EnumMember)), self._doc(span), span)

    def enum_member(self, c, meta):
        span = self._span(meta)
        wire = self._string(c[1]) if len(c) > 1 else None
        return s.EnumMember(c[0], wire, self._doc(span), span)

    def field(self, c, meta):
        span = self._span(meta)
        name, type_ref, *rest = c
        annotations = tuple(x for x in rest if isinstance(x, s.Annotation))
        defaults = [_as_value(x) for x in rest if not isinstance(x, s.Annotation)]
        return s.Field(name, type_ref, annotations, defaults[0] if defaults else None, self._doc(span), span)

    def type_ref(self, c, meta):
        base = c[0]
        if len(c) == 1:  # no `?`: the extent of the base type
            return s.TypeRef(base.kind, base.name, base.item, False, base.span)
        return s.TypeRef(base.kind, base.name, base.item, True, self._span(meta))

    def named_type(self, c, meta):
        return s.TypeRef("named", c[0], None, False, c[0].span)  # the qualname's extent

    def list_type(self, c, meta):
        return s.TypeRef("list", None, c[0], False, self._span(meta))

    def map_type(self, c, meta):
        return s.TypeRef("map", None, c[-1], False, self._span(meta))

    def annotation(self, c, meta):
        return s.Annotation(c[0], tuple(_as_value(x) for x in c[1:]), self._span(meta))

    # -- systems

    def system(self, c, meta):
        span = self._span(meta)
        return s.System(c[1], tuple(c[2:]), self._doc(span), span)

    def text_clause(self, c, meta):
        keyword, value = c
        return s.Clause(keyword[_T_TEXT], self._string(value), self._span(meta))

    def handles(self, c, meta):
        return s.Clause("handles", c[1], self._span(meta))

    def auth(self, c, meta):
        settings = c[2] if len(c) > 2 else ()
        return s.Auth(c[1], settings, self._span(meta))

    def settings(self, c, meta):
        return tuple(c)

    def auth_settings(self, c, meta):
        return tuple(c)

    def auth_setting(self, c, meta):
        key, value = c
        return s.Setting(s.Name(key[_T_TEXT], self._tok_span(key)), _as_value(value), self._span(meta))

    def setting(self, c, meta):
        return s.Setting(c[0], _as_value(c[1]), self._span(meta))

    def entity(self, c, meta):
        span = self._span(meta)
        return s.Entity(c[1], tuple(self._nodes(c, s.Field)), self._doc(span), span)

    def expose(self, c, meta):
        span = self._span(meta)
        _, entity, path, *ops = c
        return s.Expose(entity, self._string(path), tuple(ops), self._doc(span), span)

    def operation(self, c, meta):
        span = self._span(meta)
        _, name, method, path, *rest = c
        params = tuple(x for x in rest if isinstance(x, s.Param))
        returns = next((x for x in rest if isinstance(x, s.TypeRef)), None)
        return s.Operation(name, method, self._string(path), params, returns, self._doc(span), span)

    def param(self, c, meta):
        return s.Param(c[0], c[1], self._span(meta))

    def event(self, c, meta):
        span = self._span(meta)
        return s.Event(c[1], c[2], self._doc(span), span)

    def deploy(self, c, meta):
        return s.Deploy(c[1], self._span(meta))

    # -- flows

    def flow(self, c, meta):
        span = self._span(meta)
        return s.Flow(c[1], tuple(c[2:]), self._doc(span), span)

    def endpoint(self, c, meta):
        keyword, ref = c
        return s.Clause(keyword[_T_TEXT], ref, self._span(meta))

    def trigger(self, c, meta):
        kind = c[1]
        return s.Trigger(kind.kind, kind.ref, kind.value, self._span(meta))

    def trigger_event(self, c, meta):
        return s.Trigger("event", c[1], None, self._span(meta))

    def trigger_every(self, c, meta):
        return s.Trigger("every", None, self._number(c[1]), self._span(meta))

    def trigger_cron(self, c, meta):
        return s.Trigger("cron", None, self._string(c[1]), self._span(meta))

    def trigger_webhook(self, c, meta):
        return s.Trigger("webhook", None, self._string(c[1]), self._span(meta))

    def trigger_manual(self, c, meta):
        note = self._string(c[1]) if len(c) > 1 else None
        return s.Trigger("manual", None, note, self._span(meta))

    def write_clause(self, c, meta):
        return s.Clause("write", c[1], self._span(meta))

    def on_error(self, c, meta):
        return s.Clause("on_error", c[1], self._span(meta))

    def retry(self, c, meta):
        attempts = self._number(c[1])
        backoff = c[2] if len(c) > 2 else None
        initial = self._number(c[3]) if len(c) > 3 else None
        maximum = self._number(c[4]) if len(c) > 4 else None
        return s.Retry(attempts, backoff, initial, maximum, self._span(meta))

    def map_block(self, c, meta):
        return s.MapBlock(tuple(c[1:]), self._span(meta))

    def flow_test(self, c, meta):
        _, name, given, expect = c
        return s.FlowTest(self._string(name), given, expect, self._span(meta))

    def assignment(self, c, meta):
        return s.Assignment(c[0], c[1], self._span(meta))

    # -- expressions

    def ref(self, c, meta):
        return s.Ref(c[0], c[0].span)

    def paren(self, c, meta):
        return c[0]

    def member(self, c, meta):
        return s.Member(c[0], c[1], self._span(meta))

    def call(self, c, meta):
        func = c[0]
        return s.Call(s.Name(func[_T_TEXT], self._tok_span(func)), tuple(c[1:]), self._span(meta))

    def unary(self, c, meta):
        op, operand = c
        return s.Unary(op[_T_TEXT], operand, self._span(meta))

    def binary(self, c, meta):
        left, op, right = c
        return s.Binary(op[_T_TEXT], left, right, self._span(meta))

    def if_expr(self, c, meta):
        _, cond, then, otherwise = c
        return s.IfExpr(cond, then, otherwise, self._span(meta))

    def match_expr(self, c, meta):
        _, subject, *arms = c
        return s.Match(subject, tuple(arms), self._span(meta))

    def match_arm(self, c, meta):
        pattern, expr = c
        if isinstance(pattern, s.Literal):
            pattern = pattern.value
        elif isinstance(pattern, s.Value) and pattern.kind == "symbol" and pattern.value == "_":
            pattern = None
        return s.MatchArm(pattern, expr, self._span(meta))

    def symbol_pattern(self, c, meta):
        return s.Value("symbol", c[0].text, c[0].span)

    def each_expr(self, c, meta):
        _, source, var, *body = c
        return s.Each(source, var, tuple(body), self._span(meta))

    def record_expr(self, c, meta):
        return s.Record(tuple(c[1:]), self._span(meta))


def _as_value(node) -> s.Value:
    """Values arrive as Literal (from the shared `literal` rule) or Value."""
    return node.value if isinstance(node, s.Literal) else node


# ---------------------------------------------------------------- the fast path

class _Fallback(Exception):
    """The fast path cannot take this input; Lark will say why."""


# Whitespace and comments between tokens, skipped in one step. Atomic, so a
# failed token match after it never backtracks into a comment.
_SKIP_TEMPLATE = "(?>(?:{})*)"
_END_GROUP = "integc_end_of_input"


class _FastParser:
    """Lark's LALR tables and contextual-lexer regexes, driven without Lark's per-token machinery."""

    def __init__(self, tables: dict):
        self._keywords = tables["keywords"]
        self._start = tables["start"]
        self._end = tables["end"]
        self._actions = tables["actions"]
        self._sizes = tables["sizes"]
        self._gotos = tables["gotos"]
        namespace = {f"G{index}": goto for index, goto in enumerate(self._gotos)}
        exec(tables["code"], namespace)  # noqa: S102 -- the reducers generated by _reducer_source
        self._reducers = [namespace[f"_r{index}"] for index in range(len(self._sizes))]
        self._lexer_of_state = tables["lexer_of_state"]
        self._lexer_specs = tables["lexers"]
        self._lexers: list = [None] * len(self._actions)
        self._compiled: dict[int, tuple] = {}

    def _lexer(self, state: int) -> tuple:
        """(match function, {regex terminal: {text: string terminal}}, the state's actions) for one parser
        state, built on first use."""
        index = self._lexer_of_state[state]
        compiled = self._compiled.get(index)
        if compiled is None:
            pattern, flags, unless = self._lexer_specs[index]
            compiled = self._compiled[index] = (re.compile(pattern, flags).match, unless)
        entry = self._lexers[state] = (*compiled, self._actions[state])
        return entry

    def _can_shift(self, state_stack: list[int], terminal: str) -> bool:
        actions, sizes, gotos = self._actions, self._sizes, self._gotos
        stack = list(state_stack)
        while True:
            action = actions[stack[-1]].get(terminal, _ERROR)
            if action == _ERROR:
                return False
            if action >= 0:
                return True
            size = sizes[~action]
            if size:
                del stack[-size:]
            target = gotos[~action].get(stack[-1])
            if target is None:
                return False
            stack.append(target)

    def parse(self, text: str, build: _Builder, max_depth: int) -> list:
        actions, reducers, lexers, keywords = self._actions, self._reducers, self._lexers, self._keywords
        count = text.count
        rfind = text.rfind
        states = [self._start]
        values: list = []
        places: list = []
        push_state, push_value, push_place = states.append, values.append, places.append
        pos = 0
        line = 1
        line_start = 0
        while True:
            state = states[-1]
            match, renames, state_actions = lexers[state] or self._lexer(state)
            found = match(text, pos)
            if found is None:
                raise _Fallback
            kind = found.lastgroup
            if kind == _END_GROUP:
                break
            end = found.end()
            begin = found.start(kind)
            value = text[begin:end]
            if count("\n", pos, begin):
                line += count("\n", pos, begin)
                line_start = rfind("\n", pos, begin) + 1
            pos = end
            if kind in renames:
                kind = renames[kind].get(value, kind)
            action = state_actions.get(kind, _ERROR)
            if action < 0 or action == _ERROR:
                if kind in keywords and not self._can_shift(states, kind) and self._can_shift(states, "NAME"):
                    kind = "NAME"
                    action = state_actions.get(kind, _ERROR)
                while action < 0:
                    reducers[~action](values, places, states, build)
                    action = actions[states[-1]].get(kind, _ERROR)
                if action == _ERROR:
                    raise _Fallback
            column = begin - line_start + 1
            token = (line, column, line, column + end - begin, 0, kind, value)
            push_state(action)
            push_value(token)
            push_place(token)
        end_state = self._end
        while states[-1] != end_state:
            action = actions[states[-1]].get("$END", _ERROR)
            if action >= 0:
                raise _Fallback
            reducers[~action](values, places, states, build)
        place = places[-1]
        if place is not None and place[4] > max_depth:
            raise _Fallback
        return values[-1]


_ERROR = 1 << 30  # "no action": larger than any state number


def _reducer_source(rules: list) -> str:
    """Python source with, for each Lark rule, a function `_r<index>` that reduces it on the parser's stacks.

    `_r<index>(values, places, states, builder)` pops the rule's children and pushes
    the node, its place and the goto state. The functions mirror Lark's
    parse-tree builder: terminals that Lark filters out are dropped, `_rule`
    children are spliced in, a `?rule` alternative with one kept child and no
    alias passes that child through, and a node's place runs from its first
    child to its last (only the start rule may match nothing).
    """
    source: list[str] = []
    for index, rule in enumerate(rules):
        expansion = rule.expansion
        size = len(expansion)
        origin = rule.origin.name
        name = rule.alias or origin
        inline = origin.startswith("_")
        kept = [(i, not sym.is_term and sym.name.startswith("_"))
                for i, sym in enumerate(expansion) if not (sym.is_term and sym.filter_out)]
        heights = [i for i, sym in enumerate(expansion) if not sym.is_term]
        at = lambda i: f"[{i - size}]"  # noqa: E731 -- stack offset of child i
        body = []
        if rule.options.expand1 and not rule.alias and len(kept) == 1 and not kept[0][1]:
            if size != 1:
                raise AssertionError(f"pass-through rule with filtered tokens: {rule}")
            body.append("ss[-1] = G[ss[-2]]")
        else:
            if not inline and not hasattr(_Builder, name):
                raise AssertionError(f"no AST builder for rule {name}")
            if size == 0 and origin != "start":
                raise AssertionError(f"empty rule other than start: {rule}")
            nest = 1 if (not inline and name in _NESTING_RULES) else 0
            if size == 0:
                body.append("m = None")
            elif size == 1 and not nest:
                body.append("m = ps[-1]")  # the same place, the same height
            else:
                if not heights:
                    height = str(nest)
                else:
                    parts = [f"ps{at(i)}[4]" for i in heights]
                    height = parts[0] if len(parts) == 1 else f"max({', '.join(parts)})"
                    height += f" + {nest}" if nest else ""
                body.append(f"a = ps[{-size}]; z = ps[-1]")
                body.append(f"m = (a[0], a[1], z[2], z[3], {height})")
            if inline and kept and kept[0][1] and kept[0][0] == 0:
                # a left-recursive list helper: extend the list already built
                body.append(f"c = vs[{-size}]")
                body.extend(f"c.extend(vs{at(i)})" if expand else f"c.append(vs{at(i)})" for i, expand in kept[1:])
            else:
                items = ", ".join((f"*vs{at(i)}" if expand else f"vs{at(i)}") for i, expand in kept)
                body.append(f"c = [{items}]")
            value = "c" if inline else f"b.{name}(c, m)"
            if size == 0:
                body.append(f"vs.append({value}); ps.append(m); ss.append(G[ss[-1]])")
            else:
                if size > 1:
                    body.append(f"del vs[{1 - size}:]; del ps[{1 - size}:]; del ss[{1 - size}:]")
                body.append(f"vs[-1] = {value}")
                if not (size == 1 and not nest):
                    body.append("ps[-1] = m")
                body.append("ss[-1] = G[ss[-2]]")
        source.append(f"def _r{index}(vs, ps, ss, b, G=G{index}):  # {origin} -> "
                      f"{' '.join(x.name for x in expansion)}\n" + "".join(f"    {line}\n" for line in body))
    return "".join(source)


_TABLES_FORMAT = 1


def _build_tables(lark) -> dict:
    """The fast path's tables, as plain data (marshal-able), from a Lark parser built with `_lark()`."""
    from lark.lexer import UnlessCallback
    from lark.parsers.lalr_analysis import Shift

    frontend = lark.parser
    keyword_lexer = frontend.lexer
    contextual = keyword_lexer._inner
    table = frontend.parser.parser.parse_table
    count = max(table.states) + 1
    rules: dict = {}
    actions: list[dict[str, int]] = [{} for _ in range(count)]
    gotos: dict[str, dict[int, int]] = {}
    for state, entries in table.states.items():
        for symbol, (kind, arg) in entries.items():
            if kind is Shift:
                if symbol.isupper() or symbol.startswith("$"):
                    actions[state][symbol] = arg
                else:
                    gotos.setdefault(symbol, {})[state] = arg
            else:
                actions[state][symbol] = ~rules.setdefault(arg, len(rules))
    rules = list(rules)
    ignore = sorted(lark.lexer_conf.ignore)
    regexps = {t.name: t.pattern.to_regexp() for t in lark.terminals}
    skip = _SKIP_TEMPLATE.format("|".join(f"(?:{regexps[name]})" for name in ignore))
    lexers: list[tuple] = []
    lexer_index: dict[int, int] = {}
    lexer_of_state = []
    for state in range(count):
        lexer = contextual.lexers[state]
        if id(lexer) not in lexer_index:
            scanner = lexer.scanner
            if len(scanner._mres) != 1:
                raise AssertionError(f"lexer of state {state} needs {len(scanner._mres)} regexes")
            pattern = scanner._mres[0]
            unless = {}
            for kind, callback in lexer.callback.items():
                if not isinstance(callback, UnlessCallback) or any(
                        t.pattern.type != "str" or t.pattern.flags for t in callback.scanner.terminals):
                    raise AssertionError(f"unexpected lexer callback for {kind}: {callback!r}")
                unless[kind] = {t.pattern.value: t.name for t in callback.scanner.terminals}
            lexer_index[id(lexer)] = len(lexers)
            lexers.append((f"{skip}(?:{pattern.pattern}|(?P<{_END_GROUP}>\\Z))", pattern.flags, unless))
        lexer_of_state.append(lexer_index[id(lexer)])
    return {
        "format": _TABLES_FORMAT,
        "keywords": frozenset(keyword_lexer._keywords),
        "start": table.start_states["start"],
        "end": table.end_states["start"],
        "actions": actions,
        "sizes": [len(rule.expansion) for rule in rules],
        "gotos": [gotos.get(rule.origin.name, {}) for rule in rules],
        "code": compile(_reducer_source(rules), "<integc parser reducers>", "exec"),
        "lexer_of_state": lexer_of_state,
        "lexers": lexers,
    }


def _tables_cache_path() -> Path | None:
    """Where the tables for this grammar, this Lark and this Python are cached: in this user's private
    cache folder (the file holds code that is run), or None when there is none."""
    import hashlib
    import importlib.util
    import os
    import sys

    from integc.cache import user_cache_dir

    try:
        spec = importlib.util.find_spec("lark")
        stamp = os.stat(spec.origin) if spec and spec.origin else None
    except (ImportError, OSError, ValueError):
        return None
    folder = user_cache_dir()
    if folder is None:
        return None
    key = hashlib.sha256("\0".join([
        _grammar_text(), f"{stamp.st_size}:{stamp.st_mtime_ns}:{spec.origin}" if stamp else "",
        sys.version, str(_TABLES_FORMAT), Path(__file__).read_text(encoding="utf-8")]).encode("utf-8")).hexdigest()
    return folder / f"parser-{key[:32]}.marshal"


@lru_cache(maxsize=1)
def _fast() -> _FastParser:
    """The fast parser: its tables from the user cache when present, else built with Lark (and cached)."""
    import marshal
    import os
    import tempfile

    path = _tables_cache_path()
    if path is not None:
        try:
            tables = marshal.loads(path.read_bytes())
            if isinstance(tables, dict) and tables.get("format") == _TABLES_FORMAT:
                return _FastParser(tables)
        except Exception:  # noqa: BLE001 -- a damaged or foreign cache file: build the tables again
            pass
    tables = _build_tables(_lark())
    if path is not None:
        try:
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".parser-", suffix=".tmp")
            with os.fdopen(handle, "wb") as stream:
                stream.write(marshal.dumps(tables))
            os.replace(temporary, path)
        except OSError:
            pass
    return _FastParser(tables)


# ---------------------------------------------------------------- entry point

_DOC_LINE = re.compile(r"^[ \t]*///[ ]?(.*?)[ \t]*$", re.M)


def _doc_lines(text: str) -> dict[int, str]:
    docs = {}
    line, at = 1, 0
    for match in _DOC_LINE.finditer(text):
        start = match.start()
        line += text.count("\n", at, start)
        at = start
        docs[line] = match.group(1)
    return docs


# One pass over the whole text decides whether the line-by-line credential
# scan (secrets_scan) can find anything. For each of its patterns, a cheaper
# regex that every match of the pattern also matches (a literal part of it);
# none of the patterns can match across a newline, so a match the scan would
# find on a line is a match in the whole text too: no hint, no finding. A
# pattern not listed here is used as it is.
_CREDENTIAL_HINTS = {
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----": r"PRIVATE KEY-----",
    r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{10,}": r"k_(?:live|test)_",
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b": r"A[KS]IA",
    r"\bgh[pousr]_[A-Za-z0-9]{30,}": r"gh[pousr]_",
    r"\bxox[abposr]-[A-Za-z0-9-]{10,}": r"xox[abposr]-",
    r"\bAIza[0-9A-Za-z_\-]{35}": r"AIza",
    r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*": r"eyJ",
    r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@\"]+:[^\s/@\"]+@": r"://[^\s/:@\"]+:[^\s/@\"]+@",
    r"\b[a-zA-Z][a-zA-Z0-9+.-]{0,31}://[^\s/:@\"]{1,256}:[^\s/@\"]{1,256}@": r"://[^\s/:@\"]{1,256}:[^\s/@\"]{1,256}@",
}
_MIGHT_HOLD_CREDENTIALS = re.compile("|".join(
    f"(?:{_CREDENTIAL_HINTS.get(p.pattern, p.pattern)})" for _, p in _CREDENTIAL_PATTERNS)).search


def parse_module(text: str, file: str, diagnostics: Diagnostics,
                 max_depth: int = DEFAULT_MAX_DEPTH) -> s.Module | None:
    """Parse one file; problems go to `diagnostics`, and None means no usable tree."""
    for finding in (scan_credentials(text, file) if _MIGHT_HOLD_CREDENTIALS(text) else ()):
        diagnostics.report("E0502", finding.message, finding.span,
                           help='reference a secret by name (`secret "name"`) and supply its value at run time')
    found = Diagnostics()
    try:
        declarations = _fast().parse(text, _Builder(file, _doc_lines(text), found, text), max_depth)
    except _Fallback:
        _diagnose(text, file, diagnostics, max_depth)
        return None
    diagnostics.extend(found)
    end = text.count("\n") + 1
    return s.Module(file, tuple(declarations), Span(file, 1, 1, end, 1))


def _diagnose(text: str, file: str, diagnostics: Diagnostics, max_depth: int) -> None:
    """Report why the fast path refused `text`, from Lark's own parse (a syntax error or E0102)."""
    from lark.exceptions import UnexpectedInput

    try:
        tree = _lark().parse(text)
    except UnexpectedInput as error:
        _report_syntax_error(error, text, file, diagnostics)
        return
    too_deep = _first_too_deep(tree, max_depth)
    if too_deep is None:
        raise AssertionError(f"the fast parser refused {file}, which Lark accepts")
    diagnostics.report("E0102", f"nesting too deep (the limit is {max_depth} levels)",
                       Span(file, too_deep.meta.line, too_deep.meta.column,
                            too_deep.meta.end_line, too_deep.meta.end_column),
                       help="split the expression into several smaller ones, or raise "
                            "`[limits] max_depth` in integc.toml")


def _first_too_deep(tree, max_depth: int):
    from lark import Tree

    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if node.data in _NESTING_RULES:
            depth += 1
            if depth > max_depth:
                return node
        stack.extend((child, depth) for child in node.children if isinstance(child, Tree))
    return None


def _report_syntax_error(error, text: str, file: str, diagnostics: Diagnostics) -> None:
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    line, column = error.line, error.column
    if line is None or line < 1:
        line, column = _end_position(text)
    span = Span(file, line, column, line, column + 1)
    if isinstance(error, UnexpectedCharacters):
        found = text[error.pos_in_stream] if error.pos_in_stream < len(text) else ""
        if found == '"':
            message, help_text = "unterminated string", "close the string with `\"` on the same line"
        elif found == "`":
            message, help_text = "unterminated `quoted name`", "close the name with a backtick on the same line"
        else:
            message = f"unexpected character {found!r}"
            help_text = _expected_help(error.allowed)
        diagnostics.report("E0101", message, span, help=help_text)
        return
    expected = _accepted_by(error)
    if isinstance(error, UnexpectedEOF) or (isinstance(error, UnexpectedToken) and error.token.type == "$END"):
        line, column = _end_position(text)
        diagnostics.report("E0101", "unexpected end of file", Span(file, line, column, line, column + 1),
                           help=_expected_help(expected))
        return
    token = error.token
    token_span = Span(file, token.line, token.column, token.end_line or token.line,
                      token.end_column or token.column + 1)
    diagnostics.report("E0101", f"unexpected {_describe_token(token)}", token_span, help=_expected_help(expected))


def _accepted_by(error) -> set[str]:
    state = getattr(error, "state", None)
    stack = getattr(state, "state_stack", None)
    if stack:
        return _lark().parser.lexer.acceptable(stack)
    return set(getattr(error, "expected", None) or ())


def _describe_token(token) -> str:
    if token.type in ("NAME", "QUOTED_NAME"):
        return f"name `{token}`"
    if token.type == "STRING":
        return "string"
    if token.type in ("INT", "FLOAT"):
        return f"number {token}"
    text = str(token)
    if re.fullmatch(r"[A-Za-z_]+", text):
        return f"keyword `{text}`"
    return f"`{text}`"


def _expected_help(expected) -> str | None:
    words = sorted({_describe_terminal(name) for name in expected if _shown(name)})
    if not words:
        return None
    if len(words) > 8:
        words = words[:8] + ["..."]
    return "expected " + ", ".join(words)


def _shown(name: str) -> bool:
    """Terminals named `_...` are filtered out by the grammar, except Lark's anonymous ones."""
    return not name.startswith("_") or name.startswith("__ANON_")


def _end_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1
