"""Diagnostics are values: every stage reports into one `Diagnostics` collector.

The catalogue of codes lives in `codes.py`; this module only knows spans,
severities and how problems are collected and ordered.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from integc.codes import CODES
from integc.nodes import node


@node(order=True)
class Span:
    """A region of one source file; lines and columns are 1-based, end exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def to_json(self) -> dict:
        return {"file": self.file, "line": self.line, "column": self.column,
                "end_line": self.end_line, "end_column": self.end_column}

    def cover(self, other: "Span") -> "Span":
        """The smallest span holding both (same file assumed)."""
        start = min((self.line, self.column), (other.line, other.column))
        end = max((self.end_line, self.end_column), (other.end_line, other.end_column))
        return Span(self.file, start[0], start[1], end[0], end[1])


@node
class Note:
    """A secondary location shown under the main one (e.g. the first declaration)."""

    span: Span
    message: str


_LONG_RUN = re.compile(r"\S{81,}")


def tidy_text(text: str) -> str:
    """A message as shown to users: credentials masked (4 characters kept, then `*`), and runs of
    more than 80 non-space characters (a long name, a long string) shortened to 60 + "…" + 10."""
    from integc.secrets_scan import scan_credentials

    chars = None
    for finding in scan_credentials(text, ""):
        if chars is None:
            chars = list(text)
            starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
        base = starts[finding.span.line - 1]
        for i in range(base + finding.span.column - 1 + 4, min(base + finding.span.end_column - 1, len(chars))):
            chars[i] = "*"
    if chars is not None:
        text = "".join(chars)
    if len(text) > 80:
        text = _LONG_RUN.sub(lambda m: m.group(0)[:60] + "…" + m.group(0)[-10:], text)
    return text


@node
class Diagnostic:
    code: str
    message: str
    span: Span | None
    help: str | None = None
    notes: tuple[Note, ...] = ()

    @property
    def severity(self) -> str:
        return CODES[self.code].severity

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple:
        if self.span is None:
            return ("", 0, 0, self.code, self.message)
        return (self.span.file, self.span.line, self.span.column, self.code, self.message)


@dataclass
class Diagnostics:
    """The one place problems are collected; stages call `report`, never raise."""

    items: list[Diagnostic] = field(default_factory=list)

    def report(self, code: str, message: str, span: Span | None, help: str | None = None,
               notes: tuple[Note, ...] = ()) -> None:
        if code not in CODES:
            raise KeyError(f"unregistered diagnostic code {code}")
        message = tidy_text(message)
        help = tidy_text(help) if help is not None else None
        notes = tuple(Note(n.span, tidy_text(n.message)) for n in notes)
        self.items.append(Diagnostic(code, message, span, help, notes))

    def extend(self, other: "Diagnostics") -> None:
        self.items.extend(other.items)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        unique = {(d.code, d.message, d.span): d for d in self.items}
        return sorted(unique.values(), key=Diagnostic.sort_key)


def _span_json(span: Span | None) -> list | None:
    return None if span is None else [span.file, span.line, span.column, span.end_line, span.end_column]


def diagnostic_json(diagnostic: Diagnostic) -> dict:
    """A diagnostic as JSON values (the build record keeps them so; the build server sends them)."""
    return {"code": diagnostic.code, "message": diagnostic.message, "span": _span_json(diagnostic.span),
            "help": diagnostic.help, "notes": [[_span_json(n.span), n.message] for n in diagnostic.notes]}


def diagnostic_from_json(data: dict) -> Diagnostic:
    """The diagnostic `diagnostic_json` gave `data` for (KeyError, TypeError or ValueError when it did not)."""
    def span(value):
        return None if value is None else Span(*value)
    return Diagnostic(data["code"], data["message"], span(data["span"]), data["help"],
                      tuple(Note(span(s), m) for s, m in data["notes"]))
