"""`integc graph`: draw the architecture (systems and flows) as Mermaid or DOT."""
from __future__ import annotations

from pathlib import Path

import click

EPILOG = """\b
Examples:
  integc graph                                   # Mermaid, to stdout
  integc graph examples/order-to-cash --format dot | dot -Tsvg > arch.svg
  integc graph --output docs/architecture.mmd
"""


@click.command(epilog=EPILOG)
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option("--format", "graph_format", type=click.Choice(("mermaid", "dot")), default="mermaid",
              show_default=True, help="Diagram language.")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the diagram to this file instead of stdout.")
@click.option("--diagnostics", "output_format", type=click.Choice(("text", "json", "github", "sarif")),
              default="text", show_default=True, help="How to print problems that stop the drawing.")
def command(path: Path, graph_format: str, output: Path | None, output_format: str) -> None:
    """Draw systems (boxes, with owner) and flows (arrows, with trigger); manual flows dashed."""
    from integc.cli import EXIT_OK, EXIT_PROBLEMS, report, run_guarded
    from integc.config import UsageError
    from integc.pipeline import compile_project
    from integc.targets.graph import render

    def action() -> int:
        result = compile_project(path)
        found = result.diagnostics.sorted()
        if result.project is None:
            limit = result.config.limits.max_diagnostics if result.config else None
            report(found, result.sources, output_format, limit)
            return EXIT_PROBLEMS
        text = render(result.project, graph_format)
        if output is None:
            click.echo(text, nl=False)
        else:
            try:
                output.write_text(text, encoding="utf-8")
            except OSError as error:
                raise UsageError(f"cannot write {output}: {error.strerror or error}") from None
        return EXIT_OK

    run_guarded(action)


command.name = "graph"
