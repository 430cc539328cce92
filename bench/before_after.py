"""`integc check`, or `integc build` after one file changed, at two versions of the compiler,
side by side in one run.

    python bench/before_after.py [--before bc47eac] [--after WORKTREE] [--sizes 200] [--repeats 3]
                                 [--what check|one-file]

Copies the compiler at git revision --before (and at --after, default: the
working tree) into the work folder, each runnable through PYTHONPATH, then
times, with each version, alternating run by run after a warm-up (bench/run.py's
wait4 timer: wall seconds, CPU seconds, peak RSS):

- `--what check` (the default): `integc check` of the landscape of each size
  and of the 1,113-line single file;
- `--what one-file`: `integc build` of the landscape of each size after one
  system's file changed (the change alternates between two edits, as in
  bench/run.py), each version into its own output folder and build cache
  (the warm-up round builds them cold).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run  # noqa: E402 -- bench/run.py: the timer and the workload

ROOT = HERE.parent
PARTS = ("compiler", "targets", "grammar", "specs")


def copy_revision(revision: str, folder: Path) -> dict:
    """The compiler at `revision` as folder/integc; an environment that imports it."""
    shutil.rmtree(folder, ignore_errors=True)
    source = folder / "src"
    source.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "--format=tar", revision, *PARTS], cwd=ROOT, check=True,
                             capture_output=True).stdout
    with tempfile.TemporaryFile() as handle:
        handle.write(archive)
        handle.seek(0)
        with tarfile.open(fileobj=handle) as tar:
            tar.extractall(source)  # noqa: S202 -- our own repository
    target = folder / "integc"
    shutil.copytree(source / "compiler", target)
    for part in PARTS[1:]:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part)
    run.byte_compile(target)
    return {**os.environ, "PYTHONPATH": str(folder)}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", default="bc47eac", help="git revision (default: before the fast parser)")
    ap.add_argument("--after", default=None, help="git revision (default: the working tree)")
    ap.add_argument("--sizes", default="200")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--generator", type=Path, default=run.DEFAULT_GENERATOR)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "integc-bench")
    ap.add_argument("--what", choices=("check", "one-file"), default="check",
                    help="`integc check`, or `integc build` after one system's file changed")
    args = ap.parse_args(argv)

    args.workdir.mkdir(parents=True, exist_ok=True)
    versions = {"before": copy_revision(args.before, args.workdir / "before"),
                "after": copy_revision(args.after, args.workdir / "after") if args.after
                else run.snapshot(args.workdir / "after")}
    projects = {n: run.generate(args.generator, int(n), args.workdir, False) for n in args.sizes.split(",")}
    if args.what == "check":
        cases = [(f"check N={n}", path, None) for n, path in projects.items()]
        cases.append(("check 1,113-line file", run.single_file(args.generator, args.workdir), None))
    else:
        cases = [(f"build one file changed N={n}", path, run.one_file_edits(path)) for n, path in projects.items()]
    results: dict[tuple[str, str], list[dict]] = {}
    print(f"before = {args.before}, after = {args.after or 'working tree'}; load average {run.load_average()}")
    try:
        for round_ in range(args.repeats + 1):
            for label, path, edit in cases:
                order = ["before", "after"] if round_ % 2 else ["after", "before"]
                command = ["check", str(path)]
                if edit is not None:
                    changed, texts = edit
                    changed.write_bytes(texts[round_ % 2])
                for who in order:
                    if edit is not None:
                        command = ["build", str(path), "--out", str(args.workdir / f"out-{who}-{path.name}")]
                    done = run.run_once([sys.executable, "-m", "integc", *command], env=versions[who])
                    if round_:
                        results.setdefault((label, who), []).append(done)
    finally:
        for _, _, edit in cases:
            if edit is not None:
                changed, texts = edit
                changed.write_bytes(texts[-1])  # the original
    print(f"load average {run.load_average()}")
    for (label, who), runs in results.items():
        s = run.summary(runs)
        if "error" in s:
            print(f"{label:26s} {who:7s} FAILED {s['error'][-200:]}")
            continue
        print(f"{label:26s} {who:7s} wall {s['wall']:.3f} s (min {s['wall_min']:.3f})  cpu {s['cpu']:.3f} s  "
              f"rss {s['rss_mib']:.0f} MiB  exit {s['rc']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
