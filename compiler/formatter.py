"""`integc fmt`: one canonical layout for .integ files.

The formatter reprints the token stream of a file, taken from the same Lark
grammar and keyword-aware lexer as the compiler, so the tokens (and hence the
meaning) never change: only white space, optional commas and the order of
`package` / `import` lines do. Comments (`#` and `///`) are tokens the
grammar ignores; they are collected with a lexer callback and printed where
they were, relative to the code around them.

The style (docs/ci.md, "Formatting") in short:

- 2-space indentation; blocks (`type`, `entity`, `system`, `flow`, `map`,
  `each`, records) hold one member per line, without commas;
- small lists stay on one line, comma-separated: `{ list, get }`,
  `enum Tier { free, pro }`, `match t { a -> 1, b -> 2 }`,
  `auth api_key { header "X-Api-Key", secret "k" }`, `["a", "b"]`, as long
  as the line fits in 100 columns and nothing inside carries a comment;
  otherwise one item per line (a `match` keeps the comma before an arm that
  starts with `-` or `+`: `2` + newline + `-7 -> 3` would read as `2 - 7`);
- one space around `=`, `->`, binary operators and after `:` and `,`; none
  inside `()`/`[]`, around `.`, before `?`, in `list<T>`, after `@` or a
  unary minus, or between a function (or annotation) name and `(`;
- the `package` line first, then the imports sorted by path, then every other
  declaration in its original order, one blank line between declarations;
- inside blocks, blank lines between members are kept (at most one); blank
  lines next to comments are kept, so a `///` block stays attached (or not)
  to exactly what it documented; a `///` comment that documents nothing gets
  a blank line after it where the new layout would put a member (or a
  documenting `///` block) right below it;
- a comment that ended a line still ends that line; a comment on its own line
  stays on its own line, indented like the code that follows it.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

from lark import Lark, Token, Tree

from integc import syntax as s
from integc.diagnostics import Diagnostic, Diagnostics

WIDTH = 100
INDENT = 2
CONTINUATION = 4

# The printer looks at token *values* for punctuation (Lark's names for
# anonymous terminals are not stable).
_TIGHT_BEFORE = {",", ")", "]", ".", "?", ":"}
_TIGHT_AFTER = {"(", "[", ".", "@"}

# Tokens that can continue an expression (binary operators, `.`, a call's `(`). A match arm whose
# pattern starts with one (`-7 -> 3`) would be read as part of the previous arm's result
# (`2 - 7`) without the comma between them, so the expanded layout keeps that comma.
_CONTINUES_TYPES = {"ADD_OP", "MUL_OP", "CMP_OP", "COALESCE", "OR", "AND"}
_CONTINUES_VALUES = {".", "(", "["}


def _continues_expression(token: Token) -> bool:
    return token.type in _CONTINUES_TYPES or token.value in _CONTINUES_VALUES


class FormatError(Exception):
    """The file cannot be formatted: it has syntax errors (the diagnostics say which)."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


class _NeedsBreak(Exception):
    """Raised while trying a one-line layout that cannot be one line."""


# ---------------------------------------------------------------- parsing

_LOCK = threading.Lock()
_COLLECTED: list[Token] = []


@lru_cache(maxsize=1)
def _lark() -> Lark:
    from integc.parser import _grammar_text, _KeywordLexer  # the compiler's own grammar and lexer

    parser = Lark(_grammar_text(), parser="lalr", lexer="contextual", propagate_positions=True,
                  keep_all_tokens=True, maybe_placeholders=False,
                  lexer_callbacks={"COMMENT": _COLLECTED.append, "DOC_COMMENT": _COLLECTED.append})
    frontend = parser.parser
    frontend.lexer = _KeywordLexer(frontend.lexer, frontend.parser.parser.parse_table, parser.terminals)
    return parser


def _parse_all_tokens(text: str) -> tuple[Tree, list[Token]]:
    with _LOCK:
        _COLLECTED.clear()
        tree = _lark().parse(text)
        comments = sorted(_COLLECTED, key=lambda t: t.start_pos)
        _COLLECTED.clear()
    return tree, comments


def normalize_newlines(text: str) -> str:
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


@lru_cache(maxsize=1)
def parser_inherits_docs() -> bool:
    """Does the parser give a `///` block to members that share the documented line?

    (It did: `/// d` + `enum E { a }` documented the member `a` too.) The
    formatter keeps such members on that line so the meaning cannot change,
    whichever way the parser behaves.
    """
    from integc.parser import parse_module

    module = parse_module("/// d\nenum E { a }\n", "<probe>", Diagnostics())
    return bool(module and module.declarations[0].members[0].doc)


