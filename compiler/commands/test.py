"""`integc test [PATH]`: run the `test` blocks of the project's flows."""
from __future__ import annotations

from pathlib import Path

import click

EPILOG = """\b
Examples:
  integc test                                  # every flow test of the project here
  integc test examples/order-to-cash --flow sync_customers
\b
A flow test, inside a flow:
  test "free customers get the basic plan" {
    input  { id: "5f0c8a9e-2b1d-4c3e-9f6a-7b8c9d0e1f2a", email: "a@b.example", tier: "free" }
    expect { account_id: "ACC-5F0C8A9E2B1D4C3E9F6A7B8C9D0E1F2A", email: "a@b.example", plan: "basic" }
  }
The mapped record must equal `expect` (a field written `null` must be absent;
decimals compare by value, datetimes as instants). now() returns
2024-01-01T00:00:00Z while tests run. See docs/mapping.md.
Exit status: 0 all passed (or no tests), 1 a test failed or the project has errors.
"""


@click.command(epilog=EPILOG)
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option("--flow", "flow_names", multiple=True, metavar="NAME", help="Only this flow's tests (repeatable).")
@click.option("--diagnostics", "output_format", type=click.Choice(("text", "json", "github", "sarif")),
              default="text", show_default=True, help="How to print problems that stop the run.")
def command(path: Path, flow_names: tuple[str, ...], output_format: str) -> None:
    """Run the flows' tests: map each test's input and compare with its expectation."""
    from integc.cli import EXIT_OK, EXIT_PROBLEMS, report, run_guarded
    from integc.config import UsageError
    from integc.pipeline import compile_project
    from integc.suggest import did_you_mean
    from integc.targets.mapping.testing import run_flow_tests

    def action() -> int:
        result = compile_project(path)
        if result.project is None:
            found = result.diagnostics.sorted()
            report(found, result.sources, output_format, result.config.limits.max_diagnostics if result.config
                   else None)
            return EXIT_PROBLEMS
        flows = {f.name: f for f in result.project.flows}
        for name in flow_names:
            if name not in flows:
                hint = did_you_mean(name, flows)
                raise UsageError(f"unknown flow {name!r}" + (f" ({hint})" if hint else "")
                                 + f"; the flows are: {', '.join(sorted(flows)) or '(none)'}")
        selected = [f for f in result.project.flows if not flow_names or f.name in flow_names]
        outcomes = run_flow_tests(result.project, selected)
        for outcome in outcomes:
            mark = "PASS" if outcome.passed else "FAIL"
            click.echo(f"{mark} {outcome.flow}: {outcome.name}")
            if not outcome.passed:
                span = outcome.origin
                click.echo(f"    {outcome.message}")
                click.echo(f"    --> {span.file}:{span.line}:{span.column}")
        failed = sum(not o.passed for o in outcomes)
        if not outcomes:
            click.echo("no flow tests found (add `test \"name\" { input {...} expect {...} }` to a flow)")
        else:
            click.echo(f"{len(outcomes) - failed} passed, {failed} failed")
        return EXIT_PROBLEMS if failed else EXIT_OK

    run_guarded(action)


command.name = "test"
