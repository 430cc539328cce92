"""Diagnostics as text (rustc style), JSON, GitHub workflow commands or SARIF.

Pure functions from diagnostics to strings; the CLI does the printing.
"""
from __future__ import annotations

import json
import unicodedata
from pathlib import Path, PurePath
from urllib.parse import quote

from integc import __version__
from integc.codes import CODES
from integc.diagnostics import Diagnostic
from integc.secrets_scan import scan_credentials

_COLOURS = {"error": "\033[1;31m", "warning": "\033[1;33m", "note": "\033[1;36m", "help": "\033[1;32m",
            "bold": "\033[1m", "blue": "\033[1;34m", "reset": "\033[0m"}
# Control characters (bidi overrides included) are shown escaped so a source
# line cannot rewrite the terminal or disguise what it contains.
_INVISIBLE = {"Cc", "Cf", "Zl", "Zp"}
# Diagnostics about credentials: the snippet masks the span instead of repeating it.
REDACTED_CODES = frozenset({"E0502"})


def _safe(text: str) -> str:
    return "".join(c if c == "\t" or unicodedata.category(c) not in _INVISIBLE else f"\\u{{{ord(c):x}}}"
                   for c in text)


class _Paint:
    def __init__(self, colour: bool):
        self._colour = colour

    def __call__(self, style: str, text: str) -> str:
        return f"{_COLOURS[style]}{text}{_COLOURS['reset']}" if self._colour else text


def render_text(diagnostics: list[Diagnostic], sources: dict[str, str], colour: bool = False,
                limit: int | None = None) -> str:
    paint = _Paint(colour)
    shown = diagnostics if limit is None else diagnostics[:limit]
    blocks = [_render_one(d, sources, paint) for d in shown]
    if limit is not None and len(diagnostics) > limit:
        blocks.append(f"... and {len(diagnostics) - limit} more problems (raise the limit with "
                      f"`[limits] max_diagnostics` in integc.toml)")
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    if diagnostics:
        parts = [f"{errors} error{'s' if errors != 1 else ''}"] if errors else []
        if warnings:
            parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
        blocks.append(paint("bold", " and ".join(parts) + " found"))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def _render_one(d: Diagnostic, sources: dict[str, str], paint: _Paint) -> str:
    lines = [paint(d.severity, f"{d.severity}[{d.code}]") + paint("bold", f": {_safe(d.message)}")]
    if d.span is not None:
        lines += _snippet(d.span, sources, paint, "-->", redact=d.code in REDACTED_CODES)
    for note in d.notes:
        lines.append(paint("note", "note") + f": {_safe(note.message)}")
        lines += _snippet(note.span, sources, paint, "-->")
    if d.help:
        lines.append(paint("help", "help") + f": {_safe(d.help)}")
    return "\n".join(lines)


def _snippet(span, sources: dict[str, str], paint: _Paint, arrow: str, redact: bool = False) -> list[str]:
    text = sources.get(span.file)
    gutter = " " * len(str(span.line))
    out = [f"{gutter}{paint('blue', arrow)} {_safe(span.file)}:{span.line}:{span.column}"]
    if text is None:
        return out
    source_lines = text.split("\n")
    if not 1 <= span.line <= len(source_lines):
        return out
    line = source_lines[span.line - 1]
    # Every shown line is masked, whichever diagnostic shows it (E0502 also masks its own span).
    line = _redact(line, span if redact else None)
    shown, start, width = _window(line, span)
    out.append(f"{gutter} {paint('blue', '|')}")
    out.append(f"{paint('blue', str(span.line))} {paint('blue', '|')} {shown}")
    out.append(f"{gutter} {paint('blue', '|')} {' ' * start}{paint('error', '^' * width)}")
    return out


def _redact(line: str, span) -> str:
    """Hide every credential in the shown line; each keeps its first 4 characters as a clue."""
    regions = [] if span is None else [(span.column - 1, span.end_column - 1 if span.end_line == span.line
                                        else len(line))]
    regions += [(f.span.column - 1, f.span.end_column - 1) for f in scan_credentials(line, "")]
    if not regions:
        return line
    chars = list(line)
    for start, end in regions:
        for i in range(start + 4, min(end, len(chars))):
            chars[i] = "*"
    return "".join(chars)


