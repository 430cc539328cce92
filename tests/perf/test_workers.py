"""Emitting on every core gives exactly what one process gives."""
from __future__ import annotations

import functools
import os
import shutil
import time
from pathlib import Path

import pytest

from integc import workers
from integc.build import build_project, target_units
from integc.diagnostics import Diagnostics
from integc.pipeline import compile_project
from integc.targets import Artifact, Unit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "order-to-cash"

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")


def _units() -> list[Unit]:
    compiled = compile_project(EXAMPLE)
    return [unit for _, _, unit in target_units(compiled.project, compiled.config, Diagnostics())]


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("processes", [2, 3])
def test_forked_workers_give_the_units_results_in_order(processes):
    units = _units()
    assert len(units) > processes
    assert workers.run_units(units, processes) == workers.run_units(units, 1)


def test_what_a_child_does_not_deliver_the_parent_emits(monkeypatch):
    parent = os.getpid()

    def fragile(diagnostics: Diagnostics) -> list[Artifact]:
        if os.getpid() != parent:
            raise RuntimeError("a child fails")
        diagnostics.report("E0001", "emitted by the parent", None)
        return [Artifact("x", b"x")]

    units = [Unit(f"u{i}", None, fragile) for i in range(6)]
    results, _ = workers.run_units(units, 2)
    assert [artifacts for artifacts, _ in results] == [[Artifact("x", b"x")]] * 6
    assert all(d.message == "emitted by the parent" for _, items in results for d in items)


def test_a_child_killed_midway_changes_nothing():
    parent = os.getpid()

    def dies_in_child(diagnostics: Diagnostics) -> list[Artifact]:
        if os.getpid() != parent:
            os._exit(9)
        return [Artifact("y", b"y")]

    assert workers.run_units([Unit(f"u{i}", None, dies_in_child) for i in range(4)], 2)[0] == [([Artifact("y", b"y")], [])] * 4


def test_integc_jobs_sets_the_number_of_processes(monkeypatch):
    monkeypatch.setenv("INTEGC_JOBS", "1")
    assert workers.processes_for(1000) == 1
    monkeypatch.setenv("INTEGC_JOBS", "3")
    assert workers.processes_for(1000) == 3
    monkeypatch.delenv("INTEGC_JOBS")
    assert workers.processes_for(3) == 1  # too few units to be worth a process


def test_a_parallel_build_writes_the_same_bytes(tmp_path, monkeypatch):
    project = tmp_path / "o2c"
    shutil.copytree(EXAMPLE, project)
    monkeypatch.setenv("INTEGC_JOBS", "1")
    serial = build_project(project, tmp_path / "serial", incremental=False)
    monkeypatch.setenv("INTEGC_JOBS", "2")
    calls = []
    real_fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: calls.append(1) or real_fork())
    parallel = build_project(project, tmp_path / "parallel", incremental=False)
    assert calls, "the build did not fork"
    assert not serial.diagnostics.has_errors
    assert [d.code for d in parallel.diagnostics.sorted()] == [d.code for d in serial.diagnostics.sorted()]
    assert _tree(tmp_path / "parallel") == _tree(tmp_path / "serial")


def test_side_jobs_run_in_a_child_or_here():
    units = [Unit(f"u{i}", None, lambda diagnostics, i=i: [Artifact(f"f{i}", b"")]) for i in range(20)]
    results, side = workers.run_units(units, 2, side_jobs=(os.getpid, lambda: "value"))
    assert side[0] != os.getpid() and side[1] == "value"
    assert [a.path for artifacts, _ in results for a in artifacts] == [f"f{i}" for i in range(20)]
    assert workers.run_units(units, 1, side_jobs=(os.getpid,))[1] == [os.getpid()]


def _wait_until(condition, seconds: float = 30.0) -> bool:
    # A unit that lingers until another process shows up: on a loaded machine a fast
    # parent would otherwise take every unit before a child has started.
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return bool(condition())


def test_every_unit_is_emitted_once_across_processes(tmp_path):
    # Each emission leaves a mark; the queue hands every unit to exactly one process.
    def pids() -> set[str]:
        return {p.name.split("-")[1] for p in tmp_path.iterdir()}

    def mark(diagnostics, i):
        (tmp_path / f"{i}-{os.getpid()}").touch()
        _wait_until(lambda: len(pids()) > 1)
        return []

    units = [Unit(f"u{i}", None, lambda diagnostics, i=i: mark(diagnostics, i)) for i in range(200)]
    workers.run_units(units, 3)
    marks = [p.name.split("-") for p in tmp_path.iterdir()]
    assert sorted(int(i) for i, _ in marks) == list(range(200))
    assert len({pid for _, pid in marks}) > 1


def test_files_a_dead_child_left_behind_are_written_again(tmp_path):
    from integc.writer import StagedOutput

    parent = os.getpid()
    staged = StagedOutput(tmp_path / "out")

    def sink(artifacts):
        written = staged.write(artifacts)
        if os.getpid() != parent:
            path = staged.folder / artifacts[0].path
            path.write_bytes(b"half")  # as if it died in the middle of writing
            (tmp_path / "a child died").touch()
            os._exit(9)
        return written

    def emit(diagnostics, i):
        if os.getpid() == parent:
            _wait_until((tmp_path / "a child died").exists)
        return [Artifact(f"d/f{i}.txt", f"content {i}".encode())]

    units = [Unit(f"u{i}", None, functools.partial(emit, i=i)) for i in range(12)]
    results, _ = workers.run_units(units, 2, on_result=staged.adopt, sink=sink)
    assert (tmp_path / "a child died").exists()
    assert staged.commit({})
    out = tmp_path / "out"
    assert [(out / f"d/f{i}.txt").read_bytes() for i in range(12)] == [f"content {i}".encode() for i in range(12)]
    assert all(len(written) == 1 and written[0][1] for written, _ in results)