def _doc_positions(module: s.Module) -> dict[tuple[int, int], str | None]:
    """(line, column) of every documentable node -> its doc as the parser saw it."""
    docs: dict[tuple[int, int], str | None] = {}

    def note(node) -> None:
        docs[(node.span.line, node.span.column)] = node.doc

    for decl in module.declarations:
        if isinstance(decl, (s.TypeDecl, s.EnumDecl, s.System, s.Flow)):
            note(decl)
        if isinstance(decl, s.TypeDecl):
            for f in decl.fields:
                note(f)
        elif isinstance(decl, s.EnumDecl):
            for m in decl.members:
                note(m)
        elif isinstance(decl, s.System):
            for member in decl.members:
                if isinstance(member, (s.Entity, s.Expose, s.Operation, s.Event)):
                    note(member)
                if isinstance(member, s.Entity):
                    for f in member.fields:
                        note(f)
    return docs


def _documenting_lines(text: str, docs: dict[tuple[int, int], str | None]) -> frozenset[int]:
    """Lines of the `///` comments that document a node (as parser._Builder._doc reads them).

    Every other `///` comment documents nothing: one after code on its line
    (`a, /// x`), or a block before a member that shares its line with code
    (`/// d` + `, b }`). The printer may put such a comment on a line of its
    own, or that member at the start of one; it then keeps a blank line
    between them, so that the comment still documents nothing.
    """
    from integc.parser import _doc_lines

    lines = _doc_lines(text)
    attached: set[int] = set()
    for (line, _), doc in docs.items():
        if doc is None:
            continue
        line -= 1
        while line in lines and line not in attached:
            attached.add(line)
            line -= 1
    return frozenset(attached)


# ---------------------------------------------------------------- entry points

@dataclass(frozen=True)
class Formatted:
    text: str
    kept: str | None = None  # why the file was left as it was (the layout could not be changed safely)


def format_text(text: str, file: str = "<input>") -> Formatted:
    """Format one file's text. Raises FormatError on syntax errors.

    The result is checked: it must parse to the same syntax tree (spans aside,
    imports compared as a set), documentation included, and keep every
    comment. When it does not (a layout the formatter cannot move without
    changing what a `///` block documents, or a formatter defect), the text is
    returned as it was, with the reason (_kept_reason).
    """
    from integc.parser import parse_module

    text = normalize_newlines(text)
    diagnostics = Diagnostics()
    module = parse_module(text, file, diagnostics)
    if module is None:
        raise FormatError([d for d in diagnostics.sorted() if d.is_error])
    tree, comments = _parse_all_tokens(text)
    docs = _doc_positions(module)
    printer = _Printer(text, comments, docs, parser_inherits_docs(), _documenting_lines(text, docs))
    formatted = printer.file(tree)
    check = Diagnostics()
    again = parse_module(formatted, file, check)
    reason = _kept_reason(module, again, check, comments, formatted)
    if reason is not None:
        return Formatted(text, reason)
    return Formatted(formatted)


def _kept_reason(module: s.Module, again: s.Module | None, check: Diagnostics, comments: list[Token],
                 formatted: str) -> str | None:
    """Why the formatted text cannot replace the original (None: it can), naming the actual problem."""
    if again is None:
        errors = [d for d in check.sorted() if d.is_error]
        where = f" at line {errors[0].span.line}" if errors and errors[0].span else ""
        first = f" ({errors[0].code}{where}: {errors[0].message})" if errors else ""
        return f"the new layout would not parse{first}; this is a formatter bug, please report it"
    if _shape(again) != _shape(module):
        if _shape(again, docs=False) == _shape(module, docs=False):
            return "its layout cannot be changed without changing what its `///` comments document"
        return "the new layout would parse to a different syntax tree; this is a formatter bug, please report it"
    if sorted(c.value.rstrip() for c in comments) != sorted(comment_texts(formatted)):
        return "the new layout would lose or change comments; this is a formatter bug, please report it"
    return None


def format_source(text: str, file: str = "<input>") -> str:
    """The canonical form of one file's text. Raises FormatError on syntax errors."""
    return format_text(text, file).text