def _window(line: str, span) -> tuple[str, int, int]:
    """The (possibly shortened) line, where the underline starts, how wide it is."""
    start = max(0, span.column - 1)
    end = span.end_column - 1 if span.end_line == span.line else len(line)
    end = max(start + 1, min(end, max(len(line), start + 1)))
    prefix = ""
    if len(line) > 200:  # very long lines: show 80 characters around the span
        cut = max(0, start - 40)
        prefix = "..." if cut else ""
        line = line[cut:cut + 160]
        start, end = start - cut + len(prefix), min(end - cut, 160) + len(prefix)
        line = prefix + line
    safe_before = _safe(line[:start].replace("\t", " "))
    safe_span = _safe(line[start:end].replace("\t", " "))
    return _safe(line.replace("\t", " ")), len(safe_before), max(1, len(safe_span))


def to_json_list(diagnostics: list[Diagnostic]) -> list[dict]:
    out = []
    for d in diagnostics:
        span = d.span
        out.append({
            "code": d.code, "severity": d.severity, "message": d.message,
            "file": span.file if span else None, "line": span.line if span else None,
            "column": span.column if span else None, "end_line": span.end_line if span else None,
            "end_column": span.end_column if span else None, "help": d.help,
            "notes": [{"message": n.message, "file": n.span.file, "line": n.span.line, "column": n.span.column}
                      for n in d.notes],
        })
    return out


def render_json(diagnostics: list[Diagnostic]) -> str:
    return json.dumps(to_json_list(diagnostics), indent=2, ensure_ascii=False) + "\n"


def _github_escape(text: str, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(diagnostics: list[Diagnostic]) -> str:
    """GitHub Actions workflow commands: each problem annotates its line in the pull request."""
    lines = []
    for d in diagnostics:
        command = "error" if d.is_error else "warning"
        props = [f"title={_github_escape(f'{d.code} {CODES[d.code].title}', True)}"]
        if d.span is not None:
            props = [f"file={_github_escape(d.span.file, True)}", f"line={d.span.line}", f"col={d.span.column}",
                     f"endLine={d.span.end_line}", f"endColumn={d.span.end_column}"] + props
        message = d.message + (f"\nhelp: {d.help}" if d.help else "")
        lines.append(f"::{command} {','.join(props)}::{_github_escape(message)}")
    return "\n".join(lines) + ("\n" if lines else "")


def to_sarif(diagnostics: list[Diagnostic]) -> dict:
    used = sorted({d.code for d in diagnostics})
    rules = [{"id": code, "name": CODES[code].title.title().replace(" ", ""),
              "shortDescription": {"text": CODES[code].title},
              "fullDescription": {"text": CODES[code].explanation},
              "defaultConfiguration": {"level": "error" if CODES[code].severity == "error" else "warning"},
              "helpUri": f"https://integc.dev/errors/{code}"} for code in used]
    index = {code: i for i, code in enumerate(used)}
    results = []
    for d in diagnostics:
        result = {"ruleId": d.code, "ruleIndex": index[d.code], "level": "error" if d.is_error else "warning",
                  "message": {"text": d.message + (f"\nhelp: {d.help}" if d.help else "")}}
        if d.span is not None:
            result["locations"] = [{"physicalLocation": {
                "artifactLocation": {"uri": _file_uri(d.span.file)},
                "region": {"startLine": d.span.line, "startColumn": d.span.column,
                           "endLine": d.span.end_line, "endColumn": d.span.end_column}}}]
        results.append(result)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "integc", "version": __version__,
                                      "informationUri": "https://integc.dev", "rules": rules}},
                  "results": results}],
    }


def _file_uri(file: str) -> str:
    """A file path as a SARIF URI: absolute paths as file: URIs, relative ones percent-encoded."""
    path = PurePath(file)
    if path.is_absolute():
        return Path(file).as_uri()
    return quote(file.replace("\\", "/"), safe="/")


def render_sarif(diagnostics: list[Diagnostic]) -> str:
    return json.dumps(to_sarif(diagnostics), indent=2, ensure_ascii=False) + "\n"


RENDERERS = {"json": render_json, "github": render_github, "sarif": render_sarif}


def render_explanation(code: str) -> str:
    info = CODES[code]
    parts = [f"{info.code}: {info.title} ({info.severity})", "", info.explanation]
    if info.example:
        parts += ["", "Example:", "", "\n".join("    " + line for line in info.example.splitlines())]
    return "\n".join(parts) + "\n"
