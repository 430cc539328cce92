# A copy of compiler/parser.py before the fast parser (commit bc47eac): the reference that
# tests/perf/test_parser_equivalence.py compares the fast parser against. Later changes to what
# the parser produces are applied here too, marked with their commit: be47c13 (doc comments
# belong to the declaration that starts the line), 654103f (numbers keep their text), 2a7f4dc
# (huge number literals are E0105), "anon-terminals" (E0101 help describes Lark's anonymous
# terminals by their pattern: `__ANON_0` is `at`, not `->`, and `->` is no longer left out).
"""Source text -> AST. The only module that imports Lark.

Lark LALR with the contextual lexer, positions propagated, grammar analysis
cached. LALR merges states, so the contextual lexer alone would still turn a
field named `from` into the FROM keyword when a keyword could follow the
*merged* state; `_KeywordLexer` asks the parse table whether the keyword can
really be shifted and falls back to a plain name when it cannot.
"""
from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.parsers.lalr_analysis import Shift

from integc import syntax as s
from integc.diagnostics import Diagnostics, Span
from integc.secrets_scan import scan_credentials

DEFAULT_MAX_DEPTH = 128

# Nodes that nest: the depth limit counts only these, so it measures how deep
# an expression or type is, whatever the file's structure around it.
_NESTING_RULES = frozenset({
    "binary", "unary", "member", "call", "if_expr", "match_expr", "match_arm", "each_expr",
    "record_expr", "type_ref", "list_value", "object_value", "assignment", "paren",
})

