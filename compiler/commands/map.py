"""`integc map FLOW [PATH]`: run one flow's mapping over JSON Lines."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

EPILOG = """\b
Examples:
  integc map sync_customers examples/order-to-cash --input customers.jsonl > accounts.jsonl
  cat customers.jsonl | integc map sync_customers examples/order-to-cash
  integc map sync_customers --input - --fail-fast
\b
Each input line is one JSON object (blank lines are skipped). Mapped records
go to stdout as JSON Lines, in input order; a record that cannot be mapped is
reported on stderr with its line number (`line 3: sync_customers:
source.email: expected email address, got int`) and the run goes on.
Exit status: 0 all mapped, 1 some record failed (or the project has errors),
2 usage error (e.g. an unknown flow).
"""


@click.command(epilog=EPILOG)
@click.argument("flow")
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option("--input", "-i", "input_name", default="-", show_default=True, metavar="FILE",
              help="JSON Lines to map; `-` reads stdin.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first record that fails.")
@click.option("--now", "now", metavar="DATETIME",
              help="Fix what now() returns (RFC 3339, e.g. 2024-01-01T00:00:00Z), for reproducible output.")
@click.option("--diagnostics", "output_format", type=click.Choice(("text", "json", "github", "sarif")),
              default="text", show_default=True, help="How to print problems that stop the run.")
def command(flow: str, path: Path, input_name: str, fail_fast: bool, now: str | None,
            output_format: str) -> None:
    """Map the records of FLOW's source entity, one JSON object per line."""
    from integc.cli import EXIT_OK, EXIT_PROBLEMS, report, run_guarded
    from integc.config import UsageError
    from integc.pipeline import compile_project
    from integc.suggest import did_you_mean
    from integc.targets.mapping import load_module, module_name, render_module

    def action() -> int:
        if now is not None and not _is_rfc3339(now):
            raise UsageError(f"--now must be an RFC 3339 date-time with an offset, e.g. 2024-01-01T00:00:00Z, "
                             f"not {now!r}")
        result = compile_project(path)
        if result.project is None:
            found = result.diagnostics.sorted()
            report(found, result.sources, output_format, result.config.limits.max_diagnostics if result.config
                   else None)
            return EXIT_PROBLEMS
        flows = {f.name: f for f in result.project.flows}
        if flow not in flows:
            names = ", ".join(sorted(flows)) or "(none)"
            hint = did_you_mean(flow, flows)
            raise UsageError(f"unknown flow {flow!r}" + (f" ({hint})" if hint else "") + f"; the flows are: {names}")
        module = load_module(render_module(result.project, flows[flow]), module_name(flow))
        stream = _open_input(input_name, UsageError)
        try:
            failed = _run(module, stream, fail_fast, now)
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
        return EXIT_PROBLEMS if failed else EXIT_OK

    run_guarded(action)


def _open_input(name: str, usage_error):
    if name == "-":
        return sys.stdin.buffer
    try:
        return open(name, "rb")
    except OSError as error:
        raise usage_error(f"cannot read {name}: {error.strerror or error}") from None


def _run(module, stream, fail_fast: bool, now: str | None) -> int:
    """Map every line; return how many failed."""
    map_record = module.map_record
    mapping_error = module.MappingError
    out = sys.stdout
    err = sys.stderr
    failed = 0
    for number, raw in enumerate(stream, start=1):
        problem = None
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            problem = f"not UTF-8 (byte {error.start + 1})"
        else:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError) as error:
                problem = f"invalid JSON: {getattr(error, 'msg', None) or type(error).__name__}"
                if isinstance(error, json.JSONDecodeError):
                    problem += f" (column {error.colno})"
            else:
                try:
                    mapped = map_record(record, now=now)
                except mapping_error as error:
                    problem = str(error)
                else:
                    out.write(json.dumps(mapped, ensure_ascii=False, separators=(",", ":")) + "\n")
                    continue
        failed += 1
        out.flush()
        err.write(f"line {number}: {problem}\n")
        err.flush()
        if fail_fast:
            break
    out.flush()
    return failed


def _is_rfc3339(text: str) -> bool:
    import re
    from datetime import datetime
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})",
                    text) is None:
        return False
    try:
        datetime.fromisoformat(text.upper())
    except ValueError:
        return False
    return True


command.name = "map"