def _shape(module: s.Module, docs: bool = True) -> tuple:
    """The syntax tree without positions (and without `///` docs unless docs); imports as a
    sorted list, the package first."""
    skipped = {"span"} if docs else {"span", "doc"}

    def walk(node):
        if isinstance(node, (list, tuple)):
            return tuple(walk(n) for n in node)
        if hasattr(node, "__dataclass_fields__"):
            return (type(node).__name__,) + tuple(
                walk(getattr(node, f)) for f in node.__dataclass_fields__ if f not in skipped)
        return node
    imports = sorted(repr(walk(d)) for d in module.declarations if isinstance(d, s.Import))
    packages = [walk(d) for d in module.declarations if isinstance(d, s.Package)]
    others = [walk(d) for d in module.declarations if not isinstance(d, (s.Import, s.Package))]
    return tuple(packages), tuple(imports), tuple(others)


def comment_texts(text: str) -> list[str]:
    """Every comment of a file (as the formatter prints it), in order; for tests and checks."""
    _, comments = _parse_all_tokens(normalize_newlines(text))
    return [c.value.rstrip() for c in comments]


# ---------------------------------------------------------------- helpers

def _first_token(node) -> Token:
    if isinstance(node, Token):
        return node
    for child in node.children:
        found = _first_token(child)
        if found is not None:
            return found
    return None  # an empty rule: not produced by this grammar


def _last_token(node) -> Token:
    if isinstance(node, Token):
        return node
    for child in reversed(node.children):
        found = _last_token(child)
        if found is not None:
            return found
    return None


def _is(node, value: str) -> bool:
    return isinstance(node, Token) and node.value == value


@dataclass
class _Item:
    """One member of a block: the nodes to print, the tokens to drop (separating commas)."""

    nodes: list
    dropped: list
    first: Token
    tree: Tree | None = None  # the member's own rule, when it is one


def _items_from(children: list) -> list[_Item]:
    """Split block children (between the braces) into items; commas between items are dropped."""
    items: list[_Item] = []
    for child in children:
        if isinstance(child, Token) and child.value == ",":
            if items:
                items[-1].dropped.append(child)
            continue
        nodes, dropped = _strip_comma(child)
        items.append(_Item(nodes, dropped, _first_token(child), child if isinstance(child, Tree) else None))
    return items


def _strip_comma(child) -> tuple[list, list]:
    """A member rule that ends in its optional `,`: (nodes without it, [the comma])."""
    if isinstance(child, Tree) and child.children and _is(child.children[-1], ","):
        return [Tree(child.data, child.children[:-1], child.meta)], [child.children[-1]]
    return [child], []


# ---------------------------------------------------------------- the printer

