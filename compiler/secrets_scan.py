"""Find credential-looking text in a source file (E0502).

The whole text is scanned, not only string literals: a key pasted into a
comment or doc comment is just as leaked once the file is committed, and doc
comments are copied into every output. Findings never carry the value itself.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from integc.diagnostics import Span


@dataclass(frozen=True, slots=True)
class Finding:
    message: str
    span: Span


_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    ("a Stripe-style secret key", re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{10,}")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}")),
    ("a JSON Web Token", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")),
    # Bounded repetitions keep the scan linear on hostile lines (no backtracking blow-up).
    ("a password inside a URL",
     re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]{0,31}://[^\s/:@\"]{1,256}:[^\s/@\"]{1,256}@")),
)


def scan_credentials(text: str, file: str) -> list[Finding]:
    findings = []
    for line_number, line in enumerate(text.split("\n"), start=1):
        if len(line) > 100_000:
            line = line[:100_000]
        for what, pattern in _PATTERNS:
            for match in pattern.finditer(line):
                span = Span(file, line_number, match.start() + 1, line_number, match.end() + 1)
                findings.append(Finding(f"this looks like {what}; credentials do not belong in source", span))
    return findings
