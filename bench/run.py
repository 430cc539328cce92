"""The integc benchmark: the landscape of N systems, phase by phase, whole process, and TypeSpec.

    python bench/run.py [--sizes 5,50,200,500] [--repeats 3] [--typespec DIR] [--json FILE]

For each N it generates the landscape with ../shared/bench/gen_integ.py N
(N systems, 10 entities of 12 fields each, a 5-operation CRUD expose per
entity: the landscape the TypeSpec anchor writes; with --flows, 2 flows per
system too, which TypeSpec has no equivalent of) and measures, each
measurement in a fresh process:

- per phase (bench/phases.py: imports, parse, resolve, check, load targets,
  the targets as the build runs them (every core), write; then, from one more
  run, each target alone in one process): median seconds (wall and CPU) of --repeats runs, and
  the process's peak RSS when the phase ends; with --tracemalloc, also what
  each phase allocates at its peak and keeps (a separate run: tracemalloc
  slows Python several times);
- whole process (os.wait4: wall seconds, CPU seconds (and of them, in the kernel), peak RSS of the
  process and its children), median of --repeats runs after one warm-up:
  `integc build` cold (output folder and build cache deleted first),
  `integc build` again with nothing changed, `integc build` after changing one
  system's file (the change alternates between two edits, so every run
  really changes the file), `integc check` after that build and one more
  edit (the editor loop: the other files come from the build cache),
  `integc check` (no build cache), and `integc check` of a single
  1,000-line file (4 systems in one file);
- with --typespec DIR (a copy of ../shared/bench/typespec after `npm ci`):
  `tsp compile` of the same landscape (gen_tsp.py N), alternating run by run
  with the cold `integc build`, and the ratios;
- `integc build` through the build server (unless --no-server; the
  figures above are of fresh processes building themselves: the benchmark
  runs them with INTEGC_SERVER_IDLE=0): one system's file changed,
  alternating between the two edits, then nothing changed, median of
  --repeats pairs after two warm-up pairs (the first one-file build starts
  the server, the next builds wait for it to load);
- `integc build --watch` (unless --no-watch): one system's file changed,
  alternating between the two edits, each after a pause; the rebuild time
  the watch reports (its builds share a session: docs/performance.md, "Watch
  mode") and the time from the save to the report (which includes the
  watch's 200 ms debounce and the file system's notification), median of
  --repeats rebuilds after one warm-up rebuild (the session's first, which
  digests every unit);
- with two sizes or more (unless --no-growth), cold builds of every size
  alternating run by run, and time(N) / time(previous N): the growth, measured
  side by side rather than from sections that ran minutes apart.

Old outputs are moved aside and deleted only when the run is over (see
`Trash`: on a file system that holds back freed inodes, files created in the
minutes after a mass deletion cost the creator seconds of kernel time).

The load average is printed before and after each size: other processes on
the machine move wall times, so compare figures measured in the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_GENERATOR = ROOT.parent / "shared" / "bench" / "gen_integ.py"


# ---------------------------------------------------------------- measuring a process

def run_once(cmd: list[str], cwd: Path | None = None, env: dict | None = None, timeout: float | None = None) -> dict:
    """Wall seconds (monotonic clock around start..reap), CPU seconds and peak RSS (MiB) from wait4."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = None if timeout is None else started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.002)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        output = log.read().decode("utf-8", errors="replace")
    return {"rc": process.returncode, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "sys": usage.ru_stime,
            "rss_mib": usage.ru_maxrss / 1024, "output": output[-2000:]}


def summary(runs: list[dict]) -> dict:
    ok = [r for r in runs if r["rc"] in (0, 1)]
    if not ok:
        return {"error": runs[-1]["output"] if runs else "not run", "runs": len(runs)}
    return {"wall": statistics.median(r["wall"] for r in ok), "wall_min": min(r["wall"] for r in ok),
            "wall_max": max(r["wall"] for r in ok), "cpu": statistics.median(r["cpu"] for r in ok),
            "sys": statistics.median(r["sys"] for r in ok),
            "rss_mib": statistics.median(r["rss_mib"] for r in ok), "runs": len(ok),
            "rc": ok[-1]["rc"]}


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def one_file_edits(project: Path) -> tuple[Path, list[bytes]]:
    """The system file the benchmark edits, and its two texts the runs alternate between: edited (a
    new title) and original (the last: what it is put back to)."""
    changed = sorted((project / "systems").glob("*.integ"))[0]
    original = changed.read_bytes()
    return changed, [original.replace(b'title "System', b'title "Edited system', 1), original]


