"""The `integc` command line: the only module (with integc.commands) that prints or exits.

Exit codes: 0 clean (warnings allowed), 1 problems found (warnings too with
--strict), 2 usage error, 3 internal compiler error.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import traceback
from pathlib import Path

import click

from integc import __version__, commands
from integc.codes import CODES
from integc.config import UsageError
from integc.diagnostics import Diagnostic
from integc.render import RENDERERS, render_explanation, render_text

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
FORMATS = ("text", "json", "github", "sarif")

EPILOG_CHECK = """\b
Examples:
  integc check                      # the project in this folder
  integc check examples/order-to-cash --format json
  integc check api/main.integ --strict
"""

EPILOG_BUILD = """\b
Examples:
  integc build                      # writes ./build
  integc build examples/order-to-cash --out /tmp/out
  integc build --strict --format github   # in CI: annotate the pull request
"""


def use_colour(stream) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def report(diagnostics: list[Diagnostic], sources: dict[str, str], output_format: str,
           limit: int | None = None) -> None:
    """Print diagnostics: text to stderr, machine formats to stdout."""
    if output_format == "text":
        text = render_text(diagnostics, sources, colour=use_colour(sys.stderr), limit=limit)
        if text:
            click.echo(text, err=True, nl=False)
        return
    click.echo(RENDERERS[output_format](diagnostics), nl=False)


def exit_code(diagnostics: list[Diagnostic], strict: bool) -> int:
    if any(d.is_error for d in diagnostics) or (strict and diagnostics):
        return EXIT_PROBLEMS
    return EXIT_OK


def run_guarded(action) -> None:
    """Run a command body: usage errors exit 2, compiler bugs exit 3 with a short note."""
    try:
        code = action()
    except UsageError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # a bug in integc, never the user's fault
        click.echo(f"error[E0001]: internal compiler error: {type(error).__name__}: {error}", err=True)
        click.echo("note: this is a bug in integc; please report it with the input that caused it", err=True)
        if os.environ.get("INTEGC_TRACEBACK"):
            traceback.print_exc()
        sys.exit(EXIT_INTERNAL)
    sys.exit(code or EXIT_OK)


_PROGRAM: dict[str, bool] = {"running": False, "one_shot": False}


def _one_shot() -> None:
    """This command compiles once and ends: as the program (`run`), skip the collector and the
    heap's teardown."""
    if _PROGRAM["running"]:
        import gc

        _PROGRAM["one_shot"] = True
        gc.disable()


def run() -> None:
    """The `integc` program: `main`, then, after a one-shot `check` or `build`, leave at once.

    Such a command ends with hundreds of thousands of objects alive (the AST,
    the IR); collecting them, and tearing them down at exit, cost ~0.3 s at
    N=200 and free nothing the operating system does not take back anyway.
    Output streams are flushed first; every file a build writes is closed by
    then. Calling `main` (tests, the jail) is unaffected.
    """
    _PROGRAM["running"] = True
    try:
        main()
    except SystemExit as done:
        if not _PROGRAM["one_shot"]:
            raise
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


path_argument = click.argument("path", default=".", type=click.Path(path_type=Path))
format_option = click.option("--format", "output_format", type=click.Choice(FORMATS), default="text",
                             show_default=True, help="How to print problems.")
strict_option = click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="integc")
def main() -> None:
    """integc: a compiler for integration architecture.

    \b
    Describe systems, their APIs and the flows between them in .integ files;
    integc checks them and generates OpenAPI 3.1, JSON Schema, mapping code
    and Kubernetes manifests.

    \b
    Start with:
      integc init my-landscape && integc build my-landscape
    """


@main.command(epilog=EPILOG_CHECK)
@path_argument
@strict_option
@format_option
def check(path: Path, strict: bool, output_format: str) -> None:
    """Check a project (a folder or an entry file) without writing anything.

    Files that an earlier `integc build` parsed into the build cache of the
    project's output folder, and that have not changed since, are read from
    there instead of being parsed again (the cache is only read)."""
    from integc.pipeline import compile_project

    _one_shot()
    def action() -> int:
        result = compile_project(path, reuse_parsed=True)
        found = result.diagnostics.sorted()
        limit = result.config.limits.max_diagnostics if result.config else None
        report(found, result.sources, output_format, limit)
        return exit_code(found, strict)
    run_guarded(action)


@main.command(epilog=EPILOG_BUILD)
@path_argument
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default: `out` in integc.toml, "
                                                              "else build/ in the project).")
@strict_option
@format_option
@click.option("--emit-ir", is_flag=True, help="Also write ir.json, the resolved model (specs/ir.schema.json).")
@click.option("--watch", is_flag=True, help="Rebuild whenever a .integ file or integc.toml changes (Ctrl-C stops).")
def build(path: Path, out: Path | None, strict: bool, output_format: str, emit_ir: bool, watch: bool) -> None:
    """Check a project and generate its outputs.

    After an incremental build, a build server keeps the project loaded for the
    next `integc build` of it, and leaves after 10 idle minutes
    (INTEGC_SERVER_IDLE=seconds; 0 turns it off; none under CI=true)."""
    from integc.server import build_report

    def action() -> int:
        built = build_report(path, out, emit_ir, strict, use_server=not watch and _PROGRAM["running"])
        report(built.diagnostics, built.sources, output_format, built.max_diagnostics)
        if built.out is not None and output_format == "text":
            click.echo(f"wrote {built.written} files to {_shown(built.out)}", err=True)
        return exit_code(built.diagnostics, strict)
    if watch:
        from integc.watch import watch_and_rebuild
        run_guarded(lambda: watch_and_rebuild(path, out, action))
        return
    _one_shot()
    run_guarded(action)


@main.command()
@click.argument("code")
def explain(code: str) -> None:
    """Explain a diagnostic code, e.g. `integc explain E0301`."""
    key = code.upper()
    if key not in CODES:
        click.echo(f"error: unknown code {code!r}; the codes are {', '.join(CODES)}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(render_explanation(key), nl=False)


@main.command()
@click.argument("directory", default=".", type=click.Path(path_type=Path))
def init(directory: Path) -> None:
    """Create a small starter project that builds."""
    from integc.starter import STARTER_FILES

    def action() -> int:
        existing = [name for name in STARTER_FILES if (directory / name).exists()]
        if existing:
            raise UsageError(f"{directory / existing[0]} already exists; init never overwrites files")
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in STARTER_FILES.items():
            (directory / name).write_text(text, encoding="utf-8")
        click.echo(f"created {', '.join(STARTER_FILES)} in {_shown(directory)}; "
                   f"next: integc build {_shown(directory)}", err=True)
        return EXIT_OK
    run_guarded(action)


def _shown(path: Path) -> str:
    from integc.config import display_path
    return display_path(path.resolve())


def _add_plugin_commands() -> None:
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        main.add_command(module.command)


_add_plugin_commands()