_TERMINAL_WORDS = {
    "NAME": "a name", "QUOTED_NAME": "a `quoted name`", "STRING": "a string", "INT": "a number",
    "FLOAT": "a number", "DURATION": "a duration such as 15m", "LBRACE": "`{`", "RBRACE": "`}`",
    "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`", "LESSTHAN": "`<`", "MORETHAN": "`>`",
    "COLON": "`:`", "COMMA": "`,`", "DOT": "`.`", "EQUAL": "`=`", "AT": "`@`", "QMARK": "`?`",
    "CMP_OP": "a comparison", "COALESCE": "`??`", "ADD_OP": "`+` or `-`", "MUL_OP": "`*` or `/`",
    "$END": "the end of the file",  # (anon-terminals: no "__ANON_0": "`->`")
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
def _lark() -> Lark:
    parser = Lark(_grammar_text(), parser="lalr", lexer="contextual", propagate_positions=True,
                  cache=True, maybe_placeholders=False)
    frontend = parser.parser
    frontend.lexer = _KeywordLexer(frontend.lexer, frontend.parser.parser.parse_table, parser.terminals)
    return parser


@lru_cache(maxsize=1)
def _terminal_patterns() -> dict[str, str]:
    return {t.name: t.pattern.value for t in _lark().terminals if t.pattern.type == "str"}


class _KeywordLexer:
    """Wraps Lark's contextual lexer; demotes keywords the parser cannot take to names."""

    _identifier = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

    def __init__(self, inner, parse_table, terminals):
        self._inner = inner
        self._states = parse_table.states
        self._keywords = frozenset(
            t.name for t in terminals if t.pattern.type == "str" and self._identifier.match(t.pattern.value))

    def lex(self, lexer_state, parser_state):
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


# ---------------------------------------------------------------- tree -> AST

class _ToAst(Transformer):
    def __init__(self, file: str, docs: dict[int, str], diagnostics: Diagnostics, text: str = ""):
        super().__init__(visit_tokens=False)
        self._file = file
        self._docs = docs
        self._diagnostics = diagnostics
        self._lines = text.split("\n")

    def _starts_its_line(self, span: Span) -> bool:  # (be47c13)
        if span.line > len(self._lines):
            return True
        return not self._lines[span.line - 1][:span.column - 1].strip()

    # -- helpers

    def _span(self, meta) -> Span:
        if getattr(meta, "empty", True):
            return Span(self._file, 1, 1, 1, 1)
        return Span(self._file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok_span(self, token: Token) -> Span:
        return Span(self._file, token.line, token.column, token.end_line, token.end_column)

    def _doc(self, span: Span) -> str | None:
        lines = []
        line = span.line - 1
        if line in self._docs and not self._starts_its_line(span):  # (be47c13)
            return None
        while line in self._docs:
            lines.append(self._docs[line])
            line -= 1
        return "\n".join(reversed(lines)) if lines else None

    def _string(self, token: Token) -> s.Value:
        value, bad = decode_string(str(token))
        span = self._tok_span(token)
        if bad is not None:
            self._diagnostics.report("E0105", f"invalid escape `{bad}` in string", span,
                                     help='the escapes are \\" \\\\ \\n \\t \\r and \\u{hex}')
        return s.Value("string", value, span)

    def _number(self, token: Token, negative: bool = False) -> s.Value:
        span = self._tok_span(token)
        text = ("-" if negative else "") + str(token)
        if token.type == "INT":
            value = int(text) if len(text) <= 25 else INT_MAX + 1  # (2a7f4dc)
            if not INT_MIN <= value <= INT_MAX:
                self._diagnostics.report("E0105", "integer literal does not fit in 64 bits", span)
                value = 0
            return s.Value("int", value, span, text)  # (654103f)
        if token.type == "DURATION":
            amount, unit = _DURATION.fullmatch(str(token)).groups()
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

    def _token_value(self, token: Token) -> s.Value:
        if token.type == "STRING":
            return self._string(token)
        if token.type in ("INT", "FLOAT", "DURATION"):
            return self._number(token)
        span = self._tok_span(token)
        if token.type == "TRUE":
            return s.Value("bool", True, span)
        if token.type == "FALSE":
            return s.Value("bool", False, span)
        return s.Value("null", None, span)

    @staticmethod
    def _tokens(children, kind: str | None = None) -> list[Token]:
        return [c for c in children if isinstance(c, Token) and (kind is None or c.type == kind)]

    @staticmethod
    def _nodes(children, cls) -> list:
        return [c for c in children if isinstance(c, cls)]

    # -- names

    @v_args(meta=True)
    def name(self, meta, children):
        token = children[0]
        text = str(token)
        if token.type == "QUOTED_NAME":
            text = text[1:-1]
        return s.Name(text, self._tok_span(token))

    @v_args(meta=True)
    def qualname(self, meta, children):
        return s.QualName(tuple(children), self._span(meta))

    # -- values

    @v_args(meta=True)
    def literal(self, meta, children):
        return s.Literal(self._token_value(children[0]), self._span(meta))

    @v_args(meta=True)
    def negative_number(self, meta, children):
        sign, number = children
        value = self._number(number, negative=str(sign) == "-")
        return s.Literal(s.Value(value.kind, value.value, self._span(meta), value.text), self._span(meta))

    @v_args(meta=True)
    def symbol_value(self, meta, children):
        return s.Value("symbol", children[0].text, children[0].span)

    @v_args(meta=True)
    def list_value(self, meta, children):
        return s.Value("list", tuple(_as_value(c) for c in children), self._span(meta))

    @v_args(meta=True)
    def object_value(self, meta, children):
        pairs = []
        for key, value in zip(children[::2], children[1::2]):
            key_text = key.text if isinstance(key, s.Name) else self._string(key).value
            pairs.append((key_text, _as_value(value)))
        return s.Value("object", tuple(pairs), self._span(meta))

    # -- declarations

    @v_args(meta=True)
    def start(self, meta, children):
        return list(children)

    @v_args(meta=True)
    def package(self, meta, children):
        _, qualname, version = children
        return s.Package(qualname, self._string(version), self._span(meta))

    @v_args(meta=True)
    def import_decl(self, meta, children):
        return s.Import(self._string(children[1]), self._span(meta))

    @v_args(meta=True)
    def type_decl(self, meta, children):
        span = self._span(meta)
        return s.TypeDecl(children[1], tuple(self._nodes(children, s.Field)), self._doc(span), span)

    @v_args(meta=True)
    def enum_decl(self, meta, children):
        span = self._span(meta)
        return s.EnumDecl(children[1], tuple(self._nodes(children, s.EnumMember)), self._doc(span), span)

    @v_args(meta=True)
    def enum_member(self, meta, children):
        span = self._span(meta)
        wire = self._string(children[1]) if len(children) > 1 else None
        return s.EnumMember(children[0], wire, self._doc(span), span)

    @v_args(meta=True)
    def field(self, meta, children):
        span = self._span(meta)
        name, type_ref, *rest = children
        annotations = tuple(c for c in rest if isinstance(c, s.Annotation))
        defaults = [_as_value(c) for c in rest if not isinstance(c, s.Annotation)]
        return s.Field(name, type_ref, annotations, defaults[0] if defaults else None, self._doc(span), span)

    @v_args(meta=True)
    def type_ref(self, meta, children):
        base = children[0]
        optional = len(children) > 1
        return s.TypeRef(base.kind, base.name, base.item, optional, self._span(meta))

    @v_args(meta=True)
    def named_type(self, meta, children):
        return s.TypeRef("named", children[0], None, False, self._span(meta))

    @v_args(meta=True)
    def list_type(self, meta, children):
        return s.TypeRef("list", None, children[0], False, self._span(meta))

    @v_args(meta=True)
    def map_type(self, meta, children):
        return s.TypeRef("map", None, children[-1], False, self._span(meta))

    @v_args(meta=True)
    def annotation(self, meta, children):
        return s.Annotation(children[0], tuple(_as_value(c) for c in children[1:]), self._span(meta))

    # -- systems

    @v_args(meta=True)
    def system(self, meta, children):
        span = self._span(meta)
        return s.System(children[1], tuple(children[2:]), self._doc(span), span)

    @v_args(meta=True)
    def text_clause(self, meta, children):
        keyword, value = children
        return s.Clause(str(keyword), self._string(value), self._span(meta))

    @v_args(meta=True)
    def handles(self, meta, children):
        return s.Clause("handles", children[1], self._span(meta))

    @v_args(meta=True)
    def auth(self, meta, children):
        settings = children[2] if len(children) > 2 else ()
        return s.Auth(children[1], settings, self._span(meta))

    @v_args(meta=True)
    def settings(self, meta, children):
        return tuple(children)

    @v_args(meta=True)
    def auth_settings(self, meta, children):
        return tuple(children)

    @v_args(meta=True)
    def auth_setting(self, meta, children):
        key, value = children
        return s.Setting(s.Name(str(key), self._tok_span(key)), _as_value(value), self._span(meta))

    @v_args(meta=True)
    def setting(self, meta, children):
        return s.Setting(children[0], _as_value(children[1]), self._span(meta))

    @v_args(meta=True)
    def entity(self, meta, children):
        span = self._span(meta)
        return s.Entity(children[1], tuple(self._nodes(children, s.Field)), self._doc(span), span)

    @v_args(meta=True)
    def expose(self, meta, children):
        span = self._span(meta)
        _, entity, path, *ops = children
        return s.Expose(entity, self._string(path), tuple(ops), self._doc(span), span)

    @v_args(meta=True)
    def operation(self, meta, children):
        span = self._span(meta)
        _, name, method, path, *rest = children
        params = tuple(c for c in rest if isinstance(c, s.Param))
        returns = next((c for c in rest if isinstance(c, s.TypeRef)), None)
        return s.Operation(name, method, self._string(path), params, returns, self._doc(span), span)

    @v_args(meta=True)
    def param(self, meta, children):
        return s.Param(children[0], children[1], self._span(meta))

    @v_args(meta=True)
    def event(self, meta, children):
        span = self._span(meta)
        return s.Event(children[1], children[2], self._doc(span), span)

    @v_args(meta=True)
    def deploy(self, meta, children):
        return s.Deploy(children[1], self._span(meta))

    # -- flows

    @v_args(meta=True)
    def flow(self, meta, children):
        span = self._span(meta)
        return s.Flow(children[1], tuple(children[2:]), self._doc(span), span)

    @v_args(meta=True)
    def endpoint(self, meta, children):
        keyword, ref = children
        return s.Clause(str(keyword), ref, self._span(meta))

    @v_args(meta=True)
    def trigger(self, meta, children):
        kind = children[1]
        return s.Trigger(kind.kind, kind.ref, kind.value, self._span(meta))

    @v_args(meta=True)
    def trigger_event(self, meta, children):
        return s.Trigger("event", children[1], None, self._span(meta))

    @v_args(meta=True)
    def trigger_every(self, meta, children):
        return s.Trigger("every", None, self._number(children[1]), self._span(meta))

    @v_args(meta=True)
    def trigger_cron(self, meta, children):
        return s.Trigger("cron", None, self._string(children[1]), self._span(meta))

    @v_args(meta=True)
    def trigger_webhook(self, meta, children):
        return s.Trigger("webhook", None, self._string(children[1]), self._span(meta))

    @v_args(meta=True)
    def trigger_manual(self, meta, children):
        note = self._string(children[1]) if len(children) > 1 else None
        return s.Trigger("manual", None, note, self._span(meta))

    @v_args(meta=True)
    def write_clause(self, meta, children):
        return s.Clause("write", children[1], self._span(meta))

    @v_args(meta=True)
    def on_error(self, meta, children):
        return s.Clause("on_error", children[1], self._span(meta))

    @v_args(meta=True)
    def retry(self, meta, children):
        attempts = self._number(children[1])
        backoff = children[2] if len(children) > 2 else None
        initial = self._number(children[3]) if len(children) > 3 else None
        maximum = self._number(children[4]) if len(children) > 4 else None
        return s.Retry(attempts, backoff, initial, maximum, self._span(meta))

    @v_args(meta=True)
    def map_block(self, meta, children):
        return s.MapBlock(tuple(children[1:]), self._span(meta))

    @v_args(meta=True)
    def flow_test(self, meta, children):
        _, name, given, expect = children
        return s.FlowTest(self._string(name), given, expect, self._span(meta))

    @v_args(meta=True)
    def assignment(self, meta, children):
        return s.Assignment(children[0], children[1], self._span(meta))

    # -- expressions

    @v_args(meta=True)
    def ref(self, meta, children):
        return s.Ref(children[0], children[0].span)

    def paren(self, children):
        return children[0]

    @v_args(meta=True)
    def member(self, meta, children):
        return s.Member(children[0], children[1], self._span(meta))

    @v_args(meta=True)
    def call(self, meta, children):
        func = children[0]
        return s.Call(s.Name(str(func), self._tok_span(func)), tuple(children[1:]), self._span(meta))

    @v_args(meta=True)
    def unary(self, meta, children):
        op, operand = children
        return s.Unary(str(op), operand, self._span(meta))

    @v_args(meta=True)
    def binary(self, meta, children):
        left, op, right = children
        return s.Binary(str(op), left, right, self._span(meta))

    @v_args(meta=True)
    def if_expr(self, meta, children):
        _, cond, then, otherwise = children
        return s.IfExpr(cond, then, otherwise, self._span(meta))

    @v_args(meta=True)
    def match_expr(self, meta, children):
        _, subject, *arms = children
        return s.Match(subject, tuple(arms), self._span(meta))

    @v_args(meta=True)
    def match_arm(self, meta, children):
        pattern, expr = children
        if isinstance(pattern, s.Literal):
            pattern = pattern.value
        elif isinstance(pattern, s.Value) and pattern.kind == "symbol" and pattern.value == "_":
            pattern = None
        return s.MatchArm(pattern, expr, self._span(meta))

    @v_args(meta=True)
    def symbol_pattern(self, meta, children):
        return s.Value("symbol", children[0].text, children[0].span)

    @v_args(meta=True)
    def each_expr(self, meta, children):
        _, source, var, *body = children
        return s.Each(source, var, tuple(body), self._span(meta))

    @v_args(meta=True)
    def record_expr(self, meta, children):
        return s.Record(tuple(children[1:]), self._span(meta))


def _as_value(node) -> s.Value:
    """Values arrive as Literal (from the shared `literal` rule) or Value."""
    return node.value if isinstance(node, s.Literal) else node


# ---------------------------------------------------------------- entry point

_DOC_LINE = re.compile(r"^[ \t]*///[ ]?(.*?)[ \t]*$")


def _doc_lines(text: str) -> dict[int, str]:
    return {number: match.group(1)
            for number, line in enumerate(text.split("\n"), start=1)
            if (match := _DOC_LINE.match(line))}


def parse_module(text: str, file: str, diagnostics: Diagnostics,
                 max_depth: int = DEFAULT_MAX_DEPTH) -> s.Module | None:
    """Parse one file; problems go to `diagnostics`, and None means no usable tree."""
    for finding in scan_credentials(text, file):
        diagnostics.report("E0502", finding.message, finding.span,
                           help='reference a secret by name (`secret "name"`) and supply its value at run time')
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as error:
        _report_syntax_error(error, text, file, diagnostics)
        return None
    too_deep = _first_too_deep(tree, max_depth)
    if too_deep is not None:
        diagnostics.report("E0102", f"nesting too deep (the limit is {max_depth} levels)",
                           Span(file, too_deep.meta.line, too_deep.meta.column,
                                too_deep.meta.end_line, too_deep.meta.end_column),
                           help="split the expression into several smaller ones, or raise "
                                "`[limits] max_depth` in integc.toml")
        return None
    try:
        declarations = _ToAst(file, _doc_lines(text), diagnostics, text).transform(tree)
    except VisitError as error:  # a transformer bug: surface the original
        raise error.orig_exc from None
    end = text.count("\n") + 1
    return s.Module(file, tuple(declarations), Span(file, 1, 1, end, 1))


def _first_too_deep(tree: Tree, max_depth: int) -> Tree | None:
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if node.data in _NESTING_RULES:
            depth += 1
            if depth > max_depth:
                return node
        stack.extend((child, depth) for child in node.children if isinstance(child, Tree))
    return None


def _report_syntax_error(error: UnexpectedInput, text: str, file: str, diagnostics: Diagnostics) -> None:
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


def _accepted_by(error: UnexpectedInput) -> set[str]:
    state = getattr(error, "state", None)
    stack = getattr(state, "state_stack", None)
    if stack:
        return _lark().parser.lexer.acceptable(stack)
    return set(getattr(error, "expected", None) or ())


def _describe_token(token: Token) -> str:
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
    words = sorted({_describe_terminal(name) for name in expected
                    if not name.startswith("_") or name.startswith("__ANON_")})  # (anon-terminals)
    if not words:
        return None
    if len(words) > 8:
        words = words[:8] + ["..."]
    return "expected " + ", ".join(words)


def _end_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1