def measure_watch(project: Path, out: Path, repeats: int, timeout: float, trash: Trash) -> dict:
    """`integc build --watch`: the rebuilds after one file changed, as the watch reports them."""
    import queue
    import re
    import signal
    import threading

    changed, edits = one_file_edits(project)
    wipe(out, trash)
    process = subprocess.Popen(integc("build", "--watch", str(project), "--out", str(out)), text=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stderr], daemon=True).start()

    def report() -> tuple[str, float, float]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            found = re.search(r"\] build (ok|failed|stopped) in ([0-9.]+) s", line)
            if found:
                return found.group(1), float(found.group(2)), time.perf_counter()
        raise TimeoutError("the watch never reported a build")

    rebuilds: list[float] = []
    latencies: list[float] = []
    try:
        verdict, _, _ = report()  # the first build
        for round_ in range(repeats + 1):  # round 0: the session's first rebuild digests every unit
            time.sleep(1.5)  # the watch collects garbage after each report; the file system settles
            saved = time.perf_counter()
            changed.write_bytes(edits[round_ % 2])
            verdict, seconds, reported = report()
            if verdict != "ok":
                return {"error": f"build {verdict}"}
            if round_ > 0:
                rebuilds.append(seconds)
                latencies.append(reported - saved)
    except TimeoutError as error:
        return {"error": str(error)}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        changed.write_bytes(edits[1])
        wipe(out, trash)
    return {"rebuild": statistics.median(rebuilds), "rebuild_min": min(rebuilds), "rebuild_max": max(rebuilds),
            "save_to_report": statistics.median(latencies)}


# ---------------------------------------------------------------- the workload

def generate(generator: Path, n: int, folder: Path, flows: bool) -> Path:
    project = folder / (f"n{n}-flows" if flows else f"n{n}")
    if not (project / "main.integ").is_file():
        subprocess.run([sys.executable, str(generator), str(n), str(project)] + (["--flows"] if flows else []),
                       check=True)
    return project


def single_file(generator: Path, folder: Path) -> Path:
    """About 1,000 lines in one file: four systems of the landscape, no imports."""
    target = folder / "single" / "main.integ"
    if not target.is_file():
        parts = folder / "single-parts"
        subprocess.run([sys.executable, str(generator), "4", str(parts)], check=True)
        text = 'package single.bench version "1.0.0"\n\n' + "".join(
            p.read_text(encoding="utf-8") for p in sorted((parts / "systems").glob("*.integ")))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return target


def source_lines(project: Path) -> int:
    return sum(p.read_text(encoding="utf-8").count("\n") for p in project.rglob("*.integ"))


