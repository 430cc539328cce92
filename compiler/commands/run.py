"""`integc run FLOW [PATH | --bundle DIR]`: move real data through one flow."""
from __future__ import annotations

import tempfile
from pathlib import Path

import click

EPILOG = """\b
Examples:
  integc run sync_customers examples/order-to-cash --once     # compile, run one pass, exit
  integc run sync_customers --bundle /etc/integc/sync_customers   # what the Kubernetes workload runs
\b
Base URLs come from the systems and can be overridden with
INTEGC_<SYSTEM>_BASE_URL; secrets are read from INTEGC_SECRET_<SECRET>_<KEY>
or files under INTEGC_SECRETS_DIR (see docs/runtime.md).
Exit status: 0 finished or stopped, 1 halted (on_error halt) or the project
has errors, 2 usage error (unknown flow, bad bundle, missing secret).
"""


@click.command("run", epilog=EPILOG)
@click.argument("flow")
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option("--bundle", "bundle_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Run a built bundle (flow.json + mapping.py) instead of compiling PATH.")
@click.option("--once", is_flag=True, help="Run a scheduled flow one time and exit.")
@click.option("--port", type=click.IntRange(0, 65535), help="Port of the webhook/event receiver, /healthz and "
                                                           "/metrics (default INTEGC_PORT or 8080).")
@click.option("--dead-letter-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Where <flow>.jsonl dead letters go (default INTEGC_DEAD_LETTER_DIR or ./integc-dead-letter).")
@click.option("--concurrency", type=click.IntRange(1, 64), help="Parallel write lanes (records of one key stay "
                                                                "in order).")
def command(flow: str, path: Path, bundle_dir: Path | None, once: bool, port: int | None,
            dead_letter_dir: Path | None, concurrency: int | None) -> None:
    """Run FLOW: read its source, map every record, write to its target."""
    from integc.cli import EXIT_PROBLEMS, report, run_guarded
    from integc.config import UsageError
    from integc.runtime import run_flow

    def start(bundle: Path) -> int:
        return run_flow(bundle, once=once, port=port, dead_letter_dir=dead_letter_dir,
                        concurrency=concurrency, flow=flow)

    def action() -> int:
        if bundle_dir is not None:
            return start(bundle_dir)
        from integc.pipeline import compile_project
        from integc.suggest import did_you_mean
        from integc.targets.bundle import bundle_files

        result = compile_project(path)
        if result.project is None:
            report(result.diagnostics.sorted(), result.sources, "text")
            return EXIT_PROBLEMS
        flows = {f.name: f for f in result.project.flows}
        if flow not in flows:
            hint = did_you_mean(flow, flows)
            raise UsageError(f"unknown flow {flow!r}" + (f" ({hint})" if hint else "")
                             + f"; the flows are: {', '.join(sorted(flows)) or '(none)'}")
        with tempfile.TemporaryDirectory(prefix="integc-bundle-") as folder:
            for name, content in bundle_files(result.project, flows[flow]).items():
                Path(folder, name).write_bytes(content)
            return start(Path(folder))
    run_guarded(action)