def test_meanwhile_runs_here_once_the_children_are_forked():
    calls = []
    units = [Unit(f"u{i}", None, lambda diagnostics, i=i: [Artifact(f"f{i}", b"")]) for i in range(20)]
    workers.run_units(units, 2, meanwhile=lambda: calls.append(os.getpid()))
    assert calls == [os.getpid()]
    workers.run_units(units, 1, meanwhile=lambda: calls.append("serial"))
    assert calls == [os.getpid()]  # no child: nothing gained by doing it early


def test_a_side_job_runs_in_a_child_while_this_process_goes_on(monkeypatch):
    monkeypatch.delenv("INTEGC_JOBS", raising=False)
    if workers.processes_for(1000) < 2:
        pytest.skip("one core")
    wait = workers.start_side_job(os.getpid)
    assert wait() not in (None, os.getpid())
    monkeypatch.setenv("INTEGC_JOBS", "1")
    assert workers.start_side_job(os.getpid)() == os.getpid()


def test_a_side_job_whose_child_dies_is_done_here(monkeypatch):
    monkeypatch.setenv("INTEGC_JOBS", "2")
    parent = os.getpid()

    def job():
        if os.getpid() != parent:
            os._exit(9)
        return "done here"

    assert workers.start_side_job(job)() == "done here"


# ---------------------------------------------------------------- the helper (integc.workers.Helper)

_SETUP_MARK: list = []


def _setup() -> None:
    _SETUP_MARK.append(os.getpid())


def _pid_and_setup(x: int) -> tuple[int, list, int]:
    return os.getpid(), list(_SETUP_MARK), x * 2


def _raises(x: int) -> int:
    raise ValueError(x)


def _leave() -> None:
    os._exit(9)


def _gone(pid: int) -> bool:
    """Whether process `pid` ends (and is reaped by whoever is its parent) within 10 s."""
    return _wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 10)


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="no /proc to see processes in")


@needs_proc
def test_a_helper_runs_its_setup_then_the_calls_of_this_process(monkeypatch):
    monkeypatch.setenv("INTEGC_JOBS", "2")
    helper = workers.Helper.start(_setup)
    (first,) = helper.call(_pid_and_setup, 21)
    (second,) = helper.call(_pid_and_setup, 1)
    pid = first[0]
    assert first == (pid, [pid], 42) and second == (pid, [pid], 2) and pid != os.getpid()
    assert _SETUP_MARK == []  # the setup ran there, not here
    helper.close()
    assert not helper.alive and helper.call(_pid_and_setup, 1) is None
    assert _gone(pid)  # it left once its requests ended; it was never this process's child to reap
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_a_helper_that_cannot_answer_gives_none_and_asks_nothing_more(monkeypatch):
    monkeypatch.setenv("INTEGC_JOBS", "2")
    helper = workers.Helper.start(_setup)
    assert helper.call(_raises, 1) is None and not helper.alive  # the caller then meets the error itself
    helper = workers.Helper.start(_setup)
    assert helper.call(lambda: 1) is None and not helper.alive  # a local function cannot be sent
    helper = workers.Helper.start(_setup)
    assert helper.call(_leave) is None and not helper.alive  # it died while answering
    assert helper.call(_pid_and_setup, 1) is None


def test_only_the_process_that_started_a_helper_calls_it(monkeypatch):
    monkeypatch.setenv("INTEGC_JOBS", "2")
    helper = workers.Helper.start(_setup)
    try:
        child = workers.start_side_job(lambda: (os.getpid(), helper.call(_pid_and_setup, 1)))
        pid, answered = child()
        assert pid != os.getpid() and answered is None  # a forked worker does the work itself
        assert helper.call(_pid_and_setup, 1)[0][2] == 2  # and the helper still serves this process
    finally:
        helper.close()


def test_a_helper_is_not_forked_where_forking_is_not_safe(monkeypatch):
    monkeypatch.setenv("INTEGC_JOBS", "1")
    assert workers.Helper.start(_setup) is None


def _report_then_sleep(path: str) -> None:
    with open(path, "w") as stream:
        stream.write(str(os.getpid()))
    time.sleep(1.5)


@needs_proc
def test_closing_a_helper_still_in_its_setup_returns_at_once(monkeypatch, tmp_path):
    """It leaves after its setup, when it reads the end of its requests (it is sent no signal)."""
    monkeypatch.setenv("INTEGC_JOBS", "2")
    mark = tmp_path / "pid"
    helper = workers.Helper.start(functools.partial(_report_then_sleep, str(mark)))
    started = time.monotonic()
    helper.close()
    assert time.monotonic() - started < 0.5
    assert _wait_until(lambda: mark.exists() and mark.read_text(), 10)
    assert _gone(int(mark.read_text()))


@needs_proc
def test_a_helper_holds_none_of_the_standard_streams(monkeypatch, tmp_path):
    """A caller that reads this process's output to its end does not wait for the helper."""
    import subprocess
    import sys

    script = (f"import os, sys, time; sys.path[:0] = {sys.path!r}; os.environ['INTEGC_JOBS'] = '2'\n"
              "from integc import workers\n"
              "workers.Helper.start(lambda: time.sleep(5))\n"
              "print('done', flush=True)\n")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert result.stdout == b"done\n" and time.monotonic() - started < 4