class Trash:
    """Deleted outputs, kept out of the timed runs.

    On a file system that delays reusing freed inodes (ext4 without a journal, as on the
    benchmark machine: the kernel's `recently_deleted()` skips an inode freed in the last
    60 s, or 360 s while its inode table block is dirty), creating files after deleting
    thousands costs seconds of kernel CPU for minutes afterwards (measured here: 4,200 files
    in 0.18 s on a quiet file system; 1.6-2.0 s 70 s after deleting 4,200 others; perf of a
    cold N=200 build right after the previous output was removed: `recently_deleted`/
    `find_inode_bit` at ~25 %). That cost belongs to whoever deleted, not to the build that
    follows; so the benchmark moves old outputs aside (a rename) and deletes them only when
    the run is over.
    """

    def __init__(self, folder: Path):
        self.folder = folder  # what an interrupted run left there goes at the end of this one
        self.count = 0

    def put(self, path: Path) -> None:
        if not path.exists():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count += 1
        try:
            os.rename(path, self.folder / f"{os.getpid()}-{self.count}")
        except OSError:  # on another file system (TypeSpec's folder): not where integc writes
            shutil.rmtree(path, ignore_errors=True)

    def empty(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def wipe(out: Path, trash: Trash) -> None:
    trash.put(out)
    trash.put(out.parent / f".{out.name}.integc-cache")


# ---------------------------------------------------------------- phases

def measure_phases(project: Path, out: Path, repeats: int, timeout: float, traced: bool, front_end: bool,
                   trash: Trash) -> dict:
    probe = [sys.executable, str(HERE / "phases.py"), str(project), "--out", str(out)]
    if front_end:
        probe.append("--front-end")
    timed = []
    for _ in range(repeats):
        wipe(out, trash)
        done = subprocess.run(probe, capture_output=True, text=True, timeout=timeout)
        timed.append(json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else
                     {"phases": {}, "error": done.stderr[-2000:]})
    wipe(out, trash)
    if not front_end:  # each target alone, in one process (one run): what each costs
        done = subprocess.run(probe + ["--per-target", "--no-write"], capture_output=True, text=True,
                              timeout=timeout)
        alone = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {"phases": {}}
        for name, entry in alone["phases"].items():
            if name.startswith("target "):
                timed[0]["phases"][f"{name} (alone)"] = entry
        wipe(out, trash)
    memory: dict = {"phases": {}}
    if traced:
        done = subprocess.run(probe + ["--memory", "--no-write"], capture_output=True, text=True, timeout=timeout * 5)
        memory = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else memory
    names = list(dict.fromkeys(name for run in timed for name in run["phases"]))
    phases = {}
    for name in names:
        entries = [run["phases"].get(name, {}) for run in timed]
        errors = [e["error"] for e in entries if "error" in e]
        seconds = [e["seconds"] for e in entries if "seconds" in e]
        entry = {"seconds": statistics.median(seconds) if seconds else None,
                 "cpu": statistics.median(e["cpu"] for e in entries if "cpu" in e) if seconds else None,
                 "rss_mib": statistics.median(e["rss_mib"] for e in entries if "rss_mib" in e) if seconds else None}
        if errors:
            entry["error"] = errors[0]
        mem = memory["phases"].get(name, {})
        entry["peak_mib"] = mem.get("peak_mib")
        entry["kept_mib"] = mem.get("kept_mib")
        phases[name] = entry
    return {"phases": phases, "artifacts": timed[-1].get("artifacts"),
            "artifact_bytes": timed[-1].get("artifact_bytes"),
            "peak_rss_mib": statistics.median(run.get("peak_rss_mib", 0) for run in timed),
            "children_peak_rss_mib": statistics.median(run.get("children_peak_rss_mib", 0) for run in timed)}


# ---------------------------------------------------------------- whole process

def integc(*args: str) -> list[str]:
    return [sys.executable, "-m", "integc", *args]


def snapshot(folder: Path) -> dict:
    """Copy the compiler as it is now into folder/integc and return an environment that runs that copy
    (PYTHONPATH comes before the editable install), so the tree can change while the benchmark runs."""
    target = folder / "integc"
    shutil.rmtree(target, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "compiler", target, ignore=ignore)
    for part in ("targets", "grammar", "specs"):
        shutil.copytree(ROOT / part, target / part, ignore=ignore)
    byte_compile(target)
    return {**os.environ, "PYTHONPATH": str(folder)}


def byte_compile(folder: Path) -> None:
    """Write the .pyc files of the compiler under `folder`, as `pip install` does. Without them,
    where PYTHONDONTWRITEBYTECODE is set (as on the benchmark machine), every integc process
    would compile its modules from source (~70 ms of each start)."""
    import compileall

    if not compileall.compile_dir(str(folder), quiet=1):
        raise SystemExit(f"cannot byte-compile {folder}")


def typespec_command(tsp: Path, n: int) -> list[str]:
    return [str(tsp / "node_modules" / ".bin" / "node"), str(tsp / "node_modules" / "@typespec" / "compiler" /
                                                                "cmd" / "tsp.js"), "compile", f"gen/n{n}"]


def measure_processes(project: Path, out: Path, single: Path, repeats: int, tsp: Path | None, n: int,
                      timeout: float, front_end: bool, trash: Trash) -> dict:
    results: dict[str, list[dict]] = {"build cold": [], "build no change": [], "build one file changed": [],
                                      "check after a build, one file edited": [], "check": [],
                                      "check 1,000-line file": []}
    if tsp is not None:
        results["typespec"] = []
        subprocess.run([sys.executable, "gen_tsp.py", str(n)], cwd=tsp, check=True, capture_output=True)
    changed, edits = one_file_edits(project)
    for round_ in range(repeats + 1):  # round 0 warms up (file system caches, .pyc, the parser tables)
        record = round_ > 0
        order = ["integc", "typespec"] if round_ % 2 else ["typespec", "integc"]
        for who in order:
            if who == "typespec":
                if tsp is None:
                    continue
                trash.put(tsp / "out" / f"n{n}")
                run = run_once(typespec_command(tsp, n), cwd=tsp, timeout=timeout)
                if record:
                    results["typespec"].append(run)
                continue
            if front_end:
                continue
            wipe(out, trash)
            run = run_once(integc("build", str(project), "--out", str(out)), timeout=timeout)
            if record:
                results["build cold"].append(run)
        if not front_end:
            run = run_once(integc("build", str(project), "--out", str(out)), timeout=timeout)
            if record:
                results["build no change"].append(run)
            changed.write_bytes(edits[round_ % 2])
            run = run_once(integc("build", str(project), "--out", str(out)), timeout=timeout)
            if record:
                results["build one file changed"].append(run)
            # The editor loop: an edit, then `integc check`, which reads the other files from the
            # build cache of the project's output folder (`out` is that folder).
            changed.write_bytes(edits[(round_ + 1) % 2])
            run = run_once(integc("check", str(project)), timeout=timeout)
            if record:
                results["check after a build, one file edited"].append(run)
            changed.write_bytes(edits[round_ % 2])
        wipe(out, trash)
        run = run_once(integc("check", str(project)), timeout=timeout)
        if record:
            results["check"].append(run)
        run = run_once(integc("check", str(single)), timeout=timeout)
        if record:
            results["check 1,000-line file"].append(run)
    changed.write_bytes(edits[1])
    wipe(out, trash)
    return {name: summary(runs) for name, runs in results.items() if runs}


def measure_server(project: Path, out: Path, repeats: int, timeout: float, trash: Trash) -> dict:
    """`integc build` served by the project's build server (docs/performance.md, "The build server")."""
    environment = {**os.environ, "INTEGC_SERVER_IDLE": "120"}
    command = integc("build", str(project), "--out", str(out))
    changed, edits = one_file_edits(project)
    wipe(out, trash)
    run_once(command, env=environment, timeout=timeout)  # cold: starts no server
    runs: dict[str, list[dict]] = {"build one file changed, build server": [], "build no change, build server": []}
    for round_ in range(repeats + 2):  # the first starts the server, the next wait for it to load
        changed.write_bytes(edits[round_ % 2])
        for name in runs:
            run = run_once(command, env=environment, timeout=timeout)
            if round_ >= 2:
                runs[name].append(run)
    changed.write_bytes(edits[1])
    wipe(out, trash)  # the server, asked by nobody now, idles away (it holds no CPU meanwhile)
    return {name: summary(r) for name, r in runs.items()}


def measure_growth(projects: dict[int, Path], repeats: int, timeout: float, trash: Trash) -> dict:
    """Cold builds of every size, alternating size by size in each round (the order reversed every
    other round), so that the ratio between sizes is not moved by the machine's drift between the
    per-size sections, which run minutes apart (`integc check` of N=500 took 2.80 s in one run's
    N=500 section and 2.27 s when timed on its own a few minutes later)."""
    runs: dict[int, list[dict]] = {n: [] for n in projects}
    for round_ in range(repeats + 1):  # round 0 warms up
        for n in (sorted(projects) if round_ % 2 else sorted(projects, reverse=True)):
            out = projects[n] / "build"
            wipe(out, trash)
            run = run_once(integc("build", str(projects[n]), "--out", str(out)), timeout=timeout)
            if round_ > 0:
                runs[n].append(run)
    for project in projects.values():
        wipe(project / "build", trash)
    return {n: summary(r) for n, r in runs.items()}


def print_growth(growth: dict, lines: dict[int, int]) -> None:
    sizes = sorted(growth)
    print("\n== growth: cold `integc build`, the sizes alternating run by run")
    for n in sizes:
        entry = growth[n]
        print(f"  N={n:<6}{_f(entry.get('wall'), 3):>9} s  (min {_f(entry.get('wall_min'), 3)}, "
              f"max {_f(entry.get('wall_max'), 3)}, cpu {_f(entry.get('cpu'), 2)} s)")
    for small, large in zip(sizes, sizes[1:]):
        if "wall" in growth[small] and "wall" in growth[large]:
            print(f"  time(N={large}) / time(N={small}) = {growth[large]['wall'] / growth[small]['wall']:.2f} "
                  f"for {lines[large] / lines[small]:.2f}x the lines "
                  f"(cpu {growth[large]['cpu'] / growth[small]['cpu']:.2f})")


# ---------------------------------------------------------------- report

def print_size(n: int, lines: int, result: dict) -> None:
    print(f"\n== N={n}: {lines:,} source lines; load average {result['load_before']} -> {result['load_after']}")
    phases = result.get("phases")
    if phases:
        print(f"  {'phase':<28}{'seconds':>9}{'cpu s':>9}{'RSS MiB':>9}{'traced peak':>12}{'kept':>8}")
        for name, entry in phases["phases"].items():
            if entry.get("error"):
                print(f"  {name:<28}  ERROR {entry['error'][:80]}")
                continue
            print(f"  {name:<28}{_f(entry['seconds'], 3):>9}{_f(entry['cpu'], 3):>9}{_f(entry['rss_mib'], 0):>9}"
                  f"{_f(entry['peak_mib'], 1):>12}{_f(entry['kept_mib'], 1):>8}")
        if phases["artifacts"] is not None:
            print(f"  ({phases['artifacts']} files, {_f((phases['artifact_bytes'] or 0) / 1e6, 1)} MB; "
                  f"peak RSS of the phase runs {_f(phases['peak_rss_mib'], 0)} MiB, of their forked workers "
                  f"{_f(phases.get('children_peak_rss_mib'), 0)} MiB)")
    processes = result.get("processes", {})
    if processes:
        print(f"  {'whole process':<38}{'wall s':>9}{'min':>8}{'max':>8}{'cpu s':>8}{'of it sys':>10}{'RSS MiB':>9}")
        for name, entry in processes.items():
            if "error" in entry:
                print(f"  {name:<38}  FAILED: {entry['error'].strip().splitlines()[-1][:90] if entry['error'] else ''}")
                continue
            print(f"  {name:<38}{_f(entry['wall'], 3):>9}{_f(entry['wall_min'], 3):>8}{_f(entry['wall_max'], 3):>8}"
                  f"{_f(entry['cpu'], 2):>8}{_f(entry['sys'], 2):>10}{_f(entry['rss_mib'], 0):>9}" + ("" if entry["rc"] == 0 else
                                                                                f"  (exit {entry['rc']})"))
        build, tsp = processes.get("build cold", {}), processes.get("typespec", {})
        if "wall" in build and "wall" in tsp:
            print(f"  TypeSpec / integc build: {tsp['wall'] / build['wall']:.1f}x faster (wall), "
                  f"peak memory {build['rss_mib'] / tsp['rss_mib']:.0%} of TypeSpec's")
        check = processes.get("check", {})
        if "wall" in build and "wall" in check:
            print(f"  check / cold build: {check['wall'] / build['wall']:.0%}")
        edited = processes.get("check after a build, one file edited", {})
        if "wall" in build and "wall" in edited:
            print(f"  check after a build, one file edited / cold build: {edited['wall'] / build['wall']:.0%}")
        if "wall" in tsp and "wall" in check:
            print(f"  TypeSpec / integc check: {tsp['wall'] / check['wall']:.1f}x")
        for name in ("build no change", "build one file changed", "build one file changed, build server",
                     "build no change, build server"):
            entry = processes.get(name, {})
            if "wall" in build and "wall" in entry:
                print(f"  {name} / cold build: {entry['wall'] / build['wall']:.0%}")
    watch = result.get("watch")
    if watch and "error" in watch:
        print(f"  build --watch, one file changed: FAILED: {watch['error']}")
    elif watch:
        print(f"  build --watch, one file changed: rebuild {watch['rebuild']:.3f} s as reported "
              f"(min {watch['rebuild_min']:.3f}, max {watch['rebuild_max']:.3f}); "
              f"{watch['save_to_report']:.3f} s from the save to the report")
        build = processes.get("build cold", {})
        if "wall" in build:
            print(f"  build --watch rebuild / cold build: {watch['rebuild'] / build['wall']:.0%}")


def _f(value, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="5,50,200,500")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--typespec", type=Path, help="a writable copy of shared/bench/typespec after `npm ci`")
    ap.add_argument("--generator", type=Path, default=DEFAULT_GENERATOR)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "integc-bench")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--no-phases", action="store_true", help="whole-process figures only")
    ap.add_argument("--front-end-only", action="store_true",
                    help="no targets: phases up to check, and `integc check` (with --typespec, tsp too)")
    ap.add_argument("--tracemalloc", action="store_true",
                    help="also measure each phase's allocations with tracemalloc (a slow extra run)")
    ap.add_argument("--no-processes", action="store_true", help="phase figures only")
    ap.add_argument("--flows", action="store_true", help="the landscape with 2 flows per system")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--no-watch", action="store_true", help="skip the `integc build --watch` rebuilds")
    ap.add_argument("--no-server", action="store_true", help="skip the builds through the build server")
    ap.add_argument("--no-growth", action="store_true",
                    help="skip the cold builds of every size alternating run by run (time(N) ratios)")
    ap.add_argument("--snapshot", action="store_true",
                    help="run a copy of the compiler taken at the start (the tree may change meanwhile)")
    args = ap.parse_args(argv)

    args.workdir.mkdir(parents=True, exist_ok=True)
    os.environ["INTEGC_SERVER_IDLE"] = "0"  # every command builds itself, but in measure_server
    tsp = args.typespec.resolve() if args.typespec else None
    if tsp is not None and not (tsp / "node_modules" / "@typespec" / "compiler").is_dir():
        ap.error(f"{tsp} has no node_modules: run `npm ci` there first")
    if args.snapshot:
        os.environ.update(snapshot(args.workdir / "snapshot"))
    else:
        for part in ("compiler", "targets", "grammar"):
            byte_compile(ROOT / part)
    single = single_file(args.generator, args.workdir)
    trash = Trash(args.workdir / "trash")
    report = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "sizes": {}}
    print(f"integc benchmark: sizes {args.sizes}{' with flows' if args.flows else ''}, {args.repeats} runs each, "
          f"work folder {args.workdir}"
          + (f", TypeSpec in {tsp}" if tsp else ""))
    projects: dict[int, Path] = {}
    for n in [int(x) for x in args.sizes.split(",") if x.strip()]:
        project = projects[n] = generate(args.generator, n, args.workdir, args.flows)
        out = project / "build"  # the default output folder: `integc check` finds its build cache
        result: dict = {"load_before": load_average()}
        if not args.no_phases:
            result["phases"] = measure_phases(project, out, args.repeats, args.timeout, args.tracemalloc,
                                              args.front_end_only, trash)
        if not args.no_processes:
            result["processes"] = measure_processes(project, out, single, args.repeats, tsp, n, args.timeout,
                                                    args.front_end_only, trash)
            if not (args.no_server or args.front_end_only):
                result["processes"].update(measure_server(project, out, args.repeats, args.timeout, trash))
            if not (args.no_watch or args.front_end_only):
                result["watch"] = measure_watch(project, out, args.repeats, args.timeout, trash)
        result["load_after"] = load_average()
        lines = source_lines(project)
        result["source_lines"] = lines
        report["sizes"][n] = result
        print_size(n, lines, result)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if len(projects) > 1 and not (args.no_growth or args.no_processes or args.front_end_only):
        report["growth"] = measure_growth(projects, args.repeats, args.timeout, trash)
        print_growth(report["growth"], {n: report["sizes"][n]["source_lines"] for n in projects})
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    trash.empty()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
