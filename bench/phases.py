"""Time (or measure the memory of) each phase of one `integc build`, in this process.

    python bench/phases.py PROJECT --out OUT [--memory] [--phases parse,resolve,...]

Runs the build's phases in order -- imports (the front end's modules and
the parser tables), parse (config, read and parse every file), resolve, check (flow checks and IR assembly), each target's emit,
write (the atomic output swap) -- exactly as `integc build` does (the
garbage collector paused, as in `build_project`), and prints one JSON object:

    {"phases": {"parse": {"seconds": .., "cpu": .., "rss_mib": ..}, ...}, "peak_rss_mib": .., "ok": true}

`rss_mib` is the process's peak RSS when the phase ends (so the growth from
one phase to the next is what that phase added to the peak). With --memory, tracemalloc runs and each phase also reports `peak_mib` (the
most memory Python had allocated during that phase, counted from its start)
and `kept_mib` (what the phase left allocated); times are then distorted, so
bench/run.py takes times and memory from separate processes. A phase that
raises is reported as {"error": "..."} and ends the run.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("project")
    ap.add_argument("--out", required=True)
    ap.add_argument("--memory", action="store_true", help="measure memory per phase with tracemalloc")
    ap.add_argument("--no-write", action="store_true", help="stop before the write phase")
    ap.add_argument("--front-end", action="store_true", help="stop after check (no targets, no write)")
    ap.add_argument("--per-target", action="store_true",
                    help="time each target on its own, in this process (the build emits them on every core)")
    args = ap.parse_args(argv)

    if args.memory:
        import tracemalloc
        tracemalloc.start()

    from integc.build import _check_collisions, _check_out_folder, emit_all, emit_target, target_units
    from integc.config import load_config
    from integc.diagnostics import Diagnostics
    from integc.loader import load_project
    from integc.pipeline import check_stage, gc_paused, resolve_stage
    from integc.targets import load_targets
    from integc.workers import processes_for
    from integc.writer import write_build

    phases: dict[str, dict] = {}
    report = {"phases": phases, "ok": False}

    def phase(name: str, action):
        if args.memory:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            value = action()
        except Exception as error:  # noqa: BLE001 -- reported, not hidden
            phases[name] = {"error": f"{type(error).__name__}: {error}",
                            "traceback": traceback.format_exc(limit=4)}
            raise _Stop from None
        entry = {"seconds": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                 "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        if args.memory:
            current, peak = tracemalloc.get_traced_memory()
            entry["peak_mib"] = (peak - before) / 2**20
            entry["kept_mib"] = (current - before) / 2**20
        phases[name] = entry
        return value

    diagnostics = Diagnostics()
    try:
        with gc_paused():
            def imports():  # what `integc build` imports before it parses (the CLI imports it lazily)
                import integc.check  # noqa: F401
                import integc.ir  # noqa: F401
                import integc.parser
                import integc.resolve  # noqa: F401
                import integc.syntax  # noqa: F401
                integc.parser._fast()  # the parser tables (from the user cache, or built with Lark)
            phase("imports", imports)

            def parse():
                config = load_config(args.project, diagnostics, args.out)
                return config, load_project(config, diagnostics)
            config, loaded = phase("parse", parse)
            symbols = phase("resolve", lambda: resolve_stage(loaded, config, diagnostics))
            project = phase("check", lambda: check_stage(symbols, loaded, config, diagnostics))
            if project is None:
                raise _Stop
            if args.front_end:
                report["ok"] = not diagnostics.has_errors
                raise _Stop
            _check_out_folder(config)
            targets = phase("load targets", load_targets)
            artifacts = []
            if args.per_target:
                for name, target in targets.items():
                    artifacts += phase(f"target {name}",
                                       lambda: emit_target(name, target, project, config, diagnostics))
            else:
                artifacts = phase(f"targets ({processes_for(len(target_units(project, config, Diagnostics())))}"
                                  " processes)", lambda: emit_all(project, config, diagnostics))
            _check_collisions([a.path for a in artifacts], diagnostics)
            if not args.no_write and not diagnostics.has_errors:
                inputs = {source.path: source.sha256 for source in project.sources}
                phase("write", lambda: write_build(config.out, artifacts, inputs))
            report["ok"] = not diagnostics.has_errors
            report["artifacts"] = len(artifacts)
            report["artifact_bytes"] = sum(len(a.content) for a in artifacts)
    except _Stop:
        pass
    report["errors"] = [f"{d.code} {d.message}" for d in diagnostics.items if d.is_error][:5]
    report["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["children_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(report))
    return 0 if report["ok"] else 1


class _Stop(Exception):
    pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
