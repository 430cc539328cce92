"""`integc fmt`: rewrite .integ files in the canonical layout (integc.formatter)."""
from __future__ import annotations

import difflib
import os
import sys
import tempfile
from pathlib import Path

import click

EPILOG = """\b
Examples:
  integc fmt                       # every .integ file under the current folder
  integc fmt examples/ main.integ  # folders are searched for *.integ
  integc fmt --check               # in CI: exit 1 and list files that are not formatted
  integc fmt --diff                # show what would change, write nothing
  integc fmt - < in.integ          # format standard input to standard output

\b
Exit status: 0 all files formatted (or already were), 1 a file has syntax
errors or (with --check) would change, 2 usage error.
"""

_SKIP_DIRS = {"node_modules", "__pycache__"}


def find_sources(paths: list[Path]) -> list[Path]:
    """The .integ files named, or found under the folders named (hidden folders skipped)."""
    from integc.config import UsageError

    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise UsageError(f"no such file or folder: {path}")
        if path.is_dir():
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
                # Links are not followed: a link in a searched folder could point anywhere.
                found.extend(Path(folder) / f for f in sorted(files)
                             if f.endswith(".integ") and not (Path(folder) / f).is_symlink())
        else:
            found.append(path)
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` through a temporary file in the same folder and a rename."""
    target = path.resolve()
    mode = target.stat().st_mode & 0o7777 if target.exists() else 0o644
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def _escape(text: str, property_value: bool = False) -> str:
    """GitHub workflow-command escaping."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_value else text


def _diff(path: str, before: str, after: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                        f"a/{path}", f"b/{path}"))


@click.command(epilog=EPILOG)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--check", is_flag=True, help="Write nothing; exit 1 and list the files that would change.")
@click.option("--diff", "show_diff", is_flag=True, help="Write nothing; print a unified diff of the changes.")
@click.option("--format", "output_format", type=click.Choice(("text", "json", "github", "sarif")), default="text",
              show_default=True, help="How to print syntax errors.")
def command(paths: tuple[Path, ...], check: bool, show_diff: bool, output_format: str) -> None:
    """Format .integ files: 2-space indents, canonical spacing, sorted imports, comments kept."""
    from integc.cli import EXIT_OK, EXIT_PROBLEMS, report, run_guarded
    from integc.config import display_path
    from integc.formatter import FormatError, format_source, normalize_newlines

    def action() -> int:
        if paths == (Path("-"),):
            text = sys.stdin.read()
            try:
                formatted = format_source(text, "<stdin>")
            except FormatError as error:
                report(error.diagnostics, {"<stdin>": normalize_newlines(text)}, output_format)
                return EXIT_PROBLEMS
            if show_diff:
                click.echo(_diff("<stdin>", normalize_newlines(text), formatted), nl=False)
            elif not check:
                click.echo(formatted, nl=False)
            return EXIT_PROBLEMS if check and formatted != text else EXIT_OK
        files = find_sources(list(paths) or [Path(".")])
        problems: list = []
        sources: dict[str, str] = {}
        changed: list[str] = []
        unchanged = 0
        for path in files:
            shown = display_path(path.resolve())
            try:
                raw = path.read_bytes()
                text = raw.decode("utf-8")
            except (OSError, UnicodeDecodeError) as error:
                click.echo(f"error: cannot read {shown}: {getattr(error, 'strerror', None) or error}", err=True)
                problems.append(None)
                continue
            try:
                formatted = format_source(text, shown)
            except FormatError as error:
                problems.extend(error.diagnostics)
                sources[shown] = normalize_newlines(text)
                continue
            if formatted == text:
                unchanged += 1
                continue
            changed.append(shown)
            if show_diff:
                click.echo(_diff(shown, normalize_newlines(text), formatted), nl=False)
            if check:
                click.echo(f"would reformat {shown}", err=True)
                if output_format == "github":
                    click.echo(f"::error file={_escape(shown, True)},title=integc fmt::"
                               f"{_escape(shown)} is not formatted; run `integc fmt`")
            elif not show_diff:
                try:
                    write_atomic(path, formatted)
                except OSError as error:
                    click.echo(f"error: cannot write {shown}: {error.strerror or error}", err=True)
                    problems.append(None)
                    continue
                if output_format == "text":
                    click.echo(f"reformatted {shown}", err=True)
        diagnostics = [d for d in problems if d is not None]
        if diagnostics:
            report(diagnostics, sources, output_format)
        if output_format == "text":
            verb = "would be reformatted" if check or show_diff else "reformatted"
            parts = [f"{len(changed)} file{'s' if len(changed) != 1 else ''} {verb}"]
            parts.append(f"{unchanged} file{'s' if unchanged != 1 else ''} left unchanged")
            failed = len({d.span.file for d in diagnostics if d.span is not None}) + problems.count(None)
            if failed:
                parts.append(f"{failed} file{'s' if failed != 1 else ''} not formatted (errors)")
            click.echo(", ".join(parts), err=True)
        if problems or (check and changed):
            return EXIT_PROBLEMS
        return EXIT_OK

    run_guarded(action)


command.name = "fmt"