class _Printer:
    def __init__(self, text: str, comments: list[Token], docs: dict, inherits: bool,
                 documenting: frozenset[int] = frozenset(), inline_only: bool = False):
        self.text_lines = text.split("\n")
        self.comments = comments
        self.ci = 0  # next comment to print
        self.cend = len(comments)  # comments at or after this index belong elsewhere
        self.docs = docs
        self.inherits = inherits
        self.documenting = documenting  # source lines of the `///` comments that document a node
        self.inline_only = inline_only
        self.lines: list[str] = []
        self.line: str | None = None  # the line being written (with its indentation)
        self.line_indent = 0
        self.need_break = False  # a comment ended the line: the next token starts a new one
        self.cont = CONTINUATION  # indentation for a line broken inside an item
        self.prev: Token | str | None = None  # the last thing written on this line
        self.tight_next = False
        self.last_tok_line = 0  # source line where the last code token ended
        self.last_src_line = 0  # source line where the last token or comment ended
        self.prev_was_comment = False

    # ------------------------------------------------------------ low level

    def _finish_line(self) -> None:
        if self.line is not None:
            self.lines.append(self.line.rstrip())
            self.line = None

    def _start_line(self, indent: int, blank: bool = False) -> None:
        if self.inline_only:
            raise _NeedsBreak()
        self._finish_line()
        if blank and self.lines and self.lines[-1] != "":
            self.lines.append("")
        self.line = " " * indent
        self.line_indent = indent
        self.prev = None
        self.need_break = False

    def _write(self, text: str, space: bool) -> None:
        if self.line is None:
            self._start_line(self.line_indent)
        if space and self.line.strip():
            self.line += " "
        self.line += text

    @property
    def column(self) -> int:
        return len(self.line) if self.line is not None else 0

    def _pending(self, pos: int) -> list[Token]:
        out = []
        for c in self.comments[self.ci:self.cend]:
            if c.start_pos >= pos:
                break
            out.append(c)
        return out

    def _emit_comment_line(self, comment: Token, indent: int, blank: bool) -> None:
        self._start_line(indent, blank)
        self.line += comment.value.rstrip()
        self._after_comment(comment)
        self.need_break = True

    def _after_comment(self, comment: Token) -> None:
        self.ci += 1
        self.last_src_line = comment.end_line
        self.prev_was_comment = True

    def _flush_trailing(self, pos: int) -> None:
        """A comment on the line of the last code token stays at the end of that line."""
        pending = self._pending(pos)
        if pending and pending[0].line == self.last_tok_line and self.line is not None and self.line.strip() \
                and not self.need_break:
            if self.inline_only:
                raise _NeedsBreak()
            self.line += "  " + pending[0].value.rstrip()
            self._after_comment(pending[0])
            self.need_break = True

    def _flush_inside(self, pos: int) -> None:
        """Comments before a token in the middle of an item."""
        self._flush_trailing(pos)
        for comment in self._pending(pos):
            blank = self.prev_was_comment and comment.line - self.last_src_line >= 2
            self._emit_comment_line(comment, self.cont, blank)

    def _seen(self, token: Token) -> None:
        self.last_tok_line = token.end_line
        self.last_src_line = token.end_line
        self.prev_was_comment = False

    def tok(self, token: Token, space: bool | None = None) -> None:
        """Print a source token with canonical spacing."""
        self._flush_inside(token.start_pos)
        if self.need_break:
            blank = self.prev_was_comment and token.line - self.last_src_line >= 2
            self._start_line(self.cont, blank)
        if space is None:
            space = self._space_before(token)
        self._write(token.value, space)
        self.prev = token
        self.tight_next = False
        self._seen(token)

    def skip_separator(self, token: Token) -> None:
        """A separating comma that is not printed: comments before it go with the next item."""
        self._flush_trailing(token.start_pos)
        self.last_tok_line = token.end_line

    def skip(self, token: Token) -> None:
        """A source token not printed (an optional comma): comments before it still are."""
        self._flush_inside(token.start_pos)
        self.last_tok_line = token.end_line
        self.last_src_line = token.end_line
        self.prev_was_comment = False

    def synth(self, text: str, space: bool) -> None:
        """Print text that is not in the source (a separating comma)."""
        self._write(text, space)
        self.prev = text
        self.tight_next = False

    def _space_before(self, token: Token) -> bool:
        prev = self.prev
        if prev is None or self.tight_next:
            return False
        value = token.value
        prev_value = prev.value if isinstance(prev, Token) else prev
        if value in _TIGHT_BEFORE:
            return False
        if prev_value in _TIGHT_AFTER:
            return False
        if isinstance(token, Token) and token.type == "MORETHAN":
            return False
        if isinstance(prev, Token) and prev.type == "LESSTHAN":
            return False
        if isinstance(token, Token) and token.type == "LESSTHAN":
            return False
        return True

    # ------------------------------------------------------------ generic emission

    def emit(self, node) -> None:
        if isinstance(node, Token):
            self.tok(node)
            return
        handler = getattr(self, f"_r_{node.data}", None)
        if handler is not None:
            handler(node)
            return
        self._children(node.children)

    def _children(self, children) -> None:
        for i, child in enumerate(children):
            if _is(child, ",") and (i + 1 == len(children) or _is(children[i + 1], ")")
                                    or _is(children[i + 1], "]")):
                self.skip(child)  # a trailing comma before `)`
                continue
            self.emit(child)

    # ------------------------------------------------------------ items and blocks

    def _first_on_line(self, token: Token) -> bool:
        line = self.text_lines[token.line - 1] if token.line - 1 < len(self.text_lines) else ""
        return not line[:token.column - 1].strip()

    def _doc_of(self, tree: Tree | None):
        if tree is None or getattr(tree.meta, "empty", True):
            return None
        return self.docs.get((tree.meta.line, tree.meta.column))

    def _sticky(self, item: _Item) -> bool:
        """A member the parser documented through the line it shares with the code before it."""
        return self._doc_of(item.tree) is not None and not self._first_on_line(item.first)

    def _inert_doc(self, comment: Token) -> bool:
        """A `///` comment that documents nothing: it must not come to stand right above a node."""
        return comment.value.startswith("///") and comment.line not in self.documenting

    def _documentable(self, item: _Item) -> bool:
        return (item.first.line, item.first.column) in self.docs

    def _item(self, item: _Item, indent: int, first_in_block: bool, sticky: bool, sep: str,
              comma: bool = False) -> None:
        self._flush_trailing(item.first.start_pos)
        leading = self._pending(item.first.start_pos)
        if sticky and not leading and not self.need_break and self.line is not None:
            if sep.strip():
                self.synth(sep.strip(), space=False)
            self.prev = " "
        else:
            first_line = leading[0].line if leading else item.first.line
            blank = not first_in_block and first_line - self.last_src_line >= 2
            if leading:
                for i, comment in enumerate(leading):
                    gap = comment.line - self.last_src_line >= 2 or (
                        i > 0 and self._inert_doc(leading[i - 1]) and comment.line in self.documenting)
                    self._emit_comment_line(comment, indent, blank if i == 0 else gap)
                blank = item.first.line - self.last_src_line >= 2 or (
                    self._inert_doc(leading[-1]) and self._documentable(item))
            self._start_line(indent, blank)
        saved = self.cont
        self.cont = indent + CONTINUATION
        for node in item.nodes:
            self.emit(node)
        if comma:  # right after the item's last token: before any comment that follows it
            self.synth(",", space=False)
        for token in item.dropped:
            self.skip_separator(token)
        self.cont = saved

    def _has_comments(self, start: Token, end: Token) -> bool:
        return any(start.start_pos < c.start_pos < end.start_pos for c in self.comments[self.ci:self.cend])

    def _block(self, open_tok: Token, items: list[_Item], close_tok: Token, mode: str,
               inline_sep: str = ", ", pad: bool = True, sticky_sep: str = " ",
               inline_ok: bool = True, expressions: bool = False) -> None:
        """Print `{ items }`: mode is "expanded", or "auto" (one line when it fits).

        expressions: the items end in expressions (match arms), so one per line keeps the comma
        before an item that could otherwise continue the previous one's expression.
        """
        if not items and not self._has_comments(open_tok, close_tok):
            self.tok(open_tok)
            self.tok(close_tok, space=False)
            return
        if self.inline_only:
            if mode != "auto" or not inline_ok:
                raise _NeedsBreak()
            self._inline(open_tok, items, close_tok, inline_sep, pad)
            return
        if mode == "auto" and inline_ok and not self._has_comments(open_tok, close_tok):
            rendered = self._try_inline(open_tok, items, close_tok, inline_sep, pad)
            if rendered is not None:
                self._flush_trailing(open_tok.start_pos)
                self._flush_inside(open_tok.start_pos)
                start = self.column + (1 if self._space_before(open_tok) else 0)
                if not self.need_break and start + len(rendered) <= WIDTH:
                    self._inline(open_tok, items, close_tok, inline_sep, pad)
                    return
        self._expanded(open_tok, items, close_tok, sticky_sep, expressions)

    def _inline(self, open_tok, items, close_tok, sep: str, pad: bool) -> None:
        self.tok(open_tok)
        for i, item in enumerate(items):
            if i:
                self.synth(sep.strip(), space=False)
            for node in item.nodes:
                self.emit(node)
            for token in item.dropped:
                self.skip(token)
        self.tok(close_tok, space=pad)

    def _try_inline(self, open_tok, items, close_tok, sep: str, pad: bool) -> str | None:
        trial = _Printer.__new__(_Printer)
        trial.__dict__.update(self.__dict__)
        trial.lines = []
        trial.line = ""
        trial.line_indent = 0
        trial.prev = None
        trial.need_break = False
        trial.inline_only = True
        trial.cend = trial.ci  # no comments inside (checked by the caller)
        try:
            trial._inline(open_tok, items, close_tok, sep, pad)
        except _NeedsBreak:
            return None
        return trial.line

    def _expanded(self, open_tok, items, close_tok, sticky_sep: str, expressions: bool = False) -> None:
        self.tok(open_tok)
        indent = self.line_indent + INDENT
        opened = len(self.lines)
        for i, item in enumerate(items):
            sticky = self._sticky(item) if item.tree is not None else False
            comma = expressions and i + 1 < len(items) and _continues_expression(items[i + 1].first)
            self._item(item, indent, first_in_block=i == 0, sticky=sticky, sep=sticky_sep if i else " ",
                       comma=comma)
        # comments before the closing brace
        self._flush_trailing(close_tok.start_pos)
        for i, comment in enumerate(self._pending(close_tok.start_pos)):
            blank = comment.line - self.last_src_line >= 2 and (bool(items) or self.prev_was_comment)
            self._emit_comment_line(comment, indent, blank)
        if items and len(self.lines) == opened and not self.need_break:
            self.tok(close_tok, space=True)  # every member stayed on the opening line
            return
        blank = self.prev_was_comment and close_tok.line - self.last_src_line >= 2
        self._start_line(indent - INDENT, blank)
        self.tok(close_tok)

    def _braced(self, children: list) -> tuple[int, int]:
        """Indices of the first `{` and the last `}` among children."""
        open_i = next(i for i, c in enumerate(children) if _is(c, "{"))
        close_i = max(i for i, c in enumerate(children) if _is(c, "}"))
        return open_i, close_i

    def _head_block(self, node: Tree, mode: str, **options) -> None:
        """`keyword name ... { members }`: the head on one line, then the block."""
        children = node.children
        open_i, close_i = self._braced(children)
        for child in children[:open_i]:
            self.emit(child)
        items = _items_from(children[open_i + 1:close_i])
        self._block(children[open_i], items, children[close_i], mode, **options)
        for child in children[close_i + 1:]:
            self.emit(child)

    # ------------------------------------------------------------ rules

    def _r_type_decl(self, node: Tree) -> None:
        self._head_block(node, "expanded", sticky_sep=", ")

    _r_entity = _r_type_decl

    def _r_enum_decl(self, node: Tree) -> None:
        children = node.children
        open_i, close_i = self._braced(children)
        items = _items_from(children[open_i + 1:close_i])
        inherited = self._doc_of(node) if self.inherits else None
        inline_ok = all(self._doc_of(it.tree) == inherited for it in items)
        for child in children[:open_i]:
            self.emit(child)
        self._block(children[open_i], items, children[close_i], "auto", inline_ok=inline_ok, sticky_sep=", ")

    def _r_system(self, node: Tree) -> None:
        self._head_block(node, "expanded")

    _r_flow = _r_system
    _r_map_block = _r_system

    def _r_expose(self, node: Tree) -> None:
        self._head_block(node, "auto")

    def _r_auth_settings(self, node: Tree) -> None:
        self._head_block(node, "auto")

    _r_settings = _r_auth_settings

    def _r_match_expr(self, node: Tree) -> None:
        self._head_block(node, "auto", expressions=True)

    def _r_each_expr(self, node: Tree) -> None:
        self._head_block(node, "expanded")

    def _r_record_expr(self, node: Tree) -> None:
        self._head_block(node, "expanded")

    def _r_flow_test(self, node: Tree) -> None:
        children = node.children
        open_i, close_i = self._braced(children)
        inner = children[open_i + 1:close_i]
        items = []
        for i in range(0, len(inner), 2):
            pair = inner[i:i + 2]
            items.append(_Item(list(pair), [], _first_token(pair[0])))
        for child in children[:open_i]:
            self.emit(child)
        self._block(children[open_i], items, children[close_i], "expanded")

    def _r_object_value(self, node: Tree) -> None:
        children = node.children
        inner = children[1:-1]
        items: list[_Item] = []
        i = 0
        while i < len(inner):
            key, colon, value = inner[i:i + 3]
            i += 3
            dropped = []
            if i < len(inner) and _is(inner[i], ","):
                dropped.append(inner[i])
                i += 1
            items.append(_Item([key, colon, value], dropped, _first_token(key)))
        self._block(children[0], items, children[-1], "auto")

    def _r_list_value(self, node: Tree) -> None:
        children = node.children
        items = _items_from(children[1:-1])
        self._block(children[0], items, children[-1], "auto", pad=False)

    def _r_call(self, node: Tree) -> None:
        self.tok(node.children[0])
        self.tight_next = True
        self._children(node.children[1:])

    def _r_annotation(self, node: Tree) -> None:
        children = node.children
        self.tok(children[0])  # @
        self.emit(children[1])  # name
        if len(children) > 2:
            self.tight_next = True
            self._children(children[2:])

    def _r_unary(self, node: Tree) -> None:
        op, operand = node.children
        self.tok(op)
        if op.value in ("-", "+"):
            self.tight_next = True
        self.emit(operand)

    def _r_negative_number(self, node: Tree) -> None:
        sign, number = node.children
        self.tok(sign)
        self.tight_next = True
        self.tok(number)

    # ------------------------------------------------------------ the file

    def file(self, tree: Tree) -> str:
        declarations = list(tree.children)
        comments = self.comments
        units = []  # (declaration, first comment index, end comment index)
        ci = 0
        for index, decl in enumerate(declarations):
            first = _first_token(decl)
            start = ci
            while ci < len(comments) and comments[ci].start_pos < first.start_pos:
                ci += 1
            lead_start = start
            last = _last_token(decl)
            end = ci
            # the comment after the declaration's last token on the same line is its own
            scan = end
            while scan < len(comments) and comments[scan].start_pos < last.end_pos:
                scan += 1
            following = _first_token(declarations[index + 1]).start_pos if index + 1 < len(declarations) else None
            if scan < len(comments) and comments[scan].line == last.end_line and \
                    (following is None or comments[scan].start_pos < following):
                scan += 1
            ci = scan
            units.append([decl, lead_start, scan, index])
        trailer = (ci, len(comments)) if units else (len(comments), len(comments))

        header_end = 0
        if units:
            decl, lo, hi, _ = units[0]
            first = _first_token(decl)
            leading = [c for c in comments[lo:hi] if c.start_pos < first.start_pos]
            split = None
            for i, comment in enumerate(leading):
                following = leading[i + 1].line if i + 1 < len(leading) else first.line
                if following - comment.end_line >= 2:
                    split = i + 1
            if split:
                header_end = lo + split
                units[0][1] = header_end
        elif comments:
            header_end = len(comments)

        # the header: comments at the top that are not attached to a declaration
        for i, comment in enumerate(comments[:header_end]):
            blank = i > 0 and comment.line - comments[i - 1].end_line >= 2
            self._start_line(0, blank)
            self.line += comment.value.rstrip()
            self.last_src_line = comment.end_line
        self.ci = header_end

        packages = [u for u in units if u[0].data == "package"]
        imports = sorted((u for u in units if u[0].data == "import_decl"),
                         key=lambda u: (_import_key(u[0]), u[3]))
        others = [u for u in units if u[0].data not in ("package", "import_decl")]
        ordered = packages + imports + others

        previous = None
        for unit in ordered:
            decl, lo, hi, index = unit
            self.ci, self.cend = lo, hi
            kind = decl.data
            sticky = (previous is not None and previous[3] == index - 1 and self.line is not None
                      and self._doc_of(decl) is not None and not self._first_on_line(_first_token(decl)))
            if previous is None:
                blank = header_end > 0
            elif kind == "import_decl" and previous[0].data == "import_decl":
                blank = False
            else:
                blank = True
            self._top_level(decl, blank, sticky)
            # anything left in the window (comments inside, trailing)
            self._flush_trailing(10 ** 12)
            for comment in self._pending(10 ** 12):
                gap = comment.line - self.last_src_line >= 2
                self._emit_comment_line(comment, 0, gap)
            previous = unit

        self.ci, self.cend = trailer
        if units and trailer[0] < trailer[1]:
            # blank lines are measured in the source, whatever order the units were printed in
            last = _last_token(declarations[-1]).end_line
            self.last_src_line = max([last] + [c.end_line for c in comments[:trailer[0]]])
            for comment in comments[trailer[0]:trailer[1]]:
                blank = comment.line - self.last_src_line >= 2
                self._emit_comment_line(comment, 0, blank)
        self._finish_line()
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n" if self.lines else ""

    def _top_level(self, decl: Tree, blank: bool, sticky: bool) -> None:
        first = _first_token(decl)
        leading = self._pending(first.start_pos)
        if sticky and not leading:
            self.prev = " "
        else:
            self.need_break = False
            self.last_src_line = leading[0].line if leading else first.line
            for i, comment in enumerate(leading):
                gap = comment.line - self.last_src_line >= 2
                self._emit_comment_line(comment, 0, blank if i == 0 else gap)
            if leading:
                blank = first.line - self.last_src_line >= 2
            self._start_line(0, blank)
        self.last_tok_line = first.line
        self.cont = CONTINUATION
        self.emit(decl)


def _import_key(decl: Tree) -> str:
    from integc.parser import decode_string

    token = next(c for c in decl.children if isinstance(c, Token) and c.type == "STRING")
    return decode_string(token.value)[0]
