"""`integc diff OLD NEW`: breaking changes between two versions of a project.

OLD and NEW are project folders (or entry files), or git revisions of the
repository the current folder is in: `integc diff origin/main HEAD`. A
revision's files are read with git (`git ls-tree` + `git cat-file`) into a
temporary folder; the working tree is never touched. `REV:path` names the
project folder inside the repository (like git's own `REV:path`); without it,
`--project` (default: the current folder) is used, relative to the current
folder.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import click

EPILOG = """\b
Examples:
  integc diff old-version/ new-version/
  integc diff origin/main HEAD --project examples/order-to-cash
  integc diff origin/main:examples/order-to-cash .  --format markdown >> "$GITHUB_STEP_SUMMARY"
  integc diff v1.4.0 HEAD --format json --allow-breaking

\b
Exit status: 0 no breaking change (or --allow-breaking), 1 breaking changes
found, 2 usage error or a version that does not compile.
"""

_WANTED_SUFFIXES = (".integ",)
_WANTED_NAMES = ("integc.toml",)


@dataclass
class Side:
    label: str  # how the user named it, e.g. "origin/main" or "old/"
    path: Path  # the project folder or entry file to compile
    root: Path  # the project folder (for file names in the report)
    relabel: tuple[str, str] | None = None  # (temporary prefix, shown prefix) for diagnostics


def _git(args: list[str], cwd: Path, binary: bool = False, stdin: bytes | None = None):
    try:
        done = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False)
    except FileNotFoundError:
        from integc.config import UsageError
        raise UsageError("git is not installed; name project folders instead of revisions") from None
    if done.returncode != 0:
        return None
    return done.stdout if binary else done.stdout.decode("utf-8", "replace")


def _repo_root(cwd: Path) -> Path | None:
    out = _git(["rev-parse", "--show-toplevel"], cwd)
    return Path(out.strip()) if out else None


def _materialize(spec: str, project: Path | None, workdir: Path, tag: str) -> Side:
    """A folder on disk as is; a git revision extracted into `workdir`."""
    from integc.config import UsageError

    if Path(spec).exists():
        path = Path(spec)
        root = path if path.is_dir() else path.parent
        return Side(spec, path, root)
    cwd = Path.cwd()
    repo = _repo_root(cwd)
    if repo is None:
        raise UsageError(f"{spec!r} is not a folder, and the current folder is not in a git repository")
    rev, sep, inner = spec.partition(":")
    if sep and inner:
        relative = PurePosixPath(inner.strip("/")) if inner.strip("/") else PurePosixPath(".")
    else:
        base = (cwd / project) if project is not None else cwd
        try:
            relative = PurePosixPath(base.resolve().relative_to(repo.resolve()).as_posix())
        except ValueError:
            raise UsageError(f"the project folder {base} is outside the repository {repo}") from None
    commit = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], repo)
    if not commit:
        raise UsageError(f"{rev!r} is neither a folder nor a git revision")
    commit = commit.strip()
    target = workdir / tag
    target.mkdir(parents=True)
    pathspec = [] if str(relative) == "." else ["--", str(relative)]
    listing = _git(["ls-tree", "-r", "-z", "--full-tree", commit, *pathspec], repo, binary=True)
    if listing is None:
        raise UsageError(f"cannot list {relative} at {rev}")
    blobs: list[tuple[str, str, str]] = []
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, name = entry.partition(b"\t")
        mode, kind, sha = meta.decode().split()
        name = name.decode("utf-8", "replace")
        if kind != "blob":
            continue
        pure = PurePosixPath(name)
        if pure.suffix in _WANTED_SUFFIXES or pure.name in _WANTED_NAMES:
            blobs.append((mode, sha, name))
    if blobs:
        request = "".join(f"{sha}\n" for _, sha, _ in blobs).encode()
        data = _git(["cat-file", "--batch"], repo, binary=True, stdin=request)
        if data is None:
            raise UsageError(f"cannot read files at {rev}")
        offset = 0
        for mode, sha, name in blobs:
            header_end = data.index(b"\n", offset)
            size = int(data[offset:header_end].split()[2])
            content = data[header_end + 1:header_end + 1 + size]
            offset = header_end + 1 + size + 1
            destination = target / name
            if ".." in PurePosixPath(name).parts:
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            if mode == "120000":
                os.symlink(content.decode("utf-8", "replace"), destination)
            else:
                destination.write_bytes(content)
    folder = target / relative
    if not folder.is_dir():
        raise UsageError(f"{relative} does not exist at {rev}")
    shown = f"{rev}:{'' if str(relative) == '.' else str(relative) + '/'}"
    return Side(spec if sep else f"{rev}:{relative}" if str(relative) != "." else rev, folder, folder,
                (str(folder.resolve()) + os.sep, shown))


def _relabel(result, side: Side):
    """Diagnostics of an extracted revision name `REV:path/file.integ`, not a temporary path."""
    from integc.diagnostics import Diagnostic, Note

    if side.relabel is None:
        return result.diagnostics.sorted(), result.sources
    prefix, shown = side.relabel

    def name(file: str) -> str:
        absolute = file if os.path.isabs(file) else os.path.join(os.getcwd(), file)
        absolute = os.path.realpath(absolute)
        real_prefix = os.path.realpath(prefix.rstrip(os.sep)) + os.sep
        return shown + absolute[len(real_prefix):] if absolute.startswith(real_prefix) else file

    def span(s):
        return replace(s, file=name(s.file)) if s is not None else None

    diagnostics = [Diagnostic(d.code, d.message, span(d.span), d.help,
                              tuple(Note(span(n.span), n.message) for n in d.notes))
                   for d in result.diagnostics.sorted()]
    sources = {name(k): v for k, v in result.sources.items()}
    return diagnostics, sources


@click.command(epilog=EPILOG)
@click.argument("old")
@click.argument("new")
@click.option("--project", type=click.Path(path_type=Path),
              help="Where the project is in the repository, for git revisions (default: the current folder); "
                   "relative to the current folder. Ignored for OLD/NEW given as folders.")
@click.option("--format", "output_format", type=click.Choice(("text", "markdown", "json")), default="text",
              show_default=True, help="Report format; markdown is ready for a pull-request comment or job summary.")
@click.option("--allow-breaking", is_flag=True, help="Report breaking changes but exit 0.")
@click.option("--diagnostics", "diagnostics_format", type=click.Choice(("text", "json", "github", "sarif")),
              default="text", show_default=True, help="How to print problems when a version does not compile.")
def command(old: str, new: str, project: Path | None, output_format: str, allow_breaking: bool,
            diagnostics_format: str) -> None:
    """Compare two versions of a project: every change, breaking or not, and the flows each breaking change breaks."""
    from integc.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, report, run_guarded
    from integc.irdiff import RENDERERS, diff_projects
    from integc.pipeline import compile_project

    def action() -> int:
        with tempfile.TemporaryDirectory(prefix="integc-diff-") as tmp:
            work = Path(tmp)
            sides = [_materialize(old, project, work, "old"), _materialize(new, project, work, "new")]
            projects = []
            failed = False
            for side in sides:
                result = compile_project(side.path)
                if result.project is None:
                    diagnostics, sources = _relabel(result, side)
                    click.echo(f"error: {side.label} does not compile:", err=True)
                    report(diagnostics, sources, diagnostics_format)
                    failed = True
                projects.append(result.project)
            if failed:
                return EXIT_USAGE
            result = diff_projects(projects[0], projects[1], sides[0].root, sides[1].root,
                                   sides[0].label, sides[1].label)
            click.echo(RENDERERS[output_format](result), nl=False)
            if result.breaking and not allow_breaking:
                return EXIT_PROBLEMS
            return EXIT_OK

    run_guarded(action)


command.name = "diff"
